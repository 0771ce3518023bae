#include "net/pop3/pop3_server.hpp"

#include <algorithm>
#include <array>
#include <cassert>
#include <utility>

#include "net/core/sasl.hpp"

namespace maillab::net::pop3 {

namespace {

constexpr std::uint8_t bit(ServerState state) {
  return static_cast<std::uint8_t>(1U << static_cast<unsigned>(state));
}

constexpr std::array<std::string_view, kServerStateCount> kStateNames = {
    "AUTHORIZATION", "AUTHORIZATION (SASL)", "STLS HANDSHAKE", "TRANSACTION", "UPDATE", "CLOSED",
};

// kTransitions[from] = the states `from` may move to.
constexpr std::array<std::uint8_t, kServerStateCount> kTransitions = {
    /* authorization */ bit(ServerState::sasl) | bit(ServerState::starttls) |
        bit(ServerState::transaction) | bit(ServerState::closed),
    /* sasl */ bit(ServerState::authorization) | bit(ServerState::transaction) |
        bit(ServerState::closed),
    /* starttls */ bit(ServerState::authorization) | bit(ServerState::closed),
    /* transaction */ bit(ServerState::update) | bit(ServerState::closed),
    /* update */ bit(ServerState::closed),
    /* closed */ 0,
};

constexpr std::uint8_t kAuthorization = bit(ServerState::authorization);
constexpr std::uint8_t kTransaction = bit(ServerState::transaction);

std::string octets_text(std::uint32_t count, std::uint64_t octets) {
  return std::to_string(count) + (count == 1 ? " message (" : " messages (") + std::to_string(octets) +
         " octets)";
}

}  // namespace

// The command table (OpenSMTPD smtp_session.c style): the generic check is
// the state mask and the argument count; `proceed` does the rest.
struct Server::Command {
  std::string_view verb;
  std::uint8_t states;
  std::uint8_t args_min;
  std::uint8_t args_max;
  void (Server::*proceed)(const CommandLine&);
};

const Server::Command* Server::find_command(std::string_view verb) {
  static constexpr std::array<Command, 15> kCommands = {{
      {"CAPA", kAuthorization | kTransaction, 0, 0, &Server::cmd_capa},  // RFC 2449 §5
      {"STLS", kAuthorization, 0, 0, &Server::cmd_stls},                  // RFC 2595 §4
      {"AUTH", kAuthorization, 0, 2, &Server::cmd_auth},                  // RFC 5034 §4
      {"USER", kAuthorization, 1, 1, &Server::cmd_user},                  // RFC 1939 §7
      {"PASS", kAuthorization, 1, 255, &Server::cmd_pass},                // RFC 1939 §7
      {"APOP", kAuthorization, 2, 2, &Server::cmd_apop},                  // RFC 1939 §7
      {"QUIT", kAuthorization | kTransaction, 0, 0, &Server::cmd_quit},   // RFC 1939 §5, §6
      {"STAT", kTransaction, 0, 0, &Server::cmd_stat},                    // RFC 1939 §5
      {"LIST", kTransaction, 0, 1, &Server::cmd_list},
      {"RETR", kTransaction, 1, 1, &Server::cmd_retr},
      {"TOP", kTransaction, 2, 2, &Server::cmd_top},                      // RFC 1939 §7
      {"DELE", kTransaction, 1, 1, &Server::cmd_dele},
      {"RSET", kTransaction, 0, 0, &Server::cmd_rset},
      {"NOOP", kTransaction, 0, 0, &Server::cmd_noop},
      {"UIDL", kTransaction, 0, 1, &Server::cmd_uidl},                    // RFC 1939 §7
  }};
  for (const Command& command : kCommands) {
    if (command.verb == verb) return &command;
  }
  return nullptr;
}

Server::Server(ServerConfig config, mail::MailStore& store, const CredentialChecker& credentials,
               MaildropLocks& locks, Instant now)
    : config_(std::move(config)),
      store_(store),
      credentials_(credentials),
      locks_(locks),
      tls_active_(config_.tls_active),
      reader_(config_.line_bytes_max),
      last_activity_(now),
      now_(now) {
  std::string greeting = "+OK " + config_.host_name + " POP3 ready";  // RFC 1939 §4
  if (!config_.apop_timestamp.empty()) greeting += " " + config_.apop_timestamp;
  reply(greeting);
}

Server::~Server() { release_lock(); }

std::string_view Server::state_name(ServerState state) {
  return kStateNames[static_cast<std::size_t>(state)];
}

void Server::enter_state(ServerState next) {
  const bool allowed = (kTransitions[static_cast<std::size_t>(state_)] & bit(next)) != 0;
  assert(allowed && "pop3 server: transition not in the table");
  (void)allowed;
  events_.emplace_back(StateEvent{state_name(state_), state_name(next)});
  state_ = next;
}

void Server::handle_bytes(Instant now, std::string_view bytes) {
  if (state_ == ServerState::closed || state_ == ServerState::update) return;
  last_activity_ = now;
  if (state_ == ServerState::starttls) {
    // Plaintext between "+OK Begin TLS negotiation" and the handshake: injected.
    events_.emplace_back(BodyEvent{Direction::client_to_server,
                                   "plaintext discarded after STLS (CVE-2011-0411)", 0, bytes.size(),
                                   false});
    return;
  }
  now_ = now;
  reader_.append(bytes);
  if (held_ && reader_.buffered() > config_.line_bytes_max * 4) {
    // A client flooding us while its failed login is held back.
    close("input flood during the authentication failure delay");
    return;
  }
  process_input();
}

void Server::process_input() {
  std::string line;
  while (!held_ && state_ != ServerState::closed && state_ != ServerState::starttls) {
    const auto status = reader_.next(line);
    if (status == LineReader::Status::need_more) break;
    if (status == LineReader::Status::too_long) {
      bad_command("-ERR Line too long (RFC 2449 §4)");
      continue;
    }
    if (config_.line_events.peer) events_.emplace_back(LineEvent{Direction::client_to_server, line, tls_active_});
    if (state_ == ServerState::sasl) {
      process_sasl_response(line);
    } else {
      process_line(line);
    }
  }
  if (state_ == ServerState::starttls) {
    const std::size_t dropped = reader_.clear();
    if (dropped > 0) {
      events_.emplace_back(BodyEvent{Direction::client_to_server,
                                     "plaintext discarded after STLS (CVE-2011-0411)", 0, dropped,
                                     false});
    }
  }
}

void Server::handle_timeout(Instant now) {
  if (state_ == ServerState::closed || now < poll_timeout()) return;
  now_ = now;
  if (held_ && now >= held_until_) {
    held_ = false;
    reply(held_reply_);
    if (held_close_) {
      close("too many authentication failures");
      return;
    }
    process_input();
    return;
  }
  // RFC 1939 §3: the autologout timer closes the session without UPDATE.
  if (state_ != ServerState::starttls) reply("-ERR autologout: idle for too long (RFC 1939 §3)");
  close("idle timeout");
}

void Server::handle_close(Instant /*now*/) {
  if (state_ == ServerState::closed) return;
  // RFC 1939 §6: without QUIT there is no UPDATE state, so nothing is deleted.
  release_lock();
  enter_state(ServerState::closed);
}

void Server::handle_tls_established(Instant now) {
  if (state_ == ServerState::closed) return;  // the session ended while the handshake ran
  assert(state_ == ServerState::starttls && "pop3 server: TLS established without STLS");
  last_activity_ = now;
  tls_active_ = true;
  pending_user_.clear();
  enter_state(ServerState::authorization);
}

void Server::shutdown(Instant /*now*/) {
  if (state_ == ServerState::closed) return;
  // The lab server is stopping (catalogue row 61): say so, and do not run UPDATE.
  if (state_ != ServerState::starttls) {
    reply("-ERR [SYS/TEMP] Server shutting down, no changes made (RFC 3206 §5)");
  }
  close("server shutdown");
}

std::string Server::poll_transmit() { return std::exchange(out_, {}); }

std::optional<ServerEvent> Server::poll_event() {
  if (events_.empty()) return std::nullopt;
  ServerEvent event = std::move(events_.front());
  events_.pop_front();
  return event;
}

Instant Server::poll_timeout() const {
  if (state_ == ServerState::closed) return never;
  const Instant idle = last_activity_ + config_.idle_timeout;
  return held_ ? std::min(held_until_, idle) : idle;
}

void Server::reply(std::string_view line) {
  out_ += line;
  out_ += "\r\n";
  ++lines_sent_;
  if (config_.line_events.sent) events_.emplace_back(LineEvent{Direction::server_to_client, std::string(line), tls_active_});
}

void Server::reply_multiline(std::string_view status, std::string_view what, const StuffedBody& body) {
  reply(status);
  out_ += body.bytes;
  out_ += ".\r\n";
  events_.emplace_back(
      BodyEvent{Direction::server_to_client, std::string(what), body.lines, body.bytes.size(), tls_active_});
}

void Server::bad_command(std::string_view reply_text) {
  ++bad_commands_;
  const std::uint32_t limit =
      user_.empty() ? config_.bad_commands_max_unauthenticated : config_.bad_commands_max;
  if (bad_commands_ >= limit) {
    reply("-ERR Too many bad commands, closing the connection");
    close("too many bad commands");
    return;
  }
  reply(reply_text);
}

void Server::close(std::string reason) {
  if (state_ == ServerState::closed) return;
  release_lock();
  enter_state(ServerState::closed);
  events_.emplace_back(CloseEvent{std::move(reason)});
}

void Server::release_lock() {
  if (!lock_held_) return;
  locks_.unlock(user_);
  lock_held_ = false;
}

void Server::process_line(const std::string& line) {
  const CommandLine command = split_command(line);
  const Command* spec = find_command(command.verb);
  if (spec == nullptr) {
    bad_command("-ERR Unknown command");
    return;
  }
  if ((spec->states & bit(state_)) == 0) {
    bad_command("-ERR " + std::string(spec->verb) + " is not allowed in the " +
                std::string(state_name(state_)) + " state (RFC 1939 §3)");
    return;
  }
  if (command.args.size() < spec->args_min || command.args.size() > spec->args_max) {
    bad_command("-ERR Syntax error in " + std::string(spec->verb) + " arguments");
    return;
  }
  (this->*(spec->proceed))(command);
}

// --- AUTHORIZATION -----------------------------------------------------------

bool Server::cleartext_auth_allowed() const { return tls_active_ || config_.allow_cleartext_auth; }

void Server::refuse_cleartext() {
  // RFC 2595 §4 lets the server require TLS; RFC 3206 §4 [AUTH].
  bad_command("-ERR [AUTH] Cleartext authentication refused: TLS required, use STLS first");
}

void Server::cmd_capa(const CommandLine& /*command*/) {
  std::string list = "TOP\r\nUIDL\r\n";
  if (state_ == ServerState::authorization && cleartext_auth_allowed()) list += "USER\r\nSASL PLAIN\r\n";
  list += "RESP-CODES\r\nAUTH-RESP-CODE\r\nPIPELINING\r\n";
  if (state_ == ServerState::authorization && config_.tls_available && !tls_active_) list += "STLS\r\n";
  list += "IMPLEMENTATION " + config_.implementation + "\r\n";
  reply_multiline("+OK Capability list follows", "capability list", dot_stuff(list));  // RFC 2449 §5
}

void Server::cmd_stls(const CommandLine& /*command*/) {
  if (tls_active_) {
    bad_command("-ERR TLS already active (RFC 2595 §4)");
    return;
  }
  if (!config_.tls_available) {
    bad_command("-ERR STLS not available");
    return;
  }
  reply("+OK Begin TLS negotiation");  // RFC 2595 §4
  enter_state(ServerState::starttls);
  events_.emplace_back(StartTlsEvent{});
}

void Server::cmd_auth(const CommandLine& command) {
  if (command.args.empty()) {
    // The pre-RFC 5034 probe some clients send: list the mechanisms (RFC 1734 era).
    const StuffedBody body = dot_stuff(cleartext_auth_allowed() ? "PLAIN\r\n" : "");
    reply_multiline("+OK SASL mechanisms follow", "SASL mechanisms", body);
    return;
  }
  std::string mechanism;
  for (const char c : command.args[0]) mechanism += (c >= 'a' && c <= 'z') ? static_cast<char>(c - 32) : c;
  if (mechanism != "PLAIN") {
    bad_command("-ERR [AUTH] Unsupported SASL mechanism (RFC 5034 §4)");
    return;
  }
  if (!cleartext_auth_allowed()) {
    refuse_cleartext();
    return;
  }
  if (command.args.size() == 2) {
    // RFC 5034 §4: "=" is an empty initial response.
    process_sasl_response(command.args[1] == "=" ? std::string_view{} : command.args[1]);
    return;
  }
  reply("+ ");  // RFC 5034 §4: an empty challenge
  enter_state(ServerState::sasl);
}

void Server::process_sasl_response(std::string_view line) {
  if (line == "*") {
    leave_sasl();
    reply("-ERR [AUTH] Authentication cancelled (RFC 5034 §4)");
    return;
  }
  const auto credentials = decode_sasl_plain(line);
  if (!credentials) {
    auth_failed({}, "AUTH PLAIN");
    return;
  }
  if (!credentials_.verify_password(credentials->user, credentials->password)) {
    auth_failed(credentials->user, "AUTH PLAIN");
    return;
  }
  authenticate(credentials->user, "AUTH PLAIN");
}

void Server::cmd_user(const CommandLine& command) {
  if (!cleartext_auth_allowed()) {
    refuse_cleartext();
    return;
  }
  pending_user_ = std::string(command.args[0]);
  reply("+OK");  // RFC 1939 §7: says nothing about whether the user exists
}

void Server::cmd_pass(const CommandLine& command) {
  if (!cleartext_auth_allowed()) {
    refuse_cleartext();
    return;
  }
  if (pending_user_.empty()) {
    bad_command("-ERR USER first (RFC 1939 §7)");
    return;
  }
  const std::string user = std::exchange(pending_user_, {});
  if (!credentials_.verify_password(user, command.rest)) {
    auth_failed(user, "USER/PASS");
    return;
  }
  authenticate(user, "USER/PASS");
}

void Server::cmd_apop(const CommandLine& command) {
  if (config_.apop_timestamp.empty()) {
    bad_command("-ERR APOP not available: the greeting carries no timestamp (RFC 1939 §7)");
    return;
  }
  const std::string user(command.args[0]);
  std::string digest(command.args[1]);
  for (char& c : digest) c = (c >= 'A' && c <= 'F') ? static_cast<char>(c + 32) : c;
  const auto secret = credentials_.shared_secret(user);
  if (!secret || digest != apop_digest(config_.apop_timestamp, *secret)) {
    auth_failed(user, "APOP");
    return;
  }
  authenticate(user, "APOP");
}

void Server::leave_sasl() {
  if (state_ == ServerState::sasl) enter_state(ServerState::authorization);
}

void Server::auth_failed(const std::string& user, std::string_view method) {
  leave_sasl();
  ++auth_failures_;
  events_.emplace_back(LoginEvent{user, std::string(method), false, "bad credentials"});
  const bool last = auth_failures_ >= config_.auth_failures_max;
  std::string text = last ? "-ERR [AUTH] Authentication failed; too many failures, closing the connection"
                          : "-ERR [AUTH] Authentication failed (RFC 3206 §4)";
  if (config_.auth_failure_delay > Duration::zero()) {
    // Dovecot's auth_failure_delay: the answer, and everything after it, waits.
    held_ = true;
    held_until_ = now_ + config_.auth_failure_delay;
    held_reply_ = std::move(text);
    held_close_ = last;
    return;
  }
  reply(text);
  if (last) close("too many authentication failures");
}

void Server::authenticate(const std::string& user, std::string_view method) {
  if (!locks_.try_lock(user)) {
    leave_sasl();
    events_.emplace_back(LoginEvent{user, std::string(method), false, "maildrop in use"});
    reply("-ERR [IN-USE] Mailbox is locked by another POP3 session.");  // RFC 2449 §8.1.2
    return;
  }
  const auto status = store_.status(user, config_.mailbox);
  auto metas = store_.messages(user, config_.mailbox);
  if (!status || !metas) {
    locks_.unlock(user);
    leave_sasl();
    events_.emplace_back(LoginEvent{user, std::string(method), false, "maildrop unavailable"});
    reply("-ERR [SYS/TEMP] Unable to open the maildrop (RFC 3206 §5)");
    return;
  }
  user_ = user;
  lock_held_ = true;
  uid_validity_ = status->uid_validity;
  messages_.clear();
  messages_.reserve(metas->size());
  for (const auto& meta : *metas) messages_.push_back(Entry{meta.uid, meta.size, false});
  bad_commands_ = 0;
  events_.emplace_back(LoginEvent{user, std::string(method), true, {}});
  enter_state(ServerState::transaction);
  reply("+OK Maildrop locked and ready, " + octets_text(live_count(), live_octets()));  // RFC 1939 §7
}

void Server::cmd_quit(const CommandLine& /*command*/) {
  if (state_ == ServerState::authorization) {
    reply("+OK " + config_.host_name + " POP3 server signing off");  // RFC 1939 §5
    close("QUIT");
    return;
  }
  enter_state(ServerState::update);  // RFC 1939 §6
  std::vector<std::uint32_t> uids;
  for (const Entry& entry : messages_) {
    if (entry.deleted) uids.push_back(entry.uid);
  }
  const Result<void> expunged = uids.empty() ? Result<void>{} : store_.expunge(user_, config_.mailbox, uids);
  if (expunged) {
    events_.emplace_back(UpdateEvent{user_, uids, true});
    const std::uint32_t left = live_count();
    reply("+OK " + config_.host_name + " POP3 server signing off (" + std::to_string(left) +
          (left == 1 ? " message left)" : " messages left)"));
  } else {
    events_.emplace_back(UpdateEvent{user_, {}, false});
    reply("-ERR [SYS/TEMP] Some deleted messages were not removed (RFC 1939 §6)");
  }
  close("QUIT");
}

// --- TRANSACTION -------------------------------------------------------------

std::uint32_t Server::live_count() const {
  std::uint32_t count = 0;
  for (const Entry& entry : messages_) count += entry.deleted ? 0 : 1;
  return count;
}

std::uint64_t Server::live_octets() const {
  std::uint64_t octets = 0;
  for (const Entry& entry : messages_) octets += entry.deleted ? 0 : entry.size;
  return octets;
}

Server::Entry* Server::message_argument(std::string_view arg) {
  const auto number = parse_number(arg);
  if (!number) {
    bad_command("-ERR Invalid message number");
    return nullptr;
  }
  if (*number == 0 || *number > messages_.size()) {
    reply("-ERR No such message");  // RFC 1939 §5
    return nullptr;
  }
  Entry& entry = messages_[*number - 1];
  if (entry.deleted) {
    reply("-ERR Message " + std::to_string(*number) + " already deleted");  // RFC 1939 §5
    return nullptr;
  }
  return &entry;
}

std::size_t Server::number_of(const Entry& entry) const {
  return static_cast<std::size_t>(&entry - messages_.data()) + 1;
}

void Server::cmd_stat(const CommandLine& /*command*/) {
  // RFC 1939 §5: exactly "+OK nn mm", deleted messages not counted.
  reply("+OK " + std::to_string(live_count()) + " " + std::to_string(live_octets()));
}

void Server::cmd_list(const CommandLine& command) {
  if (!command.args.empty()) {
    const Entry* entry = message_argument(command.args[0]);
    if (entry == nullptr) return;
    reply("+OK " + std::to_string(number_of(*entry)) + " " + std::to_string(entry->size));
    return;
  }
  std::string listing;
  for (std::size_t i = 0; i < messages_.size(); ++i) {
    if (messages_[i].deleted) continue;
    listing += std::to_string(i + 1) + " " + std::to_string(messages_[i].size) + "\r\n";
  }
  reply_multiline("+OK " + octets_text(live_count(), live_octets()), "scan listing", dot_stuff(listing));
}

void Server::cmd_retr(const CommandLine& command) {
  const Entry* entry = message_argument(command.args[0]);
  if (entry == nullptr) return;
  const auto data = store_.read(user_, config_.mailbox, entry->uid);
  if (!data) {
    reply("-ERR [SYS/TEMP] Message can no longer be read (RFC 3206 §5)");
    return;
  }
  reply_multiline("+OK " + std::to_string(data->size()) + " octets",
                  "message " + std::to_string(number_of(*entry)), dot_stuff(*data));
}

void Server::cmd_top(const CommandLine& command) {
  const Entry* entry = message_argument(command.args[0]);
  if (entry == nullptr) return;
  const auto lines = parse_number(command.args[1]);
  if (!lines) {
    bad_command("-ERR Invalid line count (RFC 1939 §7)");
    return;
  }
  const auto data = store_.read(user_, config_.mailbox, entry->uid);
  if (!data) {
    reply("-ERR [SYS/TEMP] Message can no longer be read (RFC 3206 §5)");
    return;
  }
  reply_multiline("+OK Top of message follows",
                  "top of message " + std::to_string(number_of(*entry)),
                  dot_stuff(top_of_message(*data, *lines)));
}

void Server::cmd_dele(const CommandLine& command) {
  Entry* entry = message_argument(command.args[0]);
  if (entry == nullptr) return;
  entry->deleted = true;  // applied only in UPDATE (RFC 1939 §6)
  reply("+OK Message " + std::to_string(number_of(*entry)) + " deleted");
}

void Server::cmd_rset(const CommandLine& /*command*/) {
  for (Entry& entry : messages_) entry.deleted = false;
  reply("+OK Maildrop has " + octets_text(live_count(), live_octets()));  // RFC 1939 §5
}

void Server::cmd_noop(const CommandLine& /*command*/) { reply("+OK"); }

void Server::cmd_uidl(const CommandLine& command) {
  if (!command.args.empty()) {
    const Entry* entry = message_argument(command.args[0]);
    if (entry == nullptr) return;
    reply("+OK " + std::to_string(number_of(*entry)) + " " + format_uidl(uid_validity_, entry->uid));
    return;
  }
  std::string listing;
  for (std::size_t i = 0; i < messages_.size(); ++i) {
    if (messages_[i].deleted) continue;
    listing += std::to_string(i + 1) + " " + format_uidl(uid_validity_, messages_[i].uid) + "\r\n";
  }
  reply_multiline("+OK Unique-id listing follows", "unique-id listing", dot_stuff(listing));
}

}  // namespace maillab::net::pop3
