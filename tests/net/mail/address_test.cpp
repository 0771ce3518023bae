#include <doctest/doctest.h>

#include <string>

#include "net/mail/address.hpp"

using namespace maillab::net::mail;

namespace {

// The parse must fail and its message must mention `needle`.
void check_refused(const maillab::Result<Address>& r, const std::string& needle) {
  REQUIRE_FALSE(r.ok());
  INFO("error: " << r.error().message);
  CHECK(r.error().message.find(needle) != std::string::npos);
  CHECK(r.error().category == maillab::ErrorCategory::parse);
}

}  // namespace

TEST_CASE("address: a plain mailbox splits into local part and domain") {
  auto a = parse_mailbox("alice@lab.test");
  REQUIRE(a);
  CHECK(a->local_part == "alice");
  CHECK(a->domain == "lab.test");
  CHECK_FALSE(a->is_null());
  CHECK_FALSE(a->domain_is_literal());
  CHECK(a->to_string() == "alice@lab.test");
  CHECK(a->to_path() == "<alice@lab.test>");
}

TEST_CASE("address: every atext special character is allowed in a Dot-string") {
  auto a = parse_mailbox("a!#$%&'*+-/=?^_`{|}~.b@x.test");
  REQUIRE(a);
  CHECK(a->local_part == "a!#$%&'*+-/=?^_`{|}~.b");
  CHECK(a->to_string() == "a!#$%&'*+-/=?^_`{|}~.b@x.test");
}

TEST_CASE("address: a quoted local part is unquoted and its quoted-pairs resolved") {
  auto a = parse_mailbox(R"("john \"jr\" doe\\x"@lab.test)");
  REQUIRE(a);
  CHECK(a->local_part == R"(john "jr" doe\x)");
  CHECK(a->to_string() == R"("john \"jr\" doe\\x"@lab.test)");
}

TEST_CASE("address: needless quotes are dropped by to_string") {
  auto a = parse_mailbox(R"("alice"@lab.test)");
  REQUIRE(a);
  CHECK(a->local_part == "alice");
  CHECK(a->to_string() == "alice@lab.test");
  CHECK(*a == *parse_mailbox("alice@lab.test"));
}

TEST_CASE("address: to_string quotes a local part that is not a Dot-string") {
  CHECK(Address{"a b", "x.test"}.to_string() == "\"a b\"@x.test");
  CHECK(Address{".a", "x.test"}.to_string() == "\".a\"@x.test");
  CHECK(Address{"a..b", "x.test"}.to_string() == "\"a..b\"@x.test");
  CHECK(Address{"a@b", "x.test"}.to_string() == "\"a@b\"@x.test");
  CHECK(Address{"", "x.test"}.to_string() == "\"\"@x.test");
  CHECK(Address{"a.b", "x.test"}.to_string() == "a.b@x.test");
}

TEST_CASE("address: an empty quoted local part is valid and round-trips") {
  auto a = parse_mailbox(R"(""@lab.test)");
  REQUIRE(a);
  CHECK(a->local_part.empty());
  CHECK_FALSE(a->is_null());
  auto again = parse_forward_path(a->to_path());
  REQUIRE(again);
  CHECK(*again == *a);
}

TEST_CASE("address: a quoted local part may hold '@', spaces and dots anywhere") {
  auto a = parse_mailbox(R"("b@other.test"@lab.test)");
  REQUIRE(a);
  CHECK(a->local_part == "b@other.test");
  CHECK(a->domain == "lab.test");
  auto b = parse_mailbox(R"(".a..b. c"@lab.test)");
  REQUIRE(b);
  CHECK(b->local_part == ".a..b. c");
}

TEST_CASE("address: the local part is case-sensitive, the domain is not") {
  auto a = *parse_mailbox("Alice@LAB.Test");
  auto b = *parse_mailbox("Alice@lab.test");
  auto c = *parse_mailbox("alice@lab.test");
  CHECK(a == b);
  CHECK_FALSE(a == c);
  CHECK(a.domain == "LAB.Test");  // kept as written
  CHECK(a.domain_key() == "lab.test");
}

