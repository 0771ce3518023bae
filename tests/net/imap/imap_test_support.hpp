// Shared fixtures for the IMAP tests: a credential table, a MemoryStore with
// alice and bob, and a transcript-style driver around one server engine.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "net/core/credentials.hpp"
#include "net/imap/imap_server.hpp"
#include "sim/store/memory_store.hpp"

namespace maillab::test {

class Users final : public net::CredentialChecker {
 public:
  std::map<std::string, std::string, std::less<>> passwords{{"alice@lab.test", "alice-secret"},
                                                            {"bob@lab.test", "bob-secret"}};
  bool verify_password(std::string_view user, std::string_view password) const override {
    auto it = passwords.find(user);
    return it != passwords.end() && it->second == password;
  }
  std::optional<std::string> shared_secret(std::string_view user) const override {
    auto it = passwords.find(user);
    if (it == passwords.end()) return std::nullopt;
    return it->second;
  }
};

inline net::imap::ServerConfig open_config() {
  net::imap::ServerConfig cfg;
  cfg.allow_cleartext_auth = true;
  cfg.unix_epoch_offset_s = 1780000000;
  return cfg;
}

inline const char* kSimpleMessage =
    "From: Bob Example <bob@lab.test>\r\n"
    "To: alice@lab.test\r\n"
    "Subject: Hello Alice\r\n"
    "Date: Mon, 02 Feb 2026 10:00:00 +0000\r\n"
    "Message-ID: <m1@lab.test>\r\n"
    "\r\n"
    "Hi Alice,\r\n"
    "see you at the lab.\r\n";

struct World {
  sim::MemoryStore store;
  Users users;
  World() {
    (void)store.ensure_user("alice@lab.test");
    (void)store.ensure_user("bob@lab.test");
  }
  std::uint32_t deliver(const std::string& user, const std::string& raw, net::mail::Flags flags = {},
                        std::int64_t date = 1770026400, const std::string& box = "INBOX") {
    auto uid = store.append(user, box, raw, flags, date);
    return uid ? *uid : 0;
  }
};

struct Session {
  World& world;
  Instant now{};
  std::unique_ptr<net::imap::ImapServer> server;
  std::string greeting;

  explicit Session(World& w, net::imap::ServerConfig cfg = open_config()) : world(w) {
    server = std::make_unique<net::imap::ImapServer>(std::move(cfg), world.users, world.store, now);
    greeting = server->poll_transmit();
  }
  std::string send(std::string_view bytes) {
    server->handle_bytes(now, bytes);
    return server->poll_transmit();
  }
  std::string cmd(const std::string& line) { return send(line + "\r\n"); }
  std::string login(const std::string& user = "alice@lab.test", const std::string& pw = "alice-secret") {
    return cmd("L LOGIN " + user + " " + pw);
  }
};

}  // namespace maillab::test
