#include "net/imap/imap_sequence.hpp"

#include <algorithm>

namespace maillab::net::imap {
namespace {

// seq-number = nz-number / "*" (RFC 3501 §9): no leading zero, no 0.
std::optional<std::uint32_t> parse_number(std::string_view s) {
  if (s == "*") return SequenceSet::kStar;
  if (s.empty() || s[0] == '0') return std::nullopt;
  return parse_u32(s);
}

}  // namespace

std::optional<std::uint32_t> parse_u32(std::string_view s) {
  if (s.empty() || s.size() > 10) return std::nullopt;
  std::uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<std::uint64_t>(c - '0');
  }
  if (v > UINT32_MAX) return std::nullopt;
  return static_cast<std::uint32_t>(v);
}

std::optional<SequenceSet> SequenceSet::parse(std::string_view text) {
  SequenceSet set;
  while (true) {
    auto comma = text.find(',');
    auto element = text.substr(0, comma);
    auto colon = element.find(':');
    auto first = parse_number(element.substr(0, colon));
    if (!first) return std::nullopt;
    auto last = first;
    if (colon != std::string_view::npos) {
      last = parse_number(element.substr(colon + 1));
      if (!last) return std::nullopt;
    }
    set.ranges_.push_back(Range{*first, *last});
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return set;
}

SequenceSet SequenceSet::single(std::uint32_t first, std::uint32_t last) {
  SequenceSet set;
  set.ranges_.push_back(Range{first, last});
  return set;
}

std::vector<std::pair<std::uint32_t, std::uint32_t>> SequenceSet::resolve(std::uint32_t star) const {
  std::vector<std::pair<std::uint32_t, std::uint32_t>> out;
  out.reserve(ranges_.size());
  for (auto r : ranges_) {
    std::uint32_t a = r.first == kStar ? star : r.first;
    std::uint32_t b = r.last == kStar ? star : r.last;
    if (a > b) std::swap(a, b);
    if (b == 0) continue;
    out.emplace_back(std::max<std::uint32_t>(a, 1), b);
  }
  std::sort(out.begin(), out.end());
  std::vector<std::pair<std::uint32_t, std::uint32_t>> merged;
  for (auto r : out) {
    if (!merged.empty() && (merged.back().second == UINT32_MAX || r.first <= merged.back().second + 1)) {
      merged.back().second = std::max(merged.back().second, r.second);
    } else {
      merged.push_back(r);
    }
  }
  return merged;
}

std::uint32_t SequenceSet::max_value(std::uint32_t star) const {
  std::uint32_t m = 0;
  for (auto r : ranges_) {
    m = std::max(m, r.first == kStar ? star : r.first);
    m = std::max(m, r.last == kStar ? star : r.last);
  }
  return m;
}

bool contains(const std::vector<std::pair<std::uint32_t, std::uint32_t>>& resolved, std::uint32_t v) {
  auto it = std::upper_bound(resolved.begin(), resolved.end(), v,
                             [](std::uint32_t x, const auto& r) { return x < r.first; });
  if (it == resolved.begin()) return false;
  --it;
  return v >= it->first && v <= it->second;
}

}  // namespace maillab::net::imap
