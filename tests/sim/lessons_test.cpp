// Every lesson in scenarios/ runs, meets its [[expect]] checks, is
// deterministic, and matches its golden trace (tests/sim/golden/<lesson>.jsonl).
// Regenerate the goldens deliberately: MAILLAB_UPDATE_GOLDEN=1 tests_sim.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "sim/scenario.hpp"
#include "sim/world.hpp"

using namespace maillab;
using namespace maillab::sim;
namespace fs = std::filesystem;

namespace {

fs::path source_root() {
  if (const char* env = std::getenv("MAILLAB_SOURCE_DIR")) return env;
  return fs::path(__FILE__).parent_path().parent_path().parent_path();
}

std::vector<fs::path> lessons() {
  std::vector<fs::path> out;
  for (const auto& entry : fs::directory_iterator(source_root() / "scenarios"))
    if (entry.path().extension() == ".toml") out.push_back(entry.path());
  std::sort(out.begin(), out.end());
  return out;
}

struct Run {
  std::string transcript;
  std::string trace;
  std::vector<ExpectationResult> results;
  std::string summary;
};

Run run_lesson(const Scenario& scenario, std::uint64_t seed) {
  World world(scenario, seed);
  std::ostringstream transcript;
  world.set_transcript(&transcript);
  world.run();
  Run out;
  out.transcript = transcript.str();
  for (const auto& event : world.trace().events()) out.trace += Trace::json_line(event) + "\n";
  out.results = world.check_expectations();
  out.summary = world.summary();
  return out;
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

TEST_CASE("lessons: the curriculum has the lessons the README promises") {
  const auto all = lessons();
  REQUIRE_FALSE(all.empty());
  CHECK(all.front().filename() == "01-basics.toml");
}

TEST_CASE("lessons: every lesson has its title and description in Bahasa Indonesia too") {
  for (const auto& path : lessons()) {
    CAPTURE(path.string());
    auto load = load_scenario_file(path.string());
    REQUIRE(load.scenario);
    CHECK_FALSE(load.scenario->title_id.empty());
    CHECK_FALSE(load.scenario->description_id.empty());
    CHECK(load.scenario->title_id != load.scenario->title);
    CHECK(load.scenario->description_id != load.scenario->description);
  }
}

TEST_CASE("lessons: every lesson loads, runs, meets its expectations and matches its golden trace") {
  const bool update = std::getenv("MAILLAB_UPDATE_GOLDEN") != nullptr;
  for (const auto& path : lessons()) {
    CAPTURE(path.string());
    auto load = load_scenario_file(path.string());
    for (const auto& e : load.errors) FAIL_CHECK(e.to_string());
    REQUIRE(load.scenario);
    const Scenario& scenario = *load.scenario;
    CHECK_FALSE(scenario.description.empty());
    CHECK_FALSE(scenario.expects.empty());
    const Run run = run_lesson(scenario, scenario.seed);
    for (const auto& r : run.results) {
      CAPTURE(r.detail);
      CAPTURE(r.spec->where.line);
      CHECK(r.held);
    }
    const fs::path golden = source_root() / "tests" / "sim" / "golden" / (path.stem().string() + ".jsonl");
    if (update) {
      fs::create_directories(golden.parent_path());
      std::ofstream(golden, std::ios::binary | std::ios::trunc) << run.trace;
    }
    REQUIRE_MESSAGE(fs::exists(golden), "no golden trace: run with MAILLAB_UPDATE_GOLDEN=1");
    CHECK_MESSAGE(read_file(golden) == run.trace, "trace differs from " << golden.string());
  }
}

TEST_CASE("lessons: the same scenario and seed give byte-identical transcript and trace") {
  for (const auto& path : lessons()) {
    CAPTURE(path.string());
    auto load = load_scenario_file(path.string());
    REQUIRE(load.scenario);
    const Run a = run_lesson(*load.scenario, 7);
    const Run b = run_lesson(*load.scenario, 7);
    CHECK(a.transcript == b.transcript);
    CHECK(a.trace == b.trace);
    CHECK(a.summary == b.summary);
    CHECK_FALSE(a.transcript.empty());
  }
}
