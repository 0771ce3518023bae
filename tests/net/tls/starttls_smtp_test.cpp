// STARTTLS for real: the SMTP client engine and server engine (net/smtp) talk
// through two TlsEngines (net/tls) in memory, as the simulator and the lab
// server drive them.  The driver here follows net/core/engine.hpp: on each
// side's StartTlsEvent it sends what the engine already queued (the 220) in
// clear, then routes every later byte through that side's TlsEngine and calls
// handle_tls_established() once the handshake is done.
#include <doctest/doctest.h>

#include <algorithm>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "net/core/sasl.hpp"
#include "net/smtp/smtp_client.hpp"
#include "net/smtp/smtp_server.hpp"
#include "tests/net/tls/tls_test_support.hpp"

using namespace maillab;
using namespace maillab::net::smtp;
using namespace maillab::net::tls;
using namespace maillab::net::tls::testing;

namespace {

class Passwords final : public net::CredentialChecker {
 public:
  bool verify_password(std::string_view user, std::string_view password) const override {
    return user == "alice@lab.test" && password == "alice-secret";
  }
  std::optional<std::string> shared_secret(std::string_view user) const override {
    if (user == "alice@lab.test") return std::string("alice-secret");
    return std::nullopt;
  }
};

// A submission server's policy: AUTH only inside TLS; lab.test is local.
class SubmissionPolicy final : public Policy {
 public:
  AuthOffer auth_offer(const SessionInfo& session) const override {
    return session.tls_active ? AuthOffer::offered : AuthOffer::requires_tls;
  }
  const net::CredentialChecker& credentials() const override { return passwords_; }
  bool sender_allowed(std::string_view user, const net::mail::Address& sender) const override {
    return sender.to_string() == user;
  }
  RecipientVerdict check_recipient(const SessionInfo& session, const net::mail::Address& recipient) const override {
    if (recipient.domain_key() == "lab.test") return RecipientVerdict::accept;
    return session.authenticated_user.empty() ? RecipientVerdict::relay_denied : RecipientVerdict::accept;
  }

 private:
  Passwords passwords_;
};

struct SeenLine {
  char side = 'C';  // whose engine reported it
  std::string text;
  bool tls = false;
};

// One SMTP session over a byte pipe with real TLS after STARTTLS.
class TlsSmtpWire {
 public:
  TlsSmtpWire(ServerConfig server_config, ClientConfig client_config, TlsContext client_context,
              std::string server_name)
      : server_context_(lab_server_context()),
        client_context_(std::move(client_context)),
        server_name_(std::move(server_name)),
        server_(std::move(server_config), policy_, now_),
        client_(std::move(client_config), now_) {}

  // Plaintext a man in the middle appends to the client's STARTTLS segment.
  std::string injection;

  void run() {
    for (int round = 0; round < 10000; ++round) {
      bool progress = move_client_to_server();
      progress |= move_server_to_client();
      if (!progress) return;
    }
    FAIL("the session did not settle");
  }

  std::vector<SeenLine> lines;
  std::vector<MessageEvent> stored;
  std::vector<ViolationEvent> violations;
  std::vector<ClientEvent> client_events;
  std::string client_ciphertext;  // every byte the client sent after its STARTTLS
  std::string server_ciphertext;
  std::optional<TlsEngine> client_tls;
  std::optional<TlsEngine> server_tls;
  std::vector<std::string> key_log;
  bool server_closed = false;
  bool client_closed = false;

  template <typename T>
  std::vector<T> client_events_of() const {
    std::vector<T> out;
    for (const auto& e : client_events) {
      if (const T* t = std::get_if<T>(&e)) out.push_back(*t);
    }
    return out;
  }

 private:
  static void record_line(std::vector<SeenLine>& out, char side, const net::LineEvent& line) {
    out.push_back(SeenLine{side, line.text, line.tls});
  }

