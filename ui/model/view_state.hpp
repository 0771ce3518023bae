// The only state the studio owns: where the playhead is, what is selected,
// how things are shown.  Rewinding moves the playhead; nothing here mutates
// the world.  Playback rules are pure functions so they are unit-tested
// without a window.
#pragma once

#include <cstddef>
#include <string>

#include "ui/model/i18n.hpp"
#include "ui/model/trace.hpp"

namespace maillab::ui {

enum class SidePanel : unsigned char { none, lesson, message, dns, queues, mailboxes, routes };

struct ViewState {
  Lang lang = Lang::en;
  // Events [0, cursor) have happened; the playhead time is at least the last one's.
  std::size_t cursor = 0;
  double time = 0;
  bool playing = false;
  double speed = 1.0;  // simulated seconds per wall second, 0.1 .. 1000
  std::size_t selected_event = static_cast<std::size_t>(-1);
  std::string selected_message;  // Message-ID, empty for all
  std::string connection_filter; // "src>dst/proto", empty for all
  bool presenter = false;
  // Live mode (ui/model/live.hpp): the playhead follows the present; live_placed
  // is where it was put, so a move by the teacher is seen.
  bool following = false;
  double live_placed = -1;
  SidePanel show_side = SidePanel::none;  // a side tab to bring forward on the next frame
};

inline constexpr double speed_min = 0.1;
inline constexpr double speed_max = 1000.0;

// Moves the playhead to simulated time t (clamped to the trace).
void seek(ViewState& view, const Trace& trace, double t);
// Plays for wall_seconds at view.speed; stops at the end of the trace.
void advance(ViewState& view, const Trace& trace, double wall_seconds);
// One protocol line (or DNS line) forward / back; selects it.
void step_line(ViewState& view, const Trace& trace);
void step_back(ViewState& view, const Trace& trace);
// Forward to the next hop boundary: a connection opening, a DNS answer, a
// delivery, a queue, a bounce or a fetch.
void step_hop(ViewState& view, const Trace& trace);
// Selecting a line in any panel selects it in all (transcript, sequence, topology).
void select_event(ViewState& view, const Trace& trace, std::size_t index);

bool is_line(const TraceEvent& event);
bool is_hop_boundary(const TraceEvent& event);

}  // namespace maillab::ui
