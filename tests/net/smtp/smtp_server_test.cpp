// The SMTP server engine, transcript by transcript: every command, every reply
// code of issue 2, timeouts and the error cap.  The safety items (smuggling,
// STARTTLS injection, limits) are in smtp_server_safety_test.cpp.
#include <doctest/doctest.h>

#include <chrono>

#include "net/core/base64.hpp"
#include "net/core/sasl.hpp"
#include "net/smtp/smtp_server_harness.hpp"

using namespace maillab;
using namespace maillab::net::smtp;
using maillab::net::smtp::testing::Lab;
using namespace std::chrono_literals;

namespace {
bool has(const std::string& text, std::string_view part) { return text.find(part) != std::string::npos; }
}  // namespace

TEST_CASE("smtp server: the greeting is 220 with the host name and the session waits for EHLO") {
  Lab lab;
  CHECK(lab.start() == "220 mail.lab.test ESMTP maillab\r\n");
  CHECK(lab.state() == ServerState::greeted);
  REQUIRE(lab.states.size() == 1);
  CHECK(lab.states[0] == std::pair<std::string, std::string>{"connecting", "greeted"});
}

TEST_CASE("smtp server: EHLO advertises the extensions, each on its own line") {
  Lab lab;
  lab.config.tls_available = true;
  lab.start();
  CHECK(lab.write("EHLO client.test\r\n") ==
        "250-mail.lab.test Hello client.test\r\n"
        "250-PIPELINING\r\n"
        "250-SIZE 10485760\r\n"
        "250-STARTTLS\r\n"
        "250-AUTH PLAIN LOGIN\r\n"
        "250-ENHANCEDSTATUSCODES\r\n"
        "250-8BITMIME\r\n"
        "250-SMTPUTF8\r\n"
        "250 CHUNKING\r\n");
  CHECK(lab.state() == ServerState::ready);
}

TEST_CASE("smtp server: on implicit TLS STARTTLS is not advertised; on submission without TLS AUTH is not") {
  Lab implicit;
  implicit.config.tls_available = true;
  implicit.config.tls_active = true;
  implicit.start();
  const std::string ehlo = implicit.write("EHLO c\r\n");
  CHECK_FALSE(has(ehlo, "STARTTLS"));
  CHECK(has(ehlo, "AUTH PLAIN LOGIN"));
  CHECK(implicit.lines.back().tls);

  Lab submission;
  submission.config.submission = true;
  submission.config.tls_available = true;
  submission.start();
  const std::string plain = submission.write("EHLO c\r\n");
  CHECK(has(plain, "STARTTLS"));
  CHECK_FALSE(has(plain, "AUTH"));
}

TEST_CASE("smtp server: HELO gets a one-line 250 and ESMTP parameters after HELO get 555 5.5.4") {
  Lab lab;
  lab.start();
  CHECK(lab.write("HELO client.test\r\n") == "250 mail.lab.test Hello client.test\r\n");
  CHECK(lab.write("MAIL FROM:<alice@lab.test> BODY=8BITMIME\r\n") == "555 5.5.4 Error: parameters need EHLO\r\n");
  CHECK(lab.write("MAIL FROM:<alice@lab.test>\r\n") == "250 2.1.0 Ok\r\n");
}

TEST_CASE("smtp server: EHLO without a name, or with a space in it, gets 501 5.5.4") {
  Lab lab;
  lab.start();
  CHECK(lab.write("EHLO\r\n") == "501 5.5.4 Syntax: EHLO hostname\r\n");
  CHECK(lab.write("EHLO a b\r\n") == "501 5.5.4 Syntax: EHLO hostname\r\n");
  CHECK(lab.write("HELO a\tb\r\n") == "501 5.5.4 Syntax: HELO hostname\r\n");
  CHECK(lab.state() == ServerState::greeted);
}

