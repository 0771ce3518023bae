#include "sim/store/store_flags.hpp"

#include <algorithm>

namespace maillab::sim {
namespace {

constexpr std::string_view kSystemFlags[] = {kFlagSeen, kFlagAnswered, kFlagFlagged, kFlagDeleted,
                                             kFlagDraft};

bool ascii_iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
           return lower(x) == lower(y);
         });
}

// atom-char (RFC 3501 §9): any CHAR except "(" ")" "{" SP CTL "%" "*" DQUOTE "\" "]".
bool is_atom_char(char c) {
  auto u = static_cast<unsigned char>(c);
  if (u <= 0x20 || u >= 0x7F) return false;
  return std::string_view("(){%*\"\\]").find(c) == std::string_view::npos;
}

}  // namespace

Result<net::mail::Flags> canonical_flags(const net::mail::Flags& flags) {
  net::mail::Flags out;
  for (const std::string& flag : flags) {
    if (!flag.empty() && flag.front() == '\\') {
      auto system = std::find_if(std::begin(kSystemFlags), std::end(kSystemFlags),
                                 [&](std::string_view known) { return ascii_iequals(known, flag); });
      if (system == std::end(kSystemFlags)) {
        return make_error(ErrorCategory::invalid_argument, "unknown or unstorable system flag " + flag);
      }
      out.emplace_back(*system);
      continue;
    }
    if (flag.empty() || flag.size() > kKeywordOctetsMax || !std::all_of(flag.begin(), flag.end(), is_atom_char)) {
      return make_error(ErrorCategory::invalid_argument, "keyword is not an atom of 1 to 64 octets");
    }
    out.push_back(flag);
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

bool has_flag(const net::mail::Flags& flags, std::string_view flag) {
  return std::find(flags.begin(), flags.end(), flag) != flags.end();
}

}  // namespace maillab::sim
