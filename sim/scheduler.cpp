#include "sim/scheduler.hpp"

#include <algorithm>
#include <cassert>

namespace maillab::sim {

EventId Scheduler::at(Instant when, Callback callback) {
  const Instant due = when < now() ? now() : when;
  return push(due, next_sequence_++, std::move(callback));
}

std::uint64_t Scheduler::reserve_sequences(std::uint64_t count) {
  const std::uint64_t first = next_sequence_;
  next_sequence_ += count;
  return first;
}

EventId Scheduler::at_reserved(Instant when, std::uint64_t sequence, Callback callback) {
  assert(sequence != 0 && sequence < next_sequence_);
  const Instant due = when < now() ? now() : when;
  assert(!later(running_, Key{due, sequence, 0}));
  return push(due, sequence, std::move(callback));
}

EventId Scheduler::push(Instant due, std::uint64_t sequence, Callback callback) {
  std::uint32_t slot = 0;
  if (free_slots_.empty()) {
    slot = static_cast<std::uint32_t>(slots_.size());
    slots_.emplace_back();
  } else {
    slot = free_slots_.back();
    free_slots_.pop_back();
  }
  // Filled in place: a temporary Slot moved the callback twice (two calls through its ops).
  Slot& filled = slots_[slot];
  filled.sequence = sequence;
  filled.callback = std::move(callback);
  heap_.push_back(Key{due, sequence, slot});
  std::push_heap(heap_.begin(), heap_.end(), later);
  ++live_;
  return EventId{due, sequence, slot};
}

bool Scheduler::cancel(EventId id) {
  if (!id.valid() || id.slot >= slots_.size() || slots_[id.slot].sequence != id.sequence) return false;
  // Destroyed last: what the callback held may cancel or schedule in turn.
  const Callback doomed = std::move(slots_[id.slot].callback);
  slots_[id.slot] = Slot{};
  free_slots_.push_back(id.slot);
  --live_;
  drop_dead_top();
  if (heap_.size() > 64 && heap_.size() > 3 * live_) compact();
  return true;
}

void Scheduler::drop_dead_top() {
  while (!heap_.empty() && !is_live(heap_.front())) {
    std::pop_heap(heap_.begin(), heap_.end(), later);
    heap_.pop_back();
  }
}

void Scheduler::compact() {
  std::erase_if(heap_, [this](const Key& key) { return !is_live(key); });
  std::make_heap(heap_.begin(), heap_.end(), later);
}

Instant Scheduler::next_deadline() const { return heap_.empty() ? never : heap_.front().at; }

bool Scheduler::step() {
  if (heap_.empty()) return false;
  std::pop_heap(heap_.begin(), heap_.end(), later);
  const Key key = heap_.back();
  heap_.pop_back();
  running_ = key;
  Callback callback = std::move(slots_[key.slot].callback);  // leaves the slot's callback empty
  slots_[key.slot].sequence = 0;
  free_slots_.push_back(key.slot);
  --live_;
  drop_dead_top();
  clock_.wait_until(key.at);
  ++events_run_;
  callback();
  return true;
}

std::size_t Scheduler::run_until(Instant limit) {
  std::size_t ran = 0;
  while (!heap_.empty() && heap_.front().at <= limit) {
    step();
    ++ran;
  }
  if (limit != never) clock_.wait_until(limit);
  return ran;
}

}  // namespace maillab::sim
