#include <doctest/doctest.h>

#include <string>

#include "sim/scenario.hpp"

using namespace maillab;
using namespace maillab::sim;
using namespace std::chrono_literals;

namespace {

const std::string base = R"(title = "t"
description = "d"
[[domain]]
name = "lab.test"
[[user]]
address = "alice@lab.test"
password = "a"
[limits]
)";
constexpr int limits_line = 9;  // the first line after [limits]

std::vector<std::string> errors_of(const std::string& text) {
  auto load = load_scenario(text, "t.toml");
  std::vector<std::string> out;
  for (const auto& error : load.errors) out.push_back(error.to_string());
  return out;
}

std::string only_error(const std::string& limits) {
  auto errors = errors_of(base + limits);
  REQUIRE(errors.size() == 1);
  return errors.front();
}

Scenario loaded(const std::string& limits) {
  auto load = load_scenario(base + limits, "t.toml");
  if (!load.errors.empty()) FAIL(load.errors.front().to_string());
  return *load.scenario;
}

}  // namespace

TEST_CASE("scenario limits: without [limits] the defaults are the catalogue's lab column") {
  const LimitsSpec l = loaded("").limits;
  CHECK(l.connections_max == 1000);
  CHECK(l.connections_per_ip_max == 10);
  CHECK(l.imap_sessions_per_user_max == 10);
  CHECK(l.smtp_idle_timeout == 5min);
  CHECK(l.smtp_data_timeout == 3min);
  CHECK(l.imap_autologout == 30min);
  CHECK(l.imap_login_timeout == 3min);
  CHECK(l.pop3_idle_timeout == 10min);
  CHECK(l.output_timeout == 5min);
  CHECK(l.smtp_line_bytes_max == 4096);
  CHECK(l.message_bytes_max == 25u * 1024 * 1024);
  CHECK(l.recipients_max == 100);
  CHECK(l.smtp_errors_max == 20);
  CHECK(l.imap_line_bytes_max == 64u * 1024);
  CHECK(l.imap_literal_bytes_max == 25u * 1024 * 1024);
  CHECK(l.imap_depth_max == 8);
}

TEST_CASE("scenario limits: every key is read, sizes as bytes or with a unit") {
  const LimitsSpec l = loaded(R"(connections_max = 50
connections_per_ip_max = 3
imap_sessions_per_user_max = 2
smtp_idle_timeout = "10m"
smtp_data_timeout = "4m"
imap_autologout = "1h"
imap_login_timeout = "1m"
pop3_idle_timeout = "15m"
output_timeout = "2s"
smtp_line_bytes_max = 1000
message_bytes_max = "10MB"
recipients_max = 250
smtp_errors_max = 5
imap_line_bytes_max = "16KiB"
imap_literal_bytes_max = 1048576
imap_depth_max = 16
)").limits;
  CHECK(l.connections_max == 50);
  CHECK(l.connections_per_ip_max == 3);
  CHECK(l.imap_sessions_per_user_max == 2);
  CHECK(l.smtp_idle_timeout == 10min);
  CHECK(l.smtp_data_timeout == 4min);
  CHECK(l.imap_autologout == 1h);
  CHECK(l.imap_login_timeout == 1min);
  CHECK(l.pop3_idle_timeout == 15min);
  CHECK(l.output_timeout == 2s);
  CHECK(l.smtp_line_bytes_max == 1000);
  CHECK(l.message_bytes_max == 10'000'000);
  CHECK(l.recipients_max == 250);
  CHECK(l.smtp_errors_max == 5);
  CHECK(l.imap_line_bytes_max == 16 * 1024);
  CHECK(l.imap_literal_bytes_max == 1024 * 1024);
  CHECK(l.imap_depth_max == 16);
}

TEST_CASE("scenario limits error: timeouts below the RFC minimums are refused at the value, not clamped") {
  CHECK(only_error("smtp_idle_timeout = \"4m59s\"\n") ==
        "t.toml:9:21: 'smtp_idle_timeout' = 4m59s is below the RFC 5321 §4.5.3.2.7 minimum of 5m");
  CHECK(only_error("smtp_data_timeout = \"2m\"\n") ==
        "t.toml:9:21: 'smtp_data_timeout' = 2m is below the RFC 5321 §4.5.3.2.5 minimum of 3m");
  CHECK(only_error("imap_autologout = \"29m\"\n") ==
        "t.toml:9:19: 'imap_autologout' = 29m is below the RFC 9051 §5.4 minimum of 30m");
  CHECK(only_error("pop3_idle_timeout = \"9m\"\n") ==
        "t.toml:9:21: 'pop3_idle_timeout' = 9m is below the RFC 1939 §3 minimum of 10m");
  CHECK(only_error("output_timeout = \"0s\"\n") ==
        "t.toml:9:18: 'output_timeout' = 0s is below the lab's minimum of 1s");
  CHECK(only_error("imap_autologout = \"2d\"\n") == "t.toml:9:19: 'imap_autologout' = 2d is longer than 1d");
}

