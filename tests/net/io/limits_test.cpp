#include <doctest/doctest.h>

#include <chrono>

#include "net/io/limits.hpp"

using namespace maillab;
using namespace maillab::net::io;
using namespace std::chrono_literals;

TEST_CASE("connection limiter: the per-address cap refuses the next connection, others still get in") {
  ConnectionLimiter limiter({.total_max = 100, .per_address_max = 2});
  auto first = limiter.try_acquire("192.0.2.7");
  auto second = limiter.try_acquire("192.0.2.7");
  CHECK(first.valid());
  CHECK(second.valid());
  CHECK_FALSE(limiter.try_acquire("192.0.2.7").valid());
  CHECK(limiter.try_acquire("192.0.2.8").valid());
  CHECK(limiter.open_from("192.0.2.7") == 2);
}

TEST_CASE("connection limiter: a ticket gives its slot back when it goes away") {
  ConnectionLimiter limiter({.total_max = 1, .per_address_max = 1});
  {
    auto ticket = limiter.try_acquire("192.0.2.7");
    CHECK(ticket.valid());
    CHECK_FALSE(limiter.try_acquire("198.51.100.1").valid());  // the total cap
    auto moved = std::move(ticket);
    CHECK(limiter.open_total() == 1);
  }
  CHECK(limiter.open_total() == 0);
  CHECK(limiter.try_acquire("198.51.100.1").valid());
}

TEST_CASE("auth penalty: 2 s, doubling per failure from one address, capped at 15 s") {
  AuthPenalty penalty;
  const Instant t0{1'000'000'000};
  CHECK(penalty.record_failure("192.0.2.7", t0) == 2s);
  CHECK(penalty.record_failure("192.0.2.7", t0 + 1s) == 4s);
  CHECK(penalty.record_failure("192.0.2.7", t0 + 2s) == 8s);
  CHECK(penalty.record_failure("192.0.2.7", t0 + 3s) == 15s);
  CHECK(penalty.record_failure("192.0.2.7", t0 + 4s) == 15s);
  CHECK(penalty.record_failure("192.0.2.8", t0 + 4s) == 2s);  // another address starts over
}

TEST_CASE("auth penalty: a successful login clears the address, an hour without failures forgets it") {
  AuthPenalty penalty;
  const Instant t0{1'000'000'000};
  (void)penalty.record_failure("192.0.2.7", t0);
  (void)penalty.record_failure("192.0.2.7", t0);
  penalty.record_success("192.0.2.7");
  CHECK(penalty.failures("192.0.2.7", t0) == 0);
  CHECK(penalty.record_failure("192.0.2.7", t0) == 2s);
  CHECK(penalty.record_failure("192.0.2.7", t0 + 10s) == 4s);
  CHECK(penalty.record_failure("192.0.2.7", t0 + 10s + 1h) == 2s);
  CHECK(penalty.tracked_addresses() == 1);
}
