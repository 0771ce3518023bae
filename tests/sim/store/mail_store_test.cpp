// The shared MailStore suite: every case runs against the memory store and the
// Maildir store (TEST_CASE_TEMPLATE over the fixtures).
#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "store_fixtures.hpp"

using namespace maillab;
using namespace maillab::sim::testing;
using net::mail::Flags;
using net::mail::MailboxInfo;
using net::mail::MailStore;
using net::mail::SpecialUse;

#define STORE_FIXTURES MemoryFixture, MaildirFixture

namespace {

constexpr const char* kAlice = "alice@lab.test";
constexpr const char* kBob = "bob@lab.test";
constexpr const char* kMessage = "From: a@lab.test\r\nSubject: hi\r\n\r\nbody\r\n";

const MailboxInfo* find_info(const std::vector<MailboxInfo>& list, std::string_view name) {
  auto it = std::find_if(list.begin(), list.end(), [&](const MailboxInfo& i) { return i.name == name; });
  return it == list.end() ? nullptr : &*it;
}

std::vector<std::string> names_of(MailStore& store, const char* user) {
  auto list = store.list_mailboxes(user);
  REQUIRE(list.ok());
  std::vector<std::string> names;
  for (const MailboxInfo& info : *list) names.push_back(info.name);
  return names;
}

std::uint32_t must_append(MailStore& store, const char* user, std::string_view box, std::string_view data,
                          const Flags& flags = {}, std::int64_t date = 1767225600) {
  auto uid = store.append(user, box, data, flags, date);
  REQUIRE_MESSAGE(uid.ok(), uid.error().message);
  return *uid;
}

std::vector<std::uint32_t> uids_of(MailStore& store, const char* user, std::string_view box) {
  auto list = store.messages(user, box);
  REQUIRE(list.ok());
  std::vector<std::uint32_t> uids;
  for (const auto& meta : *list) uids.push_back(meta.uid);
  return uids;
}

}  // namespace

TEST_CASE_TEMPLATE("mail store: ensure_user creates INBOX and the subscribed special-use mailboxes", F,
                   STORE_FIXTURES) {
  F f;
  MailStore& store = f.store();
  CHECK_FALSE(store.has_user(kAlice));
  REQUIRE(store.ensure_user(kAlice).ok());
  CHECK(store.has_user(kAlice));
  CHECK(store.has_user("alice@LAB.test"));
  CHECK_FALSE(store.has_user(kBob));
  auto list = store.list_mailboxes(kAlice);
  REQUIRE(list.ok());
  REQUIRE(list->size() == 5);
  CHECK(list->front().name == "INBOX");
  const std::pair<const char*, SpecialUse> expected[] = {{"INBOX", SpecialUse::none},
                                                         {"Sent", SpecialUse::sent},
                                                         {"Drafts", SpecialUse::drafts},
                                                         {"Trash", SpecialUse::trash},
                                                         {"Junk", SpecialUse::junk}};
  for (const auto& [name, use] : expected) {
    const MailboxInfo* info = find_info(*list, name);
    REQUIRE_MESSAGE(info != nullptr, name);
    CHECK(info->special_use == use);
    CHECK(info->subscribed);
    CHECK_FALSE(info->has_children);
  }
}

TEST_CASE_TEMPLATE("mail store: ensure_user again keeps the mail and recreates a deleted special mailbox", F,
                   STORE_FIXTURES) {
  F f;
  MailStore& store = f.store();
  REQUIRE(store.ensure_user(kAlice).ok());
  std::uint32_t uid = must_append(store, kAlice, "INBOX", kMessage);
  REQUIRE(store.delete_mailbox(kAlice, "Junk").ok());
  CHECK(names_of(store, kAlice).size() == 4);
  REQUIRE(store.ensure_user(kAlice).ok());
  CHECK(names_of(store, kAlice).size() == 5);
  CHECK(uids_of(store, kAlice, "INBOX") == std::vector<std::uint32_t>{uid});
}

