// The Maildir store's in-memory index: built once per folder, kept current by
// our own writes, and still seeing what other programs change, even within
// one tick of the file system's clock.
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "store_fixtures.hpp"

using namespace maillab;
using namespace maillab::sim;
using namespace maillab::sim::testing;
using net::mail::Flags;
namespace fs = std::filesystem;

namespace {

constexpr const char* kAlice = "alice@lab.test";

void spill(const fs::path& path, std::string_view content) {
  std::ofstream out(path, std::ios::binary);
  out << content;
}

std::vector<std::string> files_in(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir)) names.push_back(entry.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

// Past the file system's timestamp tick (coarse clocks tick every few ms), then one call that may sync.
void settle(MaildirStore& store) {
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  REQUIRE(store.status(kAlice, "INBOX").ok());
}

}  // namespace

TEST_CASE("maildir index: reads, listings and status of an unchanged folder do not sync it again") {
  MaildirFixture f;
  MaildirStore& store = *f.impl;
  REQUIRE(store.ensure_user(kAlice).ok());
  for (int i = 0; i < 50; ++i) {
    REQUIRE(store.append(kAlice, "INBOX", "Subject: " + std::to_string(i) + "\r\n\r\nbody\r\n",
                         i % 2 ? Flags{"\\Seen"} : Flags{}, 1700000000 + i)
                .ok());
  }
  settle(store);
  std::uint64_t before = store.syncs();
  for (std::uint32_t uid = 1; uid <= 50; ++uid) {
    CHECK(store.read(kAlice, "INBOX", uid).value() == "Subject: " + std::to_string(uid - 1) + "\r\n\r\nbody\r\n");
  }
  for (int i = 0; i < 10; ++i) {
    auto list = store.messages(kAlice, "INBOX");
    REQUIRE(list.ok());
    CHECK(list->size() == 50);
    CHECK(list->back().internal_date_s == 1700000049);
    CHECK(store.status(kAlice, "INBOX")->unseen == 25);
  }
  CHECK(store.syncs() == before);
}

TEST_CASE("maildir index: a file another program drops right after our own append is seen by the next call") {
  MaildirFixture f;
  MaildirStore& store = *f.impl;
  REQUIRE(store.ensure_user(kAlice).ok());
  fs::path home = store.mailbox_dir(kAlice, "INBOX").value();
  // Within one tick of a coarse clock the directory's mtime would not move: the index must not trust it.
  for (int i = 0; i < 40; ++i) {
    REQUIRE(store.append(kAlice, "INBOX", "ours", {}, 1700000000).ok());
    spill(home / (i % 2 ? "cur" : "new") / ("1690000000.M" + std::to_string(i) + "P1.otherhost"), "theirs\n");
    auto list = store.messages(kAlice, "INBOX");
    REQUIRE(list.ok());
    CHECK(list->size() == static_cast<std::size_t>(2 * (i + 1)));
  }
}

TEST_CASE("maildir index: a file another program drops right after we listed the folder is seen by the next call") {
  MaildirFixture f;
  MaildirStore& store = *f.impl;
  REQUIRE(store.ensure_user(kAlice).ok());
  fs::path home = store.mailbox_dir(kAlice, "INBOX").value();
  for (int i = 0; i < 40; ++i) {
    REQUIRE(store.messages(kAlice, "INBOX").value().size() == static_cast<std::size_t>(i));
    spill(home / "new" / ("1690000000.M" + std::to_string(i) + "P1.otherhost"), "theirs\n");
  }
  CHECK(store.messages(kAlice, "INBOX").value().size() == 40);
}

