// `maillab serve [SCENARIO.toml]` (CONTRACT.md): the lab server for real mail
// clients.  add_serve_command() registers the subcommand on maillab's CLI11
// app; its callback runs the server and ends the parse with the exit status
// (CLI::Success for 0, CLI::RuntimeError otherwise), so maillab_main.cpp needs
// only the one registration line.
#pragma once

#include <CLI/CLI.hpp>

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
};

// Runs the server until SIGINT/SIGTERM; 0 after a clean stop, 2 for a bad
// scenario or bad options, 1 when a port or the state directory is unusable.
int run_serve(const ServeOptions& options);

CLI::App* add_serve_command(CLI::App& app);

// The scenario served when none is given.
extern const char* const classroom_scenario_toml;

}  // namespace maillab::app
