// Transcript: the C:/S: lines up to the playhead, client and server in their
// own colours, TLS lines marked, a tooltip explaining each line with its RFC
// section.  ImGuiListClipper keeps the cost per frame to the visible rows.
#include <algorithm>
#include <cctype>
#include <string>

#include <imgui.h>

#include "ui/model/explain.hpp"
#include "ui/panels.hpp"

namespace maillab::ui {

void draw_transcript(Frame& frame) {
  const auto& lesson = frame.lesson;
  auto& view = frame.view;
  const auto& events = lesson.trace.events;

  static bool only_selected_message = false;  // a view filter, not world state
  ImGui::Checkbox(std::string(tr(view.lang, Text::filter_label)).append(": ")
                      .append(tr(view.lang, Text::message_label)).c_str(),
                  &only_selected_message);
  const std::vector<std::size_t>* rows = &lesson.lines;
  if (only_selected_message && !view.selected_message.empty()) {
    if (auto it = lesson.lines_by_message.find(view.selected_message); it != lesson.lines_by_message.end()) {
      rows = &it->second;
    }
  }
  // Rows whose event has happened: a prefix of the sorted index list.
  const auto visible = static_cast<int>(std::lower_bound(rows->begin(), rows->end(), view.cursor) - rows->begin());

  ImGui::BeginChild("transcript-rows", ImVec2(0, 0), false, ImGuiWindowFlags_HorizontalScrollbar);
  ImGuiListClipper clipper;
  clipper.Begin(visible);
  while (clipper.Step()) {
    for (int row = clipper.DisplayStart; row < clipper.DisplayEnd; ++row) {
      const auto index = (*rows)[static_cast<std::size_t>(row)];
      const auto& event = events[index];
      std::string label = "[" + format_time(event.t) + "] " + event.src + " -> " + event.dst + "  ";
      std::string proto = event.proto;
      std::transform(proto.begin(), proto.end(), proto.begin(), [](unsigned char c) { return std::toupper(c); });
      label += proto + "  ";
      if (event.tls) label += "[TLS] ";
      if (event.dir != 0) label += std::string(1, event.dir) + ": ";
      label += event.text;
      label += "##" + std::to_string(index);
      ImGui::PushStyleColor(ImGuiCol_Text, line_colour(event.dir, view.presenter));
      if (ImGui::Selectable(label.c_str(), view.selected_event == index)) select_event(view, lesson.trace, index);
      ImGui::PopStyleColor();
      if (ImGui::IsItemHovered()) {
        const auto explanation = explain_line(event.proto, event.dir, event.text, view.lang);
        if (!explanation.text.empty() || event.tls) {
          ImGui::BeginTooltip();
          ImGui::PushTextWrapPos(ImGui::GetFontSize() * 30.0f);
          if (!explanation.text.empty()) ImGui::TextUnformatted(explanation.text.c_str());
          if (!explanation.rfc.empty()) ImGui::TextDisabled("%s", explanation.rfc.c_str());
          if (event.tls) ImGui::TextDisabled("%s", std::string(tr(view.lang, Text::encrypted_line)).c_str());
          ImGui::PopTextWrapPos();
          ImGui::EndTooltip();
        }
      }
    }
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
