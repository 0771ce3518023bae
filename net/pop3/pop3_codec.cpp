#include "net/pop3/pop3_codec.hpp"

#include <openssl/evp.h>

#include <array>
#include <cassert>
#include <limits>

#include "net/core/line_break.hpp"

namespace maillab::net::pop3 {

std::optional<std::uint32_t> parse_number(std::string_view text) {
  if (text.empty() || text.size() > 10) return std::nullopt;
  std::uint64_t value = 0;
  for (const char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + static_cast<std::uint64_t>(c - '0');
  }
  if (value > std::numeric_limits<std::uint32_t>::max()) return std::nullopt;
  return static_cast<std::uint32_t>(value);
}

CommandLine split_command(std::string_view line) {
  CommandLine command;
  const auto space = line.find(' ');
  const std::string_view verb = line.substr(0, space);
  command.verb.reserve(verb.size());
  for (const char c : verb) {
    command.verb += (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c;
  }
  if (space == std::string_view::npos) return command;
  command.rest = line.substr(space + 1);
  std::string_view remaining = command.rest;
  while (!remaining.empty()) {
    const auto next = remaining.find(' ');
    const std::string_view arg = remaining.substr(0, next);
    if (!arg.empty()) command.args.push_back(arg);
    if (next == std::string_view::npos) break;
    remaining.remove_prefix(next + 1);
  }
  return command;
}

StuffedBody dot_stuff(std::string_view data) {
  StuffedBody body;
  body.bytes.reserve(data.size() + data.size() / 64 + 2);
  std::size_t i = 0;
  while (i < data.size()) {
    const std::size_t end = next_line_break(data, i);
    const std::string_view line = data.substr(i, end - i);
    if (!line.empty() && line.front() == '.') body.bytes += '.';
    body.bytes += line;
    body.bytes += "\r\n";
    ++body.lines;
    if (end == data.size()) break;
    i = after_line_break(data, end);
  }
  return body;
}

std::string_view dot_unstuff(std::string_view line) {
  if (!line.empty() && line.front() == '.') line.remove_prefix(1);
  return line;
}

std::string_view top_of_message(std::string_view message, std::uint32_t body_lines) {
  std::size_t header_end = 0;
  if (message.starts_with("\r\n")) {
    header_end = 2;
  } else {
    const auto blank = message.find("\r\n\r\n");
    if (blank == std::string_view::npos) return message;
    header_end = blank + 4;
  }
  std::size_t end = header_end;
  for (std::uint32_t n = 0; n < body_lines && end < message.size(); ++n) {
    const auto lf = message.find('\n', end);
    if (lf == std::string_view::npos) return message;
    end = lf + 1;
  }
  return message.substr(0, end);
}

namespace {
constexpr std::array<char, 16> kHexUpper = {'0', '1', '2', '3', '4', '5', '6', '7',
                                            '8', '9', 'A', 'B', 'C', 'D', 'E', 'F'};
constexpr std::array<char, 16> kHexLower = {'0', '1', '2', '3', '4', '5', '6', '7',
                                            '8', '9', 'a', 'b', 'c', 'd', 'e', 'f'};

void append_hex32(std::string& out, std::uint32_t value) {
  for (int shift = 28; shift >= 0; shift -= 4) out += kHexUpper[(value >> shift) & 0xFU];
}
}  // namespace

std::string format_uidl(std::uint32_t uid_validity, std::uint32_t uid) {
  std::string out;
  out.reserve(16);
  append_hex32(out, uid);
  append_hex32(out, uid_validity);
  return out;
}

std::string apop_digest(std::string_view timestamp, std::string_view secret) {
  std::string input;
  input.reserve(timestamp.size() + secret.size());
  input += timestamp;
  input += secret;
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int length = 0;
  const int ok = EVP_Digest(input.data(), input.size(), digest.data(), &length, EVP_md5(), nullptr);
  assert(ok == 1 && length == 16);
  (void)ok;
  std::string hex;
  hex.reserve(32);
  for (unsigned int i = 0; i < length; ++i) {
    hex += kHexLower[digest[i] >> 4];
    hex += kHexLower[digest[i] & 0xFU];
  }
  return hex;
}

std::string_view greeting_timestamp(std::string_view greeting) {
  const auto open = greeting.find('<');
  if (open == std::string_view::npos) return {};
  const auto close = greeting.find('>', open);
  if (close == std::string_view::npos) return {};
  return greeting.substr(open, close - open + 1);
}

void LineReader::append(std::string_view bytes) {
  if (start_ > 0 && start_ >= buffer_.size() / 2) {
    buffer_.erase(0, start_);
    start_ = 0;
  }
  buffer_ += bytes;
}

LineReader::Status LineReader::next(std::string& line) {
  while (true) {
    const auto lf = buffer_.find('\n', start_);
    if (lf == std::string::npos) {
      if (buffered() > line_bytes_max_) {
        buffer_.clear();
        start_ = 0;
        if (!discarding_) {
          discarding_ = true;
          return Status::too_long;
        }
      }
      return Status::need_more;
    }
    std::size_t end = lf;
    if (end > start_ && buffer_[end - 1] == '\r') --end;
    const std::size_t begin = start_;
    start_ = lf + 1;
    if (discarding_) {
      discarding_ = false;
      continue;
    }
    if (end - begin > line_bytes_max_) return Status::too_long;
    line.assign(buffer_, begin, end - begin);
    return Status::line;
  }
}

std::size_t LineReader::clear() {
  const std::size_t dropped = buffered();
  buffer_.clear();
  start_ = 0;
  discarding_ = false;
  return dropped;
}

}  // namespace maillab::net::pop3
