// Deferred durability: SyncLedger, MaildirStore deliveries that leave their
// fsyncs to a ledger, and the queue's retire() that removes an entry only
// once the ledger of its deliveries is durable.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <fstream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "sim/store/durable_file.hpp"
#include "sim/store/maildir_format.hpp"
#include "sim/store/maildir_store.hpp"
#include "sim/store/spool.hpp"
#include "store_fixtures.hpp"

using namespace maillab;
using namespace maillab::sim;
using namespace maillab::sim::testing;
namespace fs = std::filesystem;

namespace {

std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// bob@lab.test's INBOX, made for the test.
fs::path bob_inbox(MaildirStore& store) {
  REQUIRE(store.ensure_user("bob@lab.test").ok());
  return store.mailbox_dir("bob@lab.test", "INBOX").value();
}

ino_t inode_of(const fs::path& path) {
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  return st.st_ino;
}

bool is_open(int fd) { return ::fcntl(fd, F_GETFD) != -1 || errno != EBADF; }

std::vector<std::string> files_in(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir)) names.push_back(entry.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

// A descriptor that no fsync accepts (a pipe: EINVAL), under a path name.
int unsyncable(int (&ends)[2]) {
  REQUIRE(::pipe(ends) == 0);
  return ends[0];
}

SpoolEntry queued(std::string id) {
  SpoolEntry entry;
  entry.id = std::move(id);
  entry.sender = "alice@lab.test";
  entry.recipients = {"bob@lab.test"};
  entry.arrival = Instant{1764198071000000};
  entry.data = "Subject: hi\r\n\r\nhello\r\n";
  return entry;
}

Spool queue_with(const fs::path& dir, std::initializer_list<const char*> ids) {
  auto opened = Spool::open(dir);
  REQUIRE(opened.ok());
  Spool spool = std::move(opened).value();
  std::vector<StagedEntry> batch;
  for (const char* id : ids) {
    auto staged = spool.stage(queued(id));
    REQUIRE(staged.ok());
    batch.push_back(std::move(staged).value());
  }
  REQUIRE(spool.commit(batch).ok());
  return spool;
}

}  // namespace

TEST_CASE("deferred delivery: a message appended with a ledger is hidden until its round is sealed and synced; "
          "the ledger holds the files, one uid list and their directories") {
  MaildirFixture fixture;
  MaildirStore& store = *fixture.impl;
  const fs::path inbox = bob_inbox(store);
  const std::string list_before = read_text(inbox / "dovecot-uidlist");
  durable::SyncLedger ledger;
  store.defer_syncs(&ledger);
  auto first = store.append("bob@lab.test", "INBOX", "Subject: one\r\n\r\n1\r\n", {}, 1764198071);
  REQUIRE(first.ok());
  CHECK(ledger.file_count() == 1);  // the message; dovecot-uidlist waits for the seal
  CHECK(ledger.dir_count() == 1);   // new/
  auto second = store.append("bob@lab.test", "INBOX", "Subject: two\r\n\r\n2\r\n", {}, 1764198072);
  REQUIRE(second.ok());
  CHECK(*second == *first + 1);
  CHECK(ledger.file_count() == 2);
  CHECK(read_text(inbox / "dovecot-uidlist") == list_before);

  CHECK(store.messages("bob@lab.test", "INBOX").value().empty());
  CHECK(store.status("bob@lab.test", "INBOX").value().uid_next == *first);
  CHECK(store.status("bob@lab.test", "INBOX").value().messages == 0);
  CHECK(store.read("bob@lab.test", "INBOX", *first).error().category == ErrorCategory::not_found);
  CHECK(store.hidden_uids() == 2);

  const auto list_inode = fs::status(inbox / "dovecot-uidlist").type() == fs::file_type::regular
                              ? std::optional<ino_t>(inode_of(inbox / "dovecot-uidlist"))
                              : std::nullopt;
  REQUIRE(store.seal_deferred().ok());
  store.defer_syncs(nullptr);
  CHECK(ledger.file_count() == 3);  // one uid list for both deliveries
  CHECK(ledger.dir_count() == 1);   // new/ only: the uid list grew in place, no rename
  const std::string list_after = read_text(inbox / "dovecot-uidlist");
  CHECK(list_after.size() > list_before.size());
  CHECK(list_after.compare(0, list_before.size(), list_before) == 0);  // appended, header untouched
  CHECK(list_inode == std::optional<ino_t>(inode_of(inbox / "dovecot-uidlist")));
  CHECK(store.messages("bob@lab.test", "INBOX").value().empty());  // sealed, not yet synced

  auto actions = ledger.take_on_synced();
  REQUIRE(ledger.sync(durable::SyncMode::per_file).ok());
  CHECK(ledger.empty());
  const std::uint64_t changes = store.change_counter();
  for (const auto& action : actions) action();
  CHECK(store.change_counter() > changes);
  CHECK(store.hidden_uids() == 0);
  CHECK(store.read("bob@lab.test", "INBOX", *first).value() == "Subject: one\r\n\r\n1\r\n");
  CHECK(store.messages("bob@lab.test", "INBOX").value().size() == 2);
  CHECK(store.status("bob@lab.test", "INBOX").value().uid_next == *second + 1);
}

