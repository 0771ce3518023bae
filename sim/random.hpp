// The world's one source of randomness: xoshiro256** (Blackman and Vigna),
// seeded through splitmix64 so that any 64-bit seed gives a well-mixed state.
// Everything that draws (link loss, jitter, generated scenarios) draws from one
// Prng owned by the world, in event order, so a seed fixes the whole run.
#pragma once

#include <array>
#include <cstdint>

namespace maillab::sim {

class Prng {
 public:
  explicit Prng(std::uint64_t seed);

  std::uint64_t next_u64();
  // Uniform in [0, bound); bound must be > 0.  Unbiased (rejection sampling).
  std::uint64_t below(std::uint64_t bound);
  // Uniform in [lo, hi], lo <= hi.
  std::int64_t between(std::int64_t lo, std::int64_t hi);
  // Uniform in [0, 1) with 53 bits of precision.
  double unit();
  // True with probability p (p <= 0 never, p >= 1 always).
  bool chance(double p);

 private:
  std::array<std::uint64_t, 4> s_{};
};

}  // namespace maillab::sim
