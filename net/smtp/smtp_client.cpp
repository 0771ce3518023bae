#include "net/smtp/smtp_client.hpp"

#include <algorithm>
#include <cassert>
#include <chrono>
#include <cstring>
#include <initializer_list>
#include <limits>
#include <utility>

#include "net/core/base64.hpp"
#include "net/core/line_break.hpp"
#include "net/core/sasl.hpp"

namespace maillab::net::smtp {

namespace {

using S = ClientState;
using namespace std::chrono_literals;

constexpr std::size_t index(S state) { return static_cast<std::size_t>(state); }

constexpr std::array<std::string_view, client_state_count> state_names = {
    "greeting", "ehlo", "helo", "starttls", "tls_handshake", "auth",  "mail",
    "rcpt",     "data", "data_body", "data_end", "rset",       "quit", "closed",
};

// RFC 5321 §4.5.3.2 for the states it names; Postfix's smtp_*_timeout for the rest.
constexpr std::array<Duration, client_state_count> state_timeouts = {
    Duration{5min},  // greeting: §4.5.3.2.1 initial 220
    Duration{5min},  // ehlo (Postfix smtp_helo_timeout)
    Duration{5min},  // helo
    Duration{5min},  // starttls (Postfix smtp_starttls_timeout)
    Duration{5min},  // tls_handshake
    Duration{5min},  // auth
    Duration{5min},  // mail: §4.5.3.2.2
    Duration{5min},  // rcpt: §4.5.3.2.3
    Duration{2min},  // data: §4.5.3.2.4 DATA initiation
    Duration{3min},  // data_body: §4.5.3.2.5 data block
    Duration{10min}, // data_end: §4.5.3.2.6 DATA termination
    Duration{5min},  // rset (Postfix smtp_rset_timeout is shorter; 5 min keeps to §4.5.3.2.7)
    Duration{5min},  // quit (Postfix smtp_quit_timeout)
    Duration{0},     // closed: no deadline
};

// Which command a timeout in each state was waiting on.
constexpr std::array<Stage, client_state_count> state_stages = {
    Stage::greeting, Stage::ehlo, Stage::helo, Stage::starttls, Stage::starttls, Stage::auth, Stage::mail,
    Stage::rcpt,     Stage::data, Stage::end_of_data, Stage::end_of_data, Stage::rset, Stage::quit,
    Stage::connection,
};

using TransitionTable = std::array<std::array<bool, client_state_count>, client_state_count>;

constexpr TransitionTable make_transitions() {
  TransitionTable t{};
  auto allow = [&t](S from, std::initializer_list<S> to) {
    for (S next : to) t[index(from)][index(next)] = true;
  };
  allow(S::greeting, {S::ehlo, S::quit, S::closed});
  allow(S::ehlo, {S::helo, S::starttls, S::auth, S::mail, S::quit, S::closed});
  allow(S::helo, {S::mail, S::quit, S::closed});
  allow(S::starttls, {S::tls_handshake, S::auth, S::mail, S::quit, S::closed});
  allow(S::tls_handshake, {S::ehlo, S::closed});
  allow(S::auth, {S::mail, S::quit, S::closed});
  allow(S::mail, {S::rcpt, S::mail, S::quit, S::closed});
  allow(S::rcpt, {S::data, S::rset, S::mail, S::quit, S::closed});
  allow(S::data, {S::data_body, S::rset, S::mail, S::quit, S::closed});
  allow(S::data_body, {S::data_end, S::closed});
  allow(S::data_end, {S::mail, S::quit, S::closed});
  allow(S::rset, {S::mail, S::quit, S::closed});
  allow(S::quit, {S::closed});
  return t;
}
constexpr TransitionTable transitions = make_transitions();

constexpr std::array<std::string_view, 12> stage_names = {
    "connection", "greeting", "EHLO", "HELO", "STARTTLS", "AUTH",
    "MAIL FROM",  "RCPT TO",  "DATA", "end of DATA", "RSET", "QUIT",
};

bool has_8bit(std::string_view text) {
  return std::any_of(text.begin(), text.end(), [](char c) { return static_cast<unsigned char>(c) >= 0x80; });
}

bool unsafe_in_path(std::string_view address) {
  return std::any_of(address.begin(), address.end(), [](char c) {
    return c == '\r' || c == '\n' || c == '\0' || c == '<' || c == '>';
  });
}

// `text` is `keyword` (upper case) in any case; the lengths differ for most pairs.
bool is_keyword(std::string_view text, std::string_view keyword) {
  if (text.size() != keyword.size()) return false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if ((c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c) != keyword[i]) return false;
  }
  return true;
}

// "550 5.1.1 No such user" with every line of the text, joined by spaces.
std::string reply_summary(const Reply& reply) {
  std::string out = std::to_string(reply.code);
  if (!reply.enhanced.empty()) out += " " + reply.enhanced;
  for (const auto& line : reply.lines) {
    if (!line.empty()) out += " " + line;
  }
  return out;
}

Verdict local_verdict(Delivery delivery, FailureScope scope, Stage stage, std::string diagnostic) {
  return Verdict{delivery, scope, stage, std::nullopt, std::move(diagnostic)};
}

}  // namespace

