// IMAP4rev1 server engine (RFC 3501), sans-I/O (net/core/engine.hpp contract).
//
// States (RFC 3501 §3), every change through enter_state() and kServerTransitions:
//   not authenticated --LOGIN/AUTHENTICATE--> authenticated --SELECT/EXAMINE--> selected
//   selected --CLOSE/UNSELECT/failed SELECT--> authenticated;  any --LOGOUT/BYE--> logout
// Two sub-modes pause normal command reading: an AUTHENTICATE exchange waiting
// for the client's response line (RFC 3501 §6.2.2) and IDLE waiting for DONE
// (RFC 2177).  After STARTTLS (RFC 3501 §6.2.1, RFC 2595) the engine emits
// StartTlsEvent, throws away pipelined plaintext and reads nothing until
// handle_tls_established().
//
// Commands: CAPABILITY NOOP LOGOUT STARTTLS LOGIN AUTHENTICATE(PLAIN, SASL-IR
// RFC 4959) SELECT EXAMINE CREATE DELETE RENAME SUBSCRIBE UNSUBSCRIBE LIST LSUB
// STATUS APPEND CHECK CLOSE UNSELECT(RFC 3691) EXPUNGE SEARCH FETCH STORE COPY
// MOVE(RFC 6851) UID(FETCH STORE COPY MOVE SEARCH EXPUNGE, RFC 4315) IDLE
// NAMESPACE(RFC 2342) ENABLE(RFC 5161) ID(RFC 2971).  LITERAL+ (RFC 7888),
// UIDPLUS response codes APPENDUID/COPYUID, SPECIAL-USE (RFC 6154) and CHILDREN
// (RFC 3348) attributes in LIST.
//
// Security (docs: security catalogue rows 33-48): literal sizes are decided
// before "+" is sent and before anything is allocated; cleartext LOGIN and
// AUTHENTICATE are refused with NO [PRIVACYREQUIRED] unless TLS is active or
// the config allows it (LOGINDISABLED is advertised then); failed logins are
// answered only after a growing delay; mailbox names are decoded strictly from
// modified UTF-7 and validated before they reach the store; every store call
// carries the logged-in user, so nobody reaches another user's tree.  A
// session that earns `preauth_bad_commands_max` BAD replies before login (3,
// Dovecot imap-login), or `bad_commands_max` after it (20, counted from the
// login on), gets "* BYE Too many invalid IMAP commands." and is closed
// (RFC 9051 §7.1.5: BYE, then the server closes the connection).
//
// Mailbox changes made by other sessions or deliveries reach this session when
// the driver calls handle_store_changed(): EXISTS and FETCH (FLAGS) at once;
// EXPUNGE at once during IDLE, otherwise at the end of the next command other
// than FETCH, STORE or SEARCH (RFC 3501 §7.4.1).  \Recent is not tracked:
// RECENT is always 0.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "net/core/credentials.hpp"
#include "net/core/engine.hpp"
#include "net/core/time.hpp"
#include "net/imap/imap_parser.hpp"
#include "net/mail/mail_store.hpp"

namespace maillab::net::imap {

enum class ServerState : std::uint8_t { not_authenticated, authenticated, selected, logout };

inline constexpr std::array<std::string_view, 4> kServerStateNames{"not authenticated", "authenticated",
                                                                   "selected", "logout"};

// The authenticated sessions of each user, counted across connections by the
// driver (catalogue row 43; Dovecot mail_max_userip_connections).  The engine
// asks at LOGIN/AUTHENTICATE and gives its session back at logout or when it
// is destroyed; a refusal is "NO [LIMIT]" (RFC 9051 §7.1) and the connection
// stays usable.
class UserSessions {
 public:
  virtual ~UserSessions() = default;
  // False when `user` already has as many sessions as allowed.
  virtual bool try_open(std::string_view user) = 0;
  virtual void close(std::string_view user) = 0;
};

struct ServerConfig {
  std::string hostname = "imap.lab.test";
  ParserLimits limits{};
  std::size_t preauth_line_bytes_max = 8 * 1024;  // before login (Dovecot; RFC 7162 §4 asks >= 8192)
  bool implicit_tls = false;           // port 993: TLS before the greeting (RFC 8314)
  bool starttls_offered = true;
  bool allow_cleartext_auth = false;   // LOGIN/AUTHENTICATE without TLS
  bool literal_plus = true;            // LITERAL+; false: LITERAL- (RFC 7888 §5)
  std::uint64_t append_bytes_max = 32ull * 1024 * 1024;
  Duration preauth_timeout{std::chrono::minutes(3)};
  Duration autologout{std::chrono::minutes(30)};   // RFC 3501 §5.4: at least 30 minutes
  Duration idle_keepalive{std::chrono::minutes(2)};  // "* OK Still here" during IDLE (catalogue row 43)
  Duration auth_failure_delay{std::chrono::seconds(2)};
  Duration auth_failure_delay_max{std::chrono::seconds(15)};
  // Commands answered BAD before the session ends with "* BYE" (RFC 9051 §7.1.5; catalogue row 44):
  // Dovecot's imap-login allows 3 before login, its imap process 20 after, counted afresh.
  std::uint32_t preauth_bad_commands_max = 3;
  std::uint32_t bad_commands_max = 20;
  std::int64_t unix_epoch_offset_s = 0;  // Unix time at Instant{0}, for APPEND's default date
  UserSessions* user_sessions = nullptr;  // the driver's; nullptr: no cap per user
};

// A literal's payload crossed the wire (it is summarised, not shown line by line).
struct LiteralEvent {
  Direction dir = Direction::client_to_server;
  std::uint64_t bytes = 0;
};
struct LoginEvent {
  std::string user;
  bool ok = false;
};

using ServerEvent = std::variant<LineEvent, LiteralEvent, StateEvent, StartTlsEvent, CloseEvent, LoginEvent>;

class ImapServer {
 public:
  ImapServer(ServerConfig config, const CredentialChecker& credentials, mail::MailStore& store, Instant now);
  ~ImapServer();
  ImapServer(const ImapServer&) = delete;
  ImapServer& operator=(const ImapServer&) = delete;

  void handle_bytes(Instant now, std::string_view bytes);
  void handle_timeout(Instant now);
  void handle_close(Instant now);
  void handle_tls_established(Instant now);
  // The store's change_counter() moved: report EXISTS/EXPUNGE/FETCH as allowed.
  void handle_store_changed(Instant now);

  std::string poll_transmit();
  std::optional<ServerEvent> poll_event();
  [[nodiscard]] Instant poll_timeout() const;

  [[nodiscard]] ServerState state() const;
  [[nodiscard]] const std::string& user() const;  // "" until logged in
  [[nodiscard]] bool tls_active() const;
  [[nodiscard]] bool idling() const;
  [[nodiscard]] bool closed() const;

 private:
  struct Session;
  std::unique_ptr<Session> s_;
};

}  // namespace maillab::net::imap
