#include "net/pop3/pop3_codec.hpp"

#include <doctest/doctest.h>

#include <string>

using namespace maillab::net::pop3;

TEST_CASE("pop3 codec: message numbers are plain decimals up to 2^32-1") {
  CHECK(parse_number("1") == 1U);
  CHECK(parse_number("0") == 0U);
  CHECK(parse_number("007") == 7U);
  CHECK(parse_number("4294967295") == 4294967295U);
  CHECK_FALSE(parse_number("4294967296"));
  CHECK_FALSE(parse_number("99999999999"));
  CHECK_FALSE(parse_number(""));
  CHECK_FALSE(parse_number("1a"));
  CHECK_FALSE(parse_number("-1"));
  CHECK_FALSE(parse_number("+1"));
  CHECK_FALSE(parse_number(" 1"));
}

TEST_CASE("pop3 codec: a command splits into an upper-cased verb, arguments and the raw rest") {
  const CommandLine top = split_command("top 1  10");
  CHECK(top.verb == "TOP");
  REQUIRE(top.args.size() == 2);
  CHECK(top.args[0] == "1");
  CHECK(top.args[1] == "10");
  const CommandLine pass = split_command("PASS my secret pass");
  CHECK(pass.rest == "my secret pass");
  CHECK(pass.args.size() == 3);
  const CommandLine quit = split_command("QUIT");
  CHECK(quit.verb == "QUIT");
  CHECK(quit.args.empty());
  CHECK(quit.rest.empty());
}

TEST_CASE("pop3 codec: dot-stuffing doubles leading dots and ends every line in CRLF") {
  const StuffedBody body = dot_stuff("a\r\n.\r\n..\r\n.x\r\n. \r\nlast");
  CHECK(body.bytes == "a\r\n..\r\n...\r\n..x\r\n.. \r\nlast\r\n");
  CHECK(body.lines == 6);
  CHECK(dot_stuff("").bytes.empty());
  CHECK(dot_stuff("one\r\n").bytes == "one\r\n");
  CHECK(dot_stuff("\r\n\r\n").bytes == "\r\n\r\n");
}

TEST_CASE("pop3 codec: bare CR and bare LF never leave as such") {
  CHECK(dot_stuff("a\rb\nc\r\n").bytes == "a\r\nb\r\nc\r\n");
  CHECK(dot_stuff("a\n.\n").bytes == "a\r\n..\r\n");
}

TEST_CASE("pop3 codec: un-stuffing removes exactly one leading dot") {
  CHECK(dot_unstuff("..") == ".");
  CHECK(dot_unstuff("...x") == "..x");
  CHECK(dot_unstuff("plain") == "plain");
  CHECK(dot_unstuff("").empty());
}

TEST_CASE("pop3 codec: TOP keeps the header, the blank line and n body lines") {
  const std::string message = "Subject: hi\r\nFrom: a@b\r\n\r\nline 1\r\nline 2\r\nline 3";
  CHECK(top_of_message(message, 0) == "Subject: hi\r\nFrom: a@b\r\n\r\n");
  CHECK(top_of_message(message, 2) == "Subject: hi\r\nFrom: a@b\r\n\r\nline 1\r\nline 2\r\n");
  CHECK(top_of_message(message, 3) == message);
  CHECK(top_of_message(message, 4294967295U) == message);
  CHECK(top_of_message("Subject: no body\r\n", 5) == "Subject: no body\r\n");
  CHECK(top_of_message("\r\nbody only\r\nmore\r\n", 1) == "\r\nbody only\r\n");
}

TEST_CASE("pop3 codec: UIDL values are UID then UIDVALIDITY in eight upper-case hex digits") {
  CHECK(format_uidl(1, 1) == "0000000100000001");
  CHECK(format_uidl(0xDEADBEEF, 42) == "0000002ADEADBEEF");
  CHECK(format_uidl(0xFFFFFFFF, 0xFFFFFFFF).size() == 16);
}

TEST_CASE("pop3 codec: APOP digest matches the RFC 1939 §7 example") {
  CHECK(apop_digest("<1896.697170952@dbc.mtview.ca.us>", "tanstaaf") == "c4c9334bac560ecc979e58001b3e22fb");
}

TEST_CASE("pop3 codec: the APOP timestamp is found in a greeting") {
  CHECK(greeting_timestamp("+OK POP3 server ready <1896.697170952@dbc.mtview.ca.us>") ==
        "<1896.697170952@dbc.mtview.ca.us>");
  CHECK(greeting_timestamp("+OK ready").empty());
  CHECK(greeting_timestamp("+OK ready <unterminated").empty());
}

TEST_CASE("pop3 codec: the line reader splits CRLF and LF lines across segments") {
  LineReader reader(64);
  std::string line;
  reader.append("US");
  CHECK(reader.next(line) == LineReader::Status::need_more);
  reader.append("ER a\r\nNOOP\nQU");
  REQUIRE(reader.next(line) == LineReader::Status::line);
  CHECK(line == "USER a");
  REQUIRE(reader.next(line) == LineReader::Status::line);
  CHECK(line == "NOOP");
  CHECK(reader.next(line) == LineReader::Status::need_more);
  CHECK(reader.buffered() == 2);
  reader.append("IT\r\n");
  REQUIRE(reader.next(line) == LineReader::Status::line);
  CHECK(line == "QUIT");
}

TEST_CASE("pop3 codec: an over-long line is reported once and dropped up to its LF") {
  LineReader reader(16);
  std::string line;
  reader.append(std::string(100, 'x'));
  CHECK(reader.next(line) == LineReader::Status::too_long);
  CHECK(reader.buffered() == 0);
  reader.append(std::string(100, 'y'));
  CHECK(reader.next(line) == LineReader::Status::need_more);
  CHECK(reader.buffered() == 0);
  reader.append("yyy\r\nNOOP\r\n");
  REQUIRE(reader.next(line) == LineReader::Status::line);
  CHECK(line == "NOOP");
  reader.append(std::string(20, 'z') + "\r\n");
  CHECK(reader.next(line) == LineReader::Status::too_long);
}

TEST_CASE("pop3 codec: clearing the reader drops what was pipelined") {
  LineReader reader(64);
  std::string line;
  reader.append("STLS\r\nUSER evil\r\n");
  REQUIRE(reader.next(line) == LineReader::Status::line);
  CHECK(reader.clear() == 11);
  CHECK(reader.next(line) == LineReader::Status::need_more);
}
