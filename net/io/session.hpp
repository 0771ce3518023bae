// What the TCP driver (net/io/tcp_server.hpp) needs from a protocol session,
// and the adapters that give it the SMTP, POP3 and IMAP server engines.
//
// Theory of operation.  The engines share one contract (net/core/engine.hpp)
// but differ at the edges: SMTP hands over a MessageEvent and waits for
// complete_message(); IMAP wants to hear when the store changed (IDLE push);
// each protocol says goodbye differently when the server stops (SMTP
// "421 4.3.2", RFC 5321 §3.8; IMAP "* BYE", RFC 3501 §7.1.5; POP3 "-ERR
// [SYS/TEMP]", RFC 3206, without UPDATE).  SessionEngine is that contract plus
// those edges, as one small virtual interface, so the driver is written once.
//
// poll_requests() drains the engine's events and acts on the ones that need
// the outside world (a message to store), and tells the driver what the
// transport must do: start TLS (after the go-ahead has been sent in the clear),
// close once the output is written.  Every session gets the driver's
// per-connection CredentialChecker, which notes failed and successful logins
// so that the driver can apply the per-address penalty (net/io/limits.hpp).
//
// Storing a message may take time (a group commit of fsyncs across sessions):
// the MessageSink answers through a callback, on the io thread, when the
// message is durable or refused.  Until then the SMTP engine reads no further
// command and sends nothing (it waits for complete_message), and the session
// wakes its driver once the answer is in.  Every protocol line the engines
// report (LineEvent) goes to the server's SessionObserver, if one is set: that
// is how `serve --trace` and the studio's live view see real clients.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "net/core/credentials.hpp"
#include "net/core/engine.hpp"
#include "net/core/time.hpp"
#include "net/imap/imap_server.hpp"
#include "net/mail/mail_store.hpp"
#include "net/pop3/pop3_lock.hpp"
#include "net/pop3/pop3_server.hpp"
#include "net/smtp/smtp_policy.hpp"
#include "net/smtp/smtp_server.hpp"

namespace maillab::net::io {

struct PeerInfo {
  std::string address;  // "192.0.2.7", "::1"
  std::uint16_t port = 0;
};

// One line for the server's log (stderr): "alice@lab.test logged in".
using LogSink = std::function<void(std::string_view line)>;

// What a live view hears of the real sessions (all calls on the io thread).
// `connection` numbers connections from 1 in the order they were accepted.
class SessionObserver {
 public:
  virtual ~SessionObserver() = default;
  virtual void opened(std::uint64_t connection, std::string_view service, const PeerInfo& peer, Instant now) = 0;
  virtual void line(std::uint64_t connection, const LineEvent& line, Instant now) = 0;
  virtual void closed(std::uint64_t connection, Instant now) = 0;
};

struct SessionRequests {
  bool start_tls = false;  // the go-ahead was the last plaintext: TLS starts now
  bool close = false;      // close once the output is written
  bool more = false;       // events were handled: poll_transmit() may have more
};

class SessionEngine {
 public:
  virtual ~SessionEngine() = default;
  virtual void handle_bytes(Instant now, std::string_view bytes) = 0;
  virtual void handle_timeout(Instant now) = 0;
  virtual void handle_close(Instant now) = 0;
  virtual void handle_tls_established(Instant now) = 0;
  // The server is stopping: queue the protocol's goodbye; close follows.
  virtual void shutdown(Instant now) = 0;
  // The mail store's change counter moved; only sessions that watch the store
  // hear it (IMAP IDLE), so a delivery does not step every SMTP session.
  [[nodiscard]] virtual bool watches_store() const { return false; }
  virtual void handle_store_changed(Instant /*now*/) {}
  virtual std::string poll_transmit() = 0;
  [[nodiscard]] virtual Instant poll_timeout() const = 0;
  virtual SessionRequests poll_requests(Instant now) = 0;
};

// Counts login outcomes for the driver; answers from the lab's directory.
class CountingCredentials final : public CredentialChecker {
 public:
  explicit CountingCredentials(const CredentialChecker& directory) : directory_(directory) {}
  bool verify_password(std::string_view user, std::string_view password) const override;
  std::optional<std::string> shared_secret(std::string_view user) const override;
  // Outcomes since the last call.
  std::uint32_t take_failures() { return std::exchange(failures_, 0); }
  std::uint32_t take_successes() { return std::exchange(successes_, 0); }

 private:
  const CredentialChecker& directory_;
  mutable std::uint32_t failures_ = 0;
  mutable std::uint32_t successes_ = 0;
};

struct SessionContext {
  PeerInfo peer;
  bool implicit_tls = false;   // the port speaks TLS from the first byte
  bool tls_available = false;  // a certificate is loaded: STARTTLS may be offered
  const CredentialChecker& credentials;
  const LogSink& log;
  // Every protocol line of this session (may be empty).
  std::function<void(const LineEvent&)> on_line;
  // Asks the driver to drain the engine again (after an asynchronous answer);
  // safe to call after the connection has gone.
  std::function<void()> wake;
};

using SessionFactory = std::function<std::unique_ptr<SessionEngine>(const SessionContext&, Instant now)>;

// The answer of a MessageSink, called exactly once on the io thread (possibly
// before store() returns).  `accepted` means durably stored (RFC 5321 §6.1).
using StoreDone = std::function<void(smtp::StoreOutcome outcome)>;

// Where the SMTP session stores an accepted message (Maildirs, a queue).  The
// sink copies what it needs before store() returns: `message` does not outlive
// the call.  A session that has gone when `done` runs simply ignores it.
class MessageSink {
 public:
  virtual ~MessageSink() = default;
  virtual void store(const smtp::MessageEvent& message, const PeerInfo& peer, bool submission, Instant now,
                     StoreDone done) = 0;
};

// How many SMTP sessions have a mail transaction open (MAIL accepted, the
// message not yet handed to the sink); io thread.  A sink whose 250s share
// one fsync lets that fsync wait a moment for their messages (group commit,
// app/spool_committer.hpp).  Shared: a session may end after its sink.
struct OpenTransactions {
  std::size_t count = 0;
};

struct SmtpService {
  smtp::ServerConfig config;  // host_name, submission, limits; TLS flags are set per connection
  smtp::Policy* policy = nullptr;
  MessageSink* sink = nullptr;
  std::shared_ptr<OpenTransactions> open_transactions;  // counted by the sessions when set
};
struct Pop3Service {
  pop3::ServerConfig config;
  mail::MailStore* store = nullptr;
  pop3::MaildropLocks* locks = nullptr;
};
struct ImapService {
  imap::ServerConfig config;
  mail::MailStore* store = nullptr;
};

SessionFactory smtp_session_factory(SmtpService service);
SessionFactory pop3_session_factory(Pop3Service service);
SessionFactory imap_session_factory(ImapService service);

}  // namespace maillab::net::io
