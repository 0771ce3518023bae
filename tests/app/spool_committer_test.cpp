// SpoolCommitter: the rounds that write and sync deliveries' Maildir files on
// its worker thread, and what a file that cannot be written does to them.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

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

// A directory held open, as the Maildir store holds tmp/ and new/.
struct OpenedDir {
  explicit OpenedDir(const fs::path& dir) : path(dir.string()) {
    fs::create_directories(dir);
    fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    REQUIRE(fd >= 0);
  }
  ~OpenedDir() { ::close(fd); }
  OpenedDir(const OpenedDir&) = delete;
  OpenedDir& operator=(const OpenedDir&) = delete;
  sim::durable::DirAt at() const { return {fd, path}; }
  std::string path;
  int fd = -1;
};

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

struct Logged {
  std::mutex mutex;
  std::vector<std::string> lines;
  std::size_t starting(const std::string& part) {
    std::lock_guard lock(mutex);
    return static_cast<std::size_t>(
        std::count_if(lines.begin(), lines.end(), [&](const std::string& line) { return line.starts_with(part); }));
  }
};

}  // namespace

TEST_CASE("committer: a delivery's file that cannot be written fails its round (452 for the session waiting on "
          "it, UID still hidden) and is written by a later round, which then shows it") {
  sim::testing::ScratchDir dir;
  auto spool = sim::Spool::open(dir.path() / "queue");
  REQUIRE(spool.ok());
  const OpenedDir tmp(dir.path() / "Maildir" / "tmp");
  const OpenedDir into(dir.path() / "Maildir" / "new");
  // The name is taken (as by a disk that has no room, it fails every try until that changes).
  const fs::path target = dir.path() / "Maildir" / "new" / "1764198071.M1,S=6";
  { std::ofstream(target) << "in the way\n"; }

  asio::io_context io;
  Logged logged;
  app::SpoolCommitter committer(
      io, *spool,
      [&](std::string_view line) {
        std::lock_guard lock(logged.mutex);
        logged.lines.emplace_back(line);
      },
      64, sim::durable::SyncMode::syncfs, nullptr);

  sim::durable::SyncLedger ledger;
  REQUIRE(ledger.add_unwritten(tmp.at(), "1764198071.M1", into.at(), "1764198071.M1,S=6", "hello\n", 1764198071).ok());
  bool shown = false;
  ledger.on_synced([&] { shown = true; });
  std::optional<Result<void>> answer;
  std::vector<app::SpoolCommitter::Committed> acks;
  acks.emplace_back([&](const Result<void>& durable) { answer = durable; });
  committer.sync_deliveries(std::move(ledger), std::move(acks), std::nullopt);

  REQUIRE(run_until(io, [&] { return answer.has_value(); }));
  CHECK_FALSE(answer->ok());
  CHECK(logged.starting("maildir: ") == 1);
  CHECK(read_text(target) == "in the way\n");
  // More rounds (one per 50 ms) come and go while it stays unwritable: still hidden, logged once.
  CHECK_FALSE(run_until(io, [&] { return shown; }, std::chrono::milliseconds(300)));
  CHECK(logged.starting("maildir: ") == 1);

  fs::remove(target);
  REQUIRE(run_until(io, [&] { return shown; }));
  CHECK(read_text(target) == "hello\n");
  CHECK(fs::is_empty(dir.path() / "Maildir" / "tmp"));
}

TEST_CASE("committer: a file still unwritable when the committer stops is dropped and logged; its message is "
          "left where it is durable (the queue or the delivery log) for the next start") {
  sim::testing::ScratchDir dir;
  auto spool = sim::Spool::open(dir.path() / "queue");
  REQUIRE(spool.ok());
  const OpenedDir tmp(dir.path() / "Maildir" / "tmp");
  const OpenedDir into(dir.path() / "Maildir" / "new");
  { std::ofstream(dir.path() / "Maildir" / "new" / "1764198071.M1,S=6") << "in the way\n"; }
  asio::io_context io;
  Logged logged;
  {
    app::SpoolCommitter committer(
        io, *spool,
        [&](std::string_view line) {
          std::lock_guard lock(logged.mutex);
          logged.lines.emplace_back(line);
        },
        64, sim::durable::SyncMode::syncfs, nullptr);
    sim::durable::SyncLedger ledger;
    REQUIRE(
        ledger.add_unwritten(tmp.at(), "1764198071.M1", into.at(), "1764198071.M1,S=6", "hello\n", 1764198071).ok());
    committer.sync_deliveries(std::move(ledger), {}, std::nullopt);
    REQUIRE(run_until(io, [&] { return logged.starting("maildir: ") == 1; }));
  }  // stop(): its last round fails again, and does not wait for the disk
  CHECK(logged.starting("maildir: 1 message file(s) never written") == 1);
  CHECK(fs::is_empty(dir.path() / "Maildir" / "tmp"));
}
