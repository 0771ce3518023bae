#include "net/io/session.hpp"

#include <atomic>
#include <type_traits>
#include <variant>

#include <unistd.h>

namespace maillab::net::io {

bool CountingCredentials::verify_password(std::string_view user, std::string_view password) const {
  const bool ok = directory_.verify_password(user, password);
  ++(ok ? successes_ : failures_);
  return ok;
}

std::optional<std::string> CountingCredentials::shared_secret(std::string_view user) const {
  // APOP (RFC 1939 §7) compares digests itself; an unknown user is a failure here.
  auto secret = directory_.shared_secret(user);
  if (!secret) ++failures_;
  return secret;
}

namespace {

template <class... Ts>
struct Overloaded : Ts... {
  using Ts::operator()...;
};
template <class... Ts>
Overloaded(Ts...) -> Overloaded<Ts...>;

// The shared policy with this connection's counting credentials.
class ConnectionPolicy final : public smtp::Policy {
 public:
  ConnectionPolicy(smtp::Policy& base, const CredentialChecker& credentials)
      : base_(base), credentials_(credentials) {}
  smtp::AuthOffer auth_offer(const smtp::SessionInfo& session) const override { return base_.auth_offer(session); }
  const CredentialChecker& credentials() const override { return credentials_; }
  bool sender_allowed(std::string_view user, const mail::Address& sender) const override {
    return base_.sender_allowed(user, sender);
  }
  smtp::RecipientVerdict check_recipient(const smtp::SessionInfo& session,
                                         const mail::Address& recipient) const override {
    return base_.check_recipient(session, recipient);
  }
  std::optional<smtp::Reply> inject(smtp::PolicyStage stage, const smtp::SessionInfo& session,
                                    std::string_view argument) override {
    return base_.inject(stage, session, argument);
  }

 private:
  smtp::Policy& base_;
  const CredentialChecker& credentials_;
};

smtp::ServerConfig smtp_config(const SmtpService& service, const SessionContext& context) {
  smtp::ServerConfig config = service.config;
  config.client_address = context.peer.address;
  config.tls_available = context.tls_available && !context.implicit_tls;
  config.tls_active = context.implicit_tls;
  return config;
}

class SmtpSession final : public SessionEngine {
 public:
  SmtpSession(std::shared_ptr<const SmtpService> service, const SessionContext& context, Instant now)
      : service_(std::move(service)),
        policy_(*service_->policy, context.credentials),
        peer_(context.peer),
        log_(context.log),
        engine_(smtp_config(*service_, context), policy_, now) {}

  void handle_bytes(Instant now, std::string_view bytes) override { engine_.handle_bytes(now, bytes); }
  void handle_timeout(Instant now) override { engine_.handle_timeout(now); }
  void handle_close(Instant now) override { engine_.handle_close(now); }
  void handle_tls_established(Instant now) override { engine_.handle_tls_established(now); }
  void shutdown(Instant now) override {
    if (stopping_) return;
    stopping_ = true;
    // RFC 5321 §3.8: a server that must stop answers 421 and closes; the open
    // transaction, if any, is not acknowledged and the client will retry.
    goodbye_ = "421 4.3.2 " + service_->config.host_name + " Service shutting down\r\n";
    engine_.handle_close(now);
  }
  std::string poll_transmit() override {
    std::string out = engine_.poll_transmit();
    out += std::exchange(goodbye_, std::string());
    return out;
  }
  Instant poll_timeout() const override { return stopping_ ? never : engine_.poll_timeout(); }

  SessionRequests poll_requests(Instant now) override {
    SessionRequests requests;
    requests.close = stopping_;
    while (auto event = engine_.poll_event()) {
      requests.more = true;
      bool stop = false;
      std::visit(Overloaded{
                     [&](StartTlsEvent&) {
                       requests.start_tls = true;
                       stop = true;
                     },
                     [&](CloseEvent&) { requests.close = true; },
                     [&](smtp::MessageEvent& message) { store(now, message); },
                     [&](auto&) {},
                 },
                 *event);
      if (stop) break;
    }
    return requests;
  }

 private:
  void store(Instant now, const smtp::MessageEvent& message) {
    const smtp::StoreOutcome outcome = service_->sink->store(message, peer_, service_->config.submission, now);
    if (!engine_.complete_message(now, outcome) && outcome.result == smtp::StoreResult::accepted && log_)
      log_("smtp: stored " + outcome.queue_id + " but the session had ended (the client may send it again)");
  }

  std::shared_ptr<const SmtpService> service_;
  ConnectionPolicy policy_;
  PeerInfo peer_;
  LogSink log_;
  smtp::Server engine_;
  std::string goodbye_;
  bool stopping_ = false;
};

std::string apop_timestamp(const std::string& host, Instant now) {
  // RFC 1939 §7: "<process-ID.clock@hostname>", unique per greeting.
  static std::atomic<std::uint64_t> counter{0};
  return "<" + std::to_string(::getpid()) + "." + std::to_string(now.us) + "." + std::to_string(++counter) + "@" +
         host + ">";
}

class Pop3Session final : public SessionEngine {
 public:
  Pop3Session(std::shared_ptr<const Pop3Service> service, const SessionContext& context, Instant now)
      : service_(std::move(service)),
        log_(context.log),
        engine_(config_for(*service_, context, now), *service_->store, context.credentials, *service_->locks, now) {}

