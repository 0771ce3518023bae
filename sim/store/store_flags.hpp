// Message flags as both stores keep them (RFC 3501 §2.3.2): the system flags
// \Seen \Answered \Flagged \Deleted \Draft, matched case-insensitively and
// stored in their canonical spelling, and keywords (atoms, at most 64 octets,
// kept exactly as given).  \Recent is session state, not a stored flag, and
// is refused like any other unknown system flag.  The stored list is sorted
// (byte order) and unique.
#pragma once

#include <string_view>

#include "net/core/result.hpp"
#include "net/mail/mail_store.hpp"

namespace maillab::sim {

inline constexpr std::size_t kKeywordOctetsMax = 64;

inline constexpr std::string_view kFlagSeen = "\\Seen";
inline constexpr std::string_view kFlagAnswered = "\\Answered";
inline constexpr std::string_view kFlagFlagged = "\\Flagged";
inline constexpr std::string_view kFlagDeleted = "\\Deleted";
inline constexpr std::string_view kFlagDraft = "\\Draft";

// The canonical, sorted, unique form of `flags`, or invalid_argument.
Result<net::mail::Flags> canonical_flags(const net::mail::Flags& flags);

bool has_flag(const net::mail::Flags& flags, std::string_view flag);

}  // namespace maillab::sim
