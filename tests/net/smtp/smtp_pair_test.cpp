// The client engine against the server engine, in memory (engine_pair.hpp):
// whole dialogs checked line by line, every extension and every failure path
// of issue 2, and the dot-stuffing round trip.
#include <doctest/doctest.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "net/smtp/smtp_client.hpp"
#include "net/smtp/smtp_server.hpp"
#include "net/core/base64.hpp"
#include "net/core/sasl.hpp"
#include "net/smtp/engine_pair.hpp"

using namespace maillab;
using namespace maillab::net::smtp;
using namespace std::chrono_literals;
using Lines = std::vector<std::string>;

namespace {

class Passwords final : public net::CredentialChecker {
 public:
  bool verify_password(std::string_view user, std::string_view password) const override {
    const auto it = passwords_.find(std::string(user));
    return it != passwords_.end() && it->second == password;
  }
  std::optional<std::string> shared_secret(std::string_view user) const override {
    const auto it = passwords_.find(std::string(user));
    if (it == passwords_.end()) return std::nullopt;
    return it->second;
  }

 private:
  std::map<std::string, std::string> passwords_{{"alice@lab.test", "alice-secret"}};
};

// lab.test is local with alice and bob; authenticated users may relay; AUTH only
// inside TLS unless `auth_in_plaintext`; inject() answers from `injections`.
class PairPolicy final : public Policy {
 public:
  AuthOffer auth_offer(const SessionInfo& session) const override {
    return session.tls_active || auth_in_plaintext ? AuthOffer::offered : AuthOffer::requires_tls;
  }
  const net::CredentialChecker& credentials() const override { return passwords_; }
  bool sender_allowed(std::string_view user, const net::mail::Address& sender) const override {
    return sender.to_string() == user;
  }
  RecipientVerdict check_recipient(const SessionInfo& session, const net::mail::Address& recipient) const override {
    if (recipient.domain_key() == "lab.test") {
      const bool known = recipient.local_part == "alice" || recipient.local_part == "bob" ||
                         recipient.local_part == "j\xc3\xb6rg";
      return known ? RecipientVerdict::accept : RecipientVerdict::unknown_user;
    }
    return session.authenticated_user.empty() ? RecipientVerdict::relay_denied : RecipientVerdict::accept;
  }
  std::optional<Reply> inject(PolicyStage stage, const SessionInfo&, std::string_view) override {
    const auto it = injections.find(stage);
    if (it == injections.end()) return std::nullopt;
    return it->second;
  }

  bool auth_in_plaintext = false;
  std::map<PolicyStage, Reply> injections;

 private:
  Passwords passwords_;
};

OutgoingMessage message(std::string from, Lines to, std::string data = "Subject: hi\r\n\r\nhello\r\n") {
  return OutgoingMessage{std::move(from), std::move(to), std::move(data)};
}

// One client and one server, wired; the driver's duty of storing messages is
// done here (every message stored, queue ids Q1, Q2, ...).
struct Wire {
  PairPolicy policy;
  ServerConfig server_config;
  ClientConfig client_config;
  std::unique_ptr<Server> server;
  std::unique_ptr<Client> client;
  std::unique_ptr<maillab::testing::EnginePair<Client, Server>> pair;
  std::vector<MessageEvent> stored;

  Wire() {
    server_config.host_name = "mx.lab.test";
    client_config.helo_name = "client.test";
    client_config.tls = TlsPolicy::none;
  }

  void run() {
    const Instant start{1'000'000};
    server = std::make_unique<Server>(server_config, policy, start);
    client = std::make_unique<Client>(client_config, start);
    pair = std::make_unique<maillab::testing::EnginePair<Client, Server>>(*client, *server, start);
    pair->on_server_event = [this](const ServerEvent& event) {
      if (const auto* m = std::get_if<MessageEvent>(&event)) {
        stored.push_back(*m);
        server->complete_message(pair->now, StoreOutcome{StoreResult::accepted, "Q" + std::to_string(stored.size()), {}});
      }
    };
    pair->run();
    CHECK_FALSE(pair->failed_to_settle);
  }