std::string_view client_state_name(ClientState state) { return state_names[index(state)]; }
Duration client_state_timeout(ClientState state) { return state_timeouts[index(state)]; }
bool client_transition_allowed(ClientState from, ClientState to) { return transitions[index(from)][index(to)]; }
std::string_view stage_name(Stage stage) { return stage_names[static_cast<std::size_t>(stage)]; }

Verdict classify(Stage stage, const Reply& reply) {
  Verdict verdict;
  verdict.stage = stage;
  verdict.reply = reply;
  verdict.diagnostic = reply_summary(reply) + " (in reply to " + std::string(stage_name(stage)) + ")";
  verdict.delivery = reply.code >= 500 && reply.code < 600 ? Delivery::permanent : Delivery::transient;
  switch (stage) {
    case Stage::rcpt: verdict.scope = FailureScope::recipient; break;
    case Stage::mail:
    case Stage::data:
    case Stage::end_of_data: verdict.scope = FailureScope::message; break;
    default: verdict.scope = FailureScope::session; break;
  }
  // RFC 5321 §3.8: 421 at any time means the service is closing; try again later.
  if (reply.code == 421) verdict.scope = FailureScope::session;
  // RFC 5321 §3.1: a 554 greeting refuses this client, not the mail; another MX
  // or a later attempt may take it (Postfix smtp_skip_5xx_greeting).
  if (stage == Stage::greeting) verdict.delivery = Delivery::transient;
  // RFC 5321 §4.5.3.1.10: 552 to RCPT is the old "too many recipients"; treat as 452.
  if (stage == Stage::rcpt && reply.code == 552) verdict.delivery = Delivery::transient;
  return verdict;
}

