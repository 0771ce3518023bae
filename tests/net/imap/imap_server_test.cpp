#include <doctest/doctest.h>

#include "imap_test_support.hpp"
#include "net/core/sasl.hpp"

using namespace maillab;
using namespace maillab::net::imap;
using maillab::test::kSimpleMessage;
using maillab::test::Session;
using maillab::test::World;

namespace {
bool has(const std::string& hay, const std::string& needle) { return hay.find(needle) != std::string::npos; }

const char* kMultipart =
    "From: Carol <carol@lab.test>\r\n"
    "To: alice@lab.test\r\n"
    "Subject: Report\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: multipart/mixed; boundary=\"XX\"\r\n"
    "\r\n"
    "preamble\r\n"
    "--XX\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "\r\n"
    "Line one\r\n"
    "Line two\r\n"
    "--XX\r\n"
    "Content-Type: application/pdf; name=\"r.pdf\"\r\n"
    "Content-Transfer-Encoding: base64\r\n"
    "Content-Disposition: attachment; filename=\"r.pdf\"\r\n"
    "\r\n"
    "JVBERi0=\r\n"
    "--XX--\r\n";
}  // namespace

TEST_CASE("imap server: greeting advertises IMAP4rev1, STARTTLS and LOGINDISABLED on plaintext") {
  World w;
  Session s(w, ServerConfig{});
  CHECK(has(s.greeting, "* OK [CAPABILITY IMAP4rev1 LITERAL+ SASL-IR"));
  CHECK(has(s.greeting, "STARTTLS"));
  CHECK(has(s.greeting, "LOGINDISABLED"));
  CHECK_FALSE(has(s.greeting, "AUTH=PLAIN"));
}

TEST_CASE("imap server: cleartext LOGIN and AUTHENTICATE get NO [PRIVACYREQUIRED] (catalogue row 45)") {
  World w;
  Session s(w, ServerConfig{});
  CHECK(has(s.login(), "L NO [PRIVACYREQUIRED]"));
  CHECK(has(s.cmd("A AUTHENTICATE PLAIN " + net::encode_sasl_plain("alice@lab.test", "alice-secret")),
            "A NO [PRIVACYREQUIRED]"));
  CHECK(s.server->state() == ServerState::not_authenticated);
}

TEST_CASE("imap server: STARTTLS discards pipelined plaintext, then offers AUTH=PLAIN") {
  World w;
  Session s(w, ServerConfig{});
  auto reply = s.send("S STARTTLS\r\nX LOGIN alice@lab.test alice-secret\r\n");
  CHECK(reply == "S OK Begin TLS negotiation now\r\n");
  bool saw_starttls = false;
  while (auto e = s.server->poll_event()) saw_starttls |= std::holds_alternative<net::StartTlsEvent>(*e);
  CHECK(saw_starttls);
  s.server->handle_tls_established(s.now);
  CHECK(s.server->tls_active());
  auto caps = s.cmd("C CAPABILITY");
  CHECK(has(caps, "AUTH=PLAIN"));
  CHECK_FALSE(has(caps, "STARTTLS"));
  CHECK(s.server->state() == ServerState::not_authenticated);
  CHECK(has(s.login(), "L OK"));
}

TEST_CASE("imap server: implicit TLS allows LOGIN; STARTTLS then is BAD") {
  World w;
  ServerConfig cfg;
  cfg.implicit_tls = true;
  Session s(w, cfg);
  CHECK(has(s.cmd("S STARTTLS"), "S BAD"));
  CHECK(has(s.login(), "L OK [CAPABILITY IMAP4rev1"));
  CHECK(s.server->state() == ServerState::authenticated);
}

TEST_CASE("imap server: AUTHENTICATE PLAIN with SASL-IR, with a continuation, and cancelled") {
  World w;
  Session a(w);
  CHECK(has(a.cmd("A AUTHENTICATE PLAIN " + net::encode_sasl_plain("alice@lab.test", "alice-secret")), "A OK"));
  Session b(w);
  CHECK(b.cmd("A AUTHENTICATE PLAIN") == "+ \r\n");
  CHECK(has(b.cmd(net::encode_sasl_plain("bob@lab.test", "bob-secret")), "A OK"));
  CHECK(b.server->user() == "bob@lab.test");
  Session c(w);
  CHECK(c.cmd("A AUTHENTICATE PLAIN") == "+ \r\n");
  CHECK(has(c.cmd("*"), "A BAD Authentication cancelled"));
  CHECK(has(c.cmd("B AUTHENTICATE CRAM-MD5"), "B NO"));
}

TEST_CASE("imap server: a failed login is answered only after the delay, and input waits") {
  World w;
  Session s(w);
  CHECK(s.login("alice@lab.test", "wrong") == "");
  CHECK(s.server->poll_timeout() == s.now + std::chrono::seconds(2));
  CHECK(s.cmd("N NOOP") == "");
  s.now = s.now + std::chrono::seconds(2);
  s.server->handle_timeout(s.now);
  auto out = s.server->poll_transmit();
  CHECK(has(out, "L NO [AUTHENTICATIONFAILED]"));
  CHECK(has(out, "N OK NOOP"));
}

