#include "app/serve_command.hpp"

#include <malloc.h>

#include <csignal>
#include <iostream>
#include <memory>

#include <asio/io_context.hpp>
#include <asio/signal_set.hpp>

#include "net/io/wall_clock.hpp"
#include "net/mail/message.hpp"

namespace maillab::app {

namespace {

void log_line(std::string_view line) {
  const std::int64_t now = net::io::unix_seconds(net::io::wall_now());
  std::cerr << "maillab: " << net::mail::format_rfc5322_date(now).substr(17, 8) << ' ' << line << '\n';
}

}  // namespace

int run_serve(const ServeOptions& options) {
  // Under a file size limit (ulimit -f) a write past it fails with EFBIG and is
  // answered 452 4.3.1 like a full disk (catalogue row 57); SIGXFSZ must not end us.
  std::signal(SIGXFSZ, SIG_IGN);
#ifdef M_TRIM_THRESHOLD
  // For glibc's malloc (a build with -DMAILLAB_MIMALLOC=OFF, the sanitizer
  // build; the mimalloc build ignores this and measured level without it):
  // glibc gives the top of the heap back to the kernel whenever more than
  // 128 KiB is free there, so each 100 KiB message's copies (Received:,
  // Return-Path:, the Maildir bytes) faulted fresh zeroed pages in again:
  // 3.9-5.3 ms of CPU per message against 1.2-1.4 ms with 16 MiB kept (SMTP,
  // 100 KiB, 16 sessions; bench/README.md "Fifth round").
  ::mallopt(M_TRIM_THRESHOLD, 16 * 1024 * 1024);
#endif
  asio::io_context io;
  LabServer lab(io, options, log_line);
  if (const int status = lab.open(std::cerr); status != 0) return status;

  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const asio::error_code& error, int signal) {
    if (error) return;
    log_line(std::string("stopping (") + (signal == SIGINT ? "SIGINT" : "SIGTERM") + ")");
    lab.stop();
  });
  lab.start();
  std::cout << "maillab: ready" << std::endl;
  io.run();
  log_line("stopped");
  if (!lab.trace_ok()) {
    std::cerr << "maillab serve: --trace: cannot write " << options.trace << '\n';
    return 1;
  }
  return 0;
}

void add_serve_options(CLI::App& serve, ServeOptions& options) {
  serve.add_option("--bind", options.bind, "address to listen on (a classroom passes 0.0.0.0)")
      ->capture_default_str();
  serve.add_option("--state", options.state, "Maildirs, queue, TLS key and certificate")->capture_default_str();
  serve.add_option("--smtp", options.smtp, "MX port (RFC 5321); 0 turns it off")->capture_default_str();
  serve.add_option("--submission", options.submission, "submission port with STARTTLS (RFC 6409)")
      ->capture_default_str();
  serve.add_option("--smtps", options.smtps, "submission with implicit TLS (RFC 8314)")->capture_default_str();
  serve.add_option("--pop3", options.pop3, "POP3 port with STLS")->capture_default_str();
  serve.add_option("--pop3s", options.pop3s, "POP3 with implicit TLS")->capture_default_str();
  serve.add_option("--imap", options.imap, "IMAP port with STARTTLS")->capture_default_str();
  serve.add_option("--imaps", options.imaps, "IMAP with implicit TLS")->capture_default_str();
  serve.add_option("--dns", options.dns, "UDP port of the lab zone (MX and A records)")->capture_default_str();
  serve.add_option("--tls-cert", options.tls_cert, "certificate chain (PEM); default: self-signed in the state dir");
  serve.add_option("--tls-key", options.tls_key, "private key (PEM) of --tls-cert");
  serve.add_option("--trace", options.trace,
                   "stream the world's trace (real clients' lines, DNS, SMTP hops, deliveries) as JSON Lines");
  serve.add_option("--max-connections", options.connections_max,
                   "open connections in total; wins over the scenario's [limits] connections_max (default 1000)")
      ->check(CLI::Range(std::size_t{1}, std::size_t{100'000}));
  serve.add_option("--max-connections-per-ip", options.connections_per_address_max,
                   "open connections from one client address; wins over [limits] connections_per_ip_max (default 10)")
      ->check(CLI::Range(std::size_t{1}, std::size_t{100'000}));
}

CLI::App* add_serve_command(CLI::App& app) {
  auto options = std::make_shared<ServeOptions>();
  auto* serve = app.add_subcommand("serve", "run the lab server for real mail clients (SMTP, POP3, IMAP, DNS)");
  serve->add_option("SCENARIO", options->scenario,
                    "scenario file (TOML; its [limits] table sets the server's limits); default: the built-in classroom");
  add_serve_options(*serve, *options);
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
