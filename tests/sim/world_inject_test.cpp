// The world on an outside clock with mail injected by real clients (what
// `maillab serve` does): inject() at the submission host, advance() in small
// steps of a manual clock, one shared store for every mailbox host.
#include <doctest/doctest.h>

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "sim/scenario.hpp"
#include "sim/store/memory_store.hpp"
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

// A user in each of the two domains.
const std::string alice_and_bob = R"([[user]]
address = "alice@lab.test"
password = "alice-secret"
[[user]]
address = "bob@school.test"
password = "bob-secret"
)";

const std::string two_domains = R"(title = "t"
description = "d"
[queue]
retry = ["5m", "10m"]
[[domain]]
name = "lab.test"
[[domain]]
name = "school.test"
)" + alice_and_bob + R"([[message]]
at = "1s"
from = "alice@lab.test"
to = "bob@school.test"
subject = "scripted, must not run"
)";

// lab.test, and school.test with the MX list given; a user in each.
std::string school_with_mx(const std::string& mx) {
  return R"(title = "t"
description = "d"
[[domain]]
name = "lab.test"
[[domain]]
name = "school.test"
mx = )" + mx + "\n" + alice_and_bob;
}

const std::string body =
    "Received: from student-pc (localhost [127.0.0.1]) by mail.lab.test with ESMTPSA id 1; "
    "Mon, 2 Mar 2026 08:00:00 +0000\r\n"
    "From: alice@lab.test\r\nTo: bob@school.test\r\nSubject: injected\r\nMessage-ID: <i1@lab.test>\r\n\r\n"
    ".a dot line\r\nbye\r\n";

Injection injection(std::string host) {
  Injection in;
  in.host = std::move(host);
  in.sender = "alice@lab.test";
  in.recipients = {"bob@school.test"};
  in.data = body;
  in.msg = "i1@lab.test";
  in.client = "127.0.0.1:51234";
  in.proto = "submission";
  return in;
}

// A world the way serve builds it: on a clock of ours, one store, no scripted mail.
struct Served {
  explicit Served(const std::string& text) : scenario(load(text)), world(scenario, 7, options()) {}
  WorldOptions options() {
    WorldOptions o;
    o.clock = &clock;
    o.store = &store;
    o.scripted = false;
    return o;
  }
  // Steps the clock 10 ms at a time up to `until` (simulated), as serve's timer would.
  void advance_to(Duration until) {
    const Instant end = Instant{} + until;
    while (clock.now() < end) {
      const Instant next = std::min(end, std::min(world.next_deadline(), clock.now() + std::chrono::milliseconds(10)));
      world.advance(next);
    }
  }
  std::vector<std::string> inbox(const std::string& user) const {
    std::vector<std::string> out;
    auto metas = store.messages(user, "INBOX");
    if (!metas) return out;
    for (const auto& m : *metas) out.push_back(*store.read(user, "INBOX", m.uid));
    return out;
  }
  bool traced(TraceKind kind, const std::string& src, const std::string& dst, const std::string& start) const {
    return std::any_of(world.trace().events().begin(), world.trace().events().end(), [&](const TraceEvent& e) {
      return e.kind == kind && e.src == src && (dst.empty() || e.dst == dst) && e.text.rfind(start, 0) == 0;
    });
  }

  Scenario scenario;
  VirtualClock clock;
  MemoryStore store;
  World world;
};

std::size_t count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto pos = text.find(what); pos != std::string::npos; pos = text.find(what, pos + 1)) ++n;
  return n;
}

}  // namespace

TEST_CASE("world inject: submission at lab.test reaches bob@school.test through DNS MX and one SMTP hop") {
  Served s(two_domains);
  CHECK(s.world.submission_host("lab.test") == "mail.lab.test");
  CHECK(s.world.mx_host("school.test") == "mail.school.test");
  s.advance_to(std::chrono::seconds(2));  // the scripted message at 1s does not run
  CHECK(s.inbox("bob@school.test").empty());

  std::map<std::string, Fate> settled;
  int calls = 0;
  const InjectReport report = s.world.inject(injection("mail.lab.test"), [&](const std::map<std::string, Fate>& fates) {
    settled = fates;
    ++calls;
  });
  CHECK(report.known_host);
  CHECK(report.delivered.empty());
  CHECK(report.refused.empty());
  CHECK(report.pending == std::vector<std::string>{"bob@school.test"});
  CHECK(s.world.queue_size("mail.lab.test") == 1);
  CHECK(calls == 0);

  s.advance_to(std::chrono::seconds(10));
  CHECK(calls == 1);
  REQUIRE(settled.count("bob@school.test") == 1);
  CHECK(settled["bob@school.test"].state == FateState::delivered);
  CHECK(s.world.queue_size("mail.lab.test") == 0);

  const auto inbox = s.inbox("bob@school.test");
  REQUIRE(inbox.size() == 1);
  CHECK(inbox[0].size() > body.size());
  CHECK(inbox[0].substr(inbox[0].size() - body.size()) == body);  // the client's bytes intact
  CHECK(inbox[0].rfind("Return-Path: <alice@lab.test>\r\nDelivered-To: bob@school.test\r\n"
                       "Received: from mail.lab.test",
                       0) == 0);
  CHECK(count(inbox[0], "Received: ") == 2);  // one per hop

  CHECK(s.traced(TraceKind::queue, "mail.lab.test", "", "accepted <i1@lab.test> from <alice@lab.test>"));
  CHECK(s.traced(TraceKind::dns, "mail.lab.test", "dns.lab", "query MX school.test"));
  CHECK(s.traced(TraceKind::line, "mail.lab.test", "mail.school.test", "MAIL FROM:<alice@lab.test>"));
  CHECK(s.traced(TraceKind::deliver, "mail.school.test", "", "<i1@lab.test> delivered to bob@school.test"));
  const MessageTrack* track = s.world.track("i1@lab.test");
  REQUIRE(track);
  CHECK(track->route == std::vector<std::string>{"127.0.0.1:51234", "mail.lab.test", "mail.school.test"});
  CHECK(s.world.track("m1@lab.test") == nullptr);
}

