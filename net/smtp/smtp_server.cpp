#include "net/smtp/smtp_server.hpp"

#include <algorithm>
#include <cassert>
#include <chrono>
#include <utility>

#include "net/core/base64.hpp"
#include "net/core/sasl.hpp"

namespace maillab::net::smtp {

namespace {

using S = ServerState;
using namespace std::chrono_literals;

constexpr std::size_t index(S state) { return static_cast<std::size_t>(state); }

constexpr std::array<std::string_view, server_state_count> state_names{
    "connecting", "greeted", "ready",         "mail",     "rcpt",    "data",   "bdat",
    "queueing",   "auth",    "tls-handshake", "rejected", "closing", "closed",
};

constexpr std::array<std::string_view, server_state_count> state_descriptions{
    "connected, greeting held back to catch pregreet input",
    "greeting sent, waiting for EHLO or HELO",
    "ready for MAIL FROM",
    "sender accepted, waiting for RCPT TO",
    "recipients accepted, waiting for more RCPT or DATA/BDAT",
    "reading message text until <CRLF>.<CRLF>",
    "reading a BDAT chunk",
    "message handed over, waiting until it is stored",
    "SASL exchange (AUTH) in progress",
    "220 sent, waiting for the TLS handshake",
    "rejected at connect, waiting for QUIT",
    "final reply sent, closing",
    "closed",
};

// RFC 5321 §4.5.3.2: §4.5.3.2.7 server timeout 5 min while awaiting a command,
// §4.5.3.2.5 data block 3 min, §4.5.3.2.6 DATA termination 10 min (here: the
// driver's storage), §4.5.3.2.1 initial 220 message 5 min (the greeting delay
// must stay well below it).
constexpr std::array<Duration, server_state_count> state_timeouts{
    Duration{5min}, Duration{5min}, Duration{5min},  Duration{5min}, Duration{5min},
    Duration{3min}, Duration{3min}, Duration{10min}, Duration{5min}, Duration{5min},
    Duration{5min}, Duration::max(), Duration::max(),
};

constexpr auto transitions = [] {
  std::array<std::array<bool, server_state_count>, server_state_count> table{};
  const auto allow = [&table](S from, std::initializer_list<S> to) {
    for (S next : to) table[index(from)][index(next)] = true;
  };
  allow(S::connecting, {S::greeted, S::rejected});
  allow(S::greeted, {S::ready});
  allow(S::ready, {S::mail, S::auth, S::tls_handshake});
  allow(S::mail, {S::rcpt, S::ready});
  allow(S::rcpt, {S::data, S::bdat, S::ready});
  allow(S::data, {S::queueing, S::ready});
  allow(S::bdat, {S::rcpt, S::queueing, S::ready});
  allow(S::queueing, {S::ready});
  allow(S::auth, {S::ready});
  allow(S::tls_handshake, {S::greeted});
  for (std::size_t from = 0; from < server_state_count; ++from) {
    if (from == index(S::closing) || from == index(S::closed)) continue;
    table[from][index(S::closing)] = true;
    table[from][index(S::closed)] = true;
  }
  table[index(S::closing)][index(S::closed)] = true;
  return table;
}();

bool has_byte(std::string_view text, char c) { return text.find(c) != std::string_view::npos; }

bool has_non_ascii(std::string_view text) {
  return std::any_of(text.begin(), text.end(), [](char c) { return static_cast<unsigned char>(c) >= 0x80; });
}

// EHLO/HELO argument: Domain / address-literal (RFC 5321 §4.1.1.1): printable
// ASCII, no spaces, no control characters (they would end up in Received:).
bool is_valid_helo_name(std::string_view name) {
  if (name.empty() || name.size() > 255) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u > 32 && u < 127;
  });
}

std::string shorten(std::string_view text, std::size_t keep) {
  if (text.size() <= keep) return std::string(text);
  return std::string(text.substr(0, keep)) + "... (" + std::to_string(text.size()) + " octets)";
}

std::string upper_ascii(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return out;
}

Reply sync_error(std::string_view host) {
  // Postfix ≥ 3.9 wording; RFC 2920 §3.1 (what may be pipelined), RFC 3463 X.5.0.
  return make_reply(554, "5.5.0", std::string(host) + " Error: SMTP protocol synchronization");
}

Reply pregreet_banner(std::string_view host) {
  // RFC 5321 §3.1: 554 instead of 220; the client must QUIT.
  return make_reply(554, "5.5.0", std::string(host) + " Error: input before greeting, send QUIT");
}

}  // namespace

std::string_view server_state_name(ServerState state) { return state_names[index(state)]; }
bool server_transition_allowed(ServerState from, ServerState to) { return transitions[index(from)][index(to)]; }
std::string_view server_state_description(ServerState state) { return state_descriptions[index(state)]; }
Duration server_state_timeout(ServerState state) { return state_timeouts[index(state)]; }

const std::array<Server::CommandEntry, 16> Server::command_table_{{
    {Verb::ehlo, &Server::check_helo, &Server::do_ehlo},
    {Verb::helo, &Server::check_helo, &Server::do_helo},
    {Verb::mail, &Server::check_mail, &Server::do_mail},
    {Verb::rcpt, &Server::check_rcpt, &Server::do_rcpt},
    {Verb::data, &Server::check_data, &Server::do_data},
    {Verb::bdat, &Server::check_any, &Server::do_bdat},
    {Verb::rset, &Server::check_no_argument, &Server::do_rset},
    {Verb::noop, &Server::check_any, &Server::do_noop},
    {Verb::quit, &Server::check_no_argument, &Server::do_quit},
    {Verb::vrfy, &Server::check_vrfy, &Server::do_vrfy},
    {Verb::help, &Server::check_any, &Server::do_help},
    {Verb::starttls, &Server::check_starttls, &Server::do_starttls},
    {Verb::auth, &Server::check_auth, &Server::do_auth},
    {Verb::expn, &Server::check_not_implemented, &Server::do_nothing},
    {Verb::turn, &Server::check_not_implemented, &Server::do_nothing},
    {Verb::etrn, &Server::check_not_implemented, &Server::do_nothing},
}};

