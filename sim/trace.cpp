#include "sim/trace.hpp"


#include <nlohmann/json.hpp>

#include "net/core/decimal.hpp"

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

namespace {

void append_clock(std::string& out, Instant t) {
  const std::int64_t ms = t.us / 1000;
  net::append_decimal(out, ms / 3'600'000, 2);
  out += ':';
  net::append_decimal(out, ms / 60'000 % 60, 2);
  out += ':';
  net::append_decimal(out, ms / 1000 % 60, 2);
  out += '.';
  net::append_decimal(out, ms % 1000, 3);
}

void append_upper(std::string& out, std::string_view text) {
  for (char c : text) out += (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c;
}

void append_label(std::string& out, const TraceEvent& event) {
  if (event.kind == TraceKind::line || event.kind == TraceKind::dns) {
    if (event.proto == "submission") out += "SMTP";
    else append_upper(out, event.proto);
    if (event.tls) out += "/TLS";
    return;
  }
  append_upper(out, to_string(event.kind));
}

}  // namespace

std::string format_clock(Instant t) {
  std::string out;
  append_clock(out, t);
  return out;
}

void Trace::append_transcript_line(std::string& out, const TraceEvent& event) {
  out += '[';
  append_clock(out, event.t);
  out += "] ";
  out += event.src;
  if (!event.dst.empty()) {
    out += " -> ";
    out += event.dst;
  }
  out += "  ";
  append_label(out, event);
  out += "  ";
  if (event.dir != 0) {
    out += event.dir;
    out += ": ";
  }
  out += event.text;
}

std::string Trace::transcript_line(const TraceEvent& event) {
  std::string out;
  out.reserve(64 + event.src.size() + event.dst.size() + event.text.size());
  append_transcript_line(out, event);
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

void Trace::watch(std::string needle) {
  for (const auto& [watched, hits] : watches_)
    if (watched == needle) return;
  watches_.emplace_back(std::move(needle), 0);
}

std::size_t Trace::matches(std::string_view needle) const {
  for (const auto& [watched, hits] : watches_)
    if (watched == needle) return hits;
  return 0;
}

void Trace::add(TraceEvent event) {
  if (event.kind == TraceKind::line) ++protocol_lines_;
  if (transcript_ || !watches_.empty()) {
    line_.clear();
    append_transcript_line(line_, event);
    for (auto& [needle, hits] : watches_)
      if (line_.find(needle) != std::string::npos) ++hits;
    if (transcript_) {
      line_ += '\n';
      transcript_->write(line_.data(), static_cast<std::streamsize>(line_.size()));
    }
  }
  for (const auto& listener : listeners_) listener(event);
  if (keep_) events_.push_back(std::move(event));
}

}  // namespace maillab::sim