TEST_CASE("address: domains with digits and inner hyphens are valid, single labels too") {
  CHECK(parse_mailbox("a@0-9.example-1.test"));
  CHECK(parse_mailbox("a@123.test"));
  CHECK(parse_mailbox("a@localhost"));
  CHECK(parse_mailbox("a@xn--bcher-kva.test"));
}

TEST_CASE("address: a 63-octet label is accepted, a 64-octet label is refused") {
  std::string l63(63, 'a');
  CHECK(parse_mailbox("x@" + l63 + ".test"));
  check_refused(parse_mailbox("x@" + l63 + "a.test"), "longer than 63 octets");
}

TEST_CASE("address: a 64-octet local part is accepted, 65 octets are refused") {
  CHECK(parse_mailbox(std::string(64, 'a') + "@x.test"));
  check_refused(parse_mailbox(std::string(65, 'a') + "@x.test"), "local part longer than 64 octets");
  // Quotes count: the text as written is what the limit measures.
  check_refused(parse_mailbox("\"" + std::string(63, 'a') + "\"@x.test"), "local part longer than 64 octets");
}

TEST_CASE("address: an over-long domain is refused; the path limit binds first") {
  std::string domain;
  for (int i = 0; i < 4; ++i) domain += std::string(63, 'd') + ".";
  domain += "abcd";  // 4*64 + 4 = 260 octets
  check_refused(parse_forward_path("<a@" + domain + ">"), "longer than 256 octets");
  check_refused(parse_mailbox("a@" + domain), "longer than 254 octets");
  std::string ok_domain;
  for (int i = 0; i < 3; ++i) ok_domain += std::string(63, 'd') + ".";
  ok_domain += std::string(59, 'e');  // 192 + 59 = 251: "<a@" + 251 + ">" is 255 octets
  CHECK(parse_forward_path("<a@" + ok_domain + ">"));
  CHECK(parse_mailbox("a@" + ok_domain));
}

TEST_CASE("address: a path is limited to 256 octets") {
  // 64 + 1 + 189 + 2 = 256: accepted.
  std::string domain = std::string(63, 'a') + "." + std::string(63, 'b') + "." + std::string(61, 'c');
  REQUIRE(domain.size() == 189);
  CHECK(parse_forward_path("<" + std::string(64, 'l') + "@" + domain + ">"));
  check_refused(parse_forward_path("<" + std::string(64, 'l') + "@" + domain + "c>"), "path longer than 256 octets");
}

TEST_CASE("address: malformed local parts get specific errors") {
  check_refused(parse_mailbox(".alice@lab.test"), "local part starts with a dot");
  check_refused(parse_mailbox("alice.@lab.test"), "local part ends with a dot");
  check_refused(parse_mailbox("al..ice@lab.test"), "two consecutive dots");
  check_refused(parse_mailbox("@lab.test"), "empty local part");
  check_refused(parse_mailbox("a b@lab.test"), "invalid a space in local part");
  check_refused(parse_mailbox("a(b)@lab.test"), "invalid '(' in local part");
  check_refused(parse_mailbox("a,b@lab.test"), "invalid ',' in local part");
  check_refused(parse_mailbox("a;b@lab.test"), "invalid ';' in local part");
  check_refused(parse_mailbox("a\\b@lab.test"), "invalid '\\' in local part");
  check_refused(parse_mailbox("ab\"c\"@lab.test"), "quote inside an unquoted local part");
  check_refused(parse_mailbox("\"abc@lab.test"), "unterminated quoted string");
  check_refused(parse_mailbox("\"abc\\"), "unterminated quoted string");
  check_refused(parse_mailbox("\"abc\"x@lab.test"), "unexpected 'x' after quoted local part");
}

TEST_CASE("address: a missing or doubled '@' is refused") {
  check_refused(parse_mailbox("alice"), "missing '@'");
  check_refused(parse_mailbox("\"alice\""), "missing '@'");
  check_refused(parse_mailbox("b@other.test@lab.test"), "more than one '@'");
  check_refused(parse_mailbox("b@@lab.test"), "more than one '@'");
  check_refused(parse_mailbox("alice@"), "empty domain");
  check_refused(parse_mailbox(""), "empty address");
}

