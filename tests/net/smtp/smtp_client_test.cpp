// Client engine against scripted server replies: every path of the dialog,
// transcript style (the server's lines in, the client's lines checked).
#include <doctest/doctest.h>

#include <chrono>
#include <string>
#include <vector>

#include "net/core/base64.hpp"
#include "net/core/sasl.hpp"
#include "net/smtp/smtp_client.hpp"

using namespace maillab;
using namespace maillab::net::smtp;
using namespace std::chrono_literals;
using Lines = std::vector<std::string>;

namespace {

OutgoingMessage message(std::string from, Lines to, std::string data = "Subject: hi\r\n\r\nhello\r\n") {
  return OutgoingMessage{std::move(from), std::move(to), std::move(data)};
}

ClientConfig config_with(std::vector<OutgoingMessage> messages) {
  ClientConfig config;
  config.helo_name = "client.test";
  config.messages = std::move(messages);
  return config;
}

// Drives one Client: `server(...)` feeds reply lines, `sent()` returns the
// lines the client wrote since the last call, and every event is kept.
class Script {
 public:
  explicit Script(ClientConfig config) : client_(std::move(config), now) {}

  void server(std::string_view wire) {
    client_.handle_bytes(now, wire);
    drain();
  }
  void advance(Duration d) {
    now = now + d;
    if (client_.poll_timeout() <= now) client_.handle_timeout(now);
    drain();
  }
  void peer_closes() {
    client_.handle_close(now);
    drain();
  }
  void tls_established() {
    client_.handle_tls_established(now);
    drain();
  }

  // Client lines written since the last call (content lines included).
  Lines sent() {
    Lines lines;
    std::size_t start = 0;
    while (true) {
      const std::size_t end = unread_.find("\r\n", start);
      if (end == std::string::npos) break;
      lines.push_back(unread_.substr(start, end - start));
      start = end + 2;
    }
    unread_.erase(0, start);
    return lines;
  }

  template <typename T>
  std::vector<T> events() const {
    std::vector<T> out;
    for (const auto& event : events_) {
      if (const T* e = std::get_if<T>(&event)) out.push_back(*e);
    }
    return out;
  }
  Lines states() const {
    Lines out;
    for (const auto& s : events<net::StateEvent>()) out.emplace_back(s.to);
    return out;
  }
  const RecipientOutcome& outcome(std::string_view address) const {
    for (const auto& event : events_) {
      if (const auto* r = std::get_if<RecipientOutcome>(&event); r && r->address == address) return *r;
    }
    FAIL("no outcome for " << address);
    static RecipientOutcome none;
    return none;
  }
  std::size_t outcomes_for(std::string_view address) const {
    std::size_t n = 0;
    for (const auto& r : events<RecipientOutcome>()) n += r.address == address;
    return n;
  }
  bool closed() const { return client_.state() == ClientState::closed; }
  Client& client() { return client_; }
  std::string wire() const { return wire_; }

  Instant now{1'000'000};

 private:
  void drain() {
    std::string out = client_.poll_transmit();
    wire_ += out;
    unread_ += out;
    while (auto event = client_.poll_event()) events_.push_back(std::move(*event));
  }

  Client client_;
  std::string unread_;
  std::string wire_;
  std::vector<ClientEvent> events_;
};

// Every recipient of every message has exactly one outcome, every message one.
void check_each_outcome_once(const Script& s, const ClientConfig& config) {
  const auto messages = s.events<MessageOutcome>();
  CHECK(messages.size() == config.messages.size());
  const auto rcpts = s.events<RecipientOutcome>();
  std::size_t expected = 0;
  for (std::size_t m = 0; m < config.messages.size(); ++m) {
    expected += config.messages[m].forward_paths.size();
    for (const auto& address : config.messages[m].forward_paths) {
      std::size_t n = 0;
      for (const auto& r : rcpts) n += r.message == m && r.address == address;
      CHECK_MESSAGE(n == 1, "message " << m << " recipient " << address);
    }
  }
  CHECK(rcpts.size() == expected);
}

constexpr std::string_view ehlo_plain = "250-mx.test Hello client.test\r\n250 HELP\r\n";
constexpr std::string_view ehlo_full =
    "250-mx.test Hello client.test\r\n250-PIPELINING\r\n250-SIZE 10000\r\n250-8BITMIME\r\n"
    "250-ENHANCEDSTATUSCODES\r\n250-SMTPUTF8\r\n250 HELP\r\n";

}  // namespace

// --- the helpers -----------------------------------------------------------------

TEST_CASE("smtp client: dot-stuffing doubles leading dots and normalises every line end") {
  CHECK(dot_stuff("") == ".\r\n");
  CHECK(dot_stuff("a\r\n") == "a\r\n.\r\n");
  CHECK(dot_stuff(".\r\n..\r\n...x\r\n") == "..\r\n...\r\n....x\r\n.\r\n");
  CHECK(dot_stuff("last line without CRLF") == "last line without CRLF\r\n.\r\n");
  CHECK(dot_stuff("a\nb\rc\r\n.d\n") == "a\r\nb\r\nc\r\n..d\r\n.\r\n");
  CHECK(dot_stuff("\r\r\n\n") == "\r\n\r\n\r\n.\r\n");
  CHECK(dot_stuff("x.\r\n. \r\n") == "x.\r\n.. \r\n.\r\n");
  CHECK(normalised_size("a\nb") == 6);
  CHECK(normalised_size(".\r\n") == 3);
  CHECK(normalised_size("") == 0);
}

