#include <doctest/doctest.h>

#include <string>

#include "ui/model/lesson.hpp"
#include "ui/model/message_view.hpp"
#include "ui/model/run_lesson.hpp"
#include "ui/model/snapshot.hpp"

using namespace maillab::ui;

namespace {

TraceEvent line(double t, std::string src, std::string dst, std::string proto, char dir, std::string text,
                std::string msg = {}) {
  TraceEvent event;
  event.t = t;
  event.kind = EventKind::line;
  event.src = std::move(src);
  event.dst = std::move(dst);
  event.proto = std::move(proto);
  event.dir = dir;
  event.text = std::move(text);
  event.msg = std::move(msg);
  return event;
}

TraceEvent connect(double t, std::string src, std::string dst, std::string proto, std::string msg = {}) {
  TraceEvent event;
  event.t = t;
  event.kind = EventKind::connect;
  event.src = std::move(src);
  event.dst = std::move(dst);
  event.proto = std::move(proto);
  event.msg = std::move(msg);
  return event;
}

// Same state, field by field, as the snapshot from scratch.
void check_same(const Snapshot& a, const Snapshot& b) {
  CHECK(a.cursor == b.cursor);
  REQUIRE(a.open_links.size() == b.open_links.size());
  for (std::size_t i = 0; i < a.open_links.size(); ++i) {
    CHECK(a.open_links[i].opened == b.open_links[i].opened);
    CHECK(a.open_links[i].last_event == b.open_links[i].last_event);
  }
  CHECK(a.queues.size() == b.queues.size());
  CHECK(a.mailboxes == b.mailboxes);
  CHECK(a.dns_events == b.dns_events);
  CHECK(a.messages.size() == b.messages.size());
  CHECK(a.down == b.down);
  REQUIRE(a.hosts.size() == b.hosts.size());
  for (std::size_t i = 0; i < a.hosts.size(); ++i) CHECK(a.hosts[i].down == b.hosts[i].down);
}

}  // namespace

TEST_CASE("snapshot: an SMTP session closes at 221 after QUIT, IMAP at the tagged OK after LOGOUT") {
  Trace trace;
  REQUIRE(trace.append(connect(0, "pc", "mta", "submission", "m1")));
  REQUIRE(trace.append(line(0.1, "mta", "pc", "submission", 'S', "220 mta ESMTP")));
  REQUIRE(trace.append(line(0.2, "pc", "mta", "submission", 'C', "QUIT")));
  REQUIRE(trace.append(connect(0.25, "pc", "mta", "imap")));
  REQUIRE(trace.append(line(0.3, "mta", "pc", "submission", 'S', "221 2.0.0 Bye")));
  REQUIRE(trace.append(line(0.4, "pc", "mta", "imap", 'C', "a5 LOGOUT")));
  REQUIRE(trace.append(line(0.5, "mta", "pc", "imap", 'S', "* BYE logging out")));
  REQUIRE(trace.append(line(0.6, "mta", "pc", "imap", 'S', "a5 OK LOGOUT completed")));

  CHECK(snapshot_at(trace, 3).open_links.size() == 1);  // QUIT sent, 221 not yet
  CHECK(snapshot_at(trace, 3).open_links[0].closing);
  const auto after_221 = snapshot_at(trace, 5);
  REQUIRE(after_221.open_links.size() == 1);
  CHECK(after_221.open_links[0].proto == "imap");
  CHECK(snapshot_at(trace, 7).open_links.size() == 1);  // "* BYE" is untagged: not the end yet
  CHECK(snapshot_at(trace, 8).open_links.empty());
}

TEST_CASE("snapshot: two connections between the same hosts are two envelopes; an SMTP 421 ends the newest") {
  Trace trace;
  REQUIRE(trace.append(connect(0, "mta", "mx", "smtp", "m1")));
  REQUIRE(trace.append(connect(0.1, "mta", "mx", "smtp", "m2")));
  REQUIRE(trace.append(line(0.2, "mx", "mta", "smtp", 'S', "421 4.3.2 shutting down")));
  const auto two = snapshot_at(trace, 2);
  REQUIRE(two.open_links.size() == 2);
  CHECK(two.open_links[0].msg == "m1");
  CHECK(two.open_links[1].msg == "m2");
  const auto one = snapshot_at(trace, 3);
  REQUIRE(one.open_links.size() == 1);
  CHECK(one.open_links[0].msg == "m1");
}

TEST_CASE("snapshot cache: every cursor, forward, backward and jumping, equals the snapshot from scratch") {
  const auto run = run_lesson(std::string(MAILLAB_SOURCE_DIR) + "/scenarios/03-mx-fallback.toml", Lang::en);
  REQUIRE(run.errors.empty());
  auto parsed = parse_trace(run.trace_jsonl);
  REQUIRE(parsed.ok());
  const auto& trace = *parsed;
  const std::size_t n = trace.events.size();
  REQUIRE(n > 50);
  SnapshotCache cache;
  for (std::size_t c = 0; c <= n; c += 7) check_same(cache.at(trace, c), snapshot_at(trace, c));
  for (std::size_t c = n + 1; c-- > 0;) {
    if (c % 11 == 0) check_same(cache.at(trace, c), snapshot_at(trace, c));
  }
  for (const std::size_t c : {n, std::size_t{0}, n / 2, n / 3, n, std::size_t{1}}) {
    check_same(cache.at(trace, c), snapshot_at(trace, c));
  }
}

