// LabServer: the lab server of `maillab serve` (CONTRACT.md) as one object,
// so that `maillab serve` and the studio's live mode run the same thing on
// their own asio::io_context.
//
// Theory of operation.  open() does everything that can fail before a client
// is served: the scenario (the built-in classroom when none is given), the
// state directory with the Maildirs (the world's one store: real clients read
// the world's mailboxes) and the on-disk queue, the TLS certificate, every
// listener; it also resumes the queue (mail acknowledged before a stop or a
// crash goes on into the world).  start() accepts, answers DNS and lets the
// world's timer run.  Mail flows
//   SMTP session -> SpoolSink (durable, group commit, then 250)
//                -> WorldRouter -> the world (local MDA, or queue, DNS MX,
//                   SMTP hops, MDA) -> the Maildirs -> finals -> queue removal
// and every real session's lines and every world event go to the world's
// trace, which keeps nothing: listeners (--trace FILE.jsonl, the studio) hear
// each event as it happens, `t` in seconds since the server started (the
// studio adds its own with add_trace_listener() after open(); events that
// open() already caused, resuming the queue, go only to --trace).  Real
// sessions are traced only while someone listens.
// The studio drives it with io.poll() from its frame loop (one thread): the
// world's timer is an ordinary asio timer.  stop() stops accepting, ends
// every session with its protocol's goodbye and lets the world's timer go;
// io.run() returns once the last session is gone and the last commit has
// answered.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <memory>
#include <optional>
#include <string>

#include <asio/io_context.hpp>

#include "app/lab_world.hpp"
#include "net/io/session.hpp"
#include "net/io/tcp_server.hpp"
#include "sim/scenario.hpp"

namespace maillab::app {

struct ServeOptions {
  std::string scenario;  // empty: the built-in classroom
  std::string bind = "127.0.0.1";
  std::string state = "./maillab-state";
  std::uint16_t smtp = 2525, submission = 2587, smtps = 2465;
  std::uint16_t pop3 = 2110, pop3s = 2995, imap = 2143, imaps = 2993, dns = 2053;
  std::string tls_cert, tls_key;
  // 0: the scenario's [limits] connections_max / connections_per_ip_max.
  std::size_t connections_max = 0;
  std::size_t connections_per_address_max = 0;
  std::string trace;  // --trace FILE.jsonl; empty: none
};

// The scenario served when none is given.
extern const char* const classroom_scenario_toml;

class LabServer {
 public:
  LabServer(asio::io_context& io, ServeOptions options, net::io::LogSink log);
  ~LabServer();
  LabServer(const LabServer&) = delete;
  LabServer& operator=(const LabServer&) = delete;

  // 0 when ready to start; 2 for a bad scenario or bad options, 1 when a port,
  // the state directory or the trace file is unusable (each problem is
  // written to `errors`).
  int open(std::ostream& errors);
  void start();
  void stop();

  // After open().
  [[nodiscard]] const sim::Scenario& scenario() const { return *scenario_; }
  [[nodiscard]] LabWorld& world() { return *world_; }
  [[nodiscard]] const std::string& host_name() const { return host_; }
  // After open(): hears every trace event from now on (real sessions included).
  void add_trace_listener(sim::Trace::Listener listener);
  // The real clients' connections (the studio's live stepping: hold(), step(),
  // connection_views(); net/io/tcp_server.hpp).
  [[nodiscard]] net::io::TcpServer& tcp_server();
  // False when writing the --trace file failed at some point.
  [[nodiscard]] bool trace_ok() const;

  struct Parts;

 private:
  asio::io_context& io_;
  ServeOptions options_;
  net::io::LogSink log_;
  std::optional<sim::Scenario> scenario_;
  std::string host_;
  std::unique_ptr<LabWorld> world_;
  std::unique_ptr<Parts> parts_;
  bool listening_ = false;
};

}  // namespace maillab::app
