// Catalogue row 7: unauthenticated pipelining across the end of DATA (smtpsmug's
// "pipelining" test), as `maillab serve` runs it: strict_pipelining on, Postfix
// smtpd_forbid_unauth_pipelining.  The message before the dot was framed
// correctly and is acknowledged; what follows the dot never runs.
#include <doctest/doctest.h>

#include <string>

#include "net/smtp/smtp_server_harness.hpp"

using namespace maillab;
using namespace maillab::net::smtp;
using maillab::net::smtp::testing::Lab;

namespace {

const std::string sync_error = "554 5.5.0 mail.lab.test Error: SMTP protocol synchronization\r\n";

// EHLO, MAIL, RCPT and DATA one at a time, as a well-behaved client sends them.
void start_strict(Lab& lab) {
  lab.config.strict_pipelining = true;
  lab.start();
  lab.write("EHLO c\r\n");
  REQUIRE(lab.write("MAIL FROM:<x@ext.test>\r\n") == "250 2.1.0 Ok\r\n");
  REQUIRE(lab.write("RCPT TO:<bob@lab.test>\r\n") == "250 2.1.5 Ok\r\n");
  REQUIRE(lab.write("DATA\r\n").starts_with("354"));
}

bool client_sent(const Lab& lab, std::string_view prefix) {
  for (const auto& line : lab.lines) {
    if (line.dir == net::Direction::client_to_server && line.text.starts_with(prefix)) return true;
  }
  return false;
}

}  // namespace

TEST_CASE("smtp server pipelining: MAIL pipelined behind the dot gets 554 5.5.0 once the message is acknowledged") {
  Lab lab;
  start_strict(lab);
  CHECK(lab.write("Subject: one\r\n\r\nbody\r\n.\r\nMAIL FROM:<admin@lab.test>\r\nRCPT TO:<bob@lab.test>\r\n").empty());
  CHECK(lab.accept() == "250 2.0.0 Ok: queued as Q1\r\n" + sync_error);
  CHECK(lab.messages.size() == 1);
  CHECK(lab.messages.front().data == "Subject: one\r\n\r\nbody\r\n");
  CHECK(lab.state() == ServerState::closing);
  CHECK(lab.close_reasons == std::vector<std::string>{"SMTP protocol synchronization"});
  CHECK_FALSE(client_sent(lab, "MAIL FROM:<admin"));
  CHECK(lab.notes.size() == 1);
}

TEST_CASE("smtp server pipelining: a QUIT pipelined behind the dot is answered with 221") {
  Lab lab;
  start_strict(lab);
  CHECK(lab.write("body\r\n.\r\nQUIT\r\n").empty());
  CHECK(lab.accept() == "250 2.0.0 Ok: queued as Q1\r\n221 2.0.0 mail.lab.test Bye\r\n");
  CHECK(lab.close_reasons == std::vector<std::string>{"QUIT"});
}

TEST_CASE("smtp server pipelining: a refused message with MAIL pipelined behind its dot gets 550 then 554 5.5.0") {
  Lab lab;
  start_strict(lab);
  CHECK(lab.write("bare\nLF\r\n.\r\nMAIL FROM:<admin@lab.test>\r\n") ==
        "550 5.5.2 Error: bare <LF> received\r\n" + sync_error);
  CHECK(lab.messages.empty());
  CHECK_FALSE(client_sent(lab, "MAIL FROM:<admin"));
}

TEST_CASE("smtp server pipelining: a logged-in client may pipeline the next transaction behind the dot") {
  Lab lab;
  lab.config.strict_pipelining = true;
  lab.start();
  lab.write("EHLO c\r\n");
  REQUIRE(lab.write("AUTH PLAIN AGFsaWNlQGxhYi50ZXN0AGFsaWNlLXNlY3JldA==\r\n").starts_with("235"));
  lab.write("MAIL FROM:<alice@lab.test>\r\nRCPT TO:<bob@lab.test>\r\nDATA\r\n");
  CHECK(lab.write("one\r\n.\r\nMAIL FROM:<alice@lab.test>\r\n").empty());
  CHECK(lab.accept() == "250 2.0.0 Ok: queued as Q1\r\n250 2.1.0 Ok\r\n");
  CHECK(lab.state() == ServerState::mail);
}

TEST_CASE("smtp server pipelining: BDAT LAST may be followed by the next pipelined MAIL (RFC 3030 framing)") {
  Lab lab;
  lab.config.strict_pipelining = true;
  lab.start();
  lab.write("EHLO c\r\n");
  lab.write("MAIL FROM:<x@ext.test>\r\n");
  lab.write("RCPT TO:<bob@lab.test>\r\n");
  CHECK(lab.write("BDAT 4 LAST\r\nhi\r\nMAIL FROM:<y@ext.test>\r\n").empty());
  CHECK(lab.accept() == "250 2.0.0 Ok: queued as Q1\r\n250 2.1.0 Ok\r\n");
}

TEST_CASE("smtp server pipelining: without strict pipelining the dot may be followed by anything") {
  Lab lab;
  lab.start();
  lab.write("EHLO c\r\n");
  lab.write("MAIL FROM:<x@ext.test>\r\nRCPT TO:<bob@lab.test>\r\nDATA\r\n");
  CHECK(lab.write("one\r\n.\r\nMAIL FROM:<y@ext.test>\r\n").empty());
  CHECK(lab.accept() == "250 2.0.0 Ok: queued as Q1\r\n250 2.1.0 Ok\r\n");
}
