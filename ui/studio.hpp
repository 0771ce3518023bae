// maillab-studio: what the teacher projects.  The app owns a window, a loaded
// lesson (its trace) and the view state; the panels (view_*.cpp) draw from
// those and change only the view state.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "ui/model/i18n.hpp"
#include "ui/model/lesson.hpp"

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
};

// Returns the process exit status (0 ok, 1 runtime failure, 2 bad scenario).
int run_studio(const StudioOptions& options);

}  // namespace maillab::ui
