// The discrete-event scheduler (FoundationDB Sim2, TigerBeetle's VOPR).
//
// Theory of operation.  Every action in the world is an event: a callback due
// at an Instant.  Events run in (time, sequence) order, the sequence being the
// order in which they were scheduled, so two events due at the same microsecond
// always run in the same order.  Before an event runs the scheduler asks the
// Clock to wait until its time (the virtual clock jumps there; a wall clock
// would sleep).  Callbacks may schedule and cancel further events.  An event
// scheduled in the past runs at the current time (after those already due).
//
// Storage.  Callbacks live in a slot table (a vector reused through a free
// list); a binary min-heap orders small (time, sequence, slot) keys.  An
// EventId names its slot, so cancel() is O(1): it frees the slot and leaves
// the key in the heap, where it is skipped when it surfaces.  The top of the
// heap is always a live event, and the heap is rebuilt without the cancelled
// keys when they outnumber the live ones, so memory follows the events
// pending, not the events ever scheduled.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <utility>
#include <vector>

#include "net/core/time.hpp"
#include "sim/clock.hpp"

namespace maillab::sim {

struct EventId {
  Instant at{};
  std::uint64_t sequence = 0;  // 0: no event
  std::uint32_t slot = 0;      // where the scheduler keeps it (sequences are unique, so order ignores it)
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

  [[nodiscard]] bool empty() const { return live_ == 0; }
  [[nodiscard]] std::size_t pending() const { return live_; }
  // The time of the next event, or `never`.
  [[nodiscard]] Instant next_deadline() const;

  // Runs the next event; false when there is none.
  bool step();
  // Runs every event due at or before `limit`, then lets the clock reach
  // `limit` (unless it is `never`).  Returns how many events ran.
  std::size_t run_until(Instant limit);
  [[nodiscard]] std::uint64_t events_run() const { return events_run_; }

 private:
  struct Key {
    Instant at{};
    std::uint64_t sequence = 0;
    std::uint32_t slot = 0;
  };
  struct Slot {
    std::uint64_t sequence = 0;  // 0: free
    Callback callback;
  };
  // std::push_heap keeps the greatest on top: "greater" puts the earliest there.
  static bool later(const Key& a, const Key& b) {
    return a.at != b.at ? a.at > b.at : a.sequence > b.sequence;
  }
  [[nodiscard]] bool is_live(const Key& key) const { return slots_[key.slot].sequence == key.sequence; }
  void drop_dead_top();
  void compact();

  Clock& clock_;
  std::vector<Key> heap_;
  std::vector<Slot> slots_;
  std::vector<std::uint32_t> free_slots_;
  std::size_t live_ = 0;
  std::uint64_t next_sequence_ = 1;
  std::uint64_t events_run_ = 0;
};

}  // namespace maillab::sim
