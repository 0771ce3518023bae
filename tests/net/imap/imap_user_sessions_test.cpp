// The IMAP engine's per-user session hook (catalogue row 43): the driver's
// counter is asked at login and given back at logout or when the engine goes.
#include <doctest/doctest.h>

#include <map>

#include "imap_test_support.hpp"
#include "net/core/sasl.hpp"

using namespace maillab;
using namespace maillab::net::imap;
using maillab::test::Session;
using maillab::test::World;

namespace {
bool has(const std::string& hay, const std::string& needle) { return hay.find(needle) != std::string::npos; }

class Counter final : public UserSessions {
 public:
  explicit Counter(std::size_t max) : max_(max) {}
  bool try_open(std::string_view user) override {
    auto& n = open[std::string(user)];
    if (n >= max_) return false;
    ++n;
    return true;
  }
  void close(std::string_view user) override { --open[std::string(user)]; }
  std::map<std::string, std::size_t> open;

 private:
  std::size_t max_;
};

ServerConfig capped(Counter& counter) {
  ServerConfig cfg = maillab::test::open_config();
  cfg.user_sessions = &counter;
  cfg.auth_failure_delay = Duration::zero();
  return cfg;
}
}  // namespace

TEST_CASE("imap server: one login more than the user's session cap gets NO [LIMIT] and stays unauthenticated") {
  World w;
  Counter counter(2);
  Session first(w, capped(counter));
  Session second(w, capped(counter));
  Session third(w, capped(counter));
  CHECK(has(first.login(), "L OK"));
  CHECK(has(second.login(), "L OK"));
  CHECK(third.login() == "L NO [LIMIT] Too many sessions for this user; log out elsewhere first\r\n");
  CHECK(third.server->state() == ServerState::not_authenticated);
  CHECK(counter.open["alice@lab.test"] == 2);
  // Another user is not affected, and the refused connection still works.
  CHECK(has(third.login("bob@lab.test", "bob-secret"), "L OK"));
  CHECK(third.server->state() == ServerState::authenticated);
}

TEST_CASE("imap server: AUTHENTICATE PLAIN is held to the same cap") {
  World w;
  Counter counter(1);
  Session first(w, capped(counter));
  Session second(w, capped(counter));
  CHECK(has(first.login(), "L OK"));
  CHECK(second.cmd("A AUTHENTICATE PLAIN " + net::encode_sasl_plain("alice@lab.test", "alice-secret")) ==
        "A NO [LIMIT] Too many sessions for this user; log out elsewhere first\r\n");
}

TEST_CASE("imap server: LOGOUT and a dropped connection give the session back; a failed login takes none") {
  World w;
  Counter counter(1);
  {
    Session wrong(w, capped(counter));
    CHECK(has(wrong.login("alice@lab.test", "guess"), "L NO [AUTHENTICATIONFAILED]"));
    CHECK(counter.open["alice@lab.test"] == 0);
  }
  Session first(w, capped(counter));
  CHECK(has(first.login(), "L OK"));
  CHECK(has(first.cmd("Z LOGOUT"), "Z OK"));
  CHECK(counter.open["alice@lab.test"] == 0);
  {
    Session dropped(w, capped(counter));
    CHECK(has(dropped.login(), "L OK"));
    CHECK(counter.open["alice@lab.test"] == 1);
  }  // the engine is destroyed without LOGOUT: the connection went away
  CHECK(counter.open["alice@lab.test"] == 0);
  Session again(w, capped(counter));
  CHECK(has(again.login(), "L OK"));
  again.server->handle_close(again.now);
  CHECK(counter.open["alice@lab.test"] == 0);
}
