#include "sim/scenario.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <fstream>
#include <initializer_list>
#include <map>
#include <set>
#include <type_traits>

#include <toml++/toml.h>

#include "net/mail/address.hpp"

namespace maillab::sim {
namespace {

// ASCII letters lowered, every other byte kept: what std::tolower does in the
// "C" and UTF-8 locales, without a library call per character.
char lower_char(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

std::string lower(std::string_view text) {
  std::string out(text);
  for (auto& c : out) c = lower_char(c);
  return out;
}

// lower(a) == lower(b), without making either.
bool equals_lowered(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (lower_char(a[i]) != lower_char(b[i])) return false;
  return true;
}

// a == lower(b), without making lower(b).
bool equals_lower_of(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (a[i] != lower_char(b[i])) return false;
  return true;
}

struct Unit {
  std::string_view suffix;
  std::int64_t us;
};
constexpr Unit duration_units[] = {{"ms", 1'000}, {"d", 86'400'000'000}, {"h", 3'600'000'000},
                                   {"m", 60'000'000}, {"s", 1'000'000}};

std::optional<std::uint64_t> parse_scaled(std::string_view text, std::initializer_list<Unit> units) {
  std::uint64_t value = 0;
  auto [next, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || next == text.data()) return std::nullopt;
  std::string_view suffix(next, static_cast<std::size_t>(text.data() + text.size() - next));
  for (const auto& unit : units)
    if (lower(suffix) == lower(unit.suffix)) return value * static_cast<std::uint64_t>(unit.us);
  return std::nullopt;
}

}  // namespace

std::optional<Duration> parse_duration(std::string_view text) {
  if (text.empty()) return std::nullopt;
  std::int64_t total = 0;
  std::size_t i = 0;
  while (i < text.size()) {
    std::size_t digits = i;
    while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits]))) ++digits;
    if (digits == i || digits - i > 9) return std::nullopt;
    std::int64_t value = 0;
    std::from_chars(text.data() + i, text.data() + digits, value);
    std::size_t unit_end = digits;
    while (unit_end < text.size() && std::isalpha(static_cast<unsigned char>(text[unit_end]))) ++unit_end;
    const std::string_view unit = text.substr(digits, unit_end - digits);
    const Unit* found = nullptr;
    for (const auto& u : duration_units)
      if (u.suffix == unit) found = &u;
    if (!found) return std::nullopt;
    total += value * found->us;
    i = unit_end;
  }
  return Duration{total};
}

std::string format_duration(Duration duration) {
  std::int64_t us = duration.count();
  if (us == 0) return "0s";
  std::string out;
  if (us < 0) {
    out += "-";
    us = -us;
  }
  for (const auto& unit : duration_units) {
    if (unit.suffix == "ms") continue;
    if (us >= unit.us) {
      out += std::to_string(us / unit.us) + std::string(unit.suffix);
      us %= unit.us;
    }
  }
  if (us >= 1000) {
    out += std::to_string(us / 1000) + "ms";
    us %= 1000;
  }
  if (us > 0) out += std::to_string(us) + "us";
  return out;
}

std::string_view to_string(FaultKind kind) {
  switch (kind) {
    case FaultKind::host_down: return "host_down";
    case FaultKind::link: return "link";
    case FaultKind::partition: return "partition";
    case FaultKind::greylist: return "greylist";
    case FaultKind::mailbox_full: return "mailbox_full";
    case FaultKind::reply: return "reply";
  }
  return "?";
}

std::string_view to_string(ReplyStage stage) {
  switch (stage) {
    case ReplyStage::connect: return "connect";
    case ReplyStage::ehlo: return "ehlo";
    case ReplyStage::mail: return "mail";
    case ReplyStage::rcpt: return "rcpt";
    case ReplyStage::data: return "data";
  }
  return "?";
}

const HostSpec* Scenario::find_host(std::string_view name) const {
  for (const auto& h : hosts)
    if (equals_lowered(h.name, name)) return &h;
  return nullptr;
}
const DomainSpec* Scenario::find_domain(std::string_view name) const {
  for (const auto& d : domains)
    if (equals_lower_of(d.name, name)) return &d;
  return nullptr;
}
const UserSpec* Scenario::find_user(std::string_view address) const {
  for (const auto& u : users)
    if (u.address == address) return &u;
  return nullptr;
}
const MuaSpec* Scenario::find_mua(std::string_view name) const {
  for (const auto& m : muas)
    if (m.name == name) return &m;
  return nullptr;
}

namespace {

class Loader {
 public:
  explicit Loader(std::string file) : file_(std::move(file)) { scenario_.file = file_; }

  ScenarioLoad run(std::string_view text) {
    toml::table root;
    try {
      root = toml::parse(text, file_);
    } catch (const toml::parse_error& e) {
      errors_.push_back(at(e.source(), std::string(e.description())));
      return finish();
    }
    read_root(root);
    complete();  // cross references are checked even when a table had errors
    return finish();
  }

 private:
  // --- positions and errors ----------------------------------------------------
  Error at(const toml::source_region& region, std::string message) const {
    return Error{ErrorCategory::parse, std::move(message),
                 SourcePosition{file_, region.begin.line, region.begin.column}};
  }
  void fail(const toml::node& node, std::string message) { errors_.push_back(at(node.source(), std::move(message))); }
  void fail(const toml::source_region& region, std::string message) {
    errors_.push_back(at(region, std::move(message)));
  }
  static SourcePosition position_of(const std::string& file, const toml::node& node) {
    return SourcePosition{file, node.source().begin.line, node.source().begin.column};
  }

  ScenarioLoad finish() {
    std::stable_sort(errors_.begin(), errors_.end(), [](const Error& a, const Error& b) {
      return std::pair(a.where.line, a.where.column) < std::pair(b.where.line, b.where.column);
    });
    ScenarioLoad out;
    out.errors = std::move(errors_);
    if (out.errors.empty()) out.scenario = std::move(scenario_);
    return out;
  }

