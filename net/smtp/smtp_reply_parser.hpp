// Incremental parser of SMTP server replies, the client side of RFC 5321 §4.2.
//
// Theory of operation.  Bytes from the server are fed in any split; next()
// hands out one complete line at a time, and the line that ends a reply also
// carries the whole Reply.  The grammar (RFC 5321 §4.2):
//
//   Reply-line = *( Reply-code "-" [ textstring ] CRLF )
//                   Reply-code [ SP textstring ] CRLF
//   Reply-code = %x32-35 %x30-35 %x30-39
//
// Every line of a multi-line reply must carry the same code.  An enhanced
// status code (RFC 3463 §2: class "." subject "." detail, class 2/4/5,
// subject and detail 1-3 digits) at the start of the text is split off into
// Reply::enhanced when its class agrees with the reply code, or whenever the
// server advertised ENHANCEDSTATUSCODES (RFC 2034 §3).  Lines end in CRLF; a
// bare LF is also taken as a line end (a lenient reader, RFC 5321 §4.1.1.4's
// smuggling concern is the server's: the client never gets message data).
//
// Limits: a line may hold line_bytes_max octets (RFC 5321 §4.5.3.1.5 sets 512
// including CRLF; real servers exceed it, so the default is generous), a reply
// lines_max lines.  Anything malformed is an Error, and the parser then stays
// failed: a client cannot resynchronise with a server it does not understand.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "net/core/result.hpp"
#include "net/smtp/smtp_reply.hpp"

namespace maillab::net::smtp {

struct ReplyParserLimits {
  std::size_t line_bytes_max = 2048;  // without CRLF
  std::size_t lines_max = 128;        // per reply
};

// One line as it arrived (without CRLF; empty after set_line_text(false)), and the Reply
// when the line ends one.
struct ReplyLine {
  std::string text;
  std::optional<Reply> reply;
};

class ReplyParser {
 public:
  explicit ReplyParser(ReplyParserLimits limits = {}) : limits_(limits) {}

  void feed(std::string_view bytes);
  // The next complete line; nullopt when more bytes are needed.  Once an Error
  // has been returned, every later call returns that Error again.
  std::optional<Result<ReplyLine>> next();

  // false: ReplyLine::text stays empty (a client that reports no line events
  // reads only the Reply), so no line is copied out of the buffer.
  void set_line_text(bool wanted) { line_text_ = wanted; }
  // The server's EHLO reply advertised ENHANCEDSTATUSCODES (RFC 2034 §3).
  void set_enhanced_status_codes(bool advertised) { enhanced_advertised_ = advertised; }
  // Drops buffered bytes and any partial reply: after STARTTLS's 220 nothing
  // that arrived in plaintext may be read as if it came through TLS (RFC 3207 §6).
  void discard_buffered();

  [[nodiscard]] bool failed() const { return error_.has_value(); }
  // No partial reply and no unread bytes.
  [[nodiscard]] bool idle() const { return buffer_.size() == start_ && !partial_.has_value(); }

 private:
  Result<ReplyLine> parse_line(std::string_view line);
  Result<ReplyLine> fail(std::string message);

  ReplyParserLimits limits_;
  std::string buffer_;
  std::size_t start_ = 0;  // buffer_ before it holds lines already handed out
  std::optional<Reply> partial_;  // lines of a multi-line reply read so far
  std::optional<Error> error_;
  bool enhanced_advertised_ = false;
  bool line_text_ = true;
};

// "2.1.5" at the start of `text` per RFC 3463 §2, with the length it takes
// (the code itself, without the space after it); 0 when there is none.
std::size_t enhanced_code_length(std::string_view text);

}  // namespace maillab::net::smtp
