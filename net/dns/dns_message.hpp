// DNS messages (RFC 1035 §4) as the lab's DNS speaks them: queries and
// authoritative answers for A and MX records, including the null MX of RFC 7505
// (preference 0, exchange "."), NXDOMAIN and NODATA.  Sans-I/O: bytes in,
// structs out and back; the lab zone and the resolver live in sim/.
//
// decode() never trusts the wire: label lengths, compression pointers (no
// loops, no forward jumps past the end), counts and lengths are all checked.
//
// Theory of operation.  A Message is the header (RFC 1035 §4.1.1) and four
// sections (§4.1.2 questions, §4.1.3 answer/authority/additional records).
// Names are stored lower-case without the trailing dot; "" is the root.
//   encode()  writes names with compression (§4.1.4): every suffix already
//             written at an offset below 0x4000 is replaced by a pointer.
//   decode()  follows pointers only strictly backwards (so no loop can form),
//             at most 127 hops, checks each label (<= 63 octets, §2.3.4; no
//             reserved 01/10 label types) and each name (<= 255 octets on the
//             wire), and every count and RDLENGTH against the packet's end.
// A and MX records are interpreted (RFC 1035 §3.4.1, §3.3.9; the null MX of
// RFC 7505 §3 is preference 0 with exchange "").  Records of any other type
// (the OPT pseudo-record of EDNS that dig adds, RFC 6891 §6.1; SOA in a
// negative answer, RFC 2308 §3) keep their RDATA as opaque octets (RFC 3597
// §4); for the RFC 1035 types whose RDATA holds names (NS, CNAME, SOA, PTR)
// those names are decompressed first, so the octets stand alone.
// NXDOMAIN is rcode name_error with no answers; NODATA is no_error with no
// answers (RFC 2308 §2.1, §2.2).
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "net/core/result.hpp"

namespace maillab::net::dns {

enum class RecordType : std::uint16_t { a = 1, ns = 2, cname = 5, soa = 6, mx = 15, txt = 16, aaaa = 28,
                                         ptr = 12, opt = 41 /* EDNS, RFC 6891 */ };

// CLASS IN (RFC 1035 §3.2.4), the only class the lab serves.
inline constexpr std::uint16_t class_in = 1;
enum class Rcode : std::uint8_t { no_error = 0, format_error = 1, server_failure = 2,
                                  name_error = 3 /* NXDOMAIN */, not_implemented = 4, refused = 5 };

struct Question {
  std::string name;  // lower-case, no trailing dot: "school.test"
  RecordType type = RecordType::a;
  std::uint16_t dns_class = class_in;

  friend bool operator==(const Question&, const Question&) = default;
};

struct Record {
  std::string name;
  RecordType type = RecordType::a;
  std::uint32_t ttl_s = 300;
  std::array<std::uint8_t, 4> ipv4{};  // type a
  std::uint16_t preference = 0;        // type mx
  std::string exchange;                // type mx; "" is the root, i.e. a null MX
  std::uint16_t dns_class = class_in;  // for OPT: the requestor's UDP payload size
  std::vector<std::uint8_t> rdata;     // any other type: RDATA, names uncompressed

  friend bool operator==(const Record&, const Record&) = default;
};

struct Message {
  std::uint16_t id = 0;
  bool is_response = false;
  bool authoritative = false;
  bool recursion_desired = false;
  Rcode rcode = Rcode::no_error;
  std::vector<Question> questions;
  std::vector<Record> answers;
  std::vector<Record> additional;  // glue A records for MX exchanges
  std::vector<Record> authority;   // e.g. the zone's SOA in a negative answer
  std::uint8_t opcode = 0;         // 0 QUERY; others get not_implemented
  bool truncated = false;          // TC: the answer did not fit (RFC 1035 §4.2.1)
  bool recursion_available = false;
  bool authentic_data = false;     // AD, RFC 4035 §3.2.3 (dig sets it in queries)
  bool checking_disabled = false;  // CD, RFC 4035 §3.2.2

  friend bool operator==(const Message&, const Message&) = default;
};

std::vector<std::uint8_t> encode(const Message& message);
Result<Message> decode(std::span<const std::uint8_t> bytes);

// "MX 10 mx1.school.test", "A 192.0.2.25": how the transcript shows a record.
std::string describe(const Record& record);

// "A", "MX", "TYPE99": the mnemonic of RFC 1035 §3.2.2 / RFC 3597 §5.
std::string type_name(RecordType type);

// Whether encode() can write `name`: labels of 1..63 octets, none containing
// '.', at most 255 octets on the wire (RFC 1035 §2.3.4).  encode() asserts it;
// callers check names from scenarios with it first.
bool is_valid_name(std::string_view name);

}  // namespace maillab::net::dns
