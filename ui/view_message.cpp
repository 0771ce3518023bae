// Message inspector: the envelope (MAIL FROM / RCPT TO) beside the headers
// (From / To / Cc), the Received: chain growing hop by hop, the MIME tree and
// the raw source of the selected message, as known at the playhead.
#include <algorithm>
#include <string>
#include <vector>

#include <imgui.h>

#include "ui/model/message_view.hpp"
#include "ui/panels.hpp"

namespace maillab::ui {

void draw_message(Frame& frame) {
  auto& view = frame.view;
  const auto label = [&](Text text) { return std::string(tr(view.lang, text)); };
  if (view.selected_message.empty()) {
    ImGui::TextDisabled("%s", label(Text::no_selection).c_str());
    return;
  }
  // Rebuilt (GMime parse included) only when the selection or what is known
  // about the message by the playhead changes, not every frame.
  static MessageView message;
  static std::string cached_msg;
  static std::size_t cached_known = static_cast<std::size_t>(-1);
  static const Lesson* cached_lesson = nullptr;
  static const std::vector<std::size_t> none;
  const auto events = frame.lesson.events_by_message.find(view.selected_message);
  const auto& of_msg = events == frame.lesson.events_by_message.end() ? none : events->second;
  const auto known = static_cast<std::size_t>(std::lower_bound(of_msg.begin(), of_msg.end(), view.cursor) - of_msg.begin());
  if (cached_lesson != &frame.lesson || cached_msg != view.selected_message || cached_known != known ||
      frame.lesson.indexed != frame.lesson.trace.events.size()) {
    message = message_view(frame.lesson.trace, view.selected_message, view.cursor, of_msg);
    cached_lesson = &frame.lesson;
    cached_msg = view.selected_message;
    cached_known = known;
  }
  ImGui::TextColored(ImGui::ColorConvertU32ToFloat4(message_colour(frame.lesson.trace.message_index(message.msg))), "%s",
                     message.msg.c_str());

  if (ImGui::BeginTable("envelope-vs-headers", 2, ImGuiTableFlags_Borders | ImGuiTableFlags_Resizable)) {
    ImGui::TableSetupColumn(label(Text::envelope).c_str());
    ImGui::TableSetupColumn(label(Text::headers).c_str());
    ImGui::TableHeadersRow();
    ImGui::TableNextRow();
    ImGui::TableSetColumnIndex(0);
    ImGui::TextWrapped("%s: %s", label(Text::mail_from).c_str(), message.mail_from.c_str());
    for (const auto& rcpt : message.rcpt_to) ImGui::TextWrapped("%s: %s", label(Text::rcpt_to).c_str(), rcpt.c_str());
    ImGui::TableSetColumnIndex(1);
    for (const auto& [name, value] : message.headers) {
      if (name == "From" || name == "To" || name == "Cc" || name == "Subject" || name == "Date" || name == "Message-ID") {
        ImGui::TextWrapped("%s: %s", name.c_str(), value.c_str());
      }
    }
    ImGui::EndTable();
  }
  if (ImGui::CollapsingHeader(label(Text::received_chain).c_str(), ImGuiTreeNodeFlags_DefaultOpen)) {
    // Newest first in the message; shown oldest first so the chain grows downwards.
    for (auto it = message.received.rbegin(); it != message.received.rend(); ++it) ImGui::BulletText("%s", it->c_str());
  }
  if (ImGui::CollapsingHeader(label(Text::mime_tree).c_str(), ImGuiTreeNodeFlags_DefaultOpen)) {
    for (const auto& node : message.mime) {
      ImGui::Indent(static_cast<float>(node.depth) * ImGui::GetFontSize());
      ImGui::Text("%s%s%s (%zu B)", node.content_type.c_str(), node.filename.empty() ? "" : "  ",
                  node.filename.c_str(), node.size);
      ImGui::Unindent(static_cast<float>(node.depth) * ImGui::GetFontSize());
    }
  }
  if (ImGui::CollapsingHeader(label(Text::raw_source).c_str())) {
    ImGui::TextUnformatted(message.raw.c_str(), message.raw.c_str() + message.raw.size());
  }
}

}  // namespace maillab::ui
