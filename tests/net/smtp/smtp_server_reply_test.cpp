#include <doctest/doctest.h>

#include "net/smtp/smtp_reply.hpp"

using namespace maillab::net::smtp;

TEST_CASE("smtp reply: a one-line reply carries code, enhanced code and text") {
  CHECK(replies::sender_ok().to_wire() == "250 2.1.0 Ok\r\n");
  CHECK(replies::sender_ok().first_wire_line() == "250 2.1.0 Ok");
}

TEST_CASE("smtp reply: a multi-line reply uses '-' on every line but the last") {
  const Reply reply = replies::ehlo("mx.lab.test", "client.test", {"PIPELINING", "8BITMIME"});
  CHECK(reply.to_wire() ==
        "250-mx.lab.test Hello client.test\r\n250-PIPELINING\r\n250 8BITMIME\r\n");
  CHECK(reply.first_wire_line() == "250-mx.lab.test Hello client.test");
}

TEST_CASE("smtp reply: the enhanced code repeats on every line of a multi-line reply") {
  CHECK(replies::help().to_wire().find("214-2.0.0 Commands supported:\r\n") == 0);
  CHECK(replies::help().to_wire().find("214 2.0.0 See RFC 5321\r\n") != std::string::npos);
}

TEST_CASE("smtp reply: a reply without text is the code and enhanced code alone") {
  CHECK(Reply{250, "2.0.0", {}}.to_wire() == "250 2.0.0\r\n");
  CHECK(Reply{354, "", {}}.to_wire() == "354 \r\n");
}

TEST_CASE("smtp reply: the catalogue answers with the issue's codes") {
  CHECK(replies::bad_sequence("x").first_wire_line().starts_with("503 5.5.1"));
  CHECK(replies::syntax("x").first_wire_line().starts_with("501 5.5.4"));
  CHECK(replies::command_unrecognized().first_wire_line().starts_with("500 5.5.2"));
  CHECK(replies::too_many_recipients().first_wire_line().starts_with("452 4.5.3"));
  CHECK(replies::message_too_big().first_wire_line().starts_with("552 5.3.4"));
  CHECK(replies::relay_denied("<a@b>").first_wire_line() == "554 5.7.1 <a@b>: Relay access denied");
  CHECK(replies::unknown_user("<a@b>").first_wire_line().starts_with("550 5.1.1 <a@b>"));
  CHECK(replies::auth_required().first_wire_line().starts_with("530 5.7.0"));
  CHECK(replies::auth_failed().first_wire_line().starts_with("535 5.7.8"));
  CHECK(replies::too_many_errors("mx").first_wire_line().starts_with("421 4.7.0"));
  CHECK(replies::timeout("mx").first_wire_line().starts_with("421 4.4.2"));
  CHECK(replies::queued("Q1").first_wire_line() == "250 2.0.0 Ok: queued as Q1");
  CHECK(replies::vrfy_cannot_verify().first_wire_line().starts_with("252 2.5.2"));
}

TEST_CASE("smtp reply: classes follow the first digit") {
  CHECK(replies::start_mail_input().is_intermediate());
  CHECK(replies::start_mail_input().is_positive());
  CHECK(replies::local_error().is_transient());
  CHECK(replies::relay_denied("<a@b>").is_permanent());
  CHECK_FALSE(replies::ok().is_transient());
  CHECK(Reply{250, "", {"a", "b"}}.text() == "a\nb");
}
