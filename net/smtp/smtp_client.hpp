// The SMTP client engine: sans-I/O, RFC 5321 with the extensions a sending
// MTA or a submitting MUA uses.
//
// Theory of operation.  One Client is one connection.  It is given a list of
// messages to send; it reads the greeting, says EHLO (HELO when the server
// answers 500/502, RFC 5321 §3.2), reads the extensions, runs STARTTLS (RFC
// 3207) when the server offers it and the policy wants it, authenticates (RFC
// 4954: PLAIN with an initial response, LOGIN as the fallback; only inside TLS
// unless allowed), then for every message sends MAIL and RCPT, pipelined as
// one group when PIPELINING is offered (RFC 2920 §3.1), else in lock-step,
// then DATA and the dot-stuffed content (RFC 5321 §4.5.2), and finally QUIT.
// When every recipient was refused it sends RSET instead of DATA; RSET also
// closes a transaction left open by a refused DATA before the next message.
//
//   state          waiting for                         timeout (§4.5.3.2)
//   greeting       220                                  5 min  (§4.5.3.2.1)
//   ehlo / helo    250 to EHLO / HELO                   5 min
//   starttls       220 to STARTTLS                      5 min
//   tls_handshake  the driver's handle_tls_established  5 min
//   auth           334 / 235 to AUTH                    5 min
//   mail           250 to MAIL                          5 min  (§4.5.3.2.2)
//   rcpt           250 to each RCPT                     5 min  (§4.5.3.2.3)
//   data           354 to DATA                          2 min  (§4.5.3.2.4)
//   data_body      the driver to take the content       3 min  (§4.5.3.2.5)
//   data_end       250 to the final dot                10 min  (§4.5.3.2.6)
//   rset           250 to RSET                          5 min
//   quit           221 to QUIT                          5 min
//   closed         -                                    never
//
// Every state change goes through enter_state(), checked against a constexpr
// transition table, and is reported as a StateEvent; every line either way is
// a LineEvent; the content is one ContentSentEvent.  data_body ends when
// poll_transmit() hands out the final dot; poll_transmit() has no clock, so
// that state change takes the time of the last input.
//
// Outcomes.  Every recipient gets exactly one RecipientOutcome, every message
// exactly one MessageOutcome, each with a Verdict: accepted, or a transient
// (4xx: retry later) or permanent (5xx: bounce) failure with its scope
// (session, message, recipient), the command it answered and the server's
// full reply.  classify() is the one place that turns a reply into a verdict.
// Session failures (a 421 or 554 greeting, 421 at any time, a timeout, the
// server closing mid-dialog, a malformed reply, TLS required but not offered)
// make every recipient still pending transient; a failure after the greeting
// (EHLO and HELO refused, AUTH refused) takes its kind from the reply code.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "net/core/engine.hpp"
#include "net/core/time.hpp"
#include "net/smtp/smtp_reply.hpp"
#include "net/smtp/smtp_reply_parser.hpp"