TEST_CASE("smtp client: EHLO keywords are read case-insensitively, with SIZE and AUTH parameters") {
  Reply reply{250, "", {"mx.test", "pipelining", "SIZE 52428800", "8BITMIME", "AUTH=LOGIN", "AUTH PLAIN LOGIN CRAM-MD5",
                        "STARTTLS", "ENHANCEDSTATUSCODES", "SMTPUTF8"}};
  const Extensions ext = parse_extensions(reply);
  CHECK(ext.pipelining);
  CHECK(ext.size);
  CHECK(ext.size_max == 52428800);
  CHECK(ext.eight_bit_mime);
  CHECK(ext.auth_plain);
  CHECK(ext.auth_login);
  CHECK(ext.starttls);
  CHECK(ext.enhanced_status_codes);
  CHECK(ext.smtputf8);
  const Extensions bare = parse_extensions(Reply{250, "", {"PIPELINING", "SIZE", "SIZE 99999999999999999999999"}});
  CHECK_FALSE(bare.pipelining);  // the first line is the server's name, never a keyword
  CHECK(bare.size);
  CHECK(bare.size_max == 0);  // no usable limit
}

TEST_CASE("smtp client: classify decides scope and kind in one place") {
  CHECK(classify(Stage::rcpt, Reply{550, "5.1.1", {"no"}}).delivery == Delivery::permanent);
  CHECK(classify(Stage::rcpt, Reply{550, "5.1.1", {"no"}}).scope == FailureScope::recipient);
  CHECK(classify(Stage::rcpt, Reply{452, "4.5.3", {"too many"}}).delivery == Delivery::transient);
  CHECK(classify(Stage::rcpt, Reply{552, "", {"too many recipients"}}).delivery == Delivery::transient);
  CHECK(classify(Stage::mail, Reply{552, "5.3.4", {"too big"}}).delivery == Delivery::permanent);
  CHECK(classify(Stage::mail, Reply{451, "", {}}).scope == FailureScope::message);
  CHECK(classify(Stage::end_of_data, Reply{554, "5.0.0", {}}).scope == FailureScope::message);
  CHECK(classify(Stage::greeting, Reply{554, "5.7.1", {"go away"}}).delivery == Delivery::transient);
  CHECK(classify(Stage::greeting, Reply{554, "5.7.1", {"go away"}}).scope == FailureScope::session);
  CHECK(classify(Stage::rcpt, Reply{421, "4.3.2", {"closing"}}).scope == FailureScope::session);
  CHECK(classify(Stage::auth, Reply{535, "5.7.8", {"bad"}}).delivery == Delivery::permanent);
  const Verdict v = classify(Stage::rcpt, Reply{550, "5.1.1", {"<x@y>: unknown"}});
  CHECK(v.diagnostic == "550 5.1.1 <x@y>: unknown (in reply to RCPT TO)");
  REQUIRE(v.reply);
  CHECK(v.reply->enhanced == "5.1.1");
}

TEST_CASE("smtp client: state names and timeouts follow RFC 5321 §4.5.3.2") {
  CHECK(client_state_name(ClientState::data_end) == "data_end");
  CHECK(client_state_timeout(ClientState::greeting) == 5min);
  CHECK(client_state_timeout(ClientState::mail) == 5min);
  CHECK(client_state_timeout(ClientState::rcpt) == 5min);
  CHECK(client_state_timeout(ClientState::data) == 2min);
  CHECK(client_state_timeout(ClientState::data_body) == 3min);
  CHECK(client_state_timeout(ClientState::data_end) == 10min);
}

TEST_CASE("smtp client: the transition table lets nothing skip the handshake or the content") {
  CHECK(client_transition_allowed(ClientState::ehlo, ClientState::starttls));
  CHECK(client_transition_allowed(ClientState::tls_handshake, ClientState::ehlo));
  CHECK_FALSE(client_transition_allowed(ClientState::tls_handshake, ClientState::mail));
  CHECK_FALSE(client_transition_allowed(ClientState::helo, ClientState::starttls));
  CHECK_FALSE(client_transition_allowed(ClientState::data_body, ClientState::mail));
  CHECK_FALSE(client_transition_allowed(ClientState::greeting, ClientState::mail));
  for (std::size_t s = 0; s + 1 < client_state_count; ++s) {
    CHECK(client_transition_allowed(static_cast<ClientState>(s), ClientState::closed));
    CHECK_FALSE(client_transition_allowed(ClientState::closed, static_cast<ClientState>(s)));
  }
}

// --- whole dialogs ----------------------------------------------------------------

