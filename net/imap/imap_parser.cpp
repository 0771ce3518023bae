#include "net/imap/imap_parser.hpp"

#include <cassert>

namespace maillab::net::imap {

std::size_t RawCommand::bytes() const {
  std::size_t n = 0;
  for (const auto& l : lines) n += l.size() + 2;
  for (const auto& l : literals) n += l.size();
  return n;
}

std::optional<LiteralSpec> trailing_literal(std::string_view line) {
  if (line.empty() || line.back() != '}') return std::nullopt;
  auto open = line.rfind('{');
  if (open == std::string_view::npos) return std::nullopt;
  auto inner = line.substr(open + 1, line.size() - open - 2);
  LiteralSpec spec;
  spec.offset = open;
  if (!inner.empty() && inner.back() == '+') {
    spec.synchronising = false;
    inner.remove_suffix(1);
  }
  if (inner.empty()) return std::nullopt;
  std::uint64_t v = 0;
  for (char c : inner) {
    if (c < '0' || c > '9') return std::nullopt;
    auto digit = static_cast<std::uint64_t>(c - '0');
    if (v > (UINT64_MAX - digit) / 10) {
      v = UINT64_MAX;
    } else if (v != UINT64_MAX) {
      v = v * 10 + digit;
    }
  }
  spec.size = v;
  return spec;
}

void CommandReader::push(std::string_view bytes) {
  if (failed_) return;
  buffer_.append(bytes);
}

void CommandReader::compact() {
  if (pos_ > 0 && (pos_ >= buffer_.size() || pos_ > 4096)) {
    buffer_.erase(0, pos_);
    pos_ = 0;
  }
}

ReaderOutput CommandReader::next() {
  if (failed_) return std::monostate{};
  while (true) {
    if (mode_ == Mode::awaiting_verdict) return std::monostate{};
    if (mode_ == Mode::literal) {
      std::size_t take = std::min(literal_left_, buffer_.size() - pos_);
      current_.literals.back().append(buffer_, pos_, take);
      pos_ += take;
      literal_left_ -= take;
      compact();
      if (literal_left_ > 0) return std::monostate{};
      mode_ = Mode::line;
      continue;
    }
    auto nl = buffer_.find('\n', pos_);
    if (nl == std::string::npos) {
      if (buffer_.size() - pos_ > limits_.line_bytes_max) {
        failed_ = true;
        buffer_.clear();
        return ReaderFailed{"line too long"};
      }
      compact();
      return std::monostate{};
    }
    std::string line = buffer_.substr(pos_, nl - pos_);
    pos_ = nl + 1;
    compact();
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.size() > limits_.line_bytes_max) {
      failed_ = true;
      buffer_.clear();
      return ReaderFailed{"line too long"};
    }
    if (raw_) return RawLine{std::move(line)};
    auto spec = trailing_literal(line);
    current_.lines.push_back(std::move(line));
    std::size_t line_bytes = 0;
    for (const auto& l : current_.lines) line_bytes += l.size() + 2;
    if (line_bytes > limits_.command_bytes_max) {
      failed_ = true;
      buffer_.clear();
      return ReaderFailed{"command too long"};
    }
    if (spec) {
      announced_ = spec->size;
      announced_sync_ = spec->synchronising;
      mode_ = Mode::awaiting_verdict;
      return LiteralAnnounced{spec->size, spec->synchronising, &current_};
    }
    CommandReady ready{std::move(current_)};
    current_ = RawCommand{};
    return ready;
  }
}

void CommandReader::accept_literal() {
  assert(mode_ == Mode::awaiting_verdict);
  literal_left_ = static_cast<std::size_t>(announced_);
  current_.literals.emplace_back();
  mode_ = Mode::literal;
}

void CommandReader::reject_literal() {
  assert(mode_ == Mode::awaiting_verdict);
  current_ = RawCommand{};
  mode_ = Mode::line;
  if (!announced_sync_) {
    failed_ = true;
    buffer_.clear();
    pos_ = 0;
  }
}