TEST_CASE_TEMPLATE("mail store: an unknown user is not_found and a malformed one invalid_argument", F,
                   STORE_FIXTURES) {
  F f;
  MailStore& store = f.store();
  auto unknown = store.status(kBob, "INBOX");
  REQUIRE_FALSE(unknown.ok());
  CHECK(unknown.error().category == ErrorCategory::not_found);
  for (const char* bad : {"alice", "", "@lab.test", "alice@", "../bob@lab.test", "bob/../alice@lab.test",
                          "~bob@lab.test", "alice%00@lab.test", ".alice@lab.test", "al..ice@lab.test",
                          "alice@lab..test", "alice@-lab.test", "alice@lab.test/x", "alice@lab_test",
                          "a lice@lab.test", "alice@@lab.test"}) {
    auto made = store.ensure_user(bad);
    REQUIRE_FALSE_MESSAGE(made.ok(), bad);
    CHECK_MESSAGE(made.error().category == ErrorCategory::invalid_argument, bad);
  }
  CHECK_FALSE(store.ensure_user(std::string_view("alice@lab.test\0x", 16)).ok());
}

TEST_CASE_TEMPLATE("mail store: create makes missing parents and list marks children", F, STORE_FIXTURES) {
  F f;
  MailStore& store = f.store();
  REQUIRE(store.ensure_user(kAlice).ok());
  REQUIRE(store.create_mailbox(kAlice, "Archive/2026/Q1").ok());
  REQUIRE(store.create_mailbox(kAlice, "Entwürfe").ok());
  REQUIRE(store.create_mailbox(kAlice, "v1.2 notes").ok());
  REQUIRE(store.create_mailbox(kAlice, "Archive-old").ok());
  auto list = store.list_mailboxes(kAlice);
  REQUIRE(list.ok());
  CHECK(list->front().name == "INBOX");
  for (const char* name : {"Archive", "Archive/2026", "Archive/2026/Q1", "Entwürfe", "v1.2 notes", "Archive-old"}) {
    const MailboxInfo* info = find_info(*list, name);
    REQUIRE_MESSAGE(info != nullptr, name);
    CHECK(info->special_use == SpecialUse::none);
    CHECK_FALSE(info->subscribed);
  }
  CHECK(find_info(*list, "Archive")->has_children);
  CHECK(find_info(*list, "Archive/2026")->has_children);
  CHECK_FALSE(find_info(*list, "Archive/2026/Q1")->has_children);
  CHECK_FALSE(find_info(*list, "Archive-old")->has_children);
  auto again = store.create_mailbox(kAlice, "Archive/2026");
  REQUIRE_FALSE(again.ok());
  CHECK(again.error().category == ErrorCategory::exists);
  auto inbox = store.create_mailbox(kAlice, "inbox");
  REQUIRE_FALSE(inbox.ok());
  CHECK(inbox.error().category == ErrorCategory::exists);
}

TEST_CASE_TEMPLATE("mail store: INBOX is case-insensitive, other names are not", F, STORE_FIXTURES) {
  F f;
  MailStore& store = f.store();
  REQUIRE(store.ensure_user(kAlice).ok());
  std::uint32_t uid = must_append(store, kAlice, "iNbOx", kMessage);
  CHECK(uids_of(store, kAlice, "INBOX") == std::vector<std::uint32_t>{uid});
  REQUIRE(store.create_mailbox(kAlice, "inbox/Sub").ok());
  CHECK(find_info(*store.list_mailboxes(kAlice), "INBOX/Sub") != nullptr);
  CHECK(find_info(*store.list_mailboxes(kAlice), "INBOX")->has_children);
  REQUIRE(store.create_mailbox(kAlice, "sent").ok());
  CHECK(find_info(*store.list_mailboxes(kAlice), "sent")->special_use == SpecialUse::none);
  CHECK(find_info(*store.list_mailboxes(kAlice), "Sent")->special_use == SpecialUse::sent);
}

