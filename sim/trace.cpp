#include "sim/trace.hpp"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

namespace maillab::sim {

std::string_view to_string(TraceKind kind) {
  switch (kind) {
    case TraceKind::line: return "line";
    case TraceKind::dns: return "dns";
    case TraceKind::connect: return "connect";
    case TraceKind::close: return "close";
    case TraceKind::tls: return "tls";
    case TraceKind::queue: return "queue";
    case TraceKind::deliver: return "deliver";
    case TraceKind::bounce: return "bounce";
    case TraceKind::fetch: return "fetch";
    case TraceKind::fault: return "fault";
  }
  return "?";
}

std::string format_clock(Instant t) {
  const std::int64_t ms = t.us / 1000;
  return fmt::format("{:02}:{:02}:{:02}.{:03}", ms / 3'600'000, ms / 60'000 % 60, ms / 1000 % 60, ms % 1000);
}

namespace {

std::string upper(std::string_view text) {
  std::string out(text);
  for (auto& c : out)
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  return out;
}

std::string label(const TraceEvent& event) {
  if (event.kind == TraceKind::line || event.kind == TraceKind::dns) {
    std::string proto = event.proto == "submission" ? "SMTP" : upper(event.proto);
    return event.tls ? proto + "/TLS" : proto;
  }
  return upper(to_string(event.kind));
}

}  // namespace

std::string Trace::transcript_line(const TraceEvent& event) {
  std::string out = "[" + format_clock(event.t) + "] " + event.src;
  if (!event.dst.empty()) out += " -> " + event.dst;
  out += "  " + label(event) + "  ";
  if (event.dir != 0) {
    out += event.dir;
    out += ": ";
  }
  out += event.text;
  return out;
}

std::string Trace::json_line(const TraceEvent& event) {
  nlohmann::ordered_json j;
  j["t"] = static_cast<double>(event.t.us) / 1e6;
  j["kind"] = to_string(event.kind);
  j["src"] = event.src;
  j["dst"] = event.dst;
  j["proto"] = event.proto;
  if (event.dir != 0) j["dir"] = std::string(1, event.dir);
  j["text"] = event.text;
  if (event.tls) j["tls"] = true;
  if (!event.msg.empty()) j["msg"] = event.msg;
  if (!event.user.empty()) j["user"] = event.user;
  if (!event.action.empty()) j["action"] = event.action;
  if (event.next_retry) j["next_retry"] = static_cast<double>(event.next_retry->us) / 1e6;
  if (!event.data.empty()) j["data"] = event.data;
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

void Trace::add(TraceEvent event) {
  if (event.kind == TraceKind::line) ++protocol_lines_;
  if (transcript_) *transcript_ << transcript_line(event) << '\n';
  for (const auto& listener : listeners_) listener(event);
  if (keep_) events_.push_back(std::move(event));
}

}  // namespace maillab::sim