TEST_CASE("deferred delivery: a restart after a crash before the round's sync never gives a UID a client could "
          "have seen to another message") {
  ScratchDir dir;
  fs::path inbox;
  std::string durable_list;  // dovecot-uidlist as the last synced round left it on disk
  std::uint32_t seen = 0;
  std::uint32_t lost = 0;
  {
    auto opened = MaildirStore::open(dir.path());
    REQUIRE(opened.ok());
    auto store = std::move(opened).value();
    inbox = bob_inbox(*store);
    durable::SyncLedger round;
    store->defer_syncs(&round);
    seen = store->append("bob@lab.test", "INBOX", "Subject: seen\r\n\r\n1\r\n", {}, 1764198071).value();
    REQUIRE(store->seal_deferred().ok());
    auto actions = round.take_on_synced();
    REQUIRE(round.sync(durable::SyncMode::syncfs).ok());
    for (const auto& action : actions) action();
    durable_list = read_text(inbox / "dovecot-uidlist");

    // The next round's delivery: written, not synced; a client looks now.
    durable::SyncLedger next;
    store->defer_syncs(&next);
    lost = store->append("bob@lab.test", "INBOX", "Subject: lost\r\n\r\n2\r\n", {}, 1764198072).value();
    REQUIRE(store->seal_deferred().ok());
    store->defer_syncs(nullptr);
    auto shown = store->messages("bob@lab.test", "INBOX").value();
    REQUIRE(shown.size() == 1);
    CHECK(shown.front().uid == seen);
    CHECK(store->status("bob@lab.test", "INBOX").value().uid_next == lost);
    CHECK_FALSE(store->read("bob@lab.test", "INBOX", lost).ok());
  }
  // Power loss before `next` was synced: neither its file nor its uid list reached the disk.
  for (const auto& name : files_in(inbox / "new")) {
    if (name.starts_with("1764198072.")) fs::remove(inbox / "new" / name);
  }
  {
    std::ofstream list(inbox / "dovecot-uidlist", std::ios::binary | std::ios::trunc);
    list << durable_list;
  }

  auto reopened = MaildirStore::open(dir.path());
  REQUIRE(reopened.ok());
  auto store = std::move(reopened).value();
  REQUIRE(store->ensure_user("bob@lab.test").ok());
  const auto status = store->status("bob@lab.test", "INBOX").value();
  auto other = store->append("bob@lab.test", "INBOX", "Subject: other\r\n\r\n3\r\n", {}, 1764198073);
  REQUIRE(other.ok());
  // Every UID a client saw still names its message, and the next one is past the UIDNEXT it was shown.
  CHECK(store->status("bob@lab.test", "INBOX").value().uid_validity == status.uid_validity);
  CHECK(store->read("bob@lab.test", "INBOX", seen).value() == "Subject: seen\r\n\r\n1\r\n");
  CHECK(*other >= lost);
  CHECK(store->read("bob@lab.test", "INBOX", *other).value() == "Subject: other\r\n\r\n3\r\n");
}

