#include <doctest/doctest.h>

#include "ui/model/view_state.hpp"

using namespace maillab::ui;

namespace {

Trace sample() {
  auto trace = parse_trace(
      R"({"t":1,"kind":"connect","src":"pc","dst":"mta","proto":"submission"})" "\n"
      R"({"t":1.1,"kind":"line","src":"mta","dst":"pc","proto":"submission","dir":"S","text":"220 mta ESMTP"})" "\n"
      R"({"t":1.2,"kind":"line","src":"pc","dst":"mta","proto":"submission","dir":"C","text":"EHLO pc"})" "\n"
      R"({"t":2,"kind":"dns","src":"mta","dst":"dns","proto":"dns","text":"MX? lab.test","msg":"<m1@x>"})" "\n"
      R"({"t":3,"kind":"deliver","src":"mx","dst":"bob@lab.test","proto":"local","msg":"<m1@x>"})" "\n");
  REQUIRE(trace.ok());
  return std::move(trace).value();
}

}  // namespace

TEST_CASE("view state: seeking sets the cursor to what has happened by then") {
  auto trace = sample();
  ViewState view;
  seek(view, trace, 1.15);
  CHECK(view.cursor == 2);
  seek(view, trace, -5);
  CHECK(view.cursor == 0);
  CHECK(view.time == 0);
  seek(view, trace, 99);
  CHECK(view.cursor == 5);
  CHECK(view.time == 3);
}

TEST_CASE("view state: step line walks protocol and DNS lines forward and back") {
  auto trace = sample();
  ViewState view;
  step_line(view, trace);
  CHECK(view.selected_event == 1);
  CHECK(view.cursor == 2);
  step_line(view, trace);
  CHECK(view.selected_event == 2);
  step_line(view, trace);
  CHECK(view.selected_event == 3);  // the DNS query counts as a line
  CHECK(view.selected_message == "<m1@x>");
  step_back(view, trace);
  CHECK(view.selected_event == 2);
  CHECK(view.time == doctest::Approx(1.2));
  step_back(view, trace);
  step_back(view, trace);
  CHECK(view.cursor == 0);
}

TEST_CASE("view state: step hop stops at connections, DNS and deliveries") {
  auto trace = sample();
  ViewState view;
  step_hop(view, trace);
  CHECK(view.selected_event == 0);
  step_hop(view, trace);
  CHECK(view.selected_event == 3);
  step_hop(view, trace);
  CHECK(view.selected_event == 4);
}

TEST_CASE("view state: playing advances at the chosen speed and stops at the end") {
  auto trace = sample();
  ViewState view;
  view.playing = true;
  view.speed = 0.5;
  advance(view, trace, 2.0);  // 1 simulated second
  CHECK(view.time == doctest::Approx(1.0));
  CHECK(view.cursor == 1);
  view.speed = 5000;  // clamped to 1000
  advance(view, trace, 1.0);
  CHECK(view.cursor == 5);
  CHECK_FALSE(view.playing);
}
