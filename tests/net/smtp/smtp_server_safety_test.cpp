// The safety items of issue 2 and the SMTP rows of the security catalogue:
// smuggling (row 5), STARTTLS injection (row 9), long lines (11-13), pregreet
// (8), pipelining (7), relay tricks (2), NUL and CR/LF in commands (25, 26),
// dot-stuffing (28).
#include <doctest/doctest.h>

#include <string>

#include "net/smtp/smtp_server_harness.hpp"

using namespace maillab;
using namespace maillab::net::smtp;
using maillab::net::smtp::testing::Lab;
using namespace std::chrono_literals;

namespace {

bool has(const std::string& text, std::string_view part) { return text.find(part) != std::string::npos; }

// Catalogue row 5: every way to fake an end of data with a bare CR or LF.
const std::vector<std::pair<std::string, std::string>> smuggling_variants{
    {"\\n.\\n", "\n.\n"},         {"\\r.\\r", "\r.\r"},     {"\\r.\\n", "\r.\n"},
    {"\\n.\\r", "\n.\r"},         {"\\n.\\r\\n", "\n.\r\n"}, {"\\r\\n.\\n", "\r\n.\n"},
    {"\\r.\\r\\n", "\r.\r\n"},    {"\\r\\n.\\r", "\r\n.\r"}, {"\\r\\n\\0.\\r\\n", std::string("\r\n\0.\r\n", 6)},
};

const std::string smuggled = "MAIL FROM:<admin@lab.test>\r\nRCPT TO:<bob@lab.test>\r\nDATA\r\nSmuggled!\r\n";

}  // namespace

TEST_CASE("smtp server safety: no bare CR/LF variant ends DATA and the smuggled MAIL never runs") {
  for (const auto& [name, fake_end] : smuggling_variants) {
    CAPTURE(name);
    for (const bool one_chunk : {true, false}) {
      CAPTURE(one_chunk);
      Lab lab;
      lab.open_transaction();
      const std::string input = "Subject: hi\r\n\r\nreal body" + fake_end + smuggled + "\r\n.\r\n";
      std::string replies;
      if (one_chunk) {
        replies = lab.write(input);
      } else {
        for (char c : input) replies += lab.write(std::string(1, c));
      }
      // One reply for the whole thing, at the real <CRLF>.<CRLF>: the message is refused.
      CHECK((replies == "550 5.5.2 Error: bare <LF> received\r\n" ||
             replies == "550 5.5.2 Error: bare <CR> received\r\n" ||
             replies == "550 5.6.0 Error: NUL character in message text\r\n"));
      CHECK_FALSE(has(replies, "250"));
      CHECK(lab.messages.empty());
      CHECK(lab.state() == ServerState::ready);
      for (const auto& line : lab.lines) CHECK(line.text.find("MAIL FROM:<admin") == std::string::npos);
    }
  }
}

TEST_CASE("smtp server safety: a smuggling attempt inside an accepted session leaves exactly one message") {
  // Fake end, then a real end, then a real second transaction: only the real one is stored.
  Lab lab;
  lab.open_transaction();
  lab.write("first\n.\n" + smuggled + "\r\n.\r\n");
  CHECK(lab.messages.empty());
  lab.write("MAIL FROM:<alice@lab.test>\r\nRCPT TO:<bob@lab.test>\r\nDATA\r\nclean\r\n.\r\n");
  REQUIRE(lab.messages.size() == 1);
  CHECK(lab.messages[0].data == "clean\r\n");
  CHECK_FALSE(lab.notes.empty());
}

TEST_CASE("smtp server safety: a bare LF anywhere in DATA refuses the message with 550 5.5.2") {
  Lab lab;
  lab.open_transaction();
  CHECK(lab.write("line one\nline two\r\n.\r\n") == "550 5.5.2 Error: bare <LF> received\r\n");
  CHECK(lab.messages.empty());
  CHECK(lab.write("NOOP\r\n") == "250 2.0.0 Ok\r\n");
}

