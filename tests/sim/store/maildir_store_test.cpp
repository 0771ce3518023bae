// Maildir-only behaviour: persistence across store objects, the on-disk layout
// Dovecot and mutt read, other programs changing the Maildir, disk errors.
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <algorithm>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "sim/store/durable_file.hpp"
#include "store_fixtures.hpp"

using namespace maillab;
using namespace maillab::sim;
using namespace maillab::sim::testing;
using net::mail::Flags;
namespace fs = std::filesystem;

namespace {

constexpr const char* kAlice = "alice@lab.test";
constexpr const char* kBob = "bob@lab.test";

std::vector<std::string> files_in(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir)) names.push_back(entry.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

std::string slurp(const fs::path& path) { return durable::read_file(path).value(); }

void spill(const fs::path& path, std::string_view content) {
  std::ofstream out(path, std::ios::binary);
  out << content;
}

std::int64_t mtime_of(const fs::path& path) {
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  return st.st_mtim.tv_sec;
}

std::unique_ptr<MaildirStore> reopen(const fs::path& root) {
  auto store = MaildirStore::open(root);
  REQUIRE(store.ok());
  return std::move(store).value();
}

}  // namespace

TEST_CASE("maildir store: a new store object on the same directory sees the same UIDs, flags and UIDVALIDITY") {
  ScratchDir dir;
  std::vector<net::mail::MessageMeta> before;
  net::mail::MailboxStatus status_before;
  {
    auto store = reopen(dir.path());
    REQUIRE(store->ensure_user(kAlice).ok());
    REQUIRE(store->create_mailbox(kAlice, "Archive/2026").ok());
    REQUIRE(store->set_subscribed(kAlice, "Archive/2026", true).ok());
    for (int i = 0; i < 4; ++i) {
      REQUIRE(store->append(kAlice, "Archive/2026", "Subject: " + std::to_string(i) + "\r\n\r\nx\r\n",
                            i % 2 == 0 ? Flags{"\\Seen", "$Work"} : Flags{}, 1000 + i)
                  .ok());
    }
    std::uint32_t gone[] = {2};
    REQUIRE(store->expunge(kAlice, "Archive/2026", gone).ok());
    REQUIRE(store->set_flags(kAlice, "Archive/2026", 4, {"\\Answered", "$Later"}).ok());
    before = store->messages(kAlice, "Archive/2026").value();
    status_before = store->status(kAlice, "Archive/2026").value();
  }
  auto store = reopen(dir.path());
  CHECK(store->has_user(kAlice));
  auto after = store->messages(kAlice, "Archive/2026");
  REQUIRE(after.ok());
  REQUIRE(after->size() == 3);
  for (std::size_t i = 0; i < after->size(); ++i) {
    CHECK((*after)[i].uid == before[i].uid);
    CHECK((*after)[i].flags == before[i].flags);
    CHECK((*after)[i].internal_date_s == before[i].internal_date_s);
    CHECK((*after)[i].size == before[i].size);
  }
  CHECK((*after)[2].flags == Flags{"$Later", "\\Answered"});
  auto status = store->status(kAlice, "Archive/2026");
  CHECK(status->uid_validity == status_before.uid_validity);
  CHECK(status->uid_next == 5);
  CHECK(status->modseq == status_before.modseq);
  CHECK(store->append(kAlice, "Archive/2026", "x", {}, 0).value() == 5);
  auto list = store->list_mailboxes(kAlice);
  REQUIRE(list.ok());
  CHECK(list->size() == 7);
  bool subscribed = false;
  for (const auto& info : *list) subscribed = subscribed || (info.name == "Archive/2026" && info.subscribed);
  CHECK(subscribed);
  REQUIRE(store->create_mailbox(kAlice, "Fresh").ok());
  std::set<std::uint32_t> validities;
  auto all = store->list_mailboxes(kAlice);
  REQUIRE(all.ok());
  for (const auto& info : *all) {
    validities.insert(store->status(kAlice, info.name)->uid_validity);
  }
  CHECK(validities.size() == 8);
}