bool Value::is_nil() const { return kind == Kind::atom && iequals(text, "NIL"); }

std::optional<std::string> Value::astring() const {
  if (kind == Kind::list) return std::nullopt;
  return text;
}

std::string upper_ascii(std::string_view s) {
  std::string out(s);
  for (auto& c : out) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return out;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'a' && x <= 'z') x = static_cast<char>(x - 'a' + 'A');
    if (y >= 'a' && y <= 'z') y = static_cast<char>(y - 'a' + 'A');
    if (x != y) return false;
  }
  return true;
}

namespace {

bool is_ctl(char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; }
bool is_8bit(char c) { return static_cast<unsigned char>(c) >= 0x80; }

bool is_atom_char(char c) {
  return !is_ctl(c) && !is_8bit(c) && c != ' ' && c != '(' && c != ')' && c != '{' && c != '"';
}

bool is_tag_char(char c) { return is_atom_char(c) && c != '+' && c != '%' && c != '*' && c != '\\'; }

class Tokenizer {
 public:
  Tokenizer(const RawCommand& raw, const ParserLimits& limits) : raw_(raw), limits_(limits) {}

  std::variant<Command, ParseError> run() {
    Command cmd;
    if (raw_.lines.empty() || raw_.lines[0].empty()) return ParseError{"", "Empty command"};
    std::string_view first = raw_.lines[0];
    std::size_t i = 0;
    while (i < first.size() && is_tag_char(first[i])) ++i;
    if (i == 0 || i >= first.size() || first[i] != ' ') return ParseError{"", "Invalid tag"};
    cmd.tag = std::string(first.substr(0, i));
    pos_ = i + 1;
    std::size_t v = pos_;
    while (v < first.size() && ((first[v] >= 'A' && first[v] <= 'Z') || (first[v] >= 'a' && first[v] <= 'z'))) ++v;
    if (v == pos_ || (v < first.size() && first[v] != ' ')) return ParseError{cmd.tag, "Invalid command"};
    cmd.verb = upper_ascii(first.substr(pos_, v - pos_));
    pos_ = v;
    auto args = values(cmd.tag, true);
    if (auto* err = std::get_if<ParseError>(&args)) return *err;
    cmd.args = std::get<std::vector<Value>>(std::move(args));
    return cmd;
  }

  // Space-separated values up to the end (a leading space first when `spaced`).
  std::variant<std::vector<Value>, ParseError> values(const std::string& tag, bool spaced, std::size_t from = 0) {
    if (!spaced) pos_ = from;
    std::vector<Value> out;
    while (!at_end()) {
      if (spaced) {
        if (cur()[pos_] != ' ') return ParseError{tag, "Expected space"};
        ++pos_;
        if (at_end()) return ParseError{tag, "Trailing space"};
      }
      spaced = true;
      auto value = parse_value(0);
      if (!value) return ParseError{tag, error_};
      out.push_back(std::move(*value));
    }
    return out;
  }

 private:
  std::string_view cur() const { return raw_.lines[line_]; }
  bool at_end() const { return line_ + 1 >= raw_.lines.size() && pos_ >= cur().size(); }
  bool at_line_end() const { return pos_ >= cur().size(); }

  std::optional<Value> fail(std::string message) {
    error_ = std::move(message);
    return std::nullopt;
  }

  std::optional<Value> parse_value(std::size_t depth) {
    if (++count_ > limits_.args_max) return fail("Too many arguments");
    if (at_line_end()) return fail("Missing argument");
    char c = cur()[pos_];
    if (c == '(') return parse_list(depth);
    if (c == '"') return parse_quoted();
    if (c == '{') return parse_literal();
    return parse_atom();
  }

