// FETCH and SEARCH without needless work: the shared summary cache, one read
// per message, no message listing while the mailbox is unchanged.
#include <doctest/doctest.h>

#include "imap_test_support.hpp"
#include "net/imap/imap_summary.hpp"

using namespace maillab;
using namespace maillab::net::imap;
using maillab::test::kSimpleMessage;
using maillab::test::Session;
using maillab::test::World;
using net::mail::Flags;

namespace {

bool has(const std::string& hay, const std::string& needle) { return hay.find(needle) != std::string::npos; }

std::size_t count_of(const std::string& hay, const std::string& needle) {
  std::size_t n = 0;
  for (auto at = hay.find(needle); at != std::string::npos; at = hay.find(needle, at + 1)) ++n;
  return n;
}

// A MemoryStore that counts the calls FETCH and SEARCH should avoid.
class CountingStore final : public net::mail::MailStore {
 public:
  sim::MemoryStore inner;
  mutable int reads = 0;
  mutable int listings = 0;

  Result<void> ensure_user(std::string_view u) override { return inner.ensure_user(u); }
  bool has_user(std::string_view u) const override { return inner.has_user(u); }
  Result<void> set_limits(std::string_view u, net::mail::StoreLimits l) override { return inner.set_limits(u, l); }
  Result<std::uint64_t> used_bytes(std::string_view u) const override { return inner.used_bytes(u); }
  Result<std::vector<net::mail::MailboxInfo>> list_mailboxes(std::string_view u) const override {
    return inner.list_mailboxes(u);
  }
  Result<void> create_mailbox(std::string_view u, std::string_view n) override { return inner.create_mailbox(u, n); }
  Result<void> delete_mailbox(std::string_view u, std::string_view n) override { return inner.delete_mailbox(u, n); }
  Result<void> rename_mailbox(std::string_view u, std::string_view f, std::string_view t) override {
    return inner.rename_mailbox(u, f, t);
  }
  Result<void> set_subscribed(std::string_view u, std::string_view n, bool s) override {
    return inner.set_subscribed(u, n, s);
  }
  Result<net::mail::MailboxStatus> status(std::string_view u, std::string_view m) const override {
    return inner.status(u, m);
  }
  Result<std::vector<net::mail::MessageMeta>> messages(std::string_view u, std::string_view m) const override {
    ++listings;
    return inner.messages(u, m);
  }
  Result<std::string> read(std::string_view u, std::string_view m, std::uint32_t uid) const override {
    ++reads;
    return inner.read(u, m, uid);
  }
  Result<std::uint32_t> append(std::string_view u, std::string_view m, std::string_view d, const Flags& f,
                               std::int64_t t) override {
    return inner.append(u, m, d, f, t);
  }
  Result<void> set_flags(std::string_view u, std::string_view m, std::uint32_t uid, const Flags& f) override {
    return inner.set_flags(u, m, uid, f);
  }
  Result<void> expunge(std::string_view u, std::string_view m, std::span<const std::uint32_t> uids) override {
    return inner.expunge(u, m, uids);
  }
  Result<std::uint32_t> copy(std::string_view u, std::string_view f, std::uint32_t uid, std::string_view t) override {
    return inner.copy(u, f, uid, t);
  }
  std::uint64_t change_counter() const override { return inner.change_counter(); }
};

struct Engine {
  CountingStore& store;
  maillab::test::Users users;
  std::unique_ptr<ImapServer> server;
  explicit Engine(CountingStore& s) : store(s) {
    server = std::make_unique<ImapServer>(maillab::test::open_config(), users, store, Instant{});
    (void)server->poll_transmit();
  }
  std::string cmd(const std::string& line) {
    server->handle_bytes(Instant{}, line + "\r\n");
    return server->poll_transmit();
  }
};

std::string message_number(int i) {
  return "From: Sender " + std::to_string(i) + " <s" + std::to_string(i) + "@lab.test>\r\nTo: alice@lab.test\r\n"
         "Subject: note " + std::to_string(i) + "\r\nMessage-ID: <n" + std::to_string(i) + "@lab.test>\r\n\r\n"
         "Body of note " + std::to_string(i) + (i % 3 == 0 ? " with a Quetzal in it" : "") + ".\r\n";
}

}  // namespace

