#include "app/lab_server.hpp"

#include <algorithm>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <ostream>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

#include "app/lab_session_trace.hpp"
#include "app/lab_world_router.hpp"
#include "app/serve_lab.hpp"
#include "app/spool_committer.hpp"
#include "app/spool_sink.hpp"
#include "net/io/dns_responder.hpp"
#include "net/io/limits.hpp"
#include "net/io/tcp_server.hpp"
#include "net/io/wall_clock.hpp"
#include "net/pop3/pop3_lock.hpp"
#include "net/tls/tls_certificate.hpp"
#include "net/tls/tls_context.hpp"
#include "sim/store/delivery_log.hpp"
#include "sim/store/maildir_store.hpp"
#include "sim/store/spool.hpp"

namespace maillab::app {

const char* const classroom_scenario_toml = R"toml(
title = "Classroom"
description = """
The lab server's built-in world: two domains with two students each. Log in
with the full address and its password; send to anyone at lab.test or
school.test, fetch with POP3 or IMAP.
"""

[[domain]]
name = "lab.test"

[[domain]]
name = "school.test"

[[user]]
address = "alice@lab.test"
password = "alice-secret"

[[user]]
address = "bob@lab.test"
password = "bob-secret"

[[user]]
address = "carol@school.test"
password = "carol-secret"

[[user]]
address = "dave@school.test"
password = "dave-secret"
)toml";

namespace {

namespace fs = std::filesystem;

Result<void> write_private_file(const fs::path& path, std::string_view text, mode_t mode) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return make_error(ErrorCategory::io, "cannot write " + path.string());
  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n <= 0) {
      ::close(fd);
      return make_error(ErrorCategory::io, "cannot write " + path.string());
    }
    done += static_cast<std::size_t>(n);
  }
  const bool synced = ::fsync(fd) == 0;
  ::close(fd);
  if (!synced) return make_error(ErrorCategory::io, "cannot sync " + path.string());
  return {};
}

// The given certificate, or the state dir's, made on first start.
Result<net::tls::TlsContext> load_tls(const ServeOptions& options, const sim::Scenario& scenario,
                                      const net::io::LogSink& log) {
  if (!options.tls_cert.empty()) return net::tls::TlsContext::server_from_files(options.tls_cert, options.tls_key);
  const fs::path dir = fs::path(options.state) / "tls";
  const fs::path cert = dir / "cert.pem";
  const fs::path key = dir / "key.pem";
  if (fs::exists(cert) && fs::exists(key)) return net::tls::TlsContext::server_from_files(cert, key);
  std::error_code error;
  fs::create_directories(dir, error);
  if (error) return make_error(ErrorCategory::io, "cannot create " + dir.string() + ": " + error.message());
  net::tls::CertificateRequest request;
  request.dns_names.push_back("localhost");
  for (const auto& host : scenario.hosts) request.dns_names.push_back(host.name);
  for (const auto& domain : scenario.domains) request.dns_names.push_back(domain.name);
  request.ip_addresses = {"127.0.0.1", "::1"};
  if (options.bind != "127.0.0.1" && options.bind != "0.0.0.0" && options.bind != "::")
    request.ip_addresses.push_back(options.bind);
  request.not_before_unix_s = net::io::unix_seconds(net::io::wall_now()) - 3600;  // tolerate a slow client clock
  auto made = net::tls::make_self_signed_certificate(request);
  if (!made) return made.error();
  if (auto written = write_private_file(key, made->key_pem, 0600); !written) return written.error();
  if (auto written = write_private_file(cert, made->cert_pem, 0644); !written) return written.error();
  if (log) log("made a self-signed certificate: " + cert.string());
  return net::tls::TlsContext::server(made->cert_pem, made->key_pem);
}

}  // namespace

// Everything open() builds, in the order it is built (and torn down in reverse).
struct LabServer::Parts {
  std::unique_ptr<sim::MaildirStore> store;
  std::unique_ptr<LabDirectory> directory;
  net::pop3::MaildropLocks locks;
  std::unique_ptr<net::io::UserSessionLimiter> imap_sessions;
  std::unique_ptr<net::io::StorageCheckedPolicy> smtp_policy;
  std::unique_ptr<net::io::TcpServer> server;
  std::optional<sim::Spool> spool;
  std::optional<sim::DeliveryLog> delivery_log;  // outlives the committer, whose thread syncs it
  std::unique_ptr<SpoolCommitter> committer;
  std::unique_ptr<WorldRouter> router;
  std::unique_ptr<SpoolSink> queue;
  std::unique_ptr<SessionTrace> sessions;
  std::unique_ptr<net::io::DnsResponder> dns;
  std::ofstream trace_file;
  bool trace_failed = false;
};

