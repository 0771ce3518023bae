// Side panels at the playhead: the DNS answers, every MTA's queue with its
// retry times, every mailbox, and each message's route so far.
#include <string>

#include <imgui.h>

#include "ui/panels.hpp"

namespace maillab::ui {

void draw_side_panels(Frame& frame) {
  auto& view = frame.view;
  const auto& snap = frame.snapshot;
  const auto& trace = frame.lesson.trace;
  const auto label = [&](Text text) { return std::string(tr(view.lang, text)); };
  if (!ImGui::BeginTabBar("side")) return;

  if (ImGui::BeginTabItem(label(Text::panel_lessons).c_str())) {
    // What the teacher reads aloud before pressing Play.
    ImGui::TextUnformatted(frame.lesson.title.c_str());
    ImGui::Separator();
    ImGui::TextWrapped("%s", frame.lesson.description.c_str());
    ImGui::EndTabItem();
  }
  if (ImGui::BeginTabItem(label(Text::panel_message).c_str())) {
    draw_message(frame);
    ImGui::EndTabItem();
  }
  if (ImGui::BeginTabItem(label(Text::panel_dns).c_str())) {
    ImGui::TextDisabled("%s", label(Text::dns_answers).c_str());
    for (const auto index : snap.dns_events) {
      const auto& event = trace.events[index];
      ImGui::PushStyleColor(ImGuiCol_Text, line_colour(event.dir, view.presenter));
      const auto text = "[" + format_time(event.t) + "] " + event.src + " -> " + event.dst + "  " + event.text +
                        "##dns" + std::to_string(index);
      if (ImGui::Selectable(text.c_str(), view.selected_event == index)) select_event(view, trace, index);
      ImGui::PopStyleColor();
    }
    ImGui::EndTabItem();
  }
  if (ImGui::BeginTabItem(label(Text::panel_queues).c_str())) {
    if (snap.queues.empty()) ImGui::TextDisabled("%s", label(Text::queue_empty).c_str());
    for (const auto& [host, queue] : snap.queues) {
      ImGui::Text("%s", host.c_str());
      for (const auto& queued : queue) {
        ImGui::BulletText("%s  %s %s  %s", queued.msg.c_str(), label(Text::queued_retry_at).c_str(),
                          queued.next_try_s >= 0 ? format_time(queued.next_try_s).c_str() : "?", queued.reason.c_str());
      }
    }
    ImGui::EndTabItem();
  }
  if (ImGui::BeginTabItem(label(Text::panel_mailboxes).c_str())) {
    for (const auto& [user, box] : snap.mailboxes) {
      ImGui::Text("%s (%zu)", user.c_str(), box.size());
      if (box.empty()) ImGui::TextDisabled("  %s", label(Text::mailbox_empty).c_str());
      for (const auto& msg : box) {
        ImGui::PushStyleColor(ImGuiCol_Text, message_colour(trace.message_index(msg)));
        if (ImGui::Selectable(("  " + msg + "##box" + user).c_str(), view.selected_message == msg)) {
          view.selected_message = msg;
        }
        ImGui::PopStyleColor();
      }
    }
    ImGui::EndTabItem();
  }
  if (ImGui::BeginTabItem(label(Text::panel_routes).c_str())) {
    for (const auto& [msg, fate] : snap.messages) {
      const Text state_text = fate.delivered ? Text::delivered
                              : fate.bounced ? Text::bounced
                              : fate.queued  ? Text::in_queue
                                             : Text::in_flight;
      ImGui::PushStyleColor(ImGuiCol_Text, message_colour(trace.message_index(msg)));
      const bool open = ImGui::TreeNode(msg.c_str(), "%s - %s", msg.c_str(), label(state_text).c_str());
      ImGui::PopStyleColor();
      if (open) {
        for (const auto& step : fate.route) ImGui::BulletText("[%s] %s", format_time(step.t).c_str(), step.what.c_str());
        ImGui::TreePop();
      }
    }
    ImGui::EndTabItem();
  }
  ImGui::EndTabBar();
}

}  // namespace maillab::ui