TEST_CASE("address: malformed domains get specific errors") {
  check_refused(parse_mailbox("a@lab..test"), "empty label");
  check_refused(parse_mailbox("a@.lab.test"), "empty label");
  check_refused(parse_mailbox("a@lab.test."), "empty label");
  check_refused(parse_mailbox("a@-lab.test"), "starts with a hyphen");
  check_refused(parse_mailbox("a@lab-.test"), "ends with a hyphen");
  check_refused(parse_mailbox("a@lab_x.test"), "invalid '_' in domain");
  check_refused(parse_mailbox("a@lab.test]"), "unbalanced ']'");
  check_refused(parse_mailbox("a@la b.test"), "invalid a space in domain");
}

TEST_CASE("address: CR, LF, NUL and other control characters are refused everywhere") {
  check_refused(parse_mailbox(std::string("al\rice@lab.test")), "CR");
  check_refused(parse_mailbox(std::string("alice@lab.test\n")), "LF");
  check_refused(parse_mailbox(std::string("al\0ice@lab.test", 15)), "NUL");
  check_refused(parse_mailbox(std::string("\"a\tb\"@lab.test")), "a tab");
  check_refused(parse_mailbox(std::string("\"a\x01" "b\"@lab.test")), "byte 0x01");
  check_refused(parse_mailbox(std::string("ab@lab\x7f.test")), "byte 0x7F");
  check_refused(parse_forward_path("<alice@lab.test\r\nRCPT TO:<x@y>>"), "CR");
  check_refused(parse_reverse_path(std::string("<\"a\\\r\"@x.test>")), "CR");
}

TEST_CASE("address: shell metacharacters outside quotes are refused (CVE-2020-7247)") {
  check_refused(parse_forward_path("<;sleep 66;@lab.test>"), "invalid ';' in local part");
  auto quoted = parse_forward_path("<\";sleep 66;\"@lab.test>");
  REQUIRE(quoted);  // valid grammar; callers never hand addresses to a shell
  CHECK(quoted->to_path() == "<\";sleep 66;\"@lab.test>");
}

TEST_CASE("address: IPv4 address literals are checked octet by octet") {
  auto a = parse_mailbox("a@[192.0.2.1]");
  REQUIRE(a);
  CHECK(a->domain == "[192.0.2.1]");
  CHECK(a->domain_is_literal());
  CHECK(parse_mailbox("a@[0.0.0.0]"));
  CHECK(parse_mailbox("a@[255.255.255.255]"));
  check_refused(parse_mailbox("a@[256.0.0.1]"), "invalid IPv4 address literal");
  check_refused(parse_mailbox("a@[1.2.3]"), "invalid IPv4 address literal");
  check_refused(parse_mailbox("a@[1.2.3.4.5]"), "invalid IPv4 address literal");
  check_refused(parse_mailbox("a@[1.2.3.0004]"), "invalid IPv4 address literal");
  check_refused(parse_mailbox("a@[1..3.4]"), "invalid IPv4 address literal");
  check_refused(parse_mailbox("a@[]"), "empty address literal");
  check_refused(parse_mailbox("a@[192.0.2.1"), "missing closing ']'");
  check_refused(parse_mailbox("a@[192.0.2.1]x"), "unexpected text after ']'");
}

