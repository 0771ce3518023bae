#include <doctest/doctest.h>

#include <cmath>

#include "sim/trace.hpp"
#include "ui/model/live.hpp"
#include "ui/model/snapshot.hpp"

using namespace maillab::ui;
namespace sim = maillab::sim;

namespace {

sim::TraceEvent at(double seconds, sim::TraceKind kind, std::string src, std::string dst, std::string proto, char dir,
                   std::string text, std::string msg = {}) {
  const maillab::Instant t{std::llround(seconds * 1e6)};
  return sim::TraceEvent(t, kind, std::move(src), std::move(dst), std::move(proto), dir, std::move(text), false,
                         std::move(msg));
}

// What the lab server's world hears when swaks submits one message to bob.
void swaks_session(LiveFeed& feed) {
  feed.add(at(1.0, sim::TraceKind::connect, "127.0.0.1:40000", "mail.lab.test", "smtp", 0, ""));
  feed.add(at(1.001, sim::TraceKind::line, "mail.lab.test", "127.0.0.1:40000", "smtp", 'S', "220 mail.lab.test ESMTP"));
  feed.add(at(1.002, sim::TraceKind::line, "127.0.0.1:40000", "mail.lab.test", "smtp", 'C', "EHLO swaks"));
  feed.add(at(1.003, sim::TraceKind::line, "mail.lab.test", "127.0.0.1:40000", "smtp", 'S', "250 mail.lab.test"));
  auto deliver = at(1.2, sim::TraceKind::deliver, "mail.lab.test", "bob@lab.test", "local", 0, "", "m1@swaks");
  deliver.user = "bob@lab.test";
  feed.add(deliver);
}

}  // namespace

TEST_CASE("live: events heard from the world reach the lesson at the next frame, indexed for the panels") {
  LiveFeed feed;
  Lesson lesson;
  swaks_session(feed);
  CHECK(feed.waiting() == 5);
  CHECK(lesson.trace.events.empty());
  CHECK(feed.drain_into(lesson) == 5);
  CHECK(feed.waiting() == 0);
  REQUIRE(lesson.trace.events.size() == 5);
  CHECK(lesson.lines.size() == 3);
  CHECK(lesson.events_by_message.at("m1@swaks").size() == 1);
  CHECK(lesson.trace.hosts.front() == "127.0.0.1:40000");
  CHECK(feed.sessions_seen() == 1);
  CHECK(feed.deliveries_seen() == 1);
  const auto* last = feed.last_line(lesson, "127.0.0.1:40000");
  REQUIRE(last != nullptr);
  CHECK(last->text == "250 mail.lab.test");
  CHECK(feed.last_line(lesson, "127.0.0.1:1") == nullptr);

  // The mailbox panel at the end shows the message in bob's mailbox.
  SnapshotCache cache;
  const auto& snapshot = cache.at(lesson.trace, lesson.trace.events.size());
  REQUIRE(snapshot.mailboxes.count("bob@lab.test") == 1);
  CHECK(snapshot.mailboxes.at("bob@lab.test").size() == 1);
}

TEST_CASE("live: an event stamped before the last one is kept, at the last one's time") {
  LiveFeed feed;
  Lesson lesson;
  feed.add(at(2.0, sim::TraceKind::connect, "127.0.0.1:1", "mail.lab.test", "imap", 0, ""));
  feed.add(at(1.5, sim::TraceKind::line, "mail.lab.test", "127.0.0.1:1", "imap", 'S', "* OK ready"));
  CHECK(feed.drain_into(lesson) == 2);
  REQUIRE(lesson.trace.events.size() == 2);
  CHECK(lesson.trace.events[1].t == doctest::Approx(2.0));
}

TEST_CASE("live: the playhead follows the present until the teacher moves it, and playing on catches up") {
  LiveFeed feed;
  Lesson lesson;
  ViewState view;
  follow_now(view, lesson.trace, 0.5);
  CHECK(view.following);
  CHECK(view.time == doctest::Approx(0.5));

  swaks_session(feed);
  feed.drain_into(lesson);
  advance_live(view, lesson.trace, 0.016, 3.0);
  CHECK(view.following);
  CHECK(view.cursor == lesson.trace.events.size());
  CHECK(view.time == doctest::Approx(3.0));  // the present, later than the last event

  // The teacher scrubs back to the greeting: the playhead stays there while
  // the trace grows.
  seek(view, lesson.trace, 1.001);
  advance_live(view, lesson.trace, 0.016, 3.5);
  CHECK_FALSE(view.following);
  CHECK(view.cursor == 2);
  feed.add(at(3.6, sim::TraceKind::close, "127.0.0.1:40000", "mail.lab.test", "smtp", 0, ""));
  feed.drain_into(lesson);
  advance_live(view, lesson.trace, 0.016, 3.7);
  CHECK(view.cursor == 2);

  // Play at 100x: it replays up to the last event, then follows again.
  view.playing = true;
  view.speed = 100;
  advance_live(view, lesson.trace, 0.001, 3.8);
  CHECK_FALSE(view.following);
  CHECK(view.cursor == 4);  // 1.001 + 0.1 s: the EHLO and its 250 have happened
  advance_live(view, lesson.trace, 1.0, 3.9);
  CHECK(view.following);
  CHECK_FALSE(view.playing);
  CHECK(view.cursor == lesson.trace.events.size());
  CHECK(view.time == doctest::Approx(3.9));

  // Stepping a line moves the playhead too; Follow now comes back.
  step_back(view, lesson.trace);
  advance_live(view, lesson.trace, 0.016, 4.0);
  CHECK_FALSE(view.following);
  follow_now(view, lesson.trace, 4.1);
  advance_live(view, lesson.trace, 0.016, 4.2);
  CHECK(view.following);
  CHECK(view.time == doctest::Approx(4.2));
}