TEST_CASE("maildir store: the layout is Maildir++ as Dovecot reads it by default") {
  MaildirFixture f;
  MaildirStore& store = *f.impl;
  REQUIRE(store.ensure_user("alice@LAB.test").ok());
  fs::path home = f.dir.path() / "lab.test" / "alice";
  CHECK(store.mailbox_dir(kAlice, "INBOX").value() == home);
  for (const char* sub : {"cur", "new", "tmp"}) CHECK(fs::is_directory(home / sub));
  for (const char* folder : {".Sent", ".Drafts", ".Trash", ".Junk"}) {
    for (const char* sub : {"cur", "new", "tmp"}) CHECK(fs::is_directory(home / folder / sub));
    CHECK(fs::is_regular_file(home / folder / "maildirfolder"));
    CHECK(slurp(home / folder / "dovecot-uidlist").rfind("3 V", 0) == 0);
  }
  CHECK_FALSE(fs::exists(home / "maildirfolder"));
  REQUIRE(store.create_mailbox(kAlice, "Archive/2026").ok());
  REQUIRE(store.create_mailbox(kAlice, "v1.2").ok());
  REQUIRE(store.create_mailbox(kAlice, "Entwürfe").ok());
  CHECK(fs::is_directory(home / ".Archive"));
  CHECK(fs::is_directory(home / ".Archive.2026" / "cur"));
  CHECK(fs::is_directory(home / ".v1\\2e2" / "new"));
  CHECK(fs::is_directory(home / ".Entw&APw-rfe" / "tmp"));
  REQUIRE(store.set_subscribed(kAlice, "Archive/2026", true).ok());
  CHECK(slurp(home / "subscriptions") == "V\t2\n\nArchive\t2026\nDrafts\nINBOX\nJunk\nSent\nTrash\n");
  std::string uidlist = slurp(home / "dovecot-uidlist");
  CHECK(uidlist == "3 V1 N1 M1\n");
  auto renamed = store.rename_mailbox(kAlice, "Archive", "Old");
  REQUIRE(renamed.ok());
  CHECK(fs::is_directory(home / ".Old.2026"));
  CHECK_FALSE(fs::exists(home / ".Archive.2026"));
  CHECK(slurp(home / "subscriptions").find("Old\t2026\n") != std::string::npos);
}

TEST_CASE("maildir store: file names carry the flags, new/ holds unflagged mail, disk has LF line ends") {
  MaildirFixture f;
  MaildirStore& store = *f.impl;
  REQUIRE(store.ensure_user(kAlice).ok());
  fs::path home = store.mailbox_dir(kAlice, "INBOX").value();
  std::uint32_t validity = store.status(kAlice, "INBOX")->uid_validity;
  std::string crlf = "Subject: a\r\n\r\nline\r\n";
  REQUIRE(store.append(kAlice, "INBOX", crlf, {}, 1700000000).value() == 1);
  std::string base = "1700000000.M1V" + std::to_string(validity) + ".maillab,S=17,W=20";
  CHECK(files_in(home / "new") == std::vector<std::string>{base});
  CHECK(files_in(home / "tmp").empty());
  CHECK(slurp(home / "new" / base) == "Subject: a\n\nline\n");
  CHECK(mtime_of(home / "new" / base) == 1700000000);
  CHECK(store.read(kAlice, "INBOX", 1).value() == crlf);

  REQUIRE(store.append(kAlice, "INBOX", crlf, {"\\Seen", "$Work", "\\Flagged"}, 1700000001).value() == 2);
  std::string second = "1700000001.M2V" + std::to_string(validity) + ".maillab,S=17,W=20";
  CHECK(files_in(home / "cur") == std::vector<std::string>{second + ":2,FSa"});
  CHECK(slurp(home / "dovecot-keywords") == "0 $Work\n");

  REQUIRE(store.set_flags(kAlice, "INBOX", 1, {"\\Answered", "$Todo", "$Work"}).ok());
  CHECK(files_in(home / "new").empty());
  CHECK(files_in(home / "cur") == std::vector<std::string>{base + ":2,Rab", second + ":2,FSa"});
  CHECK(slurp(home / "dovecot-keywords") == "0 $Work\n1 $Todo\n");
  REQUIRE(store.set_flags(kAlice, "INBOX", 2, {}).ok());
  CHECK(fs::exists(home / "cur" / (second + ":2,")));
  std::string uidlist = slurp(home / "dovecot-uidlist");
  CHECK(uidlist.find("\n1 :" + base + ":2,Rab\n") != std::string::npos);
  CHECK(uidlist.find("\n2 :" + second + ":2,\n") != std::string::npos);
}