TEST_CASE("smtp server safety: a CR split from its LF across reads is still a CRLF") {
  Lab lab;
  lab.open_transaction();
  CHECK(lab.write("body\r").empty());
  CHECK(lab.write("\n.\r").empty());
  CHECK(lab.write("\n").empty());
  REQUIRE(lab.messages.size() == 1);
  CHECK(lab.messages[0].data == "body\r\n");
}

TEST_CASE("smtp server safety: dot-unstuffing removes exactly one leading dot (RFC 5321 §4.5.2)") {
  Lab lab;
  lab.open_transaction();
  lab.write("..\r\n...x\r\n. \r\n.hidden\r\nend.\r\n.\r\n");
  REQUIRE(lab.messages.size() == 1);
  CHECK(lab.messages[0].data == ".\r\n..x\r\n \r\nhidden\r\nend.\r\n");
}

TEST_CASE("smtp server safety: a NUL in a command gets 500 5.5.2 and is not executed") {
  Lab lab;
  lab.start();
  lab.write("EHLO c\r\n");
  CHECK(lab.write(std::string("MAIL FROM:<alice@lab.test>\0junk\r\n", 33)) ==
        "500 5.5.2 Error: NUL character in command\r\n");
  CHECK(lab.state() == ServerState::ready);
}

TEST_CASE("smtp server safety: a NUL in message text refuses the message with 550 5.6.0") {
  Lab lab;
  lab.open_transaction();
  CHECK(lab.write(std::string("a\0b\r\n.\r\n", 8)) == "550 5.6.0 Error: NUL character in message text\r\n");
  CHECK(lab.messages.empty());
}

TEST_CASE("smtp server safety: CR or LF inside an EHLO name is refused, the name never recorded") {
  Lab lab;
  lab.start();
  CHECK(lab.write("EHLO evil\rX-Injected: 1\r\n") == "500 5.5.2 Error: bare <CR> received\r\n");
  CHECK(lab.write("EHLO evil\nX-Injected: 1\r\n") ==
        "500 5.5.2 Error: bare <LF> received\r\n500 5.5.2 Error: command not recognized\r\n");
  CHECK(lab.state() == ServerState::greeted);
  CHECK(lab.write("EHLO good\r\n").starts_with("250-"));
}

TEST_CASE("smtp server safety: plaintext pipelined behind STARTTLS is discarded, never executed (CVE-2011-0411)") {
  Lab lab;
  lab.config.tls_available = true;
  lab.start();
  lab.write("EHLO c\r\n");
  CHECK(lab.write("STARTTLS\r\nMAIL FROM:<evil@ext.test>\r\nRCPT TO:<bob@lab.test>\r\n") ==
        "220 2.0.0 Ready to start TLS\r\n");
  CHECK(lab.write("RSET\r\n").empty());  // arrives before the handshake finished
  lab.server->handle_tls_established(lab.now);
  lab.drain();
  CHECK(lab.notes.size() == 2);
  CHECK(lab.state() == ServerState::greeted);
  // Nothing of the injected transaction survived: MAIL is out of sequence.
  CHECK(lab.write("RCPT TO:<bob@lab.test>\r\n") == "503 5.5.1 Error: need MAIL command\r\n");
  for (const auto& line : lab.lines) CHECK(line.text.find("evil") == std::string::npos);
}