Extensions parse_extensions(const Reply& ehlo_reply) {
  Extensions ext;
  // Keywords and mechanisms compare without case (RFC 5321 §2.4), in place: no upper-cased copy per line.
  for (std::size_t i = 1; i < ehlo_reply.lines.size(); ++i) {
    std::string_view rest = ehlo_reply.lines[i];
    const std::size_t space = rest.find_first_of(" =");
    const std::string_view keyword = rest.substr(0, space);
    rest = space == std::string_view::npos ? std::string_view{} : rest.substr(space + 1);
    if (is_keyword(keyword, "PIPELINING")) {
      ext.pipelining = true;
    } else if (is_keyword(keyword, "SIZE")) {
      ext.size = true;
      std::uint64_t value = 0;
      bool ok = !rest.empty();
      for (char c : rest) {
        if (c < '0' || c > '9' || value > (std::numeric_limits<std::uint64_t>::max() - 9) / 10) {
          ok = false;
          break;
        }
        value = value * 10 + static_cast<std::uint64_t>(c - '0');
      }
      ext.size_max = ok ? value : 0;
    } else if (is_keyword(keyword, "8BITMIME")) {
      ext.eight_bit_mime = true;
    } else if (is_keyword(keyword, "ENHANCEDSTATUSCODES")) {
      ext.enhanced_status_codes = true;
    } else if (is_keyword(keyword, "STARTTLS")) {
      ext.starttls = true;
    } else if (is_keyword(keyword, "SMTPUTF8")) {
      ext.smtputf8 = true;
    } else if (is_keyword(keyword, "AUTH")) {
      while (!rest.empty()) {
        const std::size_t end = rest.find(' ');
        const std::string_view mechanism = rest.substr(0, end);
        if (is_keyword(mechanism, "PLAIN")) ext.auth_plain = true;
        if (is_keyword(mechanism, "LOGIN")) ext.auth_login = true;
        rest = end == std::string_view::npos ? std::string_view{} : rest.substr(end + 1);
      }
    }
  }
  return ext;
}

std::string dot_stuff(std::string_view data) {
  std::string out;
  out.reserve(data.size() + data.size() / 32 + 5);
  bool line_start = true;
  std::size_t i = 0;
  while (i < data.size()) {
    const std::size_t brk = next_line_break(data, i);
    if (brk > i) {  // a run of ordinary bytes: copied whole, a leading dot doubled
      if (line_start && data[i] == '.') out += '.';
      out.append(data.substr(i, brk - i));
      line_start = false;
    }
    if (brk == data.size()) break;
    out += "\r\n";
    line_start = true;
    i = after_line_break(data, brk);
  }
  if (!line_start) out += "\r\n";
  out += ".\r\n";
  return out;
}

std::size_t normalised_size(std::string_view data) {
  std::size_t size = 0;
  bool line_start = true;
  std::size_t i = 0;
  while (i < data.size()) {
    const std::size_t brk = next_line_break(data, i);
    if (brk > i) {
      size += brk - i;
      line_start = false;
    }
    if (brk == data.size()) break;
    size += 2;
    line_start = true;
    i = after_line_break(data, brk);
  }
  if (!line_start) size += 2;
  return size;
}

Client::Client(ClientConfig config, Instant now)
    : config_(std::move(config)), last_now_(now), parser_(config_.reply_limits), tls_(config_.tls_from_start) {
  parser_.set_line_text(config_.line_events.peer);  // the line's text is only read for its LineEvent
  deadline_ = now + client_state_timeout(ClientState::greeting);
  pending_.push_back({Expect::greeting});
  progress_.resize(config_.messages.size());
  for (std::size_t m = 0; m < config_.messages.size(); ++m) {
    progress_[m].rcpts.assign(config_.messages[m].forward_paths.size(), RcptState::pending);
    progress_[m].verdicts.resize(config_.messages[m].forward_paths.size());
  }
}

// --- the engine contract ----------------------------------------------------

void Client::handle_bytes(Instant now, std::string_view bytes) {
  last_now_ = now;
  // RFC 3207 §6: nothing read in plaintext after the go-ahead may count as a reply.
  if (state_ == ClientState::closed || state_ == ClientState::tls_handshake) return;
  parser_.feed(bytes);
  while (state_ != ClientState::closed && state_ != ClientState::tls_handshake) {
    auto item = parser_.next();
    if (!item) break;
    if (!item->ok()) {
      fail_session(now,
                   local_verdict(Delivery::transient, FailureScope::session, Stage::connection,
                                 "malformed reply: " + item->error().message),
                   false);
      return;
    }
    ReplyLine line = std::move(item->value());
    if (config_.line_events.peer) emit(LineEvent{Direction::server_to_client, std::move(line.text), tls_});
    if (line.reply) on_reply(now, *line.reply);
  }
}