TEST_CASE("maildir store: a file dropped into new/ or cur/ by another program gets the next UID") {
  MaildirFixture f;
  MaildirStore& store = *f.impl;
  REQUIRE(store.ensure_user(kAlice).ok());
  fs::path home = store.mailbox_dir(kAlice, "INBOX").value();
  REQUIRE(store.append(kAlice, "INBOX", "Subject: ours\r\n\r\n", {}, 5).value() == 1);
  std::uint64_t counter = store.change_counter();
  std::uint64_t modseq = store.status(kAlice, "INBOX")->modseq;
  spill(home / "new" / "1690000000.M5P77.otherhost", "Subject: theirs\n\nbody\n");
  spill(home / "cur" / "1690000001.M6P77.otherhost:2,S", "Subject: read\r\n\r\nbody\r\n");
  auto list = store.messages(kAlice, "INBOX");
  REQUIRE(list.ok());
  REQUIRE(list->size() == 3);
  CHECK((*list)[1].uid == 2);
  CHECK((*list)[1].flags.empty());
  CHECK((*list)[1].size == std::string_view("Subject: theirs\r\n\r\nbody\r\n").size());
  CHECK((*list)[1].internal_date_s == mtime_of(home / "new" / "1690000000.M5P77.otherhost"));
  CHECK((*list)[2].uid == 3);
  CHECK((*list)[2].flags == Flags{"\\Seen"});
  CHECK(store.read(kAlice, "INBOX", 2).value() == "Subject: theirs\r\n\r\nbody\r\n");
  CHECK(store.read(kAlice, "INBOX", 3).value() == "Subject: read\r\n\r\nbody\r\n");
  CHECK(store.change_counter() > counter);
  CHECK(store.status(kAlice, "INBOX")->modseq > modseq);
  CHECK(store.status(kAlice, "INBOX")->uid_next == 4);
  std::string cached = "\n2 W" + std::to_string((*list)[1].size) + " :1690000000.M5P77.otherhost\n";
  CHECK(slurp(home / "dovecot-uidlist").find(cached) != std::string::npos);
  auto again = reopen(f.dir.path());
  CHECK(again->messages(kAlice, "INBOX").value().size() == 3);
  CHECK(again->messages(kAlice, "INBOX").value()[2].uid == 3);
}

TEST_CASE("maildir store: a message moved or flagged by mutt keeps its UID; one deleted loses it for good") {
  MaildirFixture f;
  MaildirStore& store = *f.impl;
  REQUIRE(store.ensure_user(kAlice).ok());
  fs::path home = store.mailbox_dir(kAlice, "INBOX").value();
  REQUIRE(store.append(kAlice, "INBOX", "a", {}, 1).value() == 1);
  REQUIRE(store.append(kAlice, "INBOX", "b", {}, 2).value() == 2);
  std::string first = files_in(home / "new").front();
  std::string second = files_in(home / "new").back();
  std::uint64_t modseq = store.status(kAlice, "INBOX")->modseq;
  fs::rename(home / "new" / first, home / "cur" / (first + ":2,RS"));
  auto list = store.messages(kAlice, "INBOX").value();
  REQUIRE(list.size() == 2);
  CHECK(list[0].uid == 1);
  CHECK(list[0].flags == Flags{"\\Answered", "\\Seen"});
  CHECK(store.status(kAlice, "INBOX")->modseq > modseq);
  fs::remove(home / "new" / second);
  CHECK(store.messages(kAlice, "INBOX").value().size() == 1);
  CHECK(store.append(kAlice, "INBOX", "c", {}, 3).value() == 3);
  spill(home / "new" / second, "b");  // restored from a backup: a new message now
  auto uids = store.messages(kAlice, "INBOX").value();
  REQUIRE(uids.size() == 3);
  CHECK(uids.back().uid == 4);
}