TEST_CASE("imap summaries: a second session's ENVELOPE and BODYSTRUCTURE come from the cache, byte for byte") {
  CountingStore store;
  REQUIRE(store.ensure_user("alice@lab.test").ok());
  for (int i = 0; i < 12; ++i) REQUIRE(store.append("alice@lab.test", "INBOX", message_number(i), {}, 1770000000).ok());
  Engine first(store);
  first.cmd("L LOGIN alice@lab.test alice-secret");
  first.cmd("S SELECT INBOX");
  std::string cold = first.cmd("F UID FETCH 1:* (FLAGS RFC822.SIZE ENVELOPE BODYSTRUCTURE)");
  CHECK(count_of(cold, " FETCH (UID ") == 12);
  CHECK(has(cold, "ENVELOPE (NIL \"note 7\" ((\"Sender 7\" NIL \"s7\" \"lab.test\"))"));
  CHECK(store.reads == 12);
  CHECK(SummaryCache::of(store).bytes() > 0);

  Engine second(store);
  second.cmd("L LOGIN alice@lab.test alice-secret");
  second.cmd("S SELECT INBOX");
  std::string warm = second.cmd("F UID FETCH 1:* (FLAGS RFC822.SIZE ENVELOPE BODYSTRUCTURE)");
  CHECK(store.reads == 12);  // nothing read again
  CHECK(warm == cold);
  CHECK(has(second.cmd("B FETCH 3 BODY"), "BODY (\"TEXT\" \"PLAIN\" (\"CHARSET\" \"us-ascii\") NIL NIL \"7BIT\""));
  CHECK(store.reads == 12);
}

TEST_CASE("imap summaries: whole-message, header and text sections read each message once") {
  CountingStore store;
  REQUIRE(store.ensure_user("alice@lab.test").ok());
  for (int i = 0; i < 5; ++i) REQUIRE(store.append("alice@lab.test", "INBOX", message_number(i), {}, 1770000000).ok());
  Engine e(store);
  e.cmd("L LOGIN alice@lab.test alice-secret");
  e.cmd("S SELECT INBOX");
  std::string m = message_number(2);
  auto out = e.cmd("F FETCH 3 (RFC822.SIZE BODY.PEEK[] BODY.PEEK[HEADER] BODY.PEEK[TEXT]<5.7> "
                   "BODY.PEEK[HEADER.FIELDS (SUBJECT)])");
  auto split = m.find("\r\n\r\n") + 4;
  CHECK(has(out, "RFC822.SIZE " + std::to_string(m.size()) + " BODY[] {" + std::to_string(m.size()) + "}\r\n" + m +
                     " BODY[HEADER] {" + std::to_string(split) + "}\r\n" + m.substr(0, split) +
                     " BODY[TEXT]<5> {7}\r\n" + m.substr(split + 5, 7) +
                     " BODY[HEADER.FIELDS (SUBJECT)] {19}\r\nSubject: note 2\r\n\r\n)\r\n"));
  CHECK(store.reads == 1);
  e.cmd("A FETCH 1:* (FLAGS UID RFC822.SIZE INTERNALDATE)");
  CHECK(store.reads == 1);  // metadata only: nothing read
}

TEST_CASE("imap summaries: commands on an unchanged mailbox do not list its messages again") {
  CountingStore store;
  REQUIRE(store.ensure_user("alice@lab.test").ok());
  REQUIRE(store.append("alice@lab.test", "INBOX", kSimpleMessage, {}, 1770000000).ok());
  Engine e(store);
  e.cmd("L LOGIN alice@lab.test alice-secret");
  e.cmd("S SELECT INBOX");
  int after_select = store.listings;
  for (int i = 0; i < 5; ++i) CHECK(has(e.cmd("N NOOP"), "N OK"));
  e.cmd("F FETCH 1 FLAGS");
  CHECK(store.listings == after_select);
  REQUIRE(store.append("alice@lab.test", "INBOX", kSimpleMessage, {}, 1770000001).ok());
  CHECK(has(e.cmd("N NOOP"), "* 2 EXISTS"));
  REQUIRE(store.set_flags("alice@lab.test", "INBOX", 1, {"\\Flagged"}).ok());
  CHECK(has(e.cmd("N NOOP"), "* 1 FETCH (UID 1 FLAGS (\\Flagged))"));
  int settled = store.listings;
  CHECK_FALSE(has(e.cmd("N NOOP"), "FETCH"));
  CHECK(store.listings == settled);
}