TEST_CASE("smtp client: a plain dialog without extensions runs in lock-step") {
  auto config = config_with({message("alice@a.test", {"bob@b.test", "carol@b.test"}, "Subject: x\r\n\r\n.hidden\r\n")});
  Script s(config);
  CHECK(s.client().poll_timeout() == s.now + 5min);
  s.server("220 mx.test ESMTP\r\n");
  CHECK(s.sent() == Lines{"EHLO client.test"});
  s.server(ehlo_plain);
  CHECK(s.sent() == Lines{"MAIL FROM:<alice@a.test>"});
  s.server("250 2.1.0 Ok\r\n");
  CHECK(s.sent() == Lines{"RCPT TO:<bob@b.test>"});
  s.server("250 2.1.5 Ok\r\n");
  CHECK(s.sent() == Lines{"RCPT TO:<carol@b.test>"});
  s.server("250 2.1.5 Ok\r\n");
  CHECK(s.sent() == Lines{"DATA"});
  CHECK(s.client().poll_timeout() == s.now + 2min);
  s.server("354 End data with <CR><LF>.<CR><LF>\r\n");
  CHECK(s.sent() == Lines{"Subject: x", "", "..hidden", "."});
  CHECK(s.client().state() == ClientState::data_end);
  CHECK(s.client().poll_timeout() == s.now + 10min);
  s.server("250 2.0.0 Ok: queued as 1\r\n");
  CHECK(s.sent() == Lines{"QUIT"});
  s.server("221 2.0.0 Bye\r\n");
  CHECK(s.closed());
  CHECK(s.states() == Lines{"ehlo", "mail", "rcpt", "data", "data_body", "data_end", "quit", "closed"});
  CHECK(s.outcome("bob@b.test").verdict.delivery == Delivery::accepted);
  CHECK(s.outcome("carol@b.test").verdict.delivery == Delivery::accepted);
  const auto messages = s.events<MessageOutcome>();
  REQUIRE(messages.size() == 1);
  CHECK(messages[0].verdict.delivery == Delivery::accepted);
  CHECK(messages[0].recipients_accepted == 2);
  REQUIRE(messages[0].verdict.reply);
  CHECK(messages[0].verdict.reply->lines[0] == "Ok: queued as 1");
  const auto content = s.events<ContentSentEvent>();
  REQUIRE(content.size() == 1);
  CHECK(content[0].lines == 3);
  CHECK(content[0].octets == std::string("Subject: x\r\n\r\n..hidden\r\n.\r\n").size());
  CHECK(s.events<SessionFailedEvent>().empty());
  CHECK(s.events<net::CloseEvent>().size() == 1);
  check_each_outcome_once(s, config);
}

TEST_CASE("smtp client: every line both ways is a line event, content is not") {
  Script s(config_with({message("a@a.test", {"b@b.test"}, "body\r\n")}));
  s.server("220 mx.test\r\n");
  s.server("250 mx.test\r\n");
  s.server("250 Ok\r\n250 Ok\r\n");
  s.server("354 go\r\n");
  s.server("250 Ok\r\n221 Bye\r\n");
  Lines transcript;
  for (const auto& line : s.events<net::LineEvent>()) {
    transcript.push_back(std::string(line.dir == net::Direction::client_to_server ? "C: " : "S: ") + line.text);
  }
  CHECK(transcript == Lines{"S: 220 mx.test", "C: EHLO client.test", "S: 250 mx.test", "C: MAIL FROM:<a@a.test>",
                            "S: 250 Ok", "C: RCPT TO:<b@b.test>", "S: 250 Ok", "C: DATA", "S: 354 go",
                            "S: 250 Ok", "C: QUIT", "S: 221 Bye"});
}

TEST_CASE("smtp client: with PIPELINING, MAIL and every RCPT go out as one group") {
  auto config = config_with({message("a@a.test", {"b@b.test", "c@b.test"}, "x\r\n")});
  Script s(config);
  s.server("220 mx.test\r\n");
  s.sent();
  s.server(ehlo_full);
  CHECK(s.sent() == Lines{"MAIL FROM:<a@a.test> SIZE=3", "RCPT TO:<b@b.test>", "RCPT TO:<c@b.test>"});
  s.server("250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n");
  CHECK(s.sent().empty());
  s.server("250 2.1.5 Ok\r\n");
  CHECK(s.sent() == Lines{"DATA"});
  s.server("354 go\r\n");
  CHECK(s.sent() == Lines{"x", "."});
  s.server("250 2.0.0 Ok\r\n");
  CHECK(s.sent() == Lines{"QUIT"});
  check_each_outcome_once(s, config);
}

TEST_CASE("smtp client: replies arriving one byte at a time give the same dialog") {
  auto config = config_with({message("a@a.test", {"b@b.test"})});
  Script s(config);
  const std::string script = std::string("220 mx.test\r\n") + std::string(ehlo_full) +
                             "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 go\r\n250 2.0.0 Ok\r\n221 Bye\r\n";
  for (char c : script) s.server(std::string_view(&c, 1));
  CHECK(s.closed());
  CHECK(s.outcome("b@b.test").verdict.delivery == Delivery::accepted);
  CHECK(s.sent() == Lines{"EHLO client.test", "MAIL FROM:<a@a.test> SIZE=22", "RCPT TO:<b@b.test>", "DATA",
                          "Subject: hi", "", "hello", ".", "QUIT"});
}

TEST_CASE("smtp client: several messages share one session, RSET only after an open transaction") {
  auto config = config_with({message("a@a.test", {"x@b.test"}), message("a@a.test", {"y@b.test"}),
                             message("a@a.test", {"z@b.test"})});
  Script s(config);
  s.server("220 mx.test\r\n");
  s.server(ehlo_plain);
  s.sent();
  s.server("250 Ok\r\n250 Ok\r\n354 go\r\n");
  s.server("250 Ok\r\n");  // message 1 accepted
  CHECK(s.sent() == Lines{"RCPT TO:<x@b.test>", "DATA", "Subject: hi", "", "hello", ".", "MAIL FROM:<a@a.test>"});
  s.server("250 Ok\r\n550 5.1.1 no such user\r\n");  // message 2: its only recipient refused
  CHECK(s.sent() == Lines{"RCPT TO:<y@b.test>", "RSET"});
  s.server("250 Ok\r\n");
  CHECK(s.sent() == Lines{"MAIL FROM:<a@a.test>"});
  s.server("250 Ok\r\n250 Ok\r\n354 go\r\n");
  s.server("250 Ok\r\n221 Bye\r\n");
  CHECK(s.closed());
  CHECK(s.outcome("x@b.test").verdict.delivery == Delivery::accepted);
  CHECK(s.outcome("y@b.test").verdict.delivery == Delivery::permanent);
  CHECK(s.outcome("z@b.test").verdict.delivery == Delivery::accepted);
  const auto messages = s.events<MessageOutcome>();
  REQUIRE(messages.size() == 3);
  CHECK(messages[1].verdict.delivery == Delivery::permanent);
  CHECK(messages[1].verdict.scope == FailureScope::recipient);
  check_each_outcome_once(s, config);
}