void Client::handle_timeout(Instant now) {
  last_now_ = now;
  if (state_ == ClientState::closed || now < deadline_) return;
  const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(client_state_timeout(state_)).count();
  std::string what = "timeout after " + std::to_string(seconds) + " s in state " +
                     std::string(client_state_name(state_)) + " (RFC 5321 §4.5.3.2)";
  if (state_ == ClientState::quit) {
    close(now, what);
    return;
  }
  fail_session(now,
               local_verdict(Delivery::transient, FailureScope::session, state_stages[index(state_)], what),
               false);
}

void Client::handle_close(Instant now) {
  last_now_ = now;
  if (state_ == ClientState::closed) return;
  if (state_ == ClientState::quit) {
    close(now, "closed by the server after QUIT");
    return;
  }
  fail_session(now,
               local_verdict(Delivery::transient, FailureScope::session, state_stages[index(state_)],
                             "connection closed by the server in state " +
                                 std::string(client_state_name(state_))),
               false);
}

void Client::handle_tls_established(Instant now) {
  assert(state_ == ClientState::tls_handshake);
  last_now_ = now;
  tls_ = true;
  // RFC 3207 §4.2: forget everything learnt before TLS and say EHLO again.
  extensions_ = {};
  parser_.set_enhanced_status_codes(false);
  parser_.discard_buffered();
  send_ehlo(now);
}

std::string Client::poll_transmit() {
  std::string out = std::move(transmit_);
  transmit_.clear();
  if (state_ == ClientState::data_body) {
    std::size_t lines = 0;  // counted with memchr: a byte-by-byte count was 1% of a simulator run
    for (const char* p = content_.data(), *end = p + content_.size();
         (p = static_cast<const char*>(std::memchr(p, '\n', static_cast<std::size_t>(end - p)))) != nullptr; ++p)
      ++lines;
    emit(ContentSentEvent{current_, content_.size(), lines - 1});
    if (out.empty()) out.swap(content_);  // the message content leaves uncopied
    else out += content_;
    content_.clear();
    enter_state(ClientState::data_end, last_now_);
  }
  return out;
}

std::optional<ClientEvent> Client::poll_event() {
  if (events_.empty()) return std::nullopt;
  ClientEvent event = std::move(events_.front());
  events_.pop_front();
  return event;
}

Instant Client::poll_timeout() const { return deadline_; }

// --- plumbing -----------------------------------------------------------------

void Client::enter_state(ClientState next, Instant now) {
  assert(client_transition_allowed(state_, next) && "SMTP client: transition not in the table");
  if (config_.state_events) emit(StateEvent{client_state_name(state_), client_state_name(next)});
  state_ = next;
  deadline_ = next == ClientState::closed ? never : now + client_state_timeout(next);
}

void Client::send_line(std::string line) {
  transmit_.reserve(transmit_.size() + line.size() + 2);  // with its CRLF: one allocation
  transmit_ += line;
  transmit_ += "\r\n";
  ++lines_sent_;
  if (config_.line_events.sent) emit(LineEvent{Direction::client_to_server, std::move(line), tls_});
}

void Client::emit(ClientEvent event) { events_.push_back(std::move(event)); }

