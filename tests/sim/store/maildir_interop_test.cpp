// A real Maildir++ reader on what we deliver: isync's mbsync (Debian package
// isync) pulls a copy of our tree into a plain Maildir tree.  Skipped, with a
// message, when mbsync is not installed.  (mutt and Dovecot are not installed
// on the build machine; their expectations are checked by the layout test in
// maildir_store_test.cpp.)
#include <doctest/doctest.h>

#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "sim/store/durable_file.hpp"
#include "store_fixtures.hpp"

using namespace maillab;
using namespace maillab::sim;
using namespace maillab::sim::testing;
namespace fs = std::filesystem;

namespace {

bool have_program(const char* name) {
  std::string command = std::string("command -v ") + name + " >/dev/null 2>&1";
  return std::system(command.c_str()) == 0;
}

std::vector<fs::path> files_in(const fs::path& dir) {
  std::vector<fs::path> out;
  if (!fs::is_directory(dir)) return out;
  for (const auto& entry : fs::directory_iterator(dir)) out.push_back(entry.path());
  return out;
}

bool ends_with(const std::string& text, std::string_view suffix) {
  return text.size() >= suffix.size() && text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

TEST_CASE("maildir interop: mbsync reads our Maildir++ tree with its hierarchy, flags and bodies") {
  if (!have_program("mbsync")) {
    MESSAGE("mbsync not installed: interop check skipped");
    return;
  }
  MaildirFixture f;
  MaildirStore& store = *f.impl;
  const char* alice = "alice@lab.test";
  REQUIRE(store.ensure_user(alice).ok());
  REQUIRE(store.create_mailbox(alice, "Archive/2026").ok());
  REQUIRE(store.append(alice, "INBOX", "Subject: one\r\n\r\nbody one\r\n", {}, 1700000000).ok());
  REQUIRE(store.append(alice, "INBOX", "Subject: two\r\n\r\nbody two\r\n", {"\\Seen", "\\Flagged"}, 1700000100).ok());
  REQUIRE(store.append(alice, "Archive/2026", "Subject: three\r\n\r\nx\r\n", {"\\Answered", "\\Seen"}, 1700000200)
              .ok());
  // mbsync renames the files it reads (",U=<n>"), so it gets a copy of the tree.
  fs::path source = f.dir.path() / "source";
  fs::path target = f.dir.path() / "target";
  fs::copy(store.mailbox_dir(alice, "INBOX").value(), source, fs::copy_options::recursive);
  fs::create_directories(target);
  fs::path config = f.dir.path() / "mbsyncrc";
  {
    std::ofstream out(config);
    out << "MaildirStore ours\nInbox " << source.string() << "\nSubFolders Maildir++\n\n"
        << "MaildirStore copy\nPath " << target.string() << "/\nInbox " << (target / "INBOX").string()
        << "\nSubFolders Verbatim\n\n"
        << "Channel c\nFar :ours:\nNear :copy:\nPatterns *\nCreate Near\nSync Pull\nSyncState *\n";
  }
  std::string command = "mbsync -q -c '" + config.string() + "' -a >/dev/null 2>&1";
  REQUIRE(std::system(command.c_str()) == 0);

  auto inbox_new = files_in(target / "INBOX" / "new");
  auto inbox_cur = files_in(target / "INBOX" / "cur");
  auto archive = files_in(target / "Archive" / "2026" / "cur");
  REQUIRE(inbox_new.size() == 1);
  REQUIRE(inbox_cur.size() == 1);
  REQUIRE(archive.size() == 1);
  CHECK(ends_with(inbox_cur[0].filename().string(), ":2,FS"));
  CHECK(ends_with(archive[0].filename().string(), ":2,RS"));
  for (const char* folder : {"Sent", "Drafts", "Trash", "Junk"}) CHECK(fs::is_directory(target / folder / "cur"));
  std::string two = durable::read_file(inbox_cur[0]).value();
  CHECK(two.rfind("Subject: two\n", 0) == 0);
  CHECK(ends_with(two, "\nbody two\n"));
  CHECK(durable::read_file(inbox_new[0]).value().find("body one\n") != std::string::npos);
}