TEST_CASE("imap server: commands before login get BAD and reveal nothing (catalogue row 44)") {
  World w;
  w.deliver("alice@lab.test", kSimpleMessage);
  for (const char* c : {"a SELECT INBOX", "b FETCH 1 BODY[]", "c LIST \"\" *", "d APPEND INBOX {3}"}) {
    Session s(w);  // a fresh session each: the third BAD before login ends one
    auto out = s.cmd(c);
    CHECK(has(out, " BAD Log in first"));
    CHECK_FALSE(has(out, "Hello"));
    CHECK_FALSE(has(out, "+ "));
    CHECK_FALSE(s.server->closed());
  }
}

TEST_CASE("imap server: the third bad command before login gets * BYE and closes (catalogue row 44)") {
  World w;
  Session s(w);
  CHECK(s.cmd("a SELECT INBOX") == "a BAD Log in first\r\n");
  CHECK(s.cmd("b FOO") == "b BAD Unknown command\r\n");
  CHECK_FALSE(s.server->closed());
  CHECK(s.cmd("c APPEND INBOX {3}") == "c BAD Log in first\r\n* BYE Too many invalid IMAP commands.\r\n");
  CHECK(s.server->closed());
  CHECK(s.server->state() == ServerState::logout);
  bool close_event = false;
  while (auto e = s.server->poll_event()) close_event |= std::holds_alternative<net::CloseEvent>(*e);
  CHECK(close_event);
  CHECK(s.cmd("d CAPABILITY") == "");  // nothing is read after the BYE
}

TEST_CASE("imap server: after login the count starts afresh and the 20th bad command gets * BYE") {
  World w;
  Session s(w);
  s.cmd("a FOO");
  s.cmd("b FOO");
  CHECK(has(s.login(), "L OK"));
  for (int i = 1; i < 20; ++i) {
    const std::string tag = "x" + std::to_string(i);
    CHECK(s.cmd(tag + " FOO") == tag + " BAD Unknown command\r\n");
  }
  CHECK_FALSE(s.server->closed());
  CHECK(s.cmd("y FOO") == "y BAD Unknown command\r\n* BYE Too many invalid IMAP commands.\r\n");
  CHECK(s.server->closed());
}

TEST_CASE("imap server: login names with traversal are refused (catalogue row 47)") {
  World w;
  w.users.passwords["../bob"] = "x";
  Session s(w);

  CHECK(s.cmd("L LOGIN ../bob x") == "");
  s.now = s.now + std::chrono::seconds(2);
  s.server->handle_timeout(s.now);
  CHECK(has(s.server->poll_transmit(), "L NO [AUTHENTICATIONFAILED]"));
}

TEST_CASE("imap server: SELECT reports FLAGS, EXISTS, UIDVALIDITY, UIDNEXT, PERMANENTFLAGS, READ-WRITE") {
  World w;
  w.deliver("alice@lab.test", kSimpleMessage, {"\\Seen"});
  w.deliver("alice@lab.test", kSimpleMessage);
  Session s(w);
  s.login();
  auto out = s.cmd("S SELECT INBOX");
  CHECK(has(out, "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n"));
  CHECK(has(out, "* 2 EXISTS\r\n"));
  CHECK(has(out, "* 0 RECENT\r\n"));
  CHECK(has(out, "* OK [UNSEEN 2]"));
  CHECK(has(out, "* OK [UIDVALIDITY "));
  CHECK(has(out, "* OK [UIDNEXT 3]"));
  CHECK(has(out, "* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)]"));
  CHECK(has(out, "S OK [READ-WRITE] SELECT completed"));
  CHECK(s.server->state() == ServerState::selected);
  out = s.cmd("E EXAMINE inbox");
  CHECK(has(out, "PERMANENTFLAGS ()"));
  CHECK(has(out, "E OK [READ-ONLY]"));
  CHECK(has(s.cmd("X STORE 1 +FLAGS (\\Deleted)"), "X NO [READ-ONLY]"));
  CHECK(has(s.cmd("N SELECT Nope"), "N NO [NONEXISTENT]"));
  CHECK(s.server->state() == ServerState::authenticated);
}

TEST_CASE("imap server: LIST shows special-use and children attributes, never another root") {
  World w;
  Session s(w);
  s.login();
  CHECK(has(s.cmd("C CREATE Archive/2026"), "C OK"));
  auto out = s.cmd("L LIST \"\" *");
  CHECK(has(out, "* LIST (\\HasNoChildren) \"/\" \"INBOX\""));
  CHECK(has(out, "* LIST (\\HasNoChildren \\Sent) \"/\" \"Sent\""));
  CHECK(has(out, "* LIST (\\HasNoChildren \\Trash) \"/\" \"Trash\""));
  CHECK(has(out, "* LIST (\\HasNoChildren \\Junk) \"/\" \"Junk\""));
  CHECK(has(out, "* LIST (\\HasNoChildren \\Drafts) \"/\" \"Drafts\""));
  CHECK(has(out, "\"Archive/2026\""));
  CHECK(has(out, "(\\HasChildren) \"/\" \"Archive\""));
  out = s.cmd("P LIST \"\" %");
  CHECK_FALSE(has(out, "Archive/2026"));
  CHECK(has(s.cmd("D LIST \"\" \"\""), "* LIST (\\Noselect) \"/\" \"\""));
  for (const char* ref : {"\"../\"", "\"/\"", "\"~bob/\"", "\"../bob@lab.test/\""}) {
    out = s.cmd(std::string("R LIST ") + ref + " *");
    CHECK(out == "R OK LIST completed\r\n");
  }
}