  const Lines& transcript() const { return pair->server_transcript; }
  RecipientOutcome outcome(std::string_view address) const {
    for (const auto& r : pair->client_events_of<RecipientOutcome>()) {
      if (r.address == address) return r;
    }
    FAIL("no outcome for " << address);
    return {};
  }
  std::vector<MessageOutcome> messages() const { return pair->client_events_of<MessageOutcome>(); }
};

}  // namespace


// --- whole dialogs -------------------------------------------------------------------

TEST_CASE("smtp pair: a plain lock-step dialog, line by line") {
  Wire w;
  w.server_config.pipelining = false;
  w.client_config.messages = {message("alice@lab.test", {"bob@lab.test"}, "Subject: hi\r\n\r\nhello\r\n")};
  w.run();
  CHECK(w.transcript() == Lines{
                              "S: 220 mx.lab.test ESMTP maillab",
                              "C: EHLO client.test",
                              "S: 250-mx.lab.test Hello client.test",
                              "S: 250-SIZE 10485760",
                              "S: 250-ENHANCEDSTATUSCODES",
                              "S: 250-8BITMIME",
                              "S: 250-SMTPUTF8",
                              "S: 250 CHUNKING",
                              "C: MAIL FROM:<alice@lab.test> SIZE=22",
                              "S: 250 2.1.0 Ok",
                              "C: RCPT TO:<bob@lab.test>",
                              "S: 250 2.1.5 Ok",
                              "C: DATA",
                              "S: 354 End data with <CR><LF>.<CR><LF>",
                              "C: .",
                              "S: 250 2.0.0 Ok: queued as Q1",
                              "C: QUIT",
                              "S: 221 2.0.0 mx.lab.test Bye",
                          });
  CHECK(w.pair->client_wire.find("Subject: hi\r\n\r\nhello\r\n.\r\nQUIT\r\n") != std::string::npos);
  REQUIRE(w.stored.size() == 1);
  CHECK(w.stored[0].data == "Subject: hi\r\n\r\nhello\r\n");
  CHECK(w.stored[0].reverse_path.to_string() == "alice@lab.test");
  CHECK(w.stored[0].declared_size == 22);
  CHECK(w.outcome("bob@lab.test").verdict.delivery == Delivery::accepted);
  CHECK(w.outcome("bob@lab.test").verdict.reply->lines[0] == "Ok: queued as Q1");
  CHECK(w.client->state() == ClientState::closed);
  CHECK(w.pair->server_closed());
  CHECK(w.pair->client_events_of<SessionFailedEvent>().empty());
}

TEST_CASE("smtp pair: a pipelined dialog sends MAIL and RCPTs as one group") {
  Wire w;
  w.client_config.messages = {message("alice@lab.test", {"alice@lab.test", "bob@lab.test"})};
  w.run();
  const Lines& client = w.pair->client_transcript;
  const auto mail = std::find(client.begin(), client.end(), "C: MAIL FROM:<alice@lab.test> SIZE=22");
  REQUIRE(mail != client.end());
  CHECK(Lines(mail, mail + 7) == Lines{"C: MAIL FROM:<alice@lab.test> SIZE=22", "C: RCPT TO:<alice@lab.test>",
                                       "C: RCPT TO:<bob@lab.test>", "S: 250 2.1.0 Ok", "S: 250 2.1.5 Ok",
                                       "S: 250 2.1.5 Ok", "C: DATA"});
  // The group arrived as one write.
  CHECK(w.pair->client_wire.find("SIZE=22\r\nRCPT TO:<alice@lab.test>\r\nRCPT TO:<bob@lab.test>\r\n") !=
        std::string::npos);
  REQUIRE(w.stored.size() == 1);
  CHECK(w.stored[0].forward_paths.size() == 2);
  CHECK(w.messages()[0].recipients_accepted == 2);
}