void Client::on_reply(Instant now, const Reply& reply) {
  deadline_ = now + client_state_timeout(state_);  // every reply re-arms the wait for the next
  // The client sends its next command as soon as a reply is read, so something is
  // always outstanding here; an extra reply is matched to that next command.
  assert(!pending_.empty());
  const Pending pending = pending_.front();
  pending_.pop_front();
  if (state_ == ClientState::quit) {
    if (pending.expect == Expect::quit) close(now, "QUIT");
    return;  // a reply to a command sent before the session failed
  }
  if (reply.code == 421) {
    fail_session(now, classify(stage_of(pending.expect), reply), false);
    return;
  }
  if (state_ == ClientState::data_body) {
    fail_session(now,
                 local_verdict(Delivery::transient, FailureScope::session, Stage::end_of_data,
                               "reply before the message content was sent: " + reply_summary(reply)),
                 false);
    return;
  }
  switch (pending.expect) {
    case Expect::greeting: on_greeting(now, reply); break;
    case Expect::ehlo: on_ehlo(now, reply); break;
    case Expect::helo: on_helo(now, reply); break;
    case Expect::starttls: on_starttls(now, reply); break;
    case Expect::auth_plain:
    case Expect::auth_login_user:
    case Expect::auth_login_password:
    case Expect::auth_response: on_auth(now, pending.expect, reply); break;
    case Expect::mail: on_mail(now, reply); break;
    case Expect::rcpt: on_rcpt(now, pending.rcpt, reply); break;
    case Expect::data: on_data(now, reply); break;
    case Expect::end_of_data: on_end_of_data(now, reply); break;
    case Expect::rset: on_rset(now, reply); break;
    case Expect::quit: close(now, "QUIT"); break;
  }
}

Stage Client::stage_of(Expect expect) {
  switch (expect) {
    case Expect::greeting: return Stage::greeting;
    case Expect::ehlo: return Stage::ehlo;
    case Expect::helo: return Stage::helo;
    case Expect::starttls: return Stage::starttls;
    case Expect::auth_plain:
    case Expect::auth_login_user:
    case Expect::auth_login_password:
    case Expect::auth_response: return Stage::auth;
    case Expect::mail: return Stage::mail;
    case Expect::rcpt: return Stage::rcpt;
    case Expect::data: return Stage::data;
    case Expect::end_of_data: return Stage::end_of_data;
    case Expect::rset: return Stage::rset;
    case Expect::quit: return Stage::quit;
  }
  return Stage::connection;
}

// --- the dialog ---------------------------------------------------------------

void Client::on_greeting(Instant now, const Reply& reply) {
  if (reply.code == 220) {
    send_ehlo(now);
    return;
  }
  // RFC 5321 §3.1: after a 554 greeting the server waits for QUIT.
  fail_session(now, classify(Stage::greeting, reply), true);
}

void Client::send_ehlo(Instant now) {
  send_line("EHLO " + config_.helo_name);
  pending_.push_back({Expect::ehlo});
  enter_state(ClientState::ehlo, now);
}

void Client::on_ehlo(Instant now, const Reply& reply) {
  if (reply.code_class() == 2) {
    extensions_ = parse_extensions(reply);
    parser_.set_enhanced_status_codes(extensions_.enhanced_status_codes);
    after_hello(now);
    return;
  }
  // RFC 5321 §3.2: a server that does not know EHLO answers 500 or 502; fall back to HELO.
  if (reply.code == 500 || reply.code == 502) {
    helo_fallback_ = true;
    send_line("HELO " + config_.helo_name);
    pending_.push_back({Expect::helo});
    enter_state(ClientState::helo, now);
    return;
  }
  fail_session(now, classify(Stage::ehlo, reply), true);
}

void Client::on_helo(Instant now, const Reply& reply) {
  if (reply.code_class() == 2) {
    extensions_ = {};
    after_hello(now);
    return;
  }
  fail_session(now, classify(Stage::helo, reply), true);
}