TEST_CASE("imap server: traversal and non-canonical mailbox names are refused everywhere (catalogue row 39)") {
  World w;
  Session s(w);
  s.login();
  for (const char* name : {"../bob", "..", "a/../../x", "/etc", "~root", "a//b", "cur", "a/new", "&AC4ALg-",
                           "&AGEAYgBj-", "&Jjo!", "a/"}) {
    std::string q = std::string("\"") + name + "\"";
    for (const std::string& c : {"CREATE " + q, "SELECT " + q, "STATUS " + q + " (MESSAGES)", "DELETE " + q,
                                 "SUBSCRIBE " + q, "RENAME INBOX " + q}) {
      auto out = s.cmd("T " + c);
      if (std::string(name) == "a/" && c.rfind("CREATE", 0) == 0) continue;  // a trailing '/' is allowed
      CHECK_MESSAGE(has(out, "T NO [CANNOT] Invalid mailbox name"), c);
    }
  }
  CHECK(has(s.cmd("A APPEND \"../x\" {1+}\r\nx"), "A NO [CANNOT]"));
}

TEST_CASE("imap server: one user never sees another's mail") {
  World w;
  w.deliver("bob@lab.test", "Subject: for bob only\r\n\r\nsecret\r\n");
  w.deliver("alice@lab.test", kSimpleMessage);
  Session s(w);
  s.login();
  auto out = s.cmd("S SELECT INBOX");
  CHECK(has(out, "* 1 EXISTS"));
  CHECK_FALSE(has(s.cmd("F FETCH 1:* BODY[]"), "for bob only"));
  CHECK_FALSE(has(s.cmd("L LIST \"\" *"), "bob"));
  CHECK(has(s.cmd("X SELECT \"~bob/INBOX\""), "X NO [CANNOT]"));
  CHECK(has(s.cmd("Y STATUS \"../bob@lab.test/INBOX\" (MESSAGES)"), "Y NO [CANNOT]"));
}

TEST_CASE("imap server: mailbox management commands") {
  World w;
  Session s(w);
  s.login();
  CHECK(has(s.cmd("a CREATE Projects/"), "a OK CREATE"));
  CHECK(has(s.cmd("b CREATE Projects"), "b NO [ALREADYEXISTS]"));
  CHECK(has(s.cmd("c RENAME Projects Work"), "c OK RENAME"));
  CHECK(has(s.cmd("d SUBSCRIBE Work"), "d OK"));
  CHECK(has(s.cmd("e LSUB \"\" *"), "* LSUB () \"/\" \"Work\""));
  CHECK(has(s.cmd("f UNSUBSCRIBE Work"), "f OK"));
  CHECK_FALSE(has(s.cmd("g LSUB \"\" *"), "Work"));
  CHECK(has(s.cmd("h DELETE Work"), "h OK DELETE"));
  CHECK(has(s.cmd("i DELETE INBOX"), "i NO"));
  CHECK(has(s.cmd("j CREATE Entw&APw-rfe"), "j OK"));
  CHECK(has(s.cmd("k LIST \"\" Entw*"), "\"Entw&APw-rfe\""));
  CHECK(has(s.cmd("l STATUS INBOX (MESSAGES UIDNEXT UIDVALIDITY UNSEEN RECENT)"),
            "* STATUS \"INBOX\" (MESSAGES 0 UIDNEXT 1 UIDVALIDITY "));
  CHECK(has(s.cmd("m NAMESPACE"), "* NAMESPACE ((\"\" \"/\")) NIL NIL"));
  CHECK(has(s.cmd("n ENABLE CONDSTORE"), "* ENABLED\r\nn OK"));
  CHECK(has(s.cmd("o ID (\"name\" \"test\")"), "* ID (\"name\" \"maillab\""));
}

TEST_CASE("imap server: APPEND with flags and date answers APPENDUID after a '+' continuation") {
  World w;
  Session s(w);
  s.login();
  std::string msg = kSimpleMessage;
  auto out = s.cmd("A APPEND Sent (\\Seen) \"02-Feb-2026 10:00:00 +0100\" {" + std::to_string(msg.size()) + "}");
  CHECK(out == "+ Ready for literal data\r\n");
  out = s.send(msg + "\r\n");
  CHECK(has(out, "A OK [APPENDUID "));
  CHECK(has(out, " 1] APPEND completed"));
  auto metas = w.store.messages("alice@lab.test", "Sent");
  REQUIRE(metas);
  REQUIRE(metas->size() == 1);
  CHECK(metas->front().internal_date_s == 1770022800);
  CHECK(metas->front().flags == net::mail::Flags{"\\Seen"});
  CHECK(has(s.cmd("B APPEND Nowhere {1+}\r\nx"), "B NO [TRYCREATE]"));
  CHECK(has(s.cmd("C APPEND INBOX (\\Recent) {1+}\r\nx"), "C BAD Invalid flag"));
  CHECK(has(s.cmd("D APPEND INBOX \"31-Feb-2026 10:00:00 +0000\" {1+}\r\nx"), "D BAD Invalid date-time"));
}

