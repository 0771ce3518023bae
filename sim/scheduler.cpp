#include "sim/scheduler.hpp"

namespace maillab::sim {

EventId Scheduler::at(Instant when, Callback callback) {
  const EventId id{when < now() ? now() : when, next_sequence_++};
  events_.emplace(id, std::move(callback));
  return id;
}

bool Scheduler::cancel(EventId id) { return events_.erase(id) > 0; }

Instant Scheduler::next_deadline() const {
  return events_.empty() ? never : events_.begin()->first.at;
}

bool Scheduler::step() {
  if (events_.empty()) return false;
  auto node = events_.extract(events_.begin());
  clock_.wait_until(node.key().at);
  ++events_run_;
  node.mapped()();
  return true;
}

std::size_t Scheduler::run_until(Instant limit) {
  std::size_t ran = 0;
  while (!events_.empty() && events_.begin()->first.at <= limit) {
    step();
    ++ran;
  }
  if (limit != never) clock_.wait_until(limit);
  return ran;
}

}  // namespace maillab::sim