TEST_CASE_TEMPLATE("mail store: delete refuses INBOX and a mailbox with children, removes a leaf", F,
                   STORE_FIXTURES) {
  F f;
  MailStore& store = f.store();
  REQUIRE(store.ensure_user(kAlice).ok());
  REQUIRE(store.create_mailbox(kAlice, "A/B").ok());
  auto inbox = store.delete_mailbox(kAlice, "INBOX");
  REQUIRE_FALSE(inbox.ok());
  CHECK(inbox.error().category == ErrorCategory::invalid_argument);
  auto parent = store.delete_mailbox(kAlice, "A");
  REQUIRE_FALSE(parent.ok());
  CHECK(parent.error().category == ErrorCategory::invalid_argument);
  must_append(store, kAlice, "A/B", kMessage);
  REQUIRE(store.delete_mailbox(kAlice, "A/B").ok());
  REQUIRE(store.delete_mailbox(kAlice, "A").ok());
  CHECK(find_info(*store.list_mailboxes(kAlice), "A") == nullptr);
  CHECK(find_info(*store.list_mailboxes(kAlice), "A/B") == nullptr);
  auto missing = store.delete_mailbox(kAlice, "A");
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().category == ErrorCategory::not_found);
  CHECK(store.used_bytes(kAlice).value() == 0);
}

TEST_CASE_TEMPLATE("mail store: rename moves children, messages and subscriptions", F, STORE_FIXTURES) {
  F f;
  MailStore& store = f.store();
  REQUIRE(store.ensure_user(kAlice).ok());
  REQUIRE(store.create_mailbox(kAlice, "Work/Old").ok());
  REQUIRE(store.create_mailbox(kAlice, "Work-2").ok());
  REQUIRE(store.set_subscribed(kAlice, "Work/Old", true).ok());
  std::uint32_t uid = must_append(store, kAlice, "Work/Old", kMessage, {"\\Seen"});
  auto before = store.status(kAlice, "Work/Old");
  REQUIRE(before.ok());
  REQUIRE(store.rename_mailbox(kAlice, "Work", "Projects/Done").ok());
  auto list = store.list_mailboxes(kAlice);
  REQUIRE(list.ok());
  CHECK(find_info(*list, "Work") == nullptr);
  CHECK(find_info(*list, "Work/Old") == nullptr);
  CHECK(find_info(*list, "Work-2") != nullptr);
  REQUIRE(find_info(*list, "Projects") != nullptr);
  REQUIRE(find_info(*list, "Projects/Done") != nullptr);
  REQUIRE(find_info(*list, "Projects/Done/Old") != nullptr);
  CHECK(find_info(*list, "Projects/Done/Old")->subscribed);
  CHECK(uids_of(store, kAlice, "Projects/Done/Old") == std::vector<std::uint32_t>{uid});
  CHECK(store.status(kAlice, "Projects/Done/Old")->uid_validity == before->uid_validity);
  CHECK(store.read(kAlice, "Projects/Done/Old", uid).value() == kMessage);
  CHECK(store.messages(kAlice, "Projects/Done/Old")->front().flags == Flags{"\\Seen"});
}

TEST_CASE_TEMPLATE("mail store: rename refuses an existing target, a missing source and a move into itself", F,
                   STORE_FIXTURES) {
  F f;
  MailStore& store = f.store();
  REQUIRE(store.ensure_user(kAlice).ok());
  REQUIRE(store.create_mailbox(kAlice, "A").ok());
  auto exists = store.rename_mailbox(kAlice, "A", "Sent");
  REQUIRE_FALSE(exists.ok());
  CHECK(exists.error().category == ErrorCategory::exists);
  auto to_inbox = store.rename_mailbox(kAlice, "A", "inbox");
  REQUIRE_FALSE(to_inbox.ok());
  CHECK(to_inbox.error().category == ErrorCategory::exists);
  auto missing = store.rename_mailbox(kAlice, "Nope", "B");
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().category == ErrorCategory::not_found);
  auto inside = store.rename_mailbox(kAlice, "A", "A/B");
  REQUIRE_FALSE(inside.ok());
  CHECK(inside.error().category == ErrorCategory::invalid_argument);
  CHECK(find_info(*store.list_mailboxes(kAlice), "A") != nullptr);
}

