#include "net/io/session.hpp"

#include <atomic>
#include <type_traits>
#include <variant>

#include <unistd.h>

#include "net/io/wall_clock.hpp"

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
class ConnectionPolicy final : public smtp::ForwardingPolicy {
 public:
  ConnectionPolicy(smtp::Policy& base, const CredentialChecker& credentials)
      : ForwardingPolicy(base), credentials_(credentials) {}
  const CredentialChecker& credentials() const override { return credentials_; }

 private:
  const CredentialChecker& credentials_;
};

// What the three adapters share: the engine calls, the goodbye when the
// server stops, and the loop that drains the engine's events (lines to the
// observer, StartTls and Close to the driver, the rest to `other`).
template <class Engine>
class EngineAdapter : public SessionEngine {
 public:
  void handle_bytes(Instant now, std::string_view bytes) override { engine_.handle_bytes(now, bytes); }
  void handle_timeout(Instant now) override { engine_.handle_timeout(now); }
  void handle_close(Instant now) override { engine_.handle_close(now); }
  void handle_tls_established(Instant now) override { engine_.handle_tls_established(now); }
  std::string poll_transmit() override {
    std::string out = engine_.poll_transmit();
    out += std::exchange(goodbye_, std::string());
    return out;
  }
  Instant poll_timeout() const override { return stopping_ ? never : engine_.poll_timeout(); }

 protected:
  template <class... Args>
  explicit EngineAdapter(const SessionContext& context, Args&&... args)
      : log_(context.log), on_line_(context.on_line), engine_(std::forward<Args>(args)...) {}

  // SMTP and IMAP end with a line of their own; the engine then sees a close.
  void end_with(Instant now, std::string goodbye) {
    if (stopping_) return;
    stopping_ = true;
    goodbye_ = std::move(goodbye);
    engine_.handle_close(now);
  }

  template <class Other>
  SessionRequests drain(Other&& other) {
    SessionRequests requests;
    requests.close = stopping_;
    while (auto event = engine_.poll_event()) {
      requests.more = true;
      bool start_tls = false;
      std::visit(Overloaded{
                     [&](LineEvent& line) {
                       if (on_line_) on_line_(line);
                     },
                     [&](StartTlsEvent&) { requests.start_tls = start_tls = true; },
                     [&](CloseEvent&) { requests.close = true; },
                     [&](auto& rest) { other(rest); },
                 },
                 *event);
      if (start_tls) break;  // the go-ahead must leave in the clear before anything else happens
    }
    return requests;
  }

  LogSink log_;
  std::function<void(const LineEvent&)> on_line_;
  Engine engine_;
  std::string goodbye_;
  bool stopping_ = false;
};

smtp::ServerConfig smtp_config(const SmtpService& service, const SessionContext& context) {
  smtp::ServerConfig config = service.config;
  config.client_address = context.peer.address;
  config.tls_available = context.tls_available && !context.implicit_tls;
  config.tls_active = context.implicit_tls;
  return config;
}

// Constructed before the engine, which keeps a reference to it.
struct SmtpPolicyHolder {
  ConnectionPolicy policy;
};

class SmtpSession final : private SmtpPolicyHolder, public EngineAdapter<smtp::Server> {
 public:
  SmtpSession(std::shared_ptr<const SmtpService> service, const SessionContext& context, Instant now)
      : SmtpPolicyHolder{ConnectionPolicy(*service->policy, context.credentials)},
        EngineAdapter(context, smtp_config(*service, context), policy, now),
        service_(std::move(service)),
        peer_(context.peer),
        wake_(context.wake) {}

  void shutdown(Instant now) override {
    // RFC 5321 §3.8: a server that must stop answers 421 and closes; the open
    // transaction, if any, is not acknowledged and the client will retry.
    end_with(now, "421 4.3.2 " + service_->config.host_name + " Service shutting down\r\n");
  }

  ~SmtpSession() override { count_transaction(false); }

  void handle_close(Instant now) override {
    EngineAdapter::handle_close(now);
    count_transaction(false);
  }

  SessionRequests poll_requests(Instant now) override {
    const SessionRequests requests = drain(Overloaded{
        [&](smtp::MessageEvent& message) {
          count_transaction(false);  // before store(): its sync is asked for there, and need not wait for itself
          store(now, message);
        },
        [](auto&) {},
    });
    count_transaction(engine_.message_underway());
    return requests;
  }

 private:
  void count_transaction(bool open) {
    if (open == counted_ || !service_->open_transactions) return;
    counted_ = open;
    if (open) ++service_->open_transactions->count;
    else --service_->open_transactions->count;
  }

  void store(Instant now, const smtp::MessageEvent& message) {
    service_->sink->store(message, peer_, service_->config.submission, now,
                          [this, alive = std::weak_ptr<void>(alive_), log = log_, wake = wake_](
                              smtp::StoreOutcome outcome) {
                            const bool accepted = outcome.result == smtp::StoreResult::accepted;
                            if (alive.expired() || !engine_.complete_message(wall_now(), outcome)) {
                              if (accepted && log)
                                log("smtp: stored " + outcome.queue_id +
                                    " but the session had ended (the client may send it again)");
                              return;
                            }
                            if (wake) wake();
                          });
  }

  std::shared_ptr<const SmtpService> service_;
  PeerInfo peer_;
  std::function<void()> wake_;
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);  // a late StoreDone finds it expired
  bool counted_ = false;  // in service_->open_transactions
};