TEST_CASE("address: IPv6 address literals follow the four RFC 5321 forms") {
  CHECK(parse_mailbox("a@[IPv6:2001:db8:0:0:0:0:0:1]"));     // full
  CHECK(parse_mailbox("a@[IPv6:2001:db8::1]"));              // comp
  CHECK(parse_mailbox("a@[IPv6:::1]"));                      // comp, empty left
  CHECK(parse_mailbox("a@[IPv6:fe80::]"));                   // comp, empty right
  CHECK(parse_mailbox("a@[IPv6:::]"));                       // all zero
  CHECK(parse_mailbox("a@[ipv6:0:0:0:0:0:ffff:192.0.2.1]")); // v4-full, tag in any case
  CHECK(parse_mailbox("a@[IPv6:::ffff:192.0.2.1]"));         // v4-comp
  check_refused(parse_mailbox("a@[IPv6:1:2:3:4:5:6:7]"), "invalid IPv6");
  check_refused(parse_mailbox("a@[IPv6:1:2:3:4:5:6:7:8:9]"), "invalid IPv6");
  check_refused(parse_mailbox("a@[IPv6:1::2::3]"), "invalid IPv6");
  check_refused(parse_mailbox("a@[IPv6:1:2:3::4:5:6:7]"), "invalid IPv6");  // "::" must stand for 2+ groups
  check_refused(parse_mailbox("a@[IPv6:12345::1]"), "invalid IPv6");
  check_refused(parse_mailbox("a@[IPv6:g::1]"), "invalid IPv6");
  check_refused(parse_mailbox("a@[IPv6:::ffff:300.0.2.1]"), "invalid IPv6");
}

TEST_CASE("address: general address literals need an Ldh tag and dcontent") {
  CHECK(parse_mailbox("a@[x-tag:some!content]"));
  check_refused(parse_mailbox("a@[:abc]"), "tag is empty");
  check_refused(parse_mailbox("a@[x_y:abc]"), "invalid '_' in address literal tag");
  check_refused(parse_mailbox("a@[xy-:abc]"), "tag ends with a hyphen");
  check_refused(parse_mailbox("a@[xy:]"), "no content after the tag");
  check_refused(parse_mailbox("a@[xy:a b]"), "invalid a space in address literal");
  check_refused(parse_mailbox("a@[xy:a\\b]"), "invalid '\\' in address literal");
}

TEST_CASE("address: paths need both angle brackets, balanced") {
  check_refused(parse_forward_path("alice@lab.test"), "must start with '<'");
  check_refused(parse_forward_path("<alice@lab.test"), "missing closing '>'");
  check_refused(parse_forward_path("<"), "missing closing '>'");
  check_refused(parse_forward_path("<<alice@lab.test>>"), "unbalanced angle brackets");
  check_refused(parse_forward_path("<alice@lab.test>>"), "unbalanced angle brackets");
  check_refused(parse_forward_path("<alice@lab.test> "), "missing closing '>'");
  check_refused(parse_forward_path("< alice@lab.test>"), "invalid a space");
  check_refused(parse_forward_path(""), "empty path");
  check_refused(parse_mailbox("<alice@lab.test>"), "angle brackets");
}

TEST_CASE("address: a '>' inside a quoted local part does not end the path") {
  auto a = parse_forward_path(R"(<"a>b"@lab.test>)");
  REQUIRE(a);
  CHECK(a->local_part == "a>b");
  CHECK(a->to_path() == R"(<"a>b"@lab.test>)");
}

TEST_CASE("address: source routes are parsed and dropped") {
  auto a = parse_forward_path("<@relay.test,@hop2.test:bob@lab.test>");
  REQUIRE(a);
  CHECK(a->local_part == "bob");
  CHECK(a->domain == "lab.test");
  CHECK(a->to_path() == "<bob@lab.test>");
  check_refused(parse_forward_path("<@relay..test:bob@lab.test>"), "in source route: empty label");
  check_refused(parse_forward_path("<@relay.test,hop2.test:bob@lab.test>"), "hop must start with '@'");
  check_refused(parse_forward_path("<@relay.test>"), "source route without ':'");
  check_refused(parse_forward_path("<@relay.test:>"), "empty address");
}

TEST_CASE("address: the null path '<>' is only a reverse path") {
  auto r = parse_reverse_path("<>");
  REQUIRE(r);
  CHECK(r->is_null());
  CHECK(r->to_string().empty());
  CHECK(r->to_path() == "<>");
  check_refused(parse_forward_path("<>"), "only allowed as a reverse path");
  check_refused(parse_mailbox("<>"), "angle brackets");
  auto nonnull = parse_reverse_path("<alice@lab.test>");
  REQUIRE(nonnull);
  CHECK(nonnull->local_part == "alice");
}

