// Catalogue row 32, the header part: a header section over header_octets_max
// (Postfix header_size_limit 102400) is read to the end of the message, then
// refused with 552 5.3.4 (RFC 3463 X.3.4) and nothing is stored.
#include <doctest/doctest.h>

#include <string>

#include "net/smtp/smtp_server_harness.hpp"

using namespace maillab;
using namespace maillab::net::smtp;
using maillab::net::smtp::testing::Lab;

namespace {

// `count` header fields of 100 octets each, CRLF included.
std::string fields(int count) {
  std::string out;
  for (int i = 0; i < count; ++i) out += "X-Filler: " + std::string(88, 'h') + "\r\n";
  return out;
}

const std::string refused = "552 5.3.4 Error: message header section exceeds 1000 bytes\r\n";

}  // namespace

TEST_CASE("smtp server header: a header section of exactly the limit is accepted") {
  Lab lab;
  lab.config.header_octets_max = 1000;
  lab.open_transaction();
  CHECK(lab.write(fields(10) + "\r\nbody\r\n.\r\n").empty());
  REQUIRE(lab.messages.size() == 1);
  CHECK(lab.accept() == "250 2.0.0 Ok: queued as Q1\r\n");
}

TEST_CASE("smtp server header: one octet over the limit gets 552 5.3.4 at the dot and nothing is stored") {
  Lab lab;
  lab.config.header_octets_max = 1000;
  lab.open_transaction();
  CHECK(lab.write(fields(10)).empty());
  CHECK(lab.write("X:\r\n").empty());  // 1004 octets: the refusal still waits for the end of data
  CHECK(lab.write("\r\nbody\r\n.\r\n") == refused);
  CHECK(lab.messages.empty());
  CHECK(lab.state() == ServerState::ready);
  CHECK(lab.write("NOOP\r\n") == "250 2.0.0 Ok\r\n");
}

TEST_CASE("smtp server header: a long body after a small header section is not counted as header") {
  Lab lab;
  lab.config.header_octets_max = 1000;
  lab.open_transaction();
  CHECK(lab.write("Subject: small\r\n\r\n" + fields(50) + ".\r\n").empty());
  CHECK(lab.messages.size() == 1);
}

TEST_CASE("smtp server header: a message with no empty line is all header and counts in full") {
  Lab lab;
  lab.config.header_octets_max = 1000;
  lab.open_transaction();
  CHECK(lab.write(fields(11) + ".\r\n") == refused);
  CHECK(lab.messages.empty());
}

TEST_CASE("smtp server header: the default limit is 100 KiB, as Postfix's header_size_limit") {
  CHECK(ServerConfig{}.header_octets_max == 102400);
  Lab lab;
  lab.open_transaction();
  CHECK(lab.write(fields(1024) + "\r\nb\r\n.\r\n").empty());  // 102400 octets
  CHECK(lab.messages.size() == 1);
  Lab over;
  over.open_transaction();
  CHECK(over.write(fields(1025) + "\r\nb\r\n.\r\n") ==
        "552 5.3.4 Error: message header section exceeds 102400 bytes\r\n");
}

TEST_CASE("smtp server header: BDAT counts the header section the same way") {
  Lab lab;
  lab.config.header_octets_max = 1000;
  lab.start();
  lab.write("EHLO c\r\nMAIL FROM:<x@ext.test>\r\nRCPT TO:<bob@lab.test>\r\n");
  const std::string small = fields(10) + "\r\nbody\r\n";
  CHECK(lab.write("BDAT " + std::to_string(small.size()) + " LAST\r\n" + small).empty());
  CHECK(lab.messages.size() == 1);
  lab.accept();

  const std::string big = fields(10) + "X:\r\n\r\nbody\r\n";
  const std::string first = big.substr(0, 700);
  const std::string rest = big.substr(700);
  lab.write("MAIL FROM:<x@ext.test>\r\nRCPT TO:<bob@lab.test>\r\n");
  CHECK(lab.write("BDAT " + std::to_string(first.size()) + "\r\n" + first) == "250 2.0.0 Ok: 700 octets received\r\n");
  CHECK(lab.write("BDAT " + std::to_string(rest.size()) + " LAST\r\n" + rest) == refused);
  CHECK(lab.messages.size() == 1);
}
