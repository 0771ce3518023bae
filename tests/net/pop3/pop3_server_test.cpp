#include "net/pop3/pop3_server.hpp"

#include <doctest/doctest.h>

#include <string>

#include "net/core/sasl.hpp"
#include "net/pop3/pop3_test_harness.hpp"

using namespace pop3_test;

namespace {

constexpr std::string_view kMessage1 = "Subject: one\r\nFrom: bob@lab.test\r\n\r\nfirst body\r\n";
constexpr std::string_view kMessage2 = "Subject: two\r\n\r\nline 1\r\nline 2\r\nline 3\r\n";

bool starts_with(const std::string& text, std::string_view prefix) { return text.starts_with(prefix); }

}  // namespace

// --- greeting and AUTHORIZATION ---------------------------------------------

TEST_CASE("pop3 server: the greeting carries the host and the APOP timestamp from the config") {
  World world;
  Session session(world);
  CHECK(session.greeting() == "+OK pop3.lab.test POP3 ready <4711.1764190000@pop3.lab.test>\r\n");
  ServerConfig plain = cleartext_config();
  plain.apop_timestamp.clear();
  Session no_apop(world, plain);
  CHECK(no_apop.greeting() == "+OK pop3.lab.test POP3 ready\r\n");
}

TEST_CASE("pop3 server: STAT, LIST, RETR and DELE before login get -ERR (catalogue 49)") {
  World world;
  world.deliver(kMessage1);
  ServerConfig config = cleartext_config();
  config.bad_commands_max_unauthenticated = 10;
  Session session(world, config);
  for (const char* command : {"STAT", "LIST", "RETR 1", "DELE 1", "TOP 1 0", "UIDL", "NOOP", "RSET"}) {
    INFO(command);
    CHECK(starts_with(session.command(command), "-ERR "));
  }
  CHECK(session.server().state() == ServerState::authorization);
  CHECK(session.command("QUIT").starts_with("+OK"));
  CHECK(world.inbox_size() == 1);
}

TEST_CASE("pop3 server: the third bad command before login ends the session (Dovecot pop3-login)") {
  World world;
  Session session(world);
  CHECK(session.command("STAT") == "-ERR STAT is not allowed in the AUTHORIZATION state (RFC 1939 §3)\r\n");
  CHECK(session.command("XYZZY") == "-ERR Unknown command\r\n");
  CHECK_FALSE(session.closed());
  CHECK(session.command("RETR 1") == "-ERR Too many bad commands, closing the connection\r\n");
  CHECK(session.closed());
  const auto closes = session.events_of<net::CloseEvent>();
  REQUIRE(closes.size() == 1);
  CHECK(closes[0].reason == "too many bad commands");
  CHECK(session.command("CAPA").empty());
}

TEST_CASE("pop3 server: after login the bad-command limit is the larger one") {
  World world;
  ServerConfig config = cleartext_config();
  config.bad_commands_max = 4;
  Session session(world, config);
  REQUIRE(session.login().starts_with("+OK"));
  CHECK(session.command("USER x").starts_with("-ERR USER is not allowed in the TRANSACTION state"));
  CHECK(session.command("DELE 1a") == "-ERR Invalid message number\r\n");
  CHECK(session.command("FOO") == "-ERR Unknown command\r\n");
  CHECK_FALSE(session.closed());
  CHECK(session.command("STLS").starts_with("-ERR Too many bad commands"));
  CHECK(session.closed());
}

TEST_CASE("pop3 server: cleartext USER, PASS and AUTH PLAIN are refused until TLS (catalogue 49)") {
  World world;
  ServerConfig config;
  config.apop_timestamp = std::string(kTimestamp);
  config.tls_available = true;
  config.bad_commands_max_unauthenticated = 10;
  Session session(world, config);
  const std::string refusal = "-ERR [AUTH] Cleartext authentication refused: TLS required, use STLS first\r\n";
  CHECK(session.command("USER alice@lab.test") == refusal);
  CHECK(session.command("PASS alice-secret") == refusal);
  CHECK(session.command("AUTH PLAIN " + net::encode_sasl_plain(kAlice, kAlicePassword)) == refusal);
  CHECK(session.events_of<LoginEvent>().empty());
  CHECK(session.server().state() == ServerState::authorization);
}

TEST_CASE("pop3 server: CAPA before TLS offers STLS but neither USER nor SASL PLAIN") {
  World world;
  ServerConfig config;
  config.tls_available = true;
  Session session(world, config);
  CHECK(session.command("CAPA") ==
        "+OK Capability list follows\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nAUTH-RESP-CODE\r\nPIPELINING\r\n"
        "STLS\r\nIMPLEMENTATION maillab\r\n.\r\n");
}

TEST_CASE("pop3 server: CAPA inside TLS offers USER and SASL PLAIN and no longer STLS") {
  World world;
  ServerConfig config;
  config.tls_available = true;
  Session session(world, config);
  REQUIRE(session.command("STLS") == "+OK Begin TLS negotiation\r\n");
  session.server().handle_tls_established(world.now);
  CHECK(session.command("CAPA") ==
        "+OK Capability list follows\r\nTOP\r\nUIDL\r\nUSER\r\nSASL PLAIN\r\nRESP-CODES\r\n"
        "AUTH-RESP-CODE\r\nPIPELINING\r\nIMPLEMENTATION maillab\r\n.\r\n");
  CHECK(session.login().starts_with("+OK Maildrop locked and ready"));
  const auto lines = session.events_of<net::LineEvent>();
  CHECK(lines.back().tls);
}

