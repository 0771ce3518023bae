// The configurable waits of the SMTP server engine (scenario [limits]:
// smtp_idle_timeout, smtp_data_timeout): they replace RFC 5321 §4.5.3.2's
// defaults in the command and data states and nowhere else.
#include <doctest/doctest.h>

#include <chrono>

#include "net/smtp/smtp_server_harness.hpp"

using namespace maillab;
using namespace maillab::net::smtp;
using maillab::net::smtp::testing::Lab;
using namespace std::chrono_literals;

TEST_CASE("smtp server: a configured command timeout of 10 min keeps an idle client for 10 min, then 421 4.4.2") {
  Lab lab;
  lab.config.command_timeout = 10min;
  lab.start();
  CHECK(lab.server->poll_timeout() == lab.now + Duration{10min});
  lab.write("EHLO c\r\n");
  lab.write("MAIL FROM:<alice@lab.test>\r\n");
  CHECK(lab.server->poll_timeout() == lab.now + Duration{10min});
  CHECK(lab.advance(Duration{9min}).empty());
  CHECK(lab.advance(Duration{1min}) == "421 4.4.2 mail.lab.test Error: timeout exceeded\r\n");
  CHECK(lab.close_reasons == std::vector<std::string>{"idle timeout"});
}

TEST_CASE("smtp server: a configured data block timeout applies inside DATA only") {
  Lab lab;
  lab.config.command_timeout = 7min;
  lab.config.data_block_timeout = 4min;
  lab.open_transaction();
  CHECK(lab.server->poll_timeout() == lab.now + Duration{4min});
  lab.write("Subject: slow\r\n");
  CHECK(lab.advance(Duration{3min}).empty());
  CHECK(lab.advance(Duration{1min}) == "421 4.4.2 mail.lab.test Error: timeout exceeded\r\n");
  CHECK(lab.messages.empty());
}

TEST_CASE("smtp server: the storage wait keeps RFC 5321's 10 min whatever the command timeout") {
  Lab lab;
  lab.config.command_timeout = 20min;
  lab.open_transaction();
  lab.write("body\r\n.\r\n");
  REQUIRE(lab.messages.size() == 1);
  CHECK(lab.state() == ServerState::queueing);
  CHECK(lab.server->poll_timeout() == lab.now + Duration{10min});
}

TEST_CASE("smtp server: a client trickling a command one byte a minute gets 421 4.4.2 5 min after its last line "
          "(catalogue row 18)") {
  Lab lab;
  lab.start();
  lab.write("EHLO c\r\n");
  const Instant last_line = lab.now;
  std::string replies;
  for (int minute = 1; minute <= 4; ++minute) {
    replies += lab.advance(Duration{1min});
    lab.write("N");  // slowloris: never a whole line, always some input
  }
  CHECK(replies.empty());
  CHECK(lab.server->poll_timeout() == last_line + Duration{5min});
  CHECK(lab.advance(Duration{1min}) == "421 4.4.2 mail.lab.test Error: timeout exceeded\r\n");
  CHECK(lab.close_reasons == std::vector<std::string>{"idle timeout"});
}

TEST_CASE("smtp server: every whole command line restarts the 5 min wait, an endless line does not") {
  Lab lab;
  lab.start();
  for (int i = 0; i < 10; ++i) {
    CHECK(lab.advance(Duration{4min}).empty());
    CHECK(lab.write("NOOP\r\n") == "250 2.0.0 Ok\r\n");
  }
  const Instant last_line = lab.now;
  for (int i = 0; i < 4; ++i) {
    CHECK(lab.advance(Duration{1min}).empty());
    lab.write(std::string(1000, 'z'));  // over the line limit: skipped, but still no line end
  }
  CHECK(lab.server->poll_timeout() == last_line + Duration{5min});
  CHECK(lab.advance(Duration{1min}) == "421 4.4.2 mail.lab.test Error: timeout exceeded\r\n");
}

TEST_CASE("smtp server: inside DATA each block received restarts the 3 min data-block wait (RFC 5321 §4.5.3.2.5)") {
  Lab lab;
  lab.config.min_data_rate = 0;  // the block wait alone (the minimum rate: smtp_server_data_rate_test.cpp)
  lab.open_transaction();
  for (int i = 0; i < 5; ++i) {
    CHECK(lab.advance(Duration{2min}).empty());
    lab.write("part of a long line ");
  }
  CHECK(lab.server->poll_timeout() == lab.now + Duration{3min});
  CHECK(lab.write("\r\n.\r\n").empty());
  CHECK(lab.accept() == "250 2.0.0 Ok: queued as Q1\r\n");
}
