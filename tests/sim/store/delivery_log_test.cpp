// The delivery log (write-ahead log of mail delivered at once): what a reopen
// recovers, the ring's reuse of retired space, torn records and headers.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdint>
#include <string>
#include <vector>

#include "sim/store/delivery_log.hpp"
#include "store_fixtures.hpp"

using namespace maillab;
using namespace maillab::sim;
using namespace maillab::sim::testing;
namespace fs = std::filesystem;

namespace {

constexpr std::uint64_t kSmallLog = DeliveryLog::kRecordsStart + 64 * 1024;

SpoolEntry entry_of(int n, std::size_t body = 100) {
  SpoolEntry entry;
  entry.id = "1A2B." + std::to_string(n);
  entry.sender = "alice@lab.test";
  entry.recipients = {"bob@lab.test"};
  entry.arrival = Instant{} + std::chrono::seconds(n);
  entry.attributes = {{"helo", "pc1.lab.test"}};
  entry.data = "Subject: " + std::to_string(n) + "\r\n\r\n" + std::string(body, 'x') + "\r\n";
  return entry;
}

DeliveryLog opened(const fs::path& path, std::uint64_t capacity = DeliveryLog::kCapacityDefault) {
  auto log = DeliveryLog::open(path, capacity);
  REQUIRE_MESSAGE(log.ok(), log.error().message);
  return std::move(log).value();
}

// A log begun for this run, as serve opens it.
DeliveryLog started(const fs::path& path, std::uint64_t capacity = DeliveryLog::kCapacityDefault) {
  auto log = opened(path, capacity);
  REQUIRE(log.restart().ok());
  return log;
}

// Entries 1..count appended to a log begun afresh, and synced.
void write_entries(const fs::path& path, int count) {
  auto log = started(path);
  for (int n = 1; n <= count; ++n) REQUIRE(log.append(entry_of(n)).ok());
  REQUIRE(log.sync().ok());
}

std::vector<std::string> recovered_ids(const fs::path& path) {
  auto log = opened(path);
  auto entries = log.recover();
  REQUIRE_MESSAGE(entries.ok(), entries.error().message);
  std::vector<std::string> ids;
  for (const auto& entry : entries.value()) ids.push_back(entry.id);
  return ids;
}

void overwrite(const fs::path& path, std::uint64_t offset, std::string_view bytes) {
  const int fd = ::open(path.c_str(), O_WRONLY);
  REQUIRE(fd >= 0);
  REQUIRE(::pwrite(fd, bytes.data(), bytes.size(), static_cast<off_t>(offset)) == static_cast<ssize_t>(bytes.size()));
  ::close(fd);
}

}  // namespace

TEST_CASE("delivery log: a new log has its full size and recovers nothing") {
  ScratchDir dir;
  const auto path = dir.path() / "delivery-log";
  auto log = opened(path, kSmallLog);
  CHECK(fs::file_size(path) == kSmallLog);
  CHECK_FALSE(fs::exists(path.string() + ".new"));
  auto entries = log.recover();
  REQUIRE(entries.ok());
  CHECK(entries.value().empty());
}

TEST_CASE("delivery log: appended entries come back whole after a reopen, in order") {
  ScratchDir dir;
  const auto path = dir.path() / "delivery-log";
  write_entries(path, 3);
  auto log = opened(path);
  auto entries = log.recover();
  REQUIRE(entries.ok());
  REQUIRE(entries.value().size() == 3);
  for (int n = 1; n <= 3; ++n) CHECK(entries.value()[static_cast<std::size_t>(n - 1)] == entry_of(n));
}

TEST_CASE("delivery log: records before a checkpoint are retired and not recovered") {
  ScratchDir dir;
  const auto path = dir.path() / "delivery-log";
  {
    auto log = started(path);
    REQUIRE(log.append(entry_of(1)).ok());
    REQUIRE(log.append(entry_of(2)).ok());
    const auto after_two = log.end();
    REQUIRE(log.append(entry_of(3)).ok());
    REQUIRE(log.sync().ok());
    REQUIRE(log.checkpoint(after_two).ok());
  }
  CHECK(recovered_ids(path) == std::vector<std::string>{"1A2B.3"});
}

TEST_CASE("delivery log: a restart begins a new epoch, so earlier records are never read again") {
  ScratchDir dir;
  const auto path = dir.path() / "delivery-log";
  write_entries(path, 2);
  {
    auto log = opened(path);
    REQUIRE(log.recover().value().size() == 2);
    REQUIRE(log.restart().ok());
  }
  CHECK(recovered_ids(path).empty());
}

