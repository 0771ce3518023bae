#include "ui/model/lesson.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "sim/scenario.hpp"
#include "ui/model/run_lesson.hpp"

namespace maillab::ui {

void index_lesson(Lesson& lesson) {
  const auto& events = lesson.trace.events;
  for (std::size_t i = lesson.indexed; i < events.size(); ++i) {
    if (!events[i].msg.empty()) lesson.events_by_message[events[i].msg].push_back(i);
    if (events[i].kind != EventKind::line && events[i].kind != EventKind::dns) continue;
    lesson.lines.push_back(i);
    if (!events[i].msg.empty()) lesson.lines_by_message[events[i].msg].push_back(i);
  }
  lesson.indexed = events.size();
}

Lesson load_lesson(const std::string& path, Lang lang) {
  Lesson lesson;
  lesson.path = path;
  lesson.title = std::filesystem::path(path).stem().string();
  if (path.ends_with(".jsonl")) {
    // A recorded trace (`maillab run --trace`): shown as it is.
    std::ifstream in(path, std::ios::binary);
    if (!in) {
      lesson.errors.push_back(path + ": cannot read the file");
      return lesson;
    }
    std::ostringstream text;
    text << in.rdbuf();
    auto trace = parse_trace(text.str());
    if (!trace) {
      lesson.errors.push_back(path + ": " + trace.error().to_string());
      return lesson;
    }
    lesson.trace = std::move(trace).value();
  } else {
    auto run = run_lesson(path, lang);
    if (!run.errors.empty()) {
      lesson.errors = std::move(run.errors);
      return lesson;
    }
    lesson.title = std::move(run.title);
    lesson.description = std::move(run.description);
    auto trace = parse_trace(run.trace_jsonl);
    if (!trace) {
      lesson.errors.push_back(path + ": " + trace.error().to_string());
      return lesson;
    }
    lesson.trace = std::move(trace).value();
  }
  index_lesson(lesson);
  return lesson;
}

std::vector<LessonEntry> list_lessons(const std::string& directory, Lang lang) {
  std::vector<LessonEntry> entries;
  std::error_code error;
  for (const auto& file : std::filesystem::directory_iterator(directory, error)) {
    if (file.path().extension() != ".toml") continue;
    auto load = sim::load_scenario_file(file.path().string());
    LessonEntry entry{file.path().string(), file.path().stem().string(), {}};
    if (load.scenario) {
      const auto words = lesson_words(*load.scenario, lang);
      if (!words.title.empty()) entry.title = words.title;
      entry.description = words.description;
    }
    entries.push_back(std::move(entry));
  }
  std::sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) { return a.path < b.path; });
  return entries;
}

}  // namespace maillab::ui
