// The studio's panels, one file each (view_*.cpp).  Each draws from the lesson
// and the snapshot at the playhead and may change only the view state.
#pragma once

#include "ui/model/lesson.hpp"
#include "ui/model/snapshot.hpp"
#include "ui/model/view_state.hpp"

struct ImFont;
struct ImVec2;

namespace maillab::ui {

struct Frame {
  const Lesson& lesson;
  const Snapshot& snapshot;
  ViewState& view;
};

void draw_topology(Frame& frame);
void draw_transcript(Frame& frame);
void draw_timeline(Frame& frame);
void draw_sequence(Frame& frame);
void draw_message(Frame& frame);
void draw_side_panels(Frame& frame);  // the tabs below
void draw_lesson_tab(Frame& frame);
void draw_dns(Frame& frame);
void draw_queues(Frame& frame);
void draw_mailboxes(Frame& frame);
void draw_routes(Frame& frame);

// Shared look: one colour per message, client vs server line colours.
unsigned int message_colour(std::size_t message_index);
unsigned int line_colour(char dir, bool presenter);
std::string format_time(double seconds);  // "00:01:05.120", as the transcript prints it

// Envelope count badges are this much of the font's size; the studio loads
// those sizes into the atlas (text is drawn 1:1 from it, sampled nearest).
inline constexpr float badge_scale_labelled = 0.8f;
inline constexpr float badge_scale_crowded = 0.7f;
// The atlas's font of that size in whole pixels, or nullptr (the current font, scaled).
ImFont* font_sized(float pixels);

// The tiled panels draw no background of their own (SetNextWindowBgAlpha(0)):
// under llvmpipe a blended fill of the whole window is the dearest thing in a
// frame (about 10 ms of CPU at 1600x900).  The frame is cleared instead to the
// colour their background would have given (the style's WindowBg over the old
// clear colour), so they look the same.  Windows that float over others
// (popups, tooltips, dialogs) keep their backgrounds.
unsigned int backdrop_colour();

}  // namespace maillab::ui