TEST_CASE("smtp server: a whole transaction gives one MessageEvent and 250 only after complete_message") {
  Lab lab;
  lab.start();
  CHECK(lab.write("EHLO client.test\r\n").starts_with("250-"));
  CHECK(lab.write("MAIL FROM:<alice@lab.test> SIZE=100 BODY=8BITMIME\r\n") == "250 2.1.0 Ok\r\n");
  CHECK(lab.write("RCPT TO:<bob@lab.test>\r\n") == "250 2.1.5 Ok\r\n");
  CHECK(lab.write("RCPT TO:<alice@lab.test>\r\n") == "250 2.1.5 Ok\r\n");
  CHECK(lab.write("DATA\r\n") == "354 End data with <CR><LF>.<CR><LF>\r\n");
  CHECK(lab.state() == ServerState::data);
  CHECK(lab.write("Subject: hi\r\n\r\nHello Bob.\r\n.\r\n").empty());
  CHECK(lab.state() == ServerState::queueing);
  REQUIRE(lab.messages.size() == 1);
  const MessageEvent& message = lab.messages[0];
  CHECK(message.reverse_path.to_string() == "alice@lab.test");
  REQUIRE(message.forward_paths.size() == 2);
  CHECK(message.forward_paths[0].to_string() == "bob@lab.test");
  CHECK(message.forward_paths[1].to_string() == "alice@lab.test");
  CHECK(message.data == "Subject: hi\r\n\r\nHello Bob.\r\n");
  CHECK(message.body == BodyType::eight_bit_mime);
  CHECK(message.declared_size == std::optional<std::uint64_t>{100});
  CHECK(message.helo_name == "client.test");
  CHECK(message.authenticated_user.empty());
  CHECK_FALSE(message.tls);
  CHECK_FALSE(message.chunked);
  REQUIRE(lab.data_summaries.size() == 1);
  CHECK(lab.data_summaries[0].lines == 3);
  CHECK(lab.lines.back().text == ".");

  CHECK(lab.write("QUIT\r\n").empty());  // held until the message is stored
  CHECK(lab.accept("4F2A") == "250 2.0.0 Ok: queued as 4F2A\r\n221 2.0.0 mail.lab.test Bye\r\n");
  CHECK(lab.state() == ServerState::closing);
  CHECK(lab.close_reasons == std::vector<std::string>{"QUIT"});
}

TEST_CASE("smtp server: a store failure answers 451 4.3.0, 452 4.3.1 or 554 and the session goes on") {
  Lab lab;
  lab.open_transaction();
  lab.write("x\r\n.\r\n");
  CHECK(lab.complete({StoreResult::temporary_failure, {}, {}}) == "451 4.3.0 Error: queue file write error\r\n");
  CHECK(lab.state() == ServerState::ready);
  lab.write("MAIL FROM:<alice@lab.test>\r\nRCPT TO:<bob@lab.test>\r\nDATA\r\nx\r\n.\r\n");
  CHECK(lab.complete({StoreResult::insufficient_storage, {}, {}}) == "452 4.3.1 Insufficient system storage\r\n");
  lab.write("MAIL FROM:<alice@lab.test>\r\nRCPT TO:<bob@lab.test>\r\nDATA\r\nx\r\n.\r\n");
  CHECK(lab.complete({StoreResult::permanent_failure, {}, "mailbox is corrupt"}) ==
        "554 5.0.0 Error: mailbox is corrupt\r\n");
  CHECK(lab.messages.size() == 3);
  CHECK(lab.complete({StoreResult::accepted, "late", {}}) == "(not taken)");
}

TEST_CASE("smtp server: a pipelined group is answered in order, and input sent while storing waits its turn") {
  Lab lab;
  lab.start();
  lab.write("EHLO c\r\n");
  CHECK(lab.write("MAIL FROM:<alice@lab.test>\r\nRCPT TO:<bob@lab.test>\r\nRCPT TO:<nobody@lab.test>\r\nDATA\r\n") ==
        "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n550 5.1.1 <nobody@lab.test>: Recipient address rejected: User unknown\r\n"
        "354 End data with <CR><LF>.<CR><LF>\r\n");
  CHECK(lab.write("one\r\n.\r\nMAIL FROM:<bob@lab.test>\r\nRCPT TO:<alice@lab.test>\r\nDATA\r\n").empty());
  CHECK(lab.accept("Q1") == "250 2.0.0 Ok: queued as Q1\r\n250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n");
  CHECK(lab.write("two\r\n.\r\n").empty());
  CHECK(lab.accept("Q2") == "250 2.0.0 Ok: queued as Q2\r\n");
  REQUIRE(lab.messages.size() == 2);
  CHECK(lab.messages[1].data == "two\r\n");
}

TEST_CASE("smtp server: commands out of sequence get 503 5.5.1") {
  Lab lab;
  lab.start();
  CHECK(lab.write("MAIL FROM:<alice@lab.test>\r\n") == "503 5.5.1 Error: send HELO/EHLO first\r\n");
  lab.write("EHLO c\r\n");
  CHECK(lab.write("RCPT TO:<bob@lab.test>\r\n") == "503 5.5.1 Error: need MAIL command\r\n");
  CHECK(lab.write("DATA\r\n") == "503 5.5.1 Error: need MAIL command\r\n");
  CHECK(lab.write("MAIL FROM:<alice@lab.test>\r\n") == "250 2.1.0 Ok\r\n");
  CHECK(lab.write("DATA\r\n") == "503 5.5.1 Error: need RCPT command\r\n");
  CHECK(lab.write("MAIL FROM:<alice@lab.test>\r\n") == "503 5.5.1 Error: nested MAIL command\r\n");
  CHECK(lab.state() == ServerState::mail);
}