TEST_CASE("maildir store: a stray tmp/ file is ignored and ensure_user clears our own leftovers only") {
  MaildirFixture f;
  MaildirStore& store = *f.impl;
  REQUIRE(store.ensure_user(kAlice).ok());
  fs::path home = store.mailbox_dir(kAlice, "INBOX").value();
  fs::path sent = store.mailbox_dir(kAlice, "Sent").value();
  spill(home / "tmp" / "1700000000.M1V1.maillab,S=3,W=3", "par");
  spill(sent / "tmp" / "1700000000.M9V2.maillab,S=3,W=3", "tia");
  spill(home / "tmp" / "1700000000.P123.otherhost", "someone else's delivery in progress");
  CHECK(store.status(kAlice, "INBOX")->messages == 0);
  CHECK(store.status(kAlice, "Sent")->messages == 0);
  REQUIRE(store.append(kAlice, "INBOX", "whole", {}, 1700000000).value() == 1);
  CHECK(store.read(kAlice, "INBOX", 1).value() == "whole");
  REQUIRE(store.ensure_user(kAlice).ok());
  CHECK(files_in(home / "tmp") == std::vector<std::string>{"1700000000.P123.otherhost"});
  CHECK(files_in(sent / "tmp").empty());
}

TEST_CASE("maildir store: a failed write (file size limit, as on a full disk) returns io and leaves no file") {
  MaildirFixture f;
  MaildirStore& store = *f.impl;
  REQUIRE(store.ensure_user(kAlice).ok());
  fs::path home = store.mailbox_dir(kAlice, "INBOX").value();
  std::string big(256 * 1024, 'x');
  struct rlimit saved {};
  REQUIRE(::getrlimit(RLIMIT_FSIZE, &saved) == 0);
  auto previous = ::signal(SIGXFSZ, SIG_IGN);
  struct rlimit small = saved;
  small.rlim_cur = 64 * 1024;
  REQUIRE(::setrlimit(RLIMIT_FSIZE, &small) == 0);
  auto failed = store.append(kAlice, "INBOX", big, {"\\Seen"}, 1);
  auto also_failed = store.append(kAlice, "INBOX", big, {}, 1);
  ::setrlimit(RLIMIT_FSIZE, &saved);
  ::signal(SIGXFSZ, previous);
  REQUIRE_FALSE(failed.ok());
  CHECK(failed.error().category == ErrorCategory::io);
  REQUIRE_FALSE(also_failed.ok());
  CHECK(also_failed.error().category == ErrorCategory::io);
  CHECK(files_in(home / "new").empty());
  CHECK(files_in(home / "cur").empty());
  CHECK(files_in(home / "tmp").empty());
  CHECK(store.status(kAlice, "INBOX")->messages == 0);
  CHECK(store.append(kAlice, "INBOX", "small", {}, 1).value() == 1);
}

TEST_CASE("maildir store: symbolic links never lead into another user's tree") {
  MaildirFixture f;
  MaildirStore& store = *f.impl;
  REQUIRE(store.ensure_user(kAlice).ok());
  REQUIRE(store.ensure_user(kBob).ok());
  REQUIRE(store.append(kBob, "INBOX", "Subject: bob's secret\r\n\r\n", {"\\Seen"}, 1).ok());
  fs::path alice = store.mailbox_dir(kAlice, "INBOX").value();
  fs::path bob = store.mailbox_dir(kBob, "INBOX").value();
  fs::create_directory_symlink(bob, alice / ".Evil");
  fs::path bob_message = bob / "cur" / files_in(bob / "cur").front();
  fs::create_symlink(bob_message, alice / "cur" / "1.M1P1.evil:2,S");
  fs::create_directory_symlink(f.dir.path() / "lab.test", f.dir.path() / "evil.test");
  auto list = store.list_mailboxes(kAlice);
  REQUIRE(list.ok());
  for (const auto& info : *list) CHECK(info.name != "Evil");
  auto evil = store.status(kAlice, "Evil");
  REQUIRE_FALSE(evil.ok());
  CHECK(evil.error().category == ErrorCategory::not_found);
  CHECK_FALSE(store.append(kAlice, "Evil", "x", {}, 0).ok());
  CHECK(store.messages(kAlice, "INBOX").value().empty());
  CHECK(store.used_bytes(kAlice).value() == 0);
  CHECK_FALSE(store.has_user("alice@evil.test"));
  CHECK_FALSE(store.ensure_user("bob@evil.test").ok());
  CHECK(store.status(kBob, "INBOX")->messages == 1);
}