TEST_CASE("address: <Postmaster> is recognised apart from ordinary paths") {
  CHECK(is_postmaster_path("<Postmaster>"));
  CHECK(is_postmaster_path("<postmaster>"));
  CHECK_FALSE(is_postmaster_path("<postmaster@lab.test>"));
  CHECK_FALSE(is_postmaster_path("<post>"));
  CHECK_FALSE(parse_forward_path("<Postmaster>"));
  CHECK(parse_forward_path("<Postmaster@lab.test>"));
}

TEST_CASE("address: UTF-8 is refused without SMTPUTF8 and accepted with it") {
  const std::string local = "j\xC3\xBCrgen@lab.test";                // jürgen
  const std::string domain = "a@b\xC3\xBC" "cher.test";               // bücher
  const std::string quoted = "\"\xE2\x82\xAC x\"@lab.test";          // "€ x"
  check_refused(parse_mailbox(local), "without SMTPUTF8");
  check_refused(parse_mailbox(domain), "without SMTPUTF8");
  check_refused(parse_mailbox(quoted), "without SMTPUTF8");
  ParseOptions utf8{true};
  auto a = parse_mailbox(local, utf8);
  REQUIRE(a);
  CHECK(a->local_part == "j\xC3\xBCrgen");
  CHECK(a->to_string() == local);
  CHECK(parse_mailbox(domain, utf8));
  auto q = parse_mailbox(quoted, utf8);
  REQUIRE(q);
  CHECK(q->local_part == "\xE2\x82\xAC x");
  CHECK(parse_forward_path("<" + local + ">", utf8));
}

TEST_CASE("address: malformed UTF-8 is refused even with SMTPUTF8") {
  ParseOptions utf8{true};
  check_refused(parse_mailbox("a\xC3@lab.test", utf8), "malformed UTF-8");         // truncated
  check_refused(parse_mailbox("a\xC0\xAF@lab.test", utf8), "malformed UTF-8");     // overlong
  check_refused(parse_mailbox("a\xED\xA0\x80@lab.test", utf8), "malformed UTF-8"); // surrogate
  check_refused(parse_mailbox("a\xF4\x90\x80\x80@lab.test", utf8), "malformed UTF-8");  // > U+10FFFF
  check_refused(parse_mailbox("a\x80@lab.test", utf8), "malformed UTF-8");          // lone continuation
  check_refused(parse_mailbox("\"\\\xC3\xBC\"@lab.test", utf8), "backslash before a non-ASCII");
}

TEST_CASE("address: relay tricks parse as local parts, never as routes (catalogue row 2)") {
  auto percent = parse_mailbox("b%other.test@lab.test");
  REQUIRE(percent);
  CHECK(percent->domain == "lab.test");
  auto bang = parse_mailbox("other.test!b@lab.test");
  REQUIRE(bang);
  CHECK(bang->domain == "lab.test");
  auto routed = parse_forward_path("<@lab.test:b@other.test>");
  REQUIRE(routed);
  CHECK(routed->domain == "other.test");  // the route is dropped, the final domain decides
}

TEST_CASE("address: to_path of a parsed address re-parses to an equal address") {
  const char* paths[] = {"<alice@lab.test>", R"(<"a b"@x.test>)", R"(<"a\\\"b"@x.test>)",
                         "<x@[IPv6:::1]>", "<x@[192.0.2.7]>", "<@r.test:y@Z.TEST>", R"(<"\a"@x.test>)"};
  for (const char* p : paths) {
    auto a = parse_forward_path(p);
    REQUIRE_MESSAGE(a, p);
    auto again = parse_forward_path(a->to_path());
    REQUIRE_MESSAGE(again, a->to_path());
    CHECK(*again == *a);
    CHECK(again->local_part == a->local_part);
    CHECK(again->domain == a->domain);
  }
}