TEST_CASE("pop3 server: a multi-line reply is one body summary event, not a line event per line") {
  World world;
  Session session(world);
  const std::size_t lines_before = session.events_of<net::LineEvent>().size();
  session.command("CAPA");
  CHECK(session.events_of<net::LineEvent>().size() == lines_before + 2);  // CAPA and +OK
  const auto bodies = session.events_of<BodyEvent>();
  REQUIRE(bodies.size() == 1);
  CHECK(bodies[0].what == "capability list");
  CHECK(bodies[0].lines == 8);  // TOP UIDL USER SASL RESP-CODES AUTH-RESP-CODE PIPELINING IMPLEMENTATION
}

TEST_CASE("pop3 server: STLS discards the plaintext pipelined behind it (CVE-2011-0411)") {
  World world;
  ServerConfig config;
  config.tls_available = true;
  Session session(world, config);
  const std::string injected = "USER alice@lab.test\r\nPASS alice-secret\r\n";
  CHECK(session.send("STLS\r\n" + injected) == "+OK Begin TLS negotiation\r\n");
  CHECK(session.events_of<net::StartTlsEvent>().size() == 1);
  CHECK(session.server().state() == ServerState::starttls);
  CHECK(session.send("NOOP\r\n").empty());  // still before the handshake: dropped too
  session.server().handle_tls_established(world.now);
  CHECK(session.take().empty());
  const auto discarded = session.events_of<BodyEvent>();
  REQUIRE(discarded.size() == 2);
  CHECK(discarded[0].octets == injected.size());
  CHECK(discarded[1].octets == 6);
  // The injected USER was forgotten: PASS alone is refused.
  CHECK(session.command("PASS alice-secret") == "-ERR USER first (RFC 1939 §7)\r\n");
  CHECK(session.events_of<LoginEvent>().empty());
}

TEST_CASE("pop3 server: STLS forgets a USER given before it (RFC 2595 §4)") {
  World world;
  ServerConfig config = cleartext_config();
  config.tls_available = true;
  Session session(world, config);
  REQUIRE(session.command("USER alice@lab.test") == "+OK\r\n");
  REQUIRE(session.command("STLS") == "+OK Begin TLS negotiation\r\n");
  session.server().handle_tls_established(world.now);
  CHECK(session.command("PASS alice-secret") == "-ERR USER first (RFC 1939 §7)\r\n");
}

TEST_CASE("pop3 server: STLS when TLS is active, unavailable, or with arguments gets -ERR") {
  World world;
  ServerConfig implicit = cleartext_config();
  implicit.tls_available = true;
  implicit.tls_active = true;
  Session active(world, implicit);
  CHECK(active.command("STLS") == "-ERR TLS already active (RFC 2595 §4)\r\n");
  Session unavailable(world);
  CHECK(unavailable.command("STLS") == "-ERR STLS not available\r\n");
  ServerConfig available = cleartext_config();
  available.tls_available = true;
  Session with_args(world, available);
  CHECK(with_args.command("STLS now") == "-ERR Syntax error in STLS arguments\r\n");
  CHECK(with_args.server().state() == ServerState::authorization);
}

TEST_CASE("pop3 server: USER/PASS logs in and reports the maildrop") {
  World world;
  world.deliver(kMessage1);
  world.deliver(kMessage2);
  Session session(world);
  const std::size_t total = kMessage1.size() + kMessage2.size();
  CHECK(session.login() == "+OK Maildrop locked and ready, 2 messages (" + std::to_string(total) + " octets)\r\n");
  CHECK(session.server().state() == ServerState::transaction);
  CHECK(session.server().user() == kAlice);
  const auto logins = session.events_of<LoginEvent>();
  REQUIRE(logins.size() == 1);
  CHECK(logins[0].ok);
  CHECK(logins[0].method == "USER/PASS");
  const auto states = session.events_of<net::StateEvent>();
  REQUIRE(states.size() == 1);
  CHECK(states[0].from == "AUTHORIZATION");
  CHECK(states[0].to == "TRANSACTION");
}

TEST_CASE("pop3 server: a password may contain spaces (RFC 1939 §7)") {
  World world;
  world.users.add("carol@lab.test", "correct horse battery");
  REQUIRE(world.store.ensure_user("carol@lab.test").ok());
  Session session(world);
  CHECK(session.login("carol@lab.test", "correct horse battery").starts_with("+OK"));
}