TEST_CASE_TEMPLATE("mail store: renaming INBOX moves its messages and leaves INBOX empty", F, STORE_FIXTURES) {
  F f;
  MailStore& store = f.store();
  REQUIRE(store.ensure_user(kAlice).ok());
  must_append(store, kAlice, "INBOX", "Subject: one\r\n\r\n1\r\n", {"\\Flagged"}, 1000);
  must_append(store, kAlice, "INBOX", "Subject: two\r\n\r\n2\r\n", {}, 2000);
  std::uint32_t inbox_next = store.status(kAlice, "INBOX")->uid_next;
  REQUIRE(store.rename_mailbox(kAlice, "INBOX", "Old Inbox").ok());
  CHECK(store.status(kAlice, "INBOX")->messages == 0);
  CHECK(store.status(kAlice, "INBOX")->uid_next == inbox_next);
  auto moved = store.messages(kAlice, "Old Inbox");
  REQUIRE(moved.ok());
  REQUIRE(moved->size() == 2);
  CHECK((*moved)[0].flags == Flags{"\\Flagged"});
  CHECK((*moved)[0].internal_date_s == 1000);
  CHECK((*moved)[1].internal_date_s == 2000);
  CHECK(store.read(kAlice, "Old Inbox", (*moved)[1].uid).value() == "Subject: two\r\n\r\n2\r\n");
}

TEST_CASE_TEMPLATE("mail store: UIDs ascend and are never reused after expunge", F, STORE_FIXTURES) {
  F f;
  MailStore& store = f.store();
  REQUIRE(store.ensure_user(kAlice).ok());
  auto fresh = store.status(kAlice, "INBOX");
  REQUIRE(fresh.ok());
  CHECK(fresh->uid_next == 1);
  CHECK(fresh->uid_validity != 0);
  std::uint32_t a = must_append(store, kAlice, "INBOX", kMessage);
  std::uint32_t b = must_append(store, kAlice, "INBOX", kMessage);
  std::uint32_t c = must_append(store, kAlice, "INBOX", kMessage);
  CHECK(a == 1);
  CHECK(b == 2);
  CHECK(c == 3);
  std::uint32_t gone[] = {b, c, 99};
  REQUIRE(store.expunge(kAlice, "INBOX", gone).ok());
  CHECK(uids_of(store, kAlice, "INBOX") == std::vector<std::uint32_t>{a});
  std::uint32_t d = must_append(store, kAlice, "INBOX", kMessage);
  CHECK(d == 4);
  auto status = store.status(kAlice, "INBOX");
  CHECK(status->uid_next == 5);
  CHECK(status->messages == 2);
  CHECK(status->uid_validity == fresh->uid_validity);
  auto missing = store.read(kAlice, "INBOX", b);
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().category == ErrorCategory::not_found);
}

TEST_CASE_TEMPLATE("mail store: every mailbox has its own UIDVALIDITY and a re-created one gets a new value", F,
                   STORE_FIXTURES) {
  F f;
  MailStore& store = f.store();
  REQUIRE(store.ensure_user(kAlice).ok());
  REQUIRE(store.create_mailbox(kAlice, "Box").ok());
  std::uint32_t first = store.status(kAlice, "Box")->uid_validity;
  CHECK(first != store.status(kAlice, "INBOX")->uid_validity);
  must_append(store, kAlice, "Box", kMessage);
  REQUIRE(store.delete_mailbox(kAlice, "Box").ok());
  REQUIRE(store.create_mailbox(kAlice, "Box").ok());
  auto again = store.status(kAlice, "Box");
  CHECK(again->uid_validity > first);
  CHECK(again->uid_next == 1);
  CHECK(again->messages == 0);
}

