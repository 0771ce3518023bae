// The world's handoffs (`maillab serve`): with a handoff sink, the DSNs and
// forwarded copies that injected mail causes go to the caller, who queues
// them durably, before the recipient they come from is final.
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

const std::string scenario_text = R"(title = "t"
description = "d"
[[domain]]
name = "lab.test"
[[domain]]
name = "school.test"
[[user]]
address = "alice@lab.test"
password = "alice-secret"
[[user]]
address = "bob@school.test"
password = "bob-secret"
forward = "carol@lab.test"
[[user]]
address = "carol@lab.test"
password = "carol-secret"
)";

struct Served {
  explicit Served(const std::string& text = scenario_text) : scenario(load(text)), world(scenario, 7, options()) {
    world.set_handoff([this](const Handoff& made) {
      handoffs.push_back(made);
      log.push_back("handoff " + made.msg);
      bob_inbox_at_handoff.push_back(inbox_size("bob@school.test"));
    });
  }
  static Scenario load(const std::string& text) {
    auto loaded = load_scenario(text, "t.toml");
    for (const auto& e : loaded.errors) FAIL_CHECK(e.to_string());
    REQUIRE(loaded.scenario);
    return *loaded.scenario;
  }
  WorldOptions options() {
    WorldOptions o;
    o.clock = &clock;
    o.store = &store;
    o.scripted = false;
    return o;
  }
  InjectReport inject(const std::string& to, const std::string& msg) {
    Injection in;
    in.host = "mail.lab.test";
    in.sender = "alice@lab.test";
    in.recipients = {to};
    in.data = "From: alice@lab.test\r\nTo: " + to + "\r\nSubject: s\r\nMessage-ID: <" + msg + ">\r\n\r\nhi\r\n";
    in.msg = msg;
    in.client = "127.0.0.1:51234";
    in.proto = "submission";
    in.tag = "Q." + msg;
    return world.inject(in, [this](const std::map<std::string, Fate>& fates) {
      for (const auto& [recipient, fate] : fates) log.push_back("final " + recipient + " " + std::string(to_string(fate.state)));
    });
  }
  void advance_to(Duration until) {
    const Instant end = Instant{} + until;
    while (clock.now() < end) {
      const Instant next = std::min(end, std::min(world.next_deadline(), clock.now() + std::chrono::milliseconds(10)));
      world.advance(next);
    }
  }
  std::size_t inbox_size(const std::string& user) const {
    auto metas = store.messages(user, "INBOX");
    return metas ? metas->size() : 0;
  }

  Scenario scenario;
  VirtualClock clock;
  MemoryStore store;
  World world;
  std::vector<Handoff> handoffs;
  std::vector<std::string> log;
  std::vector<std::size_t> bob_inbox_at_handoff;  // bob's INBOX as each handoff saw it
};

}  // namespace

TEST_CASE("world handoff: an unknown remote user's DSN goes to the caller, not to alice, before the user is final") {
  Served served;
  served.inject("nobody@school.test", "h1@lab.test");
  served.advance_to(std::chrono::seconds(30));
  REQUIRE(served.handoffs.size() == 1);
  const Handoff& dsn = served.handoffs.front();
  CHECK(dsn.dsn);
  CHECK(dsn.host == "mail.lab.test");  // mail.school.test refused the RCPT: the relaying MTA reports
  CHECK(dsn.sender.empty());
  CHECK(dsn.recipients == std::vector<std::string>{"alice@lab.test"});
  CHECK(dsn.origins == std::vector<std::pair<std::string, std::string>>{{"Q.h1@lab.test", "nobody@school.test"}});
  CHECK(dsn.data.find("report-type=delivery-status") != std::string::npos);
  CHECK(dsn.data.find("Message-ID: <" + dsn.msg + ">") != std::string::npos);
  CHECK(served.inbox_size("alice@lab.test") == 0);  // the caller delivers it
  CHECK(served.log == std::vector<std::string>{"handoff " + dsn.msg, "final nobody@school.test bounced"});
}

