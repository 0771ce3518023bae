#include "net/pop3/pop3_client.hpp"

#include <doctest/doctest.h>

#include <string>

#include "net/core/sasl.hpp"
#include "net/pop3/pop3_test_harness.hpp"

using namespace pop3_test;

namespace {

ClientConfig alice(RetrieveMode mode = RetrieveMode::keep) {
  ClientConfig config;
  config.user = std::string(kAlice);
  config.password = std::string(kAlicePassword);
  config.mode = mode;
  return config;
}

// A client fed canned server lines; returns what the client sent back.
struct Scripted {
  explicit Scripted(ClientConfig config) : client(std::move(config), Instant{0}) {}
  std::string feed(std::string_view bytes) {
    client.handle_bytes(Instant{0}, bytes);
    while (auto event = client.poll_event()) events.push_back(std::move(*event));
    return client.poll_transmit();
  }
  template <typename T>
  std::vector<T> events_of() const {
    std::vector<T> out;
    for (const auto& event : events) {
      if (const auto* e = std::get_if<T>(&event)) out.push_back(*e);
    }
    return out;
  }
  Client client;
  std::vector<ClientEvent> events;
};

constexpr std::string_view kMessage1 = "Subject: one\r\n\r\nfirst\r\n";
constexpr std::string_view kMessage2 = "Subject: two\r\n\r\nsecond\r\n";

}  // namespace

// --- the client against canned replies -------------------------------------------

TEST_CASE("pop3 client: it asks CAPA after the greeting and logs in with USER/PASS") {
  ClientConfig config = alice();
  config.stls = StlsPolicy::never;
  Scripted s(config);
  CHECK(s.feed("+OK ready\r\n") == "CAPA\r\n");
  CHECK(s.feed("+OK\r\nTOP\r\nUIDL\r\nUSER\r\n.\r\n") == "USER alice@lab.test\r\n");
  CHECK(s.feed("+OK\r\n") == "PASS alice-secret\r\n");
  CHECK(s.feed("+OK\r\n") == "STAT\r\n");
  CHECK(s.feed("+OK 0 0\r\n") == "QUIT\r\n");
  CHECK(s.feed("+OK bye\r\n").empty());
  CHECK(s.client.state() == ClientState::done);
  const auto summaries = s.events_of<SummaryEvent>();
  REQUIRE(summaries.size() == 1);
  CHECK(summaries[0].ok);
  CHECK(summaries[0].messages_on_server == 0);
}

TEST_CASE("pop3 client: a server without CAPA still gets a login") {
  ClientConfig config = alice();
  Scripted s(config);
  REQUIRE(s.feed("+OK ready\r\n") == "CAPA\r\n");
  CHECK(s.feed("-ERR unknown command\r\n") == "USER alice@lab.test\r\n");
}

TEST_CASE("pop3 client: APOP sends the MD5 of the greeting's timestamp and the password") {
  ClientConfig config = alice();
  config.method = LoginMethod::apop;
  Scripted s(config);
  REQUIRE(s.feed("+OK POP3 server ready <1896.697170952@dbc.mtview.ca.us>\r\n") == "CAPA\r\n");
  CHECK(s.feed("+OK\r\n.\r\n") ==
        "APOP alice@lab.test " + apop_digest("<1896.697170952@dbc.mtview.ca.us>", kAlicePassword) + "\r\n");
}

TEST_CASE("pop3 client: APOP without a timestamp is a login failure and the client quits") {
  ClientConfig config = alice();
  config.method = LoginMethod::apop;
  Scripted s(config);
  REQUIRE(s.feed("+OK ready\r\n") == "CAPA\r\n");
  CHECK(s.feed("+OK\r\n.\r\n") == "QUIT\r\n");
  REQUIRE(s.events_of<LoginFailedEvent>().size() == 1);
  CHECK(s.feed("+OK bye\r\n").empty());
  const auto summary = s.events_of<SummaryEvent>().at(0);
  CHECK_FALSE(summary.ok);
  CHECK(summary.error == "login failed: the greeting has no APOP timestamp");
}