TEST_CASE_TEMPLATE("mail store: flags round-trip sorted and canonical, unknown system flags are refused", F,
                   STORE_FIXTURES) {
  F f;
  MailStore& store = f.store();
  REQUIRE(store.ensure_user(kAlice).ok());
  std::uint32_t uid = must_append(store, kAlice, "INBOX", kMessage, {"\\seen", "$Label1", "\\DRAFT", "\\Seen"});
  CHECK(store.messages(kAlice, "INBOX")->front().flags == Flags{"$Label1", "\\Draft", "\\Seen"});
  Flags all = {"\\Answered", "\\Deleted", "\\Draft", "\\Flagged", "\\Seen", "$Forwarded", "NonJunk"};
  REQUIRE(store.set_flags(kAlice, "INBOX", uid, all).ok());
  CHECK(store.messages(kAlice, "INBOX")->front().flags ==
        Flags{"$Forwarded", "NonJunk", "\\Answered", "\\Deleted", "\\Draft", "\\Flagged", "\\Seen"});
  REQUIRE(store.set_flags(kAlice, "INBOX", uid, {}).ok());
  CHECK(store.messages(kAlice, "INBOX")->front().flags.empty());
  for (Flags bad : {Flags{"\\Recent"}, Flags{"\\Bogus"}, Flags{"two words"}, Flags{""}, Flags{"a]b"},
                    Flags{std::string(65, 'k')}}) {
    auto refused = store.set_flags(kAlice, "INBOX", uid, bad);
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.error().category == ErrorCategory::invalid_argument);
    CHECK_FALSE(store.append(kAlice, "INBOX", kMessage, bad, 0).ok());
  }
  auto unknown = store.set_flags(kAlice, "INBOX", 42, {"\\Seen"});
  REQUIRE_FALSE(unknown.ok());
  CHECK(unknown.error().category == ErrorCategory::not_found);
}

TEST_CASE_TEMPLATE("mail store: append normalises line ends to CRLF and size counts CRLF octets", F,
                   STORE_FIXTURES) {
  F f;
  MailStore& store = f.store();
  REQUIRE(store.ensure_user(kAlice).ok());
  std::string lf = "Subject: x\n\nline one\nline two\rthree\r\n";
  std::string crlf = "Subject: x\r\n\r\nline one\r\nline two\r\nthree\r\n";
  std::uint32_t uid = must_append(store, kAlice, "INBOX", lf, {}, 1700000000);
  CHECK(store.read(kAlice, "INBOX", uid).value() == crlf);
  auto meta = store.messages(kAlice, "INBOX")->front();
  CHECK(meta.size == crlf.size());
  CHECK(meta.internal_date_s == 1700000000);
  CHECK(store.used_bytes(kAlice).value() == crlf.size());
  std::string no_final_newline = "Subject: y\r\n\r\nno newline at end";
  std::uint32_t second = must_append(store, kAlice, "INBOX", no_final_newline);
  CHECK(store.read(kAlice, "INBOX", second).value() == no_final_newline);
  auto read_missing_box = store.read(kAlice, "Nope", uid);
  REQUIRE_FALSE(read_missing_box.ok());
  CHECK(read_missing_box.error().category == ErrorCategory::not_found);
  auto append_missing_box = store.append(kAlice, "Nope", kMessage, {}, 0);
  REQUIRE_FALSE(append_missing_box.ok());
  CHECK(append_missing_box.error().category == ErrorCategory::not_found);
}

