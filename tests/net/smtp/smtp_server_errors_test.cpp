// Catalogue row 20: floods of garbage and junk commands.  Past the soft error
// limit every reply is held back by the engine (as data: poll_timeout() names
// the release instant), at the hard limit the session ends with 421 4.7.0, and
// junk commands past their limit count as errors (Postfix smtpd_soft_error_limit
// 10, smtpd_hard_error_limit 20, smtpd_error_sleep_time 1s,
// smtpd_junk_command_limit 100).
#include <doctest/doctest.h>

#include <string>

#include "net/smtp/smtp_server_harness.hpp"

using namespace maillab;
using namespace maillab::net::smtp;
using maillab::net::smtp::testing::Lab;
using namespace std::chrono_literals;

namespace {

const std::string unknown = "500 5.5.2 Error: command not recognized\r\n";
const std::string too_many = "421 4.7.0 mail.lab.test Error: too many errors\r\n";

std::string repeat(std::string_view text, int times) {
  std::string out;
  for (int i = 0; i < times; ++i) out += text;
  return out;
}

bool has_line(const Lab& lab, std::string_view text) {
  for (const auto& line : lab.lines) {
    if (line.text == text) return true;
  }
  return false;
}

}  // namespace

TEST_CASE("smtp server errors: the first 10 errors are answered at once, the 11th one second later") {
  Lab lab;
  lab.start();
  for (int i = 0; i < 10; ++i) CHECK(lab.write("XYZZY\r\n") == unknown);
  CHECK(lab.server->poll_timeout() == lab.now + Duration{5min});
  CHECK(lab.write("XYZZY\r\n").empty());
  CHECK(lab.server->replies_delayed());
  CHECK(lab.server->poll_timeout() == lab.now + Duration{1s});
  CHECK(lab.advance(Duration{999ms}).empty());
  CHECK(lab.advance(Duration{1ms}) == unknown);
  CHECK_FALSE(lab.server->replies_delayed());
  CHECK(lab.server->error_count() == 11);
}

TEST_CASE("smtp server errors: past the soft limit even a good reply waits, and later input waits behind it") {
  Lab lab;
  lab.start();
  lab.write(repeat("XYZZY\r\n", 11));  // ten answered, the 11th held
  CHECK(lab.write("NOOP\r\n").empty());  // not even read while a reply is held
  CHECK(lab.advance(Duration{1s}) == unknown);
  CHECK(lab.server->poll_timeout() == lab.now + Duration{1s});  // the NOOP was read: its 250 is held now
  CHECK(lab.advance(Duration{1s}) == "250 2.0.0 Ok\r\n");
}

TEST_CASE("smtp server errors: pipelined garbage is answered one reply per second past the soft limit") {
  Lab lab;
  lab.start();
  CHECK(lab.write(repeat("XYZZY\r\n", 13)) == repeat(unknown, 10));
  CHECK(lab.advance(Duration{1s}) == unknown);
  CHECK(lab.advance(Duration{1s}) == unknown);
  CHECK(lab.advance(Duration{1s}) == unknown);
  CHECK(lab.advance(Duration{1s}).empty());
  CHECK(lab.server->error_count() == 13);
}

TEST_CASE("smtp server errors: the transcript shows a held reply only when it is released") {
  Lab lab;
  lab.start();
  lab.write(repeat("XYZZY\r\n", 10));
  lab.write("PLUGH\r\n");
  CHECK(has_line(lab, "PLUGH"));  // what the client sent is seen at once
  const auto replies_before = lab.lines.size();
  CHECK_FALSE(lab.lines.back().dir == net::Direction::server_to_client);
  lab.advance(Duration{1s});
  REQUIRE(lab.lines.size() == replies_before + 1);
  CHECK(lab.lines.back().text == "500 5.5.2 Error: command not recognized");
}

TEST_CASE("smtp server errors: the 20th error ends the session with 421 4.7.0, delayed, and only then closes") {
  Lab lab;
  lab.start();
  lab.write(repeat("XYZZY\r\n", 19));
  for (int i = 0; i < 9; ++i) lab.advance(Duration{1s});
  CHECK(lab.server->error_count() == 19);
  CHECK(lab.write("XYZZY\r\n").empty());
  CHECK(lab.state() == ServerState::closing);
  CHECK(lab.close_reasons.empty());  // the close waits behind the held replies
  CHECK(lab.advance(Duration{1s}) == unknown + too_many);
  CHECK(lab.close_reasons == std::vector<std::string>{"too many errors"});
}

