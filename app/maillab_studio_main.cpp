// maillab-studio: the thin main.  Options per CONTRACT.md; --live takes
// `maillab serve`'s options and runs the lab server in this process
// (app/studio_live.hpp).
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

#include <CLI/CLI.hpp>

#include "app/serve_command.hpp"
#include "app/studio_live.hpp"
#include "sim/scenario.hpp"
#include "ui/studio.hpp"

namespace {

maillab::ui::Lang language_from_environment() {
  for (const char* name : {"LC_ALL", "LC_MESSAGES", "LANG"}) {
    if (const char* value = std::getenv(name); value != nullptr && *value != '\0') {
      if (auto lang = maillab::ui::parse_lang(value)) return *lang;
      return maillab::ui::Lang::en;
    }
  }
  return maillab::ui::Lang::en;
}

std::optional<std::pair<int, int>> parse_size(const std::string& text) {
  const auto x = text.find('x');
  if (x == std::string::npos) return std::nullopt;
  try {
    const int w = std::stoi(text.substr(0, x));
    const int h = std::stoi(text.substr(x + 1));
    if (w < 320 || h < 240 || w > 8192 || h > 8192) return std::nullopt;
    return std::pair{w, h};
  } catch (...) {
    return std::nullopt;
  }
}

// CONTRACT.md: --screenshot works where there is no display, under Xvfb.  We
// run ourselves again under xvfb-run (once: the variable marks the second run);
// without xvfb-run the studio says it has no display, as before.
void rerun_under_xvfb_without_display(int argc, char** argv) {
  const auto set = [](const char* name) { return std::getenv(name) != nullptr && *std::getenv(name) != '\0'; };
  if (set("DISPLAY") || set("WAYLAND_DISPLAY") || set("MAILLAB_UNDER_XVFB")) return;
  ::setenv("MAILLAB_UNDER_XVFB", "1", 1);
  std::error_code error;
  std::string self = std::filesystem::read_symlink("/proc/self/exe", error).string();  // the path, not the link
  if (error || self.empty()) return;
  std::vector<char*> args{const_cast<char*>("xvfb-run"), const_cast<char*>("-a"), self.data()};
  for (int i = 1; i < argc; ++i) args.push_back(argv[i]);
  args.push_back(nullptr);
  ::execvp("xvfb-run", args.data());  // returns only when xvfb-run is missing
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"maillab-studio: watch a message travel, step through every line"};
  maillab::ui::StudioOptions options;
  options.scenarios_dir = MAILLAB_SCENARIOS_DIR;
  std::string lang;
  std::string screenshot;
  std::string at;
  std::string select;
  std::string size;
  app.add_option("scenario", options.scenario, "Scenario (TOML) or recorded trace (JSONL); default: the first lesson");
  app.add_option("--lang", lang, "Language: en or id (default: from the locale)");
  app.add_flag("--presenter", options.presenter, "Large fonts, high contrast");
  app.add_option("--screenshot", screenshot, "Render one frame to this PNG and exit");
  app.add_option("--at", at, "Simulated time for the screenshot (e.g. 90s, 5m)");
  app.add_option("--select", select, "Message-ID to select");
  app.add_option("--size", size, "Window size WxH (default 1600x900)");
  app.add_option("--scenarios", options.scenarios_dir, "Directory of built-in lessons");
  app.add_option("--panel", options.panel,
                 "With --screenshot: only this panel (topology, transcript, timeline, sequence, message, dns, queues, "
                 "mailboxes, routes, lesson, files, presenter), or 'all' to write DIR/<panel>-<lang>.png for each");
  app.add_option("--bench-frames", options.bench_frames, "Play N frames off-screen from --at and print frame times")
      ->check(CLI::Range(1, 1000000));
  app.add_option("--bench-speed", options.bench_speed, "Playback speed for --bench-frames (default 1)")
      ->check(CLI::Range(0.1, 1000.0));
  bool live = false;
  std::string live_for;
  maillab::app::ServeOptions serve;
  app.add_flag("--live", live, "Also run the lab server (maillab serve) in this process and show it live");
  app.add_option("--live-for", live_for,
                 "With --live: run this long (e.g. 30s), then write --screenshot if given, print what the live "
                 "trace saw and exit");
  bool live_hold = false;
  app.add_flag("--live-hold", live_hold, "With --live: start with 'hold each new session from its greeting' on");
  maillab::app::add_serve_options(app, serve);  // with --live, as `maillab serve` takes them
  CLI11_PARSE(app, argc, argv);

  options.lang = language_from_environment();
  if (!lang.empty()) {
    auto parsed = maillab::ui::parse_lang(lang);
    if (!parsed || (lang != "en" && lang != "id")) {
      std::fprintf(stderr, "maillab-studio: --lang must be en or id, not '%s'\n", lang.c_str());
      return 2;
    }
    options.lang = *parsed;
  }
  if (!screenshot.empty()) options.screenshot = screenshot;
  if (!at.empty()) {
    auto duration = maillab::sim::parse_duration(at);
    if (!duration) {
      std::fprintf(stderr, "maillab-studio: --at wants a duration such as 90s or 5m, not '%s'\n", at.c_str());
      return 2;
    }
    options.at_s = std::chrono::duration<double>(*duration).count();
  }
  if (!select.empty()) options.select = select;
  if (!size.empty()) {
    auto parsed = parse_size(size);
    if (!parsed) {
      std::fprintf(stderr, "maillab-studio: --size wants WxH between 320x240 and 8192x8192, not '%s'\n", size.c_str());
      return 2;
    }
    options.width = parsed->first;
    options.height = parsed->second;
  }
  if (!live_for.empty()) {
    auto duration = maillab::sim::parse_duration(live_for);
    if (!live || !duration || duration->count() <= 0) {
      std::fprintf(stderr, "maillab-studio: --live-for wants --live and a duration such as 30s, not '%s'\n",
                   live_for.c_str());
      return 2;
    }
    options.live_for_s = std::chrono::duration<double>(*duration).count();
  }
  if (options.screenshot || options.bench_frames > 0 || options.live_for_s > 0) {
    rerun_under_xvfb_without_display(argc, argv);
  }
  if (!live) return maillab::ui::run_studio(options);

  // Live: the server opens first, so that a port in use is said on stderr and
  // in the window; a bad scenario exits 2 as `maillab check` would.
  serve.scenario = options.scenario;
  maillab::app::StudioLab lab(serve);
  std::ostringstream errors;
  const int opened = lab.open(errors);
  if (opened == 2) {
    std::fputs(errors.str().c_str(), stderr);
    return 2;
  }
  options.live_mode = true;
  if (opened != 0) {
    std::fputs(errors.str().c_str(), stderr);
    options.live_error = errors.str();
  } else {
    lab.set_hold_new(live_hold);
    lab.start();
    std::cout << "maillab: ready" << std::endl;
    options.live = &lab;
    options.live_feed = &lab.feed();
    options.live_title = lab.title();
    options.live_listening = lab.listening();
  }
  const int status = maillab::ui::run_studio(options);
  lab.stop(10.0);
  return status;
}
