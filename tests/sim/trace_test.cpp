// The trace's optional fields for the studio (sim/trace.hpp): who a delivery
// is for and what was stored, queue actions with the next attempt's time,
// host down/up, and POP3 deletions.  They follow the contract fields.
#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "net/mail/mail_store.hpp"
#include "sim/scenario.hpp"
#include "sim/world.hpp"

using namespace maillab;
using namespace maillab::sim;
using namespace std::chrono_literals;

namespace {

Scenario load(const std::string& text) {
  auto loaded = load_scenario(text, "t.toml");
  for (const auto& e : loaded.errors) FAIL_CHECK(e.to_string());
  REQUIRE(loaded.scenario);
  return *loaded.scenario;
}

std::vector<const TraceEvent*> select(const World& world, TraceKind kind, const std::string& src = {}) {
  std::vector<const TraceEvent*> out;
  for (const auto& e : world.trace().events())
    if (e.kind == kind && (src.empty() || e.src == src)) out.push_back(&e);
  return out;
}

std::vector<std::string> actions(const std::vector<const TraceEvent*>& events) {
  std::vector<std::string> out;
  for (const auto* e : events)
    if (!e->action.empty()) out.push_back(e->action);
  return out;
}

const std::string two_domains = R"(title = "t"
description = "d"
[[domain]]
name = "lab.test"
[[domain]]
name = "school.test"
mx = [ { host = "mx.school.test", preference = 10 } ]
[[user]]
address = "alice@lab.test"
password = "alice-secret"
[[user]]
address = "carol@school.test"
password = "carol-secret"
[[message]]
at = "1m"
from = "alice@lab.test"
to = "carol@school.test"
subject = "Hello"
)";

}  // namespace

TEST_CASE("trace json: optional fields follow the contract fields and appear only when set") {
  TraceEvent plain{Instant{1'500'000}, TraceKind::deliver, "mail.lab.test", "", "local", 0, "delivered", false,
                   "m1@lab.test"};
  CHECK(Trace::json_line(plain) ==
        R"({"t":1.5,"kind":"deliver","src":"mail.lab.test","dst":"","proto":"local","text":"delivered","msg":"m1@lab.test"})");
  TraceEvent full = plain;
  full.user = "bob@lab.test";
  full.action = "retry";
  full.next_retry = Instant{301'500'000};
  full.data = "Subject: x\r\n\r\nhi\r\n";
  CHECK(Trace::json_line(full) ==
        R"({"t":1.5,"kind":"deliver","src":"mail.lab.test","dst":"","proto":"local","text":"delivered","msg":"m1@lab.test",)"
        R"("user":"bob@lab.test","action":"retry","next_retry":301.5,"data":"Subject: x\r\n\r\nhi\r\n"})");
  CHECK(Trace::transcript_line(full) == Trace::transcript_line(plain));
}

TEST_CASE("trace: a delivery names the mailbox owner and carries the message exactly as stored") {
  const Scenario scenario = load(two_domains);
  World world(scenario, 1);
  world.run();
  const auto delivers = select(world, TraceKind::deliver);
  REQUIRE(delivers.size() == 1);
  CHECK(delivers[0]->user == "carol@school.test");
  const auto* store = world.store_of("carol@school.test");
  REQUIRE(store);
  auto metas = store->messages("carol@school.test", "INBOX");
  REQUIRE(metas);
  REQUIRE(metas->size() == 1);
  auto stored = store->read("carol@school.test", "INBOX", metas->front().uid);
  REQUIRE(stored);
  CHECK(delivers[0]->data == *stored);
  CHECK(delivers[0]->data.rfind("Return-Path: <alice@lab.test>\r\n", 0) == 0);
  CHECK(delivers[0]->data.find("\nReceived: ") != std::string::npos);
}

