// Finding line breaks fast: the CR or LF that ends a run of ordinary bytes.
//
// Theory of operation.  Mail text is mostly long runs of ordinary bytes
// between line breaks, and the engines normalise the breaks (bare CR, bare LF
// and CRLF all become CRLF, RFC 5321 §2.3.8) or count them.  Scanning byte by
// byte and appending one byte at a time is what made that slow; two memchr
// calls per line (the LF, then any CR before it) find the end of a run, and
// the run is copied or counted as a whole.
#pragma once

#include <cstddef>
#include <cstring>
#include <string_view>

namespace maillab::net {

// The index of the first CR or LF at or after `from`; text.size() when none.
inline std::size_t next_line_break(std::string_view text, std::size_t from) {
  if (from >= text.size()) return text.size();
  const char* begin = text.data() + from;
  const char* end = text.data() + text.size();
  const void* lf = std::memchr(begin, '\n', static_cast<std::size_t>(end - begin));
  const char* stop = lf != nullptr ? static_cast<const char*>(lf) : end;
  const void* cr = std::memchr(begin, '\r', static_cast<std::size_t>(stop - begin));
  return static_cast<std::size_t>((cr != nullptr ? static_cast<const char*>(cr) : stop) - text.data());
}

// Where the line break at `at` (a CR or LF) ends: after CRLF, or after the lone CR or LF.
inline std::size_t after_line_break(std::string_view text, std::size_t at) {
  return text[at] == '\r' && at + 1 < text.size() && text[at + 1] == '\n' ? at + 2 : at + 1;
}

}  // namespace maillab::net
