// POP3 server engine, sans-I/O (RFC 1939; CAPA and response codes RFC 2449;
// STLS RFC 2595; AUTH RFC 5034; [AUTH]/[SYS/TEMP] codes RFC 3206).
//
// Theory of operation.  One engine per connection.  The constructor queues the
// greeting "+OK <host> POP3 ready <timestamp>", where the APOP timestamp comes from
// the driver's config (the engine has no clock and no randomness).  States:
//
//   AUTHORIZATION (RFC 1939 §4)  CAPA, STLS, AUTH, USER/PASS, APOP, QUIT only.
//   AUTHORIZATION (SASL)         waiting for the client's AUTH response line
//                                (RFC 5034 §4; "*" cancels).
//   STLS HANDSHAKE               after "+OK Begin TLS negotiation": every byte
//                                pipelined behind STLS and everything until
//                                handle_tls_established() is thrown away
//                                (CVE-2011-0411); then back to AUTHORIZATION
//                                with no user remembered (RFC 2595 §4).
//   TRANSACTION (RFC 1939 §5)    STAT, LIST, RETR, TOP, DELE, RSET, NOOP, UIDL,
//                                CAPA, QUIT.  The maildrop (the user's INBOX in
//                                the MailStore) is locked and snapshotted at
//                                login; message numbers never change during the
//                                session; DELE only marks.
//   UPDATE (RFC 1939 §6)         entered only by QUIT from TRANSACTION: the
//                                marked messages are expunged from the store.
//   CLOSED                       sticky; input is ignored.
//
// A dropped connection, an autologout (idle timeout, RFC 1939 §3: at least
// 10 minutes), too many bad commands or the driver's shutdown() closes the
// session without UPDATE, so nothing is deleted.  Cleartext USER/PASS and
// AUTH PLAIN are refused with "-ERR [AUTH]" unless TLS is active or the config
// allows cleartext (RFC 2595 §4 lets a server require TLS first); APOP never
// sends the password and is allowed either way; CAPA lists USER and SASL
// PLAIN only where they would be accepted (Dovecot does the same).  A failed
// login is answered only after auth_failure_delay (Dovecot: 2 s) and no
// further command is read until then; the answer comes from handle_timeout(),
// so a driver must honour poll_timeout().  Every state change goes through
// enter_state(), checked against a constexpr transition table, and is
// reported as a StateEvent.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "net/core/credentials.hpp"
#include "net/core/engine.hpp"
#include "net/core/time.hpp"
#include "net/mail/mail_store.hpp"
#include "net/pop3/pop3_codec.hpp"
#include "net/pop3/pop3_events.hpp"
#include "net/pop3/pop3_lock.hpp"

namespace maillab::net::pop3 {

enum class ServerState : std::uint8_t { authorization, sasl, starttls, transaction, update, closed };
inline constexpr std::size_t kServerStateCount = 6;

struct ServerConfig {
  std::string host_name = "pop3.lab.test";
  // The APOP timestamp "<process-id.clock@hostname>" (RFC 1939 §7), chosen by
  // the driver; empty: no timestamp in the greeting and APOP is refused.
  std::string apop_timestamp;
  std::string mailbox = "INBOX";
  std::string implementation = "maillab";
  bool tls_available = false;         // the driver can run STLS
  bool tls_active = false;            // implicit TLS (pop3s, RFC 8314)
  bool allow_cleartext_auth = false;  // USER/PASS and AUTH PLAIN without TLS
  std::size_t line_bytes_max = 2048;  // RFC 2449 §4 says 255; we are lenient up to this
  std::uint32_t bad_commands_max_unauthenticated = 3;  // Dovecot pop3-login
  std::uint32_t bad_commands_max = 20;                 // Dovecot pop3
  std::uint32_t auth_failures_max = 3;
  // A failed login is answered only after this delay, and input waits
  // meanwhile (Dovecot auth_failure_delay 2 s): it slows password guessing.
  Duration auth_failure_delay = std::chrono::seconds(2);
  Duration idle_timeout = std::chrono::minutes(10);   // RFC 1939 §3 minimum
  LineEventOptions line_events;
};

// A login attempt and its outcome.
struct LoginEvent {
  std::string user;
  std::string method;  // "USER/PASS", "APOP", "AUTH PLAIN"
  bool ok = false;
  std::string reason;  // for failures: "bad credentials", "in use", ...
};

// The UPDATE state ran (RFC 1939 §6): these UIDs were expunged from the store.
struct UpdateEvent {
  std::string user;
  std::vector<std::uint32_t> expunged_uids;
  bool ok = false;
};

using ServerEvent =
    std::variant<LineEvent, StateEvent, StartTlsEvent, CloseEvent, BodyEvent, LoginEvent, UpdateEvent>;

class Server {
 public:
  // The store, credentials and locks belong to the driver and must outlive the engine.
  Server(ServerConfig config, mail::MailStore& store, const CredentialChecker& credentials,
         MaildropLocks& locks, Instant now);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  void handle_bytes(Instant now, std::string_view bytes);
  void handle_timeout(Instant now);
  void handle_close(Instant now);
  void handle_tls_established(Instant now);
  // The driver is stopping: "-ERR [SYS/TEMP]" and close, without UPDATE.
  void shutdown(Instant now);