namespace maillab::net::smtp {

enum class ClientState : std::uint8_t {
  greeting,
  ehlo,
  helo,
  starttls,
  tls_handshake,
  auth,
  mail,
  rcpt,
  data,
  data_body,
  data_end,
  rset,
  quit,
  closed,
};
inline constexpr std::size_t client_state_count = 14;

std::string_view client_state_name(ClientState state);
Duration client_state_timeout(ClientState state);
// The transition table enter_state() checks (also for tests and the studio).
bool client_transition_allowed(ClientState from, ClientState to);

enum class TlsPolicy : std::uint8_t {
  none,           // never STARTTLS
  opportunistic,  // STARTTLS when offered; carry on in plaintext when it is not
  required,       // STARTTLS or no mail at all (a transient session failure)
};

enum class AuthMechanism : std::uint8_t { plain, login };

struct ClientCredentials {
  std::string user;  // a full address in the lab ("alice@lab.test")
  std::string password;
};

struct OutgoingMessage {
  std::string reverse_path;                // "alice@lab.test"; "" for the null path <>
  std::vector<std::string> forward_paths;  // "bob@school.test", one per recipient
  std::string data;                        // header + body; any line ends, not yet dot-stuffed
};

struct ClientConfig {
  std::string helo_name = "localhost";
  TlsPolicy tls = TlsPolicy::opportunistic;
  bool tls_from_start = false;  // implicit TLS (RFC 8314 §3): no STARTTLS, lines are "tls"
  std::optional<ClientCredentials> credentials;
  bool auth_without_tls = false;  // RFC 4954 §4: PLAIN/LOGIN in clear text only when allowed
  // In order of preference; the first one the server offers is used.
  std::vector<AuthMechanism> auth_mechanisms{AuthMechanism::plain, AuthMechanism::login};
  std::vector<OutgoingMessage> messages;
  ReplyParserLimits reply_limits{};
  LineEventOptions line_events;
  bool state_events = true;  // false: no StateEvent (a driver that ignores them, the simulator's)
};

// The command a reply answered: the "in reply to" of a bounce.
enum class Stage : std::uint8_t {
  connection,  // no reply: timeout, close, a malformed reply, a local decision
  greeting,
  ehlo,
  helo,
  starttls,
  auth,
  mail,
  rcpt,
  data,
  end_of_data,
  rset,
  quit,
};
std::string_view stage_name(Stage stage);

enum class Delivery : std::uint8_t { accepted, transient, permanent };
enum class FailureScope : std::uint8_t { session, message, recipient };

struct Verdict {
  Delivery delivery = Delivery::accepted;
  FailureScope scope = FailureScope::recipient;
  Stage stage = Stage::connection;
  std::optional<Reply> reply;  // the server's reply that decided; absent for local decisions
  std::string diagnostic;      // one line for logs and bounce messages
};

// The one place that decides retry vs bounce (STYLE.md "Errors", after Postfix
// smtp_trouble.c): a failing reply at `stage` has this scope and kind.
Verdict classify(Stage stage, const Reply& reply);

struct RecipientOutcome {
  std::size_t message = 0;  // index into ClientConfig::messages
  std::string address;
  Verdict verdict;
};

struct MessageOutcome {
  std::size_t message = 0;
  Verdict verdict;  // accepted by the final 250 (for at least one recipient), or why not
  std::size_t recipients_accepted = 0;
};

struct SessionFailedEvent {
  Verdict verdict;
};

// The content of one message went out (DATA payload is not a line event).
struct ContentSentEvent {
  std::size_t message = 0;
  std::size_t octets = 0;  // on the wire, dot-stuffed, with the final ".\r\n"
  std::size_t lines = 0;
};

using ClientEvent = std::variant<LineEvent, StateEvent, StartTlsEvent, CloseEvent, RecipientOutcome,
                                 MessageOutcome, SessionFailedEvent, ContentSentEvent>;

// What the server's EHLO reply offered.
struct Extensions {
  bool pipelining = false;            // RFC 2920
  bool size = false;                  // RFC 1870
  std::uint64_t size_max = 0;         // 0: no fixed limit given
  bool eight_bit_mime = false;        // RFC 6152
  bool enhanced_status_codes = false; // RFC 2034
  bool starttls = false;              // RFC 3207
  bool smtputf8 = false;              // RFC 6531
  bool auth_plain = false;            // RFC 4954 + RFC 4616
  bool auth_login = false;            // draft-murchison-sasl-login
};

// Reads the keywords of an EHLO reply (lines after the first), RFC 5321 §4.1.1.1.
Extensions parse_extensions(const Reply& ehlo_reply);

// Message content as it goes on the wire after DATA: bare CR and bare LF become
// CRLF (RFC 5321 §2.3.8), a leading "." is doubled (§4.5.2), the last line
// gets its CRLF, and ".\r\n" ends it.
std::string dot_stuff(std::string_view data);
// The same normalisation without the stuffing and the final dot: what SIZE= counts (RFC 1870 §3).
std::size_t normalised_size(std::string_view data);

class Client {
 public:
  Client(ClientConfig config, Instant now);

