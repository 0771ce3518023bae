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