TEST_CASE("smtp server: syntax errors get 501 5.5.4, unknown commands 500 5.5.2, EXPN 502 5.5.1") {
  Lab lab;
  lab.config.error_delay = Duration::zero();  // 15 errors: past the soft limit (smtp_server_errors_test.cpp)
  lab.start();
  lab.write("EHLO c\r\n");
  CHECK(lab.write("MAIL FROM alice@lab.test\r\n") == "501 5.5.4 Syntax: MAIL FROM:<address>\r\n");
  CHECK(lab.write("MAIL FROM:alice@lab.test\r\n") == "501 5.5.4 Syntax: MAIL FROM:<address>\r\n");
  CHECK(lab.write("MAIL FROM:<alice@lab.test> =x\r\n") == "501 5.5.4 Syntax: MAIL FROM:<address>\r\n");
  CHECK(lab.write("MAIL FROM:<alice@@lab.test>\r\n").starts_with("501 5.1.7 Bad sender address syntax"));
  CHECK(lab.write("MAIL FROM:<;sleep 66;@lab.test>\r\n").starts_with("501 5.1.7"));
  CHECK(lab.write("MAIL FROM:<alice@lab.test> NOTIFY=NEVER\r\n") == "555 5.5.4 Unsupported option: NOTIFY\r\n");
  CHECK(lab.write("MAIL FROM: <alice@lab.test>\r\n") == "250 2.1.0 Ok\r\n");  // a space after ':' is tolerated
  CHECK(lab.write("RCPT TO bob@lab.test\r\n") == "501 5.5.4 Syntax: RCPT TO:<address>\r\n");
  CHECK(lab.write("RCPT TO:<bob>\r\n").starts_with("501 5.1.3 Bad recipient address syntax"));
  CHECK(lab.write("RCPT TO:<>\r\n").starts_with("501 5.1.3"));
  CHECK(lab.write("RCPT TO:<bob@lab.test> NOTIFY=NEVER\r\n") == "555 5.5.4 Unsupported option: NOTIFY\r\n");
  CHECK(lab.write("RCPT TO:<bob@lab.test>\r\n") == "250 2.1.5 Ok\r\n");
  CHECK(lab.write("DATA now\r\n") == "501 5.5.4 Syntax: DATA\r\n");
  CHECK(lab.write("FOO\r\n") == "500 5.5.2 Error: command not recognized\r\n");
  CHECK(lab.write("EXPN staff\r\n") == "502 5.5.1 Error: command not implemented\r\n");
  CHECK(lab.write("RSET now\r\n") == "501 5.5.4 Syntax: RSET\r\n");
  CHECK(lab.write("QUIT now\r\n") == "501 5.5.4 Syntax: QUIT\r\n");
  CHECK(lab.state() == ServerState::rcpt);
}

TEST_CASE("smtp server: verbs are case-insensitive and the null reverse path is accepted") {
  Lab lab;
  lab.start();
  lab.write("ehlo c\r\n");
  CHECK(lab.write("mail from:<>\r\n") == "250 2.1.0 Ok\r\n");
  CHECK(lab.write("rcpt to:<bob@lab.test>\r\n") == "250 2.1.5 Ok\r\n");
  lab.write("data\r\n.\r\n");
  REQUIRE(lab.messages.size() == 1);
  CHECK(lab.messages[0].reverse_path.is_null());
  CHECK(lab.messages[0].data.empty());
}

TEST_CASE("smtp server: RSET, NOOP, VRFY, HELP and QUIT") {
  Lab lab;
  lab.start();
  CHECK(lab.write("NOOP\r\n") == "250 2.0.0 Ok\r\n");
  CHECK(lab.write("NOOP anything\r\n") == "250 2.0.0 Ok\r\n");  // RFC 5321 §4.1.1.9: the argument is ignored
  CHECK(lab.write("VRFY bob\r\n") == "252 2.5.2 Cannot VRFY user, but will accept message and attempt delivery\r\n");
  CHECK(lab.write("VRFY\r\n") == "501 5.5.4 Syntax: VRFY address\r\n");
  CHECK(lab.write("HELP\r\n").starts_with("214-2.0.0 Commands supported:\r\n"));
  lab.write("EHLO c\r\n");
  lab.write("MAIL FROM:<alice@lab.test>\r\n");
  lab.write("RCPT TO:<bob@lab.test>\r\n");
  CHECK(lab.write("RSET\r\n") == "250 2.0.0 Ok\r\n");
  CHECK(lab.state() == ServerState::ready);
  CHECK(lab.write("RCPT TO:<bob@lab.test>\r\n") == "503 5.5.1 Error: need MAIL command\r\n");
  CHECK(lab.write("QUIT\r\n") == "221 2.0.0 mail.lab.test Bye\r\n");
  CHECK(lab.state() == ServerState::closing);
  CHECK(lab.write("NOOP\r\n").empty());
  CHECK(lab.server->poll_timeout() == never);
}

TEST_CASE("smtp server: EHLO in a transaction resets it") {
  Lab lab;
  lab.start();
  lab.write("EHLO c\r\nMAIL FROM:<alice@lab.test>\r\n");
  CHECK(lab.write("EHLO c\r\n").starts_with("250-"));
  CHECK(lab.write("RCPT TO:<bob@lab.test>\r\n") == "503 5.5.1 Error: need MAIL command\r\n");
}