TEST_CASE("trace: queue events say enqueue, retry with the next attempt's time, and dequeue; faults say down and up") {
  const Scenario scenario = load(two_domains + R"([[fault]]
kind = "host_down"
host = "mx.school.test"
at = "0s"
until = "20m"
)");
  World world(scenario, 1);
  world.run();
  const auto outbox = select(world, TraceKind::queue, "alice-pc");
  REQUIRE(outbox.size() == 1);
  CHECK(outbox[0]->action == "enqueue");
  CHECK(outbox[0]->next_retry == outbox[0]->t);

  const auto queue = select(world, TraceKind::queue, "mail.lab.test");
  const auto seen = actions(queue);
  REQUIRE(seen.size() >= 3);
  CHECK(seen.front() == "enqueue");
  CHECK(seen.back() == "dequeue");
  for (std::size_t i = 1; i + 1 < seen.size(); ++i) CHECK(seen[i] == "retry");
  for (const auto* e : queue) {
    if (e->action == "retry") {
      REQUIRE(e->next_retry);
      CHECK(*e->next_retry > e->t);
    }
    if (e->action == "dequeue") CHECK_FALSE(e->next_retry);
  }
  // The first retry waits the first step of the schedule (5m).
  const TraceEvent* first_retry = nullptr;
  for (const auto* e : queue)
    if (!first_retry && e->action == "retry") first_retry = e;
  REQUIRE(first_retry);
  CHECK(*first_retry->next_retry - first_retry->t == Duration{5min});

  const auto faults = select(world, TraceKind::fault, "mx.school.test");
  REQUIRE(faults.size() == 2);
  CHECK(faults[0]->action == "down");
  CHECK(faults[0]->t == Instant{});
  CHECK(faults[1]->action == "up");
  CHECK(faults[1]->t == Instant{} + Duration{20min});
}

TEST_CASE("trace: a message that outlives its queue lifetime leaves the queue as expired") {
  const Scenario scenario = load("until = \"2h\"\n" + two_domains + R"([queue]
lifetime = "30m"
[[fault]]
kind = "host_down"
host = "mx.school.test"
)");
  World world(scenario, 1);
  world.run();
  // The bounce goes to alice's mailbox on the same host: it is never queued.
  const auto seen = actions(select(world, TraceKind::queue, "mail.lab.test"));
  REQUIRE(seen.size() >= 3);
  CHECK(seen.front() == "enqueue");
  CHECK(seen.back() == "expired");
  CHECK(std::count(seen.begin(), seen.end(), "dequeue") == 0);
  CHECK(select(world, TraceKind::bounce, "mail.lab.test").size() >= 1);
}

TEST_CASE("trace: a POP3 client that deletes reports each deleted message; an IMAP client never does") {
  const Scenario scenario = load(R"(title = "t"
description = "d"
until = "30m"
[[domain]]
name = "lab.test"
[[user]]
address = "alice@lab.test"
password = "alice-secret"
[[user]]
address = "bob@lab.test"
password = "bob-secret"
[[mua]]
name = "reader"
host = "reader-pc"
user = "bob@lab.test"
fetch = "imap"
fetch_at = ["5m"]
[[mua]]
name = "downloader"
host = "downloader-pc"
user = "bob@lab.test"
fetch = "pop3"
keep = false
fetch_at = ["10m"]
[[message]]
at = "1m"
from = "alice@lab.test"
to = "bob@lab.test"
subject = "One"
[[message]]
at = "2m"
from = "alice@lab.test"
to = "bob@lab.test"
subject = "Two"
)");
  World world(scenario, 1);
  world.run();
  const auto imap = select(world, TraceKind::fetch, "reader-pc");
  REQUIRE(imap.size() == 3);
  for (const auto* e : imap) {
    CHECK(e->user == "bob@lab.test");
    CHECK(e->action.empty());
  }
  std::vector<std::string> deleted;
  for (const auto* e : select(world, TraceKind::fetch, "downloader-pc")) {
    CHECK(e->user == "bob@lab.test");
    if (e->action == "delete") deleted.push_back(e->msg);
  }
  CHECK(deleted == std::vector<std::string>{"m1@lab.test", "m2@lab.test"});
  CHECK(world.store_of("bob@lab.test")->messages("bob@lab.test", "INBOX")->empty());
}

TEST_CASE("trace: a world that keeps no events counts the same protocol lines as one that keeps them all") {
  // SMTP submission and relay, then a POP3 fetch (STLS: lines in and out of TLS).
  const Scenario scenario = load(two_domains + R"(
[[mua]]
name = "carol-pc"
host = "carol-pc"
user = "carol@school.test"
fetch = "pop3"
fetch_at = ["10m"]
)");
  World keeping(scenario, 1);
  keeping.run();
  std::uint64_t kept_lines = 0;
  for (const auto& e : keeping.trace().events())
    if (e.kind == TraceKind::line) ++kept_lines;
  CHECK(keeping.trace().protocol_lines() == kept_lines);
  REQUIRE(kept_lines > 20);

  World counting(scenario, 1);
  counting.trace().set_keep(false);  // nobody keeps, prints, watches or listens: engines only count
  REQUIRE_FALSE(counting.trace().wants_events());
  counting.run();
  CHECK(counting.trace().events().empty());
  CHECK(counting.trace().protocol_lines() == kept_lines);
}
