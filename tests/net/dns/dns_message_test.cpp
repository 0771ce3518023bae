#include <doctest/doctest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "net/dns/dns_message.hpp"

using namespace maillab::net::dns;

namespace {

using Bytes = std::vector<std::uint8_t>;

Bytes bytes(std::initializer_list<int> values) {
  Bytes out;
  for (int v : values) out.push_back(static_cast<std::uint8_t>(v));
  return out;
}

// Appends a name uncompressed, as raw labels.
void put_name(Bytes& out, const std::string& dotted) {
  std::size_t start = 0;
  while (start < dotted.size()) {
    std::size_t dot = dotted.find('.', start);
    if (dot == std::string::npos) dot = dotted.size();
    out.push_back(static_cast<std::uint8_t>(dot - start));
    for (std::size_t i = start; i < dot; ++i) out.push_back(static_cast<std::uint8_t>(dotted[i]));
    start = dot + 1;
  }
  out.push_back(0);
}

Bytes header(int qd, int an, int ns, int ar, int flags = 0x8400) {
  return bytes({0x12, 0x34, flags >> 8, flags & 0xff, 0, qd, 0, an, 0, ns, 0, ar});
}

Record mx(const std::string& owner, std::uint16_t preference, const std::string& exchange) {
  Record r;
  r.name = owner;
  r.type = RecordType::mx;
  r.preference = preference;
  r.exchange = exchange;
  return r;
}

Record a(const std::string& owner, std::array<std::uint8_t, 4> ip) {
  Record r;
  r.name = owner;
  r.type = RecordType::a;
  r.ipv4 = ip;
  return r;
}

Message mx_response() {
  Message m;
  m.id = 0xbeef;
  m.is_response = true;
  m.authoritative = true;
  m.recursion_desired = true;
  m.questions = {{"school.test", RecordType::mx}};
  m.answers = {mx("school.test", 10, "mx1.school.test"), mx("school.test", 20, "mx2.school.test")};
  m.additional = {a("mx1.school.test", {192, 0, 2, 25}), a("mx2.school.test", {192, 0, 2, 26})};
  return m;
}

Message decoded(const Bytes& wire) {
  auto result = decode(wire);
  REQUIRE_MESSAGE(result.ok(), (result.ok() ? "" : result.error().message));
  return *result;
}

std::string decode_error(const Bytes& wire) {
  auto result = decode(wire);
  REQUIRE_FALSE(result.ok());
  CHECK(result.error().category == maillab::ErrorCategory::parse);
  return result.error().message;
}

}  // namespace

TEST_CASE("dns: an MX query encodes to the RFC 1035 wire form and back") {
  Message query;
  query.id = 0x1234;
  query.recursion_desired = true;
  query.questions = {{"school.test", RecordType::mx}};
  Bytes expected = bytes({0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0});
  put_name(expected, "school.test");
  expected.insert(expected.end(), {0, 15, 0, 1});
  CHECK(encode(query) == expected);
  CHECK(decoded(expected) == query);
}

TEST_CASE("dns: a response names its owner and exchange through compression pointers") {
  Message m;
  m.id = 0x1234;
  m.is_response = true;
  m.authoritative = true;
  m.questions = {{"school.test", RecordType::mx}};
  m.answers = {mx("school.test", 10, "mx1.school.test")};
  Bytes expected = header(1, 1, 0, 0);
  put_name(expected, "school.test");                          // offset 12
  expected.insert(expected.end(), {0, 15, 0, 1});
  expected.insert(expected.end(), {0xc0, 12, 0, 15, 0, 1, 0, 0, 0x01, 0x2c, 0, 8, 0, 10});  // TTL 300, RDLENGTH 8
  expected.insert(expected.end(), {3, 'm', 'x', '1', 0xc0, 12});
  CHECK(encode(m) == expected);
  CHECK(decoded(expected) == m);
}