  std::optional<Value> parse_list(std::size_t depth) {
    if (depth + 1 > limits_.depth_max) return fail("Too deeply nested");
    ++pos_;
    Value list;
    list.kind = Value::Kind::list;
    bool first = true;
    while (true) {
      if (at_line_end()) return fail("Unterminated list");
      if (cur()[pos_] == ')') {
        ++pos_;
        return list;
      }
      if (!first) {
        if (cur()[pos_] != ' ') return fail("Expected space in list");
        ++pos_;
      }
      first = false;
      auto item = parse_value(depth + 1);
      if (!item) return std::nullopt;
      list.items.push_back(std::move(*item));
    }
  }

  std::optional<Value> parse_quoted() {
    ++pos_;
    Value v;
    v.kind = Value::Kind::string;
    while (true) {
      if (at_line_end()) return fail("Unterminated quoted string");
      char c = cur()[pos_++];
      if (c == '"') return v;
      if (c == '\\') {
        if (at_line_end()) return fail("Unterminated quoted string");
        c = cur()[pos_++];
        if (c != '"' && c != '\\') return fail("Invalid escape in quoted string");
      } else if (c == '\0') {
        return fail("NUL in quoted string");
      }
      v.text.push_back(c);
    }
  }

  std::optional<Value> parse_literal() {
    auto spec = trailing_literal(cur());
    if (!spec || spec->offset != pos_ || line_ >= raw_.literals.size()) return fail("Invalid literal");
    Value v;
    v.kind = Value::Kind::string;
    v.literal = true;
    v.text = raw_.literals[line_];
    ++line_;
    pos_ = 0;
    return v;
  }

  std::optional<Value> parse_atom() {
    Value v;
    std::size_t start = pos_;
    std::string_view line = cur();
    while (pos_ < line.size()) {
      char c = line[pos_];
      if (c == '[') {
        auto close = line.find(']', pos_);
        if (close == std::string_view::npos) return fail("Unterminated [");
        for (std::size_t k = pos_; k < close; ++k) {
          if (is_ctl(line[k]) || is_8bit(line[k])) return fail("Invalid character in atom");
        }
        pos_ = close + 1;
        continue;
      }
      if (!is_atom_char(c)) break;
      ++pos_;
    }
    if (pos_ == start) return fail("Invalid character");
    if (pos_ < line.size() && line[pos_] != ' ' && line[pos_] != ')') return fail("Invalid character in atom");
    v.text = std::string(line.substr(start, pos_ - start));
    return v;
  }

  const RawCommand& raw_;
  const ParserLimits& limits_;
  std::size_t line_ = 0;
  std::size_t pos_ = 0;
  std::size_t count_ = 0;
  std::string error_;
};

}  // namespace

std::variant<Command, ParseError> parse_command(const RawCommand& raw, const ParserLimits& limits) {
  return Tokenizer(raw, limits).run();
}

std::variant<std::vector<Value>, ParseError> parse_values(const RawCommand& raw, std::size_t offset,
                                                          const ParserLimits& limits) {
  if (raw.lines.empty() || offset > raw.lines[0].size()) return ParseError{"", "Empty response"};
  return Tokenizer(raw, limits).values("", false, offset);
}

std::string peek_verb(const RawCommand& raw) {
  if (raw.lines.empty()) return {};
  std::string_view first = raw.lines[0];
  auto sp = first.find(' ');
  if (sp == std::string_view::npos) return {};
  auto rest = first.substr(sp + 1);
  auto end = rest.find(' ');
  return upper_ascii(rest.substr(0, end));
}

std::string imap_string(std::string_view s) {
  bool quotable = s.size() <= 1024;
  for (char c : s) {
    if (is_ctl(c) || is_8bit(c)) {
      quotable = false;
      break;
    }
  }
  if (!quotable) return "{" + std::to_string(s.size()) + "}\r\n" + std::string(s);
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

std::string imap_nstring(const std::optional<std::string>& s) { return s ? imap_string(*s) : "NIL"; }

}  // namespace maillab::net::imap