TEST_CASE("smtp pair: delivery one byte at a time gives the same dialog") {
  Wire whole;
  whole.client_config.messages = {message("alice@lab.test", {"bob@lab.test"})};
  whole.run();
  Wire bytewise;
  bytewise.client_config.messages = whole.client_config.messages;
  bytewise.server_config = whole.server_config;
  bytewise.server = std::make_unique<Server>(bytewise.server_config, bytewise.policy, Instant{1'000'000});
  bytewise.client = std::make_unique<Client>(bytewise.client_config, Instant{1'000'000});
  bytewise.pair = std::make_unique<maillab::testing::EnginePair<Client, Server>>(*bytewise.client, *bytewise.server,
                                                                                 Instant{1'000'000});
  bytewise.pair->chunk_octets = 1;
  bytewise.pair->on_server_event = [&bytewise](const ServerEvent& event) {
    if (const auto* m = std::get_if<MessageEvent>(&event)) {
      bytewise.stored.push_back(*m);
      bytewise.server->complete_message(bytewise.pair->now, StoreOutcome{StoreResult::accepted, "Q1", {}});
    }
  };
  bytewise.pair->run();
  CHECK(bytewise.pair->client_transcript == whole.pair->client_transcript);
  CHECK(bytewise.pair->client_wire == whole.pair->client_wire);
  REQUIRE(bytewise.stored.size() == 1);
  CHECK(bytewise.stored[0].data == whole.stored[0].data);
}

TEST_CASE("smtp pair: dot-stuffing round trip arrives byte-identical at the server") {
  Wire w;
  const std::string data = "Subject: dots\r\n\r\n.\r\n..\r\n...x\r\n. \r\nmid.dle\r\nlast line without CRLF";
  w.client_config.messages = {message("alice@lab.test", {"bob@lab.test"}, data)};
  w.run();
  CHECK(w.pair->client_wire.find("\r\n..\r\n...\r\n....x\r\n.. \r\nmid.dle\r\nlast line without CRLF\r\n.\r\n") !=
        std::string::npos);
  REQUIRE(w.stored.size() == 1);
  CHECK(w.stored[0].data == data + "\r\n");
  CHECK(w.outcome("bob@lab.test").verdict.delivery == Delivery::accepted);
}

TEST_CASE("smtp pair: bare CR and bare LF in the content arrive as CRLF, never refused as smuggling") {
  Wire w;
  w.client_config.messages = {message("alice@lab.test", {"bob@lab.test"}, "Subject: x\n\nline\rnext\n.\nend\n")};
  w.run();
  REQUIRE(w.stored.size() == 1);
  CHECK(w.stored[0].data == "Subject: x\r\n\r\nline\r\nnext\r\n.\r\nend\r\n");
}

TEST_CASE("smtp pair: SIZE is declared, and a message over the server's limit never leaves") {
  Wire w;
  w.server_config.message_octets_max = 100;
  w.client_config.messages = {message("alice@lab.test", {"bob@lab.test"}, std::string(200, 'x')),
                              message("alice@lab.test", {"alice@lab.test"}, "small\r\n")};
  w.run();
  CHECK(std::count(w.transcript().begin(), w.transcript().end(), "S: 250-SIZE 100") == 1);
  CHECK(std::count_if(w.transcript().begin(), w.transcript().end(),
                      [](const std::string& l) { return l.rfind("C: MAIL", 0) == 0; }) == 1);
  CHECK(std::count(w.transcript().begin(), w.transcript().end(), "C: MAIL FROM:<alice@lab.test> SIZE=7") == 1);
  const auto big = w.outcome("bob@lab.test");
  CHECK(big.verdict.delivery == Delivery::permanent);
  CHECK(big.verdict.diagnostic.find("SIZE limit of 100") != std::string::npos);
  REQUIRE(w.stored.size() == 1);
  CHECK(w.stored[0].declared_size == 7);
}

