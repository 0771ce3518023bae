// libFuzzer target: the SMTP server engine (net/smtp/smtp_server.hpp).
//
// Input layout: byte 0 picks the configuration (strict pipelining, TLS
// available, submission, tight limits, greeting delay), byte 1 seeds the chunk
// sizes, the rest is what the client sends.  Checked for every input:
//   1. no crash, no sanitizer report, no assertion (the transition table);
//   2. the same bytes fed in one piece and in random pieces give the same
//      replies and the same messages (framing never depends on read sizes),
//      except where it must: strict pipelining and STARTTLS;
//   3. every stored message is canonical: CRLF line ends only, no NUL, no line
//      over 998 octets, nothing after a refusal;
//   4. after "DATA", a stream with no genuine <CRLF>.<CRLF> (every one removed)
//      never ends the data: no reply and no MessageEvent follow the 354, so
//      whatever follows a bare-LF dot can never become a second message.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "net/smtp/smtp_server.hpp"

namespace smtp = maillab::net::smtp;
using maillab::Duration;
using maillab::Instant;

namespace {

void require(bool condition) {
  if (!condition) std::abort();
}

class FuzzCredentials final : public maillab::net::CredentialChecker {
 public:
  bool verify_password(std::string_view user, std::string_view password) const override {
    return user == "alice@lab.test" && password == "alice-secret";
  }
  std::optional<std::string> shared_secret(std::string_view user) const override {
    if (user == "alice@lab.test") return std::string("alice-secret");
    return std::nullopt;
  }
};

class FuzzPolicy final : public smtp::Policy {
 public:
  smtp::AuthOffer auth_offer(const smtp::SessionInfo& session) const override {
    return session.submission && !session.tls_active ? smtp::AuthOffer::requires_tls : smtp::AuthOffer::offered;
  }
  const maillab::net::CredentialChecker& credentials() const override { return credentials_; }
  bool sender_allowed(std::string_view user, const maillab::net::mail::Address& sender) const override {
    return sender.to_string() == user;
  }
  smtp::RecipientVerdict check_recipient(const smtp::SessionInfo& session,
                                         const maillab::net::mail::Address& recipient) const override {
    if (recipient.domain_key() == "lab.test") {
      return recipient.local_part == "bob" ? smtp::RecipientVerdict::accept : smtp::RecipientVerdict::unknown_user;
    }
    return session.authenticated_user.empty() ? smtp::RecipientVerdict::relay_denied : smtp::RecipientVerdict::accept;
  }