Server::Server(ServerConfig config, Policy& policy, Instant now)
    : config_(std::move(config)), policy_(policy), tls_active_(config_.tls_active) {
  if (config_.greeting_delay > Duration::zero()) {
    deadline_ = now + config_.greeting_delay;
  } else {
    send_greeting(now);
  }
}

// --- the driver's side ---------------------------------------------------------

void Server::handle_bytes(Instant now, std::string_view bytes) {
  if (bytes.empty()) return;
  // Row 18: each read of N octets inside the message content extends its deadline by N / rate.
  if (request_start_ != never) request_octets_ += bytes.size();
  switch (state_) {
    case S::closing:
    case S::closed:
      return;
    case S::connecting:
      pregreet_ = true;
      note("pregreet: " + std::to_string(bytes.size()) + " octets sent before the greeting");
      return;
    case S::tls_handshake:
      note("plaintext after STARTTLS discarded: " + std::to_string(bytes.size()) + " octets");
      return;
    case S::queueing:
      if (buffered().size() + bytes.size() > config_.input_buffered_octets_max) {
        input_overflow_ = true;
        return;
      }
      in_.append(bytes);
      return;
    case S::data:
    case S::bdat:
      arm_timer(now);  // RFC 5321 §4.5.3.2.5: the data-block timeout restarts with each block received
      break;
    default:
      // Waiting for a command the deadline runs until the whole line is in (pump_command re-arms
      // it per line), so a client trickling one byte now and then still times out (catalogue
      // row 18, Postfix smtpd_per_request_deadline).  The octets of a refused BDAT chunk being
      // read and dropped are data, not a command line.
      if (discard_remaining_ > 0) arm_timer(now);
      break;
  }
  if (delaying()) {
    // Replies are held back (row 20): input waits for them, bounded like input held while queueing.
    if (buffered().size() + bytes.size() > config_.input_buffered_octets_max) {
      input_overflow_ = true;
      return;
    }
    in_.append(bytes);
    return;
  }
  in_.append(bytes);
  pump(now);
  arm_error_delay(now);
}

void Server::handle_timeout(Instant now) {
  if (delaying() && now >= release_at_) {
    release_delayed(now);
    return;
  }
  const bool too_slow = now >= request_deadline();
  if (now < deadline_ && !too_slow) return;
  switch (state_) {
    case S::connecting:
      send_greeting(now);
      return;
    case S::queueing:
      note("the message was not stored within the DATA termination timeout");
      send(replies::local_error());  // 451 4.3.0, RFC 5321 §4.5.3.2.6
      reset_transaction();
      enter_state(now, S::ready);
      pump(now);
      arm_error_delay(now);
      return;
    case S::tls_handshake:
      enter_state(now, S::closing);
      events_.emplace_back(CloseEvent{"TLS handshake timed out"});
      return;
    case S::closing:
    case S::closed:
      return;
    default:
      if (too_slow) {
        // Row 18 (Postfix smtpd_min_data_rate): the same 421 4.4.2 as an idle client, §4.5.3.2 / §3.8.
        const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(now - request_start_).count();
        note("message content below " + std::to_string(config_.min_data_rate) + " octets/s: " +
             std::to_string(request_octets_) + " octets in " + std::to_string(seconds) + " s");
        close_with(now, replies::timeout(config_.host_name), "minimum data rate");
      } else {
        close_with(now, replies::timeout(config_.host_name), "idle timeout");  // 421 4.4.2, §4.5.3.2.7
      }
      arm_error_delay(now);
  }
}

void Server::handle_close(Instant now) {
  if (state_ == S::closed) return;
  in_.clear();
  in_start_ = 0;
  delayed_out_.clear();  // nobody is left to read it
  pollable_events_.reset();
  release_at_ = never;
  enter_state(now, S::closed);
}

void Server::handle_tls_established(Instant now) {
  assert(state_ == S::tls_handshake);
  tls_active_ = true;
  if (!buffered().empty()) note("plaintext after STARTTLS discarded: " + std::to_string(buffered().size()) + " octets");
  in_.clear();
  in_start_ = 0;
  // RFC 3207 §4.2: forget everything learnt before TLS; the client says EHLO again.
  helo_name_.clear();
  esmtp_ = false;
  user_.clear();
  reset_transaction();
  enter_state(now, S::greeted);
}

bool Server::complete_message(Instant now, const StoreOutcome& outcome) {
  if (state_ != S::queueing) return false;
  switch (outcome.result) {
    case StoreResult::accepted:
      // A delivered message forgives the session's errors and junk (Postfix smtpd.c data_cmd).
      errors_ = 0;
      junk_commands_ = 0;
      send(replies::queued(outcome.queue_id));  // 250 2.0.0, RFC 5321 §4.1.1.4
      break;
    case StoreResult::temporary_failure:
      send(replies::local_error());  // 451 4.3.0, RFC 3463 X.3.0
      break;
    case StoreResult::insufficient_storage:
      send(replies::insufficient_storage());  // 452 4.3.1, RFC 3463 X.3.1
      break;
    case StoreResult::permanent_failure:
      send(replies::transaction_failed(outcome.reason));  // 554 5.0.0, RFC 5321 §4.2.2
      break;
  }
  reset_transaction();
  enter_state(now, S::ready);
  arm_timer(now);
  if (input_overflow_) {
    close_with(now, replies::service_closing(config_.host_name, "too much pipelined input"), "input overflow");
    return true;
  }
  check_error_cap(now);
  check_pipelining(now, Verb::unknown, message_by_data_);
  pump(now);
  arm_error_delay(now);
  return true;
}

std::string Server::poll_transmit() { return std::exchange(out_, {}); }

std::optional<ServerEvent> Server::poll_event() {
  if (events_.empty()) return std::nullopt;
  if (pollable_events_) {
    if (*pollable_events_ == 0) return std::nullopt;  // behind a held-back reply
    --*pollable_events_;
  }
  ServerEvent event = std::move(events_.front());
  events_.pop_front();
  return event;
}

Instant Server::poll_timeout() const { return std::min({deadline_, release_at_, request_deadline()}); }

