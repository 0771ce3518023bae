// See message.hpp for the theory of operation.
#include "net/mail/message.hpp"

#include <array>
#include <chrono>
#include <cstddef>
#include <cstring>
#include <initializer_list>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "net/core/line_break.hpp"

namespace maillab::net::mail {
namespace {

Error fail(std::string message) { return make_error(ErrorCategory::invalid_argument, std::move(message)); }
Error parse_fail(std::string message) { return make_error(ErrorCategory::parse, std::move(message)); }

bool is_wsp(char c) { return c == ' ' || c == '\t'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
char ascii_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
  }
  return true;
}

// ftext = %d33-57 / %d59-126 (RFC 5322 §3.6.8).
bool is_field_name(std::string_view name) {
  if (name.empty()) return false;
  for (char ch : name) {
    auto c = static_cast<unsigned char>(ch);
    if (c < 33 || c > 126 || c == ':') return false;
  }
  return true;
}

std::string_view strip_line_end(std::string_view s) {
  if (!s.empty() && s.back() == '\n') {
    s.remove_suffix(1);
    if (!s.empty() && s.back() == '\r') s.remove_suffix(1);
  }
  return s;
}

bool ends_with_line_end(std::string_view s) { return !s.empty() && s.back() == '\n'; }

// The name and the raw value of the field whose exact bytes are `text`; no
// name when it is no field.
struct FieldParts {
  std::string_view name;
  std::string_view raw_value;
};

FieldParts field_parts(std::string_view text) {
  if (text.empty() || is_wsp(text.front())) return {};
  std::size_t colon = text.find(':');
  std::size_t first_end = text.find('\n');
  if (colon == std::string_view::npos || (first_end != std::string_view::npos && colon > first_end)) return {};
  std::string_view name = text.substr(0, colon);
  while (!name.empty() && is_wsp(name.back())) name.remove_suffix(1);  // obs-optional, §4.5
  if (!is_field_name(name)) return {};
  return {name, strip_line_end(text.substr(colon + 1))};
}

// `raw` unfolded (RFC 5322 §2.2.3), surrounding WSP trimmed.
std::string unfolded_value(std::string_view raw) {
  // Unfolding drops every LF and the CR of each CRLF; a bare CR stays.
  std::string unfolded;
  unfolded.reserve(raw.size());
  for (std::size_t i = 0; i < raw.size();) {
    const void* found = std::memchr(raw.data() + i, '\n', raw.size() - i);
    const std::size_t lf = found != nullptr ? static_cast<std::size_t>(static_cast<const char*>(found) - raw.data())
                                            : raw.size();
    const std::size_t end = lf < raw.size() && lf > i && raw[lf - 1] == '\r' ? lf - 1 : lf;
    unfolded.append(raw.substr(i, end - i));
    i = lf + 1;
  }
  std::size_t b = 0;
  std::size_t e = unfolded.size();
  while (b < e && is_wsp(unfolded[b])) ++b;
  while (e > b && is_wsp(unfolded[e - 1])) --e;
  unfolded.resize(e);
  unfolded.erase(0, b);
  return unfolded;
}

// Fills name, raw_value and value from text.
void describe_field(HeaderField& field) {
  const FieldParts parts = field_parts(field.text);
  field.name = std::string(parts.name);
  field.raw_value = std::string(parts.raw_value);
  field.value = parts.name.empty() ? std::string() : unfolded_value(parts.raw_value);
}

// A value may be folded, but every line end in it must be followed by WSP, and
// it may hold no NUL and no bare CR or LF.  Appends it to `out` with folds
// rewritten to `line_end` (on a refusal, part of it may be appended).
Result<void> append_checked_value(std::string& out, std::string_view value, std::string_view line_end) {
  // Run by run (the bytes up to the next CR or LF), in order, so that the
  // first fault is the one reported.
  for (std::size_t i = 0; i < value.size();) {
    const std::size_t brk = next_line_break(value, i);
    const std::string_view run = value.substr(i, brk - i);
    if (std::memchr(run.data(), '\0', run.size()) != nullptr) return fail("header value contains NUL");
    out.append(run);
    if (brk == value.size()) break;
    std::size_t end = brk;
    if (value[brk] == '\r') {
      if (brk + 1 >= value.size() || value[brk + 1] != '\n') return fail("header value contains a bare CR");
      end = brk + 1;
    }
    if (end + 1 >= value.size() || !is_wsp(value[end + 1])) {
      return fail("header value contains a line end not followed by whitespace (header injection)");
    }
    out += line_end;
    i = end + 1;
  }
  return {};
}

}  // namespace

