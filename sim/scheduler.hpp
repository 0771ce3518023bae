// The discrete-event scheduler (FoundationDB Sim2, TigerBeetle's VOPR).
//
// Theory of operation.  Every action in the world is an event: a callback due
// at an Instant.  Events run in (time, sequence) order, the sequence being the
// order in which they were scheduled, so two events due at the same microsecond
// always run in the same order.  Before an event runs the scheduler asks the
// Clock to wait until its time (the virtual clock jumps there; a wall clock
// would sleep).  Callbacks may schedule and cancel further events.  An event
// scheduled in the past runs at the current time (after those already due).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <utility>

#include "net/core/time.hpp"
#include "sim/clock.hpp"

namespace maillab::sim {

struct EventId {
  Instant at{};
  std::uint64_t sequence = 0;  // 0: no event
  [[nodiscard]] bool valid() const { return sequence != 0; }
  friend auto operator<=>(const EventId&, const EventId&) = default;
};

class Scheduler {
 public:
  using Callback = std::function<void()>;

  explicit Scheduler(Clock& clock) : clock_(clock) {}

  [[nodiscard]] Instant now() const { return clock_.now(); }

  EventId at(Instant when, Callback callback);
  EventId after(Duration delay, Callback callback) { return at(now() + delay, std::move(callback)); }
  // True when the event was still pending.
  bool cancel(EventId id);

  [[nodiscard]] bool empty() const { return events_.empty(); }
  [[nodiscard]] std::size_t pending() const { return events_.size(); }
  // The time of the next event, or `never`.
  [[nodiscard]] Instant next_deadline() const;

  // Runs the next event; false when there is none.
  bool step();
  // Runs every event due at or before `limit`, then lets the clock reach
  // `limit` (unless it is `never`).  Returns how many events ran.
  std::size_t run_until(Instant limit);
  [[nodiscard]] std::uint64_t events_run() const { return events_run_; }

 private:
  Clock& clock_;
  std::map<EventId, Callback> events_;
  std::uint64_t next_sequence_ = 1;
  std::uint64_t events_run_ = 0;
};

}  // namespace maillab::sim