TEST_CASE("smtp server: the 101st recipient gets 452 4.5.3") {
  Lab lab;
  lab.config.recipients_max = 3;
  lab.start();
  lab.write("EHLO c\r\nMAIL FROM:<alice@lab.test>\r\n");
  for (int i = 0; i < 3; ++i) CHECK(lab.write("RCPT TO:<bob@lab.test>\r\n") == "250 2.1.5 Ok\r\n");
  CHECK(lab.write("RCPT TO:<bob@lab.test>\r\n") == "452 4.5.3 Error: too many recipients\r\n");
  CHECK(lab.write("DATA\r\n").starts_with("354"));
}

TEST_CASE("smtp server: a declared SIZE over the limit gets 552 5.3.4, a bad SIZE 501 5.5.4") {
  Lab lab;
  lab.config.message_octets_max = 1000;
  lab.start();
  lab.write("EHLO c\r\n");
  CHECK(lab.write("MAIL FROM:<alice@lab.test> SIZE=999999999999\r\n") ==
        "552 5.3.4 Message size exceeds fixed maximum message size\r\n");
  CHECK(lab.write("MAIL FROM:<alice@lab.test> SIZE=abc\r\n") == "501 5.5.4 Bad message size syntax\r\n");
  CHECK(lab.write("MAIL FROM:<alice@lab.test> SIZE=-1\r\n") == "501 5.5.4 Bad message size syntax\r\n");
  CHECK(lab.write("MAIL FROM:<alice@lab.test> SIZE=18446744073709551616\r\n") ==
        "501 5.5.4 Bad message size syntax\r\n");
  CHECK(lab.write("MAIL FROM:<alice@lab.test> BODY=BINARYMIME\r\n") == "501 5.5.4 Syntax: BODY=7BIT|8BITMIME\r\n");
  CHECK(lab.write("MAIL FROM:<alice@lab.test> SIZE=1000 AUTH=<>\r\n") == "250 2.1.0 Ok\r\n");
}

TEST_CASE("smtp server: a message over the size limit is read to the end, refused with 552 5.3.4, nothing stored") {
  Lab lab;
  lab.config.message_octets_max = 50;
  lab.open_transaction();
  std::string body;
  for (int i = 0; i < 10; ++i) body += "0123456789\r\n";
  CHECK(lab.write(body).empty());
  CHECK(lab.state() == ServerState::data);
  CHECK(lab.write(".\r\n") == "552 5.3.4 Error: message file too big\r\n");
  CHECK(lab.messages.empty());
  CHECK(lab.state() == ServerState::ready);
  CHECK(lab.write("NOOP\r\n") == "250 2.0.0 Ok\r\n");
}

TEST_CASE("smtp server: recipients are the policy's: unknown user 550 5.1.1, relay denied 554 5.7.1") {
  Lab lab;
  lab.start();
  lab.write("EHLO c\r\nMAIL FROM:<x@ext.test>\r\n");
  CHECK(lab.write("RCPT TO:<carol@lab.test>\r\n") ==
        "550 5.1.1 <carol@lab.test>: Recipient address rejected: User unknown\r\n");
  CHECK(lab.write("RCPT TO:<b@other.test>\r\n") == "554 5.7.1 <b@other.test>: Relay access denied\r\n");
  CHECK(lab.write("RCPT TO:<Bob@LAB.TEST>\r\n") == "550 5.1.1 <Bob@LAB.TEST>: Recipient address rejected: User unknown\r\n");
  CHECK(lab.write("RCPT TO:<bob@LAB.test>\r\n") == "250 2.1.5 Ok\r\n");
}

TEST_CASE("smtp server: RCPT TO:<Postmaster> without a domain is accepted (RFC 5321 §4.1.1.3)") {
  Lab lab;
  lab.start();
  lab.write("EHLO c\r\nMAIL FROM:<x@ext.test>\r\n");
  CHECK(lab.write("RCPT TO:<Postmaster>\r\n") == "250 2.1.5 Ok\r\n");
}

TEST_CASE("smtp server: SMTPUTF8 allows a UTF-8 address; without it the address gets 553 5.6.7") {
  Lab lab;
  lab.start();
  lab.write("EHLO c\r\n");
  CHECK(lab.write("MAIL FROM:<j\xc3\xbcrgen@ext.test>\r\n") == "553 5.6.7 Error: non-ASCII address requires SMTPUTF8\r\n");
  CHECK(lab.write("MAIL FROM:<j\xc3\xbcrgen@ext.test> SMTPUTF8\r\n") == "250 2.1.0 Ok\r\n");
  lab.write("RCPT TO:<bob@lab.test>\r\nDATA\r\nx\r\n.\r\n");
  REQUIRE(lab.messages.size() == 1);
  CHECK(lab.messages[0].smtputf8);
}

