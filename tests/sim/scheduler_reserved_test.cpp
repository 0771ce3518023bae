// Reserved sequences and the scheduler's inline callbacks (sim/scheduler.hpp):
// an event put on the heap late with a reserved sequence runs exactly where
// it would have run had it been scheduled when the sequence was reserved.
#include <doctest/doctest.h>

#include <algorithm>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "sim/clock.hpp"
#include "sim/random.hpp"
#include "sim/scheduler.hpp"

using namespace maillab;
using namespace maillab::sim;
using namespace std::chrono_literals;

namespace {

// A random workload: `feed` events at random times, other events that each
// schedule a follow-up at a random delay (0 included: ties with feed events).
// Eager puts every feed event on the heap at once; lazy chains them.
std::string run_workload(std::uint64_t seed, bool lazy) {
  Prng prng(seed);
  VirtualClock clock;
  Scheduler scheduler(clock);
  std::string log;
  std::vector<Instant> feed_times;
  for (int i = 0; i < 40; ++i) feed_times.push_back(Instant{static_cast<std::int64_t>(prng.below(50)) * 1000});
  for (int i = 0; i < 10; ++i) {
    const auto at = Instant{static_cast<std::int64_t>(prng.below(50)) * 1000};
    scheduler.at(at, [&scheduler, &log, i, &prng] {
      log += "o" + std::to_string(i) + "@" + std::to_string(scheduler.now().us) + " ";
      const auto delay = Duration{static_cast<std::int64_t>(prng.below(3)) * 1000};
      scheduler.after(delay, [&scheduler, &log, i] {
        log += "f" + std::to_string(i) + "@" + std::to_string(scheduler.now().us) + " ";
      });
    });
  }
  const std::uint64_t first = scheduler.reserve_sequences(feed_times.size());
  std::vector<std::size_t> order(feed_times.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](auto a, auto b) { return feed_times[a] < feed_times[b]; });
  auto fire = [&log, &scheduler](std::size_t i) {
    log += "m" + std::to_string(i) + "@" + std::to_string(scheduler.now().us) + " ";
  };
  std::function<void(std::size_t)> chain;  // outlives the events that call it
  if (lazy) {
    chain = [&](std::size_t k) {
      if (k >= order.size()) return;
      const std::size_t i = order[k];
      scheduler.at_reserved(feed_times[i], first + i, [&, k, i] {
        chain(k + 1);
        fire(i);
      });
    };
    chain(0);
  } else {
    for (std::size_t i = 0; i < feed_times.size(); ++i)
      scheduler.at_reserved(feed_times[i], first + i, [&fire, i] { fire(i); });
  }
  for (int i = 0; i < 5; ++i) scheduler.at(Instant{static_cast<std::int64_t>(i) * 10'000}, [&log, i] {
    log += "late" + std::to_string(i) + " ";
  });
  scheduler.run_until(never);
  return log;
}

}  // namespace

TEST_CASE("scheduler: feeding reserved-sequence events one by one runs them where scheduling all at once would") {
  for (std::uint64_t seed = 1; seed <= 50; ++seed) {
    CAPTURE(seed);
    const std::string eager = run_workload(seed, false);
    CHECK(eager.find("m39@") != std::string::npos);
    CHECK(run_workload(seed, true) == eager);
  }
}

TEST_CASE("scheduler: a reserved sequence orders before events scheduled after the reservation at the same time") {
  VirtualClock clock;
  Scheduler scheduler(clock);
  std::string order;
  const std::uint64_t reserved = scheduler.reserve_sequences(1);
  scheduler.at(Instant{100}, [&] { order += 'b'; });
  scheduler.at_reserved(Instant{100}, reserved, [&] { order += 'a'; });
  scheduler.run_until(never);
  CHECK(order == "ab");
}

TEST_CASE("scheduler: callbacks too big to keep inline run and are destroyed once, cancelled or run") {
  VirtualClock clock;
  Scheduler scheduler(clock);
  auto witness = std::make_shared<int>(0);
  struct Big {
    std::shared_ptr<int> count;
    char padding[EventCallback::inline_bytes] = {};
    void operator()() const { ++*count; }
  };
  static_assert(sizeof(Big) > EventCallback::inline_bytes);
  scheduler.after(1s, Big{witness});
  const EventId doomed = scheduler.after(2s, Big{witness});
  scheduler.after(3s, [witness] { *witness += 10; });  // inline
  CHECK(witness.use_count() == 4);
  CHECK(scheduler.cancel(doomed));
  CHECK(witness.use_count() == 3);
  scheduler.run_until(never);
  CHECK(*witness == 11);
  CHECK(witness.use_count() == 1);
}

TEST_CASE("scheduler: a moved callback leaves its source empty and keeps what it captured") {
  auto witness = std::make_shared<int>(0);
  EventCallback first([witness] { ++*witness; });
  EventCallback second(std::move(first));
  CHECK_FALSE(static_cast<bool>(first));  // NOLINT(bugprone-use-after-move): the moved-from state is the point
  CHECK(static_cast<bool>(second));
  second();
  CHECK(*witness == 1);
  first = std::move(second);
  first();
  CHECK(*witness == 2);
  CHECK(witness.use_count() == 2);
}
