// Golden transcripts: the command sequences Thunderbird and mbsync send (see
// the comments at each script) replayed against the server engine; the whole
// server-side transcript must match tests/net/imap/golden/<name>.txt byte for
// byte.  Set MAILLAB_UPDATE_GOLDEN=1 to rewrite the files after a deliberate
// change, then review the diff.
#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "imap_test_support.hpp"
#include "net/core/sasl.hpp"

using namespace maillab;
using namespace maillab::net::imap;
using maillab::test::World;

namespace {

struct Script {
  World& world;
  ImapServer server;
  Instant now{};
  std::string transcript;

  Script(World& w, ServerConfig cfg) : world(w), server(std::move(cfg), w.users, w.store, Instant{}) { drain(); }

  void drain() {
    (void)server.poll_transmit();
    while (auto e = server.poll_event()) {
      if (auto* l = std::get_if<net::LineEvent>(&*e)) {
        transcript += (l->dir == net::Direction::client_to_server ? "C: " : "S: ") + l->text + "\n";
      } else if (auto* lit = std::get_if<LiteralEvent>(&*e)) {
        transcript += "   [" + std::to_string(lit->bytes) + " octets]\n";
      } else if (auto* st = std::get_if<net::StateEvent>(&*e)) {
        transcript += "   (" + std::string(st->from) + " -> " + std::string(st->to) + ")\n";
      } else if (std::holds_alternative<net::StartTlsEvent>(*e)) {
        transcript += "   (TLS handshake)\n";
      }
    }
  }
  void send(const std::string& bytes) {
    now = now + std::chrono::milliseconds(10);
    server.handle_bytes(now, bytes);
    drain();
  }
  void line(const std::string& text) { send(text + "\r\n"); }
};

std::filesystem::path golden_path(const std::string& name) {
  return std::filesystem::path(__FILE__).parent_path() / "golden" / (name + ".txt");
}

void check_golden(const std::string& name, const std::string& actual) {
  auto path = golden_path(name);
  if (std::getenv("MAILLAB_UPDATE_GOLDEN") != nullptr) {
    std::ofstream(path, std::ios::binary) << actual;
  }
  std::ifstream in(path, std::ios::binary);
  REQUIRE_MESSAGE(in.good(), "missing golden file " << path.string());
  std::stringstream expected;
  expected << in.rdbuf();
  CHECK(expected.str() == actual);
}

const char* kMessage =
    "From: Bob Example <bob@lab.test>\r\n"
    "To: alice@lab.test\r\n"
    "Subject: Lab meeting\r\n"
    "Date: Mon, 02 Feb 2026 10:00:00 +0000\r\n"
    "Message-ID: <m1@lab.test>\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "\r\n"
    "Room 3, at ten.\r\n";

}  // namespace

// Thunderbird on port 993 (implicit TLS), as its IMAP:5 logs show it: lower-case
// verbs, AUTHENTICATE PLAIN with a continuation, NAMESPACE and ID, LSUB/LIST,
// UID fetch of flags then headers (its default HEADER.FIELDS list) then the
// body, marking \Seen, IDLE with a delivery arriving, logout.
TEST_CASE("imap golden: a Thunderbird-like session") {
  World w;
  w.deliver("alice@lab.test", kMessage);
  ServerConfig cfg;
  cfg.implicit_tls = true;
  cfg.unix_epoch_offset_s = 1780000000;
  Script s(w, cfg);
  s.line("1 capability");
  s.line("2 authenticate PLAIN");
  s.line(net::encode_sasl_plain("alice@lab.test", "alice-secret"));
  s.line("3 namespace");
  s.line("4 ID (\"name\" \"Thunderbird\" \"version\" \"115.6.0\")");
  s.line("5 lsub \"\" \"*\"");
  s.line("6 list \"\" \"*\"");
  s.line("7 select \"INBOX\"");
  s.line("8 UID fetch 1:* (FLAGS)");
  s.line("9 UID fetch 1 (UID RFC822.SIZE FLAGS BODY.PEEK[HEADER.FIELDS (From To Cc Bcc Subject Date Message-ID "
         "Priority X-Priority References Newsgroups In-Reply-To Content-Type Reply-To)])");
  s.line("10 UID fetch 1 (UID RFC822.SIZE BODY.PEEK[])");
  s.line("11 UID store 1 +Flags (\\Seen)");
  s.line("12 IDLE");
  w.deliver("alice@lab.test", "From: carol@lab.test\r\nSubject: late\r\n\r\nhi\r\n");
  s.server.handle_store_changed(s.now);
  s.drain();
  s.line("DONE");
  s.line("13 UID fetch 2:* (FLAGS)");
  s.line("14 logout");
  CHECK(s.server.closed());
  check_golden("thunderbird", s.transcript);
}

// mbsync (isync 1.4) over STARTTLS, following drv_imap.c: CAPABILITY, STARTTLS,
// CAPABILITY again, AUTHENTICATE PLAIN with SASL-IR, NAMESPACE, LIST, CREATE
// of a missing far-side box, SELECT, "UID FETCH 1:* (UID FLAGS RFC822.SIZE)",
// a message body with INTERNALDATE, APPEND with flags, a date and a LITERAL+
// literal (APPENDUID read back), UID STORE +FLAGS.SILENT \Deleted, UID EXPUNGE
// (UIDPLUS), LOGOUT.
TEST_CASE("imap golden: an mbsync-like session") {
  World w;
  w.deliver("alice@lab.test", kMessage, {"\\Seen"}, 1770026400);
  ServerConfig cfg;
  cfg.unix_epoch_offset_s = 1780000000;
  Script s(w, cfg);
  s.line("1 CAPABILITY");
  s.line("2 STARTTLS");
  s.server.handle_tls_established(s.now);
  s.line("3 CAPABILITY");
  s.line("4 AUTHENTICATE PLAIN " + net::encode_sasl_plain("alice@lab.test", "alice-secret"));
  s.line("5 NAMESPACE");
  s.line("6 LIST \"\" \"*\"");
  s.line("7 CREATE \"Archive\"");
  s.line("8 SELECT \"INBOX\"");
  s.line("9 UID FETCH 1:* (UID FLAGS RFC822.SIZE)");
  s.line("10 UID FETCH 1 (INTERNALDATE BODY.PEEK[])");
  std::string upload = "From: alice@lab.test\r\nTo: bob@lab.test\r\nSubject: sent from mutt\r\n\r\nhello\r\n";
  s.send("11 APPEND \"Sent\" (\\Seen) \"03-Feb-2026 08:30:00 +0100\" {" + std::to_string(upload.size()) + "+}\r\n" +
         upload + "\r\n");
  s.line("12 SELECT \"Sent\"");
  s.line("13 UID FETCH 1:* (UID FLAGS RFC822.SIZE BODY.PEEK[HEADER.FIELDS (X-TUID)])");
  s.line("14 UID STORE 1 +FLAGS.SILENT (\\Deleted)");
  s.line("15 UID EXPUNGE 1");
  s.line("16 LOGOUT");
  CHECK(s.server.closed());
  check_golden("mbsync", s.transcript);
}
