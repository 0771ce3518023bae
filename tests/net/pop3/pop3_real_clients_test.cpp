// The command sequences real clients send, replayed against the server engine.
// Recorded on 127.0.0.1 against this engine through a plain TCP driver:
// fetchmail 6.4.37 (keep + uidl), curl 7.88.1 (pop3://host/1), and Python
// poplib (capa, user/pass, stat, list, uidl, retr, top, dele, rset, quit, apop).
#include <doctest/doctest.h>

#include <string>

#include "net/core/sasl.hpp"
#include "net/pop3/pop3_test_harness.hpp"

using namespace pop3_test;

namespace {

constexpr std::string_view kOne =
    "From: bob@lab.test\r\nTo: alice@lab.test\r\nSubject: one\r\n\r\nHello\r\n.\r\n..\r\nbye";
constexpr std::string_view kTwo = "From: bob@lab.test\r\nTo: alice@lab.test\r\nSubject: two\r\n\r\nSecond\r\n";

std::string size_of(std::string_view message) { return std::to_string(message.size()); }

}  // namespace

TEST_CASE("pop3 server: fetchmail's keep+uidl session reads every message with TOP n 99999999") {
  World world;
  world.deliver(kOne);
  world.deliver(kTwo);
  Session session(world);
  REQUIRE(session.command("CAPA").starts_with("+OK Capability list follows\r\n"));
  REQUIRE(session.command("USER alice@lab.test") == "+OK\r\n");
  REQUIRE(session.command("PASS alice-secret").starts_with("+OK"));
  CHECK(session.command("STAT") == "+OK 2 " + std::to_string(kOne.size() + kTwo.size()) + "\r\n");
  CHECK(session.command("UIDL") ==
        "+OK Unique-id listing follows\r\n1 0000000100000001\r\n2 0000000200000001\r\n.\r\n");
  CHECK(session.command("LIST 1") == "+OK 1 " + size_of(kOne) + "\r\n");
  CHECK(session.command("TOP 1 99999999") ==
        "+OK Top of message follows\r\nFrom: bob@lab.test\r\nTo: alice@lab.test\r\nSubject: one\r\n\r\n"
        "Hello\r\n..\r\n...\r\nbye\r\n.\r\n");
  CHECK(session.command("LIST 2") == "+OK 2 " + size_of(kTwo) + "\r\n");
  CHECK(session.command("TOP 2 99999999") == "+OK Top of message follows\r\n" + std::string(kTwo) + ".\r\n");
  CHECK(session.command("QUIT") == "+OK pop3.lab.test POP3 server signing off (2 messages left)\r\n");
  CHECK(world.inbox_size() == 2);
}

TEST_CASE("pop3 server: curl's session (CAPA, AUTH PLAIN with continuation, RETR, QUIT)") {
  World world;
  world.deliver(kOne);
  Session session(world);
  REQUIRE(session.command("CAPA").find("SASL PLAIN\r\n") != std::string::npos);
  CHECK(session.command("AUTH PLAIN") == "+ \r\n");
  CHECK(session.command("AGFsaWNlQGxhYi50ZXN0AGFsaWNlLXNlY3JldA==").starts_with("+OK Maildrop locked"));
  CHECK(session.command("RETR 1") == "+OK " + size_of(kOne) +
                                         " octets\r\nFrom: bob@lab.test\r\nTo: alice@lab.test\r\nSubject: one\r\n"
                                         "\r\nHello\r\n..\r\n...\r\nbye\r\n.\r\n");
  CHECK(session.command("QUIT").starts_with("+OK"));
}

TEST_CASE("pop3 server: poplib's session with DELE, RSET and a second APOP session that deletes") {
  World world;
  world.deliver(kOne);
  world.deliver(kTwo);
  {
    Session session(world);
    REQUIRE(session.command("CAPA").starts_with("+OK"));
    REQUIRE(session.login().starts_with("+OK"));
    REQUIRE(session.command("STAT").starts_with("+OK 2 "));
    REQUIRE(session.command("LIST").starts_with("+OK 2 messages"));
    REQUIRE(session.command("UIDL").starts_with("+OK"));
    REQUIRE(session.command("RETR 1").starts_with("+OK " + size_of(kOne) + " octets"));
    CHECK(session.command("TOP 2 0") ==
          "+OK Top of message follows\r\nFrom: bob@lab.test\r\nTo: alice@lab.test\r\nSubject: two\r\n\r\n.\r\n");
    REQUIRE(session.command("DELE 2") == "+OK Message 2 deleted\r\n");
    CHECK(session.command("RSET").starts_with("+OK Maildrop has 2 messages"));
    CHECK(session.command("QUIT") == "+OK pop3.lab.test POP3 server signing off (2 messages left)\r\n");
  }
  Session apop(world);
  const std::string timestamp(greeting_timestamp(apop.greeting().substr(0, apop.greeting().size() - 2)));
  REQUIRE(timestamp == kTimestamp);
  CHECK(apop.command("APOP alice@lab.test " + apop_digest(timestamp, kAlicePassword)).starts_with("+OK"));
  REQUIRE(apop.command("DELE 2").starts_with("+OK"));
  CHECK(apop.command("QUIT") == "+OK pop3.lab.test POP3 server signing off (1 message left)\r\n");
  CHECK(world.inbox_size() == 1);
}