std::string normalize_crlf(std::string_view text) {
  std::string out;
  out.reserve(text.size() + text.size() / 32 + 2);
  std::size_t i = 0;
  while (i < text.size()) {
    const std::size_t brk = next_line_break(text, i);
    out.append(text.substr(i, brk - i));
    if (brk == text.size()) break;
    out += "\r\n";
    i = after_line_break(text, brk);
  }
  return out;
}

Message Message::parse(std::string_view raw) {
  Message m;
  std::size_t first_lf = raw.find('\n');
  if (first_lf != std::string_view::npos && (first_lf == 0 || raw[first_lf - 1] != '\r')) m.line_end_ = "\n";
  std::size_t pos = 0;
  while (pos < raw.size()) {
    std::size_t lf = raw.find('\n', pos);
    std::size_t next = lf == std::string_view::npos ? raw.size() : lf + 1;
    std::string_view line = raw.substr(pos, next - pos);
    if (line == "\r\n" || line == "\n") {
      m.separator_ = std::string(line);
      m.body_ = std::string(raw.substr(next));
      break;
    }
    if (is_wsp(line.front()) && !m.fields_.empty()) {
      m.fields_.back().text += line;  // a continuation line (RFC 5322 §2.2.3)
    } else {
      m.fields_.push_back(HeaderField{{}, {}, {}, std::string(line)});
    }
    pos = next;
  }
  for (auto& f : m.fields_) describe_field(f);
  return m;
}

std::optional<std::string> field_value(std::string_view text, std::string_view name) {
  const FieldParts parts = field_parts(text);
  if (parts.name.empty() || !iequals(parts.name, name)) return std::nullopt;
  return unfolded_value(parts.raw_value);
}

bool is_field_named(std::string_view text, std::string_view name) {
  const FieldParts parts = field_parts(text);
  return !parts.name.empty() && iequals(parts.name, name);
}

const HeaderField* Message::first(std::string_view name) const {
  for (const auto& f : fields_) {
    if (f.is_field() && iequals(f.name, name)) return &f;
  }
  return nullptr;
}

std::vector<const HeaderField*> Message::all(std::string_view name) const {
  std::vector<const HeaderField*> out;
  for (const auto& f : fields_) {
    if (f.is_field() && iequals(f.name, name)) out.push_back(&f);
  }
  return out;
}

std::size_t Message::count(std::string_view name) const {
  std::size_t n = 0;
  for (const auto& f : fields_) {
    if (f.is_field() && iequals(f.name, name)) ++n;
  }
  return n;
}

namespace {

// Appends "name: value" and `line_end` to `out`, the value's folds rewritten
// to `line_end`; on a refusal `out` is left as it was.
Result<void> append_field_text(std::string& out, std::string_view name, std::string_view value,
                               std::string_view line_end) {
  if (!is_field_name(name)) return fail("invalid header field name '" + std::string(name) + "'");
  const std::size_t mark = out.size();
  out.append(name);
  out += ": ";
  if (auto checked = append_checked_value(out, value, line_end); !checked) {
    out.resize(mark);
    return checked.error();
  }
  if (out.size() == mark + name.size() + 2) out.pop_back();  // an empty value: "name:" alone
  out += line_end;
  return {};
}

Result<std::string> field_text(std::string_view name, std::string_view value, const std::string& line_end) {
  std::string text;
  text.reserve(name.size() + 2 + value.size() + line_end.size());
  if (auto appended = append_field_text(text, name, value, line_end); !appended) return appended.error();
  return text;
}

// What Message::parse takes for the message's line end.
std::string line_end_of(std::string_view raw) {
  const std::size_t first_lf = raw.find('\n');
  return first_lf != std::string_view::npos && (first_lf == 0 || raw[first_lf - 1] != '\r') ? "\n" : "\r\n";
}

}  // namespace

Result<std::string> with_field_prepended(std::string_view raw, std::string_view name, std::string_view value) {
  // Inserting at index 0 never touches another field: parse + serialize give
  // back `raw` itself, behind the new field.
  const std::string line_end = line_end_of(raw);
  std::string out;
  out.reserve(name.size() + 2 + value.size() + line_end.size() + raw.size());
  if (auto appended = append_field_text(out, name, value, line_end); !appended) return appended.error();
  out.append(raw);
  return out;
}

