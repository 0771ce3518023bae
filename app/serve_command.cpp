#include "app/serve_command.hpp"

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>

#include <fcntl.h>
#include <unistd.h>

#include <asio/io_context.hpp>
#include <asio/signal_set.hpp>

#include "app/serve_lab.hpp"
#include "app/spool_committer.hpp"
#include "app/spool_local_router.hpp"
#include "app/spool_sink.hpp"
#include "net/io/dns_responder.hpp"
#include "net/io/tcp_server.hpp"
#include "net/io/wall_clock.hpp"
#include "net/mail/message.hpp"
#include "net/tls/tls_certificate.hpp"
#include "net/tls/tls_context.hpp"
#include "sim/store/maildir_store.hpp"

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

void log_line(std::string_view line) {
  const std::int64_t now = net::io::unix_seconds(net::io::wall_now());
  std::cerr << "maillab: " << net::mail::format_rfc5322_date(now).substr(17, 8) << ' ' << line << '\n';
}

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
Result<net::tls::TlsContext> load_tls(const ServeOptions& options, const sim::Scenario& scenario) {
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
  log_line("made a self-signed certificate: " + cert.string());
  return net::tls::TlsContext::server(made->cert_pem, made->key_pem);
}

std::optional<sim::Scenario> load(const ServeOptions& options) {
  auto loaded = options.scenario.empty() ? sim::load_scenario(classroom_scenario_toml, "<built-in classroom>")
                                         : sim::load_scenario_file(options.scenario);
  for (const auto& error : loaded.errors) std::cerr << error.to_string() << '\n';
  if (!loaded.errors.empty()) return std::nullopt;
  return std::move(loaded.scenario);
}

}  // namespace

int run_serve(const ServeOptions& options) {
  if (options.tls_cert.empty() != options.tls_key.empty()) {
    std::cerr << "maillab serve: --tls-cert and --tls-key go together\n";
    return 2;
  }
  auto scenario = load(options);
  if (!scenario) return 2;
  // Under a file size limit (ulimit -f) a write past it fails with EFBIG and is
  // answered 452 4.3.1 like a full disk (catalogue row 57); SIGXFSZ must not end us.
  std::signal(SIGXFSZ, SIG_IGN);

  std::error_code fs_error;
  fs::create_directories(options.state, fs_error);
  if (fs_error) {
    std::cerr << "maillab serve: --state " << options.state << ": " << fs_error.message() << '\n';
    return 1;
  }
  auto opened = sim::MaildirStore::open(fs::path(options.state) / "mail");
  if (!opened) {
    std::cerr << "maillab serve: " << opened.error().to_string() << '\n';
    return 1;
  }
  std::unique_ptr<sim::MaildirStore> store = std::move(opened).value();
  for (const auto& user : scenario->users) {
    auto made = store->ensure_user(address_key(user.address));
    if (made) made = store->set_limits(address_key(user.address), {user.quota_bytes});
    if (!made) {
      std::cerr << "maillab serve: " << user.address << ": " << made.error().to_string() << '\n';
      return 1;
    }
  }
  auto tls = load_tls(options, *scenario);
  if (!tls) {
    std::cerr << "maillab serve: TLS: " << tls.error().to_string() << '\n';
    return 1;
  }

  const std::string host = lab_host_name(*scenario);
  LabDirectory directory(*scenario);
  net::io::LogSink log = log_line;
  LabDelivery delivery(directory, *store, host, log);
  net::pop3::MaildropLocks locks;

  // The scenario's [limits] (scenarios/README.md); --max-connections* win.
  const sim::LimitsSpec& limits = scenario->limits;
  net::io::UserSessionLimiter imap_sessions(limits.imap_sessions_per_user_max);
  net::io::StorageCheckedPolicy smtp_policy(directory, limits.message_bytes_max, net::io::free_space_of(options.state));

  asio::io_context io;
  const net::io::ConnectionCaps caps{
      options.connections_max != 0 ? options.connections_max : limits.connections_max,
      options.connections_per_address_max != 0 ? options.connections_per_address_max : limits.connections_per_ip_max};
  net::io::TcpServer server(io, directory, std::move(tls).value(), caps, log);
  server.watch_store(store.get());

  // The queue (app/spool_sink.hpp): every message is durable there, group-committed, before its 250.
  auto spool = sim::Spool::open(fs::path(options.state) / "queue");
  if (!spool) {
    std::cerr << "maillab serve: " << spool.error().to_string() << '\n';
    return 1;
  }
  SpoolCommitter committer(io, *spool, log);
  LocalRouter router(delivery, directory, *store, log);
  SpoolSink queue(io, *spool, committer, router, log);
  router.set_sink(&queue);
  queue.set_deferred_store(store.get());
  queue.set_after_route([&server] { server.after_activity(); });
  if (auto recovered = queue.recover(net::io::wall_now()); !recovered) {
    std::cerr << "maillab serve: queue: " << recovered.error().to_string() << '\n';
    return 1;
  }

  net::smtp::ServerConfig smtp;
  smtp.host_name = host;
  smtp.command_line_octets_max = limits.smtp_line_bytes_max;
  smtp.recipients_max = limits.recipients_max;
  smtp.message_octets_max = limits.message_bytes_max;
  smtp.errors_max = limits.smtp_errors_max;
  smtp.command_timeout = limits.smtp_idle_timeout;
  smtp.data_block_timeout = limits.smtp_data_timeout;
  net::smtp::ServerConfig submission = smtp;
  submission.submission = true;
  net::pop3::ServerConfig pop3;
  pop3.host_name = host;
  pop3.idle_timeout = limits.pop3_idle_timeout;
  net::imap::ServerConfig imap;
  imap.hostname = host;
  imap.append_bytes_max = limits.imap_literal_bytes_max;
  imap.limits.line_bytes_max = limits.imap_line_bytes_max;
  imap.limits.command_bytes_max = std::max(imap.limits.command_bytes_max, limits.imap_line_bytes_max);
  imap.limits.depth_max = limits.imap_depth_max;
  imap.autologout = limits.imap_autologout;
  imap.preauth_timeout = limits.imap_login_timeout;
  imap.user_sessions = &imap_sessions;

  const std::string smtp_busy = "421 4.7.0 " + host + " Too many connections, try again later\r\n";
  struct Planned {
    std::string name;
    std::uint16_t port;
    bool implicit_tls;
    net::io::SessionFactory factory;
    std::string refusal;
  };
  const std::vector<Planned> services{
      {"smtp", options.smtp, false, net::io::smtp_session_factory({smtp, &smtp_policy, &queue}), smtp_busy},
      {"submission", options.submission, false, net::io::smtp_session_factory({submission, &smtp_policy, &queue}),
       smtp_busy},
      {"smtps", options.smtps, true, net::io::smtp_session_factory({submission, &smtp_policy, &queue}), ""},
      {"pop3", options.pop3, false, net::io::pop3_session_factory({pop3, store.get(), &locks}),
       "-ERR [SYS/TEMP] Too many connections, try again later\r\n"},
      {"pop3s", options.pop3s, true, net::io::pop3_session_factory({pop3, store.get(), &locks}), ""},
      {"imap", options.imap, false, net::io::imap_session_factory({imap, store.get()}),
       "* BYE Too many connections, try again later\r\n"},
      {"imaps", options.imaps, true, net::io::imap_session_factory({imap, store.get()}), ""},
  };
  for (const auto& planned : services) {
    if (planned.port == 0) continue;
    auto bound = server.listen(options.bind, {planned.name, planned.port, planned.implicit_tls, planned.factory,
                                              planned.refusal});
    if (!bound) {
      std::cerr << "maillab serve: " << bound.error().to_string() << '\n';
      return 1;
    }
  }
  net::io::DnsResponder dns(io, make_zone(*scenario));
  if (options.dns != 0) {
    auto bound = dns.bind(options.bind, options.dns);
    if (!bound) {
      std::cerr << "maillab serve: " << bound.error().to_string() << '\n';
      return 1;
    }
  }

  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const asio::error_code& error, int signal) {
    if (error) return;
    log_line(std::string("stopping (") + (signal == SIGINT ? "SIGINT" : "SIGTERM") + ")");
    dns.stop();
    server.shutdown();
  });
  server.start();
  if (options.dns != 0) dns.start();

  log_line("serving \"" + scenario->title + "\" as " + host + " on " + options.bind + ", state in " + options.state);
  std::cout << "maillab: ready" << std::endl;
  io.run();
  log_line("stopped");
  return 0;
}

