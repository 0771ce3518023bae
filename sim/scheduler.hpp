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
//
// Reserved sequences.  A caller with many events known in advance (a
// scenario's [[message]]s) reserves their sequence numbers up front and puts
// each on the heap later with at_reserved(), no later than the event before
// it in (time, sequence) order runs: they run exactly where scheduling all of
// them at once would put them, while the heap stays as small as what is in
// flight (every push and pop otherwise climbs past thousands of future keys).
#pragma once

#include <cstddef>
#include <cstdint>
#include <new>
#include <type_traits>
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

// A move-only void() callable.  Callables of up to inline_bytes live inside
// it: libstdc++'s std::function allocates for any capture that is not
// trivially copyable or is over 16 bytes (a weak_ptr, a string), that is for
// most events, and a simulation runs about 80 of them per message.
class EventCallback {
 public:
  static constexpr std::size_t inline_bytes = 48;

  EventCallback() = default;
  template <typename F, typename Stored = std::decay_t<F>>
    requires(!std::is_same_v<Stored, EventCallback> && std::is_invocable_v<Stored&>)
  EventCallback(F&& callable) {  // NOLINT(google-explicit-constructor): lambdas convert like to std::function
    if constexpr (fits_inline<Stored>) {
      ::new (static_cast<void*>(storage_)) Stored(std::forward<F>(callable));
      ops_ = &inline_ops<Stored>;
    } else {
      ::new (static_cast<void*>(storage_)) Stored*(new Stored(std::forward<F>(callable)));
      ops_ = &heap_ops<Stored>;
    }
  }
  EventCallback(EventCallback&& other) noexcept { take(other); }
  EventCallback& operator=(EventCallback&& other) noexcept {
    if (this != &other) {
      reset();
      take(other);
    }
    return *this;
  }
  EventCallback(const EventCallback&) = delete;
  EventCallback& operator=(const EventCallback&) = delete;
  ~EventCallback() { reset(); }

  explicit operator bool() const { return ops_ != nullptr; }
  void operator()() { ops_->invoke(storage_); }

 private:
  struct Ops {
    void (*invoke)(void* storage);
    void (*move)(void* to, void* from);  // construct at `to`, destroy `from`
    void (*destroy)(void* storage);
  };
  template <typename Stored>
  static constexpr bool fits_inline = sizeof(Stored) <= inline_bytes && alignof(Stored) <= alignof(void*) &&
                                      std::is_nothrow_move_constructible_v<Stored>;
  template <typename Stored>
  static constexpr Ops inline_ops{
      [](void* storage) { (*static_cast<Stored*>(storage))(); },
      [](void* to, void* from) {
        ::new (to) Stored(std::move(*static_cast<Stored*>(from)));
        static_cast<Stored*>(from)->~Stored();
      },
      [](void* storage) { static_cast<Stored*>(storage)->~Stored(); }};
  template <typename Stored>
  static constexpr Ops heap_ops{
      [](void* storage) { (**static_cast<Stored**>(storage))(); },
      [](void* to, void* from) { ::new (to) Stored*(*static_cast<Stored**>(from)); },
      [](void* storage) { delete *static_cast<Stored**>(storage); }};

  void take(EventCallback& other) noexcept {
    if (other.ops_ == nullptr) return;
    other.ops_->move(storage_, other.storage_);
    ops_ = std::exchange(other.ops_, nullptr);
  }
  void reset() noexcept {
    if (ops_ == nullptr) return;
    std::exchange(ops_, nullptr)->destroy(storage_);
  }

  const Ops* ops_ = nullptr;
  alignas(void*) unsigned char storage_[inline_bytes];
};

class Scheduler {
 public:
  using Callback = EventCallback;

  explicit Scheduler(Clock& clock) : clock_(clock) {}

  [[nodiscard]] Instant now() const { return clock_.now(); }

  EventId at(Instant when, Callback callback);
  EventId after(Duration delay, Callback callback) { return at(now() + delay, std::move(callback)); }
  // True when the event was still pending.
  bool cancel(EventId id);

  // Reserves `count` consecutive sequence numbers; returns the first.
  std::uint64_t reserve_sequences(std::uint64_t count);
  // Schedules with a reserved sequence.  The event must not sort before the
  // one running now (it would have run already): see "Reserved sequences".
  EventId at_reserved(Instant when, std::uint64_t sequence, Callback callback);

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
  // A closure type, not a function: the heap algorithms inline it.
  static constexpr auto later = [](const Key& a, const Key& b) {
    return a.at != b.at ? a.at > b.at : a.sequence > b.sequence;
  };
  [[nodiscard]] bool is_live(const Key& key) const { return slots_[key.slot].sequence == key.sequence; }
  EventId push(Instant due, std::uint64_t sequence, Callback callback);
  void drop_dead_top();
  void compact();

  Clock& clock_;
  std::vector<Key> heap_;
  std::vector<Slot> slots_;
  std::vector<std::uint32_t> free_slots_;
  std::size_t live_ = 0;
  std::uint64_t next_sequence_ = 1;
  std::uint64_t events_run_ = 0;
  Key running_{};  // the event being run (or last run)
};

}  // namespace maillab::sim