TEST_CASE("deferred delivery: rounds of deliveries never list the folder again; the first reader after a round "
          "lists it once and finds a file another program dropped in the same instant") {
  MaildirFixture fixture;
  MaildirStore& store = *fixture.impl;
  const fs::path inbox = bob_inbox(store);
  REQUIRE(store.messages("bob@lab.test", "INBOX").value().empty());
  std::this_thread::sleep_for(std::chrono::milliseconds(30));  // past the clock's tick: the index is trusted
  REQUIRE(store.messages("bob@lab.test", "INBOX").value().empty());
  const std::uint64_t listed = store.syncs();
  for (int round = 0; round < 20; ++round) {
    durable::SyncLedger ledger;
    store.defer_syncs(&ledger);
    for (int i = 0; i < 3; ++i) {
      REQUIRE(store.append("bob@lab.test", "INBOX", "Subject: m\r\n\r\nx\r\n", {}, 1764198071 + round).ok());
    }
    REQUIRE(store.seal_deferred().ok());
    store.defer_syncs(nullptr);
    auto actions = ledger.take_on_synced();
    REQUIRE(ledger.sync(durable::SyncMode::per_file).ok());
    for (const auto& action : actions) action();
  }
  CHECK(store.syncs() == listed);  // 60 deliveries in 20 rounds, no listing
  // Another program's file, dropped in the tick of our last round: only a listing finds it.
  {
    std::ofstream out(inbox / "new" / "1690000000.M1P1.otherhost", std::ios::binary);
    out << "Subject: theirs\n\nhi\n";
  }
  CHECK(store.messages("bob@lab.test", "INBOX").value().size() == 61);
  CHECK(store.syncs() == listed + 1);
}

TEST_CASE("deferred delivery: an append to the uid list that a crash cut short is skipped at restart, and the "
          "list is rewritten whole before anything is appended again") {
  ScratchDir dir;
  fs::path inbox;
  std::string durable_list;
  std::uint32_t seen = 0;
  {
    auto store = MaildirStore::open(dir.path()).value();
    inbox = bob_inbox(*store);
    durable::SyncLedger round;
    store->defer_syncs(&round);
    seen = store->append("bob@lab.test", "INBOX", "Subject: seen\r\n\r\n1\r\n", {}, 1764198071).value();
    REQUIRE(store->seal_deferred().ok());
    REQUIRE(round.sync(durable::SyncMode::syncfs).ok());
    durable_list = read_text(inbox / "dovecot-uidlist");
    durable::SyncLedger next;
    store->defer_syncs(&next);
    REQUIRE(store->append("bob@lab.test", "INBOX", "Subject: lost\r\n\r\n2\r\n", {}, 1764198072).ok());
    REQUIRE(store->seal_deferred().ok());
    store->defer_syncs(nullptr);
  }
  // Power loss in the middle of the second round: its message file is gone and its
  // uid list line only half there.
  for (const auto& name : files_in(inbox / "new")) {
    if (name.starts_with("1764198072.")) fs::remove(inbox / "new" / name);
  }
  const std::string appended = read_text(inbox / "dovecot-uidlist");
  REQUIRE(appended.size() > durable_list.size() + 4);
  fs::resize_file(inbox / "dovecot-uidlist", durable_list.size() + 4);

  auto store = MaildirStore::open(dir.path()).value();
  REQUIRE(store->ensure_user("bob@lab.test").ok());
  auto shown = store->messages("bob@lab.test", "INBOX").value();
  REQUIRE(shown.size() == 1);
  CHECK(shown.front().uid == seen);
  auto other = store->append("bob@lab.test", "INBOX", "Subject: other\r\n\r\n3\r\n", {}, 1764198073);
  REQUIRE(other.ok());
  auto list = maildir::parse_uidlist(read_text(inbox / "dovecot-uidlist"));
  REQUIRE(list.ok());
  CHECK_FALSE(list->torn);  // rewritten, not appended after the torn line
  REQUIRE(list->records.size() == 2);
  CHECK(list->records[0].uid == seen);
  CHECK(list->records[1].uid == *other);
}

TEST_CASE("deferred delivery: a uid list rewritten behind the index is rewritten whole from it, never appended to") {
  MaildirFixture fixture;
  MaildirStore& store = *fixture.impl;
  const fs::path inbox = bob_inbox(store);
  durable::SyncLedger ledger;
  store.defer_syncs(&ledger);
  auto first = store.append("bob@lab.test", "INBOX", "Subject: one\r\n\r\n1\r\n", {}, 1764198071);
  REQUIRE(first.ok());
  // Another program rewrites the list (one more header field) before our round is sealed.
  auto before = maildir::parse_uidlist(read_text(inbox / "dovecot-uidlist")).value();
  before.header_fields.push_back("Gfeedface");
  {
    std::ofstream out(inbox / "dovecot-uidlist", std::ios::binary | std::ios::trunc);
    out << maildir::format_uidlist(before);
  }
  REQUIRE(store.seal_deferred().ok());
  store.defer_syncs(nullptr);
  CHECK(ledger.dir_count() == 2);  // new/ and the Maildir: the list was replaced by a rename
  auto list = maildir::parse_uidlist(read_text(inbox / "dovecot-uidlist"));
  REQUIRE(list.ok());
  CHECK_FALSE(list->torn);
  REQUIRE(list->records.size() == 1);
  CHECK(list->records[0].uid == *first);
  CHECK(list->uid_validity == before.uid_validity);
}