TEST_CASE("smtp server: submission needs AUTH (530 5.7.0), AUTH needs TLS there (538 5.7.11)") {
  Lab lab;
  lab.config.submission = true;
  lab.config.tls_available = true;
  lab.start();
  lab.write("EHLO c\r\n");
  CHECK(lab.write("MAIL FROM:<alice@lab.test>\r\n") == "530 5.7.0 Authentication required\r\n");
  CHECK(lab.write("AUTH PLAIN " + net::encode_sasl_plain("alice@lab.test", "alice-secret") + "\r\n") ==
        "538 5.7.11 Encryption required for requested authentication mechanism\r\n");
  CHECK(lab.write("STARTTLS\r\n") == "220 2.0.0 Ready to start TLS\r\n");
  lab.server->handle_tls_established(lab.now);
  CHECK(has(lab.write("EHLO c\r\n"), "250-AUTH PLAIN LOGIN\r\n"));
  CHECK(lab.write("AUTH PLAIN " + net::encode_sasl_plain("alice@lab.test", "wrong") + "\r\n") ==
        "535 5.7.8 Error: authentication failed\r\n");
  CHECK(lab.write("AUTH PLAIN " + net::encode_sasl_plain("alice@lab.test", "alice-secret") + "\r\n") ==
        "235 2.7.0 Authentication successful\r\n");
  CHECK(lab.write("MAIL FROM:<bob@lab.test>\r\n") ==
        "553 5.7.1 <bob@lab.test>: Sender address rejected: not owned by user alice@lab.test\r\n");
  CHECK(lab.write("MAIL FROM:<alice@lab.test>\r\n") == "250 2.1.0 Ok\r\n");
  CHECK(lab.write("RCPT TO:<someone@other.test>\r\n") == "250 2.1.5 Ok\r\n");  // authenticated: may relay
  lab.write("DATA\r\nx\r\n.\r\n");
  REQUIRE(lab.messages.size() == 1);
  CHECK(lab.messages[0].authenticated_user == "alice@lab.test");
  CHECK(lab.messages[0].tls);
}

TEST_CASE("smtp server: AUTH PLAIN without an initial response gets an empty 334 challenge") {
  Lab lab;
  lab.start();
  lab.write("EHLO c\r\n");
  CHECK(lab.write("AUTH PLAIN\r\n") == "334 \r\n");
  CHECK(lab.state() == ServerState::auth);
  CHECK(lab.write(net::encode_sasl_plain("bob@lab.test", "bob-secret") + "\r\n") ==
        "235 2.7.0 Authentication successful\r\n");
  CHECK(lab.state() == ServerState::ready);
}

TEST_CASE("smtp server: AUTH LOGIN asks for the user and the password, with or without an initial response") {
  Lab lab;
  lab.start();
  lab.write("EHLO c\r\n");
  CHECK(lab.write("AUTH LOGIN\r\n") == "334 VXNlcm5hbWU6\r\n");
  CHECK(lab.write(net::base64_encode("bob@lab.test") + "\r\n") == "334 UGFzc3dvcmQ6\r\n");
  CHECK(lab.write(net::base64_encode("bob-secret") + "\r\n") == "235 2.7.0 Authentication successful\r\n");

  Lab second;
  second.start();
  second.write("EHLO c\r\n");
  CHECK(second.write("AUTH login " + net::base64_encode("bob@lab.test") + "\r\n") == "334 UGFzc3dvcmQ6\r\n");
  CHECK(second.write(net::base64_encode("nope") + "\r\n") == "535 5.7.8 Error: authentication failed\r\n");
}

TEST_CASE("smtp server: AUTH cancelled with '*' gets 501, bad base64 501, an unknown mechanism 504") {
  Lab lab;
  lab.start();
  lab.write("EHLO c\r\n");
  CHECK(lab.write("AUTH LOGIN\r\n") == "334 VXNlcm5hbWU6\r\n");
  CHECK(lab.write("*\r\n") == "501 5.7.0 Authentication aborted\r\n");
  CHECK(lab.state() == ServerState::ready);
  CHECK(lab.write("AUTH PLAIN\r\n") == "334 \r\n");
  CHECK(lab.write("%%%not base64\r\n") == "501 5.5.2 Cannot decode response\r\n");
  CHECK(lab.write("AUTH PLAIN !!!!\r\n") == "501 5.5.2 Cannot decode response\r\n");
  CHECK(lab.write("AUTH CRAM-MD5\r\n") == "504 5.5.4 Unrecognized authentication type\r\n");
  CHECK(lab.write("AUTH\r\n") == "501 5.5.4 Syntax: AUTH mechanism\r\n");
  CHECK(lab.write("AUTH PLAIN =\r\n") == "535 5.7.8 Error: authentication failed\r\n");
}

