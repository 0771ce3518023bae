#include <doctest/doctest.h>

#include <vector>

#include "net/io/dns_zone.hpp"

using namespace maillab;
using namespace maillab::net;
using namespace maillab::net::io;

namespace {

DnsZone school_zone() {
  DnsZone zone;
  zone.apexes = {"lab.test", "school.test", "void.test"};
  zone.add_mx("school.test", {10, "mx1.school.test"});
  zone.add_mx("school.test", {20, "mx2.school.test"});
  zone.add_mx("void.test", {0, ""});
  zone.add_a("mx1.school.test", {192, 0, 2, 10});
  zone.add_a("mx2.school.test", {192, 0, 2, 11});
  zone.add_a("lab.test", {192, 0, 2, 12});
  return zone;
}

dns::Message query(std::string name, dns::RecordType type) {
  dns::Message q;
  q.id = 0x4d4c;
  q.recursion_desired = true;
  q.questions.push_back({std::move(name), type, dns::class_in});
  return q;
}

}  // namespace

TEST_CASE("dns zone: MX query gets every MX record, authoritative, with the exchanges' A records as glue") {
  const auto response = answer(school_zone(), query("School.Test", dns::RecordType::mx));
  CHECK(response.is_response);
  CHECK(response.authoritative);
  CHECK(response.id == 0x4d4c);
  CHECK(response.rcode == dns::Rcode::no_error);
  REQUIRE(response.answers.size() == 2);
  CHECK(dns::describe(response.answers[0]) == "MX 10 mx1.school.test");
  CHECK(dns::describe(response.answers[1]) == "MX 20 mx2.school.test");
  REQUIRE(response.additional.size() == 2);
  CHECK(dns::describe(response.additional[0]) == "A 192.0.2.10");
}

TEST_CASE("dns zone: null MX, NODATA, NXDOMAIN and REFUSED outside the zone") {
  const auto zone = school_zone();
  const auto null_mx = answer(zone, query("void.test", dns::RecordType::mx));
  REQUIRE(null_mx.answers.size() == 1);
  CHECK(null_mx.answers[0].exchange.empty());
  CHECK(null_mx.answers[0].preference == 0);

  const auto nodata = answer(zone, query("school.test", dns::RecordType::a));
  CHECK(nodata.rcode == dns::Rcode::no_error);
  CHECK(nodata.answers.empty());

  const auto nxdomain = answer(zone, query("nobody.school.test", dns::RecordType::a));
  CHECK(nxdomain.rcode == dns::Rcode::name_error);
  CHECK(nxdomain.authoritative);

  const auto outside = answer(zone, query("example.com", dns::RecordType::a));
  CHECK(outside.rcode == dns::Rcode::refused);
  CHECK_FALSE(outside.authoritative);
}

TEST_CASE("dns zone: datagrams round-trip through the codec; garbage with a header gets FORMERR, responses nothing") {
  const auto zone = school_zone();
  const auto wire = dns::encode(query("mx2.school.test", dns::RecordType::a));
  auto reply = answer_datagram(zone, wire);
  REQUIRE(reply);
  auto decoded = dns::decode(*reply);
  REQUIRE(decoded);
  REQUIRE(decoded->answers.size() == 1);
  CHECK(dns::describe(decoded->answers[0]) == "A 192.0.2.11");

  std::vector<std::uint8_t> garbage{0x12, 0x34, 0x01, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 0xff};
  auto formerr = answer_datagram(zone, garbage);
  REQUIRE(formerr);
  auto decoded_error = dns::decode(*formerr);
  REQUIRE(decoded_error);
  CHECK(decoded_error->id == 0x1234);
  CHECK(decoded_error->rcode == dns::Rcode::format_error);

  auto as_response = dns::encode(answer(zone, query("lab.test", dns::RecordType::a)));
  CHECK_FALSE(answer_datagram(zone, as_response));
  CHECK_FALSE(answer_datagram(zone, std::vector<std::uint8_t>{1, 2, 3}));
}

TEST_CASE("dns zone: an EDNS query gets an OPT record back") {
  auto q = query("school.test", dns::RecordType::mx);
  dns::Record opt;
  opt.type = dns::RecordType::opt;
  opt.dns_class = 4096;
  opt.ttl_s = 0;
  q.additional.push_back(opt);
  auto reply = answer_datagram(school_zone(), dns::encode(q));
  REQUIRE(reply);
  auto decoded = dns::decode(*reply);
  REQUIRE(decoded);
  bool has_opt = false;
  for (const auto& record : decoded->additional) has_opt |= record.type == dns::RecordType::opt;
  CHECK(has_opt);
  CHECK(decoded->answers.size() == 2);
}
