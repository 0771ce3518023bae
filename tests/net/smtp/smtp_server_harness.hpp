// Transcript-style harness for the SMTP server engine tests: write client
// bytes, get back exactly what the server sent in reply, with the events
// collected on the side (OpenSMTPD smtpscript, maddy's test servers).
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "net/smtp/smtp_server.hpp"

namespace maillab::net::smtp::testing {

class LabCredentials final : public CredentialChecker {
 public:
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
  std::map<std::string, std::string> passwords_{{"alice@lab.test", "alice-secret"}, {"bob@lab.test", "bob-secret"}};
};

// lab.test is local with users alice and bob; authenticated users may relay;
// AUTH needs TLS on submission.  Every recipient it is asked about is recorded.
class LabPolicy final : public Policy {
 public:
  AuthOffer auth_offer(const SessionInfo& session) const override {
    if (auth_disabled) return AuthOffer::disabled;
    if (session.submission && !session.tls_active) return AuthOffer::requires_tls;
    return AuthOffer::offered;
  }
  const CredentialChecker& credentials() const override { return credentials_; }
  bool sender_allowed(std::string_view user, const mail::Address& sender) const override {
    return sender.to_string() == user;
  }
  RecipientVerdict check_recipient(const SessionInfo& session, const mail::Address& recipient) const override {
    asked.push_back(recipient.to_string());
    if (recipient.domain_key() == "lab.test") {
      const bool known = recipient.local_part == "alice" || recipient.local_part == "bob" ||
                         recipient.local_part == "postmaster";
      return known ? RecipientVerdict::accept : RecipientVerdict::unknown_user;
    }
    if (recipient.domain_key() == "mail.lab.test" && recipient.local_part == "postmaster") {
      return RecipientVerdict::accept;
    }
    return session.authenticated_user.empty() ? RecipientVerdict::relay_denied : RecipientVerdict::accept;
  }
  std::optional<Reply> inject(PolicyStage stage, const SessionInfo&, std::string_view) override {
    const auto it = injections.find(stage);
    if (it == injections.end()) return std::nullopt;
    return it->second;
  }

  bool auth_disabled = false;
  std::map<PolicyStage, Reply> injections;
  mutable std::vector<std::string> asked;

 private:
  LabCredentials credentials_;
};

struct Lab {
  ServerConfig config;
  LabPolicy policy;
  Instant now{1'000'000};
  std::unique_ptr<Server> server;

  std::vector<MessageEvent> messages;
  std::vector<std::string> notes;
  std::vector<std::string> close_reasons;
  std::vector<std::pair<std::string, std::string>> states;  // (from, to)
  std::vector<LineEvent> lines;
  std::vector<DataSummaryEvent> data_summaries;
  int start_tls = 0;

  // Starts the session and returns what the server said first.
  std::string start() {
    server = std::make_unique<Server>(config, policy, now);
    return drain();
  }
  // Writes client bytes and returns the server's answer.
  std::string write(std::string_view bytes) {
    server->handle_bytes(now, bytes);
    return drain();
  }
  std::string advance(Duration by) {
    now = now + by;
    server->handle_timeout(now);
    return drain();
  }
  std::string complete(StoreOutcome outcome) {
    const bool taken = server->complete_message(now, outcome);
    std::string out = drain();
    if (!taken) out = "(not taken)" + out;
    return out;
  }
  std::string accept(std::string id = "Q1") { return complete({StoreResult::accepted, std::move(id), {}}); }
  std::string drain() {
    std::string out = server->poll_transmit();
    while (auto event = server->poll_event()) {
      if (auto* message = std::get_if<MessageEvent>(&*event)) messages.push_back(*message);
      if (auto* violation = std::get_if<ViolationEvent>(&*event)) notes.push_back(violation->what);
      if (auto* close = std::get_if<CloseEvent>(&*event)) close_reasons.push_back(close->reason);
      if (auto* state = std::get_if<StateEvent>(&*event)) states.emplace_back(state->from, state->to);
      if (auto* line = std::get_if<LineEvent>(&*event)) lines.push_back(*line);
      if (auto* summary = std::get_if<DataSummaryEvent>(&*event)) data_summaries.push_back(*summary);
      if (std::holds_alternative<StartTlsEvent>(*event)) ++start_tls;
    }
    return out;
  }
  // EHLO, MAIL and RCPT: ready for DATA or BDAT.
  void open_envelope(std::string_view from = "<alice@lab.test>", std::string_view to = "<bob@lab.test>") {
    start();
    write("EHLO client.test\r\n");
    write("MAIL FROM:" + std::string(from) + "\r\n");
    write("RCPT TO:" + std::string(to) + "\r\n");
  }
  // EHLO and a transaction up to the 354.
  void open_transaction(std::string_view from = "<alice@lab.test>", std::string_view to = "<bob@lab.test>") {
    open_envelope(from, to);
    write("DATA\r\n");
  }
  [[nodiscard]] ServerState state() const { return server->state(); }
};

}  // namespace maillab::net::smtp::testing