TEST_CASE("smtp server: AUTH twice, during a transaction, or before EHLO gets 503 5.5.1") {
  Lab lab;
  lab.start();
  CHECK(lab.write("AUTH PLAIN " + net::encode_sasl_plain("bob@lab.test", "bob-secret") + "\r\n") ==
        "503 5.5.1 Error: send EHLO first\r\n");
  lab.write("EHLO c\r\nMAIL FROM:<x@ext.test>\r\n");
  CHECK(lab.write("AUTH PLAIN " + net::encode_sasl_plain("bob@lab.test", "bob-secret") + "\r\n") ==
        "503 5.5.1 Error: MAIL transaction in progress\r\n");
  lab.write("RSET\r\n");
  CHECK(lab.write("AUTH PLAIN " + net::encode_sasl_plain("bob@lab.test", "bob-secret") + "\r\n") ==
        "235 2.7.0 Authentication successful\r\n");
  CHECK(lab.write("AUTH PLAIN " + net::encode_sasl_plain("bob@lab.test", "bob-secret") + "\r\n") ==
        "503 5.5.1 Error: already authenticated\r\n");
}

TEST_CASE("smtp server: AUTH where the policy disables it gets 503 5.5.1 and is not advertised") {
  Lab lab;
  lab.policy.auth_disabled = true;
  lab.start();
  CHECK_FALSE(has(lab.write("EHLO c\r\n"), "AUTH"));
  CHECK(lab.write("AUTH PLAIN\r\n") == "503 5.5.1 Error: authentication not enabled\r\n");
}

TEST_CASE("smtp server: an identity with a CR or LF never authenticates") {
  Lab lab;
  lab.start();
  lab.write("EHLO c\r\n");
  lab.write("AUTH LOGIN\r\n");
  lab.write(net::base64_encode("bob@lab.test\r\nX-Injected: yes") + "\r\n");
  CHECK(lab.write(net::base64_encode("bob-secret") + "\r\n") == "535 5.7.8 Error: authentication failed\r\n");
}

TEST_CASE("smtp server: STARTTLS answers 220, asks for TLS and starts the session over") {
  Lab lab;
  lab.config.tls_available = true;
  lab.start();
  lab.write("EHLO c\r\n");
  CHECK(lab.write("STARTTLS\r\n") == "220 2.0.0 Ready to start TLS\r\n");
  CHECK(lab.start_tls == 1);
  CHECK(lab.state() == ServerState::tls_handshake);
  lab.server->handle_tls_established(lab.now);
  lab.drain();
  CHECK(lab.state() == ServerState::greeted);
  CHECK(lab.server->tls_active());
  CHECK(lab.write("MAIL FROM:<alice@lab.test>\r\n") == "503 5.5.1 Error: send HELO/EHLO first\r\n");
  CHECK(lab.lines.back().tls);
  CHECK_FALSE(has(lab.write("EHLO c\r\n"), "STARTTLS"));
  CHECK(lab.write("STARTTLS\r\n") == "554 5.5.1 Error: TLS already active\r\n");
}

TEST_CASE("smtp server: STARTTLS with an argument, without TLS, before EHLO or in a transaction is refused") {
  Lab none;
  none.start();
  none.write("EHLO c\r\n");
  CHECK(none.write("STARTTLS\r\n") == "502 5.5.1 Error: command not implemented\r\n");

  Lab lab;
  lab.config.tls_available = true;
  lab.start();
  CHECK(lab.write("STARTTLS\r\n") == "503 5.5.1 Error: send EHLO first\r\n");
  lab.write("EHLO c\r\n");
  CHECK(lab.write("STARTTLS foo\r\n") == "501 5.5.4 Syntax: STARTTLS\r\n");
  lab.write("MAIL FROM:<alice@lab.test>\r\n");
  CHECK(lab.write("STARTTLS\r\n") == "503 5.5.1 Error: MAIL transaction in progress\r\n");
  CHECK(lab.start_tls == 0);
}

TEST_CASE("smtp server: an idle client gets 421 4.4.2 after 5 minutes, and the connection closes") {
  Lab lab;
  lab.start();
  CHECK(lab.server->poll_timeout() == lab.now + Duration{5min});
  CHECK(lab.advance(Duration{4min}).empty());
  lab.write("EHLO c\r\n");
  CHECK(lab.server->poll_timeout() == lab.now + Duration{5min});
  CHECK(lab.advance(Duration{299s}).empty());
  CHECK(lab.advance(Duration{1s}) == "421 4.4.2 mail.lab.test Error: timeout exceeded\r\n");
  CHECK(lab.state() == ServerState::closing);
  CHECK(lab.close_reasons == std::vector<std::string>{"idle timeout"});
}