TEST_CASE("dns: an MX answer with glue A records round-trips and compresses") {
  Message m = mx_response();
  Bytes wire = encode(m);
  CHECK(decoded(wire) == m);
  // Uncompressed, each of the six names would spell out "school.test" (13 octets).
  CHECK(wire.size() < 12 + 17 + 2 * (13 + 10 + 2 + 17) + 2 * (17 + 10 + 4));
  CHECK(describe(m.answers[0]) == "MX 10 mx1.school.test");
  CHECK(describe(m.additional[1]) == "A 192.0.2.26");
}

TEST_CASE("dns: a null MX (RFC 7505) is preference 0 and the root as exchange") {
  Message m;
  m.is_response = true;
  m.questions = {{"nomail.test", RecordType::mx}};
  m.answers = {mx("nomail.test", 0, "")};
  Bytes wire = encode(m);
  Bytes rdata_tail = bytes({0, 3, 0, 0, 0});  // RDLENGTH 3, preference 0, root
  REQUIRE(wire.size() > rdata_tail.size());
  CHECK(Bytes(wire.end() - 5, wire.end()) == rdata_tail);
  Message back = decoded(wire);
  CHECK(back == m);
  CHECK(back.answers[0].exchange.empty());
  CHECK(describe(back.answers[0]) == "MX 0 .");
}

TEST_CASE("dns: NXDOMAIN and NODATA answers, with the zone's SOA, round-trip") {
  Record soa;
  soa.name = "school.test";
  soa.type = RecordType::soa;
  put_name(soa.rdata, "ns.school.test");
  put_name(soa.rdata, "hostmaster.school.test");
  soa.rdata.insert(soa.rdata.end(), {0x78, 0xa3, 0xf1, 0x75, 0, 0, 0x0e, 0x10, 0, 0, 0x03, 0x84,
                                     0, 0x09, 0x3a, 0x80, 0, 0, 0x01, 0x2c});

  Message nxdomain;
  nxdomain.is_response = true;
  nxdomain.authoritative = true;
  nxdomain.rcode = Rcode::name_error;
  nxdomain.questions = {{"nobody.school.test", RecordType::mx}};
  nxdomain.authority = {soa};
  Message back = decoded(encode(nxdomain));
  CHECK(back == nxdomain);
  CHECK(back.rcode == Rcode::name_error);
  CHECK(back.answers.empty());
  CHECK(describe(back.authority[0]) == "SOA ns.school.test hostmaster.school.test 2024010101");

  Message nodata = nxdomain;
  nodata.rcode = Rcode::no_error;
  nodata.questions = {{"school.test", RecordType::aaaa}};
  back = decoded(encode(nodata));
  CHECK(back == nodata);
  CHECK(back.rcode == Rcode::no_error);
  CHECK(back.answers.empty());
}

TEST_CASE("dns: a query captured from dig 9.18 (MX school.test, EDNS cookie) decodes and re-encodes byte for byte") {
  // `dig @127.0.0.1 -p 25353 MX school.test` (DiG 9.18.49-1~deb12u3-Debian), the UDP payload.
  const Bytes captured = bytes({
      0x6e, 0xcc, 0x01, 0x20, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,  // id, RD AD, counts
      0x06, 's', 'c', 'h', 'o', 'o', 'l', 0x04, 't', 'e', 's', 't', 0x00,      // school.test
      0x00, 0x0f, 0x00, 0x01,                                                  // MX IN
      0x00, 0x00, 0x29, 0x04, 0xd0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0c,        // OPT, 1232, RDLENGTH 12
      0x00, 0x0a, 0x00, 0x08, 0x95, 0x5d, 0x2f, 0xff, 0x22, 0x6f, 0xd1, 0xbd,  // COOKIE option
  });
  Message query = decoded(captured);
  CHECK(query.id == 0x6ecc);
  CHECK_FALSE(query.is_response);
  CHECK(query.recursion_desired);
  CHECK(query.authentic_data);
  CHECK(query.opcode == 0);
  REQUIRE(query.questions.size() == 1);
  CHECK(query.questions[0].name == "school.test");
  CHECK(query.questions[0].type == RecordType::mx);
  CHECK(query.questions[0].dns_class == class_in);
  REQUIRE(query.additional.size() == 1);
  CHECK(query.additional[0].type == RecordType::opt);
  CHECK(query.additional[0].name.empty());
  CHECK(query.additional[0].rdata.size() == 12);
  CHECK(describe(query.additional[0]) == "OPT udp=1232");
  CHECK(encode(query) == captured);
}