TEST_CASE("scenario limits error: sizes and counts below the RFC minimums name the RFC") {
  CHECK(only_error("recipients_max = 99\n") == "t.toml:9:18: 'recipients_max' must be at least 100 (RFC 5321 §4.5.3.1.8)");
  CHECK(only_error("smtp_line_bytes_max = 511\n") ==
        "t.toml:9:23: 'smtp_line_bytes_max' must be at least 512 (RFC 5321 §4.5.3.1.4)");
  CHECK(only_error("message_bytes_max = \"32KiB\"\n") ==
        "t.toml:9:21: 'message_bytes_max' must be at least 65536 (RFC 5321 §4.5.3.1.7)");
  CHECK(only_error("imap_line_bytes_max = 4096\n") ==
        "t.toml:9:23: 'imap_line_bytes_max' must be at least 8192 (RFC 7162 §4)");
  CHECK(only_error("connections_max = 0\n") == "t.toml:9:19: 'connections_max' must be at least 1");
  CHECK(only_error("connections_per_ip_max = -3\n") == "t.toml:9:26: 'connections_per_ip_max' must be at least 1");
  CHECK(only_error("imap_depth_max = 1000\n") == "t.toml:9:18: 'imap_depth_max' must be at most 100");
}

TEST_CASE("scenario limits error: wrong types, bad units and unknown keys are reported where they are") {
  CHECK(only_error("recipients_max = \"many\"\n") == "t.toml:9:18: 'recipients_max' must be a whole number");
  CHECK(only_error("message_bytes_max = \"25 parsecs\"\n").find(
            "t.toml:9:21: 'message_bytes_max' must be a size: bytes, or a string like") == 0);
  CHECK(only_error("message_bytes_max = \"99999999999999GiB\"\n").find("t.toml:9:21: 'message_bytes_max' must be a size") ==
        0);
  CHECK(only_error("smtp_idle_timeout = 300\n") ==
        "t.toml:9:21: 'smtp_idle_timeout' must be a duration string like \"90s\", \"10m\" or \"1h30m\"");
  CHECK(only_error("max_connections = 5\n").find("t.toml:9:1: unknown key 'max_connections' in [limits] (known: "
                                                 "connections_max, ") == 0);
  CHECK(errors_of(R"(title = "t"
description = "d"
limits = 5
[[domain]]
name = "lab.test"
)") == std::vector<std::string>{"t.toml:3:10: 'limits' must be a table: write [limits]"});
}

TEST_CASE("scenario limits error: every bad value is reported, not only the first") {
  auto errors = errors_of(base + "recipients_max = 1\nimap_autologout = \"1m\"\nsmtp_errors_max = 0\n");
  REQUIRE(errors.size() == 3);
  CHECK(errors[0].rfind("t.toml:" + std::to_string(limits_line) + ":", 0) == 0);
  CHECK(errors[1].rfind("t.toml:" + std::to_string(limits_line + 1) + ":", 0) == 0);
  CHECK(errors[2].rfind("t.toml:" + std::to_string(limits_line + 2) + ":", 0) == 0);
}

TEST_CASE("scenario limits: the SMTP error delay and junk limit are read, defaults as Postfix") {
  const LimitsSpec defaults = loaded("").limits;
  CHECK(defaults.smtp_errors_soft_max == 10);
  CHECK(defaults.smtp_error_delay == 1s);
  CHECK(defaults.smtp_junk_commands_max == 100);
  const LimitsSpec l = loaded("smtp_errors_soft_max = 3\nsmtp_error_delay = \"0s\"\nsmtp_junk_commands_max = 7\n").limits;
  CHECK(l.smtp_errors_soft_max == 3);
  CHECK(l.smtp_error_delay == Duration::zero());
  CHECK(l.smtp_junk_commands_max == 7);
  CHECK(only_error("smtp_error_delay = \"2m\"\n") ==
        "t.toml:9:20: 'smtp_error_delay' = 2m must be between 0s and 1m");
}

TEST_CASE("scenario limits: the SMTP header section cap is read as a size, at least 4 KiB") {
  CHECK(loaded("").limits.smtp_header_bytes_max == 100 * 1024);
  CHECK(loaded("smtp_header_bytes_max = \"1MiB\"\n").limits.smtp_header_bytes_max == 1024 * 1024);
  CHECK(only_error("smtp_header_bytes_max = 1000\n") ==
        "t.toml:9:25: 'smtp_header_bytes_max' must be at least 4096 (real header sections run to a few KiB)");
}

TEST_CASE("scenario limits: the SMTP minimum data rate is read in bytes per second, 500 by default, 0 turns it off") {
  CHECK(loaded("").limits.smtp_min_data_rate == 500);
  CHECK(loaded("smtp_min_data_rate = 1000\n").limits.smtp_min_data_rate == 1000);
  CHECK(loaded("smtp_min_data_rate = 0\n").limits.smtp_min_data_rate == 0);
  CHECK(only_error("smtp_min_data_rate = -1\n") ==
        "t.toml:9:22: 'smtp_min_data_rate' must be 0 (off) or a rate in bytes per second");
  CHECK(only_error("smtp_min_data_rate = \"500B\"\n") == "t.toml:9:22: 'smtp_min_data_rate' must be a whole number");
  CHECK(only_error("smtp_min_data_rate = 100000001\n") ==
        "t.toml:9:22: 'smtp_min_data_rate' must be at most 100000000");
}
