// The lab server's TCP side: listeners and one driver per connection that
// feeds a SessionEngine (net/io/session.hpp) from a real socket, with TLS.
//
// Theory of operation.  One io_context, one thread, C++20 coroutines; every
// Asio operation completes with as_tuple, so a reset or a closed socket is a
// value to look at, never an exception.  Per connection:
//   reader    read -> [TLS: ciphertext in, plaintext out] -> engine.handle_bytes
//   timer     a steady_timer on the engine's poll_timeout() (and the TLS
//             handshake and output deadlines) -> engine.handle_timeout
//   writer    output goes out at once with one send when nothing is queued
//             ahead; what the socket does not take waits for one
//             async_write at a time, which drains everything queued
// After each engine call the driver drains poll_transmit() and
// poll_requests(): output before a StartTls request leaves in the clear, the
// TLS engine (net/tls, memory BIOs) is created right after it, and from then
// on every byte in either direction goes through it.  Whatever plaintext
// arrived behind STARTTLS was in the same read as the command and the engine
// threw it away (CVE-2011-0411); nothing read later is ever taken as
// plaintext.  Implicit TLS (RFC 8314) starts the TLS engine before the
// protocol engine says anything.
//
// A failed login (seen through the connection's CountingCredentials) earns
// the client address a penalty (net/io/limits.hpp): the engine's output stays
// unsent and no input is read until it has passed, on a timer of this
// connection alone, so other clients are never held up.  A client that does
// not read its output stops being read from (1 MiB of pending output), and
// the engine is not asked for more (a long FETCH or RETR waits).  Output
// leaves with async_write_some: every write that moves at least one byte is
// progress.  While output is pending and none moves for the output timeout
// (Dovecot's CLIENT_OUTPUT_TIMEOUT_MSECS, 5 min; the scenario's
// output_timeout), the connection is closed without a goodbye (none could be
// delivered), its buffers are freed, and the close is logged and reported to
// the observer like any other (catalogue row 42).  A TLS handshake gets 60 s.
//
// Live stepping (the studio): a held connection's output does not go out; the
// engine's replies wait, line by line, and step() releases the next one.  A
// STARTTLS go-ahead is released at once (TLS must start behind it), and a
// close waits until every held line is out.  Input keeps being read so the
// client's pipelined commands are answered in order.
//
// shutdown() stops the listeners, gives every session its protocol's goodbye
// and closes each once its output is written; connections still open after
// the grace period are closed hard.  When the last one is gone the io_context
// runs out of work.  Nothing is lost: an SMTP message is acknowledged only
// after the sink stored it, and the sink runs inside the engine step.
#pragma once

#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>

#include "net/core/result.hpp"
#include "net/io/limits.hpp"
#include "net/io/session.hpp"
#include "net/tls/tls_context.hpp"

namespace maillab::net::io {

// `address` as asio's to_string() writes it ("192.0.2.7", "::1"); IPv4 is
// written here, not by inet_ntop (it runs for every accepted connection).
std::string address_text(const asio::ip::address& address);

struct ServiceSpec {
  std::string name;             // "smtp", "submission", "imaps": for the log
  std::uint16_t port = 0;
  bool implicit_tls = false;
  SessionFactory factory;
  std::string refusal;          // sent in the clear when a connection cap is reached ("421 4.7.0 ...\r\n")
};

struct DriverLimits {
  Duration tls_handshake{std::chrono::seconds(60)};
  Duration output_timeout{std::chrono::minutes(5)};  // pending output without progress (row 42)
  std::size_t pending_output_max = 1024 * 1024;
  Duration shutdown_grace{std::chrono::seconds(5)};
};

class Connection;

// One open connection, for a live view.
struct ConnectionView {
  std::uint64_t id = 0;
  std::string service;
  PeerInfo peer;
  bool held = false;
  std::size_t held_lines = 0;  // replies waiting for step()
};

class TcpServer {
 public:
  // `directory` answers every login (each connection wraps it to count outcomes).
  TcpServer(asio::io_context& io, const CredentialChecker& directory, std::optional<tls::TlsContext> tls,
            ConnectionCaps caps, LogSink log, DriverLimits limits = {});
  ~TcpServer();
  TcpServer(const TcpServer&) = delete;
  TcpServer& operator=(const TcpServer&) = delete;

  // Binds and listens now (so that "ready" can be said once all are open);
  // accepting starts with start().  Returns the port actually bound.
  Result<std::uint16_t> listen(const std::string& address, ServiceSpec spec);
  void start();
  // Stop accepting and end every session cleanly (see the theory of operation).
  void shutdown();

  // The store whose change_counter() is watched for IMAP IDLE pushes.
  void watch_store(const mail::MailStore* store) { store_ = store; }
  // Hears every session's open, lines and close; nullptr: nobody listens.
  void set_observer(SessionObserver* observer) { observer_ = observer; }

  // Live stepping (see the theory of operation).  False for an unknown id;
  // step() is false too when nothing is held.  hold(id, false) releases all.
  [[nodiscard]] std::vector<ConnectionView> connection_views() const;
  bool hold(std::uint64_t id, bool held);
  bool step(std::uint64_t id);
  // Called by connections after every engine step.
  void after_activity();

  [[nodiscard]] std::size_t open_connections() const { return connections_.size(); }
  [[nodiscard]] bool stopping() const { return stopping_; }

  // For Connection.
  [[nodiscard]] const CredentialChecker& directory() const { return directory_; }
  [[nodiscard]] const std::optional<tls::TlsContext>& tls() const { return tls_; }
  [[nodiscard]] AuthPenalty& penalty() { return penalty_; }
  [[nodiscard]] const LogSink& log() const { return log_; }
  [[nodiscard]] const DriverLimits& limits() const { return limits_; }
  [[nodiscard]] SessionObserver* observer() const { return observer_; }
  // One read buffer for every connection: reads are handled to the end before
  // the next one starts (one thread), and an idle connection then holds none.
  [[nodiscard]] std::span<char> read_buffer() { return read_buffer_; }
  void forget(Connection* connection);

 private:
  struct Listener;

  asio::io_context& io_;
  const CredentialChecker& directory_;
  std::optional<tls::TlsContext> tls_;
  ConnectionLimiter limiter_;
  AuthPenalty penalty_;
  LogSink log_;
  DriverLimits limits_;
  std::list<std::unique_ptr<Listener>> listeners_;
  std::list<std::shared_ptr<Connection>> connections_;
  const mail::MailStore* store_ = nullptr;
  SessionObserver* observer_ = nullptr;
  std::vector<char> read_buffer_ = std::vector<char>(16 * 1024);
  std::uint64_t next_connection_id_ = 1;
  std::uint64_t seen_changes_ = 0;
  bool notify_posted_ = false;
  bool stopping_ = false;
  std::unique_ptr<asio::steady_timer> grace_timer_;
};

}  // namespace maillab::net::io
