// maillab-studio: what the teacher projects.  The app owns a window, a loaded
// lesson (its trace) and the view state; the panels (view_*.cpp) draw from
// those and change only the view state.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "ui/model/i18n.hpp"
#include "ui/model/lesson.hpp"
#include "ui/model/live.hpp"

namespace maillab::ui {

struct StudioOptions {
  std::string scenario;                 // empty: the first built-in lesson
  std::string scenarios_dir;            // where the lesson picker looks
  Lang lang = Lang::en;
  bool presenter = false;
  std::optional<std::string> screenshot;  // write one frame as PNG and exit
  std::optional<double> at_s;             // playhead for the screenshot
  std::optional<std::string> select;      // Message-ID to select
  int width = 1600;
  int height = 900;
  // --bench-frames N: play N frames from the playhead at bench_speed, advancing
  // the playhead by exactly 1/60 s of wall time per frame (so runs compare),
  // and print the frame times (build + render + glFinish) instead of a PNG.
  int bench_frames = 0;
  // --panel NAME: the screenshot shows only that panel, filling the window;
  // "all": --screenshot names a directory that gets <panel>-<lang>.png for
  // every name in studio_panels().
  std::string panel;
  double bench_speed = 1.0;
  // --live: the lab server runs in this process (app/ owns it and polls its
  // io_context through `live` from the frame loop).  live_mode with a null
  // `live`: it could not start, and live_error says why in the window.
  bool live_mode = false;
  LiveLab* live = nullptr;
  LiveFeed* live_feed = nullptr;
  std::string live_title;      // the served scenario's title
  std::string live_listening;  // "smtp 2525, submission 2587, ..."
  std::string live_error;
  // --live-for: after this many wall seconds of live mode write the
  // --screenshot (if any), print a summary line and exit (0; 1 when the
  // server could not start).
  double live_for_s = 0;
};

// The panels --panel knows: topology, transcript, timeline, sequence, message,
// dns, queues, mailboxes, routes, lesson, files (the file browser of
// "Open scenario..."), presenter (the whole studio in
// presenter mode).
const std::vector<std::string>& studio_panels();

// Returns the process exit status (0 ok, 1 runtime failure, 2 bad scenario).
int run_studio(const StudioOptions& options);

}  // namespace maillab::ui
