// Timeline: play/pause, speed (0.1x to 1000x simulated time), step one line,
// step one hop, step back, and a scrubber to any moment.
#include <algorithm>
#include <cmath>
#include <string>

#include <imgui.h>

#include "ui/panels.hpp"

namespace maillab::ui {

void draw_timeline(Frame& frame) {
  auto& view = frame.view;
  const auto& trace = frame.lesson.trace;
  const auto label = [&](Text text) { return std::string(tr(view.lang, text)); };

  if (ImGui::Button((view.playing ? label(Text::pause) : label(Text::play)).c_str())) {
    if (!view.playing && view.cursor >= trace.events.size()) seek(view, trace, 0);
    view.playing = !view.playing;
  }
  ImGui::SameLine();
  if (ImGui::Button(label(Text::step_back).c_str())) step_back(view, trace);
  ImGui::SameLine();
  if (ImGui::Button(label(Text::step_line).c_str())) step_line(view, trace);
  ImGui::SameLine();
  if (ImGui::Button(label(Text::step_hop).c_str())) step_hop(view, trace);
  ImGui::SameLine();
  ImGui::SetNextItemWidth(ImGui::GetFontSize() * 12);
  float speed = static_cast<float>(view.speed);
  if (ImGui::SliderFloat(label(Text::speed).c_str(), &speed, static_cast<float>(speed_min),
                         static_cast<float>(speed_max), "%.1fx", ImGuiSliderFlags_Logarithmic)) {
    view.speed = speed;
  }
  ImGui::SameLine();
  // Live, the playhead follows the present, which runs ahead of the last event.
  const double end = std::max(trace.end_time(), view.time);
  ImGui::Text("%s %s / %s", label(Text::time_label).c_str(), format_time(view.time).c_str(),
              format_time(end).c_str());

  float t = static_cast<float>(view.time);
  ImGui::SetNextItemWidth(-1);
  if (ImGui::SliderFloat("##scrubber", &t, 0.0f, static_cast<float>(std::max(end, 0.001)), "")) {
    seek(view, trace, t);
  }
}

}  // namespace maillab::ui