TEST_CASE("deferred delivery: a message delivered with fsync after a hidden one waits for it, so UIDs are "
          "shown in ascending order") {
  MaildirFixture fixture;
  MaildirStore& store = *fixture.impl;
  REQUIRE(store.ensure_user("bob@lab.test").ok());
  durable::SyncLedger ledger;
  store.defer_syncs(&ledger);
  auto hidden = store.append("bob@lab.test", "INBOX", "Subject: deferred\r\n\r\n1\r\n", {}, 1764198071);
  REQUIRE(hidden.ok());
  store.defer_syncs(nullptr);
  auto durable_uid = store.append("bob@lab.test", "INBOX", "Subject: fsynced\r\n\r\n2\r\n", {}, 1764198072);
  REQUIRE(durable_uid.ok());
  CHECK(*durable_uid > *hidden);
  CHECK(store.messages("bob@lab.test", "INBOX").value().empty());
  CHECK_FALSE(store.set_flags("bob@lab.test", "INBOX", *durable_uid, {"\\Seen"}).ok());
  CHECK_FALSE(store.copy("bob@lab.test", "INBOX", *hidden, "Archive").ok());

  store.defer_syncs(&ledger);
  REQUIRE(store.seal_deferred().ok());
  store.defer_syncs(nullptr);
  auto actions = ledger.take_on_synced();
  REQUIRE(ledger.sync(durable::SyncMode::syncfs).ok());
  for (const auto& action : actions) action();
  auto shown = store.messages("bob@lab.test", "INBOX").value();
  REQUIRE(shown.size() == 2);
  CHECK(shown[0].uid == *hidden);
  CHECK(shown[1].uid == *durable_uid);
}

TEST_CASE("deferred delivery: deliveries into an unchanged folder do not list it again until their round is shown") {
  MaildirFixture fixture;
  MaildirStore& store = *fixture.impl;
  REQUIRE(store.ensure_user("bob@lab.test").ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(30));  // past the file system's timestamp tick
  REQUIRE(store.status("bob@lab.test", "INBOX").ok());
  const std::uint64_t before = store.syncs();
  durable::SyncLedger ledger;
  store.defer_syncs(&ledger);
  for (int i = 0; i < 20; ++i) {
    REQUIRE(store.append("bob@lab.test", "INBOX", "Subject: " + std::to_string(i) + "\r\n\r\nbody\r\n", {},
                         1764198071 + i)
                .ok());
  }
  REQUIRE(store.seal_deferred().ok());
  store.defer_syncs(nullptr);
  CHECK(store.syncs() == before);
  auto actions = ledger.take_on_synced();
  REQUIRE(ledger.sync(durable::SyncMode::syncfs).ok());
  for (const auto& action : actions) action();
  CHECK(store.messages("bob@lab.test", "INBOX").value().size() == 20);
  CHECK(store.syncs() == before + 1);  // one listing per shown round
}

