// The lab server's cross-connection limits added for issue 5: IMAP sessions
// per user (catalogue row 43) and the free-space check at MAIL FROM (row 17).
#include <doctest/doctest.h>

#include <filesystem>

#include <unistd.h>

#include "net/io/limits.hpp"
#include "net/smtp/smtp_server_harness.hpp"

using namespace maillab;
using namespace maillab::net;
using namespace maillab::net::io;

namespace {

// One SMTP session with `policy`; returns what the server said to `lines`.
std::string dialog(smtp::Policy& policy, std::initializer_list<std::string_view> lines) {
  Instant now{1'000'000};
  smtp::ServerConfig config;
  smtp::Server server(config, policy, now);
  std::string out = server.poll_transmit();
  for (auto line : lines) {
    server.handle_bytes(now, std::string(line) + "\r\n");
    out += server.poll_transmit();
  }
  return out;
}

bool has(const std::string& hay, std::string_view needle) { return hay.find(needle) != std::string::npos; }

}  // namespace

TEST_CASE("user session limiter: the 11th session of one user is refused, another user still gets in") {
  UserSessionLimiter limiter(10);
  for (int i = 0; i < 10; ++i) CHECK(limiter.try_open("alice@lab.test"));
  CHECK_FALSE(limiter.try_open("alice@lab.test"));
  CHECK_FALSE(limiter.try_open("ALICE@Lab.Test"));  // the same login, spelled otherwise
  CHECK(limiter.try_open("bob@lab.test"));
  CHECK(limiter.open_for("alice@lab.test") == 10);
  limiter.close("alice@lab.test");
  CHECK(limiter.try_open("alice@lab.test"));
  for (int i = 0; i < 10; ++i) limiter.close("alice@lab.test");
  CHECK(limiter.open_for("alice@lab.test") == 0);
}

TEST_CASE("storage-checked policy: MAIL FROM gets 452 4.3.1 while free space is below 1.5x the size limit") {
  smtp::testing::LabPolicy lab;
  std::uint64_t free_bytes = 1'500'000;
  StorageCheckedPolicy policy(lab, 1'000'000, [&]() -> std::optional<std::uint64_t> { return free_bytes; });
  CHECK_FALSE(policy.storage_low());  // exactly 1.5x is enough
  free_bytes = 1'499'999;
  CHECK(policy.storage_low());
  const std::string refused = dialog(policy, {"EHLO c", "MAIL FROM:<x@other.test>"});
  CHECK(has(refused, "452 4.3.1 Insufficient system storage\r\n"));
  free_bytes = 50'000'000;  // space is back: the next MAIL FROM is accepted
  const std::string accepted = dialog(policy, {"EHLO c", "MAIL FROM:<x@other.test>", "RCPT TO:<alice@lab.test>"});
  CHECK(has(accepted, "250 2.1.0"));
  CHECK(has(accepted, "250 2.1.5"));
}

TEST_CASE("storage-checked policy: unknown free space does not refuse; the lab policy still decides the rest") {
  smtp::testing::LabPolicy lab;
  StorageCheckedPolicy policy(lab, 1'000'000, [] { return std::optional<std::uint64_t>{}; });
  CHECK_FALSE(policy.storage_low());
  const std::string out = dialog(policy, {"EHLO c", "MAIL FROM:<x@other.test>", "RCPT TO:<y@other.test>"});
  CHECK(has(out, "250 2.1.0"));
  CHECK(has(out, "554 5.7.1"));  // relay denied by the lab policy behind it
}

TEST_CASE("free space probe: statvfs of an existing directory answers, of a missing one is unknown") {
  auto here = free_space_of(std::filesystem::temp_directory_path());
  CHECK(here().has_value());
  auto missing = free_space_of(std::filesystem::temp_directory_path() / "maillab-no-such-dir-for-statvfs");
  CHECK_FALSE(missing().has_value());
}

TEST_CASE("free space probe: it holds the directory open, so a state directory moved away is still measured") {
  const auto base = std::filesystem::temp_directory_path() / ("maillab-free-space-" + std::to_string(::getpid()));
  std::filesystem::remove_all(base);
  std::filesystem::create_directories(base / "state");
  auto probe = free_space_of(base / "state");
  const auto copy = probe;  // the server keeps copies of the probe; they share the descriptor
  std::filesystem::rename(base / "state", base / "moved");
  CHECK(probe().has_value());
  CHECK(copy().has_value());
  std::filesystem::remove_all(base);
}