void Client::after_hello(Instant now) {
  if (!tls_ && config_.tls != TlsPolicy::none && extensions_.starttls && !starttls_refused_) {
    send_line("STARTTLS");
    pending_.push_back({Expect::starttls});
    enter_state(ClientState::starttls, now);
    return;
  }
  if (!tls_ && config_.tls == TlsPolicy::required) {
    fail_session(now,
                 local_verdict(Delivery::transient, FailureScope::session,
                               helo_fallback_ ? Stage::helo : Stage::ehlo,
                               starttls_refused_ ? "TLS is required, but the server refused STARTTLS"
                                                 : "TLS is required, but the server does not offer STARTTLS"),
                 true);
    return;
  }
  const bool may_auth = config_.credentials && !authenticated_ && (tls_ || config_.auth_without_tls);
  for (AuthMechanism mechanism : config_.auth_mechanisms) {
    if (!may_auth) break;
    if (mechanism == AuthMechanism::plain && extensions_.auth_plain) {
      // RFC 4954 §4 with an initial response (RFC 4616).
      send_line("AUTH PLAIN " + encode_sasl_plain(config_.credentials->user, config_.credentials->password));
      pending_.push_back({Expect::auth_plain});
      enter_state(ClientState::auth, now);
      return;
    }
    if (mechanism == AuthMechanism::login && extensions_.auth_login) {
      send_line("AUTH LOGIN");
      pending_.push_back({Expect::auth_login_user});
      enter_state(ClientState::auth, now);
      return;
    }
  }
  start_message(now);
}

void Client::on_starttls(Instant now, const Reply& reply) {
  if (reply.code == 220) {
    // RFC 3207 §4.2 / CVE-2011-0411: whatever followed the 220 in plaintext is dropped.
    parser_.discard_buffered();
    enter_state(ClientState::tls_handshake, now);
    emit(StartTlsEvent{});
    return;
  }
  starttls_refused_ = true;
  if (config_.tls == TlsPolicy::required) {
    Verdict verdict = classify(Stage::starttls, reply);
    verdict.delivery = Delivery::transient;  // a TLS problem is the site's: try later
    fail_session(now, std::move(verdict), true);
    return;
  }
  after_hello(now);  // opportunistic: carry on in plaintext
}

void Client::on_auth(Instant now, Expect expect, const Reply& reply) {
  const ClientCredentials& credentials = *config_.credentials;
  if (reply.code == 235) {  // RFC 4954 §6
    authenticated_ = true;
    start_message(now);
    return;
  }
  if (reply.code == 334) {  // RFC 4954 §4: a server challenge
    switch (expect) {
      case Expect::auth_plain:  // the server ignored the initial response and asks again
        send_line(encode_sasl_plain(credentials.user, credentials.password));
        pending_.push_back({Expect::auth_response});
        return;
      case Expect::auth_login_user:
        send_line(base64_encode(credentials.user));
        pending_.push_back({Expect::auth_login_password});
        return;
      case Expect::auth_login_password:
        send_line(base64_encode(credentials.password));
        pending_.push_back({Expect::auth_response});
        return;
      default: break;
    }
  }
  fail_session(now, classify(Stage::auth, reply), true);
}

std::optional<Verdict> Client::local_refusal(const OutgoingMessage& message) const {
  auto refuse = [](std::string why) {
    return local_verdict(Delivery::permanent, FailureScope::message, Stage::mail, std::move(why));
  };
  if (message.forward_paths.empty()) return refuse("message has no recipients");
  bool utf8 = has_8bit(message.reverse_path);
  bool unsafe = unsafe_in_path(message.reverse_path);
  for (const auto& path : message.forward_paths) {
    utf8 = utf8 || has_8bit(path);
    unsafe = unsafe || unsafe_in_path(path);
  }
  if (unsafe) return refuse("an address contains a line break, NUL or angle bracket");
  if (utf8 && !extensions_.smtputf8) {
    return refuse("a non-ASCII address needs SMTPUTF8, which the server does not offer (RFC 6531 §3.2)");
  }
  if (extensions_.size && extensions_.size_max != 0) {
    const std::size_t size = normalised_size(message.data);
    if (size > extensions_.size_max) {
      return refuse("message of " + std::to_string(size) + " octets exceeds the server's SIZE limit of " +
                    std::to_string(extensions_.size_max) + " (RFC 1870 §6)");
    }
  }
  return std::nullopt;
}