TEST_CASE("snapshot cache: playing forward applies each event once; going back costs at most one checkpoint interval") {
  Trace trace;
  const std::size_t n = SnapshotCache::checkpoint_interval * 3 + 100;
  for (std::size_t i = 0; i < n; ++i) {
    REQUIRE(trace.append(line(static_cast<double>(i) * 0.001, "a", "b", "smtp", 'C', "NOOP")));
  }
  SnapshotCache cache;
  for (std::size_t c = 0; c <= n; c += 50) cache.at(trace, c);
  CHECK(cache.events_applied() == n - n % 50);
  const auto before = cache.events_applied();
  cache.at(trace, n - 10);
  CHECK(cache.events_applied() - before <= SnapshotCache::checkpoint_interval);
  CHECK(cache.at(trace, 5).cursor == 5);
}

TEST_CASE("snapshot cache: a growing trace (live mode) extends the hosts and the snapshot") {
  Trace trace;
  SnapshotCache cache;
  REQUIRE(trace.append(connect(0, "pc", "mta", "submission")));
  CHECK(cache.at(trace, 1).hosts.size() == 2);
  REQUIRE(trace.append(connect(1, "mta", "mx", "smtp")));
  const auto& grown = cache.at(trace, 2);
  REQUIRE(grown.hosts.size() == 3);
  CHECK(grown.hosts[2].name == "mx");
  CHECK(grown.hosts[2].roles.count(Role::mx) == 1);
  CHECK(grown.open_links.size() == 2);
  CHECK_FALSE(trace.append(connect(0.5, "late", "mta", "smtp")));  // time never goes back
}

TEST_CASE("lesson indexes grow with the trace and the indexed message view equals the full walk") {
  const auto run = run_lesson(std::string(MAILLAB_SOURCE_DIR) + "/scenarios/01-basics.toml", Lang::en);
  REQUIRE(run.errors.empty());
  auto parsed = parse_trace(run.trace_jsonl);
  REQUIRE(parsed.ok());
  Lesson lesson;
  const auto all = std::move(parsed).value();
  const std::size_t half = all.events.size() / 2;
  for (std::size_t i = 0; i < half; ++i) REQUIRE(lesson.trace.append(all.events[i]));
  index_lesson(lesson);
  const auto lines_half = lesson.lines.size();
  for (std::size_t i = half; i < all.events.size(); ++i) REQUIRE(lesson.trace.append(all.events[i]));
  index_lesson(lesson);
  CHECK(lesson.lines.size() > lines_half);
  Lesson whole;
  whole.trace = all;
  index_lesson(whole);
  CHECK(lesson.lines == whole.lines);
  CHECK(lesson.events_by_message == whole.events_by_message);

  REQUIRE_FALSE(all.messages.empty());
  const auto& msg = all.messages.front();
  for (const std::size_t cursor : {std::size_t{0}, half, all.events.size()}) {
    const auto full = message_view(all, msg, cursor);
    const auto fast = message_view(all, msg, cursor, whole.events_by_message.at(msg));
    CHECK(full.mail_from == fast.mail_from);
    CHECK(full.rcpt_to == fast.rcpt_to);
    CHECK(full.raw == fast.raw);
    CHECK(full.received == fast.received);
  }
  CHECK_FALSE(message_view(all, msg, all.events.size(), whole.events_by_message.at(msg)).raw.empty());
}

TEST_CASE("lesson 01 at the screenshot moment: one envelope (m1) on alice's submission, nothing delivered yet") {
  // tests/ui/screenshot_check.py photographs every panel at this moment and
  // looks for m1's colour on the topology, the message inspector and the routes.
  const auto run = run_lesson(std::string(MAILLAB_SOURCE_DIR) + "/scenarios/01-basics.toml", Lang::en);
  REQUIRE(run.errors.empty());
  auto parsed = parse_trace(run.trace_jsonl);
  REQUIRE(parsed.ok());
  const auto& trace = *parsed;
  SnapshotCache cache;
  const auto& at = cache.at(trace, trace.index_at(60.014));
  REQUIRE(at.open_links.size() == 1);
  CHECK(at.open_links[0].src == "alice-pc");
  CHECK(at.open_links[0].proto == "submission");
  CHECK(at.open_links[0].msg == "m1@lab.test");
  CHECK(trace.message_index("m1@lab.test") == 0);  // message_colour(0) in the screenshot
  CHECK(trace.events[at.open_links[0].last_event].text.starts_with("RCPT TO:"));
  CHECK(at.dns_events.size() == 2);
  CHECK(at.mailboxes.empty());
  CHECK(at.messages.count("m1@lab.test") == 1);
  // Two seconds later the session has said goodbye and m1 is in bob's mailbox.
  const auto& later = cache.at(trace, trace.index_at(62));
  CHECK(later.open_links.empty());
  REQUIRE(later.mailboxes.count("bob@lab.test") == 1);
  CHECK(later.mailboxes.at("bob@lab.test") == std::vector<std::string>{"m1@lab.test"});
}