TEST_CASE("smtp pair: 8-bit content goes with BODY=8BITMIME and arrives unchanged") {
  Wire w;
  const std::string data = "Subject: caf\xc3\xa9\r\nContent-Transfer-Encoding: 8bit\r\n\r\nna\xc3\xafve\r\n";
  w.client_config.messages = {message("alice@lab.test", {"bob@lab.test"}, data),
                              message("alice@lab.test", {"bob@lab.test"}, "Subject: plain\r\n\r\n")};
  w.run();
  const auto mail_lines = [&] {
    Lines out;
    for (const auto& l : w.transcript()) {
      if (l.rfind("C: MAIL", 0) == 0) out.push_back(l);
    }
    return out;
  }();
  CHECK(mail_lines == Lines{"C: MAIL FROM:<alice@lab.test> SIZE=59 BODY=8BITMIME", "C: MAIL FROM:<alice@lab.test> SIZE=18"});
  REQUIRE(w.stored.size() == 2);
  CHECK(w.stored[0].body == BodyType::eight_bit_mime);
  CHECK(w.stored[0].data == data);
  CHECK(w.stored[1].body == BodyType::seven_bit);
}

TEST_CASE("smtp pair: a UTF-8 address goes with SMTPUTF8") {
  Wire w;
  w.client_config.messages = {message("alice@lab.test", {"j\xc3\xb6rg@lab.test"})};
  w.run();
  CHECK(std::count(w.transcript().begin(), w.transcript().end(),
                   "C: MAIL FROM:<alice@lab.test> SIZE=22 SMTPUTF8") == 1);
  REQUIRE(w.stored.size() == 1);
  CHECK(w.stored[0].smtputf8);
  CHECK(w.outcome("j\xc3\xb6rg@lab.test").verdict.delivery == Delivery::accepted);
}

TEST_CASE("smtp pair: STARTTLS then AUTH PLAIN, then relaying as the logged-in user") {
  Wire w;
  w.server_config.tls_available = true;
  w.server_config.submission = true;
  w.client_config.tls = TlsPolicy::required;
  w.client_config.credentials = ClientCredentials{"alice@lab.test", "alice-secret"};
  w.client_config.messages = {message("alice@lab.test", {"carol@elsewhere.test"})};
  w.run();
  const Lines& t = w.transcript();
  REQUIRE(t.size() > 20);
  CHECK(std::find(t.begin(), t.end(), "C: STARTTLS") != t.end());
  CHECK(std::find(t.begin(), t.end(), "S: 220 2.0.0 Ready to start TLS") != t.end());
  // AUTH was not offered before TLS (policy) and is after.
  const auto tls_at = std::find(t.begin(), t.end(), "C: STARTTLS");
  CHECK(std::none_of(t.begin(), tls_at, [](const std::string& l) { return l.find("AUTH") != std::string::npos; }));
  CHECK(std::find(tls_at, t.end(), "S: 250-AUTH PLAIN LOGIN") != t.end());
  CHECK(std::find(tls_at, t.end(), "C: AUTH PLAIN " + net::encode_sasl_plain("alice@lab.test", "alice-secret")) !=
        t.end());
  CHECK(std::find(tls_at, t.end(), "S: 235 2.7.0 Authentication successful") != t.end());
  CHECK(w.pair->tls_active);
  CHECK(w.client->tls_active());
  CHECK(w.client->authenticated());
  REQUIRE(w.stored.size() == 1);
  CHECK(w.stored[0].authenticated_user == "alice@lab.test");
  CHECK(w.stored[0].tls);
  CHECK(w.outcome("carol@elsewhere.test").verdict.delivery == Delivery::accepted);
  // Every line after the handshake travelled inside TLS.
  const auto lines = w.pair->client_events_of<net::LineEvent>();
  CHECK(lines.back().tls);
  CHECK_FALSE(lines.front().tls);
}

