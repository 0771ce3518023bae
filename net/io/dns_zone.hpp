// The lab's DNS zone and the authoritative answers `maillab serve` gives from
// it on UDP (net/io/dns_responder.hpp).  Pure: a query Message in, a response
// Message out (net/dns/dns_message.hpp does the wire format).
//
// Theory of operation.  The zone holds A records (every scenario host) and MX
// records (every scenario domain; a null MX is preference 0 with exchange "",
// RFC 7505), plus the names that exist without records of their own (a domain
// with `mx = []` and no host of that name).  answer():
//   - not a standard query (opcode != 0)         NOTIMP (RFC 1035 §4.1.1)
//   - not exactly one question                    FORMERR
//   - class other than IN                         REFUSED
//   - a name outside every zone apex              REFUSED: we are no resolver
//   - a name in the zone, records of that type    the records, AA set; for MX the
//                                                 exchanges' A records as glue
//                                                 (additional section, RFC 1035 §3.3.9)
//   - a name in the zone, none of that type       NODATA: NOERROR, no answer (RFC 2308 §2.2)
//   - a name under an apex that does not exist    NXDOMAIN (RFC 2308 §2.1)
// A query with EDNS (an OPT record, RFC 6891 §7) gets an OPT back.  Responses
// larger than the requester's UDP size (512 without EDNS) lose their glue and
// then their answers, with TC set (RFC 1035 §4.2.1).
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "net/dns/dns_message.hpp"

namespace maillab::net::io {

struct MxTarget {
  std::uint16_t preference = 10;
  std::string exchange;  // "" for a null MX
};

struct DnsZone {
  std::set<std::string> apexes;                                      // "lab.test", "school.test"
  std::map<std::string, std::vector<std::array<std::uint8_t, 4>>> a;  // lower-case names
  std::map<std::string, std::vector<MxTarget>> mx;
  std::set<std::string> empty_names;                                 // exist, no records
  std::uint32_t ttl_s = 300;

  void add_a(const std::string& name, std::array<std::uint8_t, 4> address);
  void add_mx(const std::string& domain, MxTarget target);
  [[nodiscard]] bool name_exists(const std::string& name) const;
  [[nodiscard]] bool in_zone(const std::string& name) const;
};

dns::Message answer(const DnsZone& zone, const dns::Message& query);
// The whole datagram step: bytes in, bytes out (nullopt: send nothing, e.g. a
// response or a packet too short to carry an ID).
std::optional<std::vector<std::uint8_t>> answer_datagram(const DnsZone& zone, std::span<const std::uint8_t> query);

}  // namespace maillab::net::io
