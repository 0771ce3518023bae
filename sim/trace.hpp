// The trace: every observable thing that happens in the world, in order.
//
// Theory of operation.  Roles append TraceEvents as they happen; the trace
// prints each one at once as a transcript line when a transcript stream is set,
// hands it to every listener (a JSON Lines file written as the run goes, the
// studio's live view), counts the transcript lines that contain each watched
// text (the [[expect]] kind = "transcript" checks) and, unless set_keep(false),
// keeps it (the studio and the golden tests read the kept events).  With
// set_keep(false) memory stays flat however long the run.
// The two renderings are fixed by CONTRACT.md:
//   transcript   [HH:MM:SS.mmm] src -> dst  PROTO  C: line
//                (PROTO/TLS for lines that travelled inside TLS: shown in clear,
//                marked as encrypted; events without a peer print
//                [HH:MM:SS.mmm] host  KIND  text)
//   JSON Lines   {"t":..,"kind":..,"src":..,"dst":..,"proto":..,"dir":..,"text":..,"msg":..}
//                then, only where they apply, the studio's fields:
//                "user"        deliver, fetch: the mailbox owner's address
//                "action"      queue: "enqueue" | "retry" | "dequeue" | "expired";
//                              fault: "down" | "up" (the host is "src");
//                              fetch: "delete" (a POP3 client deleted it)
//                "next_retry"  queue: simulated seconds of the next attempt
//                "data"        deliver: the message as stored (CRLF line ends)
// `t` counts simulated seconds from the start of the scenario.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "net/core/time.hpp"

namespace maillab::sim {

enum class TraceKind : std::uint8_t { line, dns, connect, close, tls, queue, deliver, bounce, fetch, fault };
std::string_view to_string(TraceKind kind);

struct TraceEvent {
  TraceEvent() = default;
  TraceEvent(Instant at, TraceKind what, std::string from, std::string to, std::string protocol, char direction,
             std::string line, bool in_tls, std::string message_id)
      : t(at),
        kind(what),
        src(std::move(from)),
        dst(std::move(to)),
        proto(std::move(protocol)),
        dir(direction),
        text(std::move(line)),
        tls(in_tls),
        msg(std::move(message_id)) {}

  Instant t{};
  TraceKind kind = TraceKind::line;
  std::string src;
  std::string dst;    // empty for events that happen on one host
  std::string proto;  // smtp, submission, local, pop3, imap, dns, tcp
  char dir = 0;       // 'C' or 'S' for lines and DNS; 0 otherwise
  std::string text;
  bool tls = false;
  std::string msg;    // the Message-ID, without angle brackets, when about one message
  // Optional fields (see the theory of operation); empty/nullopt: not written.
  std::string user;
  std::string action;
  std::optional<Instant> next_retry;
  std::string data;
};

// "00:05:03.120" from the start of the world.
std::string format_clock(Instant t);

class Trace {
 public:
  using Listener = std::function<void(const TraceEvent&)>;

  void set_transcript(std::ostream* out) { transcript_ = out; }
  // Hears every event as it is added (a JSONL file written as the run goes,
  // the studio's live view).
  void add_listener(Listener listener) { listeners_.push_back(std::move(listener)); }
  // false: events go to the transcript and the listeners only, so memory stays
  // flat however long the run (`maillab run --quiet`, `maillab serve`).
  void set_keep(bool keep) { keep_ = keep; }
  // From now on, counts the transcript lines that contain `needle`.
  void watch(std::string needle);
  // How many transcript lines contained `needle` since watch(needle); 0 when
  // it is not watched.
  [[nodiscard]] std::size_t matches(std::string_view needle) const;
  void add(TraceEvent event);
  // Would add() do anything beyond counting?  false: nobody keeps, prints,
  // watches or listens, so a caller may skip building the event and call
  // count_line() for a protocol line instead.
  [[nodiscard]] bool wants_events() const {
    return keep_ || transcript_ != nullptr || !listeners_.empty() || !watches_.empty();
  }
  void count_line() { ++protocol_lines_; }
  void count_lines(std::uint64_t lines) { protocol_lines_ += lines; }
  [[nodiscard]] const std::vector<TraceEvent>& events() const { return events_; }
  [[nodiscard]] std::uint64_t protocol_lines() const { return protocol_lines_; }

  static std::string transcript_line(const TraceEvent& event);
  // Appends the transcript line (without a line end) to `out`.
  static void append_transcript_line(std::string& out, const TraceEvent& event);
  static std::string json_line(const TraceEvent& event);

 private:
  std::vector<TraceEvent> events_;
  std::vector<Listener> listeners_;
  std::vector<std::pair<std::string, std::size_t>> watches_;  // needle, lines that contained it
  std::string line_;  // the transcript line being written, reused
  std::ostream* transcript_ = nullptr;
  bool keep_ = true;
  std::uint64_t protocol_lines_ = 0;
};

}  // namespace maillab::sim