TEST_CASE("pop3 server: a wrong password gets -ERR [AUTH] and the third failure closes") {
  World world;
  Session session(world);
  CHECK(session.login(kAlice, "wrong") == "-ERR [AUTH] Authentication failed (RFC 3206 §4)\r\n");
  CHECK(session.login("nobody@lab.test", "x") == "-ERR [AUTH] Authentication failed (RFC 3206 §4)\r\n");
  CHECK(session.login(kAlice, "wrong").starts_with("-ERR [AUTH] Authentication failed; too many failures"));
  CHECK(session.closed());
  const auto logins = session.events_of<LoginEvent>();
  REQUIRE(logins.size() == 3);
  CHECK_FALSE(logins[0].ok);
}

TEST_CASE("pop3 server: PASS without USER gets -ERR") {
  World world;
  Session session(world);
  CHECK(session.command("PASS alice-secret") == "-ERR USER first (RFC 1939 §7)\r\n");
}

TEST_CASE("pop3 server: APOP logs in with MD5 of timestamp and secret, even without TLS") {
  World world;
  ServerConfig config;  // TLS required for cleartext logins, APOP is not one
  config.apop_timestamp = std::string(kTimestamp);
  Session session(world, config);
  const std::string digest = apop_digest(kTimestamp, kAlicePassword);
  CHECK(session.command("APOP alice@lab.test " + digest).starts_with("+OK Maildrop locked and ready"));
  const auto logins = session.events_of<LoginEvent>();
  REQUIRE(logins.size() == 1);
  CHECK(logins[0].method == "APOP");
}

TEST_CASE("pop3 server: APOP accepts an upper-case digest and refuses a wrong one") {
  World world;
  Session session(world);
  std::string digest = apop_digest(kTimestamp, "not-the-secret");
  CHECK(session.command("APOP alice@lab.test " + digest).starts_with("-ERR [AUTH] Authentication failed"));
  CHECK(session.command("APOP nobody@lab.test " + digest).starts_with("-ERR [AUTH]"));
  digest = apop_digest(kTimestamp, kAlicePassword);
  for (char& c : digest) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  CHECK(session.command("APOP alice@lab.test " + digest).starts_with("+OK"));
}

TEST_CASE("pop3 server: APOP without a timestamp in the greeting gets -ERR") {
  World world;
  ServerConfig config = cleartext_config();
  config.apop_timestamp.clear();
  Session session(world, config);
  CHECK(session.command("APOP alice@lab.test " + apop_digest("", kAlicePassword)) ==
        "-ERR APOP not available: the greeting carries no timestamp (RFC 1939 §7)\r\n");
}

TEST_CASE("pop3 server: AUTH PLAIN with an initial response logs in (RFC 5034 §4)") {
  World world;
  Session session(world);
  CHECK(session.command("AUTH PLAIN " + net::encode_sasl_plain(kAlice, kAlicePassword))
            .starts_with("+OK Maildrop locked and ready"));
  CHECK(session.events_of<LoginEvent>().at(0).method == "AUTH PLAIN");
}

TEST_CASE("pop3 server: AUTH PLAIN without initial response gets '+ ' and reads the next line") {
  World world;
  Session session(world);
  CHECK(session.command("auth plain") == "+ \r\n");
  CHECK(session.server().state() == ServerState::sasl);
  CHECK(session.command(net::encode_sasl_plain(kAlice, kAlicePassword)).starts_with("+OK"));
  CHECK(session.server().state() == ServerState::transaction);
}

TEST_CASE("pop3 server: '*' cancels AUTH and bad base64 fails it") {
  World world;
  Session session(world);
  REQUIRE(session.command("AUTH PLAIN") == "+ \r\n");
  CHECK(session.command("*") == "-ERR [AUTH] Authentication cancelled (RFC 5034 §4)\r\n");
  CHECK(session.server().state() == ServerState::authorization);
  REQUIRE(session.command("AUTH PLAIN") == "+ \r\n");
  CHECK(session.command("!!!not base64").starts_with("-ERR [AUTH] Authentication failed"));
  CHECK(session.command("AUTH PLAIN =").starts_with("-ERR [AUTH] Authentication failed"));
}

TEST_CASE("pop3 server: AUTH with an unknown mechanism gets -ERR, AUTH alone lists PLAIN") {
  World world;
  Session session(world);
  CHECK(session.command("AUTH CRAM-MD5") == "-ERR [AUTH] Unsupported SASL mechanism (RFC 5034 §4)\r\n");
  CHECK(session.command("AUTH") == "+OK SASL mechanisms follow\r\nPLAIN\r\n.\r\n");
}

TEST_CASE("pop3 server: a login for a user without a maildrop gets -ERR [SYS/TEMP] and no lock") {
  World world;
  world.users.add("ghost@lab.test", "boo");
  Session session(world);
  CHECK(session.login("ghost@lab.test", "boo") == "-ERR [SYS/TEMP] Unable to open the maildrop (RFC 3206 §5)\r\n");
  CHECK(session.server().state() == ServerState::authorization);
  CHECK_FALSE(world.locks.is_locked("ghost@lab.test"));
}

// --- TRANSACTION ---------------------------------------------------------------

