#include "ui/model/view_state.hpp"

#include <algorithm>

namespace maillab::ui {

bool is_line(const TraceEvent& event) { return event.kind == EventKind::line || event.kind == EventKind::dns; }

bool is_hop_boundary(const TraceEvent& event) {
  switch (event.kind) {
    case EventKind::connect:
    case EventKind::dns:
    case EventKind::deliver:
    case EventKind::queue:
    case EventKind::bounce:
    case EventKind::fetch:
      return true;
    default:
      return false;
  }
}

void seek(ViewState& view, const Trace& trace, double t) {
  view.time = std::clamp(t, 0.0, trace.end_time());
  view.cursor = trace.index_at(view.time);
}

void advance(ViewState& view, const Trace& trace, double wall_seconds) {
  if (!view.playing) return;
  const double speed = std::clamp(view.speed, speed_min, speed_max);
  seek(view, trace, view.time + wall_seconds * speed);
  if (view.cursor >= trace.events.size()) view.playing = false;
}

void select_event(ViewState& view, const Trace& trace, std::size_t index) {
  if (index >= trace.events.size()) return;
  view.selected_event = index;
  const auto& event = trace.events[index];
  if (!event.msg.empty()) view.selected_message = event.msg;
}

namespace {

// The playhead stops just after event i, which becomes the selection.
void land_on(ViewState& view, const Trace& trace, std::size_t i) {
  view.cursor = i + 1;
  view.time = trace.events[i].t;
  view.playing = false;
  select_event(view, trace, i);
}

}  // namespace

void step_line(ViewState& view, const Trace& trace) {
  for (std::size_t i = view.cursor; i < trace.events.size(); ++i) {
    if (is_line(trace.events[i])) {
      land_on(view, trace, i);
      return;
    }
  }
  seek(view, trace, trace.end_time());
}

void step_back(ViewState& view, const Trace& trace) {
  // The selected line is cursor-1; go to the line before it.
  std::size_t i = std::min(view.cursor, trace.events.size());
  if (i > 0) --i;  // skip the current one
  while (i > 0) {
    --i;
    if (is_line(trace.events[i])) {
      land_on(view, trace, i);
      return;
    }
  }
  view.cursor = 0;
  view.time = 0;
  view.selected_event = static_cast<std::size_t>(-1);
  view.playing = false;
}

void step_hop(ViewState& view, const Trace& trace) {
  for (std::size_t i = view.cursor; i < trace.events.size(); ++i) {
    if (is_hop_boundary(trace.events[i])) {
      land_on(view, trace, i);
      return;
    }
  }
  seek(view, trace, trace.end_time());
}

}  // namespace maillab::ui
