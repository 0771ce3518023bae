// Side panels at the playhead: the DNS answers, every MTA's queue with its
// retry times, every mailbox, and each message's route so far.
#include <iterator>
#include <string>

#include <imgui.h>

#include "ui/panels.hpp"

namespace maillab::ui {

void draw_lesson_tab(Frame& frame) {
  // What the teacher reads aloud before pressing Play.
  ImGui::TextUnformatted(frame.lesson.title.c_str());
  ImGui::Separator();
  ImGui::TextWrapped("%s", frame.lesson.description.c_str());
}

void draw_dns(Frame& frame) {
  auto& view = frame.view;
  const auto& snap = frame.snapshot;
  const auto& trace = frame.lesson.trace;
  const auto label = [&](Text text) { return std::string(tr(view.lang, text)); };
  {
    ImGui::TextDisabled("%s", label(Text::dns_answers).c_str());
    ImGui::BeginChild("dns-rows");
    ImGuiListClipper clipper;
    clipper.Begin(static_cast<int>(snap.dns_events.size()));
    while (clipper.Step()) {
      for (int row = clipper.DisplayStart; row < clipper.DisplayEnd; ++row) {
        const auto index = snap.dns_events[static_cast<std::size_t>(row)];
        const auto& event = trace.events[index];
        ImGui::PushStyleColor(ImGuiCol_Text, line_colour(event.dir, view.presenter));
        const auto text = "[" + format_time(event.t) + "] " + event.src + " -> " + event.dst + "  " + event.text +
                          "##dns" + std::to_string(index);
        if (ImGui::Selectable(text.c_str(), view.selected_event == index)) select_event(view, trace, index);
        ImGui::PopStyleColor();
      }
    }
    ImGui::EndChild();
  }
}

void draw_queues(Frame& frame) {
  auto& view = frame.view;
  const auto& snap = frame.snapshot;
  const auto label = [&](Text text) { return std::string(tr(view.lang, text)); };
  {
    if (snap.queues.empty()) ImGui::TextDisabled("%s", label(Text::queue_empty).c_str());
    for (const auto& [host, queue] : snap.queues) {
      ImGui::Text("%s", host.c_str());
      for (const auto& queued : queue) {
        ImGui::BulletText("%s  %s %s  %s", queued.msg.c_str(), label(Text::queued_retry_at).c_str(),
                          queued.next_try_s >= 0 ? format_time(queued.next_try_s).c_str() : "?", queued.reason.c_str());
      }
    }
  }
}

void draw_mailboxes(Frame& frame) {
  auto& view = frame.view;
  const auto& snap = frame.snapshot;
  const auto& trace = frame.lesson.trace;
  const auto label = [&](Text text) { return std::string(tr(view.lang, text)); };
  {
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
  }
}

void draw_routes(Frame& frame) {
  auto& view = frame.view;
  const auto& snap = frame.snapshot;
  const auto& trace = frame.lesson.trace;
  const auto label = [&](Text text) { return std::string(tr(view.lang, text)); };
  {
    // The selected message's route in full, then every message (one row each,
    // clipped: a bench trace has thousands); clicking a row selects it.
    if (const auto selected = snap.messages.find(view.selected_message); selected != snap.messages.end()) {
      ImGui::TextColored(ImGui::ColorConvertU32ToFloat4(message_colour(trace.message_index(selected->first))), "%s",
                         selected->first.c_str());
      for (const auto& step : selected->second.route) {
        ImGui::BulletText("[%s] %s", format_time(step.t).c_str(), step.what.c_str());
      }
      ImGui::Separator();
    }
    ImGui::BeginChild("route-rows");
    ImGuiListClipper clipper;
    clipper.Begin(static_cast<int>(snap.messages.size()));
    auto it = snap.messages.begin();
    int at = 0;
    while (clipper.Step()) {
      std::advance(it, clipper.DisplayStart - at);
      at = clipper.DisplayStart;
      for (int row = clipper.DisplayStart; row < clipper.DisplayEnd; ++row, ++it, ++at) {
        const auto& [msg, fate] = *it;
        const Text state_text = fate.delivered ? Text::delivered
                                : fate.bounced ? Text::bounced
                                : fate.queued  ? Text::in_queue
                                               : Text::in_flight;
        ImGui::PushStyleColor(ImGuiCol_Text, message_colour(trace.message_index(msg)));
        const auto text = msg + " - " + label(state_text) + " (" + std::to_string(fate.route.size()) + ")##route";
        if (ImGui::Selectable(text.c_str(), view.selected_message == msg)) view.selected_message = msg;
        ImGui::PopStyleColor();
      }
    }
    ImGui::EndChild();
  }
}

void draw_side_panels(Frame& frame) {
  auto& view = frame.view;
  if (!ImGui::BeginTabBar("side")) return;
  struct Tab {
    Text title;
    SidePanel panel;
    void (*draw)(Frame&);
  };
  static constexpr Tab tabs[] = {{Text::panel_lessons, SidePanel::lesson, draw_lesson_tab},
                                 {Text::panel_message, SidePanel::message, draw_message},
                                 {Text::panel_dns, SidePanel::dns, draw_dns},
                                 {Text::panel_queues, SidePanel::queues, draw_queues},
                                 {Text::panel_mailboxes, SidePanel::mailboxes, draw_mailboxes},
                                 {Text::panel_routes, SidePanel::routes, draw_routes}};
  for (const auto& tab : tabs) {
    // A panel asked for from outside (a screenshot, a click elsewhere) is brought forward once.
    const auto flags = view.show_side == tab.panel ? ImGuiTabItemFlags_SetSelected : ImGuiTabItemFlags_None;
    if (ImGui::BeginTabItem((std::string(tr(view.lang, tab.title)) + "###" + std::to_string(static_cast<int>(tab.panel))).c_str(),
                            nullptr, flags)) {
      tab.draw(frame);
      ImGui::EndTabItem();
    }
  }
  view.show_side = SidePanel::none;
  ImGui::EndTabBar();
}

}  // namespace maillab::ui
