// IMAP dates and flags (RFC 3501 §9: date, date-time, flag).
//
//   date      = 1*2DIGIT "-" Mon "-" 4DIGIT            SEARCH keys, "1-Feb-2026"
//   date-time = DQUOTE dd "-" Mon "-" yyyy SP hh:mm:ss SP zone DQUOTE
//                                                       INTERNALDATE, APPEND
// Flags: the five system flags are matched case-insensitively and spelled
// canonically ("\\Seen"); keywords are atoms.  \Recent is server-owned and can be
// neither stored nor appended; \* only appears in PERMANENTFLAGS.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace maillab::net::imap {

std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d);
// "1-Feb-2026" -> days since 1970-01-01.
std::optional<std::int64_t> parse_search_date(std::string_view text);
// "01-Feb-2026 10:00:00 +0100" (quotes already removed) -> Unix seconds.
std::optional<std::int64_t> parse_date_time(std::string_view text);
// Unix seconds -> "01-Feb-2026 09:00:00 +0000".
std::string format_date_time(std::int64_t unix_s);

// Canonical spelling of a storable flag; nullopt for \Recent, \*, unknown
// backslash flags and non-atoms.
std::optional<std::string> canonical_flag(std::string_view flag);
// "(\\Seen $Forwarded)".
std::string flag_list(const std::vector<std::string>& flags);

}  // namespace maillab::net::imap