  bool pull_client_events() {
    bool any = false;
    while (auto event = client_.poll_event()) {
      any = true;
      if (const auto* line = std::get_if<net::LineEvent>(&*event)) record_line(lines, 'C', *line);
      if (std::holds_alternative<net::StartTlsEvent>(*event)) client_start_tls_ = true;
      if (std::holds_alternative<net::CloseEvent>(*event)) client_close_requested_ = true;
      client_events.push_back(*event);
    }
    return any;
  }

  bool pull_server_events() {
    bool any = false;
    while (auto event = server_.poll_event()) {
      any = true;
      if (const auto* line = std::get_if<net::LineEvent>(&*event)) record_line(lines, 'S', *line);
      if (std::holds_alternative<net::StartTlsEvent>(*event)) server_start_tls_ = true;
      if (std::holds_alternative<net::CloseEvent>(*event)) server_close_requested_ = true;
      if (const auto* v = std::get_if<ViolationEvent>(&*event)) violations.push_back(*v);
      if (const auto* m = std::get_if<MessageEvent>(&*event)) {
        stored.push_back(*m);
        server_.complete_message(now_, StoreOutcome{StoreResult::accepted, "Q" + std::to_string(stored.size()), {}});
      }
    }
    return any;
  }

  // Events first: a StartTlsEvent decides how the bytes queued with it travel.
  bool move_client_to_server() {
    bool progress = pull_client_events();
    if (client_closed) return progress;
    std::string wire = client_.poll_transmit();
    if (client_tls) {
      if (!wire.empty()) client_tls->write_plaintext(wire);
      wire = client_tls->poll_ciphertext();
      client_ciphertext += wire;
    } else if (!injection.empty() && wire.find("STARTTLS\r\n") != std::string::npos) {
      wire += std::exchange(injection, {});
    }
    if (client_start_tls_ && !client_tls) {
      client_tls.emplace(make_client(client_context_, server_name_));
      client_tls->set_key_log([this](std::string_view line) { key_log.emplace_back(line); });
      std::string hello = client_tls->poll_ciphertext();
      client_ciphertext += hello;
      wire += hello;
    }
    progress |= !wire.empty();
    if (!wire.empty() && !server_closed) {
      if (server_tls) {
        server_tls->handle_ciphertext(wire);
        if (server_tls->handshake_complete() && !server_established_) {
          server_established_ = true;
          server_.handle_tls_established(now_);
        }
        std::string plain = server_tls->poll_plaintext();
        if (!plain.empty()) server_.handle_bytes(now_, plain);
        if (server_tls->failed()) progress |= fail_tls();
      } else {
        server_.handle_bytes(now_, wire);
      }
    }
    if (client_close_requested_ && client_.poll_transmit().empty()) {
      client_closed = true;
      if (!server_closed) server_.handle_close(now_);
      progress = true;
    }
    return progress;
  }

  bool move_server_to_client() {
    bool progress = pull_server_events();
    if (server_closed) return progress;
    std::string wire = server_.poll_transmit();
    if (server_tls) {
      if (!wire.empty()) server_tls->write_plaintext(wire);
      if (server_close_requested_) server_tls->close();
      wire = server_tls->poll_ciphertext();
      server_ciphertext += wire;
    }
    if (server_start_tls_ && !server_tls) {  // the 220 above went out in clear
      server_tls.emplace(make_server(server_context_));
    }
    progress |= !wire.empty();
    if (!wire.empty() && !client_closed) {
      if (client_tls) {
        client_tls->handle_ciphertext(wire);
        if (client_tls->handshake_complete() && !client_established_) {
          client_established_ = true;
          client_.handle_tls_established(now_);
        }
        std::string plain = client_tls->poll_plaintext();
        if (!plain.empty()) client_.handle_bytes(now_, plain);
        if (client_tls->failed()) progress |= fail_tls();
      } else {
        client_.handle_bytes(now_, wire);
      }
    }
    if (server_close_requested_ && server_.poll_transmit().empty()) {
      server_closed = true;
      if (!client_closed) client_.handle_close(now_);
      progress = true;
    }
    return progress;
  }