TEST_CASE("maildir store: a broken uid list gives every message a new UID under a greater UIDVALIDITY") {
  MaildirFixture f;
  MaildirStore& store = *f.impl;
  REQUIRE(store.ensure_user(kAlice).ok());
  fs::path home = store.mailbox_dir(kAlice, "INBOX").value();
  REQUIRE(store.append(kAlice, "INBOX", "a", {}, 1).ok());
  REQUIRE(store.append(kAlice, "INBOX", "b", {"\\Seen"}, 2).ok());
  std::uint32_t before = store.status(kAlice, "INBOX")->uid_validity;
  spill(home / "dovecot-uidlist", "not a uid list\n");
  auto status = store.status(kAlice, "INBOX");
  REQUIRE(status.ok());
  CHECK(status->uid_validity > before);
  CHECK(status->messages == 2);
  CHECK(store.messages(kAlice, "INBOX").value().back().flags == Flags{"\\Seen"});
  fs::remove(home / "maillab-uidvalidity");
  REQUIRE(store.create_mailbox(kAlice, "Later").ok());
  CHECK(store.status(kAlice, "Later")->uid_validity > status->uid_validity);
}

TEST_CASE("maildir store: a name too long for one directory entry is refused with invalid_argument") {
  MaildirFixture f;
  MaildirStore& store = *f.impl;
  REQUIRE(store.ensure_user(kAlice).ok());
  std::string emoji;
  for (int i = 0; i < 60; ++i) emoji += "😀";  // 240 octets of UTF-8, 323 in modified UTF-7
  for (const std::string& name : {std::string(255, 'x'), emoji}) {
    auto made = store.create_mailbox(kAlice, name);
    REQUIRE_FALSE(made.ok());
    CHECK(made.error().category == ErrorCategory::invalid_argument);
  }
  CHECK(store.create_mailbox(kAlice, std::string(254, 'x')).ok());
}

TEST_CASE("maildir store: ensure_user completes a Maildir made by another program") {
  MaildirFixture f;
  MaildirStore& store = *f.impl;
  fs::path home = f.dir.path() / "lab.test" / "carol";
  fs::create_directories(home / "cur");
  fs::create_directories(home / "new");
  spill(home / "new" / "1600000000.P1.mutt", "Subject: old\n\n");
  CHECK_FALSE(store.has_user("carol@lab.test"));
  REQUIRE(store.ensure_user("carol@lab.test").ok());
  CHECK(fs::is_directory(home / "tmp"));
  CHECK(store.list_mailboxes("carol@lab.test").value().size() == 5);
  auto status = store.status("carol@lab.test", "INBOX");
  REQUIRE(status.ok());
  CHECK(status->messages == 1);
  CHECK(store.read("carol@lab.test", "INBOX", 1).value() == "Subject: old\r\n\r\n");
}