// --- failures ---------------------------------------------------------------------

TEST_CASE("smtp client: a 421 greeting ends the session at once, every recipient transient") {
  auto config = config_with({message("a@a.test", {"b@b.test"}), message("a@a.test", {"c@b.test"})});
  Script s(config);
  s.server("421 4.3.2 mx.test busy, try later\r\n");
  CHECK(s.sent().empty());
  CHECK(s.closed());
  const auto failed = s.events<SessionFailedEvent>();
  REQUIRE(failed.size() == 1);
  CHECK(failed[0].verdict.stage == Stage::greeting);
  CHECK(s.outcome("b@b.test").verdict.delivery == Delivery::transient);
  CHECK(s.outcome("c@b.test").verdict.delivery == Delivery::transient);
  CHECK(s.outcome("c@b.test").verdict.reply->code == 421);
  check_each_outcome_once(s, config);
}

TEST_CASE("smtp client: a 554 greeting gets QUIT and leaves every recipient transient") {
  auto config = config_with({message("a@a.test", {"b@b.test"})});
  Script s(config);
  s.server("554 5.7.1 mx.test no SMTP service here\r\n");
  CHECK(s.sent() == Lines{"QUIT"});
  CHECK(s.outcome("b@b.test").verdict.delivery == Delivery::transient);
  CHECK(s.outcome("b@b.test").verdict.diagnostic ==
        "554 5.7.1 mx.test no SMTP service here (in reply to greeting)");
  s.server("221 Bye\r\n");
  CHECK(s.closed());
  check_each_outcome_once(s, config);
}

TEST_CASE("smtp client: EHLO answered 500 or 502 falls back to HELO") {
  for (std::string refusal : {"500 5.5.2 what?\r\n", "502 5.5.1 not implemented\r\n"}) {
    auto config = config_with({message("a@a.test", {"b@b.test"})});
    Script s(config);
    s.server("220 old.test\r\n");
    CHECK(s.sent() == Lines{"EHLO client.test"});
    s.server(refusal);
    CHECK(s.sent() == Lines{"HELO client.test"});
    s.server("250 old.test\r\n");
    CHECK(s.sent() == Lines{"MAIL FROM:<a@a.test>"});
    CHECK(s.states() == Lines{"ehlo", "helo", "mail"});
  }
}

TEST_CASE("smtp client: HELO refused after the fallback fails the session with the reply's kind") {
  auto config = config_with({message("a@a.test", {"b@b.test"})});
  Script s(config);
  s.server("220 old.test\r\n500 no\r\n");
  s.server("550 5.7.1 not you\r\n");
  CHECK(s.sent() == Lines{"EHLO client.test", "HELO client.test", "QUIT"});
  CHECK(s.outcome("b@b.test").verdict.delivery == Delivery::permanent);
  CHECK(s.outcome("b@b.test").verdict.stage == Stage::helo);
  check_each_outcome_once(s, config);
}

TEST_CASE("smtp client: EHLO answered 4xx fails the session as transient without HELO") {
  auto config = config_with({message("a@a.test", {"b@b.test"})});
  Script s(config);
  s.server("220 mx.test\r\n451 4.3.0 local trouble\r\n");
  CHECK(s.sent() == Lines{"EHLO client.test", "QUIT"});
  CHECK(s.outcome("b@b.test").verdict.delivery == Delivery::transient);
  CHECK(s.outcome("b@b.test").verdict.scope == FailureScope::session);
}

TEST_CASE("smtp client: TLS required but STARTTLS not offered fails as transient before MAIL") {
  auto config = config_with({message("a@a.test", {"b@b.test"})});
  config.tls = TlsPolicy::required;
  Script s(config);
  s.server("220 mx.test\r\n");
  s.server(ehlo_full);
  CHECK(s.sent() == Lines{"EHLO client.test", "QUIT"});
  const auto& outcome = s.outcome("b@b.test");
  CHECK(outcome.verdict.delivery == Delivery::transient);
  CHECK(outcome.verdict.scope == FailureScope::session);
  CHECK_FALSE(outcome.verdict.reply);
  CHECK(outcome.verdict.diagnostic.find("STARTTLS") != std::string::npos);
  check_each_outcome_once(s, config);
}

TEST_CASE("smtp client: TLS required and STARTTLS refused fails as transient") {
  auto config = config_with({message("a@a.test", {"b@b.test"})});
  config.tls = TlsPolicy::required;
  Script s(config);
  s.server("220 mx.test\r\n250-mx.test\r\n250 STARTTLS\r\n");
  CHECK(s.sent() == Lines{"EHLO client.test", "STARTTLS"});
  s.server("554 5.5.1 no TLS for you\r\n");
  CHECK(s.sent() == Lines{"QUIT"});
  CHECK(s.outcome("b@b.test").verdict.delivery == Delivery::transient);
}

TEST_CASE("smtp client: opportunistic TLS carries on in plaintext when STARTTLS is refused") {
  auto config = config_with({message("a@a.test", {"b@b.test"})});
  Script s(config);
  s.server("220 mx.test\r\n250-mx.test\r\n250 STARTTLS\r\n");
  CHECK(s.sent() == Lines{"EHLO client.test", "STARTTLS"});
  s.server("454 4.7.0 TLS not available\r\n");
  CHECK(s.sent() == Lines{"MAIL FROM:<a@a.test>"});
  CHECK_FALSE(s.client().tls_active());
}