TEST_CASE("delivery log: a voided record's entry is not recovered, the others are") {
  ScratchDir dir;
  const auto path = dir.path() / "delivery-log";
  {
    auto log = started(path);
    const auto first = log.append(entry_of(1));
    REQUIRE(first.ok());
    REQUIRE(log.append(entry_of(2)).ok());
    REQUIRE(log.void_record(first.value()).ok());
    REQUIRE(log.append(entry_of(3)).ok());
    REQUIRE(log.sync().ok());
  }
  CHECK(recovered_ids(path) == std::vector<std::string>{"1A2B.2", "1A2B.3"});
}

TEST_CASE("delivery log: a torn record ends the log there") {
  ScratchDir dir;
  const auto path = dir.path() / "delivery-log";
  DeliveryLogPosition third;
  {
    auto log = started(path);
    REQUIRE(log.append(entry_of(1)).ok());
    REQUIRE(log.append(entry_of(2)).ok());
    third = log.end();
    REQUIRE(log.append(entry_of(3)).ok());
    REQUIRE(log.sync().ok());
  }
  // One octet of the second record's payload lost: it and what follows are not recovered.
  overwrite(path, third.offset - 10, "?");
  CHECK(recovered_ids(path) == std::vector<std::string>{"1A2B.1"});
}

TEST_CASE("delivery log: the ring reuses retired space and never writes over a live record") {
  ScratchDir dir;
  const auto path = dir.path() / "delivery-log";
  auto log = started(path, kSmallLog);
  // Records of about 10 KiB: six fit in the 64 KiB ring, a seventh does not.
  std::vector<DeliveryLogPosition> after;
  for (int n = 1; n <= 6; ++n) {
    REQUIRE(log.append(entry_of(n, 10000)).ok());
    after.push_back(log.end());
  }
  auto refused = log.append(entry_of(7, 10000));
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().category == ErrorCategory::exists);

  // Records 1 and 2 retired: 7 goes back to the start of the ring, 8 would overlap 3.
  REQUIRE(log.sync().ok());
  REQUIRE(log.checkpoint(after[1]).ok());
  log.retired(after[1]);
  REQUIRE(log.append(entry_of(7, 10000)).ok());
  const auto seventh = log.end();
  CHECK(seventh.offset == after[0].offset);  // it took record 1's place (same size)
  CHECK_FALSE(log.append(entry_of(8, 10000)).ok());
  REQUIRE(log.sync().ok());
  CHECK(recovered_ids(path) == std::vector<std::string>{"1A2B.3", "1A2B.4", "1A2B.5", "1A2B.6", "1A2B.7"});

  // Everything retired: the next records follow on after the seventh.
  REQUIRE(log.checkpoint(seventh).ok());
  log.retired(seventh);
  REQUIRE(log.append(entry_of(8, 10000)).ok());
  REQUIRE(log.sync().ok());
  CHECK(recovered_ids(path) == std::vector<std::string>{"1A2B.8"});
}

TEST_CASE("delivery log: a damaged header slot leaves the other one in force") {
  ScratchDir dir;
  const auto path = dir.path() / "delivery-log";
  {
    auto log = started(path);
    REQUIRE(log.append(entry_of(1)).ok());
    REQUIRE(log.sync().ok());
  }
  // restart() wrote slot 0 (counter 2); tearing it falls back to slot 1, the
  // first epoch, whose records the second epoch has written over: nothing to recover.
  overwrite(path, 8, "\xff");
  CHECK(recovered_ids(path).empty());
  // Both slots damaged: the log is refused, not reset.
  overwrite(path, 512 + 8, "\xff");
  auto refused = DeliveryLog::open(path);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().category == ErrorCategory::parse);
  CHECK(refused.error().message.find("headers are damaged") != std::string::npos);
}

TEST_CASE("delivery log: a file that is not a delivery log is refused and left alone") {
  ScratchDir dir;
  const auto path = dir.path() / "delivery-log";
  {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT, 0600);
    REQUIRE(fd >= 0);
    REQUIRE(::write(fd, "hello\n", 6) == 6);
    ::close(fd);
  }
  auto refused = DeliveryLog::open(path);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().category == ErrorCategory::parse);
  CHECK(fs::file_size(path) == 6);
}

TEST_CASE("delivery log: a new log stays within half the file size limit") {
  ScratchDir dir;
  rlimit saved{};
  REQUIRE(::getrlimit(RLIMIT_FSIZE, &saved) == 0);
  rlimit limited = saved;
  limited.rlim_cur = 1 << 20;
  REQUIRE(::setrlimit(RLIMIT_FSIZE, &limited) == 0);
  const auto capacity = DeliveryLog::capacity_for(dir.path());
  REQUIRE(::setrlimit(RLIMIT_FSIZE, &saved) == 0);
  CHECK(capacity == 512 * 1024);
  CHECK(DeliveryLog::capacity_for(dir.path()) <= DeliveryLog::kCapacityDefault);
}
