// The studio's only input: the trace that `maillab run --trace` writes (JSON
// Lines, CONTRACT.md), loaded once into an append-only vector with indexes
// for the panels.  The studio never reaches into engines; everything it shows
// at a moment is derived from this trace (see snapshot.hpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "net/core/result.hpp"

namespace maillab::ui {

enum class EventKind : std::uint8_t { line, dns, connect, close, tls, queue, deliver, bounce, fetch, fault, other };

struct TraceEvent {
  double t = 0;  // simulated seconds
  EventKind kind = EventKind::other;
  std::string src;
  std::string dst;
  std::string proto;
  char dir = 0;  // 'C' or 'S' for line events
  std::string text;
  std::string msg;  // Message-ID when the event is about one message
  bool tls = false;
  nlohmann::json extra;  // every other field, as written
};

struct Trace {
  std::vector<TraceEvent> events;        // in trace order (time, then sequence)
  std::vector<std::string> hosts;        // in order of first appearance
  std::vector<std::string> messages;     // Message-IDs, in order of first appearance

  // Adds one event at the end (a loaded file, or a live run as it happens) and
  // keeps the host and message lists; false when it would go back in time.
  bool append(TraceEvent event);

  [[nodiscard]] double end_time() const { return events.empty() ? 0.0 : events.back().t; }
  // Index of the first event after time t (so [0, index) have happened at t).
  [[nodiscard]] std::size_t index_at(double t) const;
  [[nodiscard]] std::size_t host_index(std::string_view host) const;  // hosts.size() when absent
  [[nodiscard]] std::size_t message_index(std::string_view msg) const;

 private:
  // Name -> position in hosts / messages: lookups only, never iterated.
  std::unordered_map<std::string, std::size_t> host_ids_;
  std::unordered_map<std::string, std::size_t> message_ids_;
};

EventKind parse_kind(std::string_view kind);
std::string_view kind_name(EventKind kind);

// Parses JSON Lines; an error names the line ("trace:12: ...").
Result<Trace> parse_trace(std::string_view jsonl);
// One JSON Lines event (line_number only for the error's position).
Result<TraceEvent> parse_event(std::string_view line, std::uint32_t line_number);

}  // namespace maillab::ui