TEST_CASE("maildir store: the paths it keeps per user and mailbox follow users and folders that come and go") {
  MaildirFixture f;
  MaildirStore& store = *f.impl;
  const fs::path root = f.dir.path();
  auto not_found = [](const auto& result) {
    return !result.ok() && result.error().category == ErrorCategory::not_found;
  };
  // A user made on first delivery: refused before ensure_user, stored after.
  CHECK(not_found(store.append(kAlice, "INBOX", "one", {}, 1)));
  CHECK_FALSE(store.has_user(kAlice));
  REQUIRE(store.ensure_user(kAlice).ok());
  CHECK(store.has_user(kAlice));
  CHECK(store.append(kAlice, "INBOX", "one", {}, 1).value() == 1);
  // A folder created, renamed away and back, deleted (IMAP CREATE, RENAME, DELETE).
  CHECK(not_found(store.append(kAlice, "Work", "w", {}, 1)));
  REQUIRE(store.create_mailbox(kAlice, "Work").ok());
  CHECK(store.append(kAlice, "Work", "w", {}, 1).value() == 1);
  REQUIRE(store.rename_mailbox(kAlice, "Work", "Done").ok());
  CHECK(not_found(store.append(kAlice, "Work", "w", {}, 1)));
  CHECK(store.append(kAlice, "Done", "d", {}, 1).value() == 2);
  REQUIRE(store.rename_mailbox(kAlice, "Done", "Work").ok());
  CHECK(not_found(store.append(kAlice, "Done", "d", {}, 1)));
  CHECK(store.append(kAlice, "Work", "w", {}, 1).value() == 3);
  REQUIRE(store.delete_mailbox(kAlice, "Work").ok());
  CHECK(not_found(store.append(kAlice, "Work", "w", {}, 1)));
  CHECK(not_found(store.status(kAlice, "Work")));
  // RENAME INBOX: the messages move, INBOX stays and takes new mail.
  REQUIRE(store.rename_mailbox(kAlice, "INBOX", "Old").ok());
  CHECK(store.status(kAlice, "Old")->messages == 1);
  CHECK(store.status(kAlice, "INBOX")->messages == 0);
  CHECK(store.append(kAlice, "INBOX", "two", {}, 1).value() == 2);
  // Another program moves new/, then the whole Maildir, aside and makes a new
  // one in its place: deliveries follow the path, never the directory held open.
  const fs::path home = root / "lab.test" / "alice";
  const fs::path moved_home = root / "lab.test" / "alice.moved";
  fs::rename(home / "new", home / "new.moved");
  fs::create_directory(home / "new");
  REQUIRE(store.append(kAlice, "INBOX", "three", {}, 1).ok());
  CHECK(files_in(home / "new").size() == 1);
  CHECK(files_in(home / "new.moved").size() == 1);
  fs::rename(home, moved_home);
  for (const char* sub : {"", "/cur", "/new", "/tmp"}) fs::create_directory(home.string() + sub);
  REQUIRE(store.append(kAlice, "INBOX", "four", {}, 1).ok());
  CHECK(files_in(home / "new").size() == 1);
  CHECK(files_in(moved_home / "new").size() == 1);
  fs::remove_all(moved_home);
  // Another program makes a folder, renames it, removes it, removes the whole user.
  for (const char* sub : {"", "/cur", "/new", "/tmp"}) fs::create_directory(home.string() + "/.Ext" + sub);
  CHECK(store.append(kAlice, "Ext", "e", {}, 1).ok());
  fs::rename(home / ".Ext", home / ".Moved");
  CHECK(not_found(store.append(kAlice, "Ext", "e", {}, 1)));
  CHECK(store.append(kAlice, "Moved", "m", {}, 1).ok());
  CHECK(files_in(home / ".Moved" / "new").size() == 2);
  fs::rename(home / ".Moved", home / ".Ext");
  fs::remove_all(home / ".Ext");
  CHECK(not_found(store.append(kAlice, "Ext", "e", {}, 1)));
  fs::remove_all(home);
  CHECK_FALSE(store.has_user(kAlice));
  CHECK(not_found(store.append(kAlice, "INBOX", "three", {}, 1)));
  CHECK(not_found(store.status(kAlice, "INBOX")));
  // Made again (by us): a new Maildir, its own UIDs.
  REQUIRE(store.ensure_user(kAlice).ok());
  CHECK(store.append(kAlice, "INBOX", "three", {}, 1).value() == 1);
  CHECK(store.messages(kAlice, "INBOX")->size() == 1);
  // The Maildir swapped for a symbolic link to another user's: not a user any more.
  REQUIRE(store.ensure_user(kBob).ok());
  fs::remove_all(home);
  fs::create_directory_symlink(root / "lab.test" / "bob", home);
  CHECK_FALSE(store.has_user(kAlice));
  CHECK(not_found(store.append(kAlice, "INBOX", "four", {}, 1)));
  CHECK(store.status(kBob, "INBOX")->messages == 0);
}
