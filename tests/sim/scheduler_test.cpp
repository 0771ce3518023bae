#include <doctest/doctest.h>

#include <set>
#include <string>
#include <vector>

#include "sim/clock.hpp"
#include "sim/random.hpp"
#include "sim/scheduler.hpp"

using namespace maillab;
using namespace maillab::sim;
using namespace std::chrono_literals;

TEST_CASE("scheduler: events run in time order, ties in scheduling order") {
  VirtualClock clock;
  Scheduler scheduler(clock);
  std::string order;
  scheduler.at(Instant{300}, [&] { order += 'c'; });
  scheduler.at(Instant{100}, [&] { order += 'a'; });
  scheduler.at(Instant{200}, [&] { order += 'b'; });
  scheduler.at(Instant{200}, [&] { order += 'B'; });
  scheduler.at(Instant{100}, [&] { order += 'A'; });
  CHECK(scheduler.run_until(never) == 5);
  CHECK(order == "aAbBc");
  CHECK(clock.now() == Instant{300});
}

TEST_CASE("scheduler: the virtual clock jumps to each deadline as it runs") {
  VirtualClock clock;
  Scheduler scheduler(clock);
  std::vector<std::int64_t> seen;
  scheduler.after(5s, [&] { seen.push_back(scheduler.now().us); });
  scheduler.after(2h, [&] { seen.push_back(scheduler.now().us); });
  scheduler.run_until(never);
  CHECK(seen == std::vector<std::int64_t>{5'000'000, 7'200'000'000});
}

TEST_CASE("scheduler: an event scheduled from a callback at the same time runs after the ones already due") {
  VirtualClock clock;
  Scheduler scheduler(clock);
  std::string order;
  scheduler.at(Instant{10}, [&] {
    order += '1';
    scheduler.at(Instant{10}, [&] { order += '3'; });
    scheduler.at(Instant{5}, [&] { order += '4'; });  // in the past: runs now, after '3'
  });
  scheduler.at(Instant{10}, [&] { order += '2'; });
  scheduler.run_until(never);
  CHECK(order == "1234");
  CHECK(clock.now() == Instant{10});
}

TEST_CASE("scheduler: a cancelled event never runs and cancelling twice reports false") {
  VirtualClock clock;
  Scheduler scheduler(clock);
  int runs = 0;
  auto id = scheduler.after(1s, [&] { ++runs; });
  scheduler.after(2s, [&] { ++runs; });
  CHECK(scheduler.cancel(id));
  CHECK_FALSE(scheduler.cancel(id));
  scheduler.run_until(never);
  CHECK(runs == 1);
}

TEST_CASE("scheduler: run_until stops at the limit and leaves later events pending") {
  VirtualClock clock;
  Scheduler scheduler(clock);
  int runs = 0;
  scheduler.after(1s, [&] { ++runs; });
  scheduler.after(10s, [&] { ++runs; });
  CHECK(scheduler.run_until(Instant{5'000'000}) == 1);
  CHECK(clock.now() == Instant{5'000'000});
  CHECK(scheduler.pending() == 1);
  CHECK(scheduler.next_deadline() == Instant{10'000'000});
}

TEST_CASE("prng: the same seed gives the same sequence, another seed another one") {
  Prng a(42), b(42), c(43);
  std::vector<std::uint64_t> va, vb, vc;
  for (int i = 0; i < 16; ++i) {
    va.push_back(a.next_u64());
    vb.push_back(b.next_u64());
    vc.push_back(c.next_u64());
  }
  CHECK(va == vb);
  CHECK(va != vc);
}

TEST_CASE("prng: bounded draws stay in range and cover it") {
  Prng prng(7);
  std::set<std::uint64_t> seen;
  for (int i = 0; i < 1000; ++i) {
    auto x = prng.below(10);
    REQUIRE(x < 10);
    seen.insert(x);
    auto y = prng.between(-3, 3);
    REQUIRE(y >= -3);
    REQUIRE(y <= 3);
    auto u = prng.unit();
    REQUIRE(u >= 0.0);
    REQUIRE(u < 1.0);
  }
  CHECK(seen.size() == 10);
  CHECK_FALSE(prng.chance(0.0));
  CHECK(prng.chance(1.0));
}
