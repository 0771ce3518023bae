// A lesson as the studio holds it: the scenario's words, its errors (with
// FILE:LINE:COL, as `maillab check` prints them) and the trace of one run.
#pragma once

#include <cstddef>
#include <map>
#include <string>
#include <vector>

#include "ui/model/i18n.hpp"
#include "ui/model/trace.hpp"

namespace maillab::ui {

struct Lesson {
  std::string path;
  std::string title;
  std::string description;
  std::vector<std::string> errors;  // "FILE:LINE:COL: message"; empty when the lesson loaded
  Trace trace;
  // Derived once at load (and as a live trace grows) so that no frame walks
  // the whole trace.
  std::vector<std::size_t> lines;  // indexes of line and DNS events
  std::map<std::string, std::vector<std::size_t>> lines_by_message;
  std::map<std::string, std::vector<std::size_t>> events_by_message;  // every event carrying the Message-ID
  std::size_t indexed = 0;  // events [0, indexed) are in the indexes above
};

// Brings the derived indexes up to the end of the trace (only new events).
void index_lesson(Lesson& lesson);

struct LessonEntry {
  std::string path;
  std::string title;
  std::string description;
};

// Loads and runs a scenario in the simulator (virtual clock) and keeps its trace.
Lesson load_lesson(const std::string& path, Lang lang);
// The built-in lessons (scenarios/*.toml), sorted by file name, in the chosen language.
std::vector<LessonEntry> list_lessons(const std::string& directory, Lang lang);

}  // namespace maillab::ui