TEST_CASE("deferred delivery: the first reader after a round lists the folder while the next round's files are "
          "still unwritten; they keep their UIDs, hidden, and are shown under them once written and synced") {
  MaildirFixture fixture;
  MaildirStore& store = *fixture.impl;
  const fs::path inbox = bob_inbox(store);
  // One deferred delivery into `ledger`, sealed; then the round that syncs it and shows it.
  auto deliver = [&](durable::SyncLedger& ledger, const std::string& data, std::int64_t date) {
    store.defer_syncs(&ledger);
    auto uid = store.append("bob@lab.test", "INBOX", data, {}, date);
    REQUIRE(uid.ok());
    REQUIRE(store.seal_deferred().ok());
    store.defer_syncs(nullptr);
    return *uid;
  };
  auto round = [&](durable::SyncLedger& ledger) {
    auto actions = ledger.take_on_synced();
    REQUIRE(ledger.sync(durable::SyncMode::per_file).ok());
    for (const auto& action : actions) action();
  };
  durable::SyncLedger first_round;
  const std::uint32_t first = deliver(first_round, "Subject: one\r\n\r\n1\r\n", 1764198071);
  round(first_round);

  durable::SyncLedger second_round;
  const std::uint32_t second = deliver(second_round, "Subject: two\r\n\r\n2\r\n", 1764198072);
  CHECK(second_round.unwritten_count() == 1);
  CHECK(files_in(inbox / "new").size() == 1);  // the first round's file only
  { std::ofstream(inbox / "new" / "1690000000.M1P1.otherhost", std::ios::binary) << "Subject: theirs\n\nhi\n"; }
  const std::uint64_t listed = store.syncs();
  auto shown = store.messages("bob@lab.test", "INBOX").value();
  CHECK(store.syncs() == listed + 1);  // the listing the first round's publish asked for
  REQUIRE(shown.size() == 1);
  CHECK(shown.front().uid == first);
  CHECK(store.status("bob@lab.test", "INBOX").value().uid_next == second);  // theirs waits behind ours

  round(second_round);
  auto metas = store.messages("bob@lab.test", "INBOX").value();
  REQUIRE(metas.size() == 3);
  CHECK(metas[0].uid == first);
  CHECK(metas[1].uid == second);
  CHECK(metas[2].uid > second);
  CHECK(store.read("bob@lab.test", "INBOX", second).value() == "Subject: two\r\n\r\n2\r\n");
  CHECK(store.read("bob@lab.test", "INBOX", metas[2].uid).value() == "Subject: theirs\r\n\r\nhi\r\n");
}

TEST_CASE("deferred delivery: without a ledger, and for every other operation, nothing is recorded") {
  MaildirFixture fixture;
  MaildirStore& store = *fixture.impl;
  REQUIRE(store.ensure_user("bob@lab.test").ok());
  auto uid = store.append("bob@lab.test", "INBOX", "Subject: one\r\n\r\n1\r\n", {}, 1764198071);
  REQUIRE(uid.ok());
  durable::SyncLedger ledger;
  store.defer_syncs(&ledger);
  REQUIRE(store.set_flags("bob@lab.test", "INBOX", *uid, {"\\Seen"}).ok());
  REQUIRE(store.create_mailbox("bob@lab.test", "Archive").ok());
  REQUIRE(store.expunge("bob@lab.test", "INBOX", std::vector<std::uint32_t>{*uid}).ok());
  store.defer_syncs(nullptr);
  CHECK(ledger.empty());
}

TEST_CASE("deferred delivery: a store reopened after a crash that skipped the ledger sees the linked messages "
          "with their UIDs") {
  ScratchDir dir;
  std::uint32_t uid = 0;
  {
    auto opened = MaildirStore::open(dir.path());
    REQUIRE(opened.ok());
    auto store = std::move(opened).value();
    REQUIRE(store->ensure_user("bob@lab.test").ok());
    durable::SyncLedger ledger;
    store->defer_syncs(&ledger);
    uid = store->append("bob@lab.test", "INBOX", "Subject: one\r\n\r\n1\r\n", {}, 1764198071).value();
    REQUIRE(ledger.write_unwritten().ok());  // as the committer does at the start of its round
    // The process dies here: the ledger is dropped unsynced, the store with it.
  }
  auto reopened = MaildirStore::open(dir.path());
  REQUIRE(reopened.ok());
  auto store = std::move(reopened).value();
  REQUIRE(store->ensure_user("bob@lab.test").ok());
  auto metas = store->messages("bob@lab.test", "INBOX");
  REQUIRE(metas.ok());
  REQUIRE(metas->size() == 1);
  CHECK(metas->front().uid == uid);
  CHECK(metas->front().internal_date_s == 1764198071);
  CHECK(files_in(store->mailbox_dir("bob@lab.test", "INBOX").value() / "tmp").empty());
}