  [[nodiscard]] std::string poll_transmit();
  [[nodiscard]] std::optional<ServerEvent> poll_event();
  [[nodiscard]] Instant poll_timeout() const;

  [[nodiscard]] ServerState state() const { return state_; }
  [[nodiscard]] static std::string_view state_name(ServerState state);
  [[nodiscard]] bool tls_active() const { return tls_active_; }
  // Lines this engine has sent (replies or commands, each CRLF-ended line once).
  [[nodiscard]] std::uint64_t lines_sent() const { return lines_sent_; }
  [[nodiscard]] bool sent_line_events() const { return config_.line_events.sent; }
  [[nodiscard]] const std::string& user() const { return user_; }  // once logged in

 private:
  struct Command;
  struct Entry {
    std::uint32_t uid = 0;
    std::uint64_t size = 0;
    bool deleted = false;
  };

  static const Command* find_command(std::string_view verb);
  void enter_state(ServerState next);
  void process_input();
  void process_line(const std::string& line);
  void process_sasl_response(std::string_view line);
  void leave_sasl();
  void reply(std::string_view line);
  void reply_multiline(std::string_view status, std::string_view what, const StuffedBody& body);
  void bad_command(std::string_view reply_text);
  void close(std::string reason);
  void release_lock();
  [[nodiscard]] bool cleartext_auth_allowed() const;
  void refuse_cleartext();
  void authenticate(const std::string& user, std::string_view method);
  void auth_failed(const std::string& user, std::string_view method);
  // The message for a RETR/TOP/LIST/UIDL/DELE argument, or nullptr after an -ERR reply.
  Entry* message_argument(std::string_view arg);
  [[nodiscard]] std::size_t number_of(const Entry& entry) const;
  [[nodiscard]] std::uint32_t live_count() const;
  [[nodiscard]] std::uint64_t live_octets() const;

  void cmd_capa(const CommandLine& command);
  void cmd_stls(const CommandLine& command);
  void cmd_auth(const CommandLine& command);
  void cmd_user(const CommandLine& command);
  void cmd_pass(const CommandLine& command);
  void cmd_apop(const CommandLine& command);
  void cmd_quit(const CommandLine& command);
  void cmd_stat(const CommandLine& command);
  void cmd_list(const CommandLine& command);
  void cmd_retr(const CommandLine& command);
  void cmd_top(const CommandLine& command);
  void cmd_dele(const CommandLine& command);
  void cmd_rset(const CommandLine& command);
  void cmd_noop(const CommandLine& command);
  void cmd_uidl(const CommandLine& command);

  ServerConfig config_;
  mail::MailStore& store_;
  const CredentialChecker& credentials_;
  MaildropLocks& locks_;

  ServerState state_ = ServerState::authorization;
  bool tls_active_ = false;
  std::uint64_t lines_sent_ = 0;
  LineReader reader_;
  std::string out_;
  std::deque<ServerEvent> events_;
  Instant last_activity_{};
  Instant now_{};

  // A failed login's reply held back for auth_failure_delay.
  bool held_ = false;
  Instant held_until_{};
  std::string held_reply_;
  bool held_close_ = false;

  std::string pending_user_;  // from USER, waiting for PASS
  std::string user_;          // logged in
  bool lock_held_ = false;
  std::uint32_t bad_commands_ = 0;
  std::uint32_t auth_failures_ = 0;
  std::uint32_t uid_validity_ = 0;
  std::vector<Entry> messages_;
};

}  // namespace maillab::net::pop3