TEST_CASE("imap server: literal limits are decided before '+' (catalogue rows 33-35)") {
  World w;
  ServerConfig cfg = maillab::test::open_config();
  cfg.append_bytes_max = 1000;
  Session s(w, cfg);
  CHECK(s.cmd("A LOGIN {4294967295}") == "A BAD [TOOBIG] Literal too large\r\n");
  CHECK(has(s.cmd("B LOGIN {99999999999999999999}"), "B BAD [TOOBIG]"));
  Session t(w, cfg);  // the third BAD before login would end the first session
  CHECK(has(t.cmd("C LOGIN {1a}"), "C BAD Invalid literal"));
  s.login();
  CHECK(s.cmd("D APPEND INBOX {2000000000}") == "D NO [TOOBIG] Message too large\r\n");
  CHECK(has(s.cmd("E NOOP"), "E OK"));
}

TEST_CASE("imap server: a refused non-synchronising literal is never executed (LITERAL-)") {
  World w;
  ServerConfig cfg = maillab::test::open_config();
  cfg.literal_plus = false;
  Session s(w, cfg);
  CHECK(has(s.greeting, "LITERAL-"));
  s.login();
  auto out = s.send("A APPEND INBOX {5000+}\r\nB DELETE Sent\r\n" + std::string(5000, 'x'));
  CHECK(has(out, "* BYE [TOOBIG]"));
  CHECK_FALSE(has(out, "B "));
  CHECK(s.server->closed());
  CHECK(w.store.status("alice@lab.test", "Sent"));
}

TEST_CASE("imap server: an over-long line ends the session with BYE (catalogue row 37)") {
  World w;
  Session s(w);
  auto out = s.send("a NOOP " + std::string(70 * 1024, 'x'));
  CHECK(has(out, "* BYE [TOOBIG] line too long"));
  CHECK(s.server->closed());
}

TEST_CASE("imap server: FETCH of flags, size, date, UID and the exact message bytes") {
  World w;
  w.deliver("alice@lab.test", kSimpleMessage, {}, 1770026400);
  Session s(w);
  s.login();
  s.cmd("S SELECT INBOX");
  std::string msg = kSimpleMessage;
  auto out = s.cmd("F FETCH 1 (UID FLAGS RFC822.SIZE INTERNALDATE)");
  CHECK(has(out, "* 1 FETCH (UID 1 FLAGS () RFC822.SIZE " + std::to_string(msg.size()) +
                     " INTERNALDATE \"02-Feb-2026 10:00:00 +0000\")"));
  out = s.cmd("P FETCH 1 BODY.PEEK[]");
  CHECK(has(out, "* 1 FETCH (BODY[] {" + std::to_string(msg.size()) + "}\r\n" + msg + ")\r\n"));
  CHECK(has(s.cmd("G FETCH 1 FLAGS"), "FLAGS ()"));
  out = s.cmd("B FETCH 1 BODY[TEXT]");
  CHECK(has(out, "BODY[TEXT] {32}\r\nHi Alice,\r\nsee you at the lab.\r\n FLAGS (\\Seen))"));
  out = s.cmd("H UID FETCH 1 (BODY.PEEK[HEADER.FIELDS (Subject From)])");
  CHECK(has(out, "* 1 FETCH (UID 1 BODY[HEADER.FIELDS (SUBJECT FROM)] {58}\r\n"
                 "From: Bob Example <bob@lab.test>\r\nSubject: Hello Alice\r\n\r\n)"));
  out = s.cmd("N FETCH 1 BODY.PEEK[HEADER.FIELDS.NOT (From To Subject Date)]");
  CHECK(has(out, "{29}\r\nMessage-ID: <m1@lab.test>\r\n\r\n)"));
  out = s.cmd("Q FETCH 1 BODY.PEEK[]<0.4>");
  CHECK(has(out, "BODY[]<0> {4}\r\nFrom)"));
  CHECK(has(s.cmd("R FETCH 1 BODY.PEEK[]<0.4294967295>"), "BODY[]<0> {" + std::to_string(msg.size()) + "}"));
  CHECK(has(s.cmd("T FETCH 1 BODY.PEEK[]<4294967295.10>"), "BODY[]<4294967295> {0}"));
  CHECK(has(s.cmd("E FETCH 1 ENVELOPE"),
            "ENVELOPE (\"Mon, 02 Feb 2026 10:00:00 +0000\" \"Hello Alice\" ((\"Bob Example\" NIL \"bob\" "
            "\"lab.test\")) ((\"Bob Example\" NIL \"bob\" \"lab.test\")) ((\"Bob Example\" NIL \"bob\" "
            "\"lab.test\")) ((NIL NIL \"alice\" \"lab.test\")) NIL NIL NIL \"<m1@lab.test>\")"));
  CHECK(has(s.cmd("X FETCH 1 RFC822.HEADER"), "RFC822.HEADER {"));
  CHECK(has(s.cmd("Y FETCH 1 BODYSTRUCTURE"),
            "BODYSTRUCTURE (\"TEXT\" \"PLAIN\" (\"CHARSET\" \"us-ascii\") NIL NIL \"7BIT\" 32 2 NIL NIL NIL NIL)"));
}

