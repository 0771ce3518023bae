#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "net/smtp/smtp_reply_parser.hpp"

using namespace maillab::net::smtp;

namespace {

// Feeds `bytes` and returns every reply that completed; REQUIREs no error.
std::vector<Reply> parse_all(ReplyParser& parser, std::string_view bytes) {
  parser.feed(bytes);
  std::vector<Reply> replies;
  while (auto item = parser.next()) {
    REQUIRE(item->ok());
    if (item->value().reply) replies.push_back(*item->value().reply);
  }
  return replies;
}

// The error message of the first failing line, or "" when everything parsed.
std::string first_error(ReplyParser& parser, std::string_view bytes) {
  parser.feed(bytes);
  while (auto item = parser.next()) {
    if (!item->ok()) return item->error().message;
  }
  return "";
}

}  // namespace

TEST_CASE("reply parser: a single-line reply with an enhanced code is split into its parts") {
  ReplyParser parser;
  auto replies = parse_all(parser, "250 2.1.0 Ok\r\n");
  REQUIRE(replies.size() == 1);
  CHECK(replies[0] == Reply{250, "2.1.0", {"Ok"}});
  CHECK(parser.idle());
}

TEST_CASE("reply parser: a multi-line reply collects every line and ends at the SP line") {
  ReplyParser parser;
  std::vector<std::string> lines;
  parser.feed("250-mx.test Hello\r\n250-PIPELINING\r\n250 SIZE 1000\r\n");
  std::vector<Reply> replies;
  while (auto item = parser.next()) {
    REQUIRE(item->ok());
    lines.push_back(item->value().text);
    if (item->value().reply) replies.push_back(*item->value().reply);
  }
  CHECK(lines == std::vector<std::string>{"250-mx.test Hello", "250-PIPELINING", "250 SIZE 1000"});
  REQUIRE(replies.size() == 1);
  CHECK(replies[0] == Reply{250, "", {"mx.test Hello", "PIPELINING", "SIZE 1000"}});
}

TEST_CASE("reply parser: without line text the lines come back empty and the replies the same") {
  const std::string wire = "250-mx.test Hello\r\n250-PIPELINING\r\n250 SIZE 1000\r\n250 2.1.0 Ok\r\n";
  ReplyParser with_text;
  ReplyParser without_text;
  without_text.set_line_text(false);
  with_text.feed(wire);
  without_text.feed(wire);
  std::size_t lines = 0;
  while (auto item = without_text.next()) {
    REQUIRE(item->ok());
    auto expected = with_text.next();
    REQUIRE(expected);
    REQUIRE(expected->ok());
    CHECK(!expected->value().text.empty());
    CHECK(item->value().text.empty());
    CHECK(item->value().reply == expected->value().reply);
    ++lines;
  }
  CHECK(lines == 4);
  CHECK(!with_text.next());
}

TEST_CASE("reply parser: replies split at every byte parse the same as whole ones") {
  const std::string wire = "220 mx.test ESMTP\r\n250-a\r\n250 2.0.0 b\r\n354 go ahead\r\n";
  ReplyParser whole;
  auto expected = parse_all(whole, wire);
  REQUIRE(expected.size() == 3);
  ReplyParser bytewise;
  std::vector<Reply> got;
  for (char c : wire) {
    auto more = parse_all(bytewise, std::string_view(&c, 1));
    got.insert(got.end(), more.begin(), more.end());
  }
  CHECK(got == expected);
}

TEST_CASE("reply parser: what Reply::to_wire writes parses back to the same Reply") {
  const std::vector<Reply> samples = {
      replies::greeting("mx.lab.test"),  replies::closing("mx.lab.test"), replies::sender_ok(),
      replies::unknown_user("<x@lab.test>"), replies::too_many_recipients(), replies::message_too_big(),
      replies::relay_denied("<x@elsewhere.test>"), replies::auth_failed(),
      replies::ehlo("mx.lab.test", "client.test", {"PIPELINING", "8BITMIME", "SIZE 10240000"}),
      Reply{550, "5.1.1", {"first line", "second line"}},
  };
  for (const Reply& reply : samples) {
    ReplyParser parser;
    auto parsed = parse_all(parser, reply.to_wire());
    REQUIRE(parsed.size() == 1);
    CHECK(parsed[0] == reply);
  }
}

TEST_CASE("reply parser: an enhanced code of another class is text unless ENHANCEDSTATUSCODES was offered") {
  ReplyParser parser;
  auto plain = parse_all(parser, "550 2.0.0 odd\r\n");
  REQUIRE(plain.size() == 1);
  CHECK(plain[0].enhanced.empty());
  CHECK(plain[0].lines == std::vector<std::string>{"2.0.0 odd"});
  parser.set_enhanced_status_codes(true);
  auto advertised = parse_all(parser, "550 2.0.0 odd\r\n");
  REQUIRE(advertised.size() == 1);
  CHECK(advertised[0].enhanced == "2.0.0");
  CHECK(advertised[0].lines == std::vector<std::string>{"odd"});
}