TEST_CASE("smtp pair: AUTH LOGIN when the client prefers it") {
  Wire w;
  w.server_config.tls_available = true;
  w.client_config.tls = TlsPolicy::opportunistic;
  w.client_config.credentials = ClientCredentials{"alice@lab.test", "alice-secret"};
  w.client_config.auth_mechanisms = {AuthMechanism::login};
  w.client_config.messages = {message("alice@lab.test", {"carol@elsewhere.test"})};
  w.run();
  const Lines& t = w.transcript();
  const auto auth = std::find(t.begin(), t.end(), "C: AUTH LOGIN");
  REQUIRE(auth != t.end());
  REQUIRE(t.end() - auth >= 6);
  CHECK(Lines(auth, auth + 6) == Lines{"C: AUTH LOGIN", "S: 334 VXNlcm5hbWU6", "C: " + net::base64_encode("alice@lab.test"),
                                       "S: 334 UGFzc3dvcmQ6", "C: " + net::base64_encode("alice-secret"),
                                       "S: 235 2.7.0 Authentication successful"});
  CHECK(w.outcome("carol@elsewhere.test").verdict.delivery == Delivery::accepted);
}

TEST_CASE("smtp pair: several messages in one session, RSET only after a refused transaction") {
  Wire w;
  w.client_config.messages = {message("alice@lab.test", {"bob@lab.test"}),
                              message("alice@lab.test", {"nobody@lab.test"}),
                              message("bob@lab.test", {"alice@lab.test"})};
  w.run();
  Lines commands;
  for (const auto& l : w.transcript()) {
    if (l.rfind("C: ", 0) == 0 && l != "C: .") commands.push_back(l);
  }
  CHECK(commands == Lines{"C: EHLO client.test",
                          "C: MAIL FROM:<alice@lab.test> SIZE=22", "C: RCPT TO:<bob@lab.test>", "C: DATA",
                          "C: MAIL FROM:<alice@lab.test> SIZE=22", "C: RCPT TO:<nobody@lab.test>", "C: RSET",
                          "C: MAIL FROM:<bob@lab.test> SIZE=22", "C: RCPT TO:<alice@lab.test>", "C: DATA",
                          "C: QUIT"});
  CHECK(w.stored.size() == 2);
  const auto messages = w.messages();
  REQUIRE(messages.size() == 3);
  CHECK(messages[0].verdict.delivery == Delivery::accepted);
  CHECK(messages[1].verdict.delivery == Delivery::permanent);
  CHECK(messages[2].verdict.delivery == Delivery::accepted);
  CHECK(messages[2].verdict.reply->lines[0] == "Ok: queued as Q2");
}

// --- failure paths ---------------------------------------------------------------

TEST_CASE("smtp pair: 550 5.1.1 unknown user and 554 5.7.1 relay denied are permanent, others still delivered") {
  Wire w;
  w.client_config.messages = {message("alice@lab.test", {"nobody@lab.test", "carol@elsewhere.test", "bob@lab.test"})};
  w.run();
  const auto unknown = w.outcome("nobody@lab.test");
  CHECK(unknown.verdict.delivery == Delivery::permanent);
  CHECK(unknown.verdict.reply->code == 550);
  CHECK(unknown.verdict.reply->enhanced == "5.1.1");
  const auto relay = w.outcome("carol@elsewhere.test");
  CHECK(relay.verdict.delivery == Delivery::permanent);
  CHECK(relay.verdict.reply->code == 554);
  CHECK(relay.verdict.reply->enhanced == "5.7.1");
  CHECK(w.outcome("bob@lab.test").verdict.delivery == Delivery::accepted);
  REQUIRE(w.stored.size() == 1);
  CHECK(w.stored[0].forward_paths.size() == 1);
}