TEST_CASE("imap server: BODYSTRUCTURE and part sections of a multipart message are exact") {
  World w;
  w.deliver("alice@lab.test", kMultipart);
  Session s(w);
  s.login();
  s.cmd("S SELECT INBOX");
  auto out = s.cmd("B FETCH 1 BODYSTRUCTURE");
  CHECK(has(out, "BODYSTRUCTURE ((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"utf-8\") NIL NIL \"7BIT\" 18 2 NIL NIL NIL NIL)"
                 "(\"APPLICATION\" \"PDF\" (\"NAME\" \"r.pdf\") NIL NIL \"BASE64\" 8 NIL (\"ATTACHMENT\" "
                 "(\"FILENAME\" \"r.pdf\")) NIL NIL) \"MIXED\" (\"BOUNDARY\" \"XX\") NIL NIL NIL)"));
  CHECK(has(s.cmd("C FETCH 1 BODY"), "BODY ((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"utf-8\") NIL NIL \"7BIT\" 18 2)"));
  CHECK(has(s.cmd("D FETCH 1 BODY.PEEK[1]"), "BODY[1] {18}\r\nLine one\r\nLine two)"));
  CHECK(has(s.cmd("E FETCH 1 BODY.PEEK[2]"), "BODY[2] {8}\r\nJVBERi0=)"));
  CHECK(has(s.cmd("F FETCH 1 BODY.PEEK[2.MIME]"), "BODY[2.MIME] {133}\r\nContent-Type: application/pdf"));
  CHECK(has(s.cmd("G FETCH 1 BODY.PEEK[3]"), "BODY[3] {0}\r\n)"));
  CHECK(has(s.cmd("H FETCH 1 BODY.PEEK[1.HEADER]"), "BODY[1.HEADER] {0}"));
}

TEST_CASE("imap server: a nested message/rfc822 part has its own envelope and sections") {
  std::string inner = "From: dave@lab.test\r\nSubject: inner\r\n\r\ninner body\r\n";
  std::string outer = "From: eve@lab.test\r\nSubject: fwd\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
                      "--b\r\nContent-Type: text/plain\r\n\r\nsee below\r\n"
                      "--b\r\nContent-Type: message/rfc822\r\n\r\n" + inner + "--b--\r\n";
  World w;
  w.deliver("alice@lab.test", outer);
  Session s(w);
  s.login();
  s.cmd("S SELECT INBOX");
  auto out = s.cmd("B FETCH 1 BODYSTRUCTURE");
  CHECK(has(out, "(\"MESSAGE\" \"RFC822\" NIL NIL NIL \"7BIT\" " + std::to_string(inner.size() - 2) +
                     " (NIL \"inner\" ((NIL NIL \"dave\" \"lab.test\"))"));
  CHECK(has(s.cmd("C FETCH 1 BODY.PEEK[2.HEADER]"), "{39}\r\nFrom: dave@lab.test\r\nSubject: inner\r\n\r\n)"));
  CHECK(has(s.cmd("D FETCH 1 BODY.PEEK[2.TEXT]"), "{10}\r\ninner body)"));
  CHECK(has(s.cmd("E FETCH 1 BODY.PEEK[2.1]"), "{10}\r\ninner body)"));
}

TEST_CASE("imap server: sequence sets are clamped for UIDs and checked for sequence numbers (catalogue row 41)") {
  World w;
  w.deliver("alice@lab.test", kSimpleMessage);
  w.deliver("alice@lab.test", kSimpleMessage);
  Session s(w);
  s.login();
  s.cmd("S SELECT INBOX");
  CHECK(has(s.cmd("a FETCH 0 FLAGS"), "a BAD"));
  CHECK(has(s.cmd("b FETCH 3 FLAGS"), "b BAD Invalid message sequence number"));
  CHECK(has(s.cmd("c FETCH 1:4294967296 FLAGS"), "c BAD"));
  auto out = s.cmd("d UID FETCH 1:4294967295 FLAGS");
  CHECK(has(out, "* 1 FETCH (UID 1 FLAGS ())\r\n* 2 FETCH (UID 2 FLAGS ())\r\nd OK"));
  CHECK(s.cmd("e UID FETCH 100:200 FLAGS") == "e OK UID FETCH completed\r\n");
  CHECK(has(s.cmd("f FETCH *:1 UID"), "* 2 FETCH (UID 2)"));
}