  // A failed TLS engine: its alert goes to the peer, then the connection drops.
  bool fail_tls() {
    if (client_closed && server_closed) return false;
    if (client_tls && server_tls) {
      std::string alert = client_tls->poll_ciphertext();
      if (!alert.empty()) server_tls->handle_ciphertext(alert);
    }
    client_closed = server_closed = true;
    client_.handle_close(now_);
    server_.handle_close(now_);
    return true;
  }

  Instant now_{1'000'000};
  SubmissionPolicy policy_;
  TlsContext server_context_;
  TlsContext client_context_;
  std::string server_name_;
  Server server_;
  Client client_;
  bool client_start_tls_ = false;
  bool server_start_tls_ = false;
  bool client_established_ = false;
  bool server_established_ = false;
  bool client_close_requested_ = false;
  bool server_close_requested_ = false;
};

ServerConfig submission_server() {
  ServerConfig config;
  config.host_name = "smtp.lab.test";
  config.submission = true;
  config.tls_available = true;
  return config;
}

ClientConfig alice_submits() {
  ClientConfig config;
  config.helo_name = "alice-pc";
  config.tls = TlsPolicy::required;
  config.credentials = ClientCredentials{"alice@lab.test", "alice-secret"};
  config.messages = {OutgoingMessage{"alice@lab.test", {"bob@school.test"},
                                     "Subject: lunch\r\n\r\nsecret lunch plans\r\n"}};
  return config;
}

TlsContext verifying_lab_client() {
  auto context = TlsContext::client_verifying(lab_certificate().cert_pem, test_now_unix_s + 86400);
  REQUIRE(context.ok());
  return *context;
}

std::vector<std::string> texts(const std::vector<SeenLine>& lines, char side) {
  std::vector<std::string> out;
  for (const auto& l : lines) {
    if (l.side == side) out.push_back(l.text);
  }
  return out;
}

}  // namespace

TEST_CASE("starttls smtp: STARTTLS, AUTH PLAIN and a message through two real TLS engines") {
  TlsSmtpWire wire(submission_server(), alice_submits(), verifying_lab_client(), "smtp.lab.test");
  wire.run();

  REQUIRE(wire.client_tls.has_value());
  REQUIRE(wire.server_tls.has_value());
  CHECK(wire.client_tls->description() == "TLSv1.3 TLS_AES_256_GCM_SHA384");
  CHECK(wire.server_tls->requested_server_name() == "smtp.lab.test");
  CHECK_FALSE(wire.client_tls->failed());
  CHECK_FALSE(wire.server_tls->failed());

  // The server's view of the dialog: AUTH only after the handshake.
  auto server_lines = texts(wire.lines, 'S');
  auto starttls = std::find(server_lines.begin(), server_lines.end(), "STARTTLS");
  REQUIRE(starttls != server_lines.end());
  CHECK(std::find(starttls, server_lines.end(), "AUTH PLAIN " + net::encode_sasl_plain("alice@lab.test", "alice-secret")) !=
        server_lines.end());
  CHECK(std::none_of(server_lines.begin(), starttls, [](const std::string& l) { return l.rfind("AUTH", 0) == 0; }));

  // Every line up to the 220 went in clear, every line after it inside TLS,
  // as both engines report them.
  for (char side : {'C', 'S'}) {
    CAPTURE(side);
    bool after_go_ahead = false;
    int tls_lines = 0;
    for (const auto& line : wire.lines) {
      if (line.side != side) continue;
      CAPTURE(line.text);
      CHECK(line.tls == after_go_ahead);
      tls_lines += line.tls ? 1 : 0;
      if (line.text.rfind("220 2.0.0", 0) == 0) after_go_ahead = true;
    }
    CHECK(after_go_ahead);
    CHECK(tls_lines >= 10);  // EHLO and its reply, AUTH, MAIL, RCPT, DATA, QUIT ...
  }

  REQUIRE(wire.stored.size() == 1);
  CHECK(wire.stored[0].tls);
  CHECK(wire.stored[0].authenticated_user == "alice@lab.test");
  CHECK(wire.stored[0].data == "Subject: lunch\r\n\r\nsecret lunch plans\r\n");
  auto outcomes = wire.client_events_of<MessageOutcome>();
  REQUIRE(outcomes.size() == 1);
  CHECK(outcomes[0].verdict.delivery == Delivery::accepted);
  CHECK(wire.violations.empty());

  // On the wire after STARTTLS there is no trace of the password or the message.
  const std::vector<std::string> secrets{"AUTH", "EHLO", net::encode_sasl_plain("alice@lab.test", "alice-secret"),
                                         "lunch", "MAIL FROM"};
  for (const auto& secret : secrets) {
    CAPTURE(secret);
    CHECK(wire.client_ciphertext.find(secret) == std::string::npos);
    CHECK(wire.server_ciphertext.find(secret) == std::string::npos);
  }
  CHECK(wire.key_log.size() == 5);  // what FILE.pcap.keys needs to decrypt this session
  CHECK(wire.server_closed);
  CHECK(wire.client_closed);
}

