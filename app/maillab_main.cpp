// maillab: the headless front end (CONTRACT.md).
//   maillab run SCENARIO [--until D] [--trace F] [--pcap F] [--quiet] [--seed N]
//   maillab check SCENARIO
// Exit status: 0 the run finished and every [[expect]] held, 1 an expectation
// failed, 2 a bad scenario or bad usage.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <optional>
#include <string>

#include "sim/pcap_writer.hpp"
#include "sim/scenario.hpp"
#include "sim/trace.hpp"
#include "app/serve_command.hpp"
#include "sim/world.hpp"

namespace {

using namespace maillab;
using namespace maillab::sim;

std::optional<Scenario> load_or_report(const std::string& path) {
  auto load = load_scenario_file(path);
  for (const auto& error : load.errors) std::cerr << error.to_string() << '\n';
  return std::move(load.scenario);
}

int run(const std::string& path, const std::string& until_text, const std::string& trace_path,
        const std::string& pcap_path, bool quiet, std::optional<std::uint64_t> seed) {
  std::optional<Duration> until;
  if (!until_text.empty()) {
    until = parse_duration(until_text);
    if (!until) {
      std::cerr << "maillab: --until: '" << until_text << "' is not a duration (e.g. 90s, 10m, 1h30m)\n";
      return 2;
    }
  }
  auto scenario = load_or_report(path);
  if (!scenario) return 2;
  World world(*scenario, seed.value_or(scenario->seed));
  std::unique_ptr<PcapWriter> pcap;
  std::ofstream keys;
  if (!pcap_path.empty()) {
    auto opened = PcapWriter::open(pcap_path, world);
    if (!opened) {
      std::cerr << "maillab: --pcap: " << opened.error().to_string() << '\n';
      return 2;
    }
    pcap = std::move(opened).value();
    world.set_network_observer(pcap.get());
    keys.open(pcap_path + ".keys", std::ios::binary | std::ios::trunc);
    world.set_key_log([&keys](std::string_view line) { keys << line << '\n'; });
  }
  // Nothing here reads kept events: the transcript, the --trace file and the
  // [[expect]] checks all hear each event as it happens, so memory stays flat.
  world.trace().set_keep(false);
  std::ofstream trace_out;
  if (!trace_path.empty()) {
    trace_out.open(trace_path, std::ios::binary | std::ios::trunc);
    if (!trace_out) {
      std::cerr << "maillab: --trace: cannot write " << trace_path << '\n';
      return 2;
    }
    world.trace().add_listener([&trace_out](const TraceEvent& event) { trace_out << Trace::json_line(event) << '\n'; });
  }
  if (!quiet) {
    std::cout << "# " << scenario->title << "\n";
    world.set_transcript(&std::cout);
  }
  world.run(until);
  if (trace_out.is_open()) {
    trace_out.close();
    if (!trace_out) {
      std::cerr << "maillab: --trace: cannot write " << trace_path << '\n';
      return 2;
    }
  }
  std::cout << world.summary();
  int status = 0;
  for (const auto& result : world.check_expectations()) {
    const auto& where = result.spec->where;
    const std::string position = where.file + ":" + std::to_string(where.line) + ":" + std::to_string(where.column);
    if (result.held) {
      std::cout << "expect ok: " << position << ": " << result.detail << '\n';
    } else {
      std::cout << "EXPECTATION FAILED: " << position << ": " << result.detail << '\n';
      status = 1;
    }
  }
  return status;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"maillab: a deterministic simulated mail world for the classroom"};
  app.require_subcommand(1);
  std::string path, until, trace, pcap;
  bool quiet = false;
  std::optional<std::uint64_t> seed;

  auto* run_cmd = app.add_subcommand("run", "run a scenario in the simulator and print the transcript");
  run_cmd->add_option("SCENARIO", path, "scenario file (TOML)")->required();
  run_cmd->add_option("--until", until, "simulated time to stop at (90s, 10m, 2h)");
  run_cmd->add_option("--trace", trace, "write the trace as JSON Lines");
  run_cmd->add_option("--pcap", pcap, "write the packets as a pcap file (and FILE.keys, the TLS key log)");
  run_cmd->add_flag("--quiet", quiet, "print only the summary");
  run_cmd->add_option("--seed", seed, "the PRNG seed (default: the scenario's)");

  auto* check_cmd = app.add_subcommand("check", "validate a scenario");
  check_cmd->add_option("SCENARIO", path, "scenario file (TOML)")->required();
  maillab::app::add_serve_command(app);  // maillab serve: app/serve_command.cpp

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  try {
    if (*run_cmd) return run(path, until, trace, pcap, quiet, seed);
    if (*check_cmd) {
      auto scenario = load_or_report(path);
      if (!scenario) return 2;
      std::cout << path << ": ok (" << scenario->title << ")\n";
      return 0;
    }
  } catch (const std::exception& e) {
    std::cerr << "maillab: " << e.what() << '\n';
    return 2;
  }
  return 2;
}