TEST_CASE("pop3 server: STAT, LIST and LIST n give counts and sizes (RFC 1939 §5)") {
  World world;
  world.deliver(kMessage1);
  world.deliver(kMessage2);
  Session session(world);
  REQUIRE(session.login().starts_with("+OK"));
  const std::string s1 = std::to_string(kMessage1.size());
  const std::string s2 = std::to_string(kMessage2.size());
  const std::string total = std::to_string(kMessage1.size() + kMessage2.size());
  CHECK(session.command("STAT") == "+OK 2 " + total + "\r\n");
  CHECK(session.command("LIST") ==
        "+OK 2 messages (" + total + " octets)\r\n1 " + s1 + "\r\n2 " + s2 + "\r\n.\r\n");
  CHECK(session.command("LIST 2") == "+OK 2 " + s2 + "\r\n");
  CHECK(session.command("LIST 3") == "-ERR No such message\r\n");
}

TEST_CASE("pop3 server: UIDL gives UID and UIDVALIDITY based ids, stable across sessions") {
  World world;
  const std::uint32_t uid1 = world.deliver(kMessage1);
  const std::uint32_t uid2 = world.deliver(kMessage2);
  const auto status = world.store.status(kAlice, "INBOX");
  REQUIRE(status.ok());
  const std::string id1 = format_uidl(status->uid_validity, uid1);
  const std::string id2 = format_uidl(status->uid_validity, uid2);
  std::string first_listing;
  {
    Session session(world);
    REQUIRE(session.login().starts_with("+OK"));
    first_listing = session.command("UIDL");
    CHECK(first_listing == "+OK Unique-id listing follows\r\n1 " + id1 + "\r\n2 " + id2 + "\r\n.\r\n");
    CHECK(session.command("UIDL 2") == "+OK 2 " + id2 + "\r\n");
    CHECK(session.command("DELE 1") == "+OK Message 1 deleted\r\n");
    CHECK(session.command("QUIT").starts_with("+OK"));
  }
  Session again(world);
  REQUIRE(again.login().starts_with("+OK"));
  CHECK(again.command("UIDL") == "+OK Unique-id listing follows\r\n1 " + id2 + "\r\n.\r\n");
}

TEST_CASE("pop3 server: RETR gives back the stored bytes, byte-stuffed, with '.', '..' and an unterminated last line") {
  World world;
  const std::string stored = "Subject: dots\r\n\r\n.\r\n..\r\n...x\r\n. \r\nmiddle\r\nno newline at the end";
  world.deliver(stored);
  Session session(world);
  REQUIRE(session.login().starts_with("+OK"));
  const auto read = world.store.read(kAlice, "INBOX", 1);
  REQUIRE(read.ok());
  REQUIRE(*read == stored);
  const std::string reply = session.command("RETR 1");
  CHECK(reply == "+OK " + std::to_string(stored.size()) +
                     " octets\r\nSubject: dots\r\n\r\n..\r\n...\r\n....x\r\n.. \r\nmiddle\r\n"
                     "no newline at the end\r\n.\r\n");
  const auto bodies = session.events_of<BodyEvent>();
  REQUIRE(bodies.size() == 1);
  CHECK(bodies[0].what == "message 1");
  CHECK(bodies[0].lines == 8);
}

TEST_CASE("pop3 server: RETR of a message ending in CRLF adds nothing before the final dot") {
  World world;
  world.deliver(kMessage1);
  Session session(world);
  REQUIRE(session.login().starts_with("+OK"));
  CHECK(session.command("RETR 1") ==
        "+OK " + std::to_string(kMessage1.size()) + " octets\r\n" + std::string(kMessage1) + ".\r\n");
}

TEST_CASE("pop3 server: TOP gives the header and n body lines; huge and negative counts are safe (catalogue 42)") {
  World world;
  world.deliver(kMessage2);
  Session session(world);
  REQUIRE(session.login().starts_with("+OK"));
  CHECK(session.command("TOP 1 0") == "+OK Top of message follows\r\nSubject: two\r\n\r\n.\r\n");
  CHECK(session.command("TOP 1 2") ==
        "+OK Top of message follows\r\nSubject: two\r\n\r\nline 1\r\nline 2\r\n.\r\n");
  CHECK(session.command("TOP 1 4294967295") ==
        "+OK Top of message follows\r\n" + std::string(kMessage2) + ".\r\n");
  CHECK(session.command("TOP 1 -1") == "-ERR Invalid line count (RFC 1939 §7)\r\n");
  CHECK(session.command("TOP 1 4294967296") == "-ERR Invalid line count (RFC 1939 §7)\r\n");
  CHECK(session.command("TOP 1") == "-ERR Syntax error in TOP arguments\r\n");
  CHECK(session.command("TOP 2 1") == "-ERR No such message\r\n");
}

TEST_CASE("pop3 server: DELE 0, DELE 99, DELE 1a and DELE twice get -ERR (catalogue 50)") {
  World world;
  world.deliver(kMessage1);
  world.deliver(kMessage2);
  Session session(world);
  REQUIRE(session.login().starts_with("+OK"));
  CHECK(session.command("DELE 0") == "-ERR No such message\r\n");
  CHECK(session.command("DELE 99") == "-ERR No such message\r\n");
  CHECK(session.command("DELE 1a") == "-ERR Invalid message number\r\n");
  CHECK(session.command("DELE -1") == "-ERR Invalid message number\r\n");
  CHECK(session.command("DELE 4294967296") == "-ERR Invalid message number\r\n");
  CHECK(session.command("DELE") == "-ERR Syntax error in DELE arguments\r\n");
  CHECK(session.command("DELE 2") == "+OK Message 2 deleted\r\n");
  CHECK(session.command("DELE 2") == "-ERR Message 2 already deleted\r\n");
}

