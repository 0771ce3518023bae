// SpoolCommitter: the rounds that write and sync deliveries' Maildir files on
// its worker thread, and what a file that cannot be written does to them.
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <asio/io_context.hpp>

#include "app/spool_committer.hpp"
#include "sim/store/durable_file.hpp"
#include "sim/store/spool.hpp"
#include "sim/store/store_fixtures.hpp"

using namespace maillab;
namespace fs = std::filesystem;

namespace {

std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Runs the io thread's handlers until `done` holds (false after `limit`).
bool run_until(asio::io_context& io, const std::function<bool()>& done,
               std::chrono::milliseconds limit = std::chrono::seconds(10)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done() && std::chrono::steady_clock::now() < deadline) {
    io.restart();
    io.run_for(std::chrono::milliseconds(10));
  }
  return done();
}

// A committer (syncfs rounds, no delivery log) over a queue, and a Maildir whose
// new/ already holds the name its one delivery is to have: the file cannot be
// written (as on a full disk, every try fails) until the test frees the name.
struct Fixture {
  sim::testing::ScratchDir dir;
  sim::Spool spool = sim::Spool::open(dir.path() / "queue").value();
  sim::testing::OpenedDir tmp{dir.path() / "Maildir" / "tmp"};
  sim::testing::OpenedDir into{dir.path() / "Maildir" / "new"};
  const fs::path target = dir.path() / "Maildir" / "new" / "1764198071.M1,S=6";
  asio::io_context io;
  std::mutex mutex;
  std::vector<std::string> logged;
  std::optional<app::SpoolCommitter> committer;

  Fixture() {
    { std::ofstream(target) << "in the way\n"; }
    committer.emplace(
        io, spool,
        [this](std::string_view line) {
          std::lock_guard lock(mutex);
          logged.emplace_back(line);
        },
        64, sim::durable::SyncMode::syncfs, nullptr);
  }
  // The delivery, in a ledger of its own.
  sim::durable::SyncLedger delivery() {
    sim::durable::SyncLedger ledger;
    REQUIRE(ledger.add_unwritten(tmp.at(), into.at(), "1764198071.M1,S=6", "hello\n", 1764198071)
                .ok());
    return ledger;
  }
  std::size_t logged_starting(const std::string& part) {
    std::lock_guard lock(mutex);
    return static_cast<std::size_t>(
        std::count_if(logged.begin(), logged.end(), [&](const std::string& line) { return line.starts_with(part); }));
  }
};

}  // namespace

TEST_CASE("committer: a delivery's file that cannot be written fails its round (452 for the session waiting on "
          "it, UID still hidden) and is written by a later round, which then shows it") {
  Fixture f;
  sim::durable::SyncLedger ledger = f.delivery();
  bool shown = false;
  ledger.on_synced([&] { shown = true; });
  std::optional<Result<void>> answer;
  std::vector<app::SpoolCommitter::Committed> acks;
  acks.emplace_back([&](const Result<void>& durable) { answer = durable; });
  f.committer->sync_deliveries(std::move(ledger), std::move(acks), std::nullopt);

  REQUIRE(run_until(f.io, [&] { return answer.has_value(); }));
  CHECK_FALSE(answer->ok());
  CHECK(f.logged_starting("maildir: ") == 1);
  CHECK(read_text(f.target) == "in the way\n");
  // More rounds (one per 50 ms) come and go while it stays unwritable: still hidden, logged once.
  CHECK_FALSE(run_until(f.io, [&] { return shown; }, std::chrono::milliseconds(300)));
  CHECK(f.logged_starting("maildir: ") == 1);

  fs::remove(f.target);
  REQUIRE(run_until(f.io, [&] { return shown; }));
  CHECK(read_text(f.target) == "hello\n");
  CHECK(fs::is_empty(f.dir.path() / "Maildir" / "tmp"));
}

TEST_CASE("committer: a file still unwritable when the committer stops is dropped and logged; its message is "
          "left where it is durable (the queue or the delivery log) for the next start") {
  Fixture f;
  f.committer->sync_deliveries(f.delivery(), {}, std::nullopt);
  REQUIRE(run_until(f.io, [&] { return f.logged_starting("maildir: ") == 1; }));
  f.committer.reset();  // stop(): its last round fails again, and does not wait for the disk
  CHECK(f.logged_starting("maildir: 1 message file(s) never written") == 1);
  CHECK(read_text(f.target) == "in the way\n");
  CHECK(fs::is_empty(f.dir.path() / "Maildir" / "tmp"));
}