void Client::start_message(Instant now) {
  while (current_ < config_.messages.size()) {
    auto refusal = local_refusal(config_.messages[current_]);
    if (!refusal) break;
    for (std::size_t r = 0; r < progress_[current_].rcpts.size(); ++r) finish_recipient(current_, r, *refusal);
    finish_message(current_, *refusal);
    ++current_;
  }
  if (current_ >= config_.messages.size()) {
    send_quit(now);
    return;
  }
  const OutgoingMessage& message = config_.messages[current_];
  std::string mail = "MAIL FROM:<" + message.reverse_path + ">";
  if (extensions_.size) mail += " SIZE=" + std::to_string(normalised_size(message.data));  // RFC 1870 §3
  if (extensions_.eight_bit_mime && has_8bit(message.data)) mail += " BODY=8BITMIME";     // RFC 6152 §2
  bool utf8 = has_8bit(message.reverse_path);
  for (const auto& path : message.forward_paths) utf8 = utf8 || has_8bit(path);
  if (utf8) mail += " SMTPUTF8";  // RFC 6531 §3.4 (offered: local_refusal checked)
  send_line(std::move(mail));
  pending_.push_back({Expect::mail});
  if (extensions_.pipelining) {  // RFC 2920 §3.1: MAIL and every RCPT in one group
    for (std::size_t r = 0; r < message.forward_paths.size(); ++r) send_rcpt(r);
  }
  enter_state(ClientState::mail, now);
}

void Client::send_rcpt(std::size_t rcpt) {
  send_line("RCPT TO:<" + config_.messages[current_].forward_paths[rcpt] + ">");
  pending_.push_back({Expect::rcpt, rcpt});
}

void Client::on_mail(Instant now, const Reply& reply) {
  if (reply.code_class() == 2) {
    if (!extensions_.pipelining) send_rcpt(0);
    enter_state(ClientState::rcpt, now);
    return;
  }
  const Verdict verdict = classify(Stage::mail, reply);
  for (std::size_t r = 0; r < progress_[current_].rcpts.size(); ++r) finish_recipient(current_, r, verdict);
  finish_message(current_, verdict);
  if (extensions_.pipelining) {
    mail_refused_ = true;  // the RCPT replies of the group still come; read and drop them
    enter_state(ClientState::rcpt, now);
    return;
  }
  next_message(now, false);
}

void Client::on_rcpt(Instant now, std::size_t rcpt, const Reply& reply) {
  const std::size_t count = progress_[current_].rcpts.size();
  const bool last = rcpt + 1 == count;
  if (mail_refused_) {
    if (last) {
      mail_refused_ = false;
      next_message(now, false);
    }
    return;
  }
  if (reply.code_class() == 2) {
    progress_[current_].rcpts[rcpt] = RcptState::accepted;
  } else {
    finish_recipient(current_, rcpt, classify(Stage::rcpt, reply));
  }
  if (last) {
    after_rcpts(now);
  } else if (!extensions_.pipelining) {
    send_rcpt(rcpt + 1);
  }
}

void Client::after_rcpts(Instant now) {
  const auto& rcpts = progress_[current_].rcpts;
  if (std::find(rcpts.begin(), rcpts.end(), RcptState::accepted) != rcpts.end()) {
    send_line("DATA");
    pending_.push_back({Expect::data});
    enter_state(ClientState::data, now);
    return;
  }
  // Every recipient refused: no DATA; the message fails as its recipients did.
  const auto& outcomes = progress_[current_].verdicts;
  const bool all_permanent = std::all_of(outcomes.begin(), outcomes.end(), [](const std::optional<Verdict>& v) {
    return v && v->delivery == Delivery::permanent;
  });
  Verdict verdict = *outcomes.back();
  verdict.delivery = all_permanent ? Delivery::permanent : Delivery::transient;
  verdict.scope = FailureScope::recipient;
  verdict.diagnostic = "every recipient was refused; last: " + verdict.diagnostic;
  finish_message(current_, verdict);
  next_message(now, true);
}