TEST_CASE("pop3 server: a deleted message is gone from STAT, LIST, UIDL, RETR and TOP; RSET brings it back (catalogue 50)") {
  World world;
  world.deliver(kMessage1);
  world.deliver(kMessage2);
  Session session(world);
  REQUIRE(session.login().starts_with("+OK"));
  REQUIRE(session.command("DELE 1").starts_with("+OK"));
  const std::string s2 = std::to_string(kMessage2.size());
  CHECK(session.command("STAT") == "+OK 1 " + s2 + "\r\n");
  CHECK(session.command("LIST") == "+OK 1 message (" + s2 + " octets)\r\n2 " + s2 + "\r\n.\r\n");
  CHECK(session.command("LIST 1") == "-ERR Message 1 already deleted\r\n");
  CHECK(session.command("RETR 1") == "-ERR Message 1 already deleted\r\n");
  CHECK(session.command("TOP 1 0") == "-ERR Message 1 already deleted\r\n");
  CHECK(session.command("UIDL 1") == "-ERR Message 1 already deleted\r\n");
  CHECK(session.command("UIDL").find("\r\n1 ") == std::string::npos);
  const std::string total = std::to_string(kMessage1.size() + kMessage2.size());
  CHECK(session.command("RSET") == "+OK Maildrop has 2 messages (" + total + " octets)\r\n");
  CHECK(session.command("STAT") == "+OK 2 " + total + "\r\n");
  CHECK(session.command("RETR 1").starts_with("+OK"));
  CHECK(session.command("QUIT").starts_with("+OK"));
  CHECK(world.inbox_size() == 2);
}

TEST_CASE("pop3 server: NOOP answers +OK and verbs are case-insensitive") {
  World world;
  Session session(world);
  REQUIRE(session.login().starts_with("+OK"));
  CHECK(session.command("noop") == "+OK\r\n");
  CHECK(session.command("Stat") == "+OK 0 0\r\n");
}

TEST_CASE("pop3 server: pipelined commands are answered in order (RFC 2449 PIPELINING)") {
  World world;
  world.deliver(kMessage1);
  Session session(world);
  const std::string s1 = std::to_string(kMessage1.size());
  const std::string reply = session.send("USER alice@lab.test\r\nPASS alice-secret\r\nSTAT\r\nLIST 1\r\nQUIT\r\n");
  CHECK(reply == "+OK\r\n+OK Maildrop locked and ready, 1 message (" + s1 + " octets)\r\n+OK 1 " + s1 +
                     "\r\n+OK 1 " + s1 + "\r\n+OK pop3.lab.test POP3 server signing off (1 message left)\r\n");
  CHECK(session.closed());
}

TEST_CASE("pop3 server: the maildrop is a snapshot taken at login") {
  World world;
  world.deliver(kMessage1);
  Session session(world);
  REQUIRE(session.login().starts_with("+OK"));
  world.deliver(kMessage2);
  CHECK(session.command("STAT") == "+OK 1 " + std::to_string(kMessage1.size()) + "\r\n");
  CHECK(session.command("RETR 2") == "-ERR No such message\r\n");
}

// --- UPDATE and what must not delete -----------------------------------------

TEST_CASE("pop3 server: QUIT applies the deletions in UPDATE (RFC 1939 §6)") {
  World world;
  const std::uint32_t uid1 = world.deliver(kMessage1);
  world.deliver(kMessage2);
  Session session(world);
  REQUIRE(session.login().starts_with("+OK"));
  REQUIRE(session.command("DELE 1").starts_with("+OK"));
  CHECK(world.inbox_size() == 2);  // only marked so far
  CHECK(session.command("QUIT") == "+OK pop3.lab.test POP3 server signing off (1 message left)\r\n");
  CHECK(world.inbox_size() == 1);
  const auto updates = session.events_of<UpdateEvent>();
  REQUIRE(updates.size() == 1);
  CHECK(updates[0].ok);
  CHECK(updates[0].expunged_uids == std::vector<std::uint32_t>{uid1});
  const auto states = session.events_of<net::StateEvent>();
  REQUIRE(states.size() == 3);
  CHECK(states[1].to == "UPDATE");
  CHECK(states[2].to == "CLOSED");
  CHECK_FALSE(world.locks.is_locked(kAlice));
}

TEST_CASE("pop3 server: QUIT before login closes without touching the maildrop") {
  World world;
  world.deliver(kMessage1);
  Session session(world);
  CHECK(session.command("QUIT") == "+OK pop3.lab.test POP3 server signing off\r\n");
  CHECK(session.closed());
  CHECK(session.events_of<UpdateEvent>().empty());
}

