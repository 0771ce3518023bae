#include "net/imap/imap_format.hpp"

#include <array>
#include <cstdio>

#include "net/imap/imap_parser.hpp"

namespace maillab::net::imap {
namespace {

constexpr std::array<std::string_view, 12> kMonths{"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

std::optional<unsigned> parse_digits(std::string_view s, std::size_t min, std::size_t max) {
  if (s.size() < min || s.size() > max) return std::nullopt;
  unsigned v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<unsigned>(c - '0');
  }
  return v;
}

std::optional<unsigned> parse_month(std::string_view s) {
  for (std::size_t i = 0; i < kMonths.size(); ++i) {
    if (iequals(s, kMonths[i])) return static_cast<unsigned>(i + 1);
  }
  return std::nullopt;
}

unsigned days_in_month(std::int64_t y, unsigned m) {
  static constexpr std::array<unsigned, 12> kDays{31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return m == 2 && leap ? 29 : kDays[m - 1];
}

std::optional<std::int64_t> parse_day_month_year(std::string_view text, std::size_t day_min) {
  auto d1 = text.find('-');
  if (d1 == std::string_view::npos) return std::nullopt;
  auto d2 = text.find('-', d1 + 1);
  if (d2 == std::string_view::npos) return std::nullopt;
  auto day_text = text.substr(0, d1);
  if (day_min == 2 && day_text.size() == 2 && day_text[0] == ' ') day_text.remove_prefix(1);
  auto day = parse_digits(day_text, 1, 2);
  auto month = parse_month(text.substr(d1 + 1, d2 - d1 - 1));
  auto year = parse_digits(text.substr(d2 + 1), 4, 4);
  if (!day || !month || !year || *day == 0 || *day > days_in_month(*year, *month)) return std::nullopt;
  return days_from_civil(*year, *month, *day);
}

}  // namespace

std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

std::optional<std::int64_t> parse_search_date(std::string_view text) { return parse_day_month_year(text, 1); }

std::optional<std::int64_t> parse_date_time(std::string_view text) {
  if (text.size() != 26 || text[11] != ' ' || text[20] != ' ') return std::nullopt;
  auto days = parse_day_month_year(text.substr(0, 11), 2);
  auto hh = parse_digits(text.substr(12, 2), 2, 2);
  auto mm = parse_digits(text.substr(15, 2), 2, 2);
  auto ss = parse_digits(text.substr(18, 2), 2, 2);
  if (!days || !hh || !mm || !ss || text[14] != ':' || text[17] != ':' || *hh > 23 || *mm > 59 || *ss > 60) {
    return std::nullopt;
  }
  char sign = text[21];
  auto zh = parse_digits(text.substr(22, 2), 2, 2);
  auto zm = parse_digits(text.substr(24, 2), 2, 2);
  if ((sign != '+' && sign != '-') || !zh || !zm || *zm > 59) return std::nullopt;
  std::int64_t zone = (static_cast<std::int64_t>(*zh) * 60 + *zm) * 60 * (sign == '-' ? -1 : 1);
  return *days * 86400 + *hh * 3600 + *mm * 60 + *ss - zone;
}

std::string format_date_time(std::int64_t unix_s) {
  std::int64_t days = unix_s >= 0 ? unix_s / 86400 : (unix_s - 86399) / 86400;
  std::int64_t secs = unix_s - days * 86400;
  std::int64_t z = days + 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  std::int64_t y = static_cast<std::int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  y += m <= 2;
  char buf[64];
  std::snprintf(buf, sizeof buf, "%02u-%s-%04lld %02lld:%02lld:%02lld +0000", d, kMonths[m - 1].data(),
                static_cast<long long>(y), static_cast<long long>(secs / 3600),
                static_cast<long long>(secs / 60 % 60), static_cast<long long>(secs % 60));
  return buf;
}

std::optional<std::string> canonical_flag(std::string_view flag) {
  static constexpr std::array<std::string_view, 5> kSystem{"\\Answered", "\\Flagged", "\\Deleted", "\\Seen",
                                                           "\\Draft"};
  if (flag.empty()) return std::nullopt;
  if (flag[0] == '\\') {
    for (auto f : kSystem) {
      if (iequals(f, flag)) return std::string(f);
    }
    return std::nullopt;
  }
  for (char c : flag) {
    auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f || c == '(' || c == ')' || c == '{' || c == '"' || c == '%' || c == '*' ||
        c == ']' || c == '\\') {
      return std::nullopt;
    }
  }
  return std::string(flag);
}

std::string flag_list(const std::vector<std::string>& flags) {
  std::string out = "(";
  for (std::size_t i = 0; i < flags.size(); ++i) {
    if (i) out += " ";
    out += flags[i];
  }
  return out + ")";
}

}  // namespace maillab::net::imap