TEST_CASE("smtp pair: 501 for a malformed recipient is permanent for that recipient only") {
  Wire w;
  w.client_config.messages = {message("alice@lab.test", {"bob@", "bob@lab.test"})};
  w.run();
  const auto bad = w.outcome("bob@");
  CHECK(bad.verdict.delivery == Delivery::permanent);
  CHECK(bad.verdict.reply->code == 501);
  CHECK(bad.verdict.scope == FailureScope::recipient);
  CHECK(w.outcome("bob@lab.test").verdict.delivery == Delivery::accepted);
}

TEST_CASE("smtp pair: 452 4.5.3 too many recipients is transient, the rest are delivered") {
  Wire w;
  w.server_config.recipients_max = 2;
  w.client_config.messages = {message("alice@lab.test", {"alice@lab.test", "bob@lab.test", "j\xc3\xb6rg@lab.test"})};
  w.run();
  const auto third = w.outcome("j\xc3\xb6rg@lab.test");
  CHECK(third.verdict.delivery == Delivery::transient);
  CHECK(third.verdict.reply->code == 452);
  CHECK(third.verdict.reply->enhanced == "4.5.3");
  CHECK(w.messages()[0].recipients_accepted == 2);
  REQUIRE(w.stored.size() == 1);
  CHECK(w.stored[0].forward_paths.size() == 2);
}

TEST_CASE("smtp pair: 552 5.3.4 at MAIL is permanent for the message") {
  Wire w;
  w.policy.injections[PolicyStage::mail] = replies::message_too_big();
  w.client_config.messages = {message("alice@lab.test", {"bob@lab.test"})};
  w.run();
  const auto outcome = w.outcome("bob@lab.test");
  CHECK(outcome.verdict.delivery == Delivery::permanent);
  CHECK(outcome.verdict.stage == Stage::mail);
  CHECK(outcome.verdict.reply->code == 552);
  CHECK(w.messages()[0].verdict.scope == FailureScope::message);
  CHECK(w.stored.empty());
}

TEST_CASE("smtp pair: 530 5.7.0 on submission without AUTH, the pipelined RCPT gets 503 5.5.1") {
  Wire w;
  w.server_config.submission = true;
  w.client_config.messages = {message("alice@lab.test", {"bob@lab.test"}), message("alice@lab.test", {"alice@lab.test"})};
  w.run();
  const Lines& t = w.transcript();
  const auto mail = std::find(t.begin(), t.end(), "C: MAIL FROM:<alice@lab.test> SIZE=22");
  REQUIRE(t.end() - mail >= 4);
  CHECK(mail[1].rfind("S: 530 5.7.0 ", 0) == 0);
  CHECK(mail[2] == "C: RCPT TO:<bob@lab.test>");
  CHECK(mail[3].rfind("S: 503 5.5.1 ", 0) == 0);
  const auto outcome = w.outcome("bob@lab.test");
  CHECK(outcome.verdict.delivery == Delivery::permanent);
  CHECK(outcome.verdict.reply->code == 530);  // the MAIL reply decides, not the 503
  CHECK(w.outcome("alice@lab.test").verdict.reply->code == 530);
  CHECK(w.messages().size() == 2);
  CHECK(std::count(t.begin(), t.end(), "C: DATA") == 0);
  CHECK(w.stored.empty());
}

TEST_CASE("smtp pair: 535 5.7.8 bad credentials end the session, nothing is sent") {
  Wire w;
  w.server_config.tls_available = true;
  w.client_config.tls = TlsPolicy::required;
  w.client_config.credentials = ClientCredentials{"alice@lab.test", "wrong"};
  w.client_config.messages = {message("alice@lab.test", {"bob@lab.test"})};
  w.run();
  const Lines& t = w.transcript();
  REQUIRE(t.size() >= 3);
  CHECK(t[t.size() - 3].rfind("S: 535 5.7.8 ", 0) == 0);
  CHECK(t[t.size() - 2] == "C: QUIT");
  const auto outcome = w.outcome("bob@lab.test");
  CHECK(outcome.verdict.delivery == Delivery::permanent);
  CHECK(outcome.verdict.scope == FailureScope::session);
  CHECK(outcome.verdict.reply->enhanced == "5.7.8");
  CHECK(w.pair->client_events_of<SessionFailedEvent>().size() == 1);
  CHECK(w.client->state() == ClientState::closed);
}