TEST_CASE("pop3 client: AUTH PLAIN goes with an initial response when it fits in 255 octets") {
  ClientConfig config = alice();
  config.method = LoginMethod::sasl_plain;
  Scripted s(config);
  REQUIRE(s.feed("+OK ready\r\n") == "CAPA\r\n");
  CHECK(s.feed("+OK\r\n.\r\n") == "AUTH PLAIN " + net::encode_sasl_plain(kAlice, kAlicePassword) + "\r\n");
  CHECK(s.feed("+OK\r\n") == "STAT\r\n");
}

TEST_CASE("pop3 client: a long AUTH PLAIN response waits for the '+ ' continuation (RFC 5034 §4)") {
  ClientConfig config = alice();
  config.method = LoginMethod::sasl_plain;
  config.password = std::string(300, 'p');
  Scripted s(config);
  REQUIRE(s.feed("+OK ready\r\n") == "CAPA\r\n");
  CHECK(s.feed("+OK\r\n.\r\n") == "AUTH PLAIN\r\n");
  CHECK(s.feed("+ \r\n") == net::encode_sasl_plain(kAlice, config.password) + "\r\n");
}

TEST_CASE("pop3 client: STLS required but not offered: the client quits without logging in") {
  ClientConfig config = alice();
  config.stls = StlsPolicy::required;
  Scripted s(config);
  REQUIRE(s.feed("+OK ready\r\n") == "CAPA\r\n");
  CHECK(s.feed("+OK\r\nUSER\r\n.\r\n") == "QUIT\r\n");
  s.feed("+OK bye\r\n");
  const auto summary = s.events_of<SummaryEvent>().at(0);
  CHECK_FALSE(summary.ok);
  CHECK(summary.error == "the server does not offer STLS");
}

TEST_CASE("pop3 client: after STLS the client ignores plaintext and asks CAPA again inside TLS") {
  Scripted s(alice());
  REQUIRE(s.feed("+OK ready\r\n") == "CAPA\r\n");
  REQUIRE(s.feed("+OK\r\nSTLS\r\n.\r\n") == "STLS\r\n");
  CHECK(s.feed("+OK Begin TLS\r\n+OK injected\r\n").empty());
  CHECK(s.client.state() == ClientState::tls_handshake);
  CHECK(s.events_of<net::StartTlsEvent>().size() == 1);
  CHECK(s.feed("-ERR more injection\r\n").empty());
  s.client.handle_tls_established(Instant{0});
  CHECK(s.client.poll_transmit() == "CAPA\r\n");
  CHECK(s.client.tls_active());
  CHECK(s.feed("+OK\r\nUSER\r\n.\r\n") == "USER alice@lab.test\r\n");
}

TEST_CASE("pop3 client: an unknown reply ends the run with an error") {
  Scripted s(alice());
  s.feed("* OK this is IMAP\r\n");
  CHECK(s.client.state() == ClientState::done);
  CHECK(s.events_of<SummaryEvent>().at(0).error == "unexpected reply from the server: * OK this is IMAP");
  CHECK(s.events_of<net::CloseEvent>().size() == 1);
}

TEST_CASE("pop3 client: a silent server times out after reply_timeout") {
  ClientConfig config = alice();
  config.reply_timeout = std::chrono::seconds(30);
  Client client(config, Instant{0});
  CHECK(client.poll_timeout() == Instant{30'000'000});
  client.handle_timeout(Instant{29'999'999});
  CHECK(client.state() == ClientState::greeting);
  client.handle_timeout(Instant{30'000'000});
  CHECK(client.state() == ClientState::done);
  CHECK(client.poll_timeout() == never);
}

TEST_CASE("pop3 client: a message is un-stuffed and a final line without CRLF is restored") {
  ClientConfig config = alice();
  config.stls = StlsPolicy::never;
  Scripted s(config);
  s.feed("+OK ready\r\n");
  s.feed("+OK\r\n.\r\n");
  s.feed("+OK\r\n");
  s.feed("+OK\r\n");
  REQUIRE(s.feed("+OK 1 20\r\n") == "UIDL\r\n");
  REQUIRE(s.feed("+OK\r\n1 abc\r\n.\r\n") == "RETR 1\r\n");
  // stored: "a\r\n.\r\n..\r\nend" (13 octets)
  CHECK(s.feed("+OK 13 octets\r\na\r\n..\r\n...\r\nend\r\n.\r\n") == "QUIT\r\n");
  const auto messages = s.events_of<RetrievedEvent>();
  REQUIRE(messages.size() == 1);
  CHECK(messages[0].message == "a\r\n.\r\n..\r\nend");
  CHECK(messages[0].uidl == "abc");
}