TEST_CASE("smtp server errors: 100 NOOPs are free, each junk command after them is an error") {
  Lab lab;
  lab.start();
  lab.write("EHLO c\r\n");  // junk too: one
  CHECK(lab.write(repeat("NOOP\r\n", 99)) == repeat("250 2.0.0 Ok\r\n", 99));
  CHECK(lab.server->error_count() == 0);
  CHECK(lab.write("RSET\r\n") == "250 2.0.0 Ok\r\n");  // the 101st junk command
  CHECK(lab.server->error_count() == 1);
  CHECK(lab.write(repeat("VRFY bob\r\n", 9)) == repeat("252 2.5.2 Cannot VRFY user, but will accept message and attempt delivery\r\n", 9));
  CHECK(lab.server->error_count() == 10);
  CHECK(lab.write("HELP\r\n").empty());  // the 11th error: held
  CHECK(lab.advance(Duration{1s}).starts_with("214"));
}

TEST_CASE("smtp server errors: junk commands alone reach the hard limit at the 120th") {
  Lab lab;
  lab.config.error_delay = Duration::zero();
  lab.start();
  CHECK(lab.write(repeat("NOOP\r\n", 119)) == repeat("250 2.0.0 Ok\r\n", 119));
  CHECK(lab.server->error_count() == 19);
  CHECK(lab.write("NOOP\r\n") == "250 2.0.0 Ok\r\n" + too_many);
  CHECK(lab.state() == ServerState::closing);
}

TEST_CASE("smtp server errors: a delivered message forgives the errors and the junk") {
  Lab good;
  good.start();
  good.write("EHLO c\r\n");
  good.write(repeat("XYZZY\r\n", 10));
  good.write("MAIL FROM:<x@ext.test>\r\n");
  CHECK(good.advance(Duration{1s}).empty());  // error 10 is still answered at once: nothing held
  CHECK(good.write("RCPT TO:<nobody@lab.test>\r\n").empty());  // 550: error 11, held
  CHECK(good.advance(Duration{1s}).starts_with("550 5.1.1"));
  CHECK(good.write("RCPT TO:<bob@lab.test>\r\n").empty());  // still past the soft limit: held
  CHECK(good.advance(Duration{1s}) == "250 2.1.5 Ok\r\n");
  good.write("DATA\r\n");
  good.advance(Duration{1s});
  CHECK(good.write("hi\r\n.\r\n").empty());
  CHECK(good.accept() == "250 2.0.0 Ok: queued as Q1\r\n");  // forgiven before the reply: not held
  CHECK(good.server->error_count() == 0);
  CHECK(good.write("XYZZY\r\n") == unknown);
}

TEST_CASE("smtp server errors: with error_delay 0 nothing is held back") {
  Lab lab;
  lab.config.error_delay = Duration::zero();
  lab.start();
  CHECK(lab.write(repeat("XYZZY\r\n", 20)) == repeat(unknown, 20) + too_many);
}

TEST_CASE("smtp server errors: input sent while a reply is held is bounded") {
  Lab lab;
  lab.config.input_buffered_octets_max = 1000;
  lab.start();
  lab.write(repeat("XYZZY\r\n", 11));
  CHECK(lab.write(std::string(2000, 'n')).empty());
  CHECK(lab.advance(Duration{1s}) == unknown);
  CHECK(lab.advance(Duration{1s}) ==
        "421 4.3.2 mail.lab.test Service not available, closing transmission channel: too much "
        "pipelined input\r\n");
  CHECK(lab.state() == ServerState::closing);
}

TEST_CASE("smtp server errors: a closed session drops what it held and waits for nothing") {
  Lab lab;
  lab.start();
  lab.write(repeat("XYZZY\r\n", 11));
  lab.server->handle_close(lab.now);
  CHECK(lab.server->poll_timeout() == never);
  CHECK(lab.server->poll_transmit().empty());
}
