// POP3 wire helpers shared by the server and the client engine (RFC 1939).
//
// Theory of operation.  POP3 is line-based: commands and status lines end in
// CRLF (RFC 1939 §3), a keyword is case-insensitive and its arguments are
// separated by single spaces.  Multi-line responses (RETR, TOP, LIST, UIDL,
// CAPA) are "byte-stuffed": every line that starts with "." gets one more "."
// in front, and the response ends with a line holding a single "." (RFC 1939
// §3).  LineReader cuts a byte stream into lines with a bound on line length
// (RFC 2449 §4 allows 255 octets per command; we are lenient up to the
// configured maximum and drop the rest of an over-long line).  UIDL values
// follow Dovecot's default pop3_uidl_format "%08Xu%08Xv", so they are stable
// across sessions and restarts as long as UID and UIDVALIDITY are.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace maillab::net::pop3 {

// A decimal message number or line count: digits only, at most 2^32-1.
// "0", "1a", "-1", "+1", "" and 4294967296 give nullopt except "0", which
// parses (the caller decides that message 0 does not exist).
std::optional<std::uint32_t> parse_number(std::string_view text);

// A received command: the keyword upper-cased, the space-separated arguments,
// and everything after the keyword and its space (PASS allows spaces in the
// password, RFC 1939 §7).
struct CommandLine {
  std::string verb;
  std::vector<std::string_view> args;
  std::string_view rest;
};
CommandLine split_command(std::string_view line);

// The multi-line body of RETR/TOP as it goes on the wire (RFC 1939 §3): every
// line ends in CRLF (CR, LF or CRLF in `data` all end a line; a final line
// without an ending gets one), lines starting with "." are stuffed.  The
// terminating ".\r\n" is not included.
struct StuffedBody {
  std::string bytes;
  std::uint32_t lines = 0;
};
StuffedBody dot_stuff(std::string_view data);

// One received line of a multi-line response without its stuffing dot.
std::string_view dot_unstuff(std::string_view line);

// TOP msg n (RFC 1939 §7): the header, the blank line and the first
// `body_lines` lines of the body.  A message without a blank line is all header.
std::string_view top_of_message(std::string_view message, std::uint32_t body_lines);

// The unique-id listing value for a message (RFC 1939 §7: 1..70 octets in
// 0x21..0x7E): UID then UIDVALIDITY, each as eight upper-case hex digits.
std::string format_uidl(std::uint32_t uid_validity, std::uint32_t uid);

// APOP digest (RFC 1939 §7): MD5 of the greeting's timestamp followed by the
// shared secret, as 32 lower-case hex digits.
std::string apop_digest(std::string_view timestamp, std::string_view secret);

// The "<...>" timestamp in a greeting such as "+OK POP3 ready <1896.697@host>",
// or empty when there is none (then APOP is not offered, RFC 1939 §7).
std::string_view greeting_timestamp(std::string_view greeting);

// Cuts a byte stream into lines without their CRLF (a bare LF also ends a
// line).  A line longer than `line_bytes_max` is reported once as too_long and
// its bytes are dropped up to the next LF, so memory stays bounded however
// long the line.
class LineReader {
 public:
  enum class Status : std::uint8_t { line, need_more, too_long };

  explicit LineReader(std::size_t line_bytes_max) : line_bytes_max_(line_bytes_max) {}

  void append(std::string_view bytes);
  Status next(std::string& line);
  // Drops everything buffered (STLS: plaintext behind the command, CVE-2011-0411).
  // Returns the number of octets dropped.
  std::size_t clear();
  [[nodiscard]] std::size_t buffered() const { return buffer_.size() - start_; }

 private:
  std::string buffer_;
  std::size_t start_ = 0;
  std::size_t line_bytes_max_;
  bool discarding_ = false;
};

}  // namespace maillab::net::pop3
