// IMAP client engine for the simulated MUA, sans-I/O (net/core/engine.hpp).
//
// One scripted session, every step a state changed through enter_state() and
// kClientTransitions:
//   greeting -> capability -> [starttls -> tls handshake -> capability]
//     -> authenticating (LOGIN, or AUTHENTICATE PLAIN with SASL-IR, RFC 4959)
//     -> selecting (SELECT INBOX, RFC 3501 §6.3.1: UIDVALIDITY)
//     -> searching (UID SEARCH UID n:*, §6.4.4)
//     -> fetching  (UID FETCH set (UID FLAGS BODY.PEEK[]), §6.4.5)
//     -> [storing  (UID STORE set +FLAGS.SILENT (\Seen), §6.4.6)]
//     -> logging out -> done;  any -> failed (with a reason) on NO/BAD/BYE or timeout.
// Responses are framed by the same CommandReader as commands (literals {n}
// are accepted up to message_bytes_max) and parsed with parse_values.  Each
// fetched message is an event; so is the end of the session.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "net/core/engine.hpp"
#include "net/core/time.hpp"
#include "net/imap/imap_parser.hpp"
#include "net/imap/imap_server.hpp"
#include "net/mail/mail_store.hpp"

namespace maillab::net::imap {

enum class ClientState : std::uint8_t {
  greeting, capability, starttls, tls_handshake, authenticating, selecting, searching, fetching, storing,
  logging_out, done, failed
};

inline constexpr std::array<std::string_view, 12> kClientStateNames{
    "greeting", "capability", "starttls", "tls handshake", "authenticating", "selecting",
    "searching", "fetching", "storing", "logging out", "done", "failed"};

struct ClientConfig {
  std::string user;
  std::string password;
  bool starttls = true;            // insist on STARTTLS when not already on TLS
  bool implicit_tls = false;       // port 993: the driver runs TLS from the start
  bool use_authenticate = true;    // AUTHENTICATE PLAIN; false: LOGIN
  bool mark_seen = false;          // UID STORE +FLAGS.SILENT (\Seen) after fetching
  std::string mailbox = "INBOX";
  std::uint32_t uid_validity = 0;  // what the MUA saw last time (0: never)
  std::uint32_t last_uid = 0;      // fetch only UIDs above this (when UIDVALIDITY is unchanged)
  std::uint64_t message_bytes_max = 64ull * 1024 * 1024;
  Duration response_timeout{std::chrono::seconds(60)};
};

struct FetchedMessage {
  std::uint32_t uid = 0;
  std::uint32_t uid_validity = 0;
  mail::Flags flags;
  std::string data;
};

struct ClientFinished {
  bool ok = false;
  std::string reason;
  std::uint32_t uid_validity = 0;
  std::uint32_t highest_uid = 0;  // the MUA's new last_uid
};

using ClientEvent = std::variant<LineEvent, LiteralEvent, StateEvent, StartTlsEvent, CloseEvent, FetchedMessage,
                                 ClientFinished>;

class ImapClient {
 public:
  ImapClient(ClientConfig config, Instant now);

  void handle_bytes(Instant now, std::string_view bytes);
  void handle_timeout(Instant now);
  void handle_close(Instant now);
  void handle_tls_established(Instant now);

  std::string poll_transmit();
  std::optional<ClientEvent> poll_event();
  [[nodiscard]] Instant poll_timeout() const;

  [[nodiscard]] ClientState state() const { return state_; }

 private:
  void enter_state(ClientState next);
  void send(const std::string& line);
  void command(const std::string& text);
  void on_response(const RawCommand& raw);
  void on_tagged(std::string_view status, std::string_view text);
  void on_untagged(const RawCommand& raw, std::string_view line);
  void fail(std::string reason);
  void finish();
  void after_capability();
  void authenticate();

  ClientConfig cfg_;
  ClientState state_ = ClientState::greeting;
  CommandReader reader_;
  std::string out_;
  std::deque<ClientEvent> events_;
  std::string capabilities_;
  std::string pending_tag_;
  std::uint32_t tag_counter_ = 0;
  bool tls_ = false;
  bool closed_ = false;
  Instant deadline_ = never;
  Instant now_{};
  std::uint32_t uid_validity_ = 0;
  std::vector<std::uint32_t> uids_;
  std::uint32_t highest_uid_ = 0;
};

}  // namespace maillab::net::imap
