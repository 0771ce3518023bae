// Deferred durability: SyncLedger, MaildirStore deliveries that leave their
// fsyncs to a ledger, and the queue's retire() that removes an entry only
// once the ledger of its deliveries is durable.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <fstream>
#include <string>
#include <vector>

#include "sim/store/durable_file.hpp"
#include "sim/store/maildir_store.hpp"
#include "sim/store/spool.hpp"
#include "store_fixtures.hpp"

using namespace maillab;
using namespace maillab::sim;
using namespace maillab::sim::testing;
namespace fs = std::filesystem;

namespace {

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

TEST_CASE("deferred delivery: a message appended with a ledger is readable at once, and the ledger holds its file, "
          "the uid list and both directories") {
  MaildirFixture fixture;
  MaildirStore& store = *fixture.impl;
  REQUIRE(store.ensure_user("bob@lab.test").ok());
  durable::SyncLedger ledger;
  store.defer_syncs(&ledger);
  auto first = store.append("bob@lab.test", "INBOX", "Subject: one\r\n\r\n1\r\n", {}, 1764198071);
  REQUIRE(first.ok());
  CHECK(ledger.file_count() == 2);  // the message and dovecot-uidlist
  CHECK(ledger.dir_count() == 2);   // new/ and the Maildir (the uid list's rename)
  auto second = store.append("bob@lab.test", "INBOX", "Subject: two\r\n\r\n2\r\n", {}, 1764198072);
  REQUIRE(second.ok());
  CHECK(ledger.file_count() == 3);  // the newer uid list supersedes the older one
  CHECK(ledger.dir_count() == 2);
  store.defer_syncs(nullptr);

  CHECK(store.read("bob@lab.test", "INBOX", *first).value() == "Subject: one\r\n\r\n1\r\n");
  CHECK(store.messages("bob@lab.test", "INBOX").value().size() == 2);
  REQUIRE(ledger.sync(durable::SyncMode::per_file).ok());
  CHECK(ledger.empty());
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