std::string with_fields_prepended(std::string_view raw,
                                  std::initializer_list<std::pair<std::string_view, std::string_view>> fields) {
  // Each field's lines end as `raw`'s first line does, and so the text behind the next one up begins;
  // a field's refusal does not depend on the others, so they are written top to bottom.
  const std::string line_end = line_end_of(raw);
  std::size_t size = raw.size();
  for (const auto& [name, value] : fields) size += name.size() + 2 + value.size() + line_end.size();
  std::string out;
  out.reserve(size);
  for (const auto& [name, value] : fields) (void)append_field_text(out, name, value, line_end);
  out.append(raw);
  return out;
}

Result<void> Message::insert(std::size_t index, std::string_view name, std::string_view value) {
  auto text = field_text(name, value, line_end_);
  if (!text) return text.error();
  if (index > 0 && !ends_with_line_end(fields_[index - 1].text)) {
    // A last line without a line end gets one; a trailing CR stays content, so
    // "\r" never becomes "\r\n" and turns into the empty line ending the headers.
    std::string& last = fields_[index - 1].text;
    last += last.back() == '\r' ? "\r\n" : line_end_;
    describe_field(fields_[index - 1]);
  }
  HeaderField f;
  f.text = std::move(*text);
  describe_field(f);
  fields_.insert(fields_.begin() + static_cast<std::ptrdiff_t>(index), std::move(f));
  return {};
}

Result<void> Message::prepend(std::string_view name, std::string_view value) { return insert(0, name, value); }

Result<void> Message::append(std::string_view name, std::string_view value) {
  return insert(fields_.size(), name, value);
}

std::size_t Message::remove_all(std::string_view name) {
  std::size_t before = fields_.size();
  std::erase_if(fields_, [&](const HeaderField& f) { return f.is_field() && iequals(f.name, name); });
  return before - fields_.size();
}

std::size_t Message::header_size() const {
  std::size_t n = separator_.size();
  for (const auto& f : fields_) n += f.text.size();
  return n;
}

std::string Message::serialize() const {
  std::string out;
  out.reserve(header_size() + body_.size());
  for (const auto& f : fields_) out += f.text;
  out += separator_;
  out += body_;
  return out;
}

std::size_t hop_count(const Message& message) { return message.count("Received"); }

// ---------------------------------------------------------------------------
// Dates (RFC 5322 §3.3, §4.3)

namespace {

constexpr std::array<std::string_view, 7> weekday_names = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
constexpr std::array<std::string_view, 12> month_names = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                          "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
constexpr std::int64_t seconds_per_day = 86400;
constexpr std::int64_t earliest_s = -62167219200;  // 0000-01-01T00:00:00Z
constexpr std::int64_t latest_s = 253402300799;    // 9999-12-31T23:59:59Z

std::int64_t floor_div(std::int64_t a, std::int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

std::int64_t days_from_civil(int y, unsigned m, unsigned d) {
  using namespace std::chrono;
  return sys_days{year{y} / month{m} / day{d}}.time_since_epoch().count();
}

}  // namespace

std::string format_rfc5322_date(std::int64_t unix_seconds) {
  using namespace std::chrono;
  std::int64_t t = unix_seconds < earliest_s ? earliest_s : (unix_seconds > latest_s ? latest_s : unix_seconds);
  std::int64_t day_count = floor_div(t, seconds_per_day);
  std::int64_t secs = t - day_count * seconds_per_day;
  sys_days sd{std::chrono::days{static_cast<int>(day_count)}};
  year_month_day ymd{sd};
  weekday wd{sd};
  // Written into one buffer (a Received: field on every message): "Thu, 26 Nov 2026 19:47:16 +0000".
  char text[32];
  std::size_t size = 0;
  auto put = [&](std::string_view part) {
    part.copy(text + size, part.size());
    size += part.size();
  };
  auto put_two_digits = [&](unsigned v) {
    text[size++] = static_cast<char>('0' + v / 10);
    text[size++] = static_cast<char>('0' + v % 10);
  };
  put(weekday_names[wd.c_encoding()]);
  put(", ");
  const auto day = static_cast<unsigned>(ymd.day());
  if (day >= 10) text[size++] = static_cast<char>('0' + day / 10);
  text[size++] = static_cast<char>('0' + day % 10);
  put(" ");
  put(month_names[static_cast<unsigned>(ymd.month()) - 1]);
  put(" ");
  const auto year = static_cast<unsigned>(static_cast<int>(ymd.year()));  // 0000-9999 (clamped above)
  put_two_digits(year / 100);
  put_two_digits(year % 100);
  put(" ");
  put_two_digits(static_cast<unsigned>(secs / 3600));
  put(":");
  put_two_digits(static_cast<unsigned>(secs / 60 % 60));
  put(":");
  put_two_digits(static_cast<unsigned>(secs % 60));
  put(" +0000");
  return std::string(text, size);
}

namespace {

// Removes comments (nested, with quoted-pairs) and turns ',' into a space.
Result<std::string> strip_date_comments(std::string_view text) {
  std::string out;
  int depth = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (depth > 0) {
      if (c == '\\') ++i;
      else if (c == '(') ++depth;
      else if (c == ')') --depth;
      continue;
    }
    if (c == '(') {
      ++depth;
      out.push_back(' ');
    } else if (c == ')') {
      return parse_fail("unbalanced ')' in date");
    } else if (c == ',' || c == '\r' || c == '\n' || c == '\t') {
      out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  if (depth > 0) return parse_fail("unterminated comment in date");
  return out;
}

std::vector<std::string_view> split_words(std::string_view s) {
  std::vector<std::string_view> words;
  std::size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && s[i] == ' ') ++i;
    std::size_t start = i;
    while (i < s.size() && s[i] != ' ') ++i;
    if (i > start) words.push_back(s.substr(start, i - start));
  }
  return words;
}

bool all_digits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!is_digit(c)) return false;
  }
  return true;
}