TEST_CASE("maildir index: a message mutt flagged or moved after indexing is read under its new name") {
  MaildirFixture f;
  MaildirStore& store = *f.impl;
  REQUIRE(store.ensure_user(kAlice).ok());
  fs::path home = store.mailbox_dir(kAlice, "INBOX").value();
  REQUIRE(store.append(kAlice, "INBOX", "first\r\n", {}, 1).value() == 1);
  REQUIRE(store.append(kAlice, "INBOX", "second\r\n", {"\\Seen"}, 2).value() == 2);
  settle(store);
  std::string in_new = files_in(home / "new").front();
  std::string in_cur = files_in(home / "cur").front();
  fs::rename(home / "new" / in_new, home / "cur" / (in_new + ":2,F"));
  fs::rename(home / "cur" / in_cur, home / "cur" / (in_cur.substr(0, in_cur.find(':')) + ":2,RS"));
  // read() trusts the index without a look at the folder; a name that has gone makes it look.
  CHECK(store.read(kAlice, "INBOX", 1).value() == "first\r\n");
  CHECK(store.read(kAlice, "INBOX", 2).value() == "second\r\n");
  auto list = store.messages(kAlice, "INBOX").value();
  REQUIRE(list.size() == 2);
  CHECK(list[0].flags == Flags{"\\Flagged"});
  CHECK(list[1].flags == Flags{"\\Answered", "\\Seen"});
  fs::remove(home / "cur" / (in_new + ":2,F"));
  auto gone = store.read(kAlice, "INBOX", 1);
  REQUIRE_FALSE(gone.ok());
  CHECK(gone.error().category == ErrorCategory::not_found);
  CHECK(store.messages(kAlice, "INBOX").value().size() == 1);
}

TEST_CASE("maildir index: our own flag changes, expunges and copies keep the index equal to a fresh store's") {
  MaildirFixture f;
  MaildirStore& store = *f.impl;
  REQUIRE(store.ensure_user(kAlice).ok());
  for (int i = 0; i < 20; ++i) REQUIRE(store.append(kAlice, "INBOX", "m" + std::to_string(i), {}, 100 + i).ok());
  for (std::uint32_t uid = 1; uid <= 20; uid += 3) REQUIRE(store.set_flags(kAlice, "INBOX", uid, {"\\Seen", "$Later"}).ok());
  std::vector<std::uint32_t> doomed{2, 5, 11};
  REQUIRE(store.expunge(kAlice, "INBOX", doomed).ok());
  REQUIRE(store.copy(kAlice, "INBOX", 4, "Sent").ok());
  auto fresh = MaildirStore::open(f.dir.path()).value();
  for (const char* box : {"INBOX", "Sent"}) {
    auto ours = store.messages(kAlice, box).value();
    auto theirs = fresh->messages(kAlice, box).value();
    REQUIRE(ours.size() == theirs.size());
    for (std::size_t i = 0; i < ours.size(); ++i) {
      CHECK(ours[i].uid == theirs[i].uid);
      CHECK(ours[i].flags == theirs[i].flags);
      CHECK(ours[i].size == theirs[i].size);
      CHECK(ours[i].internal_date_s == theirs[i].internal_date_s);
    }
    CHECK(store.status(kAlice, box).value() == fresh->status(kAlice, box).value());
  }
  CHECK(store.messages(kAlice, "INBOX").value().size() == 17);
}

TEST_CASE("maildir index: a mailbox deleted and made again by another program is read afresh") {
  MaildirFixture f;
  MaildirStore& store = *f.impl;
  REQUIRE(store.ensure_user(kAlice).ok());
  REQUIRE(store.create_mailbox(kAlice, "Lab").ok());
  REQUIRE(store.append(kAlice, "Lab", "old", {}, 1).ok());
  fs::path dir = store.mailbox_dir(kAlice, "Lab").value();
  REQUIRE(store.read(kAlice, "Lab", 1).value() == "old");
  fs::remove_all(dir);
  auto gone = store.read(kAlice, "Lab", 1);
  REQUIRE_FALSE(gone.ok());
  CHECK(gone.error().category == ErrorCategory::not_found);
  REQUIRE(store.create_mailbox(kAlice, "Lab").ok());
  CHECK(store.messages(kAlice, "Lab").value().empty());
  CHECK_FALSE(store.read(kAlice, "Lab", 1).ok());
}