std::string apop_timestamp(const std::string& host, Instant now) {
  // RFC 1939 §7: "<process-ID.clock@hostname>", unique per greeting.
  static std::atomic<std::uint64_t> counter{0};
  return "<" + std::to_string(::getpid()) + "." + std::to_string(now.us) + "." + std::to_string(++counter) + "@" +
         host + ">";
}

pop3::ServerConfig pop3_config(const Pop3Service& service, const SessionContext& context, Instant now) {
  pop3::ServerConfig config = service.config;
  config.tls_available = context.tls_available && !context.implicit_tls;
  config.tls_active = context.implicit_tls;
  config.apop_timestamp = apop_timestamp(config.host_name, now);
  config.auth_failure_delay = Duration::zero();  // the driver's per-address penalty replaces it
  return config;
}

class Pop3Session final : public EngineAdapter<pop3::Server> {
 public:
  Pop3Session(const Pop3Service& service, const SessionContext& context, Instant now)
      : EngineAdapter(context, pop3_config(service, context, now), *service.store, context.credentials,
                      *service.locks, now) {}

  void shutdown(Instant now) override {
    stopping_ = true;
    engine_.shutdown(now);  // -ERR [SYS/TEMP], no UPDATE: nothing is deleted (RFC 1939 §6)
  }

  // RFC 2449 PIPELINING: one read can hold many commands, and one "RETR n" is
  // a whole message of reply.  The engine answers every command it is given at
  // once, so the commands go to it one line at a time, and the next only while
  // less than kReplyAhead of reply waits to be taken by the driver; the driver
  // takes no more once its own output is full (net/io/tcp_server.hpp), so a
  // client that pipelines RETR 1..n and reads nothing holds at most one
  // message plus the driver's limit (catalogue row 42).
  void handle_bytes(Instant now, std::string_view bytes) override {
    input_.append(bytes);
    feed(now);
  }

  std::string poll_transmit() override {
    std::string out = std::exchange(reply_, std::string());
    out += EngineAdapter::poll_transmit();
    return out;
  }

  SessionRequests poll_requests(Instant now) override {
    const bool fed = feed(now);
    SessionRequests requests = drain(Overloaded{
        [&](pop3::LoginEvent& login) {
          if (log_) log_("pop3: " + login.user + (login.ok ? " logged in" : " login failed: " + login.reason));
        },
        [](auto&) {},
    });
    requests.more = requests.more || fed || !reply_.empty();
    return requests;
  }

 private:
  static constexpr std::size_t kReplyAhead = 64 * 1024;

  // Hands the engine whole lines (the last one may be partial) while little
  // reply waits; true when it handed over anything.
  bool feed(Instant now) {
    bool fed = false;
    while (consumed_ < input_.size() && reply_.size() < kReplyAhead) {
      const std::size_t end = input_.find('\n', consumed_);
      const std::size_t next = end == std::string::npos ? input_.size() : end + 1;
      engine_.handle_bytes(now, std::string_view(input_).substr(consumed_, next - consumed_));
      consumed_ = next;
      reply_ += engine_.poll_transmit();
      fed = true;
    }
    if (consumed_ == input_.size() || consumed_ > input_.size() / 2) {
      input_.erase(0, consumed_);
      consumed_ = 0;
    }
    return fed;
  }

  std::string input_;     // read, not yet given to the engine
  std::size_t consumed_ = 0;
  std::string reply_;     // taken from the engine, not yet by the driver
};

imap::ServerConfig imap_config(const ImapService& service, const SessionContext& context) {
  imap::ServerConfig config = service.config;
  config.implicit_tls = context.implicit_tls;
  config.starttls_offered = context.tls_available && !context.implicit_tls;
  config.unix_epoch_offset_s = 0;  // Instants are Unix microseconds here (net/io/wall_clock.hpp)
  config.auth_failure_delay = Duration::zero();  // the driver's per-address penalty replaces it
  config.auth_failure_delay_max = Duration::zero();
  return config;
}

class ImapSession final : public EngineAdapter<imap::ImapServer> {
 public:
  ImapSession(const ImapService& service, const SessionContext& context, Instant now)
      : EngineAdapter(context, imap_config(service, context), context.credentials, *service.store, now) {}

  [[nodiscard]] bool watches_store() const override { return true; }
  void handle_store_changed(Instant now) override {
    if (!stopping_) engine_.handle_store_changed(now);
  }
  void shutdown(Instant now) override { end_with(now, "* BYE Server shutting down\r\n"); }  // RFC 3501 §7.1.5

  SessionRequests poll_requests(Instant /*now*/) override {
    return drain(Overloaded{
        [&](imap::LoginEvent& login) {
          if (log_) log_("imap: " + login.user + (login.ok ? " logged in" : " login failed"));
        },
        [](auto&) {},
    });
  }
};

}  // namespace

SessionFactory smtp_session_factory(SmtpService service) {
  auto shared = std::make_shared<const SmtpService>(std::move(service));
  return [shared](const SessionContext& context, Instant now) -> std::unique_ptr<SessionEngine> {
    return std::make_unique<SmtpSession>(shared, context, now);
  };
}

SessionFactory pop3_session_factory(Pop3Service service) {
  return [service](const SessionContext& context, Instant now) -> std::unique_ptr<SessionEngine> {
    return std::make_unique<Pop3Session>(service, context, now);
  };
}

SessionFactory imap_session_factory(ImapService service) {
  return [service](const SessionContext& context, Instant now) -> std::unique_ptr<SessionEngine> {
    return std::make_unique<ImapSession>(service, context, now);
  };
}

}  // namespace maillab::net::io