int to_int(std::string_view s) {
  int v = 0;
  for (char c : s) v = v * 10 + (c - '0');
  return v;
}

bool is_alpha_word(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))) return false;
  }
  return true;
}

// Zone offset in minutes east of UTC (RFC 5322 §3.3 zone, §4.3 obs-zone).
Result<int> parse_zone(std::string_view z) {
  if ((z.front() == '+' || z.front() == '-') && z.size() == 5 && all_digits(z.substr(1))) {
    int hh = to_int(z.substr(1, 2));
    int mm = to_int(z.substr(3, 2));
    if (mm > 59) return parse_fail("zone minutes out of range in date");
    int offset = hh * 60 + mm;
    return z.front() == '-' ? -offset : offset;
  }
  if (!is_alpha_word(z)) return parse_fail("invalid zone '" + std::string(z) + "' in date");
  struct Named { std::string_view name; int hours; };
  static constexpr std::array<Named, 10> named = {{{"UT", 0}, {"GMT", 0}, {"EST", -5}, {"EDT", -4}, {"CST", -6},
                                                   {"CDT", -5}, {"MST", -7}, {"MDT", -6}, {"PST", -8}, {"PDT", -7}}};
  for (const auto& n : named) {
    if (iequals(z, n.name)) return n.hours * 60;
  }
  return 0;  // military and other alphabetic zones: treat as +0000 (§4.3)
}

}  // namespace