TEST_CASE("smtp server: per-state timeouts follow RFC 5321 §4.5.3.2") {
  CHECK(server_state_timeout(ServerState::greeted) == Duration{5min});
  CHECK(server_state_timeout(ServerState::mail) == Duration{5min});
  CHECK(server_state_timeout(ServerState::rcpt) == Duration{5min});
  CHECK(server_state_timeout(ServerState::data) == Duration{3min});
  CHECK(server_state_timeout(ServerState::queueing) == Duration{10min});
  CHECK(server_state_name(ServerState::tls_handshake) == "tls-handshake");
  CHECK_FALSE(server_state_description(ServerState::data).empty());
  CHECK(server_transition_allowed(ServerState::rcpt, ServerState::data));
  CHECK_FALSE(server_transition_allowed(ServerState::greeted, ServerState::data));
  CHECK_FALSE(server_transition_allowed(ServerState::closed, ServerState::ready));

  Lab lab;
  lab.open_transaction();
  CHECK(lab.server->poll_timeout() == lab.now + Duration{3min});
  lab.write("partial line");
  CHECK(lab.advance(Duration{3min}) == "421 4.4.2 mail.lab.test Error: timeout exceeded\r\n");
  CHECK(lab.messages.empty());
}

TEST_CASE("smtp server: a message not stored within 10 minutes gets 451 4.3.0, and the late outcome is refused") {
  Lab lab;
  lab.open_transaction();
  lab.write("x\r\n.\r\n");
  CHECK(lab.server->poll_timeout() == lab.now + Duration{10min});
  CHECK(lab.advance(Duration{10min}) == "451 4.3.0 Error: queue file write error\r\n");
  CHECK(lab.state() == ServerState::ready);
  CHECK(lab.accept() == "(not taken)");
}

TEST_CASE("smtp server: after errors_max errors the session ends with 421 4.7.0") {
  Lab lab;
  lab.config.errors_max = 3;
  lab.start();
  CHECK(lab.write("FOO\r\n") == "500 5.5.2 Error: command not recognized\r\n");
  CHECK(lab.write("MAIL FROM:<a@b.test>\r\n") == "503 5.5.1 Error: send HELO/EHLO first\r\n");
  CHECK(lab.write("BAR\r\nNOOP\r\n") ==
        "500 5.5.2 Error: command not recognized\r\n421 4.7.0 mail.lab.test Error: too many errors\r\n");
  CHECK(lab.state() == ServerState::closing);
  CHECK(lab.close_reasons == std::vector<std::string>{"too many errors"});
}

TEST_CASE("smtp server: the policy can inject a reply at connect, EHLO, MAIL, RCPT and DATA") {
  Lab grey;
  grey.policy.injections[PolicyStage::rcpt] = replies::greylisted();
  grey.start();
  grey.write("EHLO c\r\nMAIL FROM:<x@ext.test>\r\n");
  CHECK(grey.write("RCPT TO:<bob@lab.test>\r\n") == "451 4.7.1 Greylisted, please try again later\r\n");
  CHECK(grey.policy.asked.empty());

  Lab full;
  full.policy.injections[PolicyStage::mail] = replies::insufficient_storage();
  full.policy.injections[PolicyStage::data] = make_reply(554, "5.7.1", "Error: no thanks");
  full.start();
  full.write("EHLO c\r\n");
  CHECK(full.write("MAIL FROM:<x@ext.test>\r\n") == "452 4.3.1 Insufficient system storage\r\n");
  full.policy.injections.erase(PolicyStage::mail);
  full.write("MAIL FROM:<x@ext.test>\r\nRCPT TO:<bob@lab.test>\r\n");
  CHECK(full.write("DATA\r\n") == "554 5.7.1 Error: no thanks\r\n");

  Lab banned;
  banned.policy.injections[PolicyStage::connect] = make_reply(554, "5.7.1", "mail.lab.test no service for you");
  CHECK(banned.start() == "554 5.7.1 mail.lab.test no service for you\r\n");
  CHECK(banned.write("EHLO c\r\n") == "503 5.5.1 Error: rejected at connect, send QUIT\r\n");
  CHECK(banned.write("QUIT\r\n") == "221 2.0.0 mail.lab.test Bye\r\n");

  Lab busy;
  busy.policy.injections[PolicyStage::connect] = make_reply(421, "4.7.0", "mail.lab.test too busy");
  CHECK(busy.start() == "421 4.7.0 mail.lab.test too busy\r\n");
  CHECK(busy.state() == ServerState::closing);

  Lab helo;
  helo.policy.injections[PolicyStage::ehlo] = make_reply(550, "5.7.1", "Error: go away");
  helo.start();
  CHECK(helo.write("EHLO c\r\n") == "550 5.7.1 Error: go away\r\n");
  CHECK(helo.state() == ServerState::greeted);
}

