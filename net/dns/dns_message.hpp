// DNS messages (RFC 1035 §4) as the lab's DNS speaks them: queries and
// authoritative answers for A and MX records, including the null MX of RFC 7505
// (preference 0, exchange "."), NXDOMAIN and NODATA.  Sans-I/O: bytes in,
// structs out and back; the lab zone and the resolver live in sim/.
//
// decode() never trusts the wire: label lengths, compression pointers (no
// loops, no forward jumps past the end), counts and lengths are all checked.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "net/core/result.hpp"

namespace maillab::net::dns {

enum class RecordType : std::uint16_t { a = 1, ns = 2, cname = 5, soa = 6, mx = 15, txt = 16, aaaa = 28 };
enum class Rcode : std::uint8_t { no_error = 0, format_error = 1, server_failure = 2,
                                  name_error = 3 /* NXDOMAIN */, not_implemented = 4, refused = 5 };

struct Question {
  std::string name;  // lower-case, no trailing dot: "school.test"
  RecordType type = RecordType::a;
};

struct Record {
  std::string name;
  RecordType type = RecordType::a;
  std::uint32_t ttl_s = 300;
  std::array<std::uint8_t, 4> ipv4{};  // type a
  std::uint16_t preference = 0;        // type mx
  std::string exchange;                // type mx; "" is the root, i.e. a null MX
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
};

std::vector<std::uint8_t> encode(const Message& message);
Result<Message> decode(std::span<const std::uint8_t> bytes);

// "MX 10 mx1.school.test", "A 192.0.2.25": how the transcript shows a record.
std::string describe(const Record& record);

}  // namespace maillab::net::dns
