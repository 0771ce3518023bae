// Sequence diagram: one lifeline per host, one arrow per protocol line or DNS
// query, in step with the transcript: clicking an arrow selects the line
// everywhere.
#include <algorithm>
#include <string>
#include <vector>

#include <imgui.h>

#include "ui/panels.hpp"

namespace maillab::ui {

void draw_sequence(Frame& frame) {
  const auto& lesson = frame.lesson;
  auto& view = frame.view;
  const auto& trace = lesson.trace;
  const auto& hosts = frame.snapshot.hosts;
  if (hosts.empty()) return;

  const float font = ImGui::GetFontSize();
  const float width = ImGui::GetContentRegionAvail().x;
  const float column = width / static_cast<float>(hosts.size());

  // Lifeline heads.
  const ImVec2 head = ImGui::GetCursorScreenPos();
  auto* draw = ImGui::GetWindowDrawList();
  // Heads that would overlap the previous one are left out (hundreds of hosts
  // in a bench world); the arrows still land on their lifelines.
  float free_from = head.x;
  for (std::size_t i = 0; i < hosts.size(); ++i) {
    const float x = head.x + column * (static_cast<float>(i) + 0.5f);
    const auto& name = hosts[i].name;
    const float text_width = ImGui::CalcTextSize(name.c_str()).x;
    if (x - text_width / 2 < free_from) continue;
    draw->AddText(ImVec2(x - text_width / 2, head.y), IM_COL32(255, 255, 255, 255), name.c_str());
    free_from = x + text_width / 2 + font * 0.5f;
  }
  ImGui::Dummy(ImVec2(width, font * 1.4f));

  const auto visible = static_cast<int>(std::lower_bound(lesson.lines.begin(), lesson.lines.end(), view.cursor) -
                                        lesson.lines.begin());
  const float row_height = font * 1.5f;
  ImGui::BeginChild("sequence-rows");
  draw = ImGui::GetWindowDrawList();
  // Lifelines go under the arrows (channel 0), drawn after the rows so that a
  // crowded world draws only those the visible arrows land on: hundreds of
  // full-height lines are most of what llvmpipe shades in this panel.
  const bool crowded = column < font;
  std::vector<bool> landed(crowded ? hosts.size() : 0, false);
  const auto index_of = [&](const std::string& name) {
    return static_cast<std::size_t>(std::find_if(hosts.begin(), hosts.end(), [&](const HostView& h) { return h.name == name; }) -
                                    hosts.begin());
  };
  const float left = ImGui::GetCursorScreenPos().x;
  draw->ChannelsSplit(2);
  draw->ChannelsSetCurrent(1);
  ImGuiListClipper clipper;
  clipper.Begin(visible, row_height);
  while (clipper.Step()) {
    for (int row = clipper.DisplayStart; row < clipper.DisplayEnd; ++row) {
      const auto index = lesson.lines[static_cast<std::size_t>(row)];
      const auto& event = trace.events[index];
      const ImVec2 p = ImGui::GetCursorScreenPos();
      const auto src = index_of(event.src);
      const auto dst = index_of(event.dst);
      const float x1 = p.x + column * (static_cast<float>(src) + 0.5f);
      const float x2 = p.x + column * (static_cast<float>(dst) + 0.5f);
      if (crowded) {
        if (src < landed.size()) landed[src] = true;
        if (dst < landed.size()) landed[dst] = true;
      }
      const float y = p.y + row_height * 0.75f;
      const auto colour = line_colour(event.dir, view.presenter);
      const bool selected = view.selected_event == index;
      draw->AddLine(ImVec2(x1, y), ImVec2(x2, y), colour, selected ? 3.0f : 1.5f);
      const float tip = x2 > x1 ? -font * 0.5f : font * 0.5f;
      draw->AddTriangleFilled(ImVec2(x2, y), ImVec2(x2 + tip, y - font * 0.3f), ImVec2(x2 + tip, y + font * 0.3f), colour);
      std::string text = event.text.size() > 60 ? event.text.substr(0, 57) + "..." : event.text;
      draw->AddText(ImVec2(std::min(x1, x2) + font * 0.3f, p.y), selected ? IM_COL32(255, 255, 0, 255) : colour,
                    text.c_str());
      ImGui::PushID(static_cast<int>(index));
      if (ImGui::InvisibleButton("arrow", ImVec2(std::max(width, 1.0f), row_height))) {
        select_event(view, trace, index);
      }
      ImGui::PopID();
    }
  }
  {
    // One line per host down the visible part, not one per row.
    draw->ChannelsSetCurrent(0);
    const ImVec2 clip_min = ImGui::GetWindowPos();
    const float clip_bottom = clip_min.y + ImGui::GetWindowHeight();
    for (std::size_t i = 0; i < hosts.size(); ++i) {
      if (crowded && !landed[i]) continue;
      const float x = left + column * (static_cast<float>(i) + 0.5f);
      draw->AddLine(ImVec2(x, clip_min.y), ImVec2(x, clip_bottom), IM_COL32(90, 90, 90, 255));
    }
    draw->ChannelsMerge();
  }
  // Follow the playhead whenever it moves (playing, stepping, seeking).
  static std::size_t followed_cursor = static_cast<std::size_t>(-1);
  if (view.cursor != followed_cursor || ImGui::GetFrameCount() < 3) {
    ImGui::SetScrollHereY(1.0f);
    followed_cursor = view.cursor;
  }
  ImGui::EndChild();
}

}  // namespace maillab::ui
