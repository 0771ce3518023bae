// The message content's per-request deadline (catalogue row 18; Postfix
// smtpd_per_request_deadline with smtpd_min_data_rate 500): from DATA or the
// first BDAT the client has the data-block timeout plus N / min_data_rate
// seconds for the N octets it sent since.  Past it: 421 4.4.2 (RFC 5321
// §4.5.3.2, §3.8), the session closes, nothing is stored.
#include <doctest/doctest.h>

#include <chrono>
#include <string>

#include "net/smtp/smtp_server_harness.hpp"

using namespace maillab;
using namespace maillab::net::smtp;
using maillab::net::smtp::testing::Lab;
using namespace std::chrono_literals;

namespace {
constexpr std::string_view kTimeout = "421 4.4.2 mail.lab.test Error: timeout exceeded\r\n";

// One text line of `octets` octets, CRLF included.
std::string text_line(std::size_t octets) { return std::string(octets - 2, 'x') + "\r\n"; }
}  // namespace

TEST_CASE("smtp server: a DATA trickling one byte every 170 s gets 421 4.4.2 at 3 min plus 2 ms per byte "
          "(catalogue row 18)") {
  Lab lab;
  lab.open_transaction();
  const Instant start = lab.now;
  CHECK(lab.server->poll_timeout() == start + Duration{3min});
  CHECK(lab.advance(170s).empty());
  CHECK(lab.write("S").empty());  // the data-block wait alone would now run to 170 s + 3 min
  CHECK(lab.server->poll_timeout() == start + Duration{3min} + Duration{2ms});  // 1 octet at 500 octets/s
  CHECK(lab.advance(Duration{10s} + Duration{2ms} - Duration{1}).empty());
  CHECK(lab.advance(Duration{1}) == kTimeout);
  CHECK(lab.close_reasons == std::vector<std::string>{"minimum data rate"});
  CHECK(lab.notes == std::vector<std::string>{"message content below 500 octets/s: 1 octets in 180 s"});
  CHECK(lab.state() == ServerState::closing);
  CHECK(lab.messages.empty());
  CHECK(lab.write("ubject: late\r\n.\r\n").empty());  // nothing is read after the 421
  CHECK(lab.messages.empty());
}

TEST_CASE("smtp server: 600 octets a second for 400 s (above 500 octets/s) is stored") {
  Lab lab;
  lab.open_transaction();
  CHECK(lab.write("Subject: slow but steady\r\n\r\n").empty());
  for (int second = 0; second < 400; ++second) {
    REQUIRE(lab.advance(1s).empty());
    REQUIRE(lab.write(text_line(600)).empty());
  }
  CHECK(lab.write(".\r\n").empty());
  REQUIRE(lab.messages.size() == 1);
  CHECK(lab.messages[0].data.size() == 28 + 400 * 600);
  CHECK(lab.accept() == "250 2.0.0 Ok: queued as Q1\r\n");
  CHECK(lab.close_reasons.empty());
}

TEST_CASE("smtp server: 400 octets a second inside DATA is cut at 896 s, where 3 min + N / 500 runs out") {
  Lab lab;
  lab.open_transaction();
  const Instant start = lab.now;
  std::string replies;
  for (int second = 1; second < 896; ++second) {
    replies += lab.advance(1s);
    lab.write(text_line(400));
  }
  CHECK(replies.empty());
  CHECK(lab.server->poll_timeout() == start + Duration{896s});  // 180 s + 895 x 400 / 500 s
  CHECK(lab.advance(1s) == kTimeout);
  CHECK(lab.messages.empty());
}

TEST_CASE("smtp server: min_data_rate = 0 leaves a trickling DATA to the data-block wait alone") {
  Lab lab;
  lab.config.min_data_rate = 0;
  lab.open_transaction();
  for (int i = 0; i < 20; ++i) {
    CHECK(lab.advance(170s).empty());
    lab.write("x");
  }
  CHECK(lab.write("\r\n.\r\n").empty());
  CHECK(lab.messages.size() == 1);
}

TEST_CASE("smtp server: a BDAT chunk trickled below the rate gets 421 4.4.2 and nothing is stored") {
  Lab lab;
  lab.open_envelope();
  const Instant start = lab.now;
  CHECK(lab.write("BDAT 1000 LAST\r\nSubject: t").empty());  // 10 octets came with the command: 20 ms
  CHECK(lab.server->poll_timeout() == start + Duration{3min});  // the data-block wait is sooner
  std::string replies;
  for (int i = 0; i < 10; ++i) {
    replies += lab.advance(17s);
    lab.write("r");
  }
  CHECK(replies.empty());
  CHECK(lab.server->poll_timeout() == start + Duration{3min} + Duration{40ms});
  CHECK(lab.advance(Duration{10s} + Duration{40ms}) == kTimeout);
  CHECK(lab.close_reasons == std::vector<std::string>{"minimum data rate"});
  CHECK(lab.messages.empty());
}

TEST_CASE("smtp server: between BDAT chunks the message's deadline still runs, not the 5 min command wait") {
  Lab lab;
  lab.open_envelope();
  const Instant start = lab.now;
  CHECK(lab.write("BDAT 12\r\nSubject: a\r\n") == "250 2.0.0 Ok: 12 octets received\r\n");
  CHECK(lab.state() == ServerState::rcpt);
  CHECK(lab.advance(2min).empty());
  CHECK(lab.write("BDAT 2\r\n\r\n") == "250 2.0.0 Ok: 2 octets received\r\n");
  // 12 + 8 + 2 octets since the first BDAT line: 44 ms of credit, sooner than the 5 min command wait.
  CHECK(lab.server->poll_timeout() == start + Duration{3min} + Duration{44ms});
  CHECK(lab.advance(Duration{1min} + Duration{44ms} - Duration{1}).empty());
  CHECK(lab.advance(Duration{1}) == kTimeout);
  CHECK(lab.close_reasons == std::vector<std::string>{"minimum data rate"});
  CHECK(lab.messages.empty());
}

TEST_CASE("smtp server: BDAT at 1,000 octets a second for 250 s is stored") {
  Lab lab;
  lab.open_envelope();
  CHECK(lab.write("BDAT 250017 LAST\r\nSubject: fast\r\n\r\n").empty());  // 17 + 250 x 1,000 octets
  for (int second = 0; second < 250; ++second) {
    REQUIRE(lab.advance(1s).empty());
    lab.write(text_line(1000));
  }
  REQUIRE(lab.messages.size() == 1);
  CHECK(lab.messages[0].data.size() == 250017);
  CHECK(lab.accept() == "250 2.0.0 Ok: queued as Q1\r\n");
}

TEST_CASE("smtp server: the message's deadline ends at the dot: storing it has RFC 5321's 10 min") {
  Lab lab;
  lab.open_transaction();
  CHECK(lab.advance(170s).empty());
  CHECK(lab.write("Subject: s\r\n\r\nbody\r\n.\r\n").empty());
  REQUIRE(lab.messages.size() == 1);
  CHECK(lab.server->poll_timeout() == lab.now + Duration{10min});
  CHECK(lab.advance(9min).empty());
  CHECK(lab.accept() == "250 2.0.0 Ok: queued as Q1\r\n");
  CHECK(lab.server->poll_timeout() == lab.now + Duration{5min});  // the next command's wait, no request open
}
