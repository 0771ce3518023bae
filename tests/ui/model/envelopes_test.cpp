#include <doctest/doctest.h>

#include <map>
#include <string>

#include "ui/model/envelopes.hpp"
#include "ui/model/run_lesson.hpp"
#include "ui/model/snapshot.hpp"

using namespace maillab::ui;

namespace {

TraceEvent event(EventKind kind, double t, std::string src, std::string dst, char dir, std::string text,
                 std::string msg) {
  TraceEvent e;
  e.t = t;
  e.kind = kind;
  e.src = std::move(src);
  e.dst = std::move(dst);
  e.proto = "smtp";
  e.dir = dir;
  e.text = std::move(text);
  e.msg = std::move(msg);
  return e;
}

// A connection from client to server carrying msg, whose newest line is the
// server's greeting at time t.
void open_with_greeting(Trace& trace, double t, const std::string& client, const std::string& server,
                        const std::string& msg) {
  REQUIRE(trace.append(event(EventKind::connect, t, client, server, 0, "", msg)));
  REQUIRE(trace.append(event(EventKind::line, t, server, client, 'S', "220 " + server + " ESMTP", msg)));
}

std::size_t total(const std::vector<EnvelopeGlyph>& glyphs) {
  std::size_t n = 0;
  for (const auto& glyph : glyphs) n += glyph.count;
  return n;
}

}  // namespace

TEST_CASE("envelopes: a line starts a quarter of the way along and arrives after envelope_travel_s") {
  CHECK(envelope_progress(10.0, 10.0) == doctest::Approx(0.25));
  CHECK(envelope_progress(10.0 + envelope_travel_s * 0.5, 10.0) == doctest::Approx(0.75));
  CHECK(envelope_progress(10.0 + envelope_travel_s, 10.0) == 1.0);
  CHECK(envelope_progress(9.0, 10.0) == 0.0);
}

TEST_CASE("envelopes: three connections at the same place on one link are one glyph that counts 3") {
  Trace trace;
  open_with_greeting(trace, 1.0, "pc1", "mta", "m1");
  open_with_greeting(trace, 1.0, "pc1", "mta", "m2");
  open_with_greeting(trace, 1.0, "pc1", "mta", "m3");
  open_with_greeting(trace, 1.0, "pc2", "mta", "m4");  // another link
  const auto snap = snapshot_at(trace, trace.events.size());
  REQUIRE(snap.open_links.size() == 4);
  const auto glyphs = envelope_glyphs(snap, trace, 2.0, "");
  REQUIRE(glyphs.size() == 2);
  CHECK(glyphs[0].count == 3);
  CHECK(glyphs[0].link == 0);  // the oldest gives its colour
  CHECK(glyphs[0].from == "mta");
  CHECK(glyphs[0].to == "pc1");
  CHECK(glyphs[0].progress == 1.0);
  CHECK(glyphs[1].count == 1);
  CHECK(glyphs[1].to == "pc2");
}

TEST_CASE("envelopes: the selected message keeps a glyph of its own, and different places stay apart") {
  Trace trace;
  open_with_greeting(trace, 1.0, "pc1", "mta", "m1");
  open_with_greeting(trace, 1.0, "pc1", "mta", "m2");
  open_with_greeting(trace, 1.0, "pc1", "mta", "m3");
  SUBCASE("selected") {
    const auto snap = snapshot_at(trace, trace.events.size());
    const auto glyphs = envelope_glyphs(snap, trace, 2.0, "m2");
    REQUIRE(glyphs.size() == 2);
    CHECK(glyphs[0].count == 2);
    CHECK_FALSE(glyphs[0].selected);
    CHECK(glyphs[1].count == 1);
    CHECK(glyphs[1].selected);
    CHECK(snap.open_links[glyphs[1].link].msg == "m2");
  }
  SUBCASE("a newer line is elsewhere on the link") {
    REQUIRE(trace.append(event(EventKind::line, 1.98, "pc1", "mta", 'C', "EHLO pc1", "m3")));
    const auto snap = snapshot_at(trace, trace.events.size());
    const auto glyphs = envelope_glyphs(snap, trace, 2.0, "");
    REQUIRE(glyphs.size() == 2);
    CHECK(glyphs[0].count == 2);
    CHECK(glyphs[1].count == 1);
    CHECK(glyphs[1].from == "pc1");
    CHECK(glyphs[1].progress == doctest::Approx(0.25 + 0.02 / envelope_travel_s));
  }
}

TEST_CASE("envelopes: with a thousand in flight every open connection is counted in exactly one glyph") {
  Trace trace;
  for (int i = 0; i < 1000; ++i) {
    const double t = 1.0 + 0.001 * i;
    open_with_greeting(trace, t, "pc" + std::to_string(i % 40), "mta" + std::to_string(i % 7),
                       "m" + std::to_string(i));
  }
  const auto snap = snapshot_at(trace, trace.events.size());
  REQUIRE(snap.open_links.size() == 1000);
  const double now = 1.0 + 0.001 * 999;  // the newest lines are still on their way
  const auto glyphs = envelope_glyphs(snap, trace, now, "m500");
  CHECK(total(glyphs) == 1000);
  CHECK(glyphs.size() < 1000);
  std::map<std::size_t, int> links;
  for (const auto& glyph : glyphs) {
    const auto& link = snap.open_links[glyph.link];
    const auto& line = trace.events[link.last_event];
    CHECK(glyph.from == line.src);
    CHECK(glyph.to == line.dst);
    CHECK(glyph.selected == (link.msg == "m500"));
    ++links[glyph.link];
  }
  CHECK(links.size() == glyphs.size());
  for (std::size_t i = 1; i < glyphs.size(); ++i) CHECK(glyphs[i - 1].link < glyphs[i].link);
}

