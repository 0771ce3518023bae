#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <unistd.h>

#include "ui/model/file_browser.hpp"
#include "ui/model/lesson.hpp"

using namespace maillab::ui;
namespace fs = std::filesystem;

namespace {

// A fresh folder under the temp dir, removed at the end of the test.
struct TempTree {
  fs::path root;
  TempTree() {
    root = fs::temp_directory_path() / ("maillab-browser-" + std::to_string(::getpid()));
    fs::remove_all(root);
    fs::create_directories(root / "lessons" / "deeper");
    fs::create_directories(root / "alpha");
    fs::create_directories(root / ".hidden");
    write(root / "b.toml", "title = \"b\"\n");
    write(root / "A.TOML", "title = \"a\"\n");
    write(root / "notes.txt", "not a scenario\n");
    write(root / ".secret.toml", "title = \"hidden\"\n");
  }
  ~TempTree() { fs::remove_all(root); }
  static void write(const fs::path& path, const std::string& text) { std::ofstream(path) << text; }
};

}  // namespace

TEST_CASE("file browser: folders first, then .toml files, each sorted; other and hidden files left out") {
  TempTree tree;
  const auto browser = browse(tree.root.string());
  CHECK(browser.error.empty());
  CHECK(browser.directory == tree.root.string());
  REQUIRE(browser.entries.size() == 4);
  CHECK(browser.entries[0].name == "alpha");
  CHECK(browser.entries[0].directory);
  CHECK(browser.entries[1].name == "lessons");
  CHECK(browser.entries[1].directory);
  CHECK(browser.entries[2].name == "A.TOML");
  CHECK_FALSE(browser.entries[2].directory);
  CHECK(browser.entries[3].name == "b.toml");
  CHECK(browser.entries[3].path == (tree.root / "b.toml").string());
}

TEST_CASE("file browser: going into a folder and up again, paths stay normal") {
  TempTree tree;
  auto browser = browse((tree.root / "lessons" / ".." / "lessons" / "deeper" / "").string());
  CHECK(browser.directory == (tree.root / "lessons" / "deeper").string());
  CHECK(browser.entries.empty());
  CHECK(browser.error.empty());
  browser = browse_parent(browser);
  CHECK(browser.directory == (tree.root / "lessons").string());
  REQUIRE(browser.entries.size() == 1);
  CHECK(browser.entries[0].name == "deeper");
  browser = browse_parent(browse_parent(browser));
  CHECK(browser.directory == tree.root.parent_path().string());
}

TEST_CASE("file browser: the root has no parent, and going up there stays at the root") {
  auto browser = browse("/");
  CHECK(at_root(browser));
  CHECK(browse_parent(browser).directory == "/");
  CHECK_FALSE(at_root(browse("/tmp")));
}

TEST_CASE("file browser: a folder that cannot be listed says why and lists nothing") {
  TempTree tree;
  const auto browser = browse((tree.root / "no-such-folder").string());
  CHECK_FALSE(browser.error.empty());
  CHECK(browser.entries.empty());
  CHECK(browse_parent(browser).directory == tree.root.string());
}

TEST_CASE("file browser: it opens in the lesson's folder, else the lessons' folder") {
  TempTree tree;
  CHECK(browser_start((tree.root / "lessons" / "x.toml").string(), "/") == (tree.root / "lessons").string());
  CHECK(browser_start((tree.root / "gone" / "x.toml").string(), tree.root.string()) == tree.root.string());
  CHECK(browser_start("", (tree.root / "alpha").string()) == (tree.root / "alpha").string());
}

TEST_CASE("file browser: a chosen file with a mistake loads as FILE:LINE:COL errors") {
  TempTree tree;
  TempTree::write(tree.root / "broken.toml", "title = \"broken\"\ndescription = \"d\"\n[[domain]]\nname = 42\n");
  const auto browser = browse(tree.root.string());
  std::string chosen;
  for (const auto& entry : browser.entries) {
    if (entry.name == "broken.toml") chosen = entry.path;
  }
  REQUIRE_FALSE(chosen.empty());
  const auto lesson = load_lesson(chosen, Lang::en);
  REQUIRE_FALSE(lesson.errors.empty());
  CHECK(lesson.errors.front() == chosen + ":4:8: 'name' must be a string");
}