TEST_CASE_TEMPLATE("mail store: copy keeps flags and internal date and gives a new UID in the target", F,
                   STORE_FIXTURES) {
  F f;
  MailStore& store = f.store();
  REQUIRE(store.ensure_user(kAlice).ok());
  must_append(store, kAlice, "Trash", kMessage);
  std::uint32_t uid = must_append(store, kAlice, "INBOX", kMessage, {"\\Answered", "$Work"}, 1234567890);
  auto copied = store.copy(kAlice, "INBOX", uid, "Trash");
  REQUIRE(copied.ok());
  CHECK(*copied == 2);
  auto meta = store.messages(kAlice, "Trash")->back();
  CHECK(meta.uid == 2);
  CHECK(meta.flags == Flags{"$Work", "\\Answered"});
  CHECK(meta.internal_date_s == 1234567890);
  CHECK(meta.size == std::string_view(kMessage).size());
  CHECK(store.read(kAlice, "Trash", 2).value() == kMessage);
  CHECK(uids_of(store, kAlice, "INBOX") == std::vector<std::uint32_t>{uid});
  auto to_missing = store.copy(kAlice, "INBOX", uid, "Nope");
  REQUIRE_FALSE(to_missing.ok());
  CHECK(to_missing.error().category == ErrorCategory::not_found);
  auto missing_uid = store.copy(kAlice, "INBOX", 77, "Trash");
  REQUIRE_FALSE(missing_uid.ok());
  CHECK(missing_uid.error().category == ErrorCategory::not_found);
}

TEST_CASE_TEMPLATE("mail store: append and copy fail with quota once the user's bytes would exceed it", F,
                   STORE_FIXTURES) {
  F f;
  MailStore& store = f.store();
  REQUIRE(store.ensure_user(kAlice).ok());
  std::string message(100, 'x');
  REQUIRE(store.set_limits(kAlice, {250}).ok());
  std::uint32_t first = must_append(store, kAlice, "INBOX", message);
  must_append(store, kAlice, "Sent", message);
  auto over = store.append(kAlice, "INBOX", message, {}, 0);
  REQUIRE_FALSE(over.ok());
  CHECK(over.error().category == ErrorCategory::quota);
  auto copy_over = store.copy(kAlice, "INBOX", first, "Trash");
  REQUIRE_FALSE(copy_over.ok());
  CHECK(copy_over.error().category == ErrorCategory::quota);
  CHECK(store.status(kAlice, "INBOX")->messages == 1);
  CHECK(store.status(kAlice, "Trash")->messages == 0);
  CHECK(store.used_bytes(kAlice).value() == 200);
  must_append(store, kAlice, "INBOX", std::string(50, 'y'));  // exactly at the quota
  std::uint32_t sent_first = store.messages(kAlice, "Sent")->front().uid;
  std::uint32_t gone[] = {sent_first};
  REQUIRE(store.expunge(kAlice, "Sent", gone).ok());
  must_append(store, kAlice, "INBOX", message);
  REQUIRE(store.set_limits(kAlice, {0}).ok());
  must_append(store, kAlice, "INBOX", std::string(10000, 'z'));
  auto unknown = store.set_limits(kBob, {1});
  REQUIRE_FALSE(unknown.ok());
  CHECK(unknown.error().category == ErrorCategory::not_found);
}