std::vector<std::string> Server::extensions() const {
  std::vector<std::string> keywords;
  if (config_.pipelining) keywords.emplace_back("PIPELINING");                  // RFC 2920
  keywords.push_back("SIZE " + std::to_string(config_.message_octets_max));     // RFC 1870
  if (config_.tls_available && !tls_active_) keywords.emplace_back("STARTTLS");  // RFC 3207
  if (policy_.auth_offer(session_info()) == AuthOffer::offered) keywords.emplace_back("AUTH PLAIN LOGIN");  // RFC 4954
  keywords.emplace_back("ENHANCEDSTATUSCODES");  // RFC 2034
  keywords.emplace_back("8BITMIME");             // RFC 6152
  if (config_.smtputf8) keywords.emplace_back("SMTPUTF8");  // RFC 6531
  if (config_.chunking) keywords.emplace_back("CHUNKING");  // RFC 3030
  return keywords;
}

// --- plumbing ----------------------------------------------------------------------

void Server::enter_state(Instant now, ServerState next) {
  if (next == state_) return;
  assert(server_transition_allowed(state_, next) && "SMTP server: transition not in the table");
  if (config_.state_events) events_.emplace_back(StateEvent{server_state_name(state_), server_state_name(next)});
  state_ = next;
  arm_timer(now);
}

void Server::arm_timer(Instant now) {
  Duration timeout = server_state_timeout(state_);
  switch (state_) {
    case S::greeted:
    case S::ready:
    case S::mail:
    case S::rcpt:
    case S::auth:
    case S::rejected:
      timeout = config_.command_timeout;
      break;
    case S::data:
    case S::bdat:
      timeout = config_.data_block_timeout;
      break;
    default:
      break;
  }
  deadline_ = timeout == Duration::max() ? never : now + timeout;
}

void Server::open_request(Instant now) {
  request_start_ = now;
  request_octets_ = buffered().size();  // what followed the DATA or BDAT line in its read
}

