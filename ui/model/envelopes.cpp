#include "ui/model/envelopes.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <tuple>
#include <unordered_map>

namespace maillab::ui {

double envelope_progress(double now_s, double line_t_s) {
  return std::clamp((now_s - line_t_s) / envelope_travel_s + 0.25, 0.0, 1.0);
}

std::vector<EnvelopeGlyph> envelope_glyphs(const Snapshot& snapshot, const Trace& trace, double now_s,
                                           std::string_view selected_message, int places_per_link) {
  const int places = std::max(places_per_link, 1);
  struct Placed {
    std::string_view from;
    std::string_view to;
    int place;
    bool selected;
    std::size_t link;
    double progress;
  };
  std::vector<Placed> placed;
  placed.reserve(snapshot.open_links.size());
  for (std::size_t i = 0; i < snapshot.open_links.size(); ++i) {
    const auto& link = snapshot.open_links[i];
    if (link.last_event >= trace.events.size()) continue;
    const auto& line = trace.events[link.last_event];
    const double progress = envelope_progress(now_s, line.t);
    const int place = std::min(static_cast<int>(std::floor(progress * places)), places - 1);
    const bool selected = !selected_message.empty() && link.msg == selected_message;
    placed.push_back(Placed{line.src, line.dst, place, selected, i, progress});
  }
  const auto key = [](const Placed& p) { return std::tie(p.from, p.to, p.place, p.selected, p.link); };
  std::sort(placed.begin(), placed.end(), [&](const Placed& a, const Placed& b) { return key(a) < key(b); });

  std::vector<EnvelopeGlyph> glyphs;
  for (std::size_t i = 0; i < placed.size();) {
    const auto& first = placed[i];
    std::size_t j = i + 1;
    while (j < placed.size() && placed[j].from == first.from && placed[j].to == first.to &&
           placed[j].place == first.place && placed[j].selected == first.selected) {
      ++j;
    }
    glyphs.push_back(EnvelopeGlyph{first.link, j - i, first.from, first.to, first.progress, first.selected});
    i = j;
  }
  std::sort(glyphs.begin(), glyphs.end(), [](const EnvelopeGlyph& a, const EnvelopeGlyph& b) { return a.link < b.link; });
  return glyphs;
}

std::vector<std::size_t> stack_by_cell(const std::vector<EnvelopeGlyph>& glyphs, const std::vector<ScreenPoint>& at,
                                       float cell_w, float cell_h) {
  std::vector<std::size_t> counts(glyphs.size(), 0);
  std::unordered_map<std::uint64_t, std::size_t> first_in_cell;
  first_in_cell.reserve(glyphs.size());
  for (std::size_t i = 0; i < glyphs.size(); ++i) {
    const auto& glyph = glyphs[i];
    if (glyph.selected || i >= at.size() || !(cell_w > 0) || !(cell_h > 0)) {
      counts[i] = glyph.count;
      continue;
    }
    const auto column = static_cast<std::int32_t>(std::floor(at[i].x / cell_w));
    const auto row = static_cast<std::int32_t>(std::floor(at[i].y / cell_h));
    const auto cell = (static_cast<std::uint64_t>(static_cast<std::uint32_t>(column)) << 32) |
                      static_cast<std::uint32_t>(row);
    const auto [it, first] = first_in_cell.try_emplace(cell, i);
    counts[it->second] += glyph.count;
    (void)first;
  }
  return counts;
}

}  // namespace maillab::ui