TEST_CASE("pop3 server: a dropped connection deletes nothing and frees the lock (catalogue 51)") {
  World world;
  world.deliver(kMessage1);
  world.deliver(kMessage2);
  Session session(world);
  REQUIRE(session.login().starts_with("+OK"));
  REQUIRE(session.command("DELE 1").starts_with("+OK"));
  REQUIRE(session.command("DELE 2").starts_with("+OK"));
  session.server().handle_close(world.now);
  CHECK(session.closed());
  CHECK(world.inbox_size() == 2);
  CHECK(session.events_of<UpdateEvent>().empty());
  CHECK_FALSE(world.locks.is_locked(kAlice));
  CHECK(session.send("QUIT\r\n").empty());
  CHECK(world.inbox_size() == 2);
}

TEST_CASE("pop3 server: a session destroyed without close deletes nothing and frees the lock (kill -9)") {
  World world;
  world.deliver(kMessage1);
  {
    Session session(world);
    REQUIRE(session.login().starts_with("+OK"));
    REQUIRE(session.command("DELE 1").starts_with("+OK"));
    CHECK(world.locks.is_locked(kAlice));
  }
  CHECK_FALSE(world.locks.is_locked(kAlice));
  CHECK(world.inbox_size() == 1);
}

TEST_CASE("pop3 server: too many bad commands after DELE deletes nothing") {
  World world;
  world.deliver(kMessage1);
  ServerConfig config = cleartext_config();
  config.bad_commands_max = 2;
  Session session(world, config);
  REQUIRE(session.login().starts_with("+OK"));
  REQUIRE(session.command("DELE 1").starts_with("+OK"));
  session.command("BOGUS");
  session.command("BOGUS");
  CHECK(session.closed());
  CHECK(world.inbox_size() == 1);
}

TEST_CASE("pop3 server: an idle session is logged out after 10 minutes without UPDATE (catalogue 53)") {
  World world;
  world.deliver(kMessage1);
  Session session(world);
  REQUIRE(session.login().starts_with("+OK"));
  REQUIRE(session.command("DELE 1").starts_with("+OK"));
  const Instant deadline = session.server().poll_timeout();
  CHECK(deadline == world.now + std::chrono::minutes(10));
  session.server().handle_timeout(deadline - Duration{1});
  CHECK(session.take().empty());
  CHECK_FALSE(session.closed());
  session.server().handle_timeout(deadline);
  CHECK(session.take() == "-ERR autologout: idle for too long (RFC 1939 §3)\r\n");
  CHECK(session.closed());
  CHECK(session.server().poll_timeout() == never);
  CHECK(world.inbox_size() == 1);
  CHECK_FALSE(world.locks.is_locked(kAlice));
  const auto closes = session.events_of<net::CloseEvent>();
  REQUIRE(closes.size() == 1);
  CHECK(closes[0].reason == "idle timeout");
}

TEST_CASE("pop3 server: activity pushes the autologout deadline back") {
  World world;
  Session session(world);
  world.now = world.now + std::chrono::minutes(9);
  session.command("CAPA");
  CHECK(session.server().poll_timeout() == world.now + std::chrono::minutes(10));
}

// --- the maildrop lock ---------------------------------------------------------

TEST_CASE("pop3 server: a second session for the same maildrop gets -ERR [IN-USE] (catalogue 52)") {
  World world;
  world.deliver(kMessage1);
  Session first(world);
  REQUIRE(first.login().starts_with("+OK"));
  Session second(world);
  CHECK(second.login() == "-ERR [IN-USE] Mailbox is locked by another POP3 session.\r\n");
  CHECK(second.server().state() == ServerState::authorization);
  const auto logins = second.events_of<LoginEvent>();
  REQUIRE(logins.size() == 1);
  CHECK(logins[0].reason == "maildrop in use");
  Session bob(world);
  CHECK(bob.login("bob@lab.test", "bob-secret").starts_with("+OK"));  // other users are not locked
  REQUIRE(first.command("QUIT").starts_with("+OK"));
  CHECK(second.login().starts_with("+OK Maildrop locked and ready"));
}

TEST_CASE("pop3 server: the lock is released when the holder's connection drops") {
  World world;
  Session first(world);
  REQUIRE(first.login().starts_with("+OK"));
  Session second(world);
  REQUIRE(second.login().starts_with("-ERR [IN-USE]"));
  first.server().handle_close(world.now);
  CHECK(second.login().starts_with("+OK"));
  CHECK(world.locks.held() == 1);
}

TEST_CASE("pop3 server: a wrong password does not reveal that the maildrop is locked") {
  World world;
  Session first(world);
  REQUIRE(first.login().starts_with("+OK"));
  Session second(world);
  CHECK(second.login(kAlice, "wrong").starts_with("-ERR [AUTH] Authentication failed"));
}

// --- limits -------------------------------------------------------------------

TEST_CASE("pop3 server: an over-long line gets -ERR and the session goes on") {
  World world;
  Session session(world);
  CHECK(session.send(std::string(5000, 'A')) == "-ERR Line too long (RFC 2449 §4)\r\n");
  CHECK(session.send(std::string(5000, 'A') + "\r\nCAPA\r\n").starts_with("+OK Capability list follows"));
  CHECK_FALSE(session.closed());
}