Result<std::int64_t> parse_rfc5322_date(std::string_view text) {
  auto stripped = strip_date_comments(text);
  if (!stripped) return stripped.error();
  auto words = split_words(*stripped);
  std::size_t i = 0;
  if (i < words.size() && is_alpha_word(words[i])) {
    bool known = false;
    for (auto name : weekday_names) known = known || iequals(words[i], name);
    if (!known) return parse_fail("unknown day of week '" + std::string(words[i]) + "' in date");
    ++i;
  }
  if (i + 3 > words.size()) return parse_fail("date needs a day, a month, a year and a time");
  std::string_view day_w = words[i++];
  std::string_view month_w = words[i++];
  std::string_view year_w = words[i++];
  if (!all_digits(day_w) || day_w.size() > 2) return parse_fail("invalid day '" + std::string(day_w) + "' in date");
  unsigned month = 0;
  for (unsigned m = 0; m < month_names.size(); ++m) {
    if (iequals(month_w, month_names[m])) month = m + 1;
  }
  if (month == 0) return parse_fail("unknown month '" + std::string(month_w) + "' in date");
  if (!all_digits(year_w) || year_w.size() < 2 || year_w.size() > 4) {
    return parse_fail("invalid year '" + std::string(year_w) + "' in date");
  }
  int year = to_int(year_w);
  if (year_w.size() == 2) year += year < 50 ? 2000 : 1900;  // obs-year, §4.3
  else if (year_w.size() == 3) year += 1900;
  int day = to_int(day_w);
  std::chrono::year_month_day ymd{std::chrono::year{year}, std::chrono::month{month}, std::chrono::day{static_cast<unsigned>(day)}};
  if (!ymd.ok()) return parse_fail("day " + std::to_string(day) + " does not exist in that month");

  // time-of-day = hour ":" minute [ ":" second ]; obs forms may put spaces around ':'.
  std::string time_text;
  while (i < words.size() && (time_text.empty() || time_text.back() == ':' || words[i].front() == ':')) {
    time_text += words[i++];
  }
  if (time_text.empty()) return parse_fail("date has no time of day");
  int parts[3] = {0, 0, 0};
  int n = 0;
  std::size_t start = 0;
  while (true) {
    std::size_t colon = time_text.find(':', start);
    std::string_view piece = std::string_view(time_text).substr(start, colon == std::string::npos ? std::string::npos : colon - start);
    if (n == 3 || !all_digits(piece) || piece.size() != 2) {
      return parse_fail("invalid time of day '" + time_text + "' in date");
    }
    parts[n++] = to_int(piece);
    if (colon == std::string::npos) break;
    start = colon + 1;
  }
  if (n < 2) return parse_fail("invalid time of day '" + time_text + "' in date");
  if (parts[0] > 23 || parts[1] > 59 || parts[2] > 60) return parse_fail("time of day out of range in date");

  int offset_min = 0;
  if (i < words.size()) {
    auto zone = parse_zone(words[i++]);
    if (!zone) return zone.error();
    offset_min = *zone;
  }
  if (i < words.size()) return parse_fail("unexpected '" + std::string(words[i]) + "' after the date");
  std::int64_t day_count = days_from_civil(year, month, static_cast<unsigned>(day));
  return day_count * seconds_per_day + parts[0] * 3600 + parts[1] * 60 + parts[2] - std::int64_t{offset_min} * 60;
}

// ---------------------------------------------------------------------------
// Received: (RFC 5321 §4.4)

std::string_view to_string(ReceivedProtocol protocol) {
  switch (protocol) {
    case ReceivedProtocol::smtp: return "SMTP";
    case ReceivedProtocol::esmtp: return "ESMTP";
    case ReceivedProtocol::esmtpa: return "ESMTPA";
    case ReceivedProtocol::esmtps: return "ESMTPS";
    case ReceivedProtocol::esmtpsa: return "ESMTPSA";
    case ReceivedProtocol::lmtp: return "LMTP";
    case ReceivedProtocol::lmtpa: return "LMTPA";
    case ReceivedProtocol::lmtps: return "LMTPS";
    case ReceivedProtocol::lmtpsa: return "LMTPSA";
    case ReceivedProtocol::utf8smtp: return "UTF8SMTP";
    case ReceivedProtocol::utf8smtpa: return "UTF8SMTPA";
    case ReceivedProtocol::utf8smtps: return "UTF8SMTPS";
    case ReceivedProtocol::utf8smtpsa: return "UTF8SMTPSA";
  }
  return "SMTP";
}

namespace {

constexpr std::size_t header_line_chars_max = 78;  // RFC 5322 §2.1.1
constexpr std::size_t received_token_octets_max = 512;

std::string describe_control(unsigned char c) {
  switch (c) {
    case '\r': return "CR";
    case '\n': return "LF";
    case '\0': return "NUL";
    default: break;
  }
  static constexpr char hex[] = "0123456789ABCDEF";
  return std::string("control byte 0x") + hex[c >> 4] + hex[c & 0xf];
}

// No control characters anywhere (header injection, catalogue row 25); for a
// single token also no whitespace or the characters that delimit clauses.
Result<void> check_received_value(std::string_view label, std::string_view value, bool single_token) {
  if (value.size() > received_token_octets_max) return fail(std::string(label) + " is longer than 512 octets");
  for (char ch : value) {
    auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c == 0x7f) {
      return fail(std::string(label) + " contains " + describe_control(c) + " (header injection refused)");
    }
    if (single_token && (c == ' ' || c == '(' || c == ')' || c == ';')) {
      return fail(std::string(label) + " contains '" + static_cast<char>(c) + "'");
    }
  }
  return {};
}

}  // namespace

