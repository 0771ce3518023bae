// The lessons panel's file browser ("open any TOML file", issue 6).
//
// Theory of operation.  The browser shows one folder at a time: its
// sub-folders first, then its scenario files (*.toml), each group sorted by
// name, hidden entries (a leading dot) left out.  Listing reads the file
// system once, when the folder changes, never per frame.  Going up moves to
// the parent folder; at the root there is nothing above.  A folder that
// cannot be read is still a place to be (the panel says so and offers Up).
// Choosing a file hands its path to load_lesson(), whose errors keep their
// FILE:LINE:COL.
#pragma once

#include <string>
#include <vector>

namespace maillab::ui {

struct FileEntry {
  std::string name;  // as shown: the file or folder name
  std::string path;  // absolute
  bool directory = false;
};

struct FileBrowser {
  std::string directory;  // absolute and normal (no "." or ".." parts)
  std::vector<FileEntry> entries;
  std::string error;      // non-empty when the folder could not be listed
};

// Lists `directory` (made absolute and normal).
FileBrowser browse(const std::string& directory);
// The parent folder, listed; the same folder at the root.
FileBrowser browse_parent(const FileBrowser& browser);
[[nodiscard]] bool at_root(const FileBrowser& browser);
// Where the browser opens: the current lesson's folder when it exists, else
// the built-in lessons' folder, else the working directory.
std::string browser_start(const std::string& lesson_path, const std::string& scenarios_dir);

}  // namespace maillab::ui
