// The live panel (`maillab-studio --live`): the lab server's real sessions,
// with Hold / Step / Release for live stepping, and Follow now.
#pragma once

#include <string>

#include "ui/model/lesson.hpp"
#include "ui/model/live.hpp"
#include "ui/model/view_state.hpp"

namespace maillab::ui {

struct LivePanel {
  LiveLab* lab = nullptr;      // nullptr when the server could not start
  const LiveFeed* feed = nullptr;
  std::string listening;       // "smtp 2525, submission 2587, ..."
  std::string error;           // why the server could not start (also on stderr)
};

void draw_live_panel(const LivePanel& live, const Lesson& lesson, ViewState& view);

}  // namespace maillab::ui
