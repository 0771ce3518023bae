// The SMTP server engine: RFC 5321 with PIPELINING (RFC 2920), SIZE (RFC 1870),
// 8BITMIME (RFC 6152), ENHANCEDSTATUSCODES (RFC 2034/3463), STARTTLS (RFC 3207),
// AUTH PLAIN/LOGIN (RFC 4954, RFC 4616), SMTPUTF8 (RFC 6531), CHUNKING (RFC 3030).
//
// Theory of operation.  Sans-I/O (net/core/engine.hpp): the driver pushes bytes
// and `now`, pulls bytes, events and the next deadline.  States:
//
//   connecting --> greeted --EHLO--> ready --MAIL--> mail --RCPT--> rcpt --DATA--> data
//       |             |                ^  \--AUTH--> auth            |   \--BDAT--> bdat
//       v             |                |  \--STARTTLS--> tls_handshake --> greeted
//    rejected         |                +--- queueing <-- end of data / BDAT LAST
//       \-------------+--QUIT/421--> closing --> closed
//
// `connecting` exists only with a greeting delay: input then is pregreet
// (catalogue row 8), noted and answered with the RFC 5321 §3.1 554 banner.
// Every state change goes through enter_state(), checked against a constexpr
// transition table; names and timeouts are arrays indexed by state.
//
// Commands run through a table {verb, check, proceed} (OpenSMTPD
// smtp_session.c): check answers out-of-sequence and syntax errors, proceed
// does the work.  Replies to pipelined commands leave in order (RFC 2920 §3.2);
// input is never dropped except what follows STARTTLS (RFC 3207 §4.2,
// CVE-2011-0411) or QUIT.  With `strict_pipelining` input behind a group-ending
// command (EHLO, HELO, DATA, QUIT, STARTTLS, AUTH) or behind the end of DATA's
// text (a pipelined QUIT excepted), or any pipelined input from a client that did
// not negotiate PIPELINING, gets 554 5.5.0 and the session closes, unless the
// client has logged in (Postfix smtpd_forbid_unauth_pipelining).  A message
// whose <CRLF>.<CRLF> came before the violation was framed correctly: it is
// stored and acknowledged first, and what follows the dot never runs.
//
// DATA (RFC 5321 §4.1.1.4, §4.5.2): only <CRLF>.<CRLF> ends it.  Lines are
// dot-unstuffed; a line ending in a bare LF, a bare CR anywhere, or a NUL is
// noted, and the message is refused at end of data (550 5.5.2 "bare <LF>
// received", as Postfix smtpd_forbid_bare_newline; 550 5.6.0 for NUL) with
// nothing stored.  The session goes on: the framing never
// depended on the bare characters, so a smuggled "MAIL FROM" stays payload.
// Text lines over 1000 octets (500 5.5.6), messages over the size limit
// (552 5.3.4) and header sections (up to the first empty line, RFC 5322 §2.1)
// over `header_octets_max` (552 5.3.4, catalogue row 32) are read to the end,
// then refused, nothing stored.  Postfix keeps the first header_size_limit
// octets of a header and drops the rest; refusing loses nothing silently and
// the sender learns why from the bounce.
//
// A complete message is handed over as a MessageEvent and the engine stops
// reading input until the driver calls complete_message(): a 250 is sent only
// once the message is durably stored (RFC 5321 §6.1).
//
// Errors (catalogue row 20, Postfix smtpd_soft/hard_error_limit): every reply
// of code 400 or more is an error.  Past `errors_soft_max` errors every reply
// is held back for `error_delay`: the engine keeps it (and every event behind
// it) and reads no further input until the driver's handle_timeout() at the
// instant poll_timeout() named, so the driver's event loop never sleeps.  At
// `errors_max` errors the session ends with 421 4.7.0.  Junk commands (NOOP,
// RSET, VRFY, HELP, EHLO, HELO: Postfix's SMTPD_CMD_FLAG_LIMIT set) beyond
// `junk_commands_max` each count as an error.  A message accepted for delivery
// forgives both counts (Postfix smtpd.c data_cmd).
//
// Timeouts (RFC 5321 §4.5.3.2): 5 min while waiting for a command, 3 min per
// data block (both configurable, never below these minimums), 10 min for the
// driver's storage (DATA termination).  The 2 min
// "DATA initiation" timer is the client's wait for 354, which this engine sends
// in the same step as it reads DATA, so no server state carries it.  An idle
// client gets 421 4.4.2 and the session closes.  The command wait runs from the
// previous line to the end of the next one, however its octets trickle in (a
// per-request deadline, catalogue row 18); the data-block wait restarts with
// every block received.  The message content has a per-request deadline of its
// own (row 18, Postfix smtpd_per_request_deadline with smtpd_min_data_rate):
// from DATA, or the first BDAT, the client has the data-block timeout plus
// N / `min_data_rate` seconds for the N octets received since, so a client
// trickling a byte now and then cannot hold a DATA open for ever.  When it
// passes the client gets 421 4.4.2 (§4.5.3.2, §3.8), the session closes and
// nothing is stored.
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
#include "net/mail/address.hpp"
#include "net/smtp/smtp_command.hpp"
#include "net/smtp/smtp_policy.hpp"
#include "net/smtp/smtp_reply.hpp"