// --- whole sessions: client engine <-> server engine -------------------------------

TEST_CASE("pop3 pair: keep mode retrieves every message and leaves the maildrop as it was") {
  World world;
  world.deliver(kMessage1);
  world.deliver(kMessage2);
  Pair pair(world, alice(RetrieveMode::keep));
  pair.run();
  const auto messages = pair.client_events<RetrievedEvent>();
  REQUIRE(messages.size() == 2);
  CHECK(messages[0].message == kMessage1);
  CHECK(messages[1].message == kMessage2);
  const SummaryEvent summary = pair.summary();
  CHECK(summary.ok);
  CHECK(summary.retrieved == 2);
  CHECK(summary.deleted == 0);
  CHECK(world.inbox_size() == 2);
  CHECK(pair.client_lines() ==
        std::vector<std::string>{"CAPA", "USER alice@lab.test", "PASS alice-secret", "STAT", "UIDL", "RETR 1",
                                 "RETR 2", "QUIT"});
  CHECK(pair.server().state() == ServerState::closed);
  CHECK_FALSE(world.locks.is_locked(kAlice));
}

TEST_CASE("pop3 pair: delete mode retrieves, deletes and empties the maildrop on QUIT") {
  World world;
  world.deliver(kMessage1);
  world.deliver(kMessage2);
  Pair pair(world, alice(RetrieveMode::delete_after_retrieve));
  pair.run();
  CHECK(pair.client_events<RetrievedEvent>().size() == 2);
  const SummaryEvent summary = pair.summary();
  CHECK(summary.ok);
  CHECK(summary.deleted == 2);
  CHECK(world.inbox_size() == 0);
  CHECK(pair.client_lines() == std::vector<std::string>{"CAPA", "USER alice@lab.test", "PASS alice-secret",
                                                        "STAT", "UIDL", "RETR 1", "DELE 1", "RETR 2",
                                                        "DELE 2", "QUIT"});
  REQUIRE(pair.server_events<UpdateEvent>().size() == 1);
  CHECK(pair.server_events<UpdateEvent>()[0].expunged_uids.size() == 2);
}

TEST_CASE("pop3 pair: known UIDLs are not fetched again; new mail is") {
  World world;
  world.deliver(kMessage1);
  std::set<std::string, std::less<>> known;
  {
    Pair first(world, alice());
    first.run();
    for (const auto& message : first.client_events<RetrievedEvent>()) known.insert(message.uidl);
  }
  REQUIRE(known.size() == 1);
  world.deliver(kMessage2);
  ClientConfig config = alice();
  config.known_uidls = known;
  Pair second(world, config);
  second.run();
  const auto messages = second.client_events<RetrievedEvent>();
  REQUIRE(messages.size() == 1);
  CHECK(messages[0].message == kMessage2);
  CHECK(messages[0].number == 2);
  CHECK(second.summary().skipped_known == 1);
}

TEST_CASE("pop3 pair: RETR through the pair is byte-identical with '.', '..' and no final CRLF") {
  World world;
  const std::string stored = ".\r\n..\r\n...\r\n.x\r\n\r\n.\r\nlast line, no CRLF";
  world.deliver(stored);
  world.deliver("\r\n");
  world.deliver("..\r\n");
  Pair pair(world, alice());
  pair.run();
  const auto messages = pair.client_events<RetrievedEvent>();
  REQUIRE(messages.size() == 3);
  CHECK(messages[0].message == stored);
  CHECK(messages[1].message == "\r\n");
  CHECK(messages[2].message == "..\r\n");
}