TEST_CASE("world handoff: bob's forward to carol goes to the caller with bob as its origin; bob keeps his copy") {
  Served served;
  served.inject("bob@school.test", "h2@lab.test");
  served.advance_to(std::chrono::seconds(30));
  REQUIRE(served.handoffs.size() == 1);
  const Handoff& copy = served.handoffs.front();
  CHECK_FALSE(copy.dsn);
  CHECK(copy.host == "mail.school.test");
  CHECK(copy.sender == "alice@lab.test");
  CHECK(copy.msg == "h2@lab.test");
  CHECK(copy.recipients == std::vector<std::string>{"carol@lab.test"});
  CHECK(copy.origins == std::vector<std::pair<std::string, std::string>>{{"Q.h2@lab.test", "bob@school.test"}});
  CHECK(served.inbox_size("bob@school.test") == 1);
  CHECK(served.inbox_size("carol@lab.test") == 0);  // not until the caller injects the copy
  CHECK(served.log == std::vector<std::string>{"handoff h2@lab.test", "final bob@school.test delivered"});
}

TEST_CASE("world handoff: a copy injected again at its host with no client is delivered like any injection") {
  Served served;
  served.inject("bob@school.test", "h3@lab.test");
  served.advance_to(std::chrono::seconds(30));
  REQUIRE(served.handoffs.size() == 1);
  Injection again;
  again.host = served.handoffs.front().host;
  again.sender = served.handoffs.front().sender;
  again.recipients = served.handoffs.front().recipients;
  again.data = served.handoffs.front().data;
  again.msg = served.handoffs.front().msg;
  again.tag = "Q.copy";
  served.world.inject(again, {});
  served.advance_to(std::chrono::seconds(60));
  CHECK(served.inbox_size("carol@lab.test") == 1);
  CHECK(served.handoffs.size() == 1);  // carol does not forward: nothing new
}

TEST_CASE("world handoff: bob's kept copy is in his INBOX before his forward is handed over") {
  // The caller may make the forward durable at once and, after a crash, count
  // bob as done because of it: his own copy must be stored by then.
  Served served;
  served.inject("bob@school.test", "h4@lab.test");
  served.advance_to(std::chrono::seconds(30));
  REQUIRE(served.handoffs.size() == 1);
  CHECK(served.handoffs.front().recipients == std::vector<std::string>{"carol@lab.test"});
  CHECK(served.bob_inbox_at_handoff == std::vector<std::size_t>{1});
}

// bob's forward with another line after `forward = ...` in his [[user]] table.
std::string bob_with(const std::string& line) {
  std::string text = scenario_text;
  const std::string forward = "forward = \"carol@lab.test\"\n";
  text.insert(text.find(forward) + forward.size(), line + "\n");
  return text;
}

TEST_CASE("world handoff: bob's forward without a kept copy is handed over with nothing stored, bob delivered") {
  Served served(bob_with("keep = false"));
  served.inject("bob@school.test", "h5@lab.test");
  served.advance_to(std::chrono::seconds(30));
  REQUIRE(served.handoffs.size() == 1);
  CHECK(served.handoffs.front().origins ==
        std::vector<std::pair<std::string, std::string>>{{"Q.h5@lab.test", "bob@school.test"}});
  CHECK(served.bob_inbox_at_handoff == std::vector<std::size_t>{0});
  CHECK(served.inbox_size("bob@school.test") == 0);
  CHECK(served.log == std::vector<std::string>{"handoff h5@lab.test", "final bob@school.test delivered"});
}

TEST_CASE("world handoff: bob's kept copy over his quota bounces, his forward is still handed over, then the DSN") {
  Served served(bob_with("quota = 10"));
  served.inject("bob@school.test", "h6@lab.test");
  served.advance_to(std::chrono::seconds(30));
  REQUIRE(served.handoffs.size() == 2);
  CHECK_FALSE(served.handoffs[0].dsn);
  CHECK(served.handoffs[0].recipients == std::vector<std::string>{"carol@lab.test"});
  CHECK(served.handoffs[1].dsn);
  CHECK(served.handoffs[1].recipients == std::vector<std::string>{"alice@lab.test"});
  CHECK(served.handoffs[1].data.find("5.2.2") != std::string::npos);
  for (const auto& made : served.handoffs)
    CHECK(made.origins == std::vector<std::pair<std::string, std::string>>{{"Q.h6@lab.test", "bob@school.test"}});
  CHECK(served.inbox_size("bob@school.test") == 0);
  REQUIRE(served.log.size() == 3);
  CHECK(served.log[2] == "final bob@school.test bounced");
}