TEST_CASE("imap server: STORE adds, removes and replaces flags; .SILENT stays quiet") {
  World w;
  w.deliver("alice@lab.test", kSimpleMessage);
  Session s(w);
  s.login();
  s.cmd("S SELECT INBOX");
  CHECK(has(s.cmd("a STORE 1 +FLAGS (\\Seen $Work)"), "* 1 FETCH (FLAGS ($Work \\Seen))"));
  CHECK(has(s.cmd("b STORE 1 -FLAGS \\Seen"), "* 1 FETCH (FLAGS ($Work))"));
  CHECK(s.cmd("c STORE 1 FLAGS.SILENT (\\Flagged)") == "c OK STORE completed\r\n");
  CHECK(has(s.cmd("d UID STORE 1 +FLAGS (\\Answered)"), "* 1 FETCH (UID 1 FLAGS (\\Answered \\Flagged))"));
  CHECK(has(s.cmd("e STORE 1 +FLAGS (\\Recent)"), "e BAD Invalid flag"));
  CHECK(has(s.cmd("f STORE 1 +FLAGS (\\Bogus)"), "f BAD Invalid flag"));
  auto metas = w.store.messages("alice@lab.test", "INBOX");
  CHECK(metas->front().flags == net::mail::Flags{"\\Answered", "\\Flagged"});
}

TEST_CASE("imap server: COPY answers COPYUID, MOVE expunges, UID EXPUNGE only touches its set") {
  World w;
  for (int i = 0; i < 4; ++i) w.deliver("alice@lab.test", kSimpleMessage);
  Session s(w);
  s.login();
  s.cmd("S SELECT INBOX");
  auto out = s.cmd("a COPY 1:2 Trash");
  CHECK(has(out, "a OK [COPYUID "));
  CHECK(has(out, " 1:2 1:2] COPY completed"));
  CHECK(has(s.cmd("b COPY 1 Nowhere"), "b NO [TRYCREATE]"));
  out = s.cmd("c UID MOVE 3 Junk");
  CHECK(has(out, "* OK [COPYUID "));
  CHECK(has(out, "* 3 EXPUNGE\r\nc OK UID MOVE completed"));
  s.cmd("d STORE 1:3 +FLAGS.SILENT (\\Deleted)");
  out = s.cmd("e UID EXPUNGE 4");
  CHECK(has(out, "* 3 EXPUNGE\r\ne OK"));
  out = s.cmd("f EXPUNGE");
  CHECK(has(out, "* 1 EXPUNGE\r\n* 1 EXPUNGE\r\nf OK"));
  CHECK(w.store.messages("alice@lab.test", "INBOX")->empty());
}

TEST_CASE("imap server: CLOSE expunges silently, UNSELECT does not") {
  World w;
  w.deliver("alice@lab.test", kSimpleMessage, {"\\Deleted"});
  w.deliver("alice@lab.test", kSimpleMessage, {"\\Deleted"});
  Session s(w);
  s.login();
  s.cmd("S SELECT INBOX");
  CHECK(s.cmd("U UNSELECT") == "U OK UNSELECT completed\r\n");
  CHECK(w.store.messages("alice@lab.test", "INBOX")->size() == 2);
  s.cmd("S SELECT INBOX");
  CHECK(s.cmd("C CLOSE") == "C OK CLOSE completed\r\n");
  CHECK(w.store.messages("alice@lab.test", "INBOX")->empty());
  CHECK(s.server->state() == ServerState::authenticated);
}

