// `maillab serve [SCENARIO.toml]` (CONTRACT.md): the lab server for real mail
// clients.  add_serve_command() registers the subcommand on maillab's CLI11
// app; its callback runs the server and ends the parse with the exit status
// (CLI::Success for 0, CLI::RuntimeError otherwise), so maillab_main.cpp needs
// only the one registration line.
#pragma once

#include <CLI/CLI.hpp>

#include "app/lab_server.hpp"

namespace maillab::app {

// Runs the server until SIGINT/SIGTERM; 0 after a clean stop, 2 for a bad
// scenario or bad options, 1 when a port, the state directory or the trace
// file is unusable.
int run_serve(const ServeOptions& options);

CLI::App* add_serve_command(CLI::App& app);
// serve's options but the SCENARIO argument (CONTRACT.md) on any CLI11 app:
// the studio's --live takes them too.
void add_serve_options(CLI::App& app, ServeOptions& options);

}  // namespace maillab::app