TEST_CASE("pop3 pair: STLS then USER/PASS inside TLS against a TLS-requiring server") {
  World world;
  world.deliver(kMessage1);
  ServerConfig server_config;
  server_config.tls_available = true;
  ClientConfig config = alice();
  config.stls = StlsPolicy::required;
  Pair pair(world, config, server_config);
  pair.run();
  CHECK(pair.summary().ok);
  CHECK(pair.client().tls_active());
  CHECK(pair.server().tls_active());
  CHECK(pair.client_lines() == std::vector<std::string>{"CAPA", "STLS", "CAPA", "USER alice@lab.test",
                                                        "PASS alice-secret", "STAT", "UIDL", "RETR 1", "QUIT"});
  for (const auto& line : pair.client_events<net::LineEvent>()) {
    if (line.text.starts_with("PASS")) CHECK(line.tls);
  }
}

TEST_CASE("pop3 pair: a client that never uses STLS cannot log in to a TLS-requiring server") {
  World world;
  world.deliver(kMessage1);
  ServerConfig server_config;
  server_config.tls_available = true;
  ClientConfig config = alice();
  config.stls = StlsPolicy::never;
  Pair pair(world, config, server_config);
  pair.run();
  REQUIRE(pair.client_events<LoginFailedEvent>().size() == 1);
  CHECK(pair.client_events<LoginFailedEvent>()[0].reply.starts_with("-ERR [AUTH]"));
  CHECK_FALSE(pair.summary().ok);
  CHECK(pair.summary().retrieved == 0);
}

TEST_CASE("pop3 pair: APOP and AUTH PLAIN sessions retrieve the mail") {
  for (const LoginMethod method : {LoginMethod::apop, LoginMethod::sasl_plain}) {
    World world;
    world.deliver(kMessage1);
    ClientConfig config = alice(RetrieveMode::delete_after_retrieve);
    config.method = method;
    Pair pair(world, config);
    pair.run();
    CHECK(pair.summary().ok);
    CHECK(pair.summary().deleted == 1);
    CHECK(world.inbox_size() == 0);
  }
}

TEST_CASE("pop3 pair: a wrong password is a login failure and nothing is retrieved") {
  World world;
  world.deliver(kMessage1);
  ClientConfig config = alice();
  config.password = "wrong";
  Pair pair(world, config);
  pair.run();
  REQUIRE(pair.client_events<LoginFailedEvent>().size() == 1);
  CHECK(pair.client_events<LoginFailedEvent>()[0].reply == "-ERR [AUTH] Authentication failed (RFC 3206 §4)");
  CHECK(pair.summary().error.starts_with("login failed"));
  CHECK(pair.client_lines().back() == "QUIT");
}

TEST_CASE("pop3 pair: a second client while the first holds the maildrop gets [IN-USE]") {
  World world;
  world.deliver(kMessage1);
  Session holder(world);
  REQUIRE(holder.login().starts_with("+OK"));
  Pair pair(world, alice());
  pair.run();
  REQUIRE(pair.client_events<LoginFailedEvent>().size() == 1);
  CHECK(pair.client_events<LoginFailedEvent>()[0].reply.starts_with("-ERR [IN-USE]"));
}

TEST_CASE("pop3 pair: the connection breaking before QUIT deletes nothing (catalogue 51)") {
  World world;
  world.deliver(kMessage1);
  world.deliver(kMessage2);
  Pair pair(world, alice(RetrieveMode::delete_after_retrieve));
  pair.drop_before([](const std::string& line) { return line == "QUIT"; });
  pair.run();
  pair.close_both();
  CHECK(pair.client_events<RetrievedEvent>().size() == 2);
  const SummaryEvent summary = pair.summary();
  CHECK_FALSE(summary.ok);
  CHECK(summary.deleted == 0);
  CHECK(summary.error == "the server closed the connection");
  CHECK(world.inbox_size() == 2);
  CHECK_FALSE(world.locks.is_locked(kAlice));
}

