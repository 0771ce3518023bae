// Live mode (`maillab-studio --live`, issue 6): the lab server runs in the
// studio's process and its world's trace grows while the class watches.
//
// Theory of operation.  One thread.  The studio's frame loop asks the lab
// (LiveLab, implemented in app/ over the server's asio::io_context) to run
// whatever is due, then drains the events the world's trace listener handed
// to the LiveFeed into the live lesson: the same Trace, indexes and
// snapshots as a replayed lesson, so every panel shows real sessions and the
// hops their mail causes.  The playhead follows the present
// (advance_live) unless the teacher moves it; playing on from there catches
// up and follows again.  Live stepping: a session the teacher holds keeps
// the server's replies back; Step releases one line, Release lets it run
// (net/io/tcp_server.hpp does it; LiveLab only passes the request on).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "ui/model/lesson.hpp"
#include "ui/model/view_state.hpp"

namespace maillab::sim {
struct TraceEvent;
}

namespace maillab::ui {

// One real client's open connection.
struct LiveSession {
  std::uint64_t id = 0;
  std::string service;  // "smtp", "submission", "imaps", ...
  std::string client;   // "127.0.0.1:51234", as the trace names it
  bool held = false;
  std::size_t held_lines = 0;  // server reply lines waiting for Step
};

// The lab server as the studio sees it (no Asio here: app/ implements it).
class LiveLab {
 public:
  virtual ~LiveLab() = default;
  // Runs the server's ready handlers; waits up to wait_s for one when none is.
  virtual void poll(double wait_s) = 0;
  // Seconds since the lab started: the trace's clock.
  [[nodiscard]] virtual double now_s() const = 0;
  [[nodiscard]] virtual std::vector<LiveSession> sessions() const = 0;
  // False for a session that is gone; step() is false too when nothing is held.
  virtual bool hold(std::uint64_t id, bool held) = 0;
  virtual bool step(std::uint64_t id) = 0;
  // Holds every session from its first reply (a greeting goes out at once,
  // before anyone could press Hold on a quick client such as swaks).
  virtual void set_hold_new(bool hold) = 0;
  [[nodiscard]] virtual bool hold_new() const = 0;
};

// Events heard from the world's trace listener, kept until the next frame.
class LiveFeed {
 public:
  void add(const sim::TraceEvent& event);
  // Appends the waiting events to the lesson (an event stamped before the
  // last one is kept, at the last one's time) and indexes them; returns how
  // many were added.
  std::size_t drain_into(Lesson& lesson);
  [[nodiscard]] std::size_t waiting() const { return pending_.size(); }

  // The last protocol line of each real client ("127.0.0.1:51234"), as an
  // index into the lesson's trace, for the live panel.
  [[nodiscard]] const TraceEvent* last_line(const Lesson& lesson, const std::string& client) const;
  // Counts of what has happened so far, for the panel and --live-for's summary.
  [[nodiscard]] std::size_t sessions_seen() const { return sessions_seen_; }
  [[nodiscard]] std::size_t deliveries_seen() const { return deliveries_seen_; }

 private:
  std::vector<TraceEvent> pending_;
  std::unordered_map<std::string, std::size_t> last_line_;  // client -> event index
  std::size_t sessions_seen_ = 0;
  std::size_t deliveries_seen_ = 0;
};

// Live playhead: follows the present (now_s, or the last event when later)
// while view.following; a playhead moved by the teacher stops following,
// and playing on until the end of the trace follows again.
void advance_live(ViewState& view, const Trace& trace, double wall_seconds, double now_s);
// The "Follow now" button.
void follow_now(ViewState& view, const Trace& trace, double now_s);

}  // namespace maillab::ui
