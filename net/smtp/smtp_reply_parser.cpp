#include "net/smtp/smtp_reply_parser.hpp"

#include <cstring>
#include <utility>

namespace maillab::net::smtp {

namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// 1 to 3 digits starting at `pos`; returns the count (0 when none or too many).
std::size_t digit_run(std::string_view text, std::size_t pos) {
  std::size_t n = 0;
  while (pos + n < text.size() && is_digit(text[pos + n])) ++n;
  return n <= 3 ? n : 0;
}

}  // namespace

std::size_t enhanced_code_length(std::string_view text) {
  if (text.size() < 5) return 0;
  if (text[0] != '2' && text[0] != '4' && text[0] != '5') return 0;
  if (text[1] != '.') return 0;
  const std::size_t subject = digit_run(text, 2);
  if (subject == 0) return 0;
  std::size_t pos = 2 + subject;
  if (pos >= text.size() || text[pos] != '.') return 0;
  const std::size_t detail = digit_run(text, pos + 1);
  if (detail == 0) return 0;
  pos += 1 + detail;
  if (pos < text.size() && text[pos] != ' ') return 0;
  return pos;
}

void ReplyParser::feed(std::string_view bytes) {
  if (error_) return;
  buffer_.erase(0, start_);  // the lines next() has handed out
  start_ = 0;
  buffer_.append(bytes);
}

void ReplyParser::discard_buffered() {
  buffer_.clear();
  start_ = 0;
  partial_.reset();
}

Result<ReplyLine> ReplyParser::fail(std::string message) {
  error_ = make_error(ErrorCategory::protocol, std::move(message));
  buffer_.clear();
  start_ = 0;
  partial_.reset();
  return *error_;
}

std::optional<Result<ReplyLine>> ReplyParser::next() {
  if (error_) return Result<ReplyLine>(*error_);
  const std::size_t lf = buffer_.find('\n', start_);
  if (lf == std::string::npos) {
    if (buffer_.size() - start_ > limits_.line_bytes_max + 1) {  // +1: a CR still waiting for its LF
      return fail("reply line longer than " + std::to_string(limits_.line_bytes_max) + " octets");
    }
    return std::nullopt;
  }
  std::size_t end = lf;
  if (end > start_ && buffer_[end - 1] == '\r') --end;
  const std::string_view line = std::string_view(buffer_).substr(start_, end - start_);
  start_ = lf + 1;
  if (line.size() > limits_.line_bytes_max) {
    return fail("reply line longer than " + std::to_string(limits_.line_bytes_max) + " octets");
  }
  return parse_line(line);
}

// `line` points into buffer_: every use of it comes before fail() clears that.
Result<ReplyLine> ReplyParser::parse_line(std::string_view line) {
  // RFC 5321 §4.2: three digits, then SP, "-" or the end of the line.
  if (line.size() < 3 || !is_digit(line[0]) || !is_digit(line[1]) || !is_digit(line[2])) {
    return fail("malformed reply line (no three-digit code): \"" + std::string(line.substr(0, 64)) + "\"");
  }
  if (line[0] < '2' || line[0] > '5') {
    return fail("reply code out of range (RFC 5321 §4.2.1 allows 2xx-5xx): " + std::string(line.substr(0, 3)));
  }
  if (line.size() > 3 && line[3] != ' ' && line[3] != '-') {
    return fail("malformed reply line (code not followed by SP or '-'): \"" + std::string(line.substr(0, 64)) +
                "\"");
  }
  if (std::memchr(line.data(), '\0', line.size()) != nullptr || std::memchr(line.data(), '\r', line.size()) != nullptr) {
    return fail("reply line contains a NUL or a bare CR");
  }
  const int code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
  const bool last = line.size() == 3 || line[3] == ' ';
  std::string_view text = line.size() > 4 ? line.substr(4) : std::string_view{};

  if (partial_ && partial_->code != code) {
    return fail("multi-line reply changed its code from " + std::to_string(partial_->code) + " to " +
                std::to_string(code) + " (RFC 5321 §4.2.1)");
  }
  if (!partial_) {
    partial_ = Reply{code, {}, {}};
    if (!last) partial_->lines.reserve(8);  // a multi-line reply (EHLO's): one allocation, not four
  }
  if (partial_->lines.size() >= limits_.lines_max) {
    return fail("reply longer than " + std::to_string(limits_.lines_max) + " lines");
  }

  const std::size_t enhanced = enhanced_code_length(text);
  const bool class_agrees = enhanced != 0 && text[0] == line[0];
  if (enhanced != 0 && (class_agrees || enhanced_advertised_)) {
    if (partial_->lines.empty()) partial_->enhanced = std::string(text.substr(0, enhanced));
    text.remove_prefix(enhanced);
    if (!text.empty()) text.remove_prefix(1);  // the SP after the code
  }
  partial_->lines.emplace_back(text);

  ReplyLine out{line_text_ ? std::string(line) : std::string(), std::nullopt};
  if (last) {
    out.reply = std::move(*partial_);
    partial_.reset();
  }
  return out;
}

}  // namespace maillab::net::smtp