  void handle_bytes(Instant now, std::string_view bytes) override { engine_.handle_bytes(now, bytes); }
  void handle_timeout(Instant now) override { engine_.handle_timeout(now); }
  void handle_close(Instant now) override { engine_.handle_close(now); }
  void handle_tls_established(Instant now) override { engine_.handle_tls_established(now); }
  void shutdown(Instant now) override {
    stopping_ = true;
    engine_.shutdown(now);  // -ERR [SYS/TEMP], no UPDATE: nothing is deleted (RFC 1939 §6)
  }
  std::string poll_transmit() override { return engine_.poll_transmit(); }
  Instant poll_timeout() const override { return stopping_ ? never : engine_.poll_timeout(); }

  SessionRequests poll_requests(Instant /*now*/) override {
    SessionRequests requests;
    requests.close = stopping_;
    while (auto event = engine_.poll_event()) {
      requests.more = true;
      bool stop = false;
      std::visit(Overloaded{
                     [&](StartTlsEvent&) {
                       requests.start_tls = true;
                       stop = true;
                     },
                     [&](CloseEvent&) { requests.close = true; },
                     [&](pop3::LoginEvent& login) {
                       if (log_) log_("pop3: " + login.user + (login.ok ? " logged in" : " login failed: " + login.reason));
                     },
                     [&](auto&) {},
                 },
                 *event);
      if (stop) break;
    }
    return requests;
  }

 private:
  static pop3::ServerConfig config_for(const Pop3Service& service, const SessionContext& context, Instant now) {
    pop3::ServerConfig config = service.config;
    config.tls_available = context.tls_available && !context.implicit_tls;
    config.tls_active = context.implicit_tls;
    config.apop_timestamp = apop_timestamp(config.host_name, now);
    config.auth_failure_delay = Duration::zero();  // the driver's per-address penalty replaces it
    return config;
  }

  std::shared_ptr<const Pop3Service> service_;
  LogSink log_;
  pop3::Server engine_;
  bool stopping_ = false;
};

class ImapSession final : public SessionEngine {
 public:
  ImapSession(std::shared_ptr<const ImapService> service, const SessionContext& context, Instant now)
      : service_(std::move(service)),
        log_(context.log),
        engine_(config_for(*service_, context), context.credentials, *service_->store, now) {}

  void handle_bytes(Instant now, std::string_view bytes) override { engine_.handle_bytes(now, bytes); }
  void handle_timeout(Instant now) override { engine_.handle_timeout(now); }
  void handle_close(Instant now) override { engine_.handle_close(now); }
  void handle_tls_established(Instant now) override { engine_.handle_tls_established(now); }
  void handle_store_changed(Instant now) override {
    if (!stopping_) engine_.handle_store_changed(now);
  }
  void shutdown(Instant now) override {
    if (stopping_) return;
    stopping_ = true;
    goodbye_ = "* BYE Server shutting down\r\n";  // RFC 3501 §7.1.5
    engine_.handle_close(now);
  }
  std::string poll_transmit() override {
    std::string out = engine_.poll_transmit();
    out += std::exchange(goodbye_, std::string());
    return out;
  }
  Instant poll_timeout() const override { return stopping_ ? never : engine_.poll_timeout(); }

  SessionRequests poll_requests(Instant /*now*/) override {
    SessionRequests requests;
    requests.close = stopping_;
    while (auto event = engine_.poll_event()) {
      requests.more = true;
      bool stop = false;
      std::visit(Overloaded{
                     [&](StartTlsEvent&) {
                       requests.start_tls = true;
                       stop = true;
                     },
                     [&](CloseEvent&) { requests.close = true; },
                     [&](imap::LoginEvent& login) {
                       if (log_) log_("imap: " + login.user + (login.ok ? " logged in" : " login failed"));
                     },
                     [&](auto&) {},
                 },
                 *event);
      if (stop) break;
    }
    return requests;
  }

 private:
  static imap::ServerConfig config_for(const ImapService& service, const SessionContext& context) {
    imap::ServerConfig config = service.config;
    config.implicit_tls = context.implicit_tls;
    config.starttls_offered = context.tls_available && !context.implicit_tls;
    config.unix_epoch_offset_s = 0;  // Instants are Unix microseconds here (net/io/wall_clock.hpp)
    config.auth_failure_delay = Duration::zero();  // the driver's per-address penalty replaces it
    config.auth_failure_delay_max = Duration::zero();
    return config;
  }

  std::shared_ptr<const ImapService> service_;
  LogSink log_;
  imap::ImapServer engine_;
  std::string goodbye_;
  bool stopping_ = false;
};

}  // namespace

SessionFactory smtp_session_factory(SmtpService service) {
  auto shared = std::make_shared<const SmtpService>(std::move(service));
  return [shared](const SessionContext& context, Instant now) -> std::unique_ptr<SessionEngine> {
    return std::make_unique<SmtpSession>(shared, context, now);
  };
}

SessionFactory pop3_session_factory(Pop3Service service) {
  auto shared = std::make_shared<const Pop3Service>(std::move(service));
  return [shared](const SessionContext& context, Instant now) -> std::unique_ptr<SessionEngine> {
    return std::make_unique<Pop3Session>(shared, context, now);
  };
}

SessionFactory imap_session_factory(ImapService service) {
  auto shared = std::make_shared<const ImapService>(std::move(service));
  return [shared](const SessionContext& context, Instant now) -> std::unique_ptr<SessionEngine> {
    return std::make_unique<ImapSession>(shared, context, now);
  };
}

}  // namespace maillab::net::io