  // The shared engine contract (net/core/engine.hpp).
  void handle_bytes(Instant now, std::string_view bytes);
  void handle_timeout(Instant now);
  void handle_close(Instant now);
  void handle_tls_established(Instant now);
  std::string poll_transmit();
  std::optional<ClientEvent> poll_event();
  [[nodiscard]] Instant poll_timeout() const;

  [[nodiscard]] ClientState state() const { return state_; }
  [[nodiscard]] const Extensions& extensions() const { return extensions_; }
  [[nodiscard]] bool tls_active() const { return tls_; }
  // Lines this engine has sent (replies or commands, each CRLF-ended line once).
  [[nodiscard]] std::uint64_t lines_sent() const { return lines_sent_; }
  [[nodiscard]] bool sent_line_events() const { return config_.line_events.sent; }
  [[nodiscard]] bool authenticated() const { return authenticated_; }

 private:
  // What an outstanding command waits for; replies arrive in this order.
  enum class Expect : std::uint8_t {
    greeting, ehlo, helo, starttls, auth_plain, auth_login_user, auth_login_password,
    auth_response, mail, rcpt, data, end_of_data, rset, quit,
  };
  struct Pending {
    Expect expect;
    std::size_t rcpt = 0;  // for Expect::rcpt: index into the message's forward paths
  };
  enum class RcptState : std::uint8_t { pending, accepted, done };
  struct MessageProgress {
    std::vector<RcptState> rcpts;
    std::vector<std::optional<Verdict>> verdicts;  // per recipient, once done
    std::size_t accepted = 0;                       // recipients the final 250 covered
    bool done = false;
  };
  static Stage stage_of(Expect expect);

  void enter_state(ClientState next, Instant now);
  void send_line(std::string line);
  void emit(ClientEvent event);
  void on_reply(Instant now, const Reply& reply);

  void on_greeting(Instant now, const Reply& reply);
  void on_ehlo(Instant now, const Reply& reply);
  void on_helo(Instant now, const Reply& reply);
  void on_starttls(Instant now, const Reply& reply);
  void on_auth(Instant now, Expect expect, const Reply& reply);
  void on_mail(Instant now, const Reply& reply);
  void on_rcpt(Instant now, std::size_t rcpt, const Reply& reply);
  void on_data(Instant now, const Reply& reply);
  void on_end_of_data(Instant now, const Reply& reply);
  void on_rset(Instant now, const Reply& reply);

  void send_ehlo(Instant now);
  void after_hello(Instant now);       // STARTTLS, AUTH or the first message
  void after_auth(Instant now);        // the first message
  void start_message(Instant now);     // MAIL [+ RCPT...] for current_, or QUIT
  void send_rcpt(std::size_t rcpt);
  void after_rcpts(Instant now);       // DATA or RSET
  void next_message(Instant now, bool transaction_open);
  void send_quit(Instant now);

  std::optional<Verdict> local_refusal(const OutgoingMessage& message) const;
  void finish_recipient(std::size_t message, std::size_t rcpt, const Verdict& verdict);
  void finish_message(std::size_t message, const Verdict& verdict);
  void fail_session(Instant now, Verdict verdict, bool send_quit);
  void close(Instant now, std::string reason);

  ClientConfig config_;
  ClientState state_ = ClientState::greeting;
  Instant deadline_ = never;
  Instant last_now_{};
  ReplyParser parser_;
  std::deque<Pending> pending_;
  std::deque<ClientEvent> events_;
  std::string transmit_;
  std::uint64_t lines_sent_ = 0;
  std::string content_;  // the stuffed content waiting for poll_transmit()
  Extensions extensions_;
  bool tls_ = false;
  bool authenticated_ = false;
  bool helo_fallback_ = false;
  bool starttls_refused_ = false;
  std::size_t current_ = 0;  // the message in progress
  std::vector<MessageProgress> progress_;
  bool mail_refused_ = false;  // MAIL failed in a pipelined group: its RCPT replies are read and dropped
};

}  // namespace maillab::net::smtp