TEST_CASE("smtp client: STARTTLS drops plaintext behind the 220 and says EHLO again inside TLS") {
  auto config = config_with({message("a@a.test", {"b@b.test"})});
  Script s(config);
  s.server("220 mx.test\r\n250-mx.test\r\n250-PIPELINING\r\n250 STARTTLS\r\n");
  CHECK(s.sent() == Lines{"EHLO client.test", "STARTTLS"});
  // An attacker's reply injected behind the go-ahead (CVE-2011-0411 on the client side).
  s.server("220 2.0.0 Ready to start TLS\r\n250 injected\r\n");
  CHECK(s.events<net::StartTlsEvent>().size() == 1);
  CHECK(s.client().state() == ClientState::tls_handshake);
  s.server("250 also injected\r\n");
  CHECK(s.sent().empty());
  s.tls_established();
  CHECK(s.sent() == Lines{"EHLO client.test"});
  CHECK_FALSE(s.client().extensions().pipelining);  // forgotten (RFC 3207 §4.2)
  s.server("250-mx.test\r\n250 PIPELINING\r\n");
  CHECK(s.sent() == Lines{"MAIL FROM:<a@a.test>", "RCPT TO:<b@b.test>"});
  const auto lines = s.events<net::LineEvent>();
  CHECK_FALSE(lines.front().tls);
  CHECK(lines.back().tls);
  for (const auto& line : lines) CHECK(line.text.find("injected") == std::string::npos);
}

TEST_CASE("smtp client: AUTH PLAIN goes inside TLS with an initial response") {
  auto config = config_with({message("alice@lab.test", {"b@b.test"})});
  config.credentials = ClientCredentials{"alice@lab.test", "s3cret"};
  Script s(config);
  s.server("220 mx.test\r\n250-mx.test\r\n250 STARTTLS\r\n");
  CHECK(s.sent() == Lines{"EHLO client.test", "STARTTLS"});  // no AUTH offered yet, none tried
  s.server("220 go ahead\r\n");
  s.tls_established();
  s.sent();
  s.server("250-mx.test\r\n250-AUTH LOGIN PLAIN\r\n250 STARTTLS\r\n");
  CHECK(s.sent() == Lines{"AUTH PLAIN " + net::encode_sasl_plain("alice@lab.test", "s3cret")});
  s.server("235 2.7.0 Authentication successful\r\n");
  CHECK(s.client().authenticated());
  CHECK(s.sent() == Lines{"MAIL FROM:<alice@lab.test>"});
}

TEST_CASE("smtp client: AUTH PLAIN answers an empty challenge with the same response") {
  auto config = config_with({message("alice@lab.test", {"b@b.test"})});
  config.credentials = ClientCredentials{"alice@lab.test", "s3cret"};
  config.tls_from_start = true;
  Script s(config);
  s.server("220 mx.test\r\n250-mx.test\r\n250 AUTH PLAIN\r\n");
  s.sent();
  s.server("334 \r\n");
  CHECK(s.sent() == Lines{net::encode_sasl_plain("alice@lab.test", "s3cret")});
  s.server("235 2.7.0 Ok\r\n");
  CHECK(s.sent() == Lines{"MAIL FROM:<alice@lab.test>"});
}

TEST_CASE("smtp client: AUTH LOGIN is the fallback when PLAIN is not offered") {
  auto config = config_with({message("alice@lab.test", {"b@b.test"})});
  config.credentials = ClientCredentials{"alice@lab.test", "s3cret"};
  config.tls_from_start = true;  // implicit TLS (RFC 8314)
  Script s(config);
  s.server("220 mx.test\r\n250-mx.test\r\n250 AUTH LOGIN\r\n");
  CHECK(s.sent() == Lines{"EHLO client.test", "AUTH LOGIN"});
  s.server("334 VXNlcm5hbWU6\r\n");
  CHECK(s.sent() == Lines{net::base64_encode("alice@lab.test")});
  s.server("334 UGFzc3dvcmQ6\r\n");
  CHECK(s.sent() == Lines{net::base64_encode("s3cret")});
  s.server("235 2.7.0 Ok\r\n");
  CHECK(s.sent() == Lines{"MAIL FROM:<alice@lab.test>"});
  CHECK(s.states() == Lines{"ehlo", "auth", "mail"});
}

TEST_CASE("smtp client: AUTH is not sent in plaintext unless allowed") {
  auto config = config_with({message("alice@lab.test", {"b@b.test"})});
  config.credentials = ClientCredentials{"alice@lab.test", "s3cret"};
  config.tls = TlsPolicy::none;
  SUBCASE("not allowed: straight to MAIL") {
    Script s(config);
    s.server("220 mx.test\r\n250-mx.test\r\n250 AUTH PLAIN LOGIN\r\n");
    CHECK(s.sent() == Lines{"EHLO client.test", "MAIL FROM:<alice@lab.test>"});
  }
  SUBCASE("allowed") {
    config.auth_without_tls = true;
    Script s(config);
    s.server("220 mx.test\r\n250-mx.test\r\n250 AUTH PLAIN LOGIN\r\n");
    CHECK(s.sent() == Lines{"EHLO client.test", "AUTH PLAIN " + net::encode_sasl_plain("alice@lab.test", "s3cret")});
  }
}

TEST_CASE("smtp client: AUTH refused with 535 ends the session, recipients permanent") {
  auto config = config_with({message("alice@lab.test", {"b@b.test", "c@b.test"})});
  config.credentials = ClientCredentials{"alice@lab.test", "wrong"};
  config.tls_from_start = true;
  Script s(config);
  s.server("220 mx.test\r\n250-mx.test\r\n250 AUTH PLAIN\r\n");
  s.sent();
  s.server("535 5.7.8 Authentication credentials invalid\r\n");
  CHECK(s.sent() == Lines{"QUIT"});
  const auto& outcome = s.outcome("c@b.test");
  CHECK(outcome.verdict.delivery == Delivery::permanent);
  CHECK(outcome.verdict.stage == Stage::auth);
  CHECK(outcome.verdict.reply->enhanced == "5.7.8");
  s.server("221 Bye\r\n");
  CHECK(s.closed());
  check_each_outcome_once(s, config);
}