TEST_CASE_TEMPLATE("mail store: every bad name of catalogue row 39 is refused by every operation", F,
                   STORE_FIXTURES) {
  F f;
  MailStore& store = f.store();
  REQUIRE(store.ensure_user(kAlice).ok());
  REQUIRE(store.ensure_user(kBob).ok());
  std::uint32_t uid = must_append(store, kAlice, "INBOX", kMessage);
  const std::string bad_names[] = {
      "../bob",       "..",           "a/../../x",   "/etc",   "~root",        "a/~b",
      "a//b",         "a/",           ".",           "a/./b",  "cur",          "new",
      "tmp",          "a/cur",        "",            "*",      "a%",           std::string("a\0b", 3),
      "a\tb",         "a\x7f",        "a\r\nb",      "\xff",   "\xc0\xaf..",   "\xed\xa0\x80",
      "a\xc2\x85",    std::string(256, 'x'),         "../../bob@lab.test/INBOX"};
  for (const std::string& bad : bad_names) {
    INFO("name: ", bad);
    auto expect_invalid = [&](const auto& result) {
      REQUIRE_FALSE(result.ok());
      CHECK(result.error().category == ErrorCategory::invalid_argument);
    };
    expect_invalid(store.create_mailbox(kAlice, bad));
    expect_invalid(store.delete_mailbox(kAlice, bad));
    expect_invalid(store.rename_mailbox(kAlice, bad, "Fine"));
    expect_invalid(store.rename_mailbox(kAlice, "Sent", bad));
    expect_invalid(store.status(kAlice, bad));
    expect_invalid(store.messages(kAlice, bad));
    expect_invalid(store.read(kAlice, bad, uid));
    expect_invalid(store.append(kAlice, bad, kMessage, {}, 0));
    expect_invalid(store.set_flags(kAlice, bad, uid, {}));
    expect_invalid(store.expunge(kAlice, bad, std::span<const std::uint32_t>{&uid, 1}));
    expect_invalid(store.copy(kAlice, "INBOX", uid, bad));
    expect_invalid(store.copy(kAlice, bad, uid, "INBOX"));
    expect_invalid(store.set_subscribed(kAlice, bad, true));
  }
  CHECK(store.create_mailbox(kAlice, std::string(200, 'x')).ok());
  CHECK(names_of(store, kAlice).size() == 6);
  CHECK(names_of(store, kBob).size() == 5);
  CHECK(store.status(kAlice, "INBOX")->messages == 1);
}

TEST_CASE_TEMPLATE("mail store: one user cannot reach another user's mail", F, STORE_FIXTURES) {
  F f;
  MailStore& store = f.store();
  REQUIRE(store.ensure_user(kAlice).ok());
  REQUIRE(store.ensure_user(kBob).ok());
  REQUIRE(store.create_mailbox(kBob, "Secret").ok());
  std::uint32_t uid = must_append(store, kBob, "INBOX", "Subject: bob only\r\n\r\nx\r\n");
  CHECK(uids_of(store, kAlice, "INBOX").empty());
  auto read = store.read(kAlice, "INBOX", uid);
  REQUIRE_FALSE(read.ok());
  CHECK(read.error().category == ErrorCategory::not_found);
  CHECK(find_info(*store.list_mailboxes(kAlice), "Secret") == nullptr);
  auto secret = store.status(kAlice, "Secret");
  REQUIRE_FALSE(secret.ok());
  CHECK(secret.error().category == ErrorCategory::not_found);
  for (const char* bad : {"../bob@lab.test/INBOX", "~bob/INBOX", "../bob", "../../lab.test/bob"}) {
    CHECK_FALSE(store.status(kAlice, bad).ok());
  }
  for (const char* impostor : {"alice@lab.test/../bob", "bob/../alice@lab.test", "../bob@lab.test"}) {
    CHECK_FALSE(store.read(impostor, "INBOX", uid).ok());
  }
  CHECK(store.read(kBob, "INBOX", uid).ok());
  CHECK(store.used_bytes(kAlice).value() == 0);
}

