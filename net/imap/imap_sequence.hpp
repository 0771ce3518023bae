// IMAP sequence sets (RFC 3501 §9 "sequence-set", RFC 9051 §9): "1:*", "2,4:7,9".
//
// A set is kept as the ranges the client wrote; '*' is resolved only when the
// set is applied, against the largest sequence number or UID in use.  Ranges
// are never expanded one entry per number (catalogue row 41: "1:4294967295"
// costs one range, not four billion), and membership is a binary search over
// the sorted, merged ranges.  0, numbers above 4294967295 and empty elements
// are refused by the parser; whether a number above EXISTS is an error is the
// caller's rule (it is for sequence numbers, it is not for UIDs).
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

namespace maillab::net::imap {

// A decimal number (digits only, "0" allowed) that fits in 32 bits; nullopt otherwise.
std::optional<std::uint32_t> parse_u32(std::string_view s);

class SequenceSet {
 public:
  static constexpr std::uint32_t kStar = 0;  // '*' (0 is not a valid number)

  struct Range {
    std::uint32_t first = 1;
    std::uint32_t last = 1;
  };

  static std::optional<SequenceSet> parse(std::string_view text);
  static SequenceSet single(std::uint32_t first, std::uint32_t last);

  // Sorted, merged, '*' replaced by `star` (the largest number in use; 0 when
  // there is none).
  [[nodiscard]] std::vector<std::pair<std::uint32_t, std::uint32_t>> resolve(std::uint32_t star) const;
  // The largest number the set names once '*' is resolved.
  [[nodiscard]] std::uint32_t max_value(std::uint32_t star) const;
  [[nodiscard]] const std::vector<Range>& ranges() const { return ranges_; }

 private:
  std::vector<Range> ranges_;
};

// Membership test over resolved ranges.
bool contains(const std::vector<std::pair<std::uint32_t, std::uint32_t>>& resolved, std::uint32_t v);

}  // namespace maillab::net::imap
