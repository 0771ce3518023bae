// Time as engines see it.  An engine never reads a clock: `now` is always an
// argument (quinn-proto's contract).  Instants count microseconds from the
// start of the world (virtual clock) or from the Unix epoch (wall clock); the
// engines only ever subtract them.
#pragma once

#include <chrono>
#include <cstdint>

namespace maillab {

using Duration = std::chrono::microseconds;

struct Instant {
  std::int64_t us = 0;

  friend constexpr auto operator<=>(Instant, Instant) = default;
  friend constexpr Instant operator+(Instant t, Duration d) { return Instant{t.us + d.count()}; }
  friend constexpr Instant operator-(Instant t, Duration d) { return Instant{t.us - d.count()}; }
  friend constexpr Duration operator-(Instant a, Instant b) { return Duration{a.us - b.us}; }
  [[nodiscard]] constexpr double seconds() const { return static_cast<double>(us) / 1e6; }
};

// "no deadline": what poll_timeout() returns when nothing is pending.
inline constexpr Instant never{INT64_MAX};

}  // namespace maillab