TEST_CASE("dns: names are read case-insensitively and stored lower-case") {
  Bytes wire = header(1, 0, 0, 0, 0x0100);
  put_name(wire, "MX1.School.TEST");
  wire.insert(wire.end(), {0, 1, 0, 1});
  CHECK(decoded(wire).questions[0].name == "mx1.school.test");
}

TEST_CASE("dns: a pointer into the middle of an earlier name is followed") {
  Bytes wire = header(1, 1, 0, 0);
  put_name(wire, "mx1.school.test");  // offset 12; "school.test" starts at 16
  wire.insert(wire.end(), {0, 1, 0, 1});
  wire.insert(wire.end(), {0xc0, 16, 0, 15, 0, 1, 0, 0, 0, 60, 0, 4, 0, 5, 0xc0, 12});
  Message m = decoded(wire);
  REQUIRE(m.answers.size() == 1);
  CHECK(m.answers[0].name == "school.test");
  CHECK(m.answers[0].exchange == "mx1.school.test");
  CHECK(m.answers[0].ttl_s == 60);
}

TEST_CASE("dns: every truncation of a valid response is an error") {
  Bytes wire = encode(mx_response());
  for (std::size_t size = 0; size < wire.size(); ++size) {
    CAPTURE(size);
    CHECK_FALSE(decode(std::span(wire.data(), size)).ok());
  }
  CHECK(decode_error(Bytes(wire.begin(), wire.begin() + 5)).find("truncated in the header") != std::string::npos);
}

TEST_CASE("dns: compression pointer loops and forward pointers are errors") {
  SUBCASE("a pointer to itself") {
    Bytes wire = header(1, 0, 0, 0);
    wire.insert(wire.end(), {0xc0, 12, 0, 1, 0, 1});
    CHECK(decode_error(wire).find("does not point backwards") != std::string::npos);
  }
  SUBCASE("two names pointing at each other") {
    Bytes wire = header(1, 0, 0, 0);
    wire.insert(wire.end(), {1, 'a', 0xc0, 16, 1, 'b', 0xc0, 12, 0, 1, 0, 1});
    CHECK(decode_error(wire).find("does not point backwards") != std::string::npos);
  }
  SUBCASE("a label followed by a pointer back to that label") {
    Bytes wire = header(2, 0, 0, 0);
    put_name(wire, "school.test");
    wire.insert(wire.end(), {0, 1, 0, 1});
    wire.insert(wire.end(), {1, 'x', 0xc0, 29, 0, 1, 0, 1});  // offset 29 is this name's "x"
    CHECK(decode_error(wire).find("does not point backwards") != std::string::npos);
  }
  SUBCASE("a pointer past the end") {
    Bytes wire = header(1, 0, 0, 0);
    wire.insert(wire.end(), {0xc3, 0xff, 0, 1, 0, 1});
    CHECK_FALSE(decode(wire).ok());
  }
  SUBCASE("a pointer into the header") {
    Bytes wire = header(1, 0, 0, 0);
    wire.insert(wire.end(), {0xc0, 2, 0, 1, 0, 1});
    CHECK(decode_error(wire).find("into the header") != std::string::npos);
  }
}