  // Unknown keys are errors: a typo must never be a silent default.
  void check_keys(const toml::table& table, std::string_view what, std::initializer_list<std::string_view> allowed) {
    for (const auto& [key, node] : table) {
      if (std::find(allowed.begin(), allowed.end(), key.str()) != allowed.end()) continue;
      std::string list;
      for (auto a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
      fail(key.source(), "unknown key '" + std::string(key.str()) + "' in " + std::string(what) + " (known: " +
                             list + ")");
    }
  }

  // --- typed getters: nullopt when absent or wrong (wrong is reported) ----------
  std::optional<std::string> string_at(const toml::table& t, std::string_view key, bool required,
                                       std::string_view what) {
    const toml::node* node = t.get(key);
    if (!node) {
      if (required) fail(t, std::string(what) + " needs '" + std::string(key) + "'");
      return std::nullopt;
    }
    if (!node->is_string()) {
      fail(*node, "'" + std::string(key) + "' must be a string");
      return std::nullopt;
    }
    return node->value<std::string>();
  }
  std::optional<std::int64_t> integer_at(const toml::table& t, std::string_view key, std::int64_t lo,
                                         std::int64_t hi) {
    const toml::node* node = t.get(key);
    if (!node) return std::nullopt;
    if (!node->is_integer()) {
      fail(*node, "'" + std::string(key) + "' must be an integer");
      return std::nullopt;
    }
    const auto v = *node->value<std::int64_t>();
    if (v < lo || v > hi) {
      fail(*node, "'" + std::string(key) + "' must be between " + std::to_string(lo) + " and " + std::to_string(hi));
      return std::nullopt;
    }
    return v;
  }
  std::optional<bool> bool_at(const toml::table& t, std::string_view key) {
    const toml::node* node = t.get(key);
    if (!node) return std::nullopt;
    if (!node->is_boolean()) {
      fail(*node, "'" + std::string(key) + "' must be true or false");
      return std::nullopt;
    }
    return node->value<bool>();
  }
  std::optional<double> fraction_at(const toml::table& t, std::string_view key) {
    const toml::node* node = t.get(key);
    if (!node) return std::nullopt;
    std::optional<double> v;
    if (node->is_floating_point()) v = node->value<double>();
    else if (node->is_integer()) v = static_cast<double>(*node->value<std::int64_t>());
    if (!v || *v < 0.0 || *v > 1.0) {
      fail(*node, "'" + std::string(key) + "' must be a number from 0 to 1");
      return std::nullopt;
    }
    return v;
  }
  std::optional<Duration> duration_at(const toml::table& t, std::string_view key, bool required,
                                      std::string_view what) {
    const toml::node* node = t.get(key);
    if (!node) {
      if (required) fail(t, std::string(what) + " needs '" + std::string(key) + "'");
      return std::nullopt;
    }
    return duration_of(*node, key);
  }
  std::optional<Duration> duration_of(const toml::node& node, std::string_view key) {
    if (!node.is_string()) {
      fail(node, "'" + std::string(key) + "' must be a duration string like \"90s\", \"10m\" or \"1h30m\"");
      return std::nullopt;
    }
    auto d = parse_duration(*node.value<std::string>());
    if (!d) fail(node, "'" + *node.value<std::string>() + "' is not a duration (use ms, s, m, h, d: \"1h30m\")");
    return d;
  }
  std::vector<std::string> strings_at(const toml::table& t, std::string_view key) {
    std::vector<std::string> out;
    const toml::node* node = t.get(key);
    if (!node) return out;
    if (node->is_string()) {
      out.push_back(*node->value<std::string>());
      return out;
    }
    const toml::array* array = node->as_array();
    if (!array) {
      fail(*node, "'" + std::string(key) + "' must be a string or an array of strings");
      return out;
    }
    for (const auto& element : *array) {
      if (!element.is_string()) fail(element, "'" + std::string(key) + "' must hold only strings");
      else out.push_back(*element.value<std::string>());
    }
    return out;
  }
  std::optional<std::string> mailbox_at(const toml::table& t, std::string_view key, bool required,
                                        std::string_view what) {
    auto s = string_at(t, key, required, what);
    if (!s) return std::nullopt;
    return checked_mailbox(*t.get(key), *s);
  }
  std::optional<std::string> checked_mailbox(const toml::node& node, const std::string& text) {
    auto parsed = net::mail::parse_mailbox(text);
    if (!parsed) {
      fail(node, "'" + text + "' is not a mail address: " + parsed.error().message);
      return std::nullopt;
    }
    return parsed->local_part + "@" + parsed->domain_key();
  }
  std::vector<std::string> mailboxes_at(const toml::table& t, std::string_view key) {
    std::vector<std::string> out;
    for (auto& s : strings_at(t, key)) {
      auto m = checked_mailbox(*t.get(key), s);
      if (m) out.push_back(*m);
    }
    return out;
  }

  // Calls `each` for every table of an array of tables; reports anything else.
  template <typename F>
  void tables_of(const toml::table& root, std::string_view key, F&& each) {
    const toml::node* node = root.get(key);
    if (!node) return;
    const toml::array* array = node->as_array();
    if (!array) {
      fail(*node, "'" + std::string(key) + "' must be an array of tables: write [[" + std::string(key) + "]]");
      return;
    }
    for (const auto& element : *array) {
      if (const auto* table = element.as_table()) each(*table);
      else fail(element, "each '" + std::string(key) + "' must be a table");
    }
  }

  // --- sections -------------------------------------------------------------------
  void read_root(const toml::table& root) {
    check_keys(root, "the scenario", {"title", "description", "title_id", "description_id", "start", "seed", "until",
                                      "network", "queue", "limits", "starttls", "dns_host", "domain", "user", "host", "mua",
                                      "message", "fault", "expect"});
    if (auto s = string_at(root, "title", true, "the scenario")) scenario_.title = *s;
    if (auto s = string_at(root, "description", true, "the scenario")) scenario_.description = *s;
    if (auto s = string_at(root, "title_id", false, "")) {
      if (s->empty()) fail(*root.get("title_id"), "'title_id' is empty: leave it out instead");
      scenario_.title_id = *s;
    }
    if (auto s = string_at(root, "description_id", false, "")) {
      if (s->empty()) fail(*root.get("description_id"), "'description_id' is empty: leave it out instead");
      scenario_.description_id = *s;
    }
    if (auto v = integer_at(root, "seed", 0, INT64_MAX)) scenario_.seed = static_cast<std::uint64_t>(*v);
    if (auto d = duration_at(root, "until", false, "")) scenario_.until = *d;
    if (auto b = bool_at(root, "starttls")) scenario_.starttls = *b;
    if (auto s = string_at(root, "dns_host", false, "")) scenario_.dns_host = lower(*s);
    if (const toml::node* start = root.get("start")) {
      if (!start->is_date_time()) {
        fail(*start, "'start' must be a date-time with an offset, like 2026-03-02T08:00:00Z");
      } else {
        const auto dt = *start->value<toml::date_time>();
        if (!dt.offset) fail(*start, "'start' needs a time zone offset (Z or +HH:MM)");
        else scenario_.start_unix_s = unix_seconds(dt);
      }
    }
    if (const toml::node* network = root.get("network")) read_network(*network);
    if (const toml::node* queue = root.get("queue")) read_queue(*queue);
    if (const toml::node* limits = root.get("limits")) read_limits(*limits);
    tables_of(root, "domain", [&](const toml::table& t) { read_domain(t); });
    tables_of(root, "host", [&](const toml::table& t) { read_host(t); });
    tables_of(root, "user", [&](const toml::table& t) { read_user(t); });
    tables_of(root, "mua", [&](const toml::table& t) { read_mua(t); });
    tables_of(root, "message", [&](const toml::table& t) { read_message(t); });
    tables_of(root, "fault", [&](const toml::table& t) { read_fault(t); });
    tables_of(root, "expect", [&](const toml::table& t) { read_expect(t); });
    if (scenario_.domains.empty() && !root.get("domain")) fail(root, "the scenario needs at least one [[domain]]");
  }

  static std::int64_t unix_seconds(const toml::date_time& dt) {
    // Days from civil (Howard Hinnant's algorithm).
    std::int64_t y = dt.date.year;
    const unsigned m = dt.date.month;
    const unsigned d = dt.date.day;
    y -= m <= 2 ? 1 : 0;
    const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
    const auto yoe = static_cast<unsigned>(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    const std::int64_t days = era * 146097 + static_cast<std::int64_t>(doe) - 719468;
    return days * 86400 + dt.time.hour * 3600 + dt.time.minute * 60 + dt.time.second -
           static_cast<std::int64_t>(dt.offset->minutes) * 60;
  }

  std::optional<LinkOptions> read_link_options(const toml::table& t, LinkOptions base) {
    if (auto d = duration_at(t, "latency", false, "")) base.latency = *d;
    if (auto l = fraction_at(t, "loss")) base.loss = *l;
    if (const toml::node* node = t.get("bandwidth")) {
      std::optional<std::uint64_t> bps;
      if (node->is_string())
        bps = parse_scaled(*node->value<std::string>(),
                           {{"bps", 1}, {"kbps", 1'000}, {"mbps", 1'000'000}, {"gbps", 1'000'000'000}});
      if (!bps || *bps == 0) fail(*node, "'bandwidth' must be a rate like \"56kbps\", \"10Mbps\" or \"1Gbps\"");
      else base.bandwidth_bps = *bps;
    }
    return base;
  }

  void read_network(const toml::node& node) {
    const auto* t = node.as_table();
    if (!t) return fail(node, "'network' must be a table: write [network]");
    check_keys(*t, "[network]", {"latency", "loss", "bandwidth"});
    if (auto l = read_link_options(*t, scenario_.default_link)) scenario_.default_link = *l;
  }

  void read_queue(const toml::node& node) {
    const auto* t = node.as_table();
    if (!t) return fail(node, "'queue' must be a table: write [queue]");
    check_keys(*t, "[queue]", {"retry", "lifetime"});
    if (const toml::node* retry = t->get("retry")) {
      const auto* array = retry->as_array();
      if (!array || array->empty()) {
        fail(*retry, "'retry' must be a non-empty array of durations, like [\"1m\", \"5m\", \"15m\"]");
      } else {
        scenario_.queue.retry.clear();
        for (const auto& element : *array) {
          auto d = duration_of(element, "retry");
          if (d && d->count() <= 0) fail(element, "a retry interval must be longer than 0s");
          else if (d) scenario_.queue.retry.push_back(*d);
        }
      }
    }
    if (auto d = duration_at(*t, "lifetime", false, "")) {
      if (d->count() <= 0) fail(*t->get("lifetime"), "'lifetime' must be longer than 0s");
      else scenario_.queue.lifetime = *d;
    }
  }

  // [limits] (scenarios/README.md): every value between its minimum (an RFC's
  // where there is one) and a sanity maximum; below the minimum is an error,
  // never a silent clamp.
  void read_limits(const toml::node& node) {
    const auto* t = node.as_table();
    if (!t) return fail(node, "'limits' must be a table: write [limits]");
    check_keys(*t, "[limits]",
               {"connections_max", "connections_per_ip_max", "imap_sessions_per_user_max", "smtp_idle_timeout",
                "smtp_data_timeout", "imap_autologout", "imap_login_timeout", "pop3_idle_timeout",
                "output_timeout", "smtp_line_bytes_max", "message_bytes_max", "recipients_max", "smtp_errors_max",
                "smtp_errors_soft_max", "smtp_error_delay", "smtp_junk_commands_max", "smtp_header_bytes_max",
                "smtp_min_data_rate", "imap_line_bytes_max", "imap_literal_bytes_max", "imap_depth_max"});
    LimitsSpec& l = scenario_.limits;
    constexpr std::uint64_t kib = 1024, mib = 1024 * kib, gib = 1024 * mib;
    auto count = [&](std::string_view key, auto& into, std::uint64_t lo, std::uint64_t hi, std::string_view why) {
      if (auto v = limit_value(*t, key, lo, hi, why, false)) into = static_cast<std::decay_t<decltype(into)>>(*v);
    };
    auto bytes = [&](std::string_view key, auto& into, std::uint64_t lo, std::uint64_t hi, std::string_view why) {
      if (auto v = limit_value(*t, key, lo, hi, why, true)) into = static_cast<std::decay_t<decltype(into)>>(*v);
    };
    auto timeout = [&](std::string_view key, Duration& into, Duration lo, std::string_view why) {
      auto d = duration_at(*t, key, false, "");
      if (!d) return;
      const Duration hi = std::chrono::hours(24);
      if (*d < lo)
        fail(*t->get(key), "'" + std::string(key) + "' = " + format_duration(*d) + " is below " +
                               std::string(why) + " minimum of " + format_duration(lo));
      else if (*d > hi)
        fail(*t->get(key), "'" + std::string(key) + "' = " + format_duration(*d) + " is longer than " +
                               format_duration(hi));
      else
        into = *d;
    };
    count("connections_max", l.connections_max, 1, 100'000, "");
    count("connections_per_ip_max", l.connections_per_ip_max, 1, 100'000, "");
    count("imap_sessions_per_user_max", l.imap_sessions_per_user_max, 1, 100'000, "");
    timeout("smtp_idle_timeout", l.smtp_idle_timeout, std::chrono::minutes(5), "the RFC 5321 §4.5.3.2.7");
    timeout("smtp_data_timeout", l.smtp_data_timeout, std::chrono::minutes(3), "the RFC 5321 §4.5.3.2.5");
    timeout("imap_autologout", l.imap_autologout, std::chrono::minutes(30), "the RFC 9051 §5.4");
    timeout("imap_login_timeout", l.imap_login_timeout, std::chrono::seconds(30), "the lab's");
    timeout("pop3_idle_timeout", l.pop3_idle_timeout, std::chrono::minutes(10), "the RFC 1939 §3");
    timeout("output_timeout", l.output_timeout, std::chrono::seconds(1), "the lab's");  // no RFC minimum
    count("smtp_line_bytes_max", l.smtp_line_bytes_max, 512, mib, "RFC 5321 §4.5.3.1.4");
    bytes("message_bytes_max", l.message_bytes_max, 64 * kib, gib, "RFC 5321 §4.5.3.1.7");
    count("recipients_max", l.recipients_max, 100, 100'000, "RFC 5321 §4.5.3.1.8");
    count("smtp_errors_max", l.smtp_errors_max, 1, 1000, "");
    count("smtp_errors_soft_max", l.smtp_errors_soft_max, 1, 1000, "");
    if (auto d = duration_at(*t, "smtp_error_delay", false, "")) {
      const Duration hi = std::chrono::minutes(1);
      if (*d < Duration::zero() || *d > hi)
        fail(*t->get("smtp_error_delay"), "'smtp_error_delay' = " + format_duration(*d) + " must be between 0s and " +
                                              format_duration(hi));
      else
        l.smtp_error_delay = *d;
    }
    count("smtp_junk_commands_max", l.smtp_junk_commands_max, 1, 100'000, "");
    bytes("smtp_header_bytes_max", l.smtp_header_bytes_max, 4 * kib, 64 * mib, "real header sections run to a few KiB");
    // Row 18: 0 turns the minimum data rate off, so a negative value must not read as 0.
    const toml::node* rate = t->get("smtp_min_data_rate");
    if (rate && rate->is_integer() && *rate->value<std::int64_t>() < 0)
      fail(*rate, "'smtp_min_data_rate' must be 0 (off) or a rate in bytes per second");
    else
      count("smtp_min_data_rate", l.smtp_min_data_rate, 0, 100'000'000, "");
    bytes("imap_line_bytes_max", l.imap_line_bytes_max, 8 * kib, 16 * mib, "RFC 7162 §4");
    bytes("imap_literal_bytes_max", l.imap_literal_bytes_max, 4 * kib, gib, "RFC 7888 §5");
    count("imap_depth_max", l.imap_depth_max, 4, 100, "real clients nest FETCH and SEARCH lists");
  }

  // An integer in [lo, hi]; with `sized` also a string like "64KiB", "25MiB", "10MB".
  std::optional<std::uint64_t> limit_value(const toml::table& t, std::string_view key, std::uint64_t lo,
                                           std::uint64_t hi, std::string_view why, bool sized) {
    const toml::node* node = t.get(key);
    if (!node) return std::nullopt;
    const std::string name = "'" + std::string(key) + "'";
    std::optional<std::uint64_t> value;
    if (node->is_integer()) {
      value = static_cast<std::uint64_t>(std::max<std::int64_t>(*node->value<std::int64_t>(), 0));
    } else if (sized && node->is_string()) {
      value = parse_size(*node->value<std::string>());
    }
    if (!value) {
      fail(*node, name + (sized ? " must be a size: bytes, or a string like \"64KiB\", \"25MiB\" or \"10MB\""
                                : " must be a whole number"));
      return std::nullopt;
    }
    if (*value < lo) {
      fail(*node, name + " must be at least " + std::to_string(lo) + (why.empty() ? "" : " (" + std::string(why) + ")"));
      return std::nullopt;
    }
    if (*value > hi) {
      fail(*node, name + " must be at most " + std::to_string(hi));
      return std::nullopt;
    }
    return value;
  }

  static std::optional<std::uint64_t> parse_size(std::string_view text) {
    static constexpr std::pair<std::string_view, std::uint64_t> units[] = {
        {"B", 1},           {"kB", 1'000},        {"KiB", 1ull << 10}, {"MB", 1'000'000},
        {"MiB", 1ull << 20}, {"GB", 1'000'000'000}, {"GiB", 1ull << 30}};
    std::uint64_t value = 0;
    auto [next, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc{} || next == text.data()) return std::nullopt;
    const std::string_view suffix(next, static_cast<std::size_t>(text.data() + text.size() - next));
    for (const auto& [name, scale] : units)
      if (suffix == name) {
        if (value > UINT64_MAX / scale) return std::nullopt;
        return value * scale;
      }
    return std::nullopt;
  }

  void read_domain(const toml::table& t) {
    check_keys(t, "[[domain]]", {"name", "mx", "null_mx", "mailbox_host", "submission_host"});
    DomainSpec domain;
    auto name = string_at(t, "name", true, "[[domain]]");
    if (!name) return;
    domain.name = lower(*name);
    if (!valid_host_name(domain.name)) return fail(*t.get("name"), "'" + *name + "' is not a domain name");
    if (scenario_.find_domain(domain.name)) return fail(*t.get("name"), "domain '" + *name + "' is defined twice");
    if (auto b = bool_at(t, "null_mx")) domain.null_mx = *b;
    if (const toml::node* mx = t.get("mx")) {
      if (domain.null_mx) fail(*mx, "a domain with null_mx = true has no other MX records (RFC 7505 §3)");
      const auto* array = mx->as_array();
      if (!array) {
        fail(*mx, "'mx' must be an array like [ { host = \"mx1.school.test\", preference = 10 } ]");
      } else {
        for (const auto& element : *array) {
          const auto* entry = element.as_table();
          if (!entry) {
            fail(element, "each MX must be a table { host = \"...\", preference = N }");
            continue;
          }
          check_keys(*entry, "an MX entry", {"host", "preference"});
          MxSpec spec;
          if (auto h = string_at(*entry, "host", true, "an MX entry")) spec.host = lower(*h);
          if (auto p = integer_at(*entry, "preference", 0, 65535)) spec.preference = static_cast<std::uint16_t>(*p);
          if (!spec.host.empty()) {
            domain.mx.push_back(spec);
            positions_[spec.host] = position_of(file_, element);
          }
        }
      }
    } else if (!domain.null_mx) {
      domain.mx.push_back(MxSpec{"mail." + domain.name, 10});
    }
    if (auto s = string_at(t, "mailbox_host", false, "")) {
      domain.mailbox_host = lower(*s);
      host_refs_.emplace_back(domain.mailbox_host, position_of(file_, *t.get("mailbox_host")));
    }
    if (auto s = string_at(t, "submission_host", false, "")) {
      domain.submission_host = lower(*s);
      host_refs_.emplace_back(domain.submission_host, position_of(file_, *t.get("submission_host")));
    }
    domain_positions_[domain.name] = position_of(file_, t);
    scenario_.domains.push_back(std::move(domain));
  }

  static bool valid_host_name(std::string_view name) {
    if (name.empty() || name.size() > 253 || name.front() == '.' || name.back() == '.') return false;
    std::size_t label = 0;
    for (char c : name) {
      if (c == '.') {
        if (label == 0) return false;
        label = 0;
        continue;
      }
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-') return false;
      if (++label > 63) return false;
    }
    return true;
  }

  void read_host(const toml::table& t) {
    check_keys(t, "[[host]]", {"name", "address", "kind", "open_relay"});
    HostSpec host;
    auto name = string_at(t, "name", true, "[[host]]");
    if (!name) return;
    host.name = lower(*name);
    if (!valid_host_name(host.name)) return fail(*t.get("name"), "'" + *name + "' is not a host name");
    if (scenario_.find_host(host.name)) return fail(*t.get("name"), "host '" + *name + "' is defined twice");
    if (auto s = string_at(t, "kind", false, "")) {
      if (*s == "mta") host.kind = HostKind::mta;
      else if (*s == "client") host.kind = HostKind::client;
      else fail(*t.get("kind"), "'kind' must be \"mta\" or \"client\"");
    }
    if (auto s = string_at(t, "address", false, "")) {
      auto ip = parse_ipv4(*s);
      if (!ip) fail(*t.get("address"), "'" + *s + "' is not an IPv4 address");
      else {
        host.address = *ip;
        explicit_addresses_[host.name] = position_of(file_, *t.get("address"));
      }
    }
    if (auto b = bool_at(t, "open_relay")) host.open_relay = *b;
    positions_[host.name] = position_of(file_, t);
    scenario_.hosts.push_back(std::move(host));
  }

  void read_user(const toml::table& t) {
    check_keys(t, "[[user]]", {"address", "password", "quota", "aliases", "forward", "keep"});
    UserSpec user;
    auto address = mailbox_at(t, "address", true, "[[user]]");
    if (!address) return;
    user.address = *address;
    if (scenario_.find_user(user.address)) return fail(*t.get("address"), "user '" + *address + "' is defined twice");
    const auto domain = user.address.substr(user.address.find('@') + 1);
    const DomainSpec* d = scenario_.find_domain(domain);
    if (!d) fail(*t.get("address"), "unknown domain '" + domain + "': add a [[domain]] with name = \"" + domain + "\"");
    else if (d->null_mx) fail(*t.get("address"), "domain '" + domain + "' has a null MX and accepts no mail: it has no users");
    if (auto s = string_at(t, "password", true, "[[user]]")) user.password = *s;
    if (const toml::node* quota = t.get("quota")) {
      std::optional<std::uint64_t> bytes;
      if (quota->is_integer() && *quota->value<std::int64_t>() > 0) bytes = *quota->value<std::uint64_t>();
      else if (quota->is_string())
        bytes = parse_scaled(*quota->value<std::string>(), {{"B", 1}, {"kB", 1'000}, {"MB", 1'000'000}, {"GB", 1'000'000'000}});
      if (!bytes || *bytes == 0) fail(*quota, "'quota' must be a size like 2000, \"50kB\" or \"10MB\"");
      else user.quota_bytes = *bytes;
    }
    user.aliases = mailboxes_at(t, "aliases");
    for (const auto& alias : user.aliases) {
      const auto alias_domain = alias.substr(alias.find('@') + 1);
      if (alias_domain != domain) fail(*t.get("aliases"), "alias '" + alias + "' must be in the user's domain " + domain);
    }
    user.forward = mailboxes_at(t, "forward");
    if (auto b = bool_at(t, "keep")) user.keep = *b;
    positions_["user:" + user.address] = position_of(file_, t);
    scenario_.users.push_back(std::move(user));
  }

  void read_mua(const toml::table& t) {
    check_keys(t, "[[mua]]", {"name", "host", "user", "server", "port", "starttls", "auth", "fetch", "fetch_server",
                              "fetch_at", "fetch_every", "keep"});
    MuaSpec mua;
    if (auto u = mailbox_at(t, "user", false, "")) {
      mua.user = *u;
      if (!scenario_.find_user(mua.user)) fail(*t.get("user"), "unknown user '" + mua.user + "': add a [[user]]");
    }
    auto name = string_at(t, "name", mua.user.empty(), "[[mua]] without 'user'");
    if (name) mua.name = *name;
    else if (!mua.user.empty()) mua.name = mua.user.substr(0, mua.user.find('@'));
    if (mua.name.empty()) return;
    if (scenario_.find_mua(mua.name)) return fail(t, "MUA '" + mua.name + "' is defined twice");
    if (auto h = string_at(t, "host", false, "")) mua.host = lower(*h);
    else mua.host = lower(mua.name) + "-pc";
    if (!valid_host_name(mua.host)) fail(t.get("host") ? *t.get("host") : static_cast<const toml::node&>(t), "'" + mua.host + "' is not a host name");
    if (auto s = string_at(t, "server", mua.user.empty(), "[[mua]] without 'user'")) {
      mua.server = lower(*s);
      host_refs_.emplace_back(mua.server, position_of(file_, *t.get("server")));
    }
    if (auto p = integer_at(t, "port", 1, 65535)) mua.port = static_cast<std::uint16_t>(*p);
    if (mua.port != 25 && mua.port != 587 && t.get("port")) fail(*t.get("port"), "'port' must be 25 (MX) or 587 (submission)");
    if (auto b = bool_at(t, "starttls")) mua.starttls = *b;
    if (auto b = bool_at(t, "auth")) mua.auth = *b;
    if (mua.user.empty()) mua.auth = false;
    if (auto s = string_at(t, "fetch", false, "")) {
      if (*s == "pop3") mua.fetch = FetchProtocol::pop3;
      else if (*s == "imap") mua.fetch = FetchProtocol::imap;
      else if (*s == "none") mua.fetch = FetchProtocol::none;
      else fail(*t.get("fetch"), "'fetch' must be \"pop3\", \"imap\" or \"none\"");
      if (mua.fetch != FetchProtocol::none && mua.user.empty()) fail(*t.get("fetch"), "a MUA without 'user' cannot fetch");
    }
    if (auto s = string_at(t, "fetch_server", false, "")) {
      mua.fetch_server = lower(*s);
      host_refs_.emplace_back(mua.fetch_server, position_of(file_, *t.get("fetch_server")));
    }
    if (const toml::node* at_node = t.get("fetch_at")) {
      const auto* array = at_node->as_array();
      if (!array) fail(*at_node, "'fetch_at' must be an array of times like [\"5m\", \"2h\"]");
      else
        for (const auto& element : *array)
          if (auto d = duration_of(element, "fetch_at")) {
            check_time(element, *d, "fetch_at");
            mua.fetch_at.push_back(*d);
          }
    }
    if (auto d = duration_at(t, "fetch_every", false, "")) {
      if (d->count() <= 0) fail(*t.get("fetch_every"), "'fetch_every' must be longer than 0s");
      else mua.fetch_every = *d;
    }
    if ((t.get("fetch_at") || t.get("fetch_every")) && mua.fetch == FetchProtocol::none)
      fail(t, "MUA '" + mua.name + "' has a fetch schedule but no 'fetch' protocol");
    if (auto b = bool_at(t, "keep")) {
      mua.keep = *b;
      if (!mua.keep && mua.fetch == FetchProtocol::imap)
        fail(*t.get("keep"), "an IMAP client leaves mail on the server: 'keep = false' is for fetch = \"pop3\"");
    } else if (mua.fetch == FetchProtocol::pop3) {
      mua.keep = false;
    }
    positions_["mua:" + mua.name] = position_of(file_, t);
    scenario_.muas.push_back(std::move(mua));
  }

  void check_time(const toml::node& node, Duration d, std::string_view key) {
    if (d > scenario_.until)
      fail(node, "'" + std::string(key) + "' = " + format_duration(d) + " is after the end of the run (until = " +
                     format_duration(scenario_.until) + ")");
  }

  void read_message(const toml::table& t) {
    check_keys(t, "[[message]]", {"id", "at", "mua", "from", "to", "cc", "bcc", "subject", "body", "attachments"});
    MessageSpec message;
    message.id = "m" + std::to_string(scenario_.messages.size() + 1);
    if (auto s = string_at(t, "id", false, "")) {
      message.id = *s;
      const bool dot_atom = !s->empty() && std::all_of(s->begin(), s->end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_';
      });
      if (!dot_atom) fail(*t.get("id"), "'id' may hold only letters, digits, '.', '-' and '_'");
    }
    for (std::size_t n = message_ids_[message.id]++; n > 0; --n)
      fail(t, "message id '" + message.id + "' is used twice");
    if (auto d = duration_at(t, "at", true, "[[message]]")) {
      message.at = *d;
      check_time(*t.get("at"), *d, "at");
    }
    if (auto f = mailbox_at(t, "from", true, "[[message]]")) message.from = *f;
    if (auto s = string_at(t, "mua", false, "")) {
      message.mua = *s;
      mua_refs_.emplace_back(message.mua, position_of(file_, *t.get("mua")));
    } else if (!message.from.empty()) {
      mua_for_sender_.emplace_back(scenario_.messages.size(), position_of(file_, *t.get("from")));
    }
    message.to = mailboxes_at(t, "to");
    message.cc = mailboxes_at(t, "cc");
    message.bcc = mailboxes_at(t, "bcc");
    if (message.to.empty() && message.cc.empty() && message.bcc.empty())
      fail(t, "[[message]] needs at least one recipient in 'to', 'cc' or 'bcc'");
    if (auto s = string_at(t, "subject", true, "[[message]]")) message.subject = *s;
    if (auto s = string_at(t, "body", false, "")) message.body = *s;
    if (const toml::node* attachments = t.get("attachments")) {
      const auto* array = attachments->as_array();
      if (!array) fail(*attachments, "'attachments' must be an array of tables { name, content, type }");
      else
        for (const auto& element : *array) {
          const auto* a = element.as_table();
          if (!a) {
            fail(element, "each attachment must be a table { name = \"...\", content = \"...\" }");
            continue;
          }
          check_keys(*a, "an attachment", {"name", "content", "type"});
          AttachmentSpec spec;
          if (auto s = string_at(*a, "name", true, "an attachment")) spec.name = *s;
          if (auto s = string_at(*a, "content", true, "an attachment")) spec.content = *s;
          if (auto s = string_at(*a, "type", false, "")) spec.content_type = *s;
          message.attachments.push_back(std::move(spec));
        }
    }
    scenario_.messages.push_back(std::move(message));
  }

  void read_fault(const toml::table& t) {
    check_keys(t, "[[fault]]", {"kind", "at", "until", "host", "peer", "latency", "loss", "bandwidth", "delay",
                                "user", "stage", "code", "text", "port"});
    FaultSpec fault;
    auto kind = string_at(t, "kind", true, "[[fault]]");
    if (!kind) return;
    static constexpr std::pair<std::string_view, FaultKind> kinds[] = {
        {"host_down", FaultKind::host_down}, {"link", FaultKind::link},        {"partition", FaultKind::partition},
        {"greylist", FaultKind::greylist},   {"mailbox_full", FaultKind::mailbox_full}, {"reply", FaultKind::reply}};
    bool known = false;
    for (auto [n, k] : kinds)
      if (n == *kind) {
        fault.kind = k;
        known = true;
      }
    if (!known)
      return fail(*t.get("kind"), "unknown fault kind '" + *kind +
                                      "' (known: host_down, link, partition, greylist, mailbox_full, reply)");
    auto allow_only = [&](std::initializer_list<std::string_view> keys) {
      for (const auto& [key, node] : t) {
        const bool common = key.str() == "kind" || key.str() == "at" || key.str() == "until";
        if (!common && std::find(keys.begin(), keys.end(), key.str()) == keys.end())
          fail(key.source(), "'" + std::string(key.str()) + "' does not apply to a " + *kind + " fault");
      }
    };
    if (auto d = duration_at(t, "at", false, "")) {
      fault.at = *d;
      check_time(*t.get("at"), *d, "at");
    }
    if (auto d = duration_at(t, "until", false, "")) {
      fault.until = *d;
      if (*d <= fault.at)
        fail(*t.get("until"), "the fault ends (until = " + format_duration(*d) + ") before it starts (at = " +
                                  format_duration(fault.at) + ")");
    }
    auto host_ref = [&](std::string_view key, std::string& into) {
      if (auto s = string_at(t, key, true, "a " + *kind + " fault")) {
        into = lower(*s);
        host_refs_.emplace_back(into, position_of(file_, *t.get(key)));
      }
    };
    switch (fault.kind) {
      case FaultKind::host_down:
        allow_only({"host"});
        host_ref("host", fault.host);
        break;
      case FaultKind::partition:
        allow_only({"host", "peer"});
        host_ref("host", fault.host);
        host_ref("peer", fault.peer);
        fault.link.cut = true;
        break;
      case FaultKind::link:
        allow_only({"host", "peer", "latency", "loss", "bandwidth"});
        host_ref("host", fault.host);
        host_ref("peer", fault.peer);
        if (auto l = read_link_options(t, scenario_.default_link)) fault.link = *l;
        break;
      case FaultKind::greylist:
        allow_only({"host", "delay"});
        host_ref("host", fault.host);
        if (auto d = duration_at(t, "delay", false, "")) fault.greylist_delay = *d;
        break;
      case FaultKind::mailbox_full:
        allow_only({"user"});
        if (auto u = mailbox_at(t, "user", true, "a mailbox_full fault")) {
          fault.user = *u;
          if (!scenario_.find_user(*u)) fail(*t.get("user"), "unknown user '" + *u + "'");
        }
        break;
      case FaultKind::reply: {
        allow_only({"host", "stage", "code", "text", "port"});
        host_ref("host", fault.host);
        if (auto s = string_at(t, "stage", true, "a reply fault")) {
          static constexpr std::pair<std::string_view, ReplyStage> stages[] = {
              {"connect", ReplyStage::connect}, {"ehlo", ReplyStage::ehlo}, {"mail", ReplyStage::mail},
              {"rcpt", ReplyStage::rcpt},       {"data", ReplyStage::data}};
          bool found = false;
          for (auto [n, st] : stages)
            if (n == *s) {
              fault.stage = st;
              found = true;
            }
          if (!found) fail(*t.get("stage"), "'stage' must be connect, ehlo, mail, rcpt or data");
        }
        if (!t.get("code")) fail(t, "a reply fault needs 'code' (a 4xx or 5xx reply)");
        if (auto c = integer_at(t, "code", 400, 599)) fault.code = static_cast<int>(*c);
        if (auto s = string_at(t, "text", false, "")) fault.text = *s;
        if (auto p = integer_at(t, "port", 1, 65535)) fault.port = static_cast<std::uint16_t>(*p);
        break;
      }
    }
    scenario_.faults.push_back(std::move(fault));
  }

  void read_expect(const toml::table& t) {
    check_keys(t, "[[expect]]", {"kind", "user", "to", "folder", "count", "subject", "message", "through", "host",
                                 "contains", "absent", "mua"});
    ExpectSpec expect;
    expect.where = position_of(file_, t);
    auto kind = string_at(t, "kind", true, "[[expect]]");
    if (!kind) return;
    static constexpr std::pair<std::string_view, ExpectKind> kinds[] = {
        {"mailbox", ExpectKind::mailbox},         {"bounce", ExpectKind::bounce},
        {"route", ExpectKind::route},             {"queue_empty", ExpectKind::queue_empty},
        {"transcript", ExpectKind::transcript},   {"fetched", ExpectKind::fetched}};
    bool known = false;
    for (auto [n, k] : kinds)
      if (n == *kind) {
        expect.kind = k;
        known = true;
      }
    if (!known)
      return fail(*t.get("kind"), "unknown expectation kind '" + *kind +
                                      "' (known: mailbox, bounce, route, queue_empty, transcript, fetched)");
    auto allow_only = [&](std::initializer_list<std::string_view> keys) {
      for (const auto& [key, node] : t)
        if (key.str() != "kind" && std::find(keys.begin(), keys.end(), key.str()) == keys.end())
          fail(key.source(), "'" + std::string(key.str()) + "' does not apply to a " + *kind + " expectation");
    };
    auto user_ref = [&](std::string_view key) {
      if (auto u = mailbox_at(t, key, true, "a " + *kind + " expectation")) {
        expect.user = *u;
        if (!scenario_.find_user(*u)) fail(*t.get(key), "unknown user '" + *u + "'");
      }
    };
    if (auto c = integer_at(t, "count", 0, 1'000'000)) expect.count = static_cast<std::uint32_t>(*c);
    if (auto s = string_at(t, "subject", false, "")) expect.subject = *s;
    switch (expect.kind) {
      case ExpectKind::mailbox:
        allow_only({"user", "folder", "count", "subject"});
        user_ref("user");
        if (auto s = string_at(t, "folder", false, "")) expect.folder = *s;
        if (!expect.count && !expect.subject) fail(t, "a mailbox expectation needs 'count' or 'subject'");
        break;
      case ExpectKind::bounce:
        allow_only({"to", "count", "subject"});
        user_ref("to");
        break;
      case ExpectKind::route:
        allow_only({"message", "through"});
        if (auto s = string_at(t, "message", true, "a route expectation")) {
          expect.message = *s;
          message_refs_.emplace_back(*s, position_of(file_, *t.get("message")));
        }
        if (auto s = string_at(t, "through", true, "a route expectation")) {
          expect.host = lower(*s);
          host_refs_.emplace_back(expect.host, position_of(file_, *t.get("through")));
        }
        break;
      case ExpectKind::queue_empty:
        allow_only({"host"});
        if (auto s = string_at(t, "host", false, "")) {
          expect.host = lower(*s);
          host_refs_.emplace_back(expect.host, position_of(file_, *t.get("host")));
        }
        break;
      case ExpectKind::transcript:
        allow_only({"contains", "absent"});
        if (auto s = string_at(t, "contains", true, "a transcript expectation")) expect.contains = *s;
        if (auto b = bool_at(t, "absent")) expect.negate = *b;
        break;
      case ExpectKind::fetched:
        allow_only({"mua", "count", "subject"});
        if (auto s = string_at(t, "mua", true, "a fetched expectation")) {
          expect.mua = *s;
          mua_refs_.emplace_back(*s, position_of(file_, *t.get("mua")));
        }
        if (!expect.count && !expect.subject) fail(t, "a fetched expectation needs 'count' or 'subject'");
        break;
    }
    scenario_.expects.push_back(std::move(expect));
  }

  // --- completion: implicit hosts, MUAs and addresses; cross references ----------
  void add_implicit_host(const std::string& name, HostKind kind) {
    if (scenario_.find_host(name)) return;
    scenario_.hosts.push_back(HostSpec{name, Ipv4{}, kind, false});
  }

  void complete() {
    for (auto& domain : scenario_.domains) {
      std::stable_sort(domain.mx.begin(), domain.mx.end(),
                       [](const MxSpec& a, const MxSpec& b) { return a.preference < b.preference; });
      for (const auto& mx : domain.mx) add_implicit_host(mx.host, HostKind::mta);
      if (domain.null_mx) continue;
      if (domain.mailbox_host.empty()) domain.mailbox_host = domain.mx.empty() ? domain.name : domain.mx.front().host;
      if (domain.mx.empty()) add_implicit_host(domain.name, HostKind::mta);
      if (domain.submission_host.empty()) domain.submission_host = domain.mailbox_host;
    }
    add_implicit_host(scenario_.dns_host, HostKind::dns);
    for (const auto& user : scenario_.users) {
      bool has_mua = false;
      for (const auto& mua : scenario_.muas) has_mua = has_mua || mua.user == user.address;
      if (has_mua) continue;
      MuaSpec mua;
      mua.user = user.address;
      mua.name = user.address.substr(0, user.address.find('@'));
      if (scenario_.find_mua(mua.name)) mua.name = user.address;
      mua.host = lower(mua.name.substr(0, mua.name.find('@'))) + "-pc";
      if (scenario_.find_host(mua.host)) mua.host = lower(user.address.substr(0, user.address.find('@'))) + "-pc." +
                                                    user.address.substr(user.address.find('@') + 1);
      scenario_.muas.push_back(std::move(mua));
    }
    for (auto& mua : scenario_.muas) {
      const DomainSpec* domain =
          mua.user.empty() ? nullptr : scenario_.find_domain(mua.user.substr(mua.user.find('@') + 1));
      if (mua.server.empty() && domain) mua.server = domain->submission_host;
      if (mua.fetch_server.empty() && domain) mua.fetch_server = domain->mailbox_host;
      const HostSpec* existing = scenario_.find_host(mua.host);
      if (existing && existing->kind != HostKind::client)
        fail_at(positions_["mua:" + mua.name], "MUA '" + mua.name + "' runs on '" + mua.host + "', which is an MTA");
      add_implicit_host(mua.host, HostKind::client);
    }
    for (const auto& [host, where] : host_refs_)
      if (!scenario_.find_host(host)) fail_at(where, "unknown host '" + host + "'");
    // Indexes, not a scan of every MUA per [[message]] (10,000 of them in the bench).
    std::set<std::string_view> mua_names;
    std::map<std::string_view, std::string_view> first_mua_of_user;
    for (const auto& mua : scenario_.muas) {
      mua_names.insert(mua.name);
      first_mua_of_user.emplace(mua.user, mua.name);
    }
    for (const auto& [mua, where] : mua_refs_)
      if (!mua_names.contains(mua)) fail_at(where, "unknown MUA '" + mua + "'");
    for (const auto& [id, where] : message_refs_) {
      bool found = false;
      for (const auto& m : scenario_.messages) found = found || m.id == id;
      if (!found) fail_at(where, "unknown message '" + id + "' (messages are named by their 'id', m1, m2, ...)");
    }
    for (const auto& [index, where] : mua_for_sender_) {
      auto& message = scenario_.messages[index];
      if (auto sender = first_mua_of_user.find(message.from); sender != first_mua_of_user.end() && message.mua.empty())
        message.mua = std::string(sender->second);
      if (message.mua.empty())
        fail_at(where, "nobody sends as '" + message.from + "': add a [[user]] for it or name a [[mua]] with mua = ...");
    }
    for (const auto& domain : scenario_.domains) {
      if (domain.null_mx) continue;
      const HostSpec* box = scenario_.find_host(domain.mailbox_host);
      if (box && box->kind != HostKind::mta)
        fail_at(domain_positions_[domain.name], "domain '" + domain.name + "' keeps its mailboxes on '" +
                                                    domain.mailbox_host + "', which is not an MTA");
    }
    assign_addresses();
  }

  void fail_at(const SourcePosition& where, std::string message) {
    errors_.push_back(Error{ErrorCategory::parse, std::move(message), where});
  }

  void assign_addresses() {
    std::set<Ipv4> used;
    for (const auto& host : scenario_.hosts)
      if (explicit_addresses_.count(host.name)) {
        if (!used.insert(host.address).second)
          fail_at(explicit_addresses_[host.name], "address " + format_ipv4(host.address) + " is used twice");
      }
    std::uint8_t next_mta = 10, next_client = 10;
    for (auto& host : scenario_.hosts) {
      if (explicit_addresses_.count(host.name)) continue;
      if (host.kind == HostKind::dns && !used.count(Ipv4{192, 0, 2, 53})) host.address = Ipv4{192, 0, 2, 53};
      else if (host.kind == HostKind::client) {
        do host.address = Ipv4{198, 51, 100, next_client++};
        while (used.count(host.address));
      } else {
        do host.address = Ipv4{192, 0, 2, next_mta++};
        while (used.count(host.address) || host.address == Ipv4{192, 0, 2, 53});
      }
      used.insert(host.address);
    }
  }

  std::string file_;
  Scenario scenario_;
  std::vector<Error> errors_;
  std::map<std::string, SourcePosition> positions_;
  std::map<std::string, SourcePosition> domain_positions_;
  std::map<std::string, SourcePosition> explicit_addresses_;
  std::vector<std::pair<std::string, SourcePosition>> host_refs_;
  std::vector<std::pair<std::string, SourcePosition>> mua_refs_;
  std::vector<std::pair<std::string, SourcePosition>> message_refs_;
  std::vector<std::pair<std::size_t, SourcePosition>> mua_for_sender_;
  std::map<std::string, std::size_t> message_ids_;  // [[message]]s so far with each id
};

}  // namespace

ScenarioLoad load_scenario(std::string_view text, std::string_view file) {
  return Loader(std::string(file)).run(text);
}

ScenarioLoad load_scenario_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    ScenarioLoad out;
    out.errors.push_back(make_error(ErrorCategory::io, path + ": cannot read the file"));
    return out;
  }
  // Read in large blocks into one string (a stringstream grows by doubling and
  // then copies the whole text out once more; works for pipes too).
  std::string text;
  std::array<char, 1 << 16> block;
  while (in.read(block.data(), block.size()) || in.gcount() > 0)
    text.append(block.data(), static_cast<std::size_t>(in.gcount()));
  return load_scenario(text, path);
}

}  // namespace maillab::sim