TEST_CASE("smtp client: MAIL refused fails the message, the next one goes without RSET") {
  auto config = config_with({message("a@a.test", {"b@b.test"}), message("c@a.test", {"d@b.test"})});
  Script s(config);
  s.server("220 mx.test\r\n");
  s.server(ehlo_plain);
  s.sent();
  SUBCASE("5xx is permanent") {
    s.server("553 5.7.1 not your address\r\n");
    CHECK(s.sent() == Lines{"MAIL FROM:<c@a.test>"});
    CHECK(s.outcome("b@b.test").verdict.delivery == Delivery::permanent);
    CHECK(s.events<MessageOutcome>()[0].verdict.scope == FailureScope::message);
    CHECK(s.events<MessageOutcome>()[0].verdict.stage == Stage::mail);
  }
  SUBCASE("4xx is transient") {
    s.server("451 4.3.0 try later\r\n");
    CHECK(s.sent() == Lines{"MAIL FROM:<c@a.test>"});
    CHECK(s.outcome("b@b.test").verdict.delivery == Delivery::transient);
  }
  s.server("250 Ok\r\n250 Ok\r\n354 go\r\n");
  s.server("250 Ok\r\n221 Bye\r\n");
  CHECK(s.outcome("d@b.test").verdict.delivery == Delivery::accepted);
  check_each_outcome_once(s, config);
}

TEST_CASE("smtp client: MAIL refused in a pipelined group drops the RCPT replies that follow") {
  auto config = config_with({message("a@a.test", {"b@b.test", "c@b.test"}), message("a@a.test", {"d@b.test"})});
  Script s(config);
  s.server("220 mx.test\r\n");
  s.server(ehlo_full);
  s.sent();
  s.server("552 5.3.4 too big\r\n503 5.5.1 need MAIL\r\n");
  CHECK(s.sent().empty());
  s.server("503 5.5.1 need MAIL\r\n");
  CHECK(s.sent() == Lines{"MAIL FROM:<a@a.test> SIZE=22", "RCPT TO:<d@b.test>"});
  CHECK(s.outcome("b@b.test").verdict.reply->code == 552);
  CHECK(s.outcome("c@b.test").verdict.reply->code == 552);
  s.server("250 Ok\r\n250 Ok\r\n");
  s.server("354 go\r\n");
  s.server("250 Ok\r\n");
  CHECK(s.outcome("d@b.test").verdict.delivery == Delivery::accepted);
  check_each_outcome_once(s, config);
}

TEST_CASE("smtp client: refused recipients keep their replies, the others still get the message") {
  auto config = config_with({message("a@a.test", {"ok@b.test", "gone@b.test", "full@b.test", "many@b.test"})});
  Script s(config);
  s.server("220 mx.test\r\n");
  s.server(ehlo_full);
  s.sent();
  s.server("250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n550 5.1.1 <gone@b.test>: user unknown\r\n");
  s.server("452 4.2.2 mailbox full\r\n452 4.5.3 too many recipients\r\n");
  CHECK(s.sent() == Lines{"DATA"});
  const auto& gone = s.outcome("gone@b.test");
  CHECK(gone.verdict.delivery == Delivery::permanent);
  CHECK(gone.verdict.scope == FailureScope::recipient);
  CHECK(*gone.verdict.reply == Reply{550, "5.1.1", {"<gone@b.test>: user unknown"}});
  CHECK(s.outcome("full@b.test").verdict.delivery == Delivery::transient);
  CHECK(s.outcome("many@b.test").verdict.reply->enhanced == "4.5.3");
  CHECK(s.outcomes_for("ok@b.test") == 0);  // decided only by the final reply
  s.server("354 go\r\n");
  s.server("250 2.0.0 Ok\r\n");
  CHECK(s.outcome("ok@b.test").verdict.delivery == Delivery::accepted);
  CHECK(s.events<MessageOutcome>()[0].recipients_accepted == 1);
  check_each_outcome_once(s, config);
}

TEST_CASE("smtp client: when every recipient is refused there is no DATA") {
  auto config = config_with({message("a@a.test", {"x@b.test", "y@b.test"})});
  Script s(config);
  s.server("220 mx.test\r\n");
  s.server(ehlo_full);
  s.sent();
  s.server("250 Ok\r\n554 5.7.1 relay denied\r\n451 4.7.1 greylisted\r\n");
  CHECK(s.sent() == Lines{"QUIT"});  // the last message: QUIT ends the transaction too
  const auto messages = s.events<MessageOutcome>();
  REQUIRE(messages.size() == 1);
  CHECK(messages[0].verdict.delivery == Delivery::transient);  // one of them may still go later
  check_each_outcome_once(s, config);
}

TEST_CASE("smtp client: DATA refused fails the message and RSETs before the next one") {
  auto config = config_with({message("a@a.test", {"b@b.test"}), message("a@a.test", {"c@b.test"})});
  Script s(config);
  s.server("220 mx.test\r\n");
  s.server(ehlo_plain);
  s.server("250 Ok\r\n250 Ok\r\n");
  s.sent();
  s.server("554 5.5.1 no valid recipients\r\n");
  CHECK(s.sent() == Lines{"RSET"});
  CHECK(s.outcome("b@b.test").verdict.delivery == Delivery::permanent);
  CHECK(s.outcome("b@b.test").verdict.stage == Stage::data);
  s.server("250 Ok\r\n");
  CHECK(s.sent() == Lines{"MAIL FROM:<a@a.test>"});
}