CLI::App* add_serve_command(CLI::App& app) {
  auto options = std::make_shared<ServeOptions>();
  auto* serve = app.add_subcommand("serve", "run the lab server for real mail clients (SMTP, POP3, IMAP, DNS)");
  serve->add_option("SCENARIO", options->scenario,
                    "scenario file (TOML; its [limits] table sets the server's limits); default: the built-in classroom");
  serve->add_option("--bind", options->bind, "address to listen on (a classroom passes 0.0.0.0)")
      ->capture_default_str();
  serve->add_option("--state", options->state, "Maildirs, TLS key and certificate")->capture_default_str();
  serve->add_option("--smtp", options->smtp, "MX port (RFC 5321); 0 turns it off")->capture_default_str();
  serve->add_option("--submission", options->submission, "submission port with STARTTLS (RFC 6409)")
      ->capture_default_str();
  serve->add_option("--smtps", options->smtps, "submission with implicit TLS (RFC 8314)")->capture_default_str();
  serve->add_option("--pop3", options->pop3, "POP3 port with STLS")->capture_default_str();
  serve->add_option("--pop3s", options->pop3s, "POP3 with implicit TLS")->capture_default_str();
  serve->add_option("--imap", options->imap, "IMAP port with STARTTLS")->capture_default_str();
  serve->add_option("--imaps", options->imaps, "IMAP with implicit TLS")->capture_default_str();
  serve->add_option("--dns", options->dns, "UDP port of the lab zone (MX and A records)")->capture_default_str();
  serve->add_option("--tls-cert", options->tls_cert, "certificate chain (PEM); default: self-signed in the state dir");
  serve->add_option("--tls-key", options->tls_key, "private key (PEM) of --tls-cert");
  serve->add_option("--max-connections", options->connections_max,
                    "open connections in total; wins over the scenario's [limits] connections_max (default 1000)")
      ->check(CLI::Range(std::size_t{1}, std::size_t{100'000}));
  serve->add_option("--max-connections-per-ip", options->connections_per_address_max,
                    "open connections from one client address; wins over [limits] connections_per_ip_max (default 10)")
      ->check(CLI::Range(std::size_t{1}, std::size_t{100'000}));
  serve->callback([options]() {
    int status = 2;
    try {
      status = run_serve(*options);
    } catch (const std::exception& e) {
      std::cerr << "maillab serve: " << e.what() << '\n';
      status = 1;
    }
    if (status == 0) throw CLI::Success();
    throw CLI::RuntimeError(status);
  });
  return serve;
}

}  // namespace maillab::app
