// Runs a scenario in the simulator (virtual clock) for the studio and returns
// what it shows: the lesson's words in the chosen language and the JSON Lines
// trace, exactly as `maillab run --trace` would write it.
#pragma once

#include <string>
#include <vector>

#include "ui/model/i18n.hpp"

namespace maillab::sim {
struct Scenario;
}

namespace maillab::ui {

struct LessonRun {
  std::string title;
  std::string description;
  std::vector<std::string> errors;  // "FILE:LINE:COL: message"
  std::string trace_jsonl;
};

LessonRun run_lesson(const std::string& path, Lang lang);

// A lesson's title and description in the chosen language (English when the
// scenario has no text in that language).
struct LessonWords {
  std::string title;
  std::string description;
};
LessonWords lesson_words(const sim::Scenario& scenario, Lang lang);

}  // namespace maillab::ui