TEST_CASE("smtp pair: TLS required against a server without STARTTLS sends no mail") {
  Wire w;
  w.client_config.tls = TlsPolicy::required;
  w.client_config.messages = {message("alice@lab.test", {"bob@lab.test"})};
  w.run();
  CHECK(w.transcript().back() == "S: 221 2.0.0 mx.lab.test Bye");
  CHECK(std::none_of(w.transcript().begin(), w.transcript().end(),
                     [](const std::string& l) { return l.rfind("C: MAIL", 0) == 0; }));
  CHECK(w.outcome("bob@lab.test").verdict.delivery == Delivery::transient);
}

TEST_CASE("smtp pair: a 421 greeting closes at once, a 554 greeting gets QUIT; both transient") {
  SUBCASE("421") {
    Wire w;
    w.policy.injections[PolicyStage::connect] = replies::service_closing("mx.lab.test", "too busy");
    w.client_config.messages = {message("alice@lab.test", {"bob@lab.test"})};
    w.run();
    REQUIRE(w.transcript().size() == 1);
    CHECK(w.transcript()[0].rfind("S: 421 4.3.2 ", 0) == 0);
    CHECK(w.outcome("bob@lab.test").verdict.delivery == Delivery::transient);
    CHECK(w.client->state() == ClientState::closed);
  }
  SUBCASE("554") {
    Wire w;
    w.policy.injections[PolicyStage::connect] = make_reply(554, "5.7.1", "no SMTP service for you");
    w.client_config.messages = {message("alice@lab.test", {"bob@lab.test"})};
    w.run();
    CHECK(w.transcript() == Lines{"S: 554 5.7.1 no SMTP service for you", "C: QUIT", "S: 221 2.0.0 mx.lab.test Bye"});
    CHECK(w.outcome("bob@lab.test").verdict.delivery == Delivery::transient);
    CHECK(w.outcome("bob@lab.test").verdict.stage == Stage::greeting);
  }
}

TEST_CASE("smtp pair: a driver that never stores the message: the server gives up first, the client retries later") {
  Wire w;
  w.client_config.messages = {message("alice@lab.test", {"bob@lab.test"})};
  const Instant start{1'000'000};
  w.server = std::make_unique<Server>(w.server_config, w.policy, start);
  w.client = std::make_unique<Client>(w.client_config, start);
  w.pair = std::make_unique<maillab::testing::EnginePair<Client, Server>>(*w.client, *w.server, start);
  w.pair->run();
  REQUIRE(w.client->state() == ClientState::data_end);
  w.pair->advance(11min);
  CHECK(w.client->state() == ClientState::closed);
  const auto outcome = w.outcome("bob@lab.test");
  CHECK(outcome.verdict.delivery == Delivery::transient);
  CHECK(outcome.verdict.scope == FailureScope::session);
}

namespace {

// The texts of the LineEvents in `lines`, those in direction `dir` only.
template <typename Line>
Lines texts_of(const std::vector<Line>& lines, std::optional<net::Direction> dir = std::nullopt) {
  Lines out;
  for (const auto& line : lines)
    if (!dir || line.dir == *dir) out.push_back(line.text);
  return out;
}

// One session of alice's message to two recipients, both engines with these line options.
std::unique_ptr<Wire> run_with_line_events(bool peer_lines, bool sent_lines) {
  auto w = std::make_unique<Wire>();
  w->client_config.messages = {message("alice@lab.test", {"bob@lab.test", "carol@lab.test"})};
  w->client_config.line_events = {.peer = peer_lines, .sent = sent_lines};
  w->server_config.line_events = w->client_config.line_events;
  w->run();
  return w;
}

}  // namespace

