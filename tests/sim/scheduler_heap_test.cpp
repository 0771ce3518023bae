// The scheduler's storage (sim/scheduler.hpp): slots reused through a free
// list, a heap of (time, sequence) keys, O(1) cancel with lazy removal and
// compaction.  Checked against a plain ordered model on random workloads.
#include <doctest/doctest.h>

#include <map>
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

TEST_CASE("scheduler: a stale id does not cancel the event that reused its slot") {
  VirtualClock clock;
  Scheduler scheduler(clock);
  std::string order;
  const EventId first = scheduler.after(1s, [&] { order += 'a'; });
  CHECK(scheduler.step());
  const EventId second = scheduler.after(1s, [&] { order += 'b'; });
  CHECK(second.slot == first.slot);  // the slot was free again
  CHECK_FALSE(scheduler.cancel(first));
  CHECK(scheduler.pending() == 1);
  scheduler.run_until(never);
  CHECK(order == "ab");
}

TEST_CASE("scheduler: cancelling the earliest event moves next_deadline to the next live one") {
  VirtualClock clock;
  Scheduler scheduler(clock);
  const EventId a = scheduler.at(Instant{100}, [] {});
  const EventId b = scheduler.at(Instant{200}, [] {});
  scheduler.at(Instant{300}, [] {});
  CHECK(scheduler.next_deadline() == Instant{100});
  CHECK(scheduler.cancel(b));
  CHECK(scheduler.next_deadline() == Instant{100});
  CHECK(scheduler.cancel(a));
  CHECK(scheduler.next_deadline() == Instant{300});
  CHECK(scheduler.pending() == 1);
  CHECK(scheduler.run_until(Instant{250}) == 0);
  CHECK(scheduler.run_until(never) == 1);
  CHECK(scheduler.empty());
  CHECK(scheduler.next_deadline() == never);
}

TEST_CASE("scheduler: an event can cancel itself while running (false) and the one after it (true)") {
  VirtualClock clock;
  Scheduler scheduler(clock);
  EventId self{}, next{};
  bool self_cancelled = true, next_cancelled = false;
  int runs = 0;
  self = scheduler.after(1s, [&] {
    ++runs;
    self_cancelled = scheduler.cancel(self);
    next_cancelled = scheduler.cancel(next);
  });
  next = scheduler.after(1s, [&] { ++runs; });
  scheduler.run_until(never);
  CHECK_FALSE(self_cancelled);
  CHECK(next_cancelled);
  CHECK(runs == 1);
}

TEST_CASE("scheduler: a cancelled callback's captures are released, and may schedule from their destructor") {
  VirtualClock clock;
  Scheduler scheduler(clock);
  int ran = 0;
  struct OnDestroy {
    OnDestroy(Scheduler& s, int& r) : scheduler(s), ran(r) {}
    OnDestroy(const OnDestroy&) = delete;
    OnDestroy& operator=(const OnDestroy&) = delete;
    ~OnDestroy() { scheduler.after(1s, [r = &ran] { ++*r; }); }
    Scheduler& scheduler;
    int& ran;
  };
  auto guard = std::make_shared<OnDestroy>(scheduler, ran);
  std::weak_ptr<OnDestroy> weak = guard;
  const EventId id = scheduler.after(5s, [g = std::move(guard)] {});
  // Fill the slot table so that the destructor's schedule may reallocate it.
  for (int i = 0; i < 100; ++i) scheduler.after(10s, [] {});
  CHECK(scheduler.cancel(id));
  CHECK(weak.expired());
  scheduler.run_until(never);
  CHECK(ran == 1);
}

TEST_CASE("scheduler: random schedules and cancels run in exactly the (time, sequence) order of a model") {
  for (std::uint64_t seed = 1; seed <= 20; ++seed) {
    CAPTURE(seed);
    Prng prng(seed);
    VirtualClock clock;
    Scheduler scheduler(clock);
    std::map<std::pair<std::int64_t, std::uint64_t>, int> model;  // (time, sequence) -> tag
    std::vector<EventId> ids;
    std::vector<int> ran, expected;
    int next_tag = 0;
    auto schedule = [&](std::int64_t when) {
      const int tag = next_tag++;
      const EventId id = scheduler.at(Instant{when}, [&ran, tag] { ran.push_back(tag); });
      model.emplace(std::pair{id.at.us, id.sequence}, tag);
      ids.push_back(id);
    };
    for (int round = 0; round < 200; ++round) {
      const auto n = prng.between(0, 20);
      for (int i = 0; i < n; ++i) schedule(clock.now().us + prng.between(-5, 1000));
      for (int i = 0; i < 15 && !ids.empty(); ++i) {
        const EventId victim = ids[prng.below(ids.size())];
        const bool in_model = model.erase({victim.at.us, victim.sequence}) > 0;
        CHECK(scheduler.cancel(victim) == in_model);
      }
      REQUIRE(scheduler.pending() == model.size());
      const auto limit = clock.now().us + prng.between(0, 400);
      while (!model.empty() && model.begin()->first.first <= limit) {
        expected.push_back(model.begin()->second);
        model.erase(model.begin());
      }
      scheduler.run_until(Instant{limit});
      REQUIRE(ran == expected);
      CHECK(scheduler.next_deadline() == (model.empty() ? never : Instant{model.begin()->first.first}));
    }
  }
}
