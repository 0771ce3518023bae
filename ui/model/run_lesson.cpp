#include "ui/model/run_lesson.hpp"

#include "sim/scenario.hpp"
#include "sim/trace.hpp"
#include "sim/world.hpp"

namespace maillab::ui {

LessonWords lesson_words(const sim::Scenario& scenario, Lang lang) {
  if (lang == Lang::id) {
    return {scenario.title_id.empty() ? scenario.title : scenario.title_id,
            scenario.description_id.empty() ? scenario.description : scenario.description_id};
  }
  return {scenario.title, scenario.description};
}

LessonRun run_lesson(const std::string& path, Lang lang) {
  LessonRun run;
  auto load = sim::load_scenario_file(path);
  for (const auto& error : load.errors) run.errors.push_back(error.to_string());
  if (!load.scenario || !run.errors.empty()) return run;
  const auto& scenario = *load.scenario;
  auto words = lesson_words(scenario, lang);
  run.title = std::move(words.title);
  run.description = std::move(words.description);

  sim::World world(scenario, scenario.seed);
  world.run();
  for (const auto& event : world.trace().events()) {
    run.trace_jsonl += sim::Trace::json_line(event);
    run.trace_jsonl += '\n';
  }
  return run;
}

}  // namespace maillab::ui