TEST_CASE("imap server: SEARCH keys, boolean nesting, charsets and limits") {
  World w;
  w.deliver("alice@lab.test", kSimpleMessage, {"\\Seen"}, 1770026400);
  w.deliver("alice@lab.test", "From: carol@lab.test\r\nSubject: =?UTF-8?Q?Gr=C3=BC=C3=9Fe?=\r\n"
                              "Date: Tue, 03 Mar 2026 09:00:00 +0000\r\n\r\nbig body text here\r\n",
            {"$Work"}, 1772528400);
  Session s(w);
  s.login();
  s.cmd("S SELECT INBOX");
  CHECK(has(s.cmd("a SEARCH UNSEEN"), "* SEARCH 2\r\n"));
  CHECK(has(s.cmd("b SEARCH FROM BOB"), "* SEARCH 1\r\n"));
  CHECK(has(s.cmd("c SEARCH OR SUBJECT hello KEYWORD $Work"), "* SEARCH 1 2\r\n"));
  CHECK(has(s.cmd("d SEARCH NOT (SEEN)"), "* SEARCH 2\r\n"));
  CHECK(has(s.cmd("e SEARCH SINCE 1-Mar-2026"), "* SEARCH 2\r\n"));
  CHECK(has(s.cmd("f SEARCH BEFORE 1-Mar-2026 ON 2-Feb-2026"), "* SEARCH 1\r\n"));
  CHECK(has(s.cmd("g SEARCH SENTON 3-Mar-2026"), "* SEARCH 2\r\n"));
  CHECK(has(s.cmd("h SEARCH BODY \"BIG BODY\""), "* SEARCH 2\r\n"));
  CHECK(has(s.cmd("i SEARCH TEXT lab"), "* SEARCH 1 2\r\n"));
  CHECK(has(s.cmd("j UID SEARCH UID 2:*"), "* SEARCH 2\r\n"));
  CHECK(has(s.cmd("k SEARCH LARGER 100 SMALLER 150"), "* SEARCH 2\r\n") ==
        (w.store.messages("alice@lab.test", "INBOX")->at(1).size > 100 &&
         w.store.messages("alice@lab.test", "INBOX")->at(1).size < 150));
  CHECK(has(s.cmd("l SEARCH CHARSET UTF-8 SUBJECT {6}\r\n" "Gr\xc3\xbc\xc3\x9f"), ""));
  CHECK(has(s.send("m SEARCH CHARSET UTF-8 SUBJECT {4+}\r\nGr\xc3\xbc\r\n"), "* SEARCH 2\r\n"));
  CHECK(has(s.cmd("n SEARCH CHARSET KOI8-R ALL"), "n NO [BADCHARSET (UTF-8 US-ASCII)]"));
  CHECK(has(s.cmd("o SEARCH HEADER Message-ID m1"), "* SEARCH 1\r\n"));
  CHECK(has(s.cmd("p SEARCH 2:*"), "* SEARCH 2\r\n"));
  CHECK(has(s.cmd("q SEARCH ANSWERED"), "* SEARCH\r\n"));
  CHECK(has(s.cmd("r SEARCH BOGUS"), "r BAD"));
  std::string deep = "s SEARCH";
  for (int i = 0; i < 40; ++i) deep += " NOT";
  CHECK(has(s.cmd(deep + " ALL"), "s BAD Search criteria too deeply nested"));
  CHECK(has(s.cmd("t SEARCH " + std::string(50, '(') + "ALL" + std::string(50, ')')), "t BAD Too deeply nested"));
}

TEST_CASE("imap server: IDLE pushes EXISTS, FETCH and EXPUNGE from other sessions at once") {
  World w;
  w.deliver("alice@lab.test", kSimpleMessage);
  Session a(w), b(w);
  a.login();
  b.login();
  a.cmd("S SELECT INBOX");
  b.cmd("S SELECT INBOX");
  CHECK(a.cmd("I IDLE") == "+ idling\r\n");
  CHECK(a.server->idling());
  w.deliver("alice@lab.test", kSimpleMessage);
  a.server->handle_store_changed(a.now);
  CHECK(a.server->poll_transmit() == "* 2 EXISTS\r\n");
  b.cmd("X STORE 1 +FLAGS.SILENT (\\Deleted)");
  b.cmd("Y EXPUNGE");
  a.server->handle_store_changed(a.now);
  CHECK(a.server->poll_transmit() == "* 1 EXPUNGE\r\n");
  CHECK(a.cmd("DONE") == "I OK IDLE terminated\r\n");
  CHECK_FALSE(a.server->idling());
}

TEST_CASE("imap server: another session's EXPUNGE waits until a command that may report it (catalogue row 48)") {
  World w;
  w.deliver("alice@lab.test", kSimpleMessage);
  w.deliver("alice@lab.test", kSimpleMessage);
  Session a(w), b(w);
  a.login();
  b.login();
  auto sel = a.cmd("S SELECT INBOX");
  b.cmd("S SELECT INBOX");
  b.cmd("X STORE 1 +FLAGS.SILENT (\\Deleted)");
  b.cmd("Y EXPUNGE");
  a.server->handle_store_changed(a.now);
  CHECK(a.server->poll_transmit().empty());
  auto out = a.cmd("F FETCH 1:2 FLAGS");
  CHECK_FALSE(has(out, "EXPUNGE"));
  CHECK(has(out, "* 2 FETCH (FLAGS ())"));
  out = a.cmd("N NOOP");
  CHECK(out == "* 1 EXPUNGE\r\nN OK NOOP completed\r\n");
  CHECK(has(a.cmd("U UID FETCH 1:* UID"), "* 1 FETCH (UID 2)"));
  CHECK(has(sel, "UIDVALIDITY"));
}

TEST_CASE("imap server: autologout after inactivity, LOGOUT says BYE and closes") {
  World w;
  Session s(w);
  s.login();
  CHECK(s.server->poll_timeout() == s.now + std::chrono::minutes(30));
  s.now = s.now + std::chrono::minutes(30);
  s.server->handle_timeout(s.now);
  CHECK(has(s.server->poll_transmit(), "* BYE Autologout"));
  CHECK(s.server->closed());
  Session t(w);
  CHECK(t.cmd("Z LOGOUT") == "* BYE Logging out\r\nZ OK LOGOUT completed\r\n");
  CHECK(t.server->state() == ServerState::logout);
}