void Client::next_message(Instant now, bool transaction_open) {
  ++current_;
  if (transaction_open && current_ < config_.messages.size()) {
    send_line("RSET");  // RFC 5321 §4.1.1.5: abort the open transaction before the next MAIL
    pending_.push_back({Expect::rset});
    enter_state(ClientState::rset, now);
    return;
  }
  start_message(now);
}

void Client::on_rset(Instant now, const Reply& reply) {
  if (reply.code_class() == 2) {
    start_message(now);
    return;
  }
  fail_session(now, classify(Stage::rset, reply), true);
}

void Client::on_data(Instant now, const Reply& reply) {
  if (reply.code == 354) {
    content_ = dot_stuff(config_.messages[current_].data);
    pending_.push_back({Expect::end_of_data});
    enter_state(ClientState::data_body, now);
    return;
  }
  const Verdict verdict = classify(Stage::data, reply);
  for (std::size_t r = 0; r < progress_[current_].rcpts.size(); ++r) {
    if (progress_[current_].rcpts[r] == RcptState::accepted) finish_recipient(current_, r, verdict);
  }
  finish_message(current_, verdict);
  next_message(now, true);  // MAIL and RCPT are still buffered at the server
}

void Client::on_end_of_data(Instant now, const Reply& reply) {
  Verdict verdict;
  if (reply.code_class() == 2) {
    verdict = Verdict{Delivery::accepted, FailureScope::message, Stage::end_of_data, reply,
                      reply_summary(reply) + " (in reply to end of DATA)"};
  } else {
    verdict = classify(Stage::end_of_data, reply);
  }
  std::size_t accepted = 0;
  for (std::size_t r = 0; r < progress_[current_].rcpts.size(); ++r) {
    if (progress_[current_].rcpts[r] != RcptState::accepted) continue;
    ++accepted;
    finish_recipient(current_, r, verdict);
  }
  progress_[current_].accepted = verdict.delivery == Delivery::accepted ? accepted : 0;
  finish_message(current_, verdict);
  // RFC 5321 §4.1.1.4: the end of data clears the transaction whatever the reply.
  next_message(now, false);
}

void Client::send_quit(Instant now) {
  send_line("QUIT");
  pending_.push_back({Expect::quit});
  enter_state(ClientState::quit, now);
}

// --- outcomes -------------------------------------------------------------------

void Client::finish_recipient(std::size_t message, std::size_t rcpt, const Verdict& verdict) {
  MessageProgress& progress = progress_[message];
  if (progress.rcpts[rcpt] == RcptState::done) return;
  progress.rcpts[rcpt] = RcptState::done;
  progress.verdicts[rcpt] = verdict;
  emit(RecipientOutcome{message, config_.messages[message].forward_paths[rcpt], verdict});
}

void Client::finish_message(std::size_t message, const Verdict& verdict) {
  MessageProgress& progress = progress_[message];
  if (progress.done) return;
  progress.done = true;
  emit(MessageOutcome{message, verdict, progress.accepted});
}

void Client::fail_session(Instant now, Verdict verdict, bool quit) {
  verdict.scope = FailureScope::session;
  emit(SessionFailedEvent{verdict});
  for (std::size_t m = current_; m < progress_.size(); ++m) {
    for (std::size_t r = 0; r < progress_[m].rcpts.size(); ++r) finish_recipient(m, r, verdict);
    finish_message(m, verdict);
  }
  current_ = progress_.size();
  content_.clear();
  if (quit && state_ != ClientState::quit) {
    send_quit(now);
  } else {
    close(now, verdict.diagnostic);
  }
}

void Client::close(Instant now, std::string reason) {
  pending_.clear();
  content_.clear();
  enter_state(ClientState::closed, now);
  emit(CloseEvent{std::move(reason)});
}

}  // namespace maillab::net::smtp
