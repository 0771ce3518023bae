// The file browser ("open any TOML file"): the folder, Up, then its folders
// and scenario files (ui/model/file_browser.hpp lists them once per folder).
#include "ui/view_files.hpp"

#include <string>

#include <imgui.h>

namespace maillab::ui {

std::optional<std::string> draw_file_browser(FileBrowser& browser, Lang lang) {
  const auto label = [&](Text text) { return std::string(tr(lang, text)); };
  std::optional<std::string> chosen;
  ImGui::BeginDisabled(at_root(browser));
  if (ImGui::Button(("^ " + label(Text::parent_directory)).c_str())) browser = browse_parent(browser);
  ImGui::EndDisabled();
  ImGui::SameLine();
  ImGui::TextUnformatted(browser.directory.c_str());
  ImGui::TextDisabled("%s", label(Text::toml_only).c_str());
  if (!browser.error.empty()) {
    ImGui::TextColored(ImVec4(1, 0.4f, 0.4f, 1), "%s: %s", label(Text::cannot_list).c_str(), browser.error.c_str());
  }
  ImGui::Separator();
  ImGui::BeginChild("files");
  std::optional<std::string> enter;
  for (const auto& entry : browser.entries) {
    if (entry.directory) {
      ImGui::PushStyleColor(ImGuiCol_Text, IM_COL32(230, 200, 90, 255));
      if (ImGui::Selectable(("[+] " + entry.name + "/").c_str())) enter = entry.path;
      ImGui::PopStyleColor();
    } else if (ImGui::Selectable(("    " + entry.name).c_str())) {
      chosen = entry.path;
    }
  }
  ImGui::EndChild();
  if (enter) browser = browse(*enter);
  return chosen;
}

}  // namespace maillab::ui
