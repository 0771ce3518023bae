#include "ui/model/live.hpp"

#include <algorithm>

#include "sim/trace.hpp"

namespace maillab::ui {

void LiveFeed::add(const sim::TraceEvent& event) {
  // The same JSON Lines a file would hold, so a live event reads exactly as
  // a recorded one.
  auto parsed = parse_event(sim::Trace::json_line(event), 0);
  if (parsed) pending_.push_back(std::move(parsed).value());
}

std::size_t LiveFeed::drain_into(Lesson& lesson) {
  const std::size_t added = pending_.size();
  for (auto& event : pending_) {
    event.t = std::max(event.t, lesson.trace.end_time());
    if (event.kind == EventKind::connect) ++sessions_seen_;
    if (event.kind == EventKind::deliver) ++deliveries_seen_;
    if (event.kind == EventKind::line) {
      const auto& client = event.dir == 'C' ? event.src : event.dst;
      last_line_[client] = lesson.trace.events.size();
    }
    lesson.trace.append(std::move(event));
  }
  pending_.clear();
  index_lesson(lesson);
  return added;
}

const TraceEvent* LiveFeed::last_line(const Lesson& lesson, const std::string& client) const {
  const auto it = last_line_.find(client);
  if (it == last_line_.end() || it->second >= lesson.trace.events.size()) return nullptr;
  return &lesson.trace.events[it->second];
}

namespace {

void place_at_present(ViewState& view, const Trace& trace, double now_s) {
  view.playing = false;
  view.time = std::max(now_s, trace.end_time());
  view.cursor = trace.events.size();
  view.live_placed = view.time;
}

}  // namespace

void advance_live(ViewState& view, const Trace& trace, double wall_seconds, double now_s) {
  if (view.following && (view.time != view.live_placed || view.playing)) view.following = false;
  if (!view.following) {
    const bool was_playing = view.playing;
    advance(view, trace, wall_seconds);
    if (was_playing && !view.playing) view.following = true;  // caught up with the present
  }
  if (view.following) place_at_present(view, trace, now_s);
}

void follow_now(ViewState& view, const Trace& trace, double now_s) {
  view.following = true;
  place_at_present(view, trace, now_s);
}

}  // namespace maillab::ui
