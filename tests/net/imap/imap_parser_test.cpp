#include <doctest/doctest.h>

#include "net/imap/imap_parser.hpp"
#include "net/imap/imap_sequence.hpp"

using namespace maillab::net::imap;

namespace {

Command parse_ok(const RawCommand& raw, ParserLimits limits = {}) {
  auto r = parse_command(raw, limits);
  REQUIRE(std::holds_alternative<Command>(r));
  return std::get<Command>(r);
}

RawCommand line(std::string text) {
  RawCommand raw;
  raw.lines.push_back(std::move(text));
  return raw;
}

std::string parse_error(const RawCommand& raw, ParserLimits limits = {}) {
  auto r = parse_command(raw, limits);
  REQUIRE(std::holds_alternative<ParseError>(r));
  return std::get<ParseError>(r).message;
}

}  // namespace

TEST_CASE("imap parser: tag, upper-cased verb, atoms, quoted strings and lists") {
  auto cmd = parse_ok(line(R"(a1 login "alice@lab.test" "pa\"ss\\word")"));
  CHECK(cmd.tag == "a1");
  CHECK(cmd.verb == "LOGIN");
  REQUIRE(cmd.args.size() == 2);
  CHECK(cmd.args[0].text == "alice@lab.test");
  CHECK(cmd.args[1].text == "pa\"ss\\word");
  CHECK(cmd.args[1].kind == Value::Kind::string);

  cmd = parse_ok(line("a2 STORE 1:* +FLAGS.SILENT (\\Seen \\Deleted)"));
  REQUIRE(cmd.args.size() == 3);
  CHECK(cmd.args[0].text == "1:*");
  CHECK(cmd.args[2].is_list());
  REQUIRE(cmd.args[2].items.size() == 2);
  CHECK(cmd.args[2].items[1].text == "\\Deleted");
}

TEST_CASE("imap parser: a bracketed section with spaces stays one atom") {
  auto cmd = parse_ok(line("a UID FETCH 1:* (UID BODY.PEEK[HEADER.FIELDS (From To)]<0.100> FLAGS)"));
  REQUIRE(cmd.args.size() == 3);
  REQUIRE(cmd.args[2].items.size() == 3);
  CHECK(cmd.args[2].items[1].text == "BODY.PEEK[HEADER.FIELDS (From To)]<0.100>");
}

TEST_CASE("imap parser: literals are spliced between the lines") {
  RawCommand raw;
  raw.lines = {"a LOGIN {14}", " {6+}", ""};
  raw.literals = {"alice@lab.test", "se cr\n"};
  auto cmd = parse_ok(raw);
  REQUIRE(cmd.args.size() == 2);
  CHECK(cmd.args[0].text == "alice@lab.test");
  CHECK(cmd.args[0].literal);
  CHECK(cmd.args[1].text == "se cr\n");
}

TEST_CASE("imap parser: malformed input is BAD with the tag kept") {
  auto r = parse_command(line("t1 LOGIN {1a}"), {});
  REQUIRE(std::holds_alternative<ParseError>(r));
  CHECK(std::get<ParseError>(r).tag == "t1");
  CHECK(parse_error(line("t1 LOGIN {-1}")) == "Invalid literal");
  CHECK(parse_error(line("t1 SELECT \"unterminated")) == "Unterminated quoted string");
  CHECK(parse_error(line("t1 SEARCH (FROM x")) == "Unterminated list");
  CHECK(parse_error(line("t1 SELECT \"a\\b\"")) == "Invalid escape in quoted string");
  CHECK(parse_error(line("")) == "Empty command");
  CHECK(parse_error(line("+ NOOP")) == "Invalid tag");
  CHECK(parse_error(line("a 123")) == "Invalid command");
}

TEST_CASE("imap parser: nesting depth and argument count are limited") {
  ParserLimits limits;
  limits.depth_max = 4;
  CHECK_NOTHROW(parse_ok(line("a SEARCH ((((ALL))))"), limits));
  CHECK(parse_error(line("a SEARCH (((((ALL)))))"), limits) == "Too deeply nested");
  std::string deep = "a SEARCH " + std::string(100000, '(');
  CHECK(parse_error(line(deep)) == "Too deeply nested");
  limits.args_max = 10;
  std::string many = "a SEARCH";
  for (int i = 0; i < 11; ++i) many += " ALL";
  CHECK(parse_error(line(many), limits) == "Too many arguments");
}

TEST_CASE("imap parser: trailing literal announcements, with overflow detected") {
  auto spec = trailing_literal("a LOGIN {4294967295}");
  REQUIRE(spec);
  CHECK(spec->size == 4294967295u);
  CHECK(spec->synchronising);
  spec = trailing_literal("a APPEND x {12+}");
  REQUIRE(spec);
  CHECK(spec->size == 12);
  CHECK_FALSE(spec->synchronising);
  spec = trailing_literal("a LOGIN {99999999999999999999999}");
  REQUIRE(spec);
  CHECK(spec->size == UINT64_MAX);
  CHECK_FALSE(trailing_literal("a LOGIN {1a}"));
  CHECK_FALSE(trailing_literal("a LOGIN {-1}"));
  CHECK_FALSE(trailing_literal("a LOGIN {}"));
  CHECK_FALSE(trailing_literal("a LOGIN {+}"));
}

TEST_CASE("imap reader: a synchronising literal waits for the verdict, then reads exactly n octets") {
  CommandReader reader;
  reader.push("a LOGIN {5}\r\n");
  auto out = reader.next();
  REQUIRE(std::holds_alternative<LiteralAnnounced>(out));
  CHECK(std::get<LiteralAnnounced>(out).size == 5);
  CHECK(std::holds_alternative<std::monostate>(reader.next()));
  reader.accept_literal();
  reader.push("al\r\nx secret\r\nb NOOP\r\n");
  out = reader.next();
  REQUIRE(std::holds_alternative<CommandReady>(out));
  auto& raw = std::get<CommandReady>(out).command;
  REQUIRE(raw.literals.size() == 1);
  CHECK(raw.literals[0] == "al\r\nx");
  CHECK(raw.lines[1] == " secret");
  out = reader.next();
  REQUIRE(std::holds_alternative<CommandReady>(out));
  CHECK(std::get<CommandReady>(out).command.lines[0] == "b NOOP");
}

TEST_CASE("imap reader: a refused synchronising literal drops the command and reading goes on") {
  CommandReader reader;
  reader.push("a LOGIN {4294967295}\r\nb NOOP\r\n");
  auto out = reader.next();
  REQUIRE(std::holds_alternative<LiteralAnnounced>(out));
  reader.reject_literal();
  out = reader.next();
  REQUIRE(std::holds_alternative<CommandReady>(out));
  CHECK(std::get<CommandReady>(out).command.lines[0] == "b NOOP");
}

TEST_CASE("imap reader: a refused non-synchronising literal is never read as commands") {
  CommandReader reader;
  reader.push("a APPEND INBOX {5000+}\r\nb DELETE INBOX\r\n");
  REQUIRE(std::holds_alternative<LiteralAnnounced>(reader.next()));
  reader.reject_literal();
  CHECK(reader.failed());
  CHECK(std::holds_alternative<std::monostate>(reader.next()));
  reader.push("c DELETE Sent\r\n");
  CHECK(std::holds_alternative<std::monostate>(reader.next()));
}

TEST_CASE("imap reader: a line over the limit fails the reader even without a line end") {
  ParserLimits limits;
  limits.line_bytes_max = 100;
  CommandReader reader(limits);
  reader.push(std::string(101, 'a'));
  CHECK(std::holds_alternative<ReaderFailed>(reader.next()));
  CommandReader ok(limits);
  ok.push(std::string(100, 'a'));
  CHECK(std::holds_alternative<std::monostate>(ok.next()));
}

TEST_CASE("imap reader: raw-line mode hands lines over without literal handling") {
  CommandReader reader;
  reader.set_raw_lines(true);
  reader.push("DONE {5}\r\n");
  auto out = reader.next();
  REQUIRE(std::holds_alternative<RawLine>(out));
  CHECK(std::get<RawLine>(out).text == "DONE {5}");
}

TEST_CASE("imap string: quoted when safe, literal otherwise") {
  CHECK(imap_string("INBOX") == "\"INBOX\"");
  CHECK(imap_string("a\"b") == "\"a\\\"b\"");
  CHECK(imap_string("a\r\nb") == "{4}\r\na\r\nb");
  CHECK(imap_nstring(std::nullopt) == "NIL");
}

TEST_CASE("sequence set: ranges, stars, clamping and refusals (catalogue row 41)") {
  auto set = SequenceSet::parse("1:*");
  REQUIRE(set);
  auto r = set->resolve(7);
  REQUIRE(r.size() == 1);
  CHECK(r[0] == std::pair<std::uint32_t, std::uint32_t>{1, 7});
  set = SequenceSet::parse("*:3");
  REQUIRE(set);
  CHECK(set->resolve(5)[0] == std::pair<std::uint32_t, std::uint32_t>{3, 5});
  set = SequenceSet::parse("1:4294967295");
  REQUIRE(set);
  CHECK(set->resolve(10).size() == 1);
  CHECK(set->max_value(10) == 4294967295u);
  set = SequenceSet::parse("5,1,1,2:3,9");
  REQUIRE(set);
  auto merged = set->resolve(9);
  REQUIRE(merged.size() == 3);
  CHECK(contains(merged, 3));
  CHECK_FALSE(contains(merged, 4));
  CHECK(contains(merged, 9));
  CHECK_FALSE(SequenceSet::parse("0"));
  CHECK_FALSE(SequenceSet::parse("1:4294967296"));
  CHECK_FALSE(SequenceSet::parse("1,,2"));
  CHECK_FALSE(SequenceSet::parse(""));
  CHECK_FALSE(SequenceSet::parse("1:"));
  CHECK_FALSE(SequenceSet::parse("01"));
}