TEST_CASE("envelopes: lesson 01 at the screenshot moment has one envelope, m1's, leaving alice-pc") {
  const auto run = run_lesson(std::string(MAILLAB_SOURCE_DIR) + "/scenarios/01-basics.toml", Lang::en);
  REQUIRE(run.errors.empty());
  auto parsed = parse_trace(run.trace_jsonl);
  REQUIRE(parsed.ok());
  const auto& trace = *parsed;
  const auto snap = snapshot_at(trace, trace.index_at(60.014));
  const auto glyphs = envelope_glyphs(snap, trace, 60.014, "");
  REQUIRE(glyphs.size() == 1);
  CHECK(glyphs[0].count == 1);
  CHECK(glyphs[0].from == "alice-pc");
  CHECK(glyphs[0].to == "mail.lab.test");
  CHECK(snap.open_links[glyphs[0].link].msg == "m1@lab.test");
}

namespace {

EnvelopeGlyph glyph_of(std::size_t link, std::size_t count, bool selected = false) {
  EnvelopeGlyph glyph;
  glyph.link = link;
  glyph.count = count;
  glyph.from = "a";
  glyph.to = "b";
  glyph.selected = selected;
  return glyph;
}

}  // namespace

TEST_CASE("envelope stacks: glyphs landing in one screen cell are drawn as the first, which counts them all") {
  const std::vector<EnvelopeGlyph> glyphs{glyph_of(0, 1), glyph_of(1, 2), glyph_of(2, 1)};
  const std::vector<ScreenPoint> at{{10.5f, 4.0f}, {19.0f, 7.5f}, {12.0f, 1.0f}};
  const auto counts = stack_by_cell(glyphs, at, 10.0f, 8.0f);
  CHECK(counts == std::vector<std::size_t>{4, 0, 0});
}

TEST_CASE("envelope stacks: glyphs in neighbouring cells stay apart, and every envelope is counted once") {
  const std::vector<EnvelopeGlyph> glyphs{glyph_of(0, 1), glyph_of(1, 3), glyph_of(2, 1), glyph_of(3, 2)};
  // Cells of 10 x 8: (0,0), (1,0), (0,1), and (1,0) again; negative places too.
  const std::vector<ScreenPoint> at{{9.9f, 7.9f}, {10.0f, 0.0f}, {0.0f, 8.0f}, {15.0f, 3.0f}};
  const auto counts = stack_by_cell(glyphs, at, 10.0f, 8.0f);
  CHECK(counts == std::vector<std::size_t>{1, 5, 1, 0});
  const std::vector<ScreenPoint> left{{-0.5f, 0.0f}, {0.5f, 0.0f}, {-9.0f, 0.0f}, {-11.0f, 0.0f}};
  CHECK(stack_by_cell(glyphs, left, 10.0f, 8.0f) == std::vector<std::size_t>{2, 3, 0, 2});
}

TEST_CASE("envelope stacks: the selected message's glyph neither joins nor takes a stack") {
  const std::vector<EnvelopeGlyph> glyphs{glyph_of(0, 1, true), glyph_of(1, 1), glyph_of(2, 2), glyph_of(3, 1, true)};
  const std::vector<ScreenPoint> at{{1, 1}, {2, 2}, {3, 3}, {4, 4}};
  CHECK(stack_by_cell(glyphs, at, 10.0f, 8.0f) == std::vector<std::size_t>{1, 3, 0, 1});
}

TEST_CASE("envelope stacks: with a thousand in flight the drawn counts add up to every open connection") {
  Trace trace;
  for (int i = 0; i < 1000; ++i) {
    open_with_greeting(trace, 1.0 + 0.001 * i, "pc" + std::to_string(i % 40), "mta" + std::to_string(i % 7),
                       "m" + std::to_string(i));
  }
  const auto snap = snapshot_at(trace, trace.events.size());
  REQUIRE(snap.open_links.size() == 1000);
  const auto glyphs = envelope_glyphs(snap, trace, 1.0 + 0.001 * 999, "m7");
  // Every glyph on one 100-pixel line by its progress: at most 9 cells of 12.
  std::vector<ScreenPoint> at;
  for (const auto& glyph : glyphs) at.push_back(ScreenPoint{static_cast<float>(glyph.progress * 100), 0.0f});
  const auto counts = stack_by_cell(glyphs, at, 12.0f, 8.0f);
  std::size_t drawn = 0;
  std::size_t sum = 0;
  for (std::size_t i = 0; i < counts.size(); ++i) {
    drawn += counts[i] > 0 ? 1 : 0;
    sum += counts[i];
    if (glyphs[i].selected) CHECK(counts[i] == glyphs[i].count);
  }
  CHECK(sum == 1000);
  CHECK(drawn <= 9 + 1);  // the cells, and m7's own glyph
  CHECK(drawn >= 2);
}