TEST_CASE("smtp pair: with line_events.peer off each engine reports only the lines it sends") {
  const auto all = run_with_line_events(true, true);
  const auto own = run_with_line_events(false, true);
  const auto all_client = all->pair->client_events_of<net::LineEvent>();
  const auto all_server = all->pair->server_events_of<net::LineEvent>();
  const Lines commands = texts_of(all_client, net::Direction::client_to_server);
  const Lines replies = texts_of(all_server, net::Direction::server_to_client);
  REQUIRE(commands.size() >= 6);  // EHLO MAIL RCPT RCPT DATA QUIT
  REQUIRE(replies.size() >= 6);
  // By default both engines report both directions.
  CHECK(texts_of(all_client, net::Direction::server_to_client) == replies);
  CHECK(texts_of(all_server, net::Direction::client_to_server).size() >= commands.size());
  // Off: the same session, each side's own lines only.
  CHECK(texts_of(own->pair->client_events_of<net::LineEvent>()) == commands);
  CHECK(texts_of(own->pair->server_events_of<net::LineEvent>()) == replies);
  REQUIRE(own->stored.size() == 1);
  CHECK(own->stored[0].data == all->stored[0].data);
}

TEST_CASE("smtp pair: with line_events.sent off too no LineEvent is built and lines_sent() counts the lines") {
  const auto reported = run_with_line_events(true, true);
  const auto counted = run_with_line_events(false, false);
  const auto commands = texts_of(reported->pair->client_events_of<net::LineEvent>(), net::Direction::client_to_server);
  const auto replies = texts_of(reported->pair->server_events_of<net::LineEvent>(), net::Direction::server_to_client);
  REQUIRE(commands.size() >= 6);
  CHECK(reported->client->lines_sent() == commands.size());
  CHECK(reported->server->lines_sent() == replies.size());
  CHECK(counted->pair->client_events_of<net::LineEvent>().empty());
  CHECK(counted->pair->server_events_of<net::LineEvent>().empty());
  CHECK(counted->client->lines_sent() == commands.size());
  CHECK(counted->server->lines_sent() == replies.size());
  REQUIRE(counted->stored.size() == 1);
  CHECK(counted->stored[0].data == reported->stored[0].data);
}

TEST_CASE("smtp pair: with state_events off neither engine reports a StateEvent, and nothing else changes") {
  const auto with_states = run_with_line_events(true, true);
  auto w = std::make_unique<Wire>();
  w->client_config.messages = {message("alice@lab.test", {"bob@lab.test", "carol@lab.test"})};
  w->client_config.state_events = false;
  w->server_config.state_events = false;
  w->run();
  REQUIRE(!with_states->pair->client_events_of<net::StateEvent>().empty());
  REQUIRE(!with_states->pair->server_events_of<net::StateEvent>().empty());
  CHECK(w->pair->client_events_of<net::StateEvent>().empty());
  CHECK(w->pair->server_events_of<net::StateEvent>().empty());
  const auto others = [](const auto& events) {
    std::size_t n = 0;
    for (const auto& event : events) n += std::holds_alternative<net::StateEvent>(event) ? 0 : 1;
    return n;
  };
  CHECK(others(w->pair->client_events) == others(with_states->pair->client_events));
  CHECK(others(w->pair->server_events) == others(with_states->pair->server_events));
  CHECK(w->transcript() == with_states->transcript());
  CHECK(w->client->state() == with_states->client->state());
  CHECK(w->server->state() == with_states->server->state());
  REQUIRE(w->stored.size() == 1);
  CHECK(w->stored[0].data == with_states->stored[0].data);
  CHECK(w->outcome("carol@lab.test").verdict.delivery == with_states->outcome("carol@lab.test").verdict.delivery);
}