TEST_CASE("reply parser: text that merely starts with digits is not an enhanced code") {
  CHECK(enhanced_code_length("2.1.0 Ok") == 5);
  CHECK(enhanced_code_length("5.7.11") == 6);
  CHECK(enhanced_code_length("4.4.2") == 5);
  CHECK(enhanced_code_length("2.1.0Ok") == 0);
  CHECK(enhanced_code_length("3.1.0 Ok") == 0);
  CHECK(enhanced_code_length("2.1234.0 Ok") == 0);
  CHECK(enhanced_code_length("2..0 Ok") == 0);
  CHECK(enhanced_code_length("8BITMIME") == 0);
}

TEST_CASE("reply parser: a bare code, a bare LF line end and an empty continuation are accepted") {
  ReplyParser parser;
  auto replies = parse_all(parser, "250-\r\n250\n");
  REQUIRE(replies.size() == 1);
  CHECK(replies[0] == Reply{250, "", {"", ""}});
}

TEST_CASE("reply parser: malformed lines are errors and the parser stays failed") {
  SUBCASE("no code") {
    ReplyParser parser;
    CHECK(first_error(parser, "hello\r\n").find("three-digit") != std::string::npos);
  }
  SUBCASE("code out of range") {
    ReplyParser parser;
    CHECK(first_error(parser, "650 what\r\n").find("out of range") != std::string::npos);
  }
  SUBCASE("bad separator") {
    ReplyParser parser;
    CHECK(first_error(parser, "250+x\r\n").find("SP or '-'") != std::string::npos);
  }
  SUBCASE("code changes inside a multi-line reply") {
    ReplyParser parser;
    CHECK(first_error(parser, "250-a\r\n251 b\r\n").find("changed its code") != std::string::npos);
  }
  SUBCASE("NUL inside a line") {
    ReplyParser parser;
    CHECK(first_error(parser, std::string("250 a\0b\r\n", 9)).find("NUL") != std::string::npos);
  }
  SUBCASE("sticky") {
    ReplyParser parser;
    CHECK_FALSE(first_error(parser, "xyz\r\n").empty());
    CHECK(parser.failed());
    parser.feed("250 ok\r\n");
    auto again = parser.next();
    REQUIRE(again);
    CHECK_FALSE(again->ok());
  }
}

TEST_CASE("reply parser: line length and line count are bounded") {
  ReplyParser parser({.line_bytes_max = 16, .lines_max = 3});
  SUBCASE("a long line without its end is refused before it ends") {
    CHECK(first_error(parser, "250 " + std::string(40, 'x')).find("longer than 16") != std::string::npos);
  }
  SUBCASE("a long complete line is refused") {
    CHECK(first_error(parser, "250 " + std::string(13, 'x') + "\r\n").find("longer than 16") !=
          std::string::npos);
  }
  SUBCASE("a line exactly at the limit passes") {
    CHECK(first_error(parser, "250 " + std::string(12, 'x') + "\r\n").empty());
  }
  SUBCASE("too many lines in one reply") {
    CHECK(first_error(parser, "250-a\r\n250-b\r\n250-c\r\n250 d\r\n").find("lines") != std::string::npos);
  }
}

TEST_CASE("reply parser: discard_buffered drops a partial reply and unread bytes") {
  ReplyParser parser;
  parser.feed("250-partial\r\n");
  REQUIRE(parser.next());
  parser.feed("250 rest");
  CHECK_FALSE(parser.idle());
  parser.discard_buffered();
  CHECK(parser.idle());
  auto replies = parse_all(parser, "220 fresh\r\n");
  REQUIRE(replies.size() == 1);
  CHECK(replies[0] == Reply{220, "", {"fresh"}});
}

TEST_CASE("reply parser: the line limit counts only unread bytes, however many lines were read from one feed") {
  ReplyParser parser({.line_bytes_max = 16, .lines_max = 3});
  std::string pipelined;
  for (int i = 0; i < 6; ++i) pipelined += "250 2.1.5 ok " + std::to_string(i) + "\r\n";  // 36+ octets fed at once
  parser.feed(pipelined + "354 sta");
  for (int i = 0; i < 6; ++i) {
    auto item = parser.next();
    REQUIRE(item);
    REQUIRE(item->ok());
    REQUIRE(item->value().reply);
    CHECK(item->value().text == "250 2.1.5 ok " + std::to_string(i));
    CHECK(item->value().reply->lines == std::vector<std::string>{"ok " + std::to_string(i)});
  }
  CHECK_FALSE(parser.next());  // "354 sta" waits for its line end: 7 octets, under the limit
  CHECK_FALSE(parser.idle());
  parser.feed("rt mail\r\n");
  auto item = parser.next();
  REQUIRE(item);
  REQUIRE(item->ok());
  CHECK(item->value().text == "354 start mail");
  CHECK(parser.idle());
  CHECK_FALSE(parser.next());
}