TEST_CASE("pop3 server: commands up to the configured limit are accepted beyond RFC 2449's 255") {
  World world;
  ServerConfig config = cleartext_config();
  config.line_bytes_max = 600;
  Session session(world, config);
  const std::string user(400, 'u');
  CHECK(session.command("USER " + user) == "+OK\r\n");
  CHECK(session.command("USER " + std::string(700, 'u')) == "-ERR Line too long (RFC 2449 §4)\r\n");
}

TEST_CASE("pop3 server: the state table rejects no transition of a whole session") {
  World world;
  world.deliver(kMessage1);
  ServerConfig config = cleartext_config();
  config.tls_available = true;
  Session session(world, config);
  REQUIRE(session.command("STLS").starts_with("+OK"));
  session.server().handle_tls_established(world.now);
  REQUIRE(session.command("AUTH PLAIN") == "+ \r\n");
  REQUIRE(session.command(net::encode_sasl_plain(kAlice, kAlicePassword)).starts_with("+OK"));
  REQUIRE(session.command("QUIT").starts_with("+OK"));
  std::vector<std::string> path;
  for (const auto& state : session.events_of<net::StateEvent>()) path.push_back(std::string(state.to));
  CHECK(path == std::vector<std::string>{"STLS HANDSHAKE", "AUTHORIZATION", "AUTHORIZATION (SASL)",
                                         "TRANSACTION", "UPDATE", "CLOSED"});
}

// --- the store changing underneath, shutdown, odd driver timing ---------------

namespace {

// A MemoryStore whose expunge fails, for the UPDATE error path.
class ExpungeFails final : public net::mail::MailStore {
 public:
  explicit ExpungeFails(sim::MemoryStore& inner) : inner_(inner) {}
  Result<void> ensure_user(std::string_view u) override { return inner_.ensure_user(u); }
  bool has_user(std::string_view u) const override { return inner_.has_user(u); }
  Result<void> set_limits(std::string_view u, net::mail::StoreLimits l) override { return inner_.set_limits(u, l); }
  Result<std::uint64_t> used_bytes(std::string_view u) const override { return inner_.used_bytes(u); }
  Result<std::vector<net::mail::MailboxInfo>> list_mailboxes(std::string_view u) const override {
    return inner_.list_mailboxes(u);
  }
  Result<void> create_mailbox(std::string_view u, std::string_view n) override { return inner_.create_mailbox(u, n); }
  Result<void> delete_mailbox(std::string_view u, std::string_view n) override { return inner_.delete_mailbox(u, n); }
  Result<void> rename_mailbox(std::string_view u, std::string_view f, std::string_view t) override {
    return inner_.rename_mailbox(u, f, t);
  }
  Result<void> set_subscribed(std::string_view u, std::string_view n, bool s) override {
    return inner_.set_subscribed(u, n, s);
  }
  Result<net::mail::MailboxStatus> status(std::string_view u, std::string_view m) const override {
    return inner_.status(u, m);
  }
  Result<std::vector<net::mail::MessageMeta>> messages(std::string_view u, std::string_view m) const override {
    return inner_.messages(u, m);
  }
  Result<std::string> read(std::string_view u, std::string_view m, std::uint32_t uid) const override {
    return inner_.read(u, m, uid);
  }
  Result<std::uint32_t> append(std::string_view u, std::string_view m, std::string_view d,
                               const net::mail::Flags& f, std::int64_t t) override {
    return inner_.append(u, m, d, f, t);
  }
  Result<void> set_flags(std::string_view u, std::string_view m, std::uint32_t uid,
                         const net::mail::Flags& f) override {
    return inner_.set_flags(u, m, uid, f);
  }
  Result<void> expunge(std::string_view, std::string_view, std::span<const std::uint32_t>) override {
    return make_error(ErrorCategory::io, "disk on fire");
  }
  Result<std::uint32_t> copy(std::string_view u, std::string_view f, std::uint32_t uid,
                             std::string_view t) override {
    return inner_.copy(u, f, uid, t);
  }
  std::uint64_t change_counter() const override { return inner_.change_counter(); }

 private:
  sim::MemoryStore& inner_;
};

}  // namespace

TEST_CASE("pop3 server: a failing expunge in UPDATE gets -ERR [SYS/TEMP] and the lock is still released") {
  World world;
  world.deliver(kMessage1);
  ExpungeFails store(world.store);
  Server server(cleartext_config(), store, world.users, world.locks, world.now);
  server.handle_bytes(world.now, "USER alice@lab.test\r\nPASS alice-secret\r\nDELE 1\r\n");
  (void)server.poll_transmit();
  server.handle_bytes(world.now, "QUIT\r\n");
  CHECK(server.poll_transmit() == "-ERR [SYS/TEMP] Some deleted messages were not removed (RFC 1939 §6)\r\n");
  CHECK(server.state() == ServerState::closed);
  CHECK_FALSE(world.locks.is_locked(kAlice));
  bool saw_failed_update = false;
  while (auto event = server.poll_event()) {
    if (const auto* update = std::get_if<UpdateEvent>(&*event)) saw_failed_update = !update->ok;
  }
  CHECK(saw_failed_update);
  CHECK(world.inbox_size() == 1);
}