Result<std::string> format_received(const ReceivedInfo& info) {
  struct Check { std::string_view label; const std::string& value; bool single; };
  const Check checks[] = {{"HELO name", info.helo, true},       {"client host", info.client_host, true},
                          {"client IP", info.client_ip, true},  {"receiving host", info.by_host, true},
                          {"queue id", info.id, true},          {"recipient", info.for_recipient, false}};
  for (const auto& c : checks) {
    if (auto ok = check_received_value(c.label, c.value, c.single); !ok) return ok.error();
  }
  if (info.helo.empty()) return fail("HELO name is empty");
  if (info.by_host.empty()) return fail("receiving host is empty");

  // Clauses joined by a space, folded before one that would pass column 78;
  // built in place (this runs for every message at every hop).
  const bool has_id = !info.id.empty();
  const bool has_for = !info.for_recipient.empty();
  const std::string date = format_rfc5322_date(info.date_s);
  std::string out;
  out.reserve(160 + info.helo.size() + info.client_host.size() + info.by_host.size() + info.for_recipient.size());
  std::size_t line_chars = std::string_view("Received: ").size();
  bool first = true;
  auto clause = [&](std::initializer_list<std::string_view> parts) {
    std::size_t size = 0;
    for (auto part : parts) size += part.size();
    if (first) {
      first = false;
      line_chars += size;
    } else if (line_chars + 1 + size > header_line_chars_max) {
      out += "\r\n\t";
      line_chars = 1 + size;
    } else {
      out += ' ';
      line_chars += 1 + size;
    }
    for (auto part : parts) out += part;
  };
  clause({"from ", info.helo});
  if (!info.client_host.empty() || !info.client_ip.empty()) {
    if (info.client_ip.empty()) {
      clause({"(", info.client_host, ")"});
    } else {
      bool v6 = info.client_ip.find(':') != std::string::npos && !iequals(info.client_ip.substr(0, 5), "IPv6:");
      clause({"(", info.client_host, info.client_host.empty() ? "" : " ", "[", v6 ? "IPv6:" : "", info.client_ip,
              "])"});
    }
  }
  clause({"by ", info.by_host});
  clause({"with ", to_string(info.protocol), has_id || has_for ? "" : ";"});
  if (has_id) clause({"id ", info.id, has_for ? "" : ";"});
  if (has_for) clause({"for <", info.for_recipient, ">;"});
  clause({date});
  return out;
}

Result<void> add_received(Message& message, const ReceivedInfo& info) {
  auto value = format_received(info);
  if (!value) return value.error();
  return message.prepend("Received", *value);
}

// ---------------------------------------------------------------------------
// Message-ID and Date (RFC 5322 §3.6.1, §3.6.4)

namespace {

bool is_atext(char ch) {
  auto c = static_cast<unsigned char>(ch);
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(ch)) return true;
  return std::string_view("!#$%&'*+-/=?^_`{|}~").find(ch) != std::string_view::npos;
}

bool is_dot_atom_text(std::string_view s) {
  if (s.empty() || s.front() == '.' || s.back() == '.') return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '.') {
      if (s[i - 1] == '.') return false;
    } else if (!is_atext(s[i])) {
      return false;
    }
  }
  return true;
}

// no-fold-literal = "[" *dtext "]"; dtext = %d33-90 / %d94-126.
bool is_no_fold_literal(std::string_view s) {
  if (s.size() < 2 || s.front() != '[' || s.back() != ']') return false;
  for (char ch : s.substr(1, s.size() - 2)) {
    auto c = static_cast<unsigned char>(ch);
    if (c < 33 || c > 126 || c == '[' || c == ']' || c == '\\') return false;
  }
  return true;
}

}  // namespace

Result<void> ensure_message_id_and_date(Message& message, std::string_view id_left, std::string_view domain,
                                        std::int64_t now_s) {
  if (!is_dot_atom_text(id_left)) return fail("Message-ID left part '" + std::string(id_left) + "' is not dot-atom-text");
  if (!is_dot_atom_text(domain) && !is_no_fold_literal(domain)) {
    return fail("Message-ID domain '" + std::string(domain) + "' is not dot-atom-text");
  }
  if (message.first("Message-ID") == nullptr) {
    if (auto ok = message.append("Message-ID", "<" + std::string(id_left) + "@" + std::string(domain) + ">"); !ok) {
      return ok;
    }
  }
  if (message.first("Date") == nullptr) {
    if (auto ok = message.append("Date", format_rfc5322_date(now_s)); !ok) return ok;
  }
  return {};
}

}  // namespace maillab::net::mail
