#include <doctest/doctest.h>

#include "imap_test_support.hpp"
#include "net/imap/imap_client.hpp"
#include "net/smtp/engine_pair.hpp"

using namespace maillab;
using namespace maillab::net::imap;
using maillab::test::kSimpleMessage;
using maillab::test::World;

namespace {

ClientConfig alice() {
  ClientConfig cfg;
  cfg.user = "alice@lab.test";
  cfg.password = "alice-secret";
  return cfg;
}

struct Run {
  World& world;
  ImapServer server;
  ImapClient client;
  testing::EnginePair<ImapClient, ImapServer> pair;
  Run(World& w, ClientConfig c, ServerConfig s = ServerConfig{})
      : world(w), server(std::move(s), w.users, w.store, Instant{}), client(std::move(c), Instant{}),
        pair(client, server, Instant{}) {
    pair.run();
  }
  std::vector<FetchedMessage> fetched() const { return pair.client_events_of<FetchedMessage>(); }
  ClientFinished finished() const {
    auto f = pair.client_events_of<ClientFinished>();
    REQUIRE(f.size() == 1);
    return f[0];
  }
};

}  // namespace

TEST_CASE("imap pair: STARTTLS, AUTHENTICATE PLAIN with SASL-IR, SELECT, UID SEARCH, UID FETCH, LOGOUT") {
  World w;
  w.deliver("alice@lab.test", kSimpleMessage);
  w.deliver("alice@lab.test", "Subject: second\r\n\r\nbody two\r\n", {"\\Flagged"});
  Run r(w, alice());
  CHECK(r.pair.tls_active);
  auto done = r.finished();
  CHECK(done.ok);
  CHECK(done.highest_uid == 2);
  auto msgs = r.fetched();
  REQUIRE(msgs.size() == 2);
  CHECK(msgs[0].uid == 1);
  CHECK(msgs[0].data == kSimpleMessage);
  CHECK(msgs[1].flags == net::mail::Flags{"\\Flagged"});
  CHECK(r.client.state() == ClientState::done);
  CHECK(r.server.state() == ServerState::logout);
  // BODY.PEEK leaves \Seen alone.
  CHECK(w.store.messages("alice@lab.test", "INBOX")->front().flags.empty());
  auto& t = r.pair.client_transcript;
  REQUIRE(t.size() > 5);
  CHECK(t[1] == "C: a1 CAPABILITY");
  CHECK(std::find(t.begin(), t.end(), "C: a2 STARTTLS") != t.end());
  CHECK(std::find(t.begin(), t.end(), "C: a5 SELECT \"INBOX\"") != t.end());
  CHECK(std::find(t.begin(), t.end(), "C: a6 UID SEARCH UID 1:*") != t.end());
  CHECK(std::find(t.begin(), t.end(), "C: a7 UID FETCH 1,2 (UID FLAGS BODY.PEEK[])") != t.end());
}

TEST_CASE("imap pair: only messages above last_uid are fetched, and \\Seen is stored when asked") {
  World w;
  w.deliver("alice@lab.test", kSimpleMessage);
  w.deliver("alice@lab.test", kSimpleMessage);
  auto cfg = alice();
  cfg.uid_validity = w.store.status("alice@lab.test", "INBOX")->uid_validity;
  cfg.last_uid = 1;
  cfg.mark_seen = true;
  cfg.use_authenticate = false;
  Run r(w, cfg);
  auto msgs = r.fetched();
  REQUIRE(msgs.size() == 1);
  CHECK(msgs[0].uid == 2);
  CHECK(r.finished().ok);
  auto metas = w.store.messages("alice@lab.test", "INBOX");
  CHECK(metas->at(0).flags.empty());
  CHECK(metas->at(1).flags == net::mail::Flags{"\\Seen"});
}

TEST_CASE("imap pair: a changed UIDVALIDITY makes the client fetch everything again") {
  World w;
  w.deliver("alice@lab.test", kSimpleMessage);
  auto cfg = alice();
  cfg.uid_validity = 999999;
  cfg.last_uid = 50;
  Run r(w, cfg);
  CHECK(r.fetched().size() == 1);
}

TEST_CASE("imap pair: an empty mailbox ends after UID SEARCH with LOGOUT") {
  World w;
  Run r(w, alice());
  CHECK(r.fetched().empty());
  CHECK(r.finished().ok);
  CHECK(r.pair.client_transcript.back() == "S: a7 OK LOGOUT completed");
}

TEST_CASE("imap pair: a wrong password fails the client with the server's reason") {
  World w;
  auto cfg = alice();
  cfg.password = "nope";
  Run r(w, cfg);
  r.pair.advance(std::chrono::seconds(3));
  auto done = r.finished();
  CHECK_FALSE(done.ok);
  CHECK(done.reason.find("AUTHENTICATIONFAILED") != std::string::npos);
  CHECK(r.client.state() == ClientState::failed);
}

TEST_CASE("imap pair: a client insisting on STARTTLS refuses a server without it") {
  World w;
  ServerConfig s;
  s.starttls_offered = false;
  Run r(w, alice(), s);
  auto done = r.finished();
  CHECK_FALSE(done.ok);
  CHECK(done.reason == "server does not offer STARTTLS");
}

TEST_CASE("imap pair: one-octet delivery gives the same result as whole responses") {
  World w;
  w.deliver("alice@lab.test", kSimpleMessage);
  ImapServer server(ServerConfig{}, w.users, w.store, Instant{});
  ImapClient client(alice(), Instant{});
  testing::EnginePair<ImapClient, ImapServer> pair(client, server, Instant{});
  pair.chunk_octets = 1;
  pair.run();
  auto msgs = pair.client_events_of<FetchedMessage>();
  REQUIRE(msgs.size() == 1);
  CHECK(msgs[0].data == kSimpleMessage);
}

TEST_CASE("imap pair: the client times out a silent server") {
  ImapClient client(alice(), Instant{});
  CHECK(client.poll_timeout() == Instant{} + std::chrono::seconds(60));
  client.handle_timeout(Instant{} + std::chrono::seconds(60));
  bool finished = false;
  while (auto e = client.poll_event()) {
    if (auto* f = std::get_if<ClientFinished>(&*e)) finished = !f->ok;
  }
  CHECK(finished);
}