TEST_CASE_TEMPLATE("mail store: change_counter and the mailbox modseq bump on every change", F, STORE_FIXTURES) {
  F f;
  MailStore& store = f.store();
  std::uint64_t counter = store.change_counter();
  auto bumped = [&] {
    std::uint64_t now = store.change_counter();
    bool grew = now > counter;
    counter = now;
    return grew;
  };
  REQUIRE(store.ensure_user(kAlice).ok());
  CHECK(bumped());
  std::uint64_t modseq = store.status(kAlice, "INBOX")->modseq;
  auto modseq_bumped = [&] {
    std::uint64_t now = store.status(kAlice, "INBOX")->modseq;
    bool grew = now > modseq;
    modseq = now;
    return grew;
  };
  std::uint32_t uid = must_append(store, kAlice, "INBOX", kMessage);
  CHECK(bumped());
  CHECK(modseq_bumped());
  REQUIRE(store.set_flags(kAlice, "INBOX", uid, {"\\Seen"}).ok());
  CHECK(bumped());
  CHECK(modseq_bumped());
  REQUIRE(store.create_mailbox(kAlice, "X").ok());
  CHECK(bumped());
  REQUIRE(store.set_subscribed(kAlice, "X", true).ok());
  CHECK(bumped());
  REQUIRE(store.copy(kAlice, "INBOX", uid, "X").ok());
  CHECK(bumped());
  REQUIRE(store.rename_mailbox(kAlice, "X", "Y").ok());
  CHECK(bumped());
  REQUIRE(store.delete_mailbox(kAlice, "Y").ok());
  CHECK(bumped());
  std::uint32_t gone[] = {uid};
  REQUIRE(store.expunge(kAlice, "INBOX", gone).ok());
  CHECK(bumped());
  CHECK(modseq_bumped());
  auto listed = store.list_mailboxes(kAlice);
  REQUIRE(listed.ok());
  CHECK(store.status(kAlice, "INBOX").ok());
  CHECK_FALSE(bumped());
  CHECK_FALSE(modseq_bumped());
}

TEST_CASE_TEMPLATE("mail store: status counts messages and unseen ones", F, STORE_FIXTURES) {
  F f;
  MailStore& store = f.store();
  REQUIRE(store.ensure_user(kAlice).ok());
  std::uint32_t a = must_append(store, kAlice, "INBOX", kMessage);
  must_append(store, kAlice, "INBOX", kMessage, {"\\Seen"});
  must_append(store, kAlice, "INBOX", kMessage, {"\\Flagged"});
  auto status = store.status(kAlice, "INBOX");
  REQUIRE(status.ok());
  CHECK(status->messages == 3);
  CHECK(status->unseen == 2);
  CHECK(status->uid_next == 4);
  REQUIRE(store.set_flags(kAlice, "INBOX", a, {"\\Seen"}).ok());
  CHECK(store.status(kAlice, "INBOX")->unseen == 1);
}

TEST_CASE_TEMPLATE("mail store: subscriptions are names and may outlive their mailbox", F, STORE_FIXTURES) {
  F f;
  MailStore& store = f.store();
  REQUIRE(store.ensure_user(kAlice).ok());
  REQUIRE(store.create_mailbox(kAlice, "Lists/dev").ok());
  REQUIRE(store.set_subscribed(kAlice, "Lists/dev", true).ok());
  REQUIRE(store.set_subscribed(kAlice, "Sent", false).ok());
  REQUIRE(store.set_subscribed(kAlice, "Not/Yet", true).ok());
  auto list = store.list_mailboxes(kAlice);
  CHECK(find_info(*list, "Lists/dev")->subscribed);
  CHECK_FALSE(find_info(*list, "Lists")->subscribed);
  CHECK_FALSE(find_info(*list, "Sent")->subscribed);
  CHECK(find_info(*list, "Not/Yet") == nullptr);
  REQUIRE(store.delete_mailbox(kAlice, "Lists/dev").ok());
  REQUIRE(store.create_mailbox(kAlice, "Lists/dev").ok());
  CHECK(find_info(*store.list_mailboxes(kAlice), "Lists/dev")->subscribed);
  REQUIRE(store.create_mailbox(kAlice, "Not/Yet").ok());
  CHECK(find_info(*store.list_mailboxes(kAlice), "Not/Yet")->subscribed);
}