 private:
  FuzzCredentials credentials_;
};

struct Run {
  std::string transmitted;
  std::vector<std::string> messages;
  bool started_tls = false;
};

void check_canonical(const std::string& data) {
  std::size_t line = 0;
  for (std::size_t i = 0; i < data.size(); ++i) {
    const char c = data[i];
    require(c != '\0');
    if (c == '\r') {
      require(i + 1 < data.size() && data[i + 1] == '\n');
      require(line <= 998);
      line = 0;
      ++i;
      continue;
    }
    require(c != '\n');
    ++line;
  }
  require(line == 0);  // ends with CRLF or is empty
}

smtp::ServerConfig make_config(std::uint8_t knobs) {
  smtp::ServerConfig config;
  config.strict_pipelining = (knobs & 0x01) != 0;
  config.tls_available = (knobs & 0x02) != 0;
  config.submission = (knobs & 0x04) != 0;
  if ((knobs & 0x08) != 0) {
    config.recipients_max = 2;
    config.message_octets_max = 64;
    config.errors_max = 5;
    config.input_buffered_octets_max = 256;
  }
  if ((knobs & 0x10) != 0) config.greeting_delay = Duration{1'000'000};
  config.chunking = (knobs & 0x20) == 0;
  return config;
}

// Feeds `input` in pieces whose sizes come from `seed` (0: one piece).
Run run(const smtp::ServerConfig& config, std::string_view input, std::uint8_t seed) {
  FuzzPolicy policy;
  Instant now{0};
  smtp::Server server(config, policy, now);
  Run result;
  std::uint32_t state = seed;
  std::size_t at = 0;
  std::size_t queue_number = 0;
  const auto drain = [&] {
    result.transmitted += server.poll_transmit();
    while (auto event = server.poll_event()) {
      if (auto* message = std::get_if<smtp::MessageEvent>(&*event)) {
        check_canonical(message->data);
        require(!message->forward_paths.empty());
        result.messages.push_back(message->data);
      } else if (std::holds_alternative<maillab::net::StartTlsEvent>(*event)) {
        result.started_tls = true;
        server.handle_tls_established(now);
      }
    }
    if (server.state() == smtp::ServerState::queueing) {
      const bool accept = (queue_number++ % 3) != 2;
      require(server.complete_message(now, accept ? smtp::StoreOutcome{smtp::StoreResult::accepted, "Q", {}}
                                                  : smtp::StoreOutcome{smtp::StoreResult::temporary_failure, {}, {}}));
    }
  };
  drain();
  if (config.greeting_delay > Duration::zero() && !input.empty() && (input[0] & 1) != 0) {
    now = now + config.greeting_delay;
    server.handle_timeout(now);
  }
  drain();
  while (at < input.size()) {
    std::size_t piece = input.size() - at;
    if (seed != 0) {
      state = state * 1103515245u + 12345u;
      piece = std::min<std::size_t>(piece, 1 + (state >> 16) % 64);
    }
    server.handle_bytes(now, input.substr(at, piece));
    at += piece;
    drain();
    drain();  // a completed message may release pipelined input
  }
  require(server.poll_timeout() >= now);
  now = server.poll_timeout() == maillab::never ? now : server.poll_timeout();
  server.handle_timeout(now);
  drain();
  return result;
}

std::string remove_data_ends(std::string text) {
  // Remove every genuine end of data, including one formed at the start right
  // after the DATA line's CRLF, until none is left.
  for (bool changed = true; changed;) {
    changed = false;
    while (text.starts_with(".\r\n")) {
      text.erase(0, 3);
      changed = true;
    }
    for (auto at = text.find("\r\n.\r\n"); at != std::string::npos; at = text.find("\r\n.\r\n")) {
      text.erase(at, 5);
      changed = true;
    }
  }
  return text;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const smtp::ServerConfig config = make_config(data[0]);
  const std::uint8_t seed = data[1] == 0 ? 1 : data[1];
  const std::string_view input(reinterpret_cast<const char*>(data + 2), size - 2);

  const Run whole = run(config, input, 0);
  const Run pieces = run(config, input, seed);
  // Strict pipelining and STARTTLS depend on what arrived together by design.
  if (!config.strict_pipelining && !whole.started_tls && !pieces.started_tls) {
    require(whole.transmitted == pieces.transmitted);
    require(whole.messages == pieces.messages);
  }

  // Property 4: an open DATA that never sees a genuine <CRLF>.<CRLF>.
  smtp::ServerConfig plain;
  const std::string prefix = "EHLO fuzz\r\nMAIL FROM:<alice@lab.test>\r\nRCPT TO:<bob@lab.test>\r\nDATA\r\n";
  std::string body = remove_data_ends(std::string(input));
  // A trailing "\r\n." or "\r\n.\r" could complete an end with nothing else: cut it.
  while (!body.empty() && (body.back() == '.' || body.back() == '\r' || body.back() == '\n')) body.pop_back();
  std::size_t after_data = 0;
  FuzzPolicy policy;
  smtp::Server server(plain, policy, Instant{0});
  server.handle_bytes(Instant{0}, prefix);
  (void)server.poll_transmit();
  while (server.poll_event()) {
  }
  require(server.state() == smtp::ServerState::data);
  for (std::size_t at = 0; at < body.size(); at += 97) {
    server.handle_bytes(Instant{0}, std::string_view(body).substr(at, 97));
    after_data += server.poll_transmit().size();
    while (auto event = server.poll_event()) {
      require(!std::holds_alternative<smtp::MessageEvent>(*event));
    }
  }
  require(after_data == 0);
  require(server.state() == smtp::ServerState::data);
  return 0;
}