LabServer::LabServer(asio::io_context& io, ServeOptions options, net::io::LogSink log)
    : io_(io), options_(std::move(options)), log_(std::move(log)) {}

LabServer::~LabServer() {
  // The world's timer and the parts refer to each other: the parts go first.
  if (world_) world_->set_around_advance({});
  parts_.reset();
  world_.reset();
}

net::io::TcpServer& LabServer::tcp_server() { return *parts_->server; }

bool LabServer::trace_ok() const { return !parts_ || !parts_->trace_failed; }

int LabServer::open(std::ostream& errors) {
  if (options_.tls_cert.empty() != options_.tls_key.empty()) {
    errors << "maillab serve: --tls-cert and --tls-key go together\n";
    return 2;
  }
  auto loaded = options_.scenario.empty() ? sim::load_scenario(classroom_scenario_toml, "<built-in classroom>")
                                          : sim::load_scenario_file(options_.scenario);
  for (const auto& error : loaded.errors) errors << error.to_string() << '\n';
  if (!loaded.errors.empty() || !loaded.scenario) return 2;
  scenario_ = std::move(loaded.scenario);
  const sim::Scenario& scenario = *scenario_;
  host_ = lab_host_name(scenario);

  std::error_code fs_error;
  fs::create_directories(options_.state, fs_error);
  if (fs_error) {
    errors << "maillab serve: --state " << options_.state << ": " << fs_error.message() << '\n';
    return 1;
  }
  parts_ = std::make_unique<Parts>();
  Parts& p = *parts_;
  auto opened = sim::MaildirStore::open(fs::path(options_.state) / "mail");
  if (!opened) {
    errors << "maillab serve: " << opened.error().to_string() << '\n';
    return 1;
  }
  p.store = std::move(opened).value();
  for (const auto& user : scenario.users) {
    auto made = p.store->ensure_user(address_key(user.address));
    if (made) made = p.store->set_limits(address_key(user.address), {user.quota_bytes});
    if (!made) {
      errors << "maillab serve: " << user.address << ": " << made.error().to_string() << '\n';
      return 1;
    }
  }
  auto tls = load_tls(options_, scenario, log_);
  if (!tls) {
    errors << "maillab serve: TLS: " << tls.error().to_string() << '\n';
    return 1;
  }

  // The world, with its trace streamed to --trace before anything can happen in it.
  world_ = std::make_unique<LabWorld>(io_, scenario, *p.store, net::io::unix_seconds(net::io::wall_now()),
                                      scenario.seed);
  if (!options_.trace.empty()) {
    p.trace_file.open(options_.trace, std::ios::binary | std::ios::trunc);
    if (!p.trace_file) {
      errors << "maillab serve: --trace: cannot write " << options_.trace << '\n';
      return 1;
    }
    add_trace_listener([&p](const sim::TraceEvent& event) {
      if (p.trace_failed) return;
      p.trace_file << sim::Trace::json_line(event) << '\n';
      p.trace_file.flush();  // a live file: `tail -f` and a crash see every event
      if (!p.trace_file) p.trace_failed = true;
    });
  }

  p.directory = std::make_unique<LabDirectory>(scenario);
  // The scenario's [limits] (scenarios/README.md); --max-connections* win.
  const sim::LimitsSpec& limits = scenario.limits;
  p.imap_sessions = std::make_unique<net::io::UserSessionLimiter>(limits.imap_sessions_per_user_max);
  p.smtp_policy = std::make_unique<net::io::StorageCheckedPolicy>(*p.directory, limits.message_bytes_max,
                                                                  net::io::free_space_of(options_.state));
  const net::io::ConnectionCaps caps{
      options_.connections_max != 0 ? options_.connections_max : limits.connections_max,
      options_.connections_per_address_max != 0 ? options_.connections_per_address_max
                                                : limits.connections_per_ip_max};
  net::io::DriverLimits driver;
  driver.output_timeout = limits.output_timeout;  // catalogue row 42
  p.server = std::make_unique<net::io::TcpServer>(io_, *p.directory, std::move(tls).value(), caps, log_, driver);
  p.server->watch_store(p.store.get());
  // The world's MDA delivers into the same store: idle IMAP sessions hear of it.
  world_->set_on_advanced([server = p.server.get()] { server->after_activity(); });

  // Real sessions in the trace, each against the world host its port stands for.
  const std::string first_domain = scenario.domains.empty() ? std::string() : scenario.domains.front().name;
  p.sessions = std::make_unique<SessionTrace>(*world_, [this, first_domain](const std::string& proto) {
    if (proto == "smtp") return world_->world().mx_host(first_domain);
    if (proto == "submission") return world_->world().submission_host(first_domain);
    return host_;
  });
  if (listening_) p.server->set_observer(p.sessions.get());

  // The queue (app/spool_sink.hpp): every message is durable there, group-committed, before its 250.
  auto spool = sim::Spool::open(fs::path(options_.state) / "queue");
  if (!spool) {
    errors << "maillab serve: " << spool.error().to_string() << '\n';
    return 1;
  }
  p.spool.emplace(std::move(spool).value());
  // Mail delivered at once is acknowledged once in this log (app/spool_sink.hpp).  A log that
  // exists may hold acknowledged mail: if it cannot be read the server does not start.  One that
  // cannot be made (a full disk, a file size limit) only costs speed: the 250s wait for the Maildirs.
  const fs::path delivery_log_path = fs::path(options_.state) / "delivery-log";
  const bool delivery_log_existed = fs::exists(fs::symlink_status(delivery_log_path));
  auto delivery_log =
      sim::DeliveryLog::open(delivery_log_path, sim::DeliveryLog::capacity_for(delivery_log_path.parent_path()));
  if (delivery_log) {
    p.delivery_log.emplace(std::move(delivery_log).value());
  } else if (delivery_log_existed) {
    errors << "maillab serve: " << delivery_log.error().to_string() << '\n';
    return 1;
  } else if (log_) {
    log_("delivery log: " + delivery_log.error().message + " (local mail is acknowledged once its Maildir is synced)");
  }
  sim::DeliveryLog* const logged = p.delivery_log ? &*p.delivery_log : nullptr;
  p.committer =
      std::make_unique<SpoolCommitter>(io_, *p.spool, log_, 512, sim::durable::SyncMode::syncfs, logged);
  p.router = std::make_unique<WorldRouter>(*world_, *p.directory, *p.store, log_);
  p.queue = std::make_unique<SpoolSink>(io_, *p.spool, *p.committer, *p.router, log_);
  p.router->set_sink(p.queue.get());
  // Local deliveries made while routing and those of the world's later hops are synced with the
  // queue's next group-commit round (app/spool_sink.hpp), before the entries they finish leave it.
  p.queue->set_deferred_store(p.store.get());
  p.queue->set_delivery_log(logged);
  world_->set_around_advance([queue = p.queue.get()](const std::function<void()>& advance) {
    queue->with_deferred_syncs(advance);
  });
  p.queue->set_after_route([server = p.server.get()] { server->after_activity(); });

  net::smtp::ServerConfig smtp;
  smtp.host_name = host_;
  smtp.command_line_octets_max = limits.smtp_line_bytes_max;
  smtp.recipients_max = limits.recipients_max;
  smtp.message_octets_max = limits.message_bytes_max;
  smtp.errors_max = limits.smtp_errors_max;
  smtp.errors_soft_max = limits.smtp_errors_soft_max;
  smtp.error_delay = limits.smtp_error_delay;
  smtp.junk_commands_max = limits.smtp_junk_commands_max;
  smtp.header_octets_max = limits.smtp_header_bytes_max;
  // Catalogue row 7 (Postfix >= 3.9 smtpd_forbid_unauth_pipelining): a client that has not logged in
  // and pipelines where RFC 2920 §3.1 forbids it, or behind the end of DATA, gets 554 5.5.0 and a close.
  smtp.strict_pipelining = true;
  smtp.command_timeout = limits.smtp_idle_timeout;
  smtp.data_block_timeout = limits.smtp_data_timeout;
  smtp.min_data_rate = limits.smtp_min_data_rate;  // catalogue row 18: the message content's deadline
  net::smtp::ServerConfig submission = smtp;
  submission.submission = true;
  net::pop3::ServerConfig pop3;
  pop3.host_name = host_;
  pop3.idle_timeout = limits.pop3_idle_timeout;
  net::imap::ServerConfig imap;
  imap.hostname = host_;
  imap.append_bytes_max = limits.imap_literal_bytes_max;
  imap.limits.line_bytes_max = limits.imap_line_bytes_max;
  imap.limits.command_bytes_max = std::max(imap.limits.command_bytes_max, limits.imap_line_bytes_max);
  imap.limits.depth_max = limits.imap_depth_max;
  imap.autologout = limits.imap_autologout;
  imap.preauth_timeout = limits.imap_login_timeout;
  imap.user_sessions = p.imap_sessions.get();

  const std::string smtp_busy = "421 4.7.0 " + host_ + " Too many connections, try again later\r\n";
  struct Planned {
    std::string name;
    std::uint16_t port;
    bool implicit_tls;
    net::io::SessionFactory factory;
    std::string refusal;
  };
  auto* store = p.store.get();
  // Sessions on every SMTP port count their open transactions for the queue's group commit.
  auto open_transactions = std::make_shared<net::io::OpenTransactions>();
  p.queue->set_open_transactions(open_transactions);
  const net::io::SmtpService smtp_service{smtp, p.smtp_policy.get(), p.queue.get(), open_transactions};
  const net::io::SmtpService submission_service{submission, p.smtp_policy.get(), p.queue.get(), open_transactions};
  const std::vector<Planned> services{
      {"smtp", options_.smtp, false, net::io::smtp_session_factory(smtp_service), smtp_busy},
      {"submission", options_.submission, false, net::io::smtp_session_factory(submission_service), smtp_busy},
      {"smtps", options_.smtps, true, net::io::smtp_session_factory(submission_service), ""},
      {"pop3", options_.pop3, false, net::io::pop3_session_factory({pop3, store, &p.locks}),
       "-ERR [SYS/TEMP] Too many connections, try again later\r\n"},
      {"pop3s", options_.pop3s, true, net::io::pop3_session_factory({pop3, store, &p.locks}), ""},
      {"imap", options_.imap, false, net::io::imap_session_factory({imap, store}),
       "* BYE Too many connections, try again later\r\n"},
      {"imaps", options_.imaps, true, net::io::imap_session_factory({imap, store}), ""},
  };
  for (const auto& planned : services) {
    if (planned.port == 0) continue;
    auto bound = p.server->listen(options_.bind, {planned.name, planned.port, planned.implicit_tls, planned.factory,
                                                  planned.refusal});
    if (!bound) {
      errors << "maillab serve: " << bound.error().to_string() << '\n';
      return 1;
    }
  }
  p.dns = std::make_unique<net::io::DnsResponder>(io_, make_zone(scenario));
  if (options_.dns != 0) {
    auto bound = p.dns->bind(options_.bind, options_.dns);
    if (!bound) {
      errors << "maillab serve: " << bound.error().to_string() << '\n';
      return 1;
    }
  }

  // Mail acknowledged before the last stop (or crash) goes on into the world.
  world_->start();
  if (auto recovered = p.queue->recover(net::io::wall_now()); !recovered) {
    errors << "maillab serve: queue: " << recovered.error().to_string() << '\n';
    return 1;
  }
  return 0;
}

void LabServer::add_trace_listener(sim::Trace::Listener listener) {
  world_->trace().add_listener(std::move(listener));
  listening_ = true;
  // Real sessions are traced only when someone listens (each line advances the world).
  if (parts_ && parts_->server && parts_->sessions) parts_->server->set_observer(parts_->sessions.get());
}

void LabServer::start() {
  parts_->server->start();
  if (options_.dns != 0) parts_->dns->start();
  if (log_)
    log_("serving \"" + scenario_->title + "\" as " + host_ + " on " + options_.bind + ", state in " +
         options_.state);
}

void LabServer::stop() {
  if (!parts_) return;
  if (parts_->dns) parts_->dns->stop();
  if (parts_->server) parts_->server->shutdown();
  if (world_) world_->stop();
}

}  // namespace maillab::app