TEST_CASE("smtp client: DATA answered 4xx is transient") {
  auto config = config_with({message("a@a.test", {"b@b.test"})});
  Script s(config);
  s.server("220 mx.test\r\n");
  s.server(ehlo_plain);
  s.server("250 Ok\r\n250 Ok\r\n451 4.3.0 try later\r\n");
  CHECK(s.outcome("b@b.test").verdict.delivery == Delivery::transient);
  CHECK(s.sent().back() == "QUIT");
}

TEST_CASE("smtp client: the end-of-data reply decides the accepted recipients, no RSET follows") {
  auto config = config_with({message("a@a.test", {"b@b.test"}), message("a@a.test", {"c@b.test"})});
  Script s(config);
  s.server("220 mx.test\r\n");
  s.server(ehlo_plain);
  s.server("250 Ok\r\n250 Ok\r\n354 go\r\n");
  s.sent();
  SUBCASE("552 is permanent") {
    s.server("552 5.3.4 message too big\r\n");
    CHECK(s.outcome("b@b.test").verdict.delivery == Delivery::permanent);
    CHECK(s.outcome("b@b.test").verdict.stage == Stage::end_of_data);
  }
  SUBCASE("451 is transient") {
    s.server("451 4.3.0 queue trouble\r\n");
    CHECK(s.outcome("b@b.test").verdict.delivery == Delivery::transient);
  }
  CHECK(s.events<MessageOutcome>()[0].recipients_accepted == 0);
  CHECK(s.sent() == Lines{"MAIL FROM:<a@a.test>"});
}

TEST_CASE("smtp client: 421 in the middle of a transaction ends the session, all pending transient") {
  auto config = config_with({message("a@a.test", {"b@b.test", "c@b.test"}), message("a@a.test", {"d@b.test"})});
  Script s(config);
  s.server("220 mx.test\r\n");
  s.server(ehlo_full);
  s.server("250 Ok\r\n550 5.1.1 unknown\r\n421 4.4.2 timeout\r\n");
  CHECK(s.closed());
  CHECK(s.outcome("b@b.test").verdict.delivery == Delivery::permanent);  // decided before the 421
  CHECK(s.outcome("c@b.test").verdict.delivery == Delivery::transient);
  CHECK(s.outcome("d@b.test").verdict.delivery == Delivery::transient);
  CHECK(s.outcome("d@b.test").verdict.scope == FailureScope::session);
  check_each_outcome_once(s, config);
}

TEST_CASE("smtp client: the server closing mid-dialog leaves every pending recipient transient") {
  auto config = config_with({message("a@a.test", {"b@b.test"}), message("a@a.test", {"c@b.test"})});
  Script s(config);
  s.server("220 mx.test\r\n");
  s.server(ehlo_plain);
  s.server("250 Ok\r\n250 Ok\r\n354 go\r\n");
  s.peer_closes();
  CHECK(s.closed());
  CHECK(s.outcome("b@b.test").verdict.delivery == Delivery::transient);
  CHECK(s.outcome("b@b.test").verdict.diagnostic.find("closed") != std::string::npos);
  CHECK(s.outcome("c@b.test").verdict.delivery == Delivery::transient);
  CHECK(s.events<SessionFailedEvent>().size() == 1);
  check_each_outcome_once(s, config);
}

TEST_CASE("smtp client: the server closing after QUIT is no failure") {
  auto config = config_with({message("a@a.test", {"b@b.test"})});
  Script s(config);
  s.server("220 mx.test\r\n");
  s.server(ehlo_plain);
  s.server("250 Ok\r\n250 Ok\r\n354 go\r\n");
  s.server("250 Ok\r\n");
  s.peer_closes();
  CHECK(s.closed());
  CHECK(s.events<SessionFailedEvent>().empty());
  CHECK(s.outcome("b@b.test").verdict.delivery == Delivery::accepted);
}

TEST_CASE("smtp client: each state's timeout fails the session as transient") {
  auto config = config_with({message("a@a.test", {"b@b.test"})});
  SUBCASE("greeting after 5 minutes") {
    Script s(config);
    s.advance(5min - 1us);
    CHECK_FALSE(s.closed());
    s.advance(1us);
    CHECK(s.closed());
    CHECK(s.outcome("b@b.test").verdict.stage == Stage::greeting);
  }
  SUBCASE("DATA initiation after 2 minutes") {
    Script s(config);
    s.server("220 mx.test\r\n");
    s.server(ehlo_plain);
    s.server("250 Ok\r\n250 Ok\r\n");
    s.advance(2min);
    CHECK(s.closed());
    CHECK(s.outcome("b@b.test").verdict.stage == Stage::data);
  }
  SUBCASE("final dot after 10 minutes") {
    Script s(config);
    s.server("220 mx.test\r\n");
    s.server(ehlo_plain);
    s.server("250 Ok\r\n250 Ok\r\n354 go\r\n");
    s.advance(9min);
    CHECK_FALSE(s.closed());
    s.advance(1min);
    CHECK(s.closed());
    CHECK(s.outcome("b@b.test").verdict.stage == Stage::end_of_data);
    CHECK(s.outcome("b@b.test").verdict.diagnostic.find("600 s") != std::string::npos);
  }
  SUBCASE("each RCPT reply re-arms the wait in lock-step") {
    auto many = config_with({message("a@a.test", {"b@b.test", "c@b.test"})});
    Script s(many);
    s.server("220 mx.test\r\n");
    s.server(ehlo_plain);
    s.server("250 Ok\r\n");
    s.advance(4min);
    s.server("250 Ok\r\n");
    s.advance(4min);
    CHECK_FALSE(s.closed());
    CHECK(s.client().state() == ClientState::rcpt);
  }
}