namespace maillab::net::smtp {

enum class ServerState : std::uint8_t {
  connecting, greeted, ready, mail, rcpt, data, bdat, queueing, auth, tls_handshake, rejected, closing, closed,
};
inline constexpr std::size_t server_state_count = 13;

std::string_view server_state_name(ServerState state);         // "rcpt"
std::string_view server_state_description(ServerState state);  // a tooltip sentence
// The constexpr transition table enter_state() checks every change against.
bool server_transition_allowed(ServerState from, ServerState to);
// How long the engine waits for the client in this state (`never` if it does not).
Duration server_state_timeout(ServerState state);

struct ServerConfig {
  std::string host_name = "mail.lab.test";  // in the greeting and in replies
  std::string client_address;               // for the policy; the driver knows it
  bool submission = false;                  // RFC 6409: MAIL needs AUTH first (530 5.7.0)
  bool tls_available = false;               // a certificate is loaded: offer STARTTLS
  bool tls_active = false;                  // implicit TLS (RFC 8314) is already running
  bool pipelining = true;                   // advertise PIPELINING
  bool chunking = true;                     // advertise CHUNKING and accept BDAT
  bool smtputf8 = true;                     // advertise SMTPUTF8
  bool strict_pipelining = false;           // see the theory of operation
  std::size_t command_line_octets_max = 512;   // RFC 5321 §4.5.3.1.4, CRLF included
  std::size_t auth_line_octets_max = 12288;    // RFC 4954 §4
  std::size_t text_line_octets_max = 1000;     // RFC 5321 §4.5.3.1.6, CRLF included
  std::size_t recipients_max = 100;            // RFC 5321 §4.5.3.1.8: at least 100
  std::uint64_t message_octets_max = 10 * 1024 * 1024;  // advertised as SIZE
  std::size_t header_octets_max = 100 * 1024;  // the header section (Postfix header_size_limit 102400)
  std::size_t errors_max = 20;                 // then 421 4.7.0 (Postfix hard_error_limit)
  std::size_t errors_soft_max = 10;            // past it every reply waits error_delay (soft_error_limit)
  Duration error_delay{std::chrono::seconds(1)};  // Postfix smtpd_error_sleep_time; 0: no delay
  std::size_t junk_commands_max = 100;         // then each junk command is an error (junk_command_limit)
  std::size_t input_buffered_octets_max = 1024 * 1024;  // input held while queueing
  // Room the DATA payload starts with (capped by message_octets_max).  A driver whose
  // messages are small (the simulator's: a few hundred octets) asks for less than
  // 1 KiB: the allocator's fast path for small blocks (mimalloc's and glibc's both), not its slower one.
  std::size_t data_reserve_octets = 4096;
  Duration greeting_delay{0};                  // > 0: watch for pregreet input
  // The waits for the client (RFC 5321 §4.5.3.2); server_state_timeout() gives
  // the RFC's values, these replace them for the command and data states.
  Duration command_timeout{std::chrono::minutes(5)};     // §4.5.3.2.7: at least 5 min
  Duration data_block_timeout{std::chrono::minutes(3)};  // §4.5.3.2.5: at least 3 min
  // The message content's minimum rate, octets per second (Postfix smtpd_min_data_rate); 0: none.
  std::uint64_t min_data_rate = 500;
  LineEventOptions line_events;
  bool state_events = true;  // false: no StateEvent (a driver that ignores them, the simulator's)
};

enum class BodyType : std::uint8_t { seven_bit, eight_bit_mime };

// A complete, well-formed message the driver must now store.
struct MessageEvent {
  mail::Address reverse_path;
  std::vector<mail::Address> forward_paths;
  std::string data;  // dot-unstuffed, CRLF line ends, without the final "."
  BodyType body = BodyType::seven_bit;
  bool smtputf8 = false;
  std::optional<std::uint64_t> declared_size;  // MAIL ... SIZE=
  std::string helo_name;
  std::string authenticated_user;  // empty if none
  bool tls = false;
  bool chunked = false;  // arrived by BDAT
};

// The payload of DATA or one BDAT chunk, in one event instead of one per line.
struct DataSummaryEvent {
  std::uint64_t octets = 0;  // as received, before dot-unstuffing
  std::uint64_t lines = 0;
  bool bdat = false;
};

// Something the client did that a teacher wants to see: pregreet input,
// plaintext discarded after STARTTLS, bare LF in DATA, a pipelining violation.
struct ViolationEvent {
  std::string what;
};

using ServerEvent = std::variant<LineEvent, StateEvent, StartTlsEvent, CloseEvent, MessageEvent,
                                 DataSummaryEvent, ViolationEvent>;

enum class StoreResult : std::uint8_t {
  accepted,              // 250 2.0.0 Ok: queued as ID (RFC 5321 §4.2.2)
  temporary_failure,     // 451 4.3.0 (RFC 3463 X.3.0)
  insufficient_storage,  // 452 4.3.1 (RFC 3463 X.3.1)
  permanent_failure,     // 554 5.0.0 with the reason (RFC 5321 §4.2.2)
};

struct StoreOutcome {
  StoreResult result = StoreResult::accepted;
  std::string queue_id;  // for accepted
  std::string reason;    // for permanent_failure
};

class Server {
 public:
  // The session starts at `now`: the greeting (or the greeting delay) begins.
  Server(ServerConfig config, Policy& policy, Instant now);