TEST_CASE("smtp server safety: a command line over 512 octets gets 500 5.5.2 and the session survives") {
  Lab lab;
  lab.start();
  const std::string ok_line = "NOOP " + std::string(505, 'x') + "\r\n";  // exactly 512 with CRLF
  REQUIRE(ok_line.size() == 512);
  CHECK(lab.write(ok_line) == "250 2.0.0 Ok\r\n");
  CHECK(lab.write("EHLO " + std::string(100'000, 'a') + "\r\n") == "500 5.5.2 Error: command line too long\r\n");
  CHECK(lab.write("NOOP\r\n") == "250 2.0.0 Ok\r\n");
  CHECK(lab.write("NOOP " + std::string(506, 'x') + "\r\n") == "500 5.5.2 Error: command line too long\r\n");
  CHECK(lab.state() == ServerState::greeted);
}

TEST_CASE("smtp server safety: 10 MB without a line end keeps the buffer bounded") {
  Lab lab;
  lab.start();
  const std::string block(64 * 1024, 'z');
  for (int i = 0; i < 160; ++i) CHECK(lab.write(block).empty());
  CHECK(lab.write("\r\nNOOP\r\n") == "500 5.5.2 Error: command line too long\r\n250 2.0.0 Ok\r\n");
}

TEST_CASE("smtp server safety: AUTH lines may reach 12288 octets, longer ones get 500 5.5.6") {
  Lab lab;
  lab.start();
  lab.write("EHLO c\r\n");
  lab.write("AUTH PLAIN\r\n");
  CHECK(lab.write(std::string(20'000, 'A') + "\r\n") == "500 5.5.6 Authentication Exchange line is too long\r\n");
  CHECK(lab.state() == ServerState::ready);
  CHECK(lab.write("AUTH PLAIN " + std::string(1000, 'A') + "\r\n") == "535 5.7.8 Error: authentication failed\r\n");
}

TEST_CASE("smtp server safety: a text line over 1000 octets refuses the message with 500 5.5.6, nothing stored") {
  Lab lab;
  lab.open_transaction();
  const std::string longest = std::string(998, 'a') + "\r\n";
  CHECK(lab.write(longest + std::string(5000, 'b') + "\r\n.\r\n") ==
        "500 5.5.6 Error: message text line longer than 1000 octets\r\n");
  CHECK(lab.messages.empty());
  lab.write("MAIL FROM:<alice@lab.test>\r\nRCPT TO:<bob@lab.test>\r\nDATA\r\n" + longest + ".\r\n");
  REQUIRE(lab.messages.size() == 1);
  CHECK(lab.messages[0].data == longest);
}

TEST_CASE("smtp server safety: relay tricks aimed at a local domain are never relayed") {
  const std::vector<std::string> tricks{
      "<b%other.test@lab.test>", "<other.test!b@lab.test>", "<\"b@other.test\"@lab.test>",
      "<@lab.test:b@other.test>", "<b@other.test@lab.test>",
  };
  for (const auto& path : tricks) {
    CAPTURE(path);
    Lab lab;
    lab.start();
    lab.write("EHLO c\r\nMAIL FROM:<x@ext.test>\r\n");
    const std::string reply = lab.write("RCPT TO:" + path + "\r\n");
    CHECK((reply.starts_with("554 5.7.1") || reply.starts_with("501 5.1.3")));
    CHECK(lab.state() == ServerState::mail);
  }
}

TEST_CASE("smtp server safety: input before the greeting gets the 554 banner and only QUIT works") {
  Lab lab;
  lab.config.greeting_delay = Duration{2s};
  CHECK(lab.start().empty());
  CHECK(lab.state() == ServerState::connecting);
  CHECK(lab.write("EHLO spambot\r\nMAIL FROM:<x@ext.test>\r\n").empty());
  CHECK(lab.advance(Duration{2s}) == "554 5.5.0 mail.lab.test Error: input before greeting, send QUIT\r\n");
  CHECK(lab.state() == ServerState::rejected);
  CHECK(lab.notes.size() == 1);
  CHECK(lab.write("MAIL FROM:<x@ext.test>\r\n") == "503 5.5.1 Error: rejected at connect, send QUIT\r\n");
  CHECK(lab.write("QUIT\r\n") == "221 2.0.0 mail.lab.test Bye\r\n");
}

TEST_CASE("smtp server safety: a patient client gets the 220 after the greeting delay") {
  Lab lab;
  lab.config.greeting_delay = Duration{2s};
  lab.start();
  CHECK(lab.advance(Duration{1s}).empty());
  CHECK(lab.advance(Duration{1s}) == "220 mail.lab.test ESMTP maillab\r\n");
  CHECK(lab.write("EHLO c\r\n").starts_with("250-"));
}

TEST_CASE("smtp server safety: with strict pipelining, input behind EHLO or DATA gets 554 5.5.0 and a close") {
  Lab lab;
  lab.config.strict_pipelining = true;
  lab.start();
  CHECK(lab.write("EHLO c\r\nMAIL FROM:<x@ext.test>\r\n").ends_with(
      "250 CHUNKING\r\n554 5.5.0 mail.lab.test Error: SMTP protocol synchronization\r\n"));
  CHECK(lab.state() == ServerState::closing);

  Lab data;
  data.config.strict_pipelining = true;
  data.start();
  data.write("EHLO c\r\n");
  CHECK(data.write("MAIL FROM:<x@ext.test>\r\nRCPT TO:<bob@lab.test>\r\n") == "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n");
  CHECK(data.write("DATA\r\nbody\r\n.\r\n") ==
        "354 End data with <CR><LF>.<CR><LF>\r\n554 5.5.0 mail.lab.test Error: SMTP protocol synchronization\r\n");
  CHECK(data.messages.empty());
}

TEST_CASE("smtp server safety: with strict pipelining a HELO client may not pipeline at all, even after end of data") {
  Lab lab;
  lab.config.strict_pipelining = true;
  lab.start();
  lab.write("HELO c\r\n");
  CHECK(lab.write("MAIL FROM:<x@ext.test>\r\nRCPT TO:<bob@lab.test>\r\n") ==
        "250 2.1.0 Ok\r\n554 5.5.0 mail.lab.test Error: SMTP protocol synchronization\r\n");

  Lab eod;
  eod.config.strict_pipelining = true;
  eod.start();
  eod.write("HELO c\r\n");
  eod.write("MAIL FROM:<x@ext.test>\r\n");
  eod.write("RCPT TO:<bob@lab.test>\r\n");
  eod.write("DATA\r\n");
  CHECK(eod.write("body\r\n.\r\nMAIL FROM:<y@ext.test>\r\n").empty());
  CHECK(eod.accept() == "250 2.0.0 Ok: queued as Q1\r\n554 5.5.0 mail.lab.test Error: SMTP protocol synchronization\r\n");
}

TEST_CASE("smtp server safety: without strict pipelining an everything-at-once client is served in order") {
  Lab lab;
  lab.start();
  CHECK(lab.write("EHLO c\r\nMAIL FROM:<alice@lab.test>\r\nRCPT TO:<bob@lab.test>\r\nDATA\r\nhi\r\n.\r\nQUIT\r\n")
            .ends_with("250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n"));
  CHECK(lab.accept() == "250 2.0.0 Ok: queued as Q1\r\n221 2.0.0 mail.lab.test Bye\r\n");
}

TEST_CASE("smtp server safety: input held while a message is stored is bounded") {
  Lab lab;
  lab.config.input_buffered_octets_max = 1000;
  lab.open_transaction();
  lab.write("x\r\n.\r\n");
  lab.write(std::string(2000, 'n'));
  CHECK(lab.accept() ==
        "250 2.0.0 Ok: queued as Q1\r\n421 4.3.2 mail.lab.test Service not available, closing transmission "
        "channel: too much pipelined input\r\n");
}

TEST_CASE("smtp server safety: BDAT content with a bare LF is refused at LAST with 550 5.5.2") {
  Lab lab;
  lab.start();
  lab.write("EHLO c\r\nMAIL FROM:<alice@lab.test>\r\nRCPT TO:<bob@lab.test>\r\n");
  CHECK(lab.write("BDAT 8 LAST\r\na\n.\nMAIL") == "550 5.5.2 Error: bare <LF> received\r\n");
  CHECK(lab.messages.empty());
}
