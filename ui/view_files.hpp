// The file browser of the Lessons menu (ui/view_files.cpp) and the live
// panel (ui/view_live.cpp): panels that hold state of their own beyond the
// view state (a listed folder; the lab server's sessions).
#pragma once

#include <optional>
#include <string>

#include "ui/model/file_browser.hpp"
#include "ui/model/i18n.hpp"

namespace maillab::ui {

// Draws the folder and its entries; a click on a folder enters it, a click on
// a scenario file returns its path.
std::optional<std::string> draw_file_browser(FileBrowser& browser, Lang lang);

}  // namespace maillab::ui