  void handle_bytes(Instant now, std::string_view bytes);
  void handle_timeout(Instant now);
  void handle_close(Instant now);
  // The TLS handshake after STARTTLS finished: the session starts over (RFC 3207 §4.2).
  void handle_tls_established(Instant now);
  // The driver's answer to the last MessageEvent.  false if the engine gave up
  // waiting (the DATA termination timeout) or the session is gone; the driver
  // may then have stored a message the client will send again (a duplicate,
  // never a loss).
  bool complete_message(Instant now, const StoreOutcome& outcome);

  std::string poll_transmit();
  std::optional<ServerEvent> poll_event();
  [[nodiscard]] Instant poll_timeout() const;

  [[nodiscard]] ServerState state() const { return state_; }
  // MAIL accepted and the message not yet a MessageEvent (mail, rcpt, data, bdat).
  [[nodiscard]] bool message_underway() const {
    return transaction_open() || state_ == ServerState::data || state_ == ServerState::bdat;
  }
  [[nodiscard]] bool tls_active() const { return tls_active_; }
  // Lines this engine has sent (replies or commands, each CRLF-ended line once).
  [[nodiscard]] std::uint64_t lines_sent() const { return lines_sent_; }
  [[nodiscard]] bool sent_line_events() const { return config_.line_events.sent; }
  [[nodiscard]] std::size_t error_count() const { return errors_; }
  // Replies held back by the error delay are waiting (see the theory of operation).
  [[nodiscard]] bool replies_delayed() const { return !delayed_out_.empty(); }
  [[nodiscard]] std::vector<std::string> extensions() const;  // what EHLO advertises now

 private:
  using Check = std::optional<Reply> (Server::*)(const CommandLine&);
  using Proceed = void (Server::*)(Instant, const CommandLine&);
  struct CommandEntry {
    Verb verb;
    Check check;
    Proceed proceed;
  };
  static const std::array<CommandEntry, 16> command_table_;

  enum class SaslStep : std::uint8_t { plain_response, login_user, login_password };

  // Text-line scanner shared by DATA and BDAT.
  struct Payload {
    std::string data;
    std::uint64_t received_octets = 0;
    std::uint64_t stored_octets = 0;
    std::uint64_t lines = 0;
    std::size_t line_octets = 0;     // octets of the current line so far
    bool previous_line_crlf = true;  // the DATA command's CRLF counts (RFC 5321 §4.1.1.4)
    bool pending_cr = false;         // BDAT: a CR ended the last chunk
    bool bare_lf = false;
    bool bare_cr = false;
    bool nul = false;
    bool line_too_long = false;
    bool too_big = false;
    bool in_header = true;            // before the empty line that ends the header section
    std::uint64_t header_octets = 0;  // the header section so far, CRLFs included
    bool header_too_big = false;
  };

  void enter_state(Instant now, ServerState next);
  void send(const Reply& reply);
  void send_greeting(Instant now);
  void close_with(Instant now, const Reply& reply, std::string reason);
  void note(std::string what);
  void emit_client_line(std::string_view text);
  SessionInfo session_info() const;
  void reset_transaction();
  bool transaction_open() const { return state_ == ServerState::mail || state_ == ServerState::rcpt; }
  void arm_timer(Instant now);
  void open_request(Instant now);
  Instant request_deadline() const;