TEST_CASE("smtp server: BDAT chunks make one message, LAST ends it (RFC 3030)") {
  Lab lab;
  lab.start();
  lab.write("EHLO c\r\nMAIL FROM:<alice@lab.test>\r\nRCPT TO:<bob@lab.test>\r\n");
  CHECK(lab.write("BDAT 12\r\nSubject: ") == "");
  CHECK(lab.write("x\r\n") == "250 2.0.0 Ok: 12 octets received\r\n");
  CHECK(lab.write("DATA\r\n") == "503 5.5.1 Error: DATA after BDAT\r\n");
  CHECK(lab.write("BDAT 9 LAST\r\n\r\n.body\r\n").empty());
  CHECK(lab.state() == ServerState::queueing);
  REQUIRE(lab.messages.size() == 1);
  CHECK(lab.messages[0].data == "Subject: x\r\n\r\n.body\r\n");  // no dot-unstuffing in BDAT
  CHECK(lab.messages[0].chunked);
  CHECK(lab.accept("B1") == "250 2.0.0 Ok: queued as B1\r\n");
  CHECK(lab.data_summaries.size() == 2);
}

TEST_CASE("smtp server: BDAT 0 LAST ends a message, and a last line without CRLF gets one") {
  Lab lab;
  lab.start();
  lab.write("EHLO c\r\nMAIL FROM:<alice@lab.test>\r\nRCPT TO:<bob@lab.test>\r\n");
  CHECK(lab.write("BDAT 4\r\nabcd") == "250 2.0.0 Ok: 4 octets received\r\n");
  lab.write("BDAT 0 LAST\r\n");
  REQUIRE(lab.messages.size() == 1);
  CHECK(lab.messages[0].data == "abcd\r\n");
}

TEST_CASE("smtp server: a BDAT out of sequence is read and dropped, then answered 503 5.5.1") {
  Lab lab;
  lab.start();
  lab.write("EHLO c\r\n");
  CHECK(lab.write("BDAT 14\r\nMAIL FROM:<>").empty());
  CHECK(lab.write("\r\n") == "503 5.5.1 Error: need MAIL command\r\n");
  CHECK(lab.write("BDAT x\r\n") == "501 5.5.4 Syntax: BDAT chunk-size [LAST]\r\n");
  CHECK(lab.write("BDAT 1 FIRST\r\n") == "501 5.5.4 Syntax: BDAT chunk-size [LAST]\r\n");
  CHECK(lab.write("NOOP\r\n") == "250 2.0.0 Ok\r\n");
  CHECK(lab.state() == ServerState::ready);
}

TEST_CASE("smtp server: BDAT over the size limit gets 552 5.3.4 and ends the transaction") {
  Lab lab;
  lab.config.message_octets_max = 10;
  lab.start();
  lab.write("EHLO c\r\nMAIL FROM:<alice@lab.test>\r\nRCPT TO:<bob@lab.test>\r\n");
  CHECK(lab.write("BDAT 20\r\n01234567890123456789") == "552 5.3.4 Error: message file too big\r\n");
  CHECK(lab.write("BDAT 2 LAST\r\nab") == "503 5.5.1 Error: need MAIL command\r\n");
  CHECK(lab.messages.empty());
}

TEST_CASE("smtp server: without CHUNKING configured BDAT is an unknown command and not advertised") {
  Lab lab;
  lab.config.chunking = false;
  lab.start();
  CHECK_FALSE(has(lab.write("EHLO c\r\n"), "CHUNKING"));
  CHECK(lab.write("BDAT 1 LAST\r\n") == "500 5.5.2 Error: command not recognized\r\n");
}

TEST_CASE("smtp server: every line in both directions and every state change is an event") {
  Lab lab;
  lab.start();
  lab.write("EHLO c\r\nMAIL FROM:<alice@lab.test>\r\nQUIT\r\n");
  std::vector<std::string> texts;
  for (const auto& line : lab.lines) texts.push_back((line.dir == net::Direction::client_to_server ? "C: " : "S: ") + line.text);
  REQUIRE(texts.size() >= 5);
  CHECK(texts[0] == "S: 220 mail.lab.test ESMTP maillab");
  CHECK(texts[1] == "C: EHLO c");
  CHECK(texts[2] == "S: 250-mail.lab.test Hello c");
  CHECK(texts[texts.size() - 4] == "C: MAIL FROM:<alice@lab.test>");
  CHECK(texts[texts.size() - 3] == "S: 250 2.1.0 Ok");
  CHECK(texts[texts.size() - 2] == "C: QUIT");
  CHECK(texts.back() == "S: 221 2.0.0 mail.lab.test Bye");
  const std::vector<std::pair<std::string, std::string>> expected{
      {"connecting", "greeted"}, {"greeted", "ready"}, {"ready", "mail"}, {"mail", "closing"}};
  CHECK(lab.states == expected);
}

TEST_CASE("smtp server: when the peer closes, the session is closed and a pending outcome is refused") {
  Lab lab;
  lab.open_transaction();
  lab.write("x\r\n.\r\n");
  lab.server->handle_close(lab.now);
  CHECK(lab.state() == ServerState::closed);
  CHECK(lab.accept() == "(not taken)");
  CHECK(lab.server->poll_timeout() == never);
}
