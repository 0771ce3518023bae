// Clocks for the scheduler.
//
// Theory of operation.  The scheduler never asks the operating system for the
// time: it asks a Clock.  Before running the event due at `deadline` it calls
// wait_until(deadline).  The VirtualClock (here) jumps there at once, which is
// what makes a simulated day run in milliseconds and every run repeatable; the
// wall clock implementation (net/io, for `maillab serve`) sleeps until then.
#pragma once

#include "net/core/time.hpp"

namespace maillab::sim {

class Clock {
 public:
  virtual ~Clock() = default;
  [[nodiscard]] virtual Instant now() const = 0;
  // Returns once now() >= deadline.  Never moves time backwards.
  virtual void wait_until(Instant deadline) = 0;
};

class VirtualClock final : public Clock {
 public:
  explicit VirtualClock(Instant start = Instant{0}) : now_(start) {}
  [[nodiscard]] Instant now() const override { return now_; }
  void wait_until(Instant deadline) override {
    if (deadline > now_) now_ = deadline;
  }

 private:
  Instant now_;
};

}  // namespace maillab::sim