  void pump(Instant now);
  bool pump_command(Instant now);
  bool pump_data(Instant now);
  bool pump_chunk(Instant now);
  void handle_command_line(Instant now, std::string_view line, bool bare_lf);
  void handle_sasl_line(Instant now, std::string_view line, bool bare_lf);
  void finish_chunk(Instant now);
  std::string_view buffered() const { return std::string_view(in_).substr(in_start_); }
  void consume(std::size_t octets);
  void check_error_cap(Instant now);
  void arm_error_delay(Instant now);
  void release_delayed(Instant now);
  bool delaying() const { return !delayed_out_.empty(); }
  void check_pipelining(Instant now, Verb verb, bool end_of_data = false);
  bool pipelining_negotiated() const { return esmtp_ && config_.pipelining; }

  // Returns true at the end-of-data line.
  bool data_segment(std::string_view segment, bool complete_line);
  void chunk_bytes(std::string_view bytes);
  void end_header_line(Payload& p, std::uint64_t line_octets) const;
  void finish_message(Instant now, bool chunked);
  std::optional<Reply> payload_refusal() const;

  // The command table's checks and effects.
  std::optional<Reply> check_any(const CommandLine&);
  std::optional<Reply> check_no_argument(const CommandLine&);
  std::optional<Reply> check_helo(const CommandLine&);
  std::optional<Reply> check_mail(const CommandLine&);
  std::optional<Reply> check_rcpt(const CommandLine&);
  std::optional<Reply> check_data(const CommandLine&);
  std::optional<Reply> check_vrfy(const CommandLine&);
  std::optional<Reply> check_starttls(const CommandLine&);
  std::optional<Reply> check_auth(const CommandLine&);
  std::optional<Reply> check_not_implemented(const CommandLine&);
  void do_ehlo(Instant, const CommandLine&);
  void do_helo(Instant, const CommandLine&);
  void do_mail(Instant, const CommandLine&);
  void do_rcpt(Instant, const CommandLine&);
  void do_data(Instant, const CommandLine&);
  void do_bdat(Instant, const CommandLine&);
  void do_rset(Instant, const CommandLine&);
  void do_noop(Instant, const CommandLine&);
  void do_quit(Instant, const CommandLine&);
  void do_vrfy(Instant, const CommandLine&);
  void do_help(Instant, const CommandLine&);
  void do_starttls(Instant, const CommandLine&);
  void do_auth(Instant, const CommandLine&);
  void do_nothing(Instant, const CommandLine&);
  void finish_auth(Instant now, std::string_view user, std::string_view password);

  ServerConfig config_;
  Policy& policy_;
  ServerState state_ = ServerState::connecting;
  Instant deadline_ = never;

  std::string in_;
  std::size_t in_start_ = 0;
  std::string out_;
  std::deque<ServerEvent> events_;
  bool skipping_long_line_ = false;
  bool input_overflow_ = false;
  std::size_t errors_ = 0;
  std::uint64_t lines_sent_ = 0;
  std::size_t junk_commands_ = 0;
  bool pregreet_ = false;
  bool message_by_data_ = false;  // the message being stored ended with <CRLF>.<CRLF>
  // The error delay: replies held back until release_at_, and how many events
  // ahead of them may be polled meanwhile (none behind them).
  std::string delayed_out_;
  Instant release_at_ = never;
  std::optional<std::size_t> pollable_events_;

  bool tls_active_ = false;
  bool esmtp_ = false;
  std::string helo_name_;
  std::string user_;
  SaslStep sasl_step_ = SaslStep::plain_response;
  std::string sasl_login_user_;

  // The transaction.
  mail::Address reverse_path_;
  std::vector<mail::Address> forward_paths_;
  BodyType body_ = BodyType::seven_bit;
  bool smtputf8_ = false;
  std::optional<std::uint64_t> declared_size_;
  bool bdat_started_ = false;
  bool bdat_last_ = false;
  std::uint64_t chunk_remaining_ = 0;
  std::uint64_t chunk_octets_ = 0;
  std::uint64_t discard_remaining_ = 0;  // a refused BDAT chunk, read and dropped
  std::optional<Reply> discard_reply_;
  Payload payload_;
  // The message content's per-request deadline (see the theory of operation):
  // open from DATA or the first BDAT until the message is complete or dropped.
  Instant request_start_ = never;
  std::uint64_t request_octets_ = 0;  // received since, command lines between BDAT chunks included
};

}  // namespace maillab::net::smtp