TEST_CASE("sync ledger: a descriptor that cannot be synced fails the sync by its path and everything is still closed") {
  ScratchDir dir;
  durable::SyncLedger ledger;
  int ends[2];
  const int bad = unsyncable(ends);
  const int good = ::open((dir.path() / "good").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  REQUIRE(good >= 0);
  ledger.add_file(good, dir.path() / "good");
  ledger.add_file(bad, dir.path() / "not-a-file");
  REQUIRE(ledger.add_dir(dir.path()).ok());
  auto synced = ledger.sync(durable::SyncMode::per_file);
  REQUIRE_FALSE(synced.ok());
  CHECK(synced.error().category == ErrorCategory::io);
  CHECK(synced.error().message.find("not-a-file") != std::string::npos);
  CHECK(ledger.empty());
  CHECK_FALSE(is_open(good));
  CHECK_FALSE(is_open(bad));
  ::close(ends[1]);
}

TEST_CASE("sync ledger: a file recorded again under its path replaces the older descriptor; directories are opened once") {
  ScratchDir dir;
  durable::SyncLedger ledger;
  const fs::path path = dir.path() / "dovecot-uidlist";
  const int older = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  const int newer = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  REQUIRE(older >= 0);
  REQUIRE(newer >= 0);
  ledger.add_file(older, path);
  ledger.add_file(newer, path);
  CHECK(ledger.file_count() == 1);
  CHECK_FALSE(is_open(older));
  CHECK(is_open(newer));
  REQUIRE(ledger.add_dir(dir.path()).ok());
  REQUIRE(ledger.add_dir(dir.path()).ok());
  CHECK(ledger.dir_count() == 1);
  CHECK(ledger.add_dir(dir.path() / "missing").error().category == ErrorCategory::not_found);

  durable::SyncLedger other;
  const int third = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  other.add_file(third, dir.path() / "another");
  REQUIRE(other.add_dir(dir.path()).ok());
  ledger.merge(std::move(other));
  CHECK(other.empty());
  CHECK(ledger.file_count() == 2);
  CHECK(ledger.dir_count() == 1);
  REQUIRE(ledger.sync(durable::SyncMode::syncfs).ok());
  CHECK_FALSE(is_open(newer));
  CHECK_FALSE(is_open(third));
}

TEST_CASE("sync ledger: files just created are counted, kept apart from a same-named earlier record, merged and synced") {
  ScratchDir dir;
  durable::SyncLedger ledger;
  const fs::path path = dir.path() / "1.M1V1.maillab";
  const int created = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  REQUIRE(created >= 0);
  ledger.add_new_file(created, path);
  CHECK_FALSE(ledger.empty());  // a ledger of one new message file still has something to sync
  CHECK(ledger.file_count() == 1);
  // Created again under the same name after the first was removed: both inodes are synced.
  REQUIRE(::unlink(path.c_str()) == 0);
  const int again = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  REQUIRE(again >= 0);
  ledger.add_new_file(again, path);
  CHECK(ledger.file_count() == 2);
  CHECK(is_open(created));

  durable::SyncLedger other;
  const int third = ::open((dir.path() / "2.M2V1.maillab").c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  REQUIRE(third >= 0);
  other.add_new_file(third, dir.path() / "2.M2V1.maillab");
  ledger.merge(std::move(other));
  CHECK(other.empty());
  CHECK(ledger.file_count() == 3);
  REQUIRE(ledger.sync(durable::SyncMode::per_file).ok());
  CHECK(ledger.empty());
  CHECK_FALSE(is_open(created));
  CHECK_FALSE(is_open(again));
  CHECK_FALSE(is_open(third));
}

TEST_CASE("sync ledger: an unwritten file is written only by write_unwritten or sync; one that fails stays for the "
          "next try, is carried by take_unwritten and merge, and one whose directory was deleted is dropped") {
  ScratchDir dir;
  const OpenedDir tmp(dir.path() / "tmp");
  const OpenedDir into(dir.path() / "new");
  durable::SyncLedger ledger;
  REQUIRE(ledger.add_unwritten(tmp.at(), into.at(), "1.M1,S=6", "hello\n", 1764198071).ok());
  REQUIRE(ledger.add_unwritten(tmp.at(), into.at(), "2.M2,S=4", "bye\n", 1764198072).ok());
  CHECK(ledger.file_count() == 2);
  CHECK(ledger.unwritten_count() == 2);
  CHECK(ledger.dir_count() == 1);  // new/, whose entries the renames change
  CHECK(files_in(dir.path() / "new").empty());
  CHECK(files_in(dir.path() / "tmp").empty());

  // The second's name is taken in new/ (the rename never replaces): it fails and stays; the first is written.
  { std::ofstream(dir.path() / "new" / "2.M2,S=4") << "someone else's\n"; }
  auto written = ledger.write_unwritten();
  REQUIRE_FALSE(written.ok());
  CHECK(written.error().category == ErrorCategory::exists);
  CHECK(ledger.unwritten_count() == 1);
  CHECK(read_text(dir.path() / "new" / "1.M1,S=6") == "hello\n");
  struct stat written_stat {};
  REQUIRE(::stat((dir.path() / "new" / "1.M1,S=6").c_str(), &written_stat) == 0);
  CHECK(written_stat.st_mtime == 1764198071);  // the internal date, as Dovecot reads it
  CHECK(files_in(dir.path() / "tmp").empty());  // nothing left behind by the failed one
  CHECK(ledger.file_count() == 2);              // the first's descriptor, to sync, and the second, unwritten

  // Carried to the next round's ledger, and written there once the name is free.
  durable::SyncLedger next;
  next.merge(ledger.take_unwritten());
  CHECK(ledger.unwritten_count() == 0);
  CHECK(next.unwritten_count() == 1);
  REQUIRE(ledger.sync(durable::SyncMode::per_file).ok());
  fs::remove(dir.path() / "new" / "2.M2,S=4");
  REQUIRE(next.sync(durable::SyncMode::per_file).ok());
  CHECK(next.empty());
  CHECK(read_text(dir.path() / "new" / "2.M2,S=4") == "bye\n");

  // A file for a folder deleted since has nowhere to go: dropped, and that is no failure.
  durable::SyncLedger gone;
  {
    const OpenedDir gone_tmp(dir.path() / "Trash" / "tmp");
    const OpenedDir gone_new(dir.path() / "Trash" / "new");
    REQUIRE(gone.add_unwritten(gone_tmp.at(), gone_new.at(), "3.M3,S=2", "x\n", 1764198073).ok());
  }
  fs::remove_all(dir.path() / "Trash");
  CHECK(gone.write_unwritten().ok());
  CHECK(gone.unwritten_count() == 0);
}

TEST_CASE("spool: retire removes finished entries only once their deliveries are synced; a failed sync leaves "
          "every entry in place") {
  ScratchDir dir;
  Spool spool = queue_with(dir.path() / "queue", {"R.1", "R.2", "R.3"});
  const std::vector<std::string> finished = {"R.1", "R.2"};

  durable::SyncLedger failing;
  int ends[2];
  failing.add_file(unsyncable(ends), dir.path() / "INBOX-copy");
  auto refused = spool.retire(failing, durable::SyncMode::per_file, finished);
  ::close(ends[1]);
  REQUIRE_FALSE(refused.ok());
  CHECK(files_in(spool.dir()) == std::vector<std::string>{".damaged", ".tmp", "R.1", "R.2", "R.3"});
  auto recovered = spool.recover();
  REQUIRE(recovered.ok());
  CHECK(recovered->entries.size() == 3);

  MaildirFixture maildir;
  REQUIRE(maildir.impl->ensure_user("bob@lab.test").ok());
  durable::SyncLedger delivered;
  maildir.impl->defer_syncs(&delivered);
  REQUIRE(maildir.impl->append("bob@lab.test", "INBOX", "Subject: hi\r\n\r\nhello\r\n", {}, 1764198071).ok());
  maildir.impl->defer_syncs(nullptr);
  REQUIRE(spool.retire(delivered, durable::SyncMode::per_file, finished).ok());
  CHECK(delivered.empty());
  CHECK(files_in(spool.dir()) == std::vector<std::string>{".damaged", ".tmp", "R.3"});
}

TEST_CASE("deferred delivery: a delivery torn by a crash (shorter than its name's size) is removed at start, "
          "a whole one and another program's short file stay") {
  ScratchDir dir;
  fs::path inbox;
  {
    auto opened = MaildirStore::open(dir.path());
    REQUIRE(opened.ok());
    auto store = std::move(opened).value();
    REQUIRE(store->ensure_user("bob@lab.test").ok());
    durable::SyncLedger ledger;
    store->defer_syncs(&ledger);
    REQUIRE(store->append("bob@lab.test", "INBOX", "Subject: whole\r\n\r\n1\r\n", {}, 1764198071).ok());
    REQUIRE(store->append("bob@lab.test", "INBOX", "Subject: torn\r\n\r\n2\r\n", {}, 1764198072).ok());
    REQUIRE(ledger.write_unwritten().ok());  // written, and the crash comes before the sync
    inbox = store->mailbox_dir("bob@lab.test", "INBOX").value();
  }
  // What a power loss can leave of a delivery whose data never reached the disk.
  std::string torn;
  for (const auto& name : files_in(inbox / "new")) {
    if (name.starts_with("1764198072.")) torn = name;
  }
  REQUIRE_FALSE(torn.empty());
  fs::resize_file(inbox / "new" / torn, 0);
  {
    std::ofstream foreign(inbox / "new" / "1764190000.P1Q2.other,S=999999");
    foreign << "Subject: not ours\r\n\r\n";
  }

  auto reopened = MaildirStore::open(dir.path());
  REQUIRE(reopened.ok());
  auto store = std::move(reopened).value();
  REQUIRE(store->ensure_user("bob@lab.test").ok());
  const auto left = files_in(inbox / "new");
  CHECK(std::find(left.begin(), left.end(), torn) == left.end());
  CHECK(left.size() == 2);
  auto metas = store->messages("bob@lab.test", "INBOX");
  REQUIRE(metas.ok());
  REQUIRE(metas->size() == 2);
  CHECK(store->read("bob@lab.test", "INBOX", metas->front().uid).value() == "Subject: whole\r\n\r\n1\r\n");
}

TEST_CASE("durable: a file put into place never replaces one already there, with or without a ledger") {
  ScratchDir dir;
  const fs::path from = dir.path() / "from";
  const fs::path to = dir.path() / "to";
  REQUIRE(durable::write_new_file(from, "new").ok());
  REQUIRE(durable::write_new_file(to, "old").ok());
  CHECK(durable::link_into_place(from, to).error().category == ErrorCategory::exists);
  durable::SyncLedger ledger;
  CHECK(durable::link_into_place_deferred(from, to, ledger).error().category == ErrorCategory::exists);
  CHECK(read_text(from) == "new");
  CHECK(read_text(to) == "old");
  const fs::path free_name = dir.path() / "free";
  REQUIRE(durable::link_into_place_deferred(from, free_name, ledger).ok());
  CHECK_FALSE(fs::exists(from));
  CHECK(read_text(free_name) == "new");
  CHECK(ledger.dir_count() == 1);
  REQUIRE(ledger.sync(durable::SyncMode::per_file).ok());
}

TEST_CASE("durable: identity_at tells what fstat tells of a file or a directory, and does not follow a symlink") {
  ScratchDir dir;
  const fs::path file = dir.path() / "file";
  REQUIRE(durable::write_new_file(file, "twelve bytes").ok());
  const int dir_fd = ::open(dir.path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  REQUIRE(dir_fd >= 0);
  struct stat file_st {};
  struct stat dir_st {};
  REQUIRE(::stat(file.c_str(), &file_st) == 0);
  REQUIRE(::fstat(dir_fd, &dir_st) == 0);

  const auto of_file = durable::identity_at(dir_fd, "file");
  REQUIRE(of_file.has_value());
  CHECK(of_file->dev == static_cast<std::uint64_t>(file_st.st_dev));
  CHECK(of_file->ino == static_cast<std::uint64_t>(file_st.st_ino));
  CHECK(of_file->size == 12);
  CHECK_FALSE(of_file->is_dir);

  const auto of_dir = durable::identity_at(dir_fd, "");  // the descriptor's own directory
  REQUIRE(of_dir.has_value());
  CHECK(of_dir->dev == static_cast<std::uint64_t>(dir_st.st_dev));
  CHECK(of_dir->ino == static_cast<std::uint64_t>(dir_st.st_ino));
  CHECK(of_dir->is_dir);

  REQUIRE(::symlink("file", (dir.path() / "link").c_str()) == 0);
  const auto of_link = durable::identity_at(dir_fd, "link");
  REQUIRE(of_link.has_value());
  CHECK(of_link->ino != of_file->ino);
  CHECK(of_link->size == 4);  // the link's own target name

  errno = 0;
  CHECK_FALSE(durable::identity_at(dir_fd, "missing").has_value());
  CHECK(errno == ENOENT);
  ::close(dir_fd);
}