TEST_CASE("imap summaries: SEARCH TEXT and BODY match any case, at either end, with overlapping prefixes") {
  World w;
  w.deliver("alice@lab.test", "Subject: a\r\n\r\naaab\r\n");
  w.deliver("alice@lab.test", "Subject: b\r\n\r\nQUETZAL at the start\r\n");
  w.deliver("alice@lab.test", "Subject: c\r\n\r\nends with quetZal");
  w.deliver("alice@lab.test", "Subject: quetzal\r\n\r\nnothing here\r\n");
  w.deliver("alice@lab.test", "Subject: e\r\n\r\nquetza l\r\n");
  Session s(w);
  s.login();
  s.cmd("S SELECT INBOX");
  CHECK(has(s.cmd("A SEARCH TEXT aab"), "* SEARCH 1\r\n"));
  CHECK(has(s.cmd("B SEARCH TEXT Quetzal"), "* SEARCH 2 3 4\r\n"));
  CHECK(has(s.cmd("C SEARCH BODY quetzal"), "* SEARCH 2 3\r\n"));
  CHECK(has(s.cmd("D SEARCH TEXT \"ZAL AT THE\""), "* SEARCH 2\r\n"));
  CHECK(has(s.cmd("E SEARCH TEXT \"\""), "* SEARCH 1 2 3 4 5\r\n"));
  CHECK(has(s.cmd("F SEARCH BODY \"subject\""), "* SEARCH\r\n"));
}

TEST_CASE("imap summaries: an entry made from a message of another size is not used; the byte bound empties the cache") {
  SummaryCache cache(1000);
  cache.add("alice@lab.test", "INBOX", 7, 1, MessageSummary{10, "(env)", "(bs)", "(b)"});
  const auto* table = cache.table("alice@lab.test", "INBOX", 7);
  REQUIRE(table != nullptr);
  CHECK(SummaryCache::find(table, 1, 10)->envelope == "(env)");
  CHECK(SummaryCache::find(table, 1, 11) == nullptr);
  CHECK(SummaryCache::find(table, 2, 10) == nullptr);
  CHECK(cache.table("alice@lab.test", "INBOX", 8) == nullptr);
  CHECK(cache.table("bob@lab.test", "INBOX", 7) == nullptr);
  cache.add("alice@lab.test", "INBOX", 7, 2, MessageSummary{10, std::string(900, 'x'), "", ""});
  CHECK(cache.bytes() < 1000);
  table = cache.table("alice@lab.test", "INBOX", 7);
  REQUIRE(table != nullptr);
  CHECK(SummaryCache::find(table, 1, 10) == nullptr);  // emptied to make room
  CHECK(SummaryCache::find(table, 2, 10) != nullptr);
}

TEST_CASE("imap summaries: a large FETCH comes out in slices, and a pipelined command waits behind it") {
  World w;
  std::string big = "Subject: big\r\n\r\n";
  for (int line = 0; line < 300; ++line) big += std::string(70, static_cast<char>('a' + line % 26)) + "\r\n";
  for (int i = 0; i < 40; ++i) w.deliver("alice@lab.test", big);
  Session s(w);
  s.login();
  s.cmd("S SELECT INBOX");
  std::string first = s.send("F FETCH 1:* BODY.PEEK[]\r\nN NOOP\r\n");
  CHECK(first.size() < 40 * big.size() / 2);
  CHECK_FALSE(has(first, "F OK"));
  CHECK(s.server->poll_timeout() <= s.now);  // more to write: due at once
  std::string all = first;
  int steps = 1;
  for (int odd = 0;; ++odd) {
    std::string more;
    if (odd % 2 == 0) {
      more = s.server->poll_transmit();
    } else {
      s.server->handle_timeout(s.now);
      more = s.server->poll_transmit();
    }
    if (more.empty()) break;
    all += more;
    ++steps;
  }
  CHECK(steps > 2);
  CHECK(count_of(all, "BODY[] {" + std::to_string(big.size()) + "}\r\n" + big + ")\r\n") == 40);
  auto done = all.find("F OK FETCH completed");
  REQUIRE(done != std::string::npos);
  CHECK(all.find("N OK") > done);
  CHECK(all.rfind("* 40 FETCH") < done);
  CHECK(s.server->poll_timeout() > s.now);
}
