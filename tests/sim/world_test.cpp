// The world end to end on small scenarios: IMAP fetching (STARTTLS, only new
// mail, \Seen kept on the server, mailbox hosts only) and a client crashing
// in the middle of a submission.
#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "net/mail/mail_store.hpp"
#include "sim/scenario.hpp"
#include "sim/world.hpp"

using namespace maillab;
using namespace maillab::sim;

namespace {

Scenario load(const std::string& text) {
  auto loaded = load_scenario(text, "t.toml");
  for (const auto& e : loaded.errors) FAIL_CHECK(e.to_string());
  REQUIRE(loaded.scenario);
  return *loaded.scenario;
}

const std::string one_domain = R"(title = "t"
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
[[message]]
at = "1m"
from = "alice@lab.test"
to = "bob@lab.test"
subject = "First"
[[message]]
at = "10m"
from = "alice@lab.test"
to = "bob@lab.test"
subject = "Second"
)";

std::vector<const TraceEvent*> events_of(const World& world, TraceKind kind, const std::string& proto) {
  std::vector<const TraceEvent*> out;
  for (const auto& e : world.trace().events())
    if (e.kind == kind && e.proto == proto) out.push_back(&e);
  return out;
}

const TraceEvent* line_starting(const World& world, const std::string& proto, char dir, const std::string& start) {
  for (const auto& e : world.trace().events())
    if (e.kind == TraceKind::line && e.proto == proto && e.dir == dir && e.text.rfind(start, 0) == 0) return &e;
  return nullptr;
}

}  // namespace

TEST_CASE("world imap: a client fetches over STARTTLS, marks the mail \\Seen and leaves it on the server") {
  const Scenario scenario = load(one_domain + R"([[mua]]
user = "bob@lab.test"
fetch = "imap"
fetch_at = ["5m"]
)");
  World world(scenario, 1);
  world.run();
  const auto fetched = world.fetched_by("bob");
  REQUIRE(fetched.size() == 1);
  CHECK(fetched[0].find("Subject: First") != std::string::npos);

  const auto* starttls = line_starting(world, "imap", 'C', "a2 STARTTLS");
  REQUIRE(starttls);
  CHECK_FALSE(starttls->tls);
  CHECK(starttls->src == "bob-pc");
  CHECK(starttls->dst == "mail.lab.test");
  const auto* login = line_starting(world, "imap", 'C', "a4 AUTHENTICATE PLAIN");
  REQUIRE(login);
  CHECK(login->tls);
  CHECK(line_starting(world, "imap", 'C', "a6 UID SEARCH UID 1:*"));
  CHECK(line_starting(world, "imap", 'C', "a7 UID FETCH 1 (UID FLAGS BODY.PEEK[])"));
  CHECK(line_starting(world, "imap", 'S', "(literal: "));

  const auto* store = world.store_of("bob@lab.test");
  REQUIRE(store);
  auto metas = store->messages("bob@lab.test", "INBOX");
  REQUIRE(metas);
  REQUIRE(metas->size() == 2);  // the second arrived after the fetch
  const auto& first = metas->front().flags;
  CHECK(std::find(first.begin(), first.end(), "\\Seen") != first.end());
  CHECK(metas->back().flags.empty());

  const auto fetches = events_of(world, TraceKind::fetch, "imap");
  REQUIRE(fetches.size() == 2);
  CHECK(fetches[0]->msg == "m1@lab.test");
  CHECK(fetches[1]->text.find("1 new message(s) fetched") != std::string::npos);
}

TEST_CASE("world imap: a later fetch downloads only what arrived since the last one") {
  const Scenario scenario = load(one_domain + R"([[mua]]
user = "bob@lab.test"
fetch = "imap"
fetch_at = ["5m", "15m", "20m"]
)");
  World world(scenario, 1);
  world.run();
  const auto fetched = world.fetched_by("bob");
  REQUIRE(fetched.size() == 2);
  CHECK(fetched[1].find("Subject: Second") != std::string::npos);
  CHECK(line_starting(world, "imap", 'C', "a6 UID SEARCH UID 2:*"));
  CHECK(line_starting(world, "imap", 'C', "a6 UID SEARCH UID 3:*"));
  const auto* store = world.store_of("bob@lab.test");
  REQUIRE(store);
  CHECK(store->messages("bob@lab.test", "INBOX")->size() == 2);
}

TEST_CASE("world imap: a session that stays selected hears of a delivery at once with EXISTS") {
  // A slow link (10 s each way) keeps the session selected, between UID STORE
  // and its OK, when the second message is delivered at 10m.
  const Scenario scenario = load(one_domain + R"([[mua]]
user = "bob@lab.test"
fetch = "imap"
fetch_at = ["7m"]
[[fault]]
kind = "link"
host = "bob-pc"
peer = "mail.lab.test"
latency = "10s"
at = "0s"
)");
  World world(scenario, 1);
  world.run();
  const auto* exists = line_starting(world, "imap", 'S', "* 2 EXISTS");
  REQUIRE(exists);
  const auto delivers = events_of(world, TraceKind::deliver, "local");
  REQUIRE(delivers.size() == 2);
  CHECK(exists->t == delivers[1]->t);
  CHECK(exists->tls);
}

TEST_CASE("world imap: a backup MX keeps no mailboxes and refuses POP3 and IMAP") {
  const Scenario scenario = load(R"(title = "t"
description = "d"
until = "10m"
[[domain]]
name = "lab.test"
mx = [ { host = "mx1.lab.test", preference = 10 }, { host = "mx2.lab.test", preference = 20 } ]
[[user]]
address = "bob@lab.test"
password = "bob-secret"
[[mua]]
name = "imap-client"
host = "one-pc"
user = "bob@lab.test"
fetch = "imap"
fetch_server = "mx2.lab.test"
fetch_at = ["1m"]
[[mua]]
name = "pop3-client"
host = "two-pc"
user = "bob@lab.test"
fetch = "pop3"
fetch_server = "mx2.lab.test"
fetch_at = ["1m"]
)");
  World world(scenario, 1);
  world.run();
  std::vector<std::string> refused;
  for (const auto& e : world.trace().events())
    if (e.kind == TraceKind::connect && e.text.find("refused") != std::string::npos) refused.push_back(e.proto);
  std::sort(refused.begin(), refused.end());
  CHECK(refused == std::vector<std::string>{"imap", "pop3"});
}

TEST_CASE("world: a client that goes down in the middle of a submission sends the message once it is back") {
  const Scenario scenario = load(one_domain + R"([[fault]]
kind = "host_down"
host = "alice-pc"
at = "1m10ms"
until = "8m"
)");
  World world(scenario, 1);
  world.run();
  const MessageTrack* first = world.track("m1@lab.test");
  REQUIRE(first);
  const Fate& fate = first->fates.at("bob@lab.test");
  CHECK(fate.state == FateState::delivered);
  CHECK(fate.finals == 1);
  CHECK(fate.at >= Instant{} + Duration{std::chrono::minutes(8)});
  const auto* store = world.store_of("bob@lab.test");
  REQUIRE(store);
  CHECK(store->messages("bob@lab.test", "INBOX")->size() == 2);
  // The first session had begun: the message went back to the outbox.
  CHECK(line_starting(world, "submission", 'C', "EHLO alice-pc"));
  bool back_in_outbox = false;
  for (const auto* e : events_of(world, TraceKind::queue, "submission"))
    back_in_outbox = back_in_outbox || e->text.find("stays in the outbox: alice-pc went down") != std::string::npos;
  CHECK(back_in_outbox);
}
