#include "ui/model/file_browser.hpp"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <system_error>

namespace maillab::ui {
namespace fs = std::filesystem;

namespace {

bool is_scenario_file(const fs::path& path) {
  std::string extension = path.extension().string();
  std::transform(extension.begin(), extension.end(), extension.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return extension == ".toml";
}

fs::path normal_absolute(const std::string& directory) {
  std::error_code error;
  fs::path path = fs::absolute(directory.empty() ? fs::path(".") : fs::path(directory), error);
  if (error) path = fs::path(directory);
  path = path.lexically_normal();
  // "/a/b/" is "/a/b" (but "/" stays "/").
  if (path.has_relative_path() && path.filename().empty()) path = path.parent_path();
  return path;
}

}  // namespace

FileBrowser browse(const std::string& directory) {
  FileBrowser browser;
  const fs::path where = normal_absolute(directory);
  browser.directory = where.string();
  std::error_code error;
  fs::directory_iterator it(where, fs::directory_options::skip_permission_denied, error);
  if (error) {
    browser.error = error.message();
    return browser;
  }
  std::vector<FileEntry> folders;
  std::vector<FileEntry> files;
  for (; it != fs::directory_iterator(); it.increment(error)) {
    if (error) {
      browser.error = error.message();
      break;
    }
    const auto name = it->path().filename().string();
    if (name.empty() || name.front() == '.') continue;
    std::error_code kind_error;
    if (it->is_directory(kind_error)) {
      folders.push_back({name, it->path().string(), true});
    } else if (it->is_regular_file(kind_error) && is_scenario_file(it->path())) {
      files.push_back({name, it->path().string(), false});
    }
  }
  const auto by_name = [](const FileEntry& a, const FileEntry& b) { return a.name < b.name; };
  std::sort(folders.begin(), folders.end(), by_name);
  std::sort(files.begin(), files.end(), by_name);
  browser.entries = std::move(folders);
  browser.entries.insert(browser.entries.end(), std::make_move_iterator(files.begin()),
                         std::make_move_iterator(files.end()));
  return browser;
}

bool at_root(const FileBrowser& browser) {
  const fs::path path(browser.directory);
  return path == path.root_path() || !path.has_parent_path();
}

FileBrowser browse_parent(const FileBrowser& browser) {
  if (at_root(browser)) return browse(browser.directory);
  return browse(fs::path(browser.directory).parent_path().string());
}

std::string browser_start(const std::string& lesson_path, const std::string& scenarios_dir) {
  std::error_code error;
  if (!lesson_path.empty()) {
    const auto folder = normal_absolute(lesson_path).parent_path();
    if (fs::is_directory(folder, error)) return folder.string();
  }
  if (!scenarios_dir.empty() && fs::is_directory(scenarios_dir, error)) return normal_absolute(scenarios_dir).string();
  return normal_absolute(".").string();
}

}  // namespace maillab::ui
