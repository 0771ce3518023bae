#include <cmath>
#include <cstdio>
#include <string>

#include <imgui.h>

#include "ui/panels.hpp"

namespace maillab::ui {

unsigned int message_colour(std::size_t message_index) {
  // Evenly spread hues; saturated enough for a projector.
  const float hue = std::fmod(static_cast<float>(message_index) * 0.618034f, 1.0f);
  float r = 0, g = 0, b = 0;
  ImGui::ColorConvertHSVtoRGB(hue, 0.75f, 0.95f, r, g, b);
  return ImGui::ColorConvertFloat4ToU32(ImVec4(r, g, b, 1.0f));
}

unsigned int line_colour(char dir, bool presenter) {
  if (dir == 'C') return presenter ? IM_COL32(120, 200, 255, 255) : IM_COL32(90, 170, 250, 255);
  if (dir == 'S') return presenter ? IM_COL32(140, 255, 140, 255) : IM_COL32(110, 220, 110, 255);
  return IM_COL32(230, 200, 90, 255);
}

unsigned int backdrop_colour() {
  const ImVec4 panel = ImGui::GetStyle().Colors[ImGuiCol_WindowBg];
  const ImVec4 under(0.08f, 0.08f, 0.1f, 1.0f);
  const auto mix = [&](float top, float bottom) { return top * panel.w + bottom * (1.0f - panel.w); };
  return ImGui::ColorConvertFloat4ToU32(ImVec4(mix(panel.x, under.x), mix(panel.y, under.y), mix(panel.z, under.z), 1.0f));
}

ImFont* font_sized(float pixels) {
  for (auto* font : ImGui::GetIO().Fonts->Fonts) {
    if (font->FontSize == std::round(pixels)) return font;
  }
  return nullptr;
}

std::string format_time(double seconds) {
  const auto ms = static_cast<long long>(std::llround(seconds * 1000.0));
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%02lld:%02lld:%02lld.%03lld", ms / 3600000, ms / 60000 % 60, ms / 1000 % 60,
                ms % 1000);
  return buffer;
}

}  // namespace maillab::ui