TEST_CASE("dns: a label over 63 octets and a name over 255 octets are errors") {
  SUBCASE("label length 64") {
    Bytes wire = header(1, 0, 0, 0);
    wire.push_back(64);
    wire.insert(wire.end(), 64, 'a');
    wire.insert(wire.end(), {0, 0, 1, 0, 1});
    CHECK(decode_error(wire).find("exceeds 63 octets") != std::string::npos);
  }
  SUBCASE("label type 10 (reserved)") {
    Bytes wire = header(1, 0, 0, 0);
    wire.insert(wire.end(), {0x80, 1, 'a', 0, 0, 1, 0, 1});
    CHECK(decode_error(wire).find("exceeds 63 octets") != std::string::npos);
  }
  SUBCASE("five labels of 63 octets") {
    Bytes wire = header(1, 0, 0, 0);
    for (int i = 0; i < 5; ++i) {
      wire.push_back(63);
      wire.insert(wire.end(), 63, 'a');
    }
    wire.insert(wire.end(), {0, 0, 1, 0, 1});
    CHECK(decode_error(wire).find("longer than 255") != std::string::npos);
  }
  SUBCASE("a long name made longer through a pointer") {
    Bytes wire = header(2, 0, 0, 0);
    for (int i = 0; i < 3; ++i) {  // 3 * 64 + 1 = 193 octets: fine on its own
      wire.push_back(63);
      wire.insert(wire.end(), 63, 'b');
    }
    wire.insert(wire.end(), {0, 0, 1, 0, 1});
    wire.push_back(63);
    wire.insert(wire.end(), 63, 'c');
    wire.insert(wire.end(), {0xc0, 12, 0, 1, 0, 1});  // 64 + 193 = 257 octets
    CHECK(decode_error(wire).find("longer than 255") != std::string::npos);
  }
}

TEST_CASE("dns: record lengths and counts that disagree with the data are errors") {
  Bytes base = header(0, 1, 0, 0);
  put_name(base, "school.test");
  SUBCASE("an A record with RDLENGTH 5") {
    Bytes wire = base;
    wire.insert(wire.end(), {0, 1, 0, 1, 0, 0, 0, 60, 0, 5, 192, 0, 2, 1, 7});
    CHECK(decode_error(wire).find("A RDATA of 5 octets") != std::string::npos);
  }
  SUBCASE("an MX record with a trailing octet in its RDATA") {
    Bytes wire = base;
    wire.insert(wire.end(), {0, 15, 0, 1, 0, 0, 0, 60, 0, 4, 0, 10, 0, 9});
    CHECK(decode_error(wire).find("MX RDATA of 4 octets") != std::string::npos);
  }
  SUBCASE("an RDLENGTH running past the end") {
    Bytes wire = base;
    wire.insert(wire.end(), {0, 16, 0, 1, 0, 0, 0, 60, 0xff, 0xff, 1, 2, 3});
    CHECK(decode_error(wire).find("past the end") != std::string::npos);
  }
  SUBCASE("65535 answers announced in a short packet") {
    Bytes wire = header(0, 0, 0, 0);
    wire[6] = 0xff;
    wire[7] = 0xff;
    wire.insert(wire.end(), 40, 0);
    CHECK(decode_error(wire).find("section counts") != std::string::npos);
  }
}

TEST_CASE("dns: is_valid_name accepts what encode can write") {
  CHECK(is_valid_name(""));
  CHECK(is_valid_name("school.test"));
  CHECK(is_valid_name(std::string(63, 'a') + ".test"));
  CHECK_FALSE(is_valid_name(std::string(64, 'a') + ".test"));
  CHECK_FALSE(is_valid_name("school..test"));
  CHECK_FALSE(is_valid_name("school.test."));
  CHECK_FALSE(is_valid_name(".school.test"));
  std::string long_name;
  for (int i = 0; i < 4; ++i) long_name += std::string(62, 'x') + ".";
  long_name += "ab";  // 4 * 63 + 3 + 1 = 256 octets on the wire
  CHECK_FALSE(is_valid_name(long_name));
  CHECK(is_valid_name(long_name.substr(0, long_name.size() - 1)));  // 255
}

TEST_CASE("dns: describe and type_name speak the transcript's language") {
  CHECK(type_name(RecordType::mx) == "MX");
  CHECK(type_name(static_cast<RecordType>(99)) == "TYPE99");
  Record ns;
  ns.type = RecordType::ns;
  put_name(ns.rdata, "ns1.school.test");
  CHECK(describe(ns) == "NS ns1.school.test");
  Record txt;
  txt.type = RecordType::txt;
  txt.rdata = bytes({3, 'a', 'b', 'c'});
  CHECK(describe(txt) == "TXT (4 octets)");
}
