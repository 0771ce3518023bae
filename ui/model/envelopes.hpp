// The envelopes on the topology at the playhead (issue 6: "each message an
// envelope that moves along its hops").  There is one envelope per open
// connection.  It travels from the sender of the connection's newest line
// to that line's receiver, and a line takes envelope_travel_s to cross.
//
// Envelopes that would cover each other are drawn as one glyph that says
// how many it holds.  Those are the envelopes with the same sender and
// receiver whose progress falls in the same 1/places_per_link of the link.
// With 1,000 in flight, one envelope per connection is 1,000 overlapping
// shapes that nobody can count; the glyphs show every one of them.  The
// selected message's envelopes are never merged into another glyph, so it
// can always be followed.
#pragma once

#include <cstddef>
#include <string_view>
#include <vector>

#include "ui/model/snapshot.hpp"
#include "ui/model/trace.hpp"

namespace maillab::ui {

inline constexpr double envelope_travel_s = 0.05;

// How far along its link an envelope is: 0 at the sender, 1 at the receiver.
// It starts a quarter of the way along, so a new line is visible at once.
double envelope_progress(double now_s, double line_t_s);

struct EnvelopeGlyph {
  std::size_t link = 0;   // index in Snapshot::open_links of its oldest envelope: the colour and the label
  std::size_t count = 1;  // envelopes it stands for
  std::string_view from;  // sender of the newest line
  std::string_view to;
  double progress = 0;
  bool selected = false;  // it carries the selected message
};

// Every open link with a known newest line is in exactly one glyph.  Glyphs
// come oldest first, as open_links does.
std::vector<EnvelopeGlyph> envelope_glyphs(const Snapshot& snapshot, const Trace& trace, double now_s,
                                           std::string_view selected_message, int places_per_link = 8);

// A crowded topology (hundreds of hosts, no labels) stacks glyphs by where
// they land on screen as well: glyphs of different links whose places fall
// in the same cell (about an envelope's size) would cover each other, so the
// first of them (the oldest) is drawn counting them all and the others are
// not drawn.  Lessons never stack (the studio calls this only when crowded).
struct ScreenPoint {
  float x = 0;
  float y = 0;
};

// For each glyph, the count to draw on it: 0 for a glyph stacked into an
// earlier one.  The counts add up to the glyphs' counts (every envelope is
// counted once); the selected message's glyphs neither join nor take a stack.
std::vector<std::size_t> stack_by_cell(const std::vector<EnvelopeGlyph>& glyphs, const std::vector<ScreenPoint>& at,
                                       float cell_w, float cell_h);

}  // namespace maillab::ui