TEST_CASE("pop3 pair: both sides walk their state tables from start to end") {
  World world;
  world.deliver(kMessage1);
  Pair pair(world, alice(RetrieveMode::delete_after_retrieve));
  pair.run();
  std::vector<std::string> client_path;
  for (const auto& state : pair.client_events<net::StateEvent>()) client_path.push_back(std::string(state.to));
  CHECK(client_path ==
        std::vector<std::string>{"CAPA", "LOGIN", "STAT", "UIDL", "RETR", "DELE", "QUIT", "DONE"});
  std::vector<std::string> server_path;
  for (const auto& state : pair.server_events<net::StateEvent>()) server_path.push_back(std::string(state.to));
  CHECK(server_path == std::vector<std::string>{"TRANSACTION", "UPDATE", "CLOSED"});
}

TEST_CASE("pop3 pair: with the default 2 s failure delay the client learns of a bad password 2 s later") {
  World world;
  ServerConfig server_config = cleartext_config();
  server_config.auth_failure_delay = std::chrono::seconds(2);
  ClientConfig config = alice();
  config.password = "wrong";
  const Instant start = world.now;
  Pair pair(world, config, server_config);
  pair.run();
  REQUIRE(pair.client_events<LoginFailedEvent>().size() == 1);
  CHECK(world.now == start + std::chrono::seconds(2));
  CHECK_FALSE(pair.summary().ok);
  CHECK(pair.server().state() == ServerState::closed);
}

TEST_CASE("pop3 pair: with line_events.peer off each engine reports only the lines it sends") {
  auto lines = [](const std::vector<net::LineEvent>& events, net::Direction dir) {
    std::vector<std::string> out;
    for (const auto& line : events)
      if (line.dir == dir) out.push_back(line.text);
    return out;
  };
  auto run = [&](bool peer_lines, auto check) {
    World world;
    world.deliver(kMessage1);
    ClientConfig config = alice();
    config.line_events.peer = peer_lines;
    ServerConfig server_config = cleartext_config();
    server_config.line_events.peer = peer_lines;
    Pair pair(world, config, server_config);
    pair.run();
    CHECK(pair.summary().ok);
    check(pair.client_events<net::LineEvent>(), pair.server_events<net::LineEvent>());
  };
  std::vector<std::string> commands, replies;
  run(true, [&](const auto& client, const auto& server) {
    commands = lines(client, net::Direction::client_to_server);
    replies = lines(server, net::Direction::server_to_client);
    CHECK(lines(client, net::Direction::server_to_client) == replies);
    CHECK(lines(server, net::Direction::client_to_server) == commands);
  });
  REQUIRE(commands.size() >= 5);  // USER PASS STAT UIDL RETR QUIT
  run(false, [&](const auto& client, const auto& server) {
    CHECK(client.size() == commands.size());
    CHECK(lines(client, net::Direction::client_to_server) == commands);
    CHECK(server.size() == replies.size());
    CHECK(lines(server, net::Direction::server_to_client) == replies);
  });
}

TEST_CASE("pop3 pair: with line_events.sent off too no LineEvent is built and lines_sent() counts the lines") {
  auto run = [](bool events, auto check) {
    World world;
    world.deliver(kMessage1);
    ClientConfig config = alice();
    config.line_events = {.peer = events, .sent = events};
    ServerConfig server_config = cleartext_config();
    server_config.line_events = config.line_events;
    Pair pair(world, config, server_config);
    pair.run();
    CHECK(pair.summary().ok);
    CHECK(pair.summary().retrieved == 1);
    check(pair);
  };
  std::size_t commands = 0, replies = 0;
  run(true, [&](Pair& pair) {
    for (const auto& line : pair.client_events<net::LineEvent>())
      commands += line.dir == net::Direction::client_to_server ? 1 : 0;
    for (const auto& line : pair.server_events<net::LineEvent>())
      replies += line.dir == net::Direction::server_to_client ? 1 : 0;
    CHECK(pair.client().lines_sent() == commands);
    CHECK(pair.server().lines_sent() == replies);
  });
  REQUIRE(commands >= 5);
  run(false, [&](Pair& pair) {
    CHECK(pair.client_events<net::LineEvent>().empty());
    CHECK(pair.server_events<net::LineEvent>().empty());
    CHECK(pair.client().lines_sent() == commands);
    CHECK(pair.server().lines_sent() == replies);
  });
}
