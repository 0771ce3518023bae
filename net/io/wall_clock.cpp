#include "net/io/wall_clock.hpp"

namespace maillab::net::io {

Instant wall_now() {
  const auto since_epoch = std::chrono::system_clock::now().time_since_epoch();
  return Instant{std::chrono::duration_cast<std::chrono::microseconds>(since_epoch).count()};
}

std::int64_t unix_seconds(Instant instant) { return instant.us / 1'000'000; }

std::chrono::steady_clock::time_point to_steady(Instant deadline) {
  if (deadline == never) return std::chrono::steady_clock::time_point::max();
  const Duration remaining = deadline - wall_now();
  const auto steady_now = std::chrono::steady_clock::now();
  if (remaining <= Duration::zero()) return steady_now;
  // A deadline years away (a bogus clock) must not overflow the time point.
  if (remaining > std::chrono::hours(24 * 365)) return std::chrono::steady_clock::time_point::max();
  return steady_now + remaining;
}

}  // namespace maillab::net::io
