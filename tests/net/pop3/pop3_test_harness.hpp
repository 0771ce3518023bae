// Test helpers for the POP3 engines: a credential table, a transcript-style
// server fixture over a MemoryStore, and an in-memory client <-> server pair
// (h11's ConnectionPair) that also plays the TLS handshake for STLS.
#pragma once

#include <doctest/doctest.h>

#include <algorithm>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "net/core/credentials.hpp"
#include "net/pop3/pop3_client.hpp"
#include "net/pop3/pop3_server.hpp"
#include "sim/store/memory_store.hpp"

namespace pop3_test {

using namespace maillab;
using namespace maillab::net::pop3;

class Users final : public net::CredentialChecker {
 public:
  void add(const std::string& user, const std::string& password) { passwords_[user] = password; }
  bool verify_password(std::string_view user, std::string_view password) const override {
    const auto it = passwords_.find(std::string(user));
    return it != passwords_.end() && it->second == password;
  }
  std::optional<std::string> shared_secret(std::string_view user) const override {
    const auto it = passwords_.find(std::string(user));
    if (it == passwords_.end()) return std::nullopt;
    return it->second;
  }

 private:
  std::map<std::string, std::string> passwords_;
};

inline constexpr std::string_view kAlice = "alice@lab.test";
inline constexpr std::string_view kAlicePassword = "alice-secret";
inline constexpr std::string_view kTimestamp = "<4711.1764190000@pop3.lab.test>";

// The world one or more server sessions share.
struct World {
  sim::MemoryStore store;
  Users users;
  MaildropLocks locks;
  Instant now{1'000'000};

  World() {
    users.add(std::string(kAlice), std::string(kAlicePassword));
    users.add("bob@lab.test", "bob-secret");
    REQUIRE(store.ensure_user(kAlice).ok());
    REQUIRE(store.ensure_user("bob@lab.test").ok());
  }

  std::uint32_t deliver(std::string_view data, std::string_view user = kAlice) {
    auto uid = store.append(user, "INBOX", data, {}, 1764190000);
    REQUIRE(uid.ok());
    return *uid;
  }
  std::size_t inbox_size(std::string_view user = kAlice) const {
    auto list = store.messages(user, "INBOX");
    REQUIRE(list.ok());
    return list->size();
  }
};

inline ServerConfig cleartext_config() {
  ServerConfig config;
  config.apop_timestamp = std::string(kTimestamp);
  config.allow_cleartext_auth = true;
  config.auth_failure_delay = Duration::zero();  // the delay has its own tests
  return config;
}

// One server session driven line by line: send() returns what the server
// wrote back, events are collected as they come.
class Session {
 public:
  Session(World& world, ServerConfig config = cleartext_config())
      : world_(world), server_(std::make_unique<Server>(std::move(config), world.store, world.users,
                                                        world.locks, world.now)) {
    greeting_ = take();
  }

  std::string send(std::string_view bytes) {
    server_->handle_bytes(world_.now, bytes);
    return take();
  }
  // One command line; returns the whole reply (multi-line replies included).
  std::string command(std::string_view line) { return send(std::string(line) + "\r\n"); }

  std::string login(std::string_view user = kAlice, std::string_view password = kAlicePassword) {
    REQUIRE(command("USER " + std::string(user)) == "+OK\r\n");
    return command("PASS " + std::string(password));
  }

  std::string take() {
    drain();
    return server_->poll_transmit();
  }
  void drain() {
    while (auto event = server_->poll_event()) events_.push_back(std::move(*event));
  }

  template <typename T>
  std::vector<T> events_of() {
    drain();
    std::vector<T> out;
    for (const auto& event : events_) {
      if (const auto* e = std::get_if<T>(&event)) out.push_back(*e);
    }
    return out;
  }
  bool closed() const { return server_->state() == ServerState::closed; }

  Server& server() { return *server_; }
  const std::string& greeting() const { return greeting_; }
  void destroy() { server_.reset(); }