Instant Server::request_deadline() const {
  if (request_start_ == never || config_.min_data_rate == 0) return never;
  if (state_ != S::data && state_ != S::bdat && state_ != S::rcpt) return never;  // rcpt: between BDAT chunks
  // data-block timeout + octets / rate, in microseconds without overflow.
  const std::uint64_t rate = config_.min_data_rate;
  const std::uint64_t whole_s = request_octets_ / rate;
  if (whole_s > 1'000'000'000) return never;  // more than 30 years of credit
  const Duration credit = std::chrono::seconds(static_cast<std::int64_t>(whole_s)) +
                          Duration(static_cast<std::int64_t>((request_octets_ % rate) * 1'000'000 / rate));
  return request_start_ + config_.data_block_timeout + credit;
}

void Server::send(const Reply& reply) {
  if (reply.code >= 400) ++errors_;
  std::string wire = reply.to_wire();
  // Row 20: past the soft limit every reply waits (Postfix smtpd_chat_reply), and so does all that follows it.
  const bool delay =
      delaying() || (config_.error_delay > Duration::zero() && errors_ > config_.errors_soft_max);
  if (delay && !delaying()) pollable_events_ = events_.size();
  std::size_t start = 0;
  while (start < wire.size()) {
    const auto end = wire.find("\r\n", start);
    ++lines_sent_;
    if (config_.line_events.sent)
      events_.emplace_back(LineEvent{Direction::server_to_client, wire.substr(start, end - start), tls_active_});
    start = end + 2;
  }
  // poll_transmit() takes the output whole, so it is mostly empty here: the reply becomes it, uncopied.
  std::string& out = delay ? delayed_out_ : out_;
  if (out.empty()) out = std::move(wire);
  else out += wire;
}

void Server::send_greeting(Instant now) {
  if (pregreet_) {
    send(pregreet_banner(config_.host_name));
    enter_state(now, S::rejected);
    return;
  }
  if (auto injected = policy_.inject(PolicyStage::connect, session_info(), {})) {
    if (injected->is_transient()) {
      close_with(now, *injected, "rejected at connect");
    } else if (injected->is_permanent()) {
      send(*injected);
      enter_state(now, S::rejected);
    } else {
      send(*injected);
      enter_state(now, S::greeted);
    }
    return;
  }
  send(replies::greeting(config_.host_name));  // 220, RFC 5321 §3.1
  enter_state(now, S::greeted);
}

void Server::close_with(Instant now, const Reply& reply, std::string reason) {
  send(reply);
  in_.clear();
  in_start_ = 0;
  enter_state(now, S::closing);
  events_.emplace_back(CloseEvent{std::move(reason)});
}

void Server::note(std::string what) { events_.emplace_back(ViolationEvent{std::move(what)}); }

void Server::emit_client_line(std::string_view text) {
  if (!config_.line_events.peer) return;
  events_.emplace_back(LineEvent{Direction::client_to_server, std::string(text), tls_active_});
}

SessionInfo Server::session_info() const {
  return SessionInfo{config_.client_address, helo_name_, user_, tls_active_, config_.submission};
}

void Server::reset_transaction() {
  reverse_path_ = {};
  forward_paths_.clear();
  body_ = BodyType::seven_bit;
  smtputf8_ = false;
  declared_size_.reset();
  bdat_started_ = false;
  bdat_last_ = false;
  chunk_remaining_ = 0;
  chunk_octets_ = 0;
  payload_ = {};
  request_start_ = never;
  request_octets_ = 0;
}

void Server::consume(std::size_t octets) {
  in_start_ += octets;
  assert(in_start_ <= in_.size());
  if (in_start_ == in_.size()) {
    in_.clear();
    in_start_ = 0;
  } else if (in_start_ > 4096 && in_start_ * 2 > in_.size()) {
    in_.erase(0, in_start_);
    in_start_ = 0;
  }
}

void Server::check_error_cap(Instant now) {
  if (state_ == S::closing || state_ == S::closed) return;
  if (errors_ < config_.errors_max) return;
  close_with(now, replies::too_many_errors(config_.host_name), "too many errors");  // 421 4.7.0
}

void Server::arm_error_delay(Instant now) {
  if (delaying() && release_at_ == never) release_at_ = now + config_.error_delay;
}

void Server::release_delayed(Instant now) {
  out_ += std::exchange(delayed_out_, {});
  pollable_events_.reset();
  release_at_ = never;
  if (state_ == S::closing || state_ == S::closed) return;
  if (input_overflow_ && state_ != S::queueing) {
    close_with(now, replies::service_closing(config_.host_name, "too much pipelined input"), "input overflow");
    arm_error_delay(now);
    return;
  }
  pump(now);
  arm_error_delay(now);
}

void Server::check_pipelining(Instant now, Verb verb, bool end_of_data) {
  if (!config_.strict_pipelining || !user_.empty() || verb == Verb::bdat) return;
  if (state_ == S::closing || state_ == S::closed || state_ == S::tls_handshake) return;
  if (buffered().empty()) return;
  // RFC 2920 §3.1: EHLO, DATA, QUIT, STARTTLS (and AUTH, RFC 4954 §4) end a group.  The end of
  // DATA's text ends one too for a client that has not logged in (catalogue row 7, the smuggling
  // shape ".<CRLF>MAIL FROM..."), except for a QUIT, which starts no transaction (RFC 2920 §3.1's
  // example pipelines it behind the dot).
  if (end_of_data) {
    const std::string_view ahead = buffered();
    if (ahead.size() >= 6 && verb_iequals(ahead.substr(0, 4), "QUIT") && ahead.substr(4, 2) == "\r\n") return;
  }
  const bool group_end =
      end_of_data || verb == Verb::ehlo || verb == Verb::helo || verb == Verb::data || verb == Verb::auth;
  if (!group_end && pipelining_negotiated()) return;
  note("pipelining violation: " + std::to_string(buffered().size()) + " octets sent ahead of the reply");
  close_with(now, sync_error(config_.host_name), "SMTP protocol synchronization");
}

// --- reading ------------------------------------------------------------------------

void Server::pump(Instant now) {
  for (;;) {
    if (delaying()) return;  // row 20: the next command waits for the held-back reply
    bool progressed = false;
    switch (state_) {
      case S::connecting:
      case S::queueing:
      case S::tls_handshake:
      case S::closing:
      case S::closed:
        return;
      case S::data:
        progressed = pump_data(now);
        break;
      case S::bdat:
        progressed = pump_chunk(now);
        break;
      default:
        progressed = pump_command(now);
        break;
    }
    if (!progressed) return;
  }
}

bool Server::pump_command(Instant now) {
  const std::string_view view = buffered();
  if (discard_remaining_ > 0) {
    const auto take = static_cast<std::size_t>(std::min<std::uint64_t>(view.size(), discard_remaining_));
    consume(take);
    discard_remaining_ -= take;
    if (discard_remaining_ > 0) return false;
    if (discard_reply_) send(*discard_reply_);
    discard_reply_.reset();
    check_error_cap(now);
    return true;
  }
  if (view.empty()) return false;
  const bool auth_line = state_ == S::auth || (view.size() >= 5 && verb_iequals(view.substr(0, 5), "AUTH "));
  const std::size_t limit = auth_line ? config_.auth_line_octets_max : config_.command_line_octets_max;
  const auto lf = view.find('\n');

  if (skipping_long_line_) {
    if (lf == std::string_view::npos) {
      consume(view.size());
      return false;
    }
    consume(lf + 1);
    skipping_long_line_ = false;
    if (state_ == S::auth) {
      send(replies::auth_line_too_long());  // 500 5.5.6, RFC 4954 §4
      enter_state(now, S::ready);
    } else {
      send(replies::command_too_long());  // 500 5.5.2, RFC 5321 §4.5.3.1.4
    }
    arm_timer(now);
    check_error_cap(now);
    return true;
  }
  if (lf == std::string_view::npos || lf + 1 > limit) {
    if (lf == std::string_view::npos && view.size() <= limit) return false;
    emit_client_line(shorten(view.substr(0, std::min(view.size(), lf)), 64));
    skipping_long_line_ = true;
    return true;
  }

  std::string line(view.substr(0, lf));
  consume(lf + 1);
  const bool bare_lf = line.empty() || line.back() != '\r';
  if (!bare_lf) line.pop_back();
  if (state_ == S::auth) {
    emit_client_line(line);
    handle_sasl_line(now, line, bare_lf);
  } else {
    handle_command_line(now, line, bare_lf);
  }
  arm_timer(now);  // a whole line arrived: the wait for the next one starts now
  check_error_cap(now);
  return true;
}

void Server::handle_command_line(Instant now, std::string_view line, bool bare_lf) {
  emit_client_line(line);
  // RFC 5321 §2.3.8: lines end in CRLF; CR and LF appear nowhere else.
  if (bare_lf) {
    note("command line ended by a bare <LF>");
    send(make_reply(500, "5.5.2", "Error: bare <LF> received"));  // RFC 5321 §2.3.8
    return;
  }
  if (has_byte(line, '\r')) {
    send(make_reply(500, "5.5.2", "Error: bare <CR> received"));  // RFC 5321 §2.3.8
    return;
  }
  if (has_byte(line, '\0')) {
    send(replies::nul_in_command());  // 500 5.5.2, RFC 5321 §4.1.1 (commands are text)
    return;
  }
  const CommandLine command = split_command(line);
  if (state_ == S::rejected) {
    if (command.verb == Verb::quit) {
      do_quit(now, command);
    } else {
      send(replies::bad_sequence("rejected at connect, send QUIT"));  // 503 5.5.1, RFC 5321 §3.1
    }
    return;
  }
  const auto entry = std::find_if(command_table_.begin(), command_table_.end(),
                                  [&](const CommandEntry& e) { return e.verb == command.verb; });
  if (entry == command_table_.end() || (command.verb == Verb::bdat && !config_.chunking)) {
    send(replies::command_unrecognized());  // 500 5.5.2, RFC 5321 §4.2.4
    return;
  }
  // Row 20: Postfix counts HELO, EHLO, RSET, NOOP, VRFY and ETRN (SMTPD_CMD_FLAG_LIMIT); HELP is
  // as harmless here.  Past the limit each one is an error, whatever its reply.
  const bool junk = command.verb == Verb::noop || command.verb == Verb::rset || command.verb == Verb::vrfy ||
                    command.verb == Verb::help || command.verb == Verb::ehlo || command.verb == Verb::helo;
  if (junk && ++junk_commands_ > config_.junk_commands_max) ++errors_;
  if (auto refusal = (this->*(entry->check))(command)) {
    send(*refusal);
  } else {
    (this->*(entry->proceed))(now, command);
  }
  check_pipelining(now, command.verb);
}

bool Server::pump_data(Instant now) {
  const std::string_view view = buffered();
  const auto lf = view.find('\n');
  if (lf == std::string_view::npos) {
    // An unfinished line longer than any legal one: take it now (keeping a
    // trailing CR, which may be half of the CRLF) so the buffer stays bounded.
    if (view.size() <= config_.text_line_octets_max) return false;
    std::size_t take = view.size();
    if (view.back() == '\r') --take;
    data_segment(view.substr(0, take), false);
    consume(take);
    return true;
  }
  const bool end = data_segment(view.substr(0, lf + 1), true);
  consume(lf + 1);
  if (end) {
    events_.emplace_back(DataSummaryEvent{payload_.received_octets, payload_.lines, false});
    emit_client_line(".");
    finish_message(now, false);
  }
  return true;
}

bool Server::data_segment(std::string_view segment, bool complete_line) {
  Payload& p = payload_;
  const bool line_start = p.line_octets == 0;
  if (line_start && complete_line && segment == ".\r\n" && p.previous_line_crlf) return true;  // §4.1.1.4

  p.received_octets += segment.size();
  p.line_octets += segment.size();
  if (p.line_octets > config_.text_line_octets_max) p.line_too_long = true;  // §4.5.3.1.6

  std::string_view content = segment;
  bool crlf = false;
  if (complete_line) {
    content.remove_suffix(1);
    crlf = !content.empty() && content.back() == '\r';
    if (crlf) content.remove_suffix(1);
    if (!crlf) p.bare_lf = true;
  }
  if (has_byte(content, '\r')) p.bare_cr = true;
  if (has_byte(content, '\0')) p.nul = true;
  if (line_start && !content.empty() && content.front() == '.') content.remove_prefix(1);  // §4.5.2
  if (p.in_header) {
    if (line_start && complete_line && content.empty()) {
      p.in_header = false;  // RFC 5322 §2.1: the empty line ends the header section
    } else {
      p.header_octets += content.size() + (complete_line ? 2 : 0);
      if (p.header_octets > config_.header_octets_max) p.header_too_big = true;  // catalogue row 32
    }
  }

  const bool refused = p.bare_lf || p.bare_cr || p.nul || p.line_too_long || p.too_big || p.header_too_big;
  p.stored_octets += content.size() + (complete_line ? 2 : 0);
  if (p.stored_octets > config_.message_octets_max) p.too_big = true;  // RFC 1870 §6
  if (refused || p.too_big) {
    p.data.clear();
    p.data.shrink_to_fit();
  } else {
    p.data.append(content);
    if (complete_line) p.data.append("\r\n");
  }
  if (complete_line) {
    ++p.lines;
    p.line_octets = 0;
    p.previous_line_crlf = crlf;
  }
  return false;
}

bool Server::pump_chunk(Instant now) {
  const std::string_view view = buffered();
  if (chunk_remaining_ > 0) {
    if (view.empty()) return false;
    const auto take = static_cast<std::size_t>(std::min<std::uint64_t>(view.size(), chunk_remaining_));
    chunk_bytes(view.substr(0, take));
    consume(take);
    chunk_remaining_ -= take;
    if (chunk_remaining_ > 0) return true;
  }
  finish_chunk(now);
  return true;
}

void Server::chunk_bytes(std::string_view bytes) {
  Payload& p = payload_;
  p.received_octets += bytes.size();
  for (char c : bytes) {
    if (p.pending_cr) {
      p.pending_cr = false;
      if (c == '\n') {
        p.stored_octets += 2;
        if (!p.too_big) p.data.append("\r\n");
        end_header_line(p, p.line_octets + 1);  // line_octets counted the CR
        ++p.lines;
        p.line_octets = 0;
        continue;
      }
      p.bare_cr = true;
    }
    ++p.line_octets;
    if (c == '\r') {
      p.pending_cr = true;
      continue;
    }
    if (c == '\n') {
      p.bare_lf = true;
      end_header_line(p, p.line_octets);
      ++p.lines;
      p.line_octets = 0;
      continue;
    }
    if (c == '\0') p.nul = true;
    if (p.line_octets + 2 > config_.text_line_octets_max) p.line_too_long = true;
    ++p.stored_octets;
    if (!p.too_big) p.data.push_back(c);
  }
  if (p.stored_octets > config_.message_octets_max && !p.too_big) {
    p.too_big = true;
    p.data.clear();
    p.data.shrink_to_fit();
  }
}

void Server::end_header_line(Payload& p, std::uint64_t line_octets) const {
  if (!p.in_header) return;
  if (p.line_octets <= 1) {  // only the line end was counted
    p.in_header = false;  // RFC 5322 §2.1: the empty line ends the header section
    return;
  }
  p.header_octets += line_octets;
  if (p.header_octets > config_.header_octets_max) p.header_too_big = true;  // catalogue row 32
}

void Server::finish_chunk(Instant now) {
  events_.emplace_back(DataSummaryEvent{chunk_octets_, payload_.lines, true});
  if (bdat_last_) {
    Payload& p = payload_;
    if (p.pending_cr) p.bare_cr = true;
    if (p.line_octets > 0 || p.pending_cr) {  // the last line had no CRLF: give it one
      p.data.append("\r\n");
      p.stored_octets += 2;
      p.line_octets = 0;
      p.pending_cr = false;
    }
    finish_message(now, true);
    return;
  }
  if (payload_.too_big) {
    send(replies::message_too_big());  // 552 5.3.4, RFC 3030 §2 / RFC 1870 §6
    reset_transaction();
    enter_state(now, S::ready);
    check_error_cap(now);
    return;
  }
  send(replies::chunk_ok(chunk_octets_));  // 250 2.0.0, RFC 3030 §2
  enter_state(now, S::rcpt);
}

std::optional<Reply> Server::payload_refusal() const {
  const Payload& p = payload_;
  if (p.bare_lf) return replies::bare_newline();  // 550 5.5.2, RFC 5321 §2.3.8 (Postfix wording)
  if (p.bare_cr) return make_reply(550, "5.5.2", "Error: bare <CR> received");  // RFC 5321 §2.3.8
  if (p.nul) return make_reply(550, "5.6.0", "Error: NUL character in message text");  // RFC 3463 X.6.0
  if (p.line_too_long) return replies::text_line_too_long();  // 500 5.5.6, RFC 5321 §4.5.3.1.6
  if (p.too_big) return replies::message_too_big();           // 552 5.3.4, RFC 1870 §6
  if (p.header_too_big) {
    // RFC 3463 X.3.4 "message too big for system": the header section is over its own size limit.
    return make_reply(552, "5.3.4", "Error: message header section exceeds " +
                                        std::to_string(config_.header_octets_max) + " bytes");
  }
  return std::nullopt;
}

void Server::finish_message(Instant now, bool chunked) {
  request_start_ = never;  // the content is in: storing it has its own timeout (§4.5.3.2.6)
  if (auto refusal = payload_refusal()) {
    if (payload_.bare_lf || payload_.bare_cr) note("bare <CR> or <LF> in message text: message refused");
    send(*refusal);
    reset_transaction();
    enter_state(now, S::ready);
    check_error_cap(now);
    check_pipelining(now, Verb::unknown, !chunked);
    return;
  }
  message_by_data_ = !chunked;
  MessageEvent message;
  message.reverse_path = reverse_path_;
  message.forward_paths = forward_paths_;
  message.data = std::move(payload_.data);
  message.body = body_;
  message.smtputf8 = smtputf8_;
  message.declared_size = declared_size_;
  message.helo_name = helo_name_;
  message.authenticated_user = user_;
  message.tls = tls_active_;
  message.chunked = chunked;
  events_.emplace_back(std::move(message));
  enter_state(now, S::queueing);
}

// --- the command table ----------------------------------------------------------------

std::optional<Reply> Server::check_any(const CommandLine&) { return std::nullopt; }

std::optional<Reply> Server::check_no_argument(const CommandLine& command) {
  if (command.has_argument) return replies::syntax(upper_ascii(command.verb_text));  // 501 5.5.4, §4.1.1
  return std::nullopt;
}

std::optional<Reply> Server::check_helo(const CommandLine& command) {
  if (!is_valid_helo_name(command.argument)) {
    return replies::syntax(upper_ascii(command.verb_text) + " hostname");  // 501 5.5.4, §4.1.1.1
  }
  return std::nullopt;
}

std::optional<Reply> Server::check_mail(const CommandLine&) {
  if (helo_name_.empty()) return replies::bad_sequence("send HELO/EHLO first");  // 503 5.5.1, §4.1.4
  if (transaction_open()) return replies::bad_sequence("nested MAIL command");   // 503 5.5.1, §4.1.4
  if (config_.submission && user_.empty()) return replies::auth_required();      // 530 5.7.0, RFC 4954 §6
  return std::nullopt;
}

std::optional<Reply> Server::check_rcpt(const CommandLine&) {
  if (!transaction_open()) return replies::bad_sequence("need MAIL command");  // 503 5.5.1, §4.1.4
  if (bdat_started_) return replies::bad_sequence("RCPT after BDAT");          // 503 5.5.1, RFC 3030 §2
  return std::nullopt;
}

std::optional<Reply> Server::check_data(const CommandLine& command) {
  if (command.has_argument) return replies::syntax("DATA");                      // 501 5.5.4, §4.1.1.4
  if (!transaction_open()) return replies::bad_sequence("need MAIL command");    // 503 5.5.1, §3.3
  if (state_ == S::mail) return replies::bad_sequence("need RCPT command");      // 503 5.5.1, §3.3
  if (bdat_started_) return replies::bad_sequence("DATA after BDAT");            // 503 5.5.1, RFC 3030 §2
  return std::nullopt;
}

std::optional<Reply> Server::check_vrfy(const CommandLine& command) {
  if (command.argument.empty()) return replies::syntax("VRFY address");  // 501 5.5.4, §4.1.1.6
  return std::nullopt;
}

std::optional<Reply> Server::check_starttls(const CommandLine& command) {
  if (command.has_argument) return replies::syntax("STARTTLS");               // 501 5.5.4, RFC 3207 §4
  if (tls_active_) return replies::tls_already_active();                     // 554 5.5.1, RFC 3207 §4
  if (!config_.tls_available) return replies::not_implemented();            // 502 5.5.1, §4.2.4
  if (helo_name_.empty()) return replies::bad_sequence("send EHLO first");  // 503 5.5.1, RFC 3207 §4
  if (transaction_open()) return replies::bad_sequence("MAIL transaction in progress");  // 503 5.5.1
  return std::nullopt;
}

std::optional<Reply> Server::check_auth(const CommandLine& command) {
  if (command.argument.empty()) return replies::syntax("AUTH mechanism");              // 501 5.5.4, RFC 4954 §4
  if (!esmtp_) return replies::bad_sequence("send EHLO first");                       // 503 5.5.1, RFC 4954 §4
  if (!user_.empty()) return replies::bad_sequence("already authenticated");          // 503 5.5.1, RFC 4954 §4
  if (transaction_open()) return replies::bad_sequence("MAIL transaction in progress");  // 503 5.5.1, RFC 4954 §4
  switch (policy_.auth_offer(session_info())) {
    case AuthOffer::offered:
      return std::nullopt;
    case AuthOffer::requires_tls:
      return replies::encryption_required();  // 538 5.7.11, RFC 4954 §6
    case AuthOffer::disabled:
      break;
  }
  return replies::bad_sequence("authentication not enabled");  // 503 5.5.1
}

std::optional<Reply> Server::check_not_implemented(const CommandLine&) {
  return replies::not_implemented();  // 502 5.5.1, RFC 5321 §4.2.4
}

void Server::do_ehlo(Instant now, const CommandLine& command) {
  if (auto injected = policy_.inject(PolicyStage::ehlo, session_info(), command.argument)) {
    send(*injected);
    return;
  }
  reset_transaction();  // RFC 5321 §4.1.4: EHLO implies RSET
  helo_name_ = std::string(command.argument);
  esmtp_ = true;
  send(replies::ehlo(config_.host_name, helo_name_, extensions()));  // 250, §4.1.1.1
  enter_state(now, S::ready);
}

void Server::do_helo(Instant now, const CommandLine& command) {
  if (auto injected = policy_.inject(PolicyStage::ehlo, session_info(), command.argument)) {
    send(*injected);
    return;
  }
  reset_transaction();
  helo_name_ = std::string(command.argument);
  esmtp_ = false;
  send(replies::helo(config_.host_name, helo_name_));  // 250, §4.1.1.1
  enter_state(now, S::ready);
}

void Server::do_mail(Instant now, const CommandLine& command) {
  auto argument = parse_path_argument(command.argument, "FROM:");
  if (!argument) {
    send(replies::syntax("MAIL FROM:<address>"));  // 501 5.5.4, §4.1.1.2
    return;
  }
  BodyType body = BodyType::seven_bit;
  bool smtputf8 = false;
  std::optional<std::uint64_t> declared;
  for (const auto& parameter : argument->parameters) {
    if (!esmtp_) {
      send(make_reply(555, "5.5.4", "Error: parameters need EHLO"));  // 555, §4.1.1.11 / RFC 1869
      return;
    }
    if (parameter.keyword == "SIZE" && parameter.value) {
      declared = parse_size_value(*parameter.value);
      if (!declared) {
        send(make_reply(501, "5.5.4", "Bad message size syntax"));  // 501 5.5.4, RFC 1870 §3
        return;
      }
    } else if (parameter.keyword == "BODY" && parameter.value) {
      const std::string value = upper_ascii(*parameter.value);
      if (value == "7BIT") {
        body = BodyType::seven_bit;
      } else if (value == "8BITMIME") {
        body = BodyType::eight_bit_mime;  // RFC 6152 §2
      } else {
        send(replies::syntax("BODY=7BIT|8BITMIME"));  // 501 5.5.4, RFC 6152 §2
        return;
      }
    } else if (parameter.keyword == "SMTPUTF8" && !parameter.value && config_.smtputf8) {
      smtputf8 = true;  // RFC 6531 §3.4
    } else if (parameter.keyword == "AUTH" && parameter.value) {
      // RFC 4954 §5: accepted; this server does not act on it.
    } else {
      send(make_reply(555, "5.5.4", "Unsupported option: " + parameter.keyword));  // 555 5.5.4, §4.1.1.11
      return;
    }
  }
  if (declared && *declared > config_.message_octets_max) {
    send(make_reply(552, "5.3.4", "Message size exceeds fixed maximum message size"));  // 552 5.3.4, RFC 1870 §6
    return;
  }
  if (!smtputf8 && has_non_ascii(argument->path)) {
    send(replies::utf8_not_allowed());  // 553 5.6.7, RFC 6531 §3.2 / RFC 6533
    return;
  }
  auto sender = mail::parse_reverse_path(argument->path, {smtputf8});
  if (!sender) {
    send(make_reply(501, "5.1.7", "Bad sender address syntax: " + sender.error().message));  // RFC 3463 X.1.7
    return;
  }
  if (auto injected = policy_.inject(PolicyStage::mail, session_info(), argument->path)) {
    send(*injected);
    return;
  }
  if (!user_.empty() && !sender->is_null() && !policy_.sender_allowed(user_, *sender)) {
    send(replies::sender_not_owned(argument->path, user_));  // 553 5.7.1, RFC 4954 §6
    return;
  }
  reverse_path_ = std::move(*sender);
  body_ = body;
  smtputf8_ = smtputf8;
  declared_size_ = declared;
  send(replies::sender_ok());  // 250 2.1.0, §4.1.1.2
  enter_state(now, S::mail);
}

void Server::do_rcpt(Instant now, const CommandLine& command) {
  auto argument = parse_path_argument(command.argument, "TO:");
  if (!argument) {
    send(replies::syntax("RCPT TO:<address>"));  // 501 5.5.4, §4.1.1.3
    return;
  }
  if (!argument->parameters.empty()) {
    send(make_reply(555, "5.5.4", "Unsupported option: " + argument->parameters.front().keyword));  // §4.1.1.11
    return;
  }
  if (!smtputf8_ && has_non_ascii(argument->path)) {
    send(replies::utf8_not_allowed());  // 553 5.6.7, RFC 6531 §3.2
    return;
  }
  mail::Address recipient;
  if (mail::is_postmaster_path(argument->path)) {
    recipient = mail::Address{"postmaster", config_.host_name};  // §4.1.1.3: <Postmaster> always works
  } else {
    auto parsed = mail::parse_forward_path(argument->path, {smtputf8_});
    if (!parsed) {
      send(make_reply(501, "5.1.3", "Bad recipient address syntax: " + parsed.error().message));  // X.1.3
      return;
    }
    recipient = std::move(*parsed);
  }
  if (forward_paths_.size() >= config_.recipients_max) {
    send(replies::too_many_recipients());  // 452 4.5.3, §4.5.3.1.10
    return;
  }
  const std::string_view local = recipient.local_part;
  if (local.find_first_of("@%!") != std::string_view::npos) {
    send(replies::relay_denied(argument->path));  // 554 5.7.1: sender-specified routing, §3.6.2
    return;
  }
  if (auto injected = policy_.inject(PolicyStage::rcpt, session_info(), argument->path)) {
    send(*injected);
    return;
  }
  switch (policy_.check_recipient(session_info(), recipient)) {
    case RecipientVerdict::accept:
      forward_paths_.push_back(std::move(recipient));
      send(replies::recipient_ok());  // 250 2.1.5, §4.1.1.3
      enter_state(now, S::rcpt);
      return;
    case RecipientVerdict::unknown_user:
      send(replies::unknown_user(argument->path));  // 550 5.1.1, RFC 3463 X.1.1
      return;
    case RecipientVerdict::relay_denied:
      send(replies::relay_denied(argument->path));  // 554 5.7.1, §3.6.2
      return;
  }
}

void Server::do_data(Instant now, const CommandLine&) {
  if (auto injected = policy_.inject(PolicyStage::data, session_info(), {})) {
    send(*injected);
    return;
  }
  payload_ = {};
  // Room for a typical message at once, instead of growing line by line from empty.
  payload_.data.reserve(std::min<std::uint64_t>(config_.data_reserve_octets, config_.message_octets_max));
  open_request(now);
  send(replies::start_mail_input());  // 354, §4.1.1.4
  enter_state(now, S::data);
}

void Server::do_bdat(Instant now, const CommandLine& command) {
  // RFC 3030 §2: bdat-cmd = "BDAT" SP chunk-size [ SP end-marker ] CR LF
  const std::string_view argument = command.argument;
  const auto space = argument.find(' ');
  const auto size = parse_size_value(argument.substr(0, space));
  const std::string_view marker = space == std::string_view::npos ? std::string_view{} : argument.substr(space + 1);
  if (!size || (space != std::string_view::npos && !verb_iequals(marker, "LAST"))) {
    send(replies::syntax("BDAT chunk-size [LAST]"));  // 501 5.5.4, RFC 3030 §2
    return;
  }
  const bool last = space != std::string_view::npos;
  std::optional<Reply> refusal;
  if (!transaction_open()) {
    refusal = replies::bad_sequence("need MAIL command");  // 503 5.5.1, RFC 3030 §2
  } else if (state_ == S::mail) {
    refusal = replies::bad_sequence("need RCPT command");  // 503 5.5.1
  } else if (!bdat_started_) {
    refusal = policy_.inject(PolicyStage::data, session_info(), {});
  }
  if (refusal) {
    // RFC 3030 §2: a refused chunk is still read, then answered.
    if (*size == 0) {
      send(*refusal);
      return;
    }
    discard_remaining_ = *size;
    discard_reply_ = std::move(refusal);
    return;
  }
  if (!bdat_started_) {
    payload_ = {};
    bdat_started_ = true;
    open_request(now);
  }
  chunk_remaining_ = *size;
  chunk_octets_ = *size;
  bdat_last_ = last;
  enter_state(now, S::bdat);
}

void Server::do_rset(Instant now, const CommandLine&) {
  reset_transaction();
  send(replies::ok());  // 250 2.0.0, §4.1.1.5
  if (transaction_open()) enter_state(now, S::ready);
}

void Server::do_noop(Instant, const CommandLine&) { send(replies::ok()); }  // 250 2.0.0, §4.1.1.9

void Server::do_quit(Instant now, const CommandLine&) {
  send(replies::closing(config_.host_name));  // 221 2.0.0, §4.1.1.10
  in_.clear();
  in_start_ = 0;
  enter_state(now, S::closing);
  events_.emplace_back(CloseEvent{"QUIT"});
}

void Server::do_vrfy(Instant, const CommandLine&) { send(replies::vrfy_cannot_verify()); }  // 252 2.5.2, §3.5.3

void Server::do_help(Instant, const CommandLine&) { send(replies::help()); }  // 214 2.0.0, §4.1.1.8

void Server::do_starttls(Instant now, const CommandLine&) {
  send(replies::ready_to_start_tls());  // 220 2.0.0, RFC 3207 §4
  if (!buffered().empty()) {
    // RFC 3207 §4.2 / CVE-2011-0411: nothing sent before the handshake counts.
    note("plaintext pipelined after STARTTLS discarded: " + std::to_string(buffered().size()) + " octets");
  }
  in_.clear();
  in_start_ = 0;
  enter_state(now, S::tls_handshake);
  events_.emplace_back(StartTlsEvent{});
}

void Server::do_auth(Instant now, const CommandLine& command) {
  const std::string_view argument = command.argument;
  const auto space = argument.find(' ');
  const std::string mechanism = upper_ascii(argument.substr(0, space));
  const bool has_initial = space != std::string_view::npos;
  const std::string_view initial = has_initial ? argument.substr(space + 1) : std::string_view{};
  if (mechanism != "PLAIN" && mechanism != "LOGIN") {
    send(replies::mechanism_unsupported());  // 504 5.5.4, RFC 4954 §4
    return;
  }
  if (has_initial && (initial.empty() || has_byte(initial, ' '))) {
    send(replies::syntax("AUTH mechanism [initial-response]"));  // 501 5.5.4, RFC 4954 §4
    return;
  }
  if (mechanism == "PLAIN") {
    if (!has_initial) {
      sasl_step_ = SaslStep::plain_response;
      send(replies::auth_challenge(""));  // 334, RFC 4954 §4, RFC 4616 §2
      enter_state(now, S::auth);
      return;
    }
    sasl_step_ = SaslStep::plain_response;
    handle_sasl_line(now, initial == "=" ? std::string_view{} : initial, false);
    return;
  }
  if (!has_initial) {
    sasl_step_ = SaslStep::login_user;
    send(replies::auth_challenge("VXNlcm5hbWU6"));  // 334 "Username:"
    enter_state(now, S::auth);
    return;
  }
  sasl_step_ = SaslStep::login_user;
  enter_state(now, S::auth);
  handle_sasl_line(now, initial == "=" ? std::string_view{} : initial, false);
}

void Server::do_nothing(Instant, const CommandLine&) {}

void Server::handle_sasl_line(Instant now, std::string_view line, bool bare_lf) {
  if (line == "*") {
    send(replies::auth_cancelled());  // 501 5.7.0, RFC 4954 §4
    enter_state(now, S::ready);
    return;
  }
  const auto decoded = bare_lf ? std::nullopt : base64_decode(line);
  if (!decoded) {
    send(replies::auth_bad_base64());  // 501 5.5.2, RFC 4954 §4
    enter_state(now, S::ready);
    return;
  }
  switch (sasl_step_) {
    case SaslStep::plain_response: {
      const auto credentials = decode_sasl_plain(line);
      if (!credentials) {
        send(replies::auth_failed());  // 535 5.7.8, RFC 4954 §6
        enter_state(now, S::ready);
        return;
      }
      finish_auth(now, credentials->user, credentials->password);
      return;
    }
    case SaslStep::login_user:
      sasl_login_user_ = *decoded;
      sasl_step_ = SaslStep::login_password;
      send(replies::auth_challenge("UGFzc3dvcmQ6"));  // 334 "Password:"
      enter_state(now, S::auth);
      return;
    case SaslStep::login_password:
      finish_auth(now, sasl_login_user_, *decoded);
      sasl_login_user_.clear();
      return;
  }
}

void Server::finish_auth(Instant now, std::string_view user, std::string_view password) {
  // Catalogue row 25: an identity with CR, LF or NUL never becomes a user.
  const bool clean = !user.empty() && user.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
  if (clean && policy_.credentials().verify_password(user, password)) {
    user_ = std::string(user);
    send(replies::auth_ok());  // 235 2.7.0, RFC 4954 §6
  } else {
    send(replies::auth_failed());  // 535 5.7.8, RFC 4954 §6
  }
  enter_state(now, S::ready);
}

}  // namespace maillab::net::smtp
