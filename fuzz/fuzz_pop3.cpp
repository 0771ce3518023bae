// libFuzzer target: arbitrary client bytes into the POP3 server engine over a
// small MemoryStore.  Besides "no crash", it checks the rule that matters
// most for POP3: nothing is deleted unless the session reached UPDATE through
// QUIT (RFC 1939 §6), and a session never leaves its maildrop locked.
//
// Input layout: byte 0 picks the config (cleartext allowed, STLS available,
// APOP timestamp, failure delay, line limit), byte 1 the segment size; the rest is the byte stream, fed
// in segments so that line splitting across reads is exercised.  A StartTls
// event is answered with handle_tls_established(), as a driver would.
#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <string>
#include <string_view>
#include <variant>

#include "net/core/credentials.hpp"
#include "net/pop3/pop3_server.hpp"
#include "sim/store/memory_store.hpp"

namespace {

using namespace maillab;

class FixedUsers final : public net::CredentialChecker {
 public:
  bool verify_password(std::string_view user, std::string_view password) const override {
    return user == "alice@lab.test" && password == "alice-secret";
  }
  std::optional<std::string> shared_secret(std::string_view user) const override {
    if (user == "alice@lab.test") return std::string("alice-secret");
    return std::nullopt;
  }
};

void check(bool condition) {
  if (!condition) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const std::uint8_t mode = data[0];
  const std::size_t segment = static_cast<std::size_t>(data[1]) + 1;
  const std::string_view input(reinterpret_cast<const char*>(data + 2), size - 2);

  sim::MemoryStore store;
  check(store.ensure_user("alice@lab.test").ok());
  const char* messages[] = {
      "Subject: one\r\n\r\nbody\r\n",
      "Subject: dots\r\n\r\n.\r\n..\r\nno final newline",
      "",
  };
  for (const char* message : messages) check(store.append("alice@lab.test", "INBOX", message, {}, 0).ok());
  const std::size_t initial = store.messages("alice@lab.test", "INBOX")->size();

  FixedUsers users;
  net::pop3::MaildropLocks locks;
  net::pop3::ServerConfig config;
  config.allow_cleartext_auth = (mode & 1U) != 0;
  config.tls_available = (mode & 2U) != 0;
  if ((mode & 4U) != 0) config.apop_timestamp = "<1.2@pop3.lab.test>";
  config.auth_failure_delay = (mode & 8U) != 0 ? std::chrono::seconds(2) : Duration::zero();
  config.line_bytes_max = 64 + (mode >> 4U) * 32U;

  std::size_t expunged = 0;
  bool quit_seen = false;
  {
    Instant now{0};
    net::pop3::Server server(config, store, users, locks, now);
    auto drain = [&] {
      (void)server.poll_transmit();
      while (auto event = server.poll_event()) {
        if (std::holds_alternative<net::StartTlsEvent>(*event)) server.handle_tls_established(now);
        if (const auto* line = std::get_if<net::LineEvent>(&*event)) {
          if (line->dir == net::Direction::client_to_server && line->text.size() >= 4) {
            std::string verb = line->text.substr(0, 4);
            for (char& c : verb) c = static_cast<char>(c & ~0x20);
            if (verb == "QUIT") quit_seen = true;
          }
        }
        if (const auto* update = std::get_if<net::pop3::UpdateEvent>(&*event)) {
          check(quit_seen);
          expunged += update->expunged_uids.size();
        }
      }
    };
    for (std::size_t offset = 0; offset < input.size(); offset += segment) {
      now = now + Duration{1000};
      // Every other segment arrives after the failure delay, if one is running.
      if ((offset / segment) % 2 == 1 && server.poll_timeout() < now + std::chrono::seconds(3)) {
        now = std::max(now, server.poll_timeout());
        server.handle_timeout(now);
        drain();
      }
      server.handle_bytes(now, input.substr(offset, segment));
      drain();
    }
    // Let every pending deadline pass: held replies, then the autologout.
    for (int i = 0; i < 8 && server.state() != net::pop3::ServerState::closed; ++i) {
      now = std::max(now, server.poll_timeout());
      server.handle_timeout(now);
      drain();
    }
    check(server.state() == net::pop3::ServerState::closed);
    server.handle_close(now);
    drain();
    check(!locks.is_locked("alice@lab.test"));
  }
  const std::size_t remaining = store.messages("alice@lab.test", "INBOX")->size();
  check(remaining + expunged == initial);
  check(locks.held() == 0);
  return 0;
}