TEST_CASE("imap server: state changes and lines are reported as events, literals summarised") {
  World w;
  Session s(w);
  while (s.server->poll_event()) {
  }
  s.send("A LOGIN {14}\r\n");
  s.send("alice@lab.test alice-secret\r\n");
  std::vector<std::string> seen;
  while (auto e = s.server->poll_event()) {
    if (auto* l = std::get_if<net::LineEvent>(&*e)) seen.push_back((l->dir == net::Direction::client_to_server ? "C: " : "S: ") + l->text);
    if (auto* lit = std::get_if<LiteralEvent>(&*e)) seen.push_back("literal " + std::to_string(lit->bytes));
    if (auto* st = std::get_if<net::StateEvent>(&*e)) seen.push_back(std::string(st->from) + " -> " + std::string(st->to));
  }
  REQUIRE(seen.size() == 6);
  CHECK(seen[0] == "C: A LOGIN {14}");
  CHECK(seen[1] == "S: + Ready for literal data");
  CHECK(seen[2] == "literal 14");
  CHECK(seen[3] == "C:  alice-secret");
  CHECK(seen[4] == "not authenticated -> authenticated");
  CHECK(seen[5].rfind("S: A OK [CAPABILITY", 0) == 0);
}

TEST_CASE("imap server: repeated bad commands end the session") {
  World w;
  ServerConfig cfg = maillab::test::open_config();
  cfg.bad_commands_max = 3;
  Session s(w, cfg);
  s.login();
  s.cmd("a FOO");
  s.cmd("b BAR");
  CHECK(has(s.cmd("c BAZ"), "* BYE Too many invalid IMAP commands."));
  CHECK(s.server->closed());
}

TEST_CASE("imap server: literals per command are capped (catalogue row 36)") {
  World w;
  ServerConfig cfg = maillab::test::open_config();
  cfg.limits.literals_max = 8;
  Session s(w, cfg);
  s.login();
  s.cmd("S SELECT INBOX");
  std::string search = "A SEARCH";
  for (int i = 0; i < 8; ++i) search += " TEXT {1+}\r\nx";
  CHECK(has(s.send(search + "\r\n"), "* SEARCH\r\nA OK"));
  search = "B SEARCH";
  for (int i = 0; i < 9; ++i) search += " TEXT {1+}\r\nx";
  auto out = s.send(search + "\r\n");
  CHECK(has(out, "* BYE [TOOBIG]"));
  CHECK(s.server->closed());
}

TEST_CASE("imap server: IDLE sends a keepalive every two minutes until autologout") {
  World w;
  Session s(w);
  s.login();
  s.cmd("S SELECT INBOX");
  s.cmd("I IDLE");
  CHECK(s.server->poll_timeout() == s.now + std::chrono::minutes(2));
  s.now = s.now + std::chrono::minutes(2);
  s.server->handle_timeout(s.now);
  CHECK(s.server->poll_transmit() == "* OK Still here\r\n");
  CHECK(s.server->poll_timeout() == s.now + std::chrono::minutes(2));
  CHECK(s.cmd("DONE") == "I OK IDLE terminated\r\n");
}

TEST_CASE("imap server: lines are limited to 8 KiB before login and 64 KiB after (catalogue row 37)") {
  World w;
  Session s(w);
  auto out = s.send("a NOOP " + std::string(9000, 'x') + "\r\n");
  CHECK(has(out, "* BYE [TOOBIG]"));
  Session t(w);
  t.login();
  CHECK(has(t.cmd("b NOOP " + std::string(9000, 'x')), "b OK NOOP"));
  CHECK_FALSE(t.server->closed());
}

TEST_CASE("imap server: FETCH BODY[] in an EXAMINEd mailbox does not set \\Seen") {
  World w;
  w.deliver("alice@lab.test", kSimpleMessage);
  Session s(w);
  s.login();
  s.cmd("E EXAMINE INBOX");
  auto out = s.cmd("F FETCH 1 BODY[]");
  CHECK_FALSE(has(out, "\\Seen"));
  CHECK(w.store.messages("alice@lab.test", "INBOX")->front().flags.empty());
}

TEST_CASE("imap server: a delivery reaches a selected session at once, flags too; expunges wait") {
  World w;
  w.deliver("alice@lab.test", kSimpleMessage);
  Session a(w), b(w);
  a.login();
  b.login();
  a.cmd("S SELECT INBOX");
  b.cmd("S SELECT INBOX");
  w.deliver("alice@lab.test", kSimpleMessage);
  a.server->handle_store_changed(a.now);
  CHECK(a.server->poll_transmit() == "* 2 EXISTS\r\n");
  b.cmd("F STORE 1 +FLAGS.SILENT (\\Flagged)");
  a.server->handle_store_changed(a.now);
  CHECK(a.server->poll_transmit() == "* 1 FETCH (UID 1 FLAGS (\\Flagged))\r\n");
  b.cmd("X UID EXPUNGE 1");
  b.cmd("D STORE 1 +FLAGS.SILENT (\\Deleted)");
  b.cmd("E EXPUNGE");
  a.server->handle_store_changed(a.now);
  CHECK(a.server->poll_transmit().empty());
  CHECK(a.cmd("N NOOP") == "* 1 EXPUNGE\r\nN OK NOOP completed\r\n");
  Session c(w);
  c.login();
  c.server->handle_store_changed(c.now);
  CHECK(c.server->poll_transmit().empty());
}