TEST_CASE("starttls smtp: plaintext injected behind STARTTLS is never executed (CVE-2011-0411)") {
  TlsSmtpWire wire(submission_server(), alice_submits(), verifying_lab_client(), "smtp.lab.test");
  wire.injection = "RSET\r\nMAIL FROM:<mallory@evil.test>\r\nRCPT TO:<bob@lab.test>\r\nQUIT\r\n";
  const std::size_t injected_octets = wire.injection.size();
  wire.run();

  REQUIRE(wire.client_tls.has_value());
  CHECK(wire.client_tls->handshake_complete());
  CHECK(wire.injection.empty());  // it was sent, in the STARTTLS segment
  for (const auto& line : wire.lines) {
    CAPTURE(line.text);
    CHECK(line.text.find("mallory") == std::string::npos);
  }
  // The server read exactly the client's own commands: its one QUIT at the end, no RSET.
  auto server_lines = texts(wire.lines, 'S');
  CHECK(std::count(server_lines.begin(), server_lines.end(), "QUIT") == 1);
  CHECK(std::count(server_lines.begin(), server_lines.end(), "RSET") == 0);
  CHECK(server_lines.back().rfind("221", 0) == 0);
  REQUIRE(wire.violations.size() == 1);
  CHECK(wire.violations[0].what.find("after STARTTLS discarded: " + std::to_string(injected_octets) + " octets") !=
        std::string::npos);

  // The real session went on undisturbed: one message, from alice, accepted.
  REQUIRE(wire.stored.size() == 1);
  CHECK(wire.stored[0].reverse_path.to_string() == "alice@lab.test");
  REQUIRE(wire.stored[0].forward_paths.size() == 1);
  CHECK(wire.stored[0].forward_paths[0].to_string() == "bob@school.test");
  auto outcomes = wire.client_events_of<MessageOutcome>();
  REQUIRE(outcomes.size() == 1);
  CHECK(outcomes[0].verdict.delivery == Delivery::accepted);
  CHECK(wire.client_events_of<SessionFailedEvent>().empty());
}

TEST_CASE("starttls smtp: a certificate the client rejects ends the session before AUTH, mail stays queued") {
  TlsSmtpWire wire(submission_server(), alice_submits(), verifying_lab_client(), "smtp.other.test");
  wire.run();

  REQUIRE(wire.client_tls.has_value());
  CHECK(wire.client_tls->failed());
  CHECK(wire.client_tls->error()->message.find("mismatch") != std::string::npos);
  CHECK(wire.stored.empty());
  for (const auto& line : wire.lines) {
    CAPTURE(line.text);
    CHECK_FALSE(line.text.rfind("AUTH", 0) == 0);
    CHECK_FALSE(line.tls);
  }
  auto outcomes = wire.client_events_of<RecipientOutcome>();
  REQUIRE(outcomes.size() == 1);
  CHECK(outcomes[0].verdict.delivery == Delivery::transient);  // retried later, not bounced
}