TEST_CASE("pop3 server: a message expunged elsewhere during the session gets -ERR [SYS/TEMP] on RETR") {
  World world;
  const std::uint32_t uid = world.deliver(kMessage1);
  Session session(world);
  REQUIRE(session.login().starts_with("+OK"));
  const std::uint32_t uids[] = {uid};
  REQUIRE(world.store.expunge(kAlice, "INBOX", uids).ok());  // an IMAP client got there first
  CHECK(session.command("RETR 1") == "-ERR [SYS/TEMP] Message can no longer be read (RFC 3206 §5)\r\n");
  CHECK(session.command("TOP 1 0") == "-ERR [SYS/TEMP] Message can no longer be read (RFC 3206 §5)\r\n");
  REQUIRE(session.command("DELE 1").starts_with("+OK"));
  CHECK(session.command("QUIT").starts_with("+OK"));  // expunging a gone UID is harmless
}

TEST_CASE("pop3 server: shutdown answers -ERR [SYS/TEMP] and deletes nothing (catalogue 61)") {
  World world;
  world.deliver(kMessage1);
  Session session(world);
  REQUIRE(session.login().starts_with("+OK"));
  REQUIRE(session.command("DELE 1").starts_with("+OK"));
  session.server().shutdown(world.now);
  CHECK(session.take() == "-ERR [SYS/TEMP] Server shutting down, no changes made (RFC 3206 §5)\r\n");
  CHECK(session.closed());
  CHECK(world.inbox_size() == 1);
  CHECK_FALSE(world.locks.is_locked(kAlice));
}

TEST_CASE("pop3 server: replies name the message by its number, not by the argument's spelling") {
  World world;
  world.deliver(kMessage1);
  Session session(world);
  REQUIRE(session.login().starts_with("+OK"));
  CHECK(session.command("LIST 001") == "+OK 1 " + std::to_string(kMessage1.size()) + "\r\n");
  CHECK(session.command("DELE 01") == "+OK Message 1 deleted\r\n");
}

TEST_CASE("pop3 server: a TLS handshake finishing after an autologout is ignored") {
  World world;
  ServerConfig config = cleartext_config();
  config.tls_available = true;
  Session session(world, config);
  REQUIRE(session.command("STLS").starts_with("+OK"));
  session.server().handle_timeout(session.server().poll_timeout());
  CHECK(session.take().empty());  // no plaintext reply in the middle of a handshake
  CHECK(session.closed());
  session.server().handle_tls_established(world.now);
  CHECK(session.closed());
  CHECK(session.take().empty());
}

// --- the authentication failure delay -------------------------------------------

TEST_CASE("pop3 server: a failed login is answered after auth_failure_delay and input waits meanwhile") {
  World world;
  CHECK(ServerConfig{}.auth_failure_delay == std::chrono::seconds(2));  // Dovecot's default
  ServerConfig config = cleartext_config();
  config.auth_failure_delay = std::chrono::seconds(2);
  Session session(world, config);
  CHECK(session.send("USER alice@lab.test\r\nPASS guess\r\nUSER alice@lab.test\r\nPASS alice-secret\r\n") ==
        "+OK\r\n");
  CHECK(session.server().poll_timeout() == world.now + std::chrono::seconds(2));
  CHECK(session.send("STAT\r\n").empty());
  session.server().handle_timeout(world.now + std::chrono::seconds(1));
  CHECK(session.take().empty());
  session.server().handle_timeout(world.now + std::chrono::seconds(2));
  CHECK(session.take() ==
        "-ERR [AUTH] Authentication failed (RFC 3206 §4)\r\n+OK\r\n+OK Maildrop locked and ready, 0 messages "
        "(0 octets)\r\n+OK 0 0\r\n");
  CHECK(session.server().state() == ServerState::transaction);
}

TEST_CASE("pop3 server: the last allowed failure closes once its delay has passed") {
  World world;
  ServerConfig config = cleartext_config();
  config.auth_failure_delay = std::chrono::seconds(2);
  config.auth_failures_max = 1;
  Session session(world, config);
  CHECK(session.login(kAlice, "guess").empty());
  CHECK_FALSE(session.closed());
  session.server().handle_timeout(session.server().poll_timeout());
  CHECK(session.take().starts_with("-ERR [AUTH] Authentication failed; too many failures"));
  CHECK(session.closed());
}

TEST_CASE("pop3 server: flooding input while a failed login is held back closes the session") {
  World world;
  ServerConfig config = cleartext_config();
  config.auth_failure_delay = std::chrono::seconds(2);
  config.line_bytes_max = 100;
  Session session(world, config);
  REQUIRE(session.login(kAlice, "guess").empty());
  std::string flood;
  for (int i = 0; i < 100; ++i) flood += "NOOP\r\n";
  session.send(flood);
  CHECK(session.closed());
  const auto closes = session.events_of<net::CloseEvent>();
  REQUIRE(closes.size() == 1);
  CHECK(closes[0].reason == "input flood during the authentication failure delay");
}
