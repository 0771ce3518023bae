// The wall clock of the lab server: the one place outside tests where net/
// reads real time.  Engines get `now` as an argument (net/core/time.hpp); for
// `maillab serve` an Instant counts microseconds since the Unix epoch, so an
// engine's "Unix time at Instant{0}" offset is 0.  Deadlines are turned into
// steady-clock time points for Asio timers, so a jump of the system clock
// shifts a deadline but never makes a timer spin.
#pragma once

#include <chrono>
#include <cstdint>

#include "net/core/time.hpp"

namespace maillab::net::io {

// Now, in microseconds since 1970-01-01T00:00:00Z.
Instant wall_now();
// Whole seconds since the epoch (for Date:, Received:, INTERNALDATE).
std::int64_t unix_seconds(Instant instant);
// The steady-clock time point at which `deadline` (wall time) falls;
// steady_clock::time_point::max() for `never`.
std::chrono::steady_clock::time_point to_steady(Instant deadline);

}  // namespace maillab::net::io
