// Live panel: what the lab server in this process is doing.  Each real
// session is one row (service, client, its last line); Hold keeps the
// server's replies to that client back, Step releases one line, Release lets
// the session run on (net/io/tcp_server.hpp does the holding).
#include "ui/view_live.hpp"

#include <string>

#include <imgui.h>

#include "ui/panels.hpp"

namespace maillab::ui {

void draw_live_panel(const LivePanel& live, const Lesson& lesson, ViewState& view) {
  const auto label = [&](Text text) { return std::string(tr(view.lang, text)); };
  if (!live.error.empty() || live.lab == nullptr) {
    ImGui::TextColored(ImVec4(1, 0.4f, 0.4f, 1), "%s:", label(Text::live_error).c_str());
    ImGui::TextColored(ImVec4(1, 0.4f, 0.4f, 1), "%s", live.error.c_str());
    return;
  }
  ImGui::TextDisabled("%s %s", label(Text::live_listening).c_str(), live.listening.c_str());
  if (live.feed != nullptr) {
    ImGui::TextDisabled("%s: %zu / %zu", label(Text::live_so_far).c_str(), live.feed->sessions_seen(),
                        live.feed->deliveries_seen());
  }
  if (!view.following) {
    ImGui::SameLine();
    if (ImGui::SmallButton(label(Text::live_follow).c_str())) follow_now(view, lesson.trace, live.lab->now_s());
  }
  bool hold_new = live.lab->hold_new();
  if (ImGui::Checkbox(label(Text::live_hold_new).c_str(), &hold_new)) live.lab->set_hold_new(hold_new);
  ImGui::Separator();
  const auto sessions = live.lab->sessions();
  if (sessions.empty()) {
    ImGui::TextDisabled("%s", label(Text::live_waiting).c_str());
    return;
  }
  ImGui::BeginChild("live-sessions");
  for (const auto& session : sessions) {
    ImGui::PushID(static_cast<int>(session.id));
    ImGui::Text("#%llu  %s  %s", static_cast<unsigned long long>(session.id), session.service.c_str(),
                session.client.c_str());
    ImGui::SameLine();
    if (!session.held) {
      if (ImGui::SmallButton(label(Text::live_hold).c_str())) live.lab->hold(session.id, true);
    } else {
      ImGui::BeginDisabled(session.held_lines == 0);
      if (ImGui::SmallButton(label(Text::live_step).c_str())) live.lab->step(session.id);
      ImGui::EndDisabled();
      ImGui::SameLine();
      if (ImGui::SmallButton(label(Text::live_release).c_str())) live.lab->hold(session.id, false);
    }
    if (live.feed != nullptr) {
      if (const auto* last = live.feed->last_line(lesson, session.client)) {
        ImGui::PushStyleColor(ImGuiCol_Text, line_colour(last->dir, view.presenter));
        ImGui::Text("   %c: %s", last->dir, last->text.c_str());
        ImGui::PopStyleColor();
      }
    }
    if (session.held) {
      ImGui::TextColored(ImVec4(1, 0.8f, 0.3f, 1), "   %zu %s", session.held_lines,
                         label(Text::live_held_replies).c_str());
      if (ImGui::IsItemHovered()) ImGui::SetTooltip("%s", label(Text::live_held_hint).c_str());
    }
    ImGui::PopID();
  }
  ImGui::EndChild();
}

}  // namespace maillab::ui
