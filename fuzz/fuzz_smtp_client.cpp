// libFuzzer target: the SMTP client engine against an arbitrary server.
//
// The first byte picks the client's configuration (TLS policy, credentials,
// pipelined or not is the server's choice, so it comes from the input too);
// the rest is server output, cut into deliveries by length bytes.  Between
// deliveries the target plays the driver: takes the client's output, runs
// the "handshake" when asked, and sometimes lets time pass.  The invariants
// checked: the engine never asserts, and once closed every recipient of every
// message has had exactly one outcome and every message exactly one.
#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "net/smtp/smtp_client.hpp"

using namespace maillab;
using namespace maillab::net::smtp;

namespace {

// Counts outcomes per recipient (addresses are distinct within a message here).
void drain(Client& client, const ClientConfig& config, std::vector<std::vector<int>>& rcpts_seen,
           std::vector<int>& messages_seen) {
  (void)client.poll_transmit();
  while (auto event = client.poll_event()) {
    if (const auto* r = std::get_if<RecipientOutcome>(&*event)) {
      const auto& paths = config.messages.at(r->message).forward_paths;
      const auto it = std::find(paths.begin(), paths.end(), r->address);
      if (it == paths.end()) std::abort();
      if (++rcpts_seen[r->message][static_cast<std::size_t>(it - paths.begin())] != 1) std::abort();
    } else if (const auto* m = std::get_if<MessageOutcome>(&*event)) {
      if (++messages_seen.at(m->message) != 1) std::abort();
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::uint8_t flags = data[0];
  std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);

  ClientConfig config;
  config.helo_name = "fuzz.test";
  config.tls = static_cast<TlsPolicy>(flags % 3);
  if (flags & 0x04) config.credentials = ClientCredentials{"alice@lab.test", "secret"};
  config.auth_without_tls = (flags & 0x08) != 0;
  if (flags & 0x10) config.auth_mechanisms = {AuthMechanism::login, AuthMechanism::plain};
  config.reply_limits.line_bytes_max = 512;
  config.messages = {
      OutgoingMessage{"alice@lab.test", {"bob@lab.test", "carol@lab.test"}, "Subject: a\r\n\r\n.x\r\n"},
      OutgoingMessage{"", {"j\xc3\xb6rg@lab.test"}, "caf\xc3\xa9\n"},
      OutgoingMessage{"a@b.test", {"c@d.test"}, std::string(300, 'y')},
  };
  std::vector<std::vector<int>> seen;
  for (const auto& m : config.messages) seen.emplace_back(m.forward_paths.size(), 0);
  std::vector<int> messages_seen(config.messages.size(), 0);

  Instant now{0};
  Client client(config, now);
  std::size_t at = 0;
  while (at < input.size() && client.state() != ClientState::closed) {
    const auto control = static_cast<std::uint8_t>(input[at++]);
    const std::size_t length = std::min<std::size_t>(control & 0x3f, input.size() - at);
    if ((control & 0xc0) == 0xc0) {
      now = now + std::chrono::seconds(control & 0x3f) * 20;
      if (client.poll_timeout() <= now) client.handle_timeout(now);
    } else {
      client.handle_bytes(now, input.substr(at, length));
      at += length;
    }
    drain(client, config, seen, messages_seen);
    if (client.state() == ClientState::tls_handshake && (control & 0x40)) {
      client.handle_tls_established(now);
      drain(client, config, seen, messages_seen);
    }
  }
  client.handle_close(now);
  drain(client, config, seen, messages_seen);
  if (client.state() != ClientState::closed) std::abort();
  for (const auto& message : seen) {
    for (int decided : message) {
      if (decided != 1) std::abort();  // a recipient left without an outcome
    }
  }
  for (int n : messages_seen) {
    if (n != 1) std::abort();
  }
  return 0;
}
