#include "ui/model/trace.hpp"

#include <algorithm>
#include <array>

namespace maillab::ui {
namespace {

constexpr std::array<std::string_view, 11> kind_names{"line",   "dns",   "connect", "close", "tls",  "queue",
                                                      "deliver", "bounce", "fetch", "fault", "other"};

std::string string_field(const nlohmann::json& object, const char* key) {
  const auto it = object.find(key);
  if (it == object.end() || !it->is_string()) return {};
  return it->get<std::string>();
}

void remember(std::vector<std::string>& list, std::unordered_map<std::string, std::size_t>& ids,
              const std::string& value) {
  if (value.empty()) return;
  if (ids.try_emplace(value, list.size()).second) list.push_back(value);
}

}  // namespace

EventKind parse_kind(std::string_view kind) {
  for (std::size_t i = 0; i < kind_names.size(); ++i) {
    if (kind_names[i] == kind) return static_cast<EventKind>(i);
  }
  return EventKind::other;
}

std::string_view kind_name(EventKind kind) { return kind_names[static_cast<std::size_t>(kind)]; }

std::size_t Trace::index_at(double t) const {
  const auto it = std::upper_bound(events.begin(), events.end(), t,
                                   [](double time, const TraceEvent& e) { return time < e.t; });
  return static_cast<std::size_t>(it - events.begin());
}

std::size_t Trace::host_index(std::string_view host) const {
  const auto it = host_ids_.find(std::string(host));
  return it == host_ids_.end() ? hosts.size() : it->second;
}

std::size_t Trace::message_index(std::string_view msg) const {
  const auto it = message_ids_.find(std::string(msg));
  return it == message_ids_.end() ? messages.size() : it->second;
}

bool Trace::append(TraceEvent event) {
  if (!events.empty() && event.t < events.back().t) return false;
  // Deliveries and fetches name a mailbox as their destination, not a host.
  remember(hosts, host_ids_, event.src);
  if (event.kind == EventKind::line || event.kind == EventKind::dns || event.kind == EventKind::connect ||
      event.kind == EventKind::close || event.kind == EventKind::tls) {
    remember(hosts, host_ids_, event.dst);
  }
  remember(messages, message_ids_, event.msg);
  events.push_back(std::move(event));
  return true;
}

Result<TraceEvent> parse_event(std::string_view line, std::uint32_t line_number) {
  auto object = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (object.is_discarded() || !object.is_object()) {
    return Error{ErrorCategory::parse, "not a JSON object", {"trace", line_number, 1}};
  }
  const auto t = object.find("t");
  const auto kind = object.find("kind");
  if (t == object.end() || !t->is_number() || kind == object.end() || !kind->is_string()) {
    return Error{ErrorCategory::parse, "an event needs a numeric \"t\" and a string \"kind\"", {"trace", line_number, 1}};
  }
  TraceEvent event;
  event.t = t->get<double>();
  event.kind = parse_kind(kind->get<std::string>());
  event.src = string_field(object, "src");
  event.dst = string_field(object, "dst");
  event.proto = string_field(object, "proto");
  const auto dir = string_field(object, "dir");
  event.dir = dir.empty() ? '\0' : dir.front();
  event.text = string_field(object, "text");
  event.msg = string_field(object, "msg");
  if (const auto tls = object.find("tls"); tls != object.end() && tls->is_boolean()) event.tls = tls->get<bool>();
  for (const char* known : {"t", "kind", "src", "dst", "proto", "dir", "text", "msg", "tls"}) object.erase(known);
  event.extra = std::move(object);
  return event;
}

Result<Trace> parse_trace(std::string_view jsonl) {
  Trace trace;
  std::uint32_t line_number = 0;
  while (!jsonl.empty()) {
    ++line_number;
    const auto newline = jsonl.find('\n');
    auto line = jsonl.substr(0, newline);
    jsonl = newline == std::string_view::npos ? std::string_view{} : jsonl.substr(newline + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) continue;
    auto event = parse_event(line, line_number);
    if (!event) return event.error();
    if (!trace.append(std::move(event).value())) {
      return Error{ErrorCategory::parse, "time goes backwards", {"trace", line_number, 1}};
    }
  }
  return trace;
}

}  // namespace maillab::ui