TEST_CASE("world inject: mail for the entry host's own domain is stored before inject returns") {
  Served s(two_domains);
  Injection in = injection("mail.school.test");
  in.proto = "smtp";
  int calls = 0;
  const InjectReport report = s.world.inject(in, [&](const auto&) { ++calls; });
  CHECK(report.delivered == std::vector<std::string>{"bob@school.test"});
  CHECK(report.pending.empty());
  CHECK(s.inbox("bob@school.test").size() == 1);
  s.advance_to(std::chrono::seconds(5));
  CHECK(calls == 0);
  CHECK(s.world.inject(injection("no.such.host")).known_host == false);
}

TEST_CASE("world inject: a mailbox over quota at the entry host bounces to the sender, the others are stored") {
  Served s(two_domains + R"([[user]]
address = "tiny@school.test"
password = "tiny-secret"
quota = 10
)");
  Injection in = injection("mail.school.test");
  in.recipients = {"tiny@school.test", "bob@school.test"};
  const InjectReport report = s.world.inject(in);
  CHECK(report.refused.empty());
  CHECK(report.pending.empty());
  CHECK(report.delivered == std::vector<std::string>{"bob@school.test"});
  const MessageTrack* track = s.world.track("i1@lab.test");
  REQUIRE(track);
  CHECK(track->fates.at("tiny@school.test").state == FateState::bounced);
  CHECK(track->fates.at("tiny@school.test").where.rfind("5.2.2", 0) == 0);
  s.advance_to(std::chrono::minutes(1));
  const auto dsn = s.inbox("alice@lab.test");  // over DNS and SMTP to lab.test
  REQUIRE(dsn.size() == 1);
  CHECK(dsn[0].find("multipart/report") != std::string::npos);
}

TEST_CASE("world inject: with the primary MX down, the MX with preference 20 takes the message") {
  Served s(school_with_mx(R"([ { host = "mx1.school.test", preference = 10 },
       { host = "mx2.school.test", preference = 20 } ])") +
           R"([[fault]]
kind = "host_down"
host = "mx1.school.test"
at = "0s"
)");
  s.world.advance(Instant{});
  CHECK(s.world.mx_host("school.test") == "mx2.school.test");  // the MX port stands for the MX that is up
  s.world.inject(injection("mail.lab.test"));
  s.advance_to(std::chrono::minutes(2));
  CHECK(s.traced(TraceKind::queue, "mail.lab.test", "", "MX order for school.test: mx1.school.test (10), mx2.school.test (20)"));
  CHECK(s.traced(TraceKind::line, "mail.lab.test", "mx2.school.test", "RCPT TO:<bob@school.test>"));
  CHECK(s.world.queue_size("mail.lab.test") == 0);
  CHECK(s.world.queue_size("mx2.school.test") == 1);  // the backup holds it for mx1
  const MessageTrack* track = s.world.track("i1@lab.test");
  REQUIRE(track);
  CHECK(std::find(track->route.begin(), track->route.end(), "mx2.school.test") != track->route.end());
  CHECK(s.inbox("bob@school.test").empty());
}

TEST_CASE("world inject: a dead destination keeps the message queued and retried until it comes up") {
  Served s(two_domains + R"([[fault]]
kind = "host_down"
host = "mail.school.test"
at = "0s"
until = "12m"
)");
  std::map<std::string, Fate> settled;
  s.world.inject(injection("mail.lab.test"), [&](const auto& fates) { settled = fates; });
  s.advance_to(std::chrono::minutes(11));
  CHECK(s.world.queue_size("mail.lab.test") == 1);
  CHECK(settled.empty());
  std::size_t retries = 0;
  for (const auto& e : s.world.trace().events())
    if (e.kind == TraceKind::queue && e.action == "retry") ++retries;
  CHECK(retries == 2);  // after the first attempt (5m) and the second (10m)
  CHECK(s.inbox("bob@school.test").empty());

  s.advance_to(std::chrono::minutes(30));  // the third attempt, at about 15m, gets through
  CHECK(s.world.queue_size("mail.lab.test") == 0);
  REQUIRE(settled.count("bob@school.test") == 1);
  CHECK(settled["bob@school.test"].state == FateState::delivered);
  CHECK(s.inbox("bob@school.test").size() == 1);
}

TEST_CASE("world inject: the MX port stands for the least preference that is up, the scenario's first among equals") {
  auto mx_with = [](const std::string& faults) {
    Served s(school_with_mx(R"([ { host = "mx3.school.test", preference = 20 },
       { host = "mx1.school.test", preference = 10 }, { host = "mx2.school.test", preference = 10 } ])") +
             faults);
    s.world.advance(Instant{});
    return s.world.mx_host("school.test");
  };
  auto down = [](const char* host) {
    return std::string("[[fault]]\nkind = \"host_down\"\nhost = \"") + host + "\"\nat = \"0s\"\n";
  };
  CHECK(mx_with("") == "mx1.school.test");
  CHECK(mx_with(down("mx1.school.test")) == "mx2.school.test");
  CHECK(mx_with(down("mx2.school.test")) == "mx1.school.test");
  CHECK(mx_with(down("mx1.school.test") + down("mx2.school.test")) == "mx3.school.test");
}
