// VOPR-style test (TigerBeetle): many seeds, each generating a random world -
// domains with one or two MX hosts, users, messages to known and unknown
// addresses, mail clients fetching by IMAP or POP3 (keeping or deleting),
// servers and clients going down and coming back, greylisting - and checking
// the invariants: every envelope recipient of every message ends delivered,
// bounced, rejected or discarded exactly once; every bounce reaches its sender
// exactly once; no queue holds anything once the lifetime has passed; a client
// fetches only mail delivered to its user, each message once; no crash.
// A failure prints the seed; rerun one with MAILLAB_VOPR_SEED=N.
#include <doctest/doctest.h>

#include <cstdlib>
#include <set>
#include <string>

#include "sim/compose.hpp"
#include "sim/random.hpp"
#include "sim/scenario.hpp"
#include "sim/world.hpp"

using namespace maillab;
using namespace maillab::sim;

namespace {

std::string generate(std::uint64_t seed) {
  Prng prng(seed);
  std::string toml = "title = \"vopr\"\ndescription = \"generated\"\nuntil = \"4h\"\n";
  toml += "[queue]\nretry = [\"2m\", \"5m\", \"10m\"]\nlifetime = \"2h\"\n";
  const int domains = static_cast<int>(prng.between(2, 4));
  std::vector<std::string> users, hosts, clients;
  for (int d = 0; d < domains; ++d) {
    const std::string name = "d" + std::to_string(d) + ".test";
    toml += "[[domain]]\nname = \"" + name + "\"\n";
    const bool backup = prng.chance(0.5);
    toml += "mx = [ { host = \"mx1." + name + "\", preference = 10 }";
    hosts.push_back("mx1." + name);
    if (backup) {
      toml += ", { host = \"mx2." + name + "\", preference = 20 }";
      hosts.push_back("mx2." + name);
    }
    toml += " ]\n";
    const int n = static_cast<int>(prng.between(1, 3));
    for (int u = 0; u < n; ++u) {
      const std::string address = "u" + std::to_string(u) + "@" + name;
      users.push_back(address);
      toml += "[[user]]\naddress = \"" + address + "\"\npassword = \"pw\"\n";
      if (prng.chance(0.2)) toml += "quota = 700\n";
    }
  }
  const int messages = static_cast<int>(prng.between(2, 8));
  for (int m = 0; m < messages; ++m) {
    const std::string from = users[prng.below(users.size())];
    std::string to = users[prng.below(users.size())];
    if (prng.chance(0.2)) to = "nobody@" + to.substr(to.find('@') + 1);
    if (prng.chance(0.1)) to = "someone@nowhere.test";
    toml += "[[message]]\nat = \"" + std::to_string(prng.between(0, 3000)) + "s\"\nfrom = \"" + from +
            "\"\nto = \"" + to + "\"\nsubject = \"s" + std::to_string(m) + "\"\nbody = \"" +
            std::string(static_cast<std::size_t>(prng.between(1, 400)), 'x') + "\"\n";
  }
  for (const auto& user : users) {
    if (!prng.chance(0.6)) continue;
    const auto kind = prng.below(3);  // IMAP, POP3 keeping, POP3 deleting
    std::string name = user;
    for (auto& c : name)
      if (c == '@' || c == '.') c = '-';
    toml += "[[mua]]\nname = \"" + name + "\"\nuser = \"" + user + "\"\nfetch = \"" +
            (kind == 0 ? "imap" : "pop3") + "\"\n";
    if (kind != 0) toml += std::string("keep = ") + (kind == 1 ? "true" : "false") + "\n";
    toml += "fetch_every = \"" + std::to_string(prng.between(5, 40)) + "m\"\n";
    clients.push_back(name + "-pc");
  }
  for (const auto& host : hosts) {
    if (prng.chance(0.3)) {
      const auto start = prng.between(0, 3000);
      toml += "[[fault]]\nkind = \"host_down\"\nhost = \"" + host + "\"\nat = \"" + std::to_string(start) +
              "s\"\nuntil = \"" + std::to_string(start + prng.between(60, 3000)) + "s\"\n";
    }
    if (prng.chance(0.2)) toml += "[[fault]]\nkind = \"greylist\"\nhost = \"" + host + "\"\ndelay = \"3m\"\n";
  }
  for (const auto& client : clients) {
    if (!prng.chance(0.2)) continue;
    const auto start = prng.between(0, 3000);
    toml += "[[fault]]\nkind = \"host_down\"\nhost = \"" + client + "\"\nat = \"" +
            std::to_string(start) + "s\"\nuntil = \"" + std::to_string(start + prng.between(60, 3000)) + "s\"\n";
  }
  return toml;
}

void check_seed(std::uint64_t seed) {
  const std::string toml = generate(seed);
  auto load = load_scenario(toml, "vopr.toml");
  for (const auto& e : load.errors) FAIL("seed " << seed << ": " << e.to_string() << "\n" << toml);
  REQUIRE(load.scenario);
  World world(*load.scenario, seed);
  world.run();
  for (const auto& id : world.message_order()) {
    const MessageTrack* t = world.track(id);
    REQUIRE(t);
    for (const auto& [rcpt, fate] : t->fates) {
      INFO("seed " << seed << ": <" << id << "> to " << rcpt << " is " << to_string(fate.state) << " after "
                   << fate.finals << " final outcome(s)\n"
                   << world.summary());
      CHECK(fate.finals == 1);
      CHECK(fate.state != FateState::pending);
    }
  }
  INFO("seed " << seed << ":\n" << world.summary());
  CHECK(world.queued_total() == 0);
  // A client fetches only what was delivered to its user, and each message once.
  for (const auto& mua : load.scenario->muas) {
    if (mua.fetch == FetchProtocol::none) continue;
    std::set<std::string> seen;
    for (const auto& message : world.fetched_by(mua.name)) {
      const std::string id = message_id_of(message);
      INFO("seed " << seed << ": " << mua.name << " fetched <" << id << ">");
      CHECK(seen.insert(id).second);
      const MessageTrack* t = world.track(id);
      REQUIRE(t);
      auto fate = t->fates.find(mua.user);
      bool delivered_here = fate != t->fates.end() && fate->second.state == FateState::delivered;
      CHECK(delivered_here);
    }
  }
}

}  // namespace

TEST_CASE("vopr: random worlds deliver or bounce every message exactly once and drain their queues") {
  if (const char* one = std::getenv("MAILLAB_VOPR_SEED")) return check_seed(std::strtoull(one, nullptr, 10));
  for (std::uint64_t seed = 1; seed <= 40; ++seed) check_seed(seed);
}