 private:
  World& world_;
  std::unique_ptr<Server> server_;
  std::string greeting_;
  std::vector<ServerEvent> events_;
};

// A client engine and a server engine joined in memory.  run() shuttles bytes
// until both are quiet; when both have asked for TLS it "completes the
// handshake" on both sides, as the TLS layer would.
class Pair {
 public:
  Pair(World& world, ClientConfig client_config, ServerConfig server_config = cleartext_config())
      : world_(world),
        server_(std::move(server_config), world.store, world.users, world.locks, world.now),
        client_(std::move(client_config), world.now) {}

  void run() {
    for (int rounds = 0; rounds < 100000; ++rounds) {
      bool moved = false;
      std::string to_client = server_.poll_transmit();
      if (!to_client.empty() && !cut_) {
        moved = true;
        client_.handle_bytes(world_.now, to_client);
      }
      drain();
      std::string to_server = client_.poll_transmit();
      if (!to_server.empty() && !cut_) {
        moved = true;
        server_.handle_bytes(world_.now, to_server);
      }
      drain();
      if (server_tls_pending_ && client_tls_pending_) {
        server_tls_pending_ = client_tls_pending_ = false;
        server_.handle_tls_established(world_.now);
        client_.handle_tls_established(world_.now);
        moved = true;
        drain();
      }
      if (!moved) {
        // Quiet: let the clock jump to the next deadline, as the simulator does.
        const Instant next = std::min(server_.poll_timeout(), client_.poll_timeout());
        if (next == never || next > world_.now + max_wait_) return;
        world_.now = std::max(world_.now, next);
        server_.handle_timeout(world_.now);
        client_.handle_timeout(world_.now);
        drain();
      }
    }
    FAIL("pair did not settle");
  }

  void drain() {
    while (auto event = server_.poll_event()) {
      if (std::holds_alternative<net::StartTlsEvent>(*event)) server_tls_pending_ = true;
      server_events_.push_back(std::move(*event));
    }
    while (auto event = client_.poll_event()) {
      if (std::holds_alternative<net::StartTlsEvent>(*event)) client_tls_pending_ = true;
      if (const auto* line = std::get_if<net::LineEvent>(&*event)) {
        if (line->dir == net::Direction::client_to_server) {
          client_lines_.push_back(line->text);
          if (cut_after_ && cut_after_(line->text)) cut_ = true;
        }
      }
      client_events_.push_back(std::move(*event));
    }
  }

  template <typename T>
  std::vector<T> client_events() const {
    std::vector<T> out;
    for (const auto& event : client_events_) {
      if (const auto* e = std::get_if<T>(&event)) out.push_back(*e);
    }
    return out;
  }
  template <typename T>
  std::vector<T> server_events() const {
    std::vector<T> out;
    for (const auto& event : server_events_) {
      if (const auto* e = std::get_if<T>(&event)) out.push_back(*e);
    }
    return out;
  }
  SummaryEvent summary() const {
    const auto summaries = client_events<SummaryEvent>();
    REQUIRE(summaries.size() == 1);
    return summaries.front();
  }
  // The connection breaks just before the first client line for which `when`
  // holds reaches the server: from then on no byte is delivered either way.
  template <typename F>
  void drop_before(F when) {
    cut_after_ = when;
  }
  void close_both() {
    server_.handle_close(world_.now);
    client_.handle_close(world_.now);
    drain();
  }

  // Deadlines further away than this are not waited for (idle timeouts).
  void wait_at_most(Duration max_wait) { max_wait_ = max_wait; }

  Server& server() { return server_; }
  Client& client() { return client_; }
  const std::vector<std::string>& client_lines() const { return client_lines_; }

 private:
  World& world_;
  Server server_;
  Client client_;
  std::vector<ServerEvent> server_events_;
  std::vector<ClientEvent> client_events_;
  std::vector<std::string> client_lines_;
  std::function<bool(const std::string&)> cut_after_;
  Duration max_wait_ = std::chrono::seconds(10);
  bool cut_ = false;
  bool server_tls_pending_ = false;
  bool client_tls_pending_ = false;
};

}  // namespace pop3_test
