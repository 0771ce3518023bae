// POP3 client engine, sans-I/O: what the simulated MUA speaks (RFC 1939,
// RFC 2449 CAPA, RFC 2595 STLS, RFC 5034 AUTH).
//
// Theory of operation.  One engine runs one fetch: it reads the greeting, asks
// CAPA, upgrades with STLS when the policy wants it (and asks CAPA again
// inside TLS, RFC 2595 §4), logs in (USER/PASS, APOP with the greeting's
// timestamp, or AUTH PLAIN with an initial response), then STAT, UIDL, RETR of
// every message whose UIDL is not in the config's known set, DELE after each
// RETR in delete mode, and QUIT.  The lesson "POP3 vs IMAP: one deletes, one
// keeps" is the `mode` knob; deletions take effect only once QUIT is answered
// +OK (the server's UPDATE state, RFC 1939 §6), so the summary counts them
// only then.  Commands are sent one at a time (no pipelining).  States:
//
//   GREETING -> CAPA -> [STLS -> TLS HANDSHAKE -> CAPA] -> LOGIN -> STAT
//     -> UIDL -> (RETR [-> DELE])* -> QUIT -> DONE
//
// Any state may go to QUIT (login failed, STLS required but missing) or to
// DONE (the connection broke, a reply timed out, the server misbehaved).
// Every retrieved message is a RetrievedEvent with the message un-stuffed; a
// final line stored without CRLF is given back without it (the "+OK n octets"
// size tells the two apart).  The run ends with one SummaryEvent.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "net/core/engine.hpp"
#include "net/core/time.hpp"
#include "net/pop3/pop3_codec.hpp"
#include "net/pop3/pop3_events.hpp"

namespace maillab::net::pop3 {

enum class LoginMethod : std::uint8_t { user_pass, apop, sasl_plain };
enum class StlsPolicy : std::uint8_t { never, if_available, required };
enum class RetrieveMode : std::uint8_t { keep, delete_after_retrieve };

struct ClientConfig {
  std::string user;  // full address
  std::string password;
  LoginMethod method = LoginMethod::user_pass;
  StlsPolicy stls = StlsPolicy::if_available;
  RetrieveMode mode = RetrieveMode::keep;
  bool tls_active = false;  // implicit TLS (pop3s)
  std::set<std::string, std::less<>> known_uidls;  // already downloaded: not fetched again
  std::size_t line_bytes_max = 1 << 20;
  std::uint64_t message_bytes_max = std::uint64_t{64} << 20;
  Duration reply_timeout = std::chrono::minutes(2);
  LineEventOptions line_events;
};

enum class ClientState : std::uint8_t {
  greeting, capa, stls, tls_handshake, login, stat, uidl, retr, dele, quit, done
};
inline constexpr std::size_t kClientStateCount = 11;

struct RetrievedEvent {
  std::uint32_t number = 0;
  std::string uidl;     // empty when the server has no UIDL
  std::string message;  // the message as stored on the server
};

struct LoginFailedEvent {
  std::string reply;  // the server's -ERR line (or why the client gave up)
};

struct SummaryEvent {
  bool ok = false;
  std::uint32_t messages_on_server = 0;  // from STAT
  std::uint32_t retrieved = 0;
  std::uint32_t skipped_known = 0;
  std::uint32_t deleted = 0;  // committed by QUIT's +OK
  std::string error;          // empty when ok
};

using ClientEvent = std::variant<LineEvent, StateEvent, StartTlsEvent, CloseEvent, BodyEvent,
                                 RetrievedEvent, LoginFailedEvent, SummaryEvent>;

class Client {
 public:
  Client(ClientConfig config, Instant now);

  void handle_bytes(Instant now, std::string_view bytes);
  void handle_timeout(Instant now);
  void handle_close(Instant now);
  void handle_tls_established(Instant now);

  [[nodiscard]] std::string poll_transmit();
  [[nodiscard]] std::optional<ClientEvent> poll_event();
  [[nodiscard]] Instant poll_timeout() const;

  [[nodiscard]] ClientState state() const { return state_; }
  [[nodiscard]] static std::string_view state_name(ClientState state);
  [[nodiscard]] bool tls_active() const { return tls_active_; }
  // Lines this engine has sent (replies or commands, each CRLF-ended line once).
  [[nodiscard]] std::uint64_t lines_sent() const { return lines_sent_; }
  [[nodiscard]] bool sent_line_events() const { return config_.line_events.sent; }

 private:
  enum class Step : std::uint8_t { none, greeting, capa, stls, user, pass, apop, auth, auth_continue,
                                   stat, uidl, retr, dele, quit };
  struct Work {
    std::uint32_t number = 0;
    std::string uidl;
  };

  void enter_state(ClientState next);
  void send(std::string_view line);
  void expect(Step step, bool multiline);
  void on_status(const std::string& line);
  void on_body_line(std::string_view line);
  void on_body_end();
  void after_capa();
  void start_login();
  void login_failed(std::string reply);
  void next_message();
  void quit(std::string error);
  void finish(std::string error, bool committed = false);

  ClientConfig config_;
  std::uint64_t lines_sent_ = 0;
  ClientState state_ = ClientState::greeting;
  bool tls_active_ = false;
  LineReader reader_;
  std::string out_;
  std::deque<ClientEvent> events_;
  Instant deadline_{};

  Step step_ = Step::greeting;
  bool multiline_ = false;  // the current command answers with a body after +OK
  bool in_body_ = false;
  std::string body_;
  std::uint32_t body_lines_ = 0;
  std::optional<std::uint64_t> size_hint_;  // "+OK n octets"

  std::string timestamp_;  // APOP, from the greeting
  std::vector<std::string> capabilities_;
  std::uint32_t messages_on_server_ = 0;
  std::vector<Work> work_;
  std::size_t work_next_ = 0;
  std::uint32_t retrieved_ = 0;
  std::uint32_t skipped_known_ = 0;
  std::uint32_t marked_ = 0;
  std::string error_;  // why the run is quitting early
};

}  // namespace maillab::net::pop3