TEST_CASE("smtp client: a malformed reply fails the session and closes") {
  auto config = config_with({message("a@a.test", {"b@b.test"})});
  Script s(config);
  s.server("220 mx.test\r\n");
  s.server("250-mx.test\r\nhello there\r\n");
  CHECK(s.closed());
  const auto failed = s.events<SessionFailedEvent>();
  REQUIRE(failed.size() == 1);
  CHECK(failed[0].verdict.diagnostic.find("malformed reply") != std::string::npos);
  CHECK(s.outcome("b@b.test").verdict.delivery == Delivery::transient);
}

TEST_CASE("smtp client: a reply before the content was taken is a protocol failure") {
  auto config = config_with({message("a@a.test", {"b@b.test"})});
  Client client(config, Instant{});
  client.handle_bytes(Instant{}, "220 mx.test\r\n250 mx.test\r\n250 Ok\r\n250 Ok\r\n354 go\r\n");
  REQUIRE(client.state() == ClientState::data_body);
  client.handle_bytes(Instant{}, "250 too early\r\n");
  CHECK(client.state() == ClientState::closed);
}

// --- extensions in MAIL FROM ------------------------------------------------------

TEST_CASE("smtp client: SIZE= carries the normalised size, and a message over the limit is not sent") {
  auto config = config_with({message("a@a.test", {"b@b.test"}, std::string(20000, 'x')),
                             message("a@a.test", {"c@b.test"}, "small\n")});
  Script s(config);
  s.server("220 mx.test\r\n");
  s.server(ehlo_full);  // SIZE 10000
  CHECK(s.sent() == Lines{"EHLO client.test", "MAIL FROM:<a@a.test> SIZE=7", "RCPT TO:<c@b.test>"});
  const auto& big = s.outcome("b@b.test");
  CHECK(big.verdict.delivery == Delivery::permanent);
  CHECK_FALSE(big.verdict.reply);
  CHECK(big.verdict.diagnostic.find("SIZE limit of 10000") != std::string::npos);
  s.server("250 Ok\r\n250 Ok\r\n");
  s.server("354 go\r\n");
  s.server("250 Ok\r\n");
  CHECK(s.sent() == Lines{"DATA", "small", ".", "QUIT"});
  check_each_outcome_once(s, config);
}

TEST_CASE("smtp client: BODY=8BITMIME only for 8-bit content and only when offered") {
  SUBCASE("offered, 8-bit content") {
    Script s(config_with({message("a@a.test", {"b@b.test"}, "Subject: caf\xc3\xa9\r\n\r\n")}));
    s.server("220 mx.test\r\n250-mx.test\r\n250 8BITMIME\r\n");
    CHECK(s.sent().back() == "MAIL FROM:<a@a.test> BODY=8BITMIME");
  }
  SUBCASE("offered, 7-bit content") {
    Script s(config_with({message("a@a.test", {"b@b.test"}, "Subject: cafe\r\n\r\n")}));
    s.server("220 mx.test\r\n250-mx.test\r\n250 8BITMIME\r\n");
    CHECK(s.sent().back() == "MAIL FROM:<a@a.test>");
  }
  SUBCASE("not offered") {
    Script s(config_with({message("a@a.test", {"b@b.test"}, "Subject: caf\xc3\xa9\r\n\r\n")}));
    s.server("220 mx.test\r\n250 mx.test\r\n");
    CHECK(s.sent().back() == "MAIL FROM:<a@a.test>");
  }
}

TEST_CASE("smtp client: SMTPUTF8 is asked for when an address needs it, and required") {
  SUBCASE("offered") {
    Script s(config_with({message("a@a.test", {"j\xc3\xb6rg@b.test"})}));
    s.server("220 mx.test\r\n250-mx.test\r\n250 SMTPUTF8\r\n");
    CHECK(s.sent() == Lines{"EHLO client.test", "MAIL FROM:<a@a.test> SMTPUTF8"});
  }
  SUBCASE("not offered: the message bounces without a transaction") {
    auto config = config_with({message("a@a.test", {"j\xc3\xb6rg@b.test"})});
    Script s(config);
    s.server("220 mx.test\r\n250 mx.test\r\n");
    CHECK(s.sent() == Lines{"EHLO client.test", "QUIT"});
    CHECK(s.events<RecipientOutcome>()[0].verdict.delivery == Delivery::permanent);
    check_each_outcome_once(s, config);
  }
}

TEST_CASE("smtp client: an address with a line break never reaches the wire") {
  auto config = config_with({message("a@a.test", {"b@b.test>\r\nRCPT TO:<evil@c.test"})});
  Script s(config);
  s.server("220 mx.test\r\n250 mx.test\r\n");
  CHECK(s.sent() == Lines{"EHLO client.test", "QUIT"});
  CHECK(s.events<MessageOutcome>()[0].verdict.delivery == Delivery::permanent);
}

TEST_CASE("smtp client: the null reverse path is sent as <>") {
  Script s(config_with({message("", {"b@b.test"})}));
  s.server("220 mx.test\r\n250 mx.test\r\n");
  CHECK(s.sent().back() == "MAIL FROM:<>");
}

TEST_CASE("smtp client: a session without messages says EHLO and QUIT") {
  Script s(config_with({}));
  s.server("220 mx.test\r\n250 mx.test\r\n221 Bye\r\n");
  CHECK(s.sent() == Lines{"EHLO client.test", "QUIT"});
  CHECK(s.closed());
}
