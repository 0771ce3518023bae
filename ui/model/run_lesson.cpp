#include "ui/model/run_lesson.hpp"

#include "sim/scenario.hpp"
#include "sim/trace.hpp"
#include "sim/world.hpp"

namespace maillab::ui {

LessonRun run_lesson(const std::string& path, Lang lang) {
  LessonRun run;
  auto load = sim::load_scenario_file(path);
  for (const auto& error : load.errors) run.errors.push_back(error.to_string());
  if (!load.scenario || !run.errors.empty()) return run;
  const auto& scenario = *load.scenario;
  (void)lang;  // lessons are written in English until scenarios carry Indonesian text
  run.title = scenario.title;
  run.description = scenario.description;

  sim::World world(scenario, scenario.seed);
  world.run();
  for (const auto& event : world.trace().events()) {
    run.trace_jsonl += sim::Trace::json_line(event);
    run.trace_jsonl += '\n';
  }
  return run;
}

}  // namespace maillab::ui
