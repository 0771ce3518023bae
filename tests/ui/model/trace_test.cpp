#include <doctest/doctest.h>

#include "ui/model/trace.hpp"

using namespace maillab::ui;

TEST_CASE("trace: JSON Lines load with the contract's fields and keep the rest") {
  const char* jsonl =
      R"({"t":5.12,"kind":"line","src":"alice-pc","dst":"smtp.lab.test","proto":"submission","dir":"C","text":"MAIL FROM:<alice@lab.test>","msg":"<1@lab.test>"})"
      "\n"
      R"({"t":5.121,"kind":"line","src":"smtp.lab.test","dst":"alice-pc","proto":"submission","dir":"S","text":"250 2.1.0 Ok","tls":true})"
      "\n\n"
      R"({"t":6,"kind":"queue","src":"smtp.lab.test","msg":"<1@lab.test>","next_retry":906})"
      "\n";
  auto trace = parse_trace(jsonl);
  REQUIRE(trace.ok());
  REQUIRE(trace->events.size() == 3);
  CHECK(trace->events[0].kind == EventKind::line);
  CHECK(trace->events[0].dir == 'C');
  CHECK(trace->events[1].tls);
  CHECK(trace->events[2].kind == EventKind::queue);
  CHECK(trace->events[2].extra["next_retry"] == 906);
  CHECK(trace->hosts == std::vector<std::string>{"alice-pc", "smtp.lab.test"});
  CHECK(trace->messages == std::vector<std::string>{"<1@lab.test>"});
  CHECK(trace->index_at(5.12) == 1);
  CHECK(trace->index_at(0) == 0);
  CHECK(trace->index_at(100) == 3);
  CHECK(trace->end_time() == 6);
}

TEST_CASE("trace: a malformed line is reported with its line number") {
  auto bad = parse_trace("{\"t\":1,\"kind\":\"line\"}\nnot json\n");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().to_string() == "trace:2:1: not a JSON object");

  auto no_time = parse_trace("{\"kind\":\"line\"}\n");
  REQUIRE_FALSE(no_time.ok());
  CHECK(no_time.error().where.line == 1);

  auto backwards = parse_trace("{\"t\":2,\"kind\":\"line\"}\n{\"t\":1,\"kind\":\"line\"}\n");
  REQUIRE_FALSE(backwards.ok());
  CHECK(backwards.error().message == "time goes backwards");
}
