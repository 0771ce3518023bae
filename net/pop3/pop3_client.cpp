#include "net/pop3/pop3_client.hpp"

#include <algorithm>
#include <array>
#include <cassert>
#include <map>
#include <utility>

#include "net/core/sasl.hpp"

namespace maillab::net::pop3 {

namespace {

constexpr std::uint16_t bit(ClientState state) {
  return static_cast<std::uint16_t>(1U << static_cast<unsigned>(state));
}

constexpr std::array<std::string_view, kClientStateCount> kStateNames = {
    "GREETING", "CAPA", "STLS", "TLS HANDSHAKE", "LOGIN", "STAT", "UIDL", "RETR", "DELE", "QUIT", "DONE",
};

constexpr std::uint16_t kAlways = bit(ClientState::quit) | bit(ClientState::done);

// kTransitions[from] = the states `from` may move to.
constexpr std::array<std::uint16_t, kClientStateCount> kTransitions = {
    /* greeting */ bit(ClientState::capa) | bit(ClientState::done),
    /* capa */ bit(ClientState::stls) | bit(ClientState::login) | kAlways,
    /* stls */ bit(ClientState::tls_handshake) | bit(ClientState::login) | kAlways,
    /* tls_handshake */ bit(ClientState::capa) | bit(ClientState::done),
    /* login */ bit(ClientState::stat) | kAlways,
    /* stat */ bit(ClientState::uidl) | kAlways,
    /* uidl */ bit(ClientState::retr) | kAlways,
    /* retr */ bit(ClientState::dele) | kAlways,
    /* dele */ bit(ClientState::retr) | kAlways,
    /* quit */ bit(ClientState::done),
    /* done */ 0,
};

// RFC 5034 §4: a client must not send an initial response that makes the
// AUTH command longer than 255 octets.
constexpr std::size_t kAuthCommandBytesMax = 255;

// "+OK 1234 octets" (RFC 1939 §7 example, also Dovecot's wording).
std::optional<std::uint64_t> parse_size_hint(std::string_view status) {
  if (!status.starts_with("+OK ")) return std::nullopt;
  status.remove_prefix(4);
  const auto space = status.find(' ');
  if (space == std::string_view::npos || status.substr(space + 1) != "octets") return std::nullopt;
  const auto number = parse_number(status.substr(0, space));
  if (!number) return std::nullopt;
  return *number;
}

}  // namespace

Client::Client(ClientConfig config, Instant now)
    : config_(std::move(config)),
      tls_active_(config_.tls_active),
      reader_(config_.line_bytes_max),
      deadline_(now + config_.reply_timeout) {}

std::string_view Client::state_name(ClientState state) {
  return kStateNames[static_cast<std::size_t>(state)];
}

void Client::enter_state(ClientState next) {
  if (next == state_) return;
  const bool allowed = (kTransitions[static_cast<std::size_t>(state_)] & bit(next)) != 0;
  assert(allowed && "pop3 client: transition not in the table");
  (void)allowed;
  events_.emplace_back(StateEvent{state_name(state_), state_name(next)});
  state_ = next;
}

void Client::handle_bytes(Instant now, std::string_view bytes) {
  if (state_ == ClientState::done) return;
  if (state_ == ClientState::tls_handshake) {
    events_.emplace_back(BodyEvent{Direction::server_to_client,
                                   "plaintext discarded after STLS (CVE-2011-0411)", 0, bytes.size(),
                                   false});
    return;
  }
  deadline_ = now + config_.reply_timeout;
  reader_.append(bytes);
  std::string line;
  while (state_ != ClientState::done && state_ != ClientState::tls_handshake) {
    const auto status = reader_.next(line);
    if (status == LineReader::Status::need_more) break;
    if (status == LineReader::Status::too_long) {
      finish("the server sent a line longer than " + std::to_string(config_.line_bytes_max) + " octets");
      break;
    }
    if (in_body_) {
      on_body_line(line);
    } else {
      on_status(line);
    }
  }
  if (state_ == ClientState::tls_handshake) {
    const std::size_t dropped = reader_.clear();
    if (dropped > 0) {
      events_.emplace_back(BodyEvent{Direction::server_to_client,
                                     "plaintext discarded after STLS (CVE-2011-0411)", 0, dropped,
                                     false});
    }
  }
}

void Client::handle_timeout(Instant now) {
  if (state_ == ClientState::done || now < deadline_) return;
  finish("timed out waiting for the server");
}

void Client::handle_close(Instant /*now*/) {
  if (state_ == ClientState::done) return;
  finish("the server closed the connection");
}

void Client::handle_tls_established(Instant now) {
  if (state_ == ClientState::done) return;  // the run ended while the handshake ran
  assert(state_ == ClientState::tls_handshake && "pop3 client: TLS established without STLS");
  tls_active_ = true;
  deadline_ = now + config_.reply_timeout;
  // RFC 2595 §4: capabilities learnt before TLS are forgotten; ask again.
  capabilities_.clear();
  enter_state(ClientState::capa);
  send("CAPA");
  expect(Step::capa, true);
}

std::string Client::poll_transmit() { return std::exchange(out_, {}); }

std::optional<ClientEvent> Client::poll_event() {
  if (events_.empty()) return std::nullopt;
  ClientEvent event = std::move(events_.front());
  events_.pop_front();
  return event;
}

Instant Client::poll_timeout() const { return state_ == ClientState::done ? never : deadline_; }

void Client::send(std::string_view line) {
  out_ += line;
  out_ += "\r\n";
  ++lines_sent_;
  if (config_.line_events.sent) events_.emplace_back(LineEvent{Direction::client_to_server, std::string(line), tls_active_});
}

void Client::expect(Step step, bool multiline) {
  step_ = step;
  multiline_ = multiline;
  size_hint_.reset();
}

void Client::on_status(const std::string& line) {
  if (config_.line_events.peer) events_.emplace_back(LineEvent{Direction::server_to_client, line, tls_active_});
  const bool ok = line == "+OK" || line.starts_with("+OK ");
  const bool err = line == "-ERR" || line.starts_with("-ERR ");
  const bool continuation = line == "+" || line.starts_with("+ ");
  if (continuation && step_ == Step::auth) {
    send(encode_sasl_plain(config_.user, config_.password));
    expect(Step::auth_continue, false);
    return;
  }
  if (!ok && !err) {
    finish("unexpected reply from the server: " + line);
    return;
  }
  if (ok && multiline_) {
    size_hint_ = parse_size_hint(line);
    in_body_ = true;
    body_.clear();
    // Room for the announced message at once (it grew line by line, doubling), capped:
    // a server's word is no reason to take much memory before the octets arrive.
    if (size_hint_) body_.reserve(static_cast<std::size_t>(std::min<std::uint64_t>(*size_hint_ + 2, 64 * 1024)));
    body_lines_ = 0;
    return;
  }
  switch (step_) {
    case Step::greeting:
      if (err) {
        finish("the server refused the session: " + line);
        return;
      }
      timestamp_ = std::string(greeting_timestamp(line));
      enter_state(ClientState::capa);
      send("CAPA");  // RFC 2449 §5
      expect(Step::capa, true);
      return;
    case Step::capa:  // -ERR: a server without CAPA; carry on without capabilities
      capabilities_.clear();
      after_capa();
      return;
    case Step::stls:
      if (ok) {
        enter_state(ClientState::tls_handshake);
        step_ = Step::none;
        events_.emplace_back(StartTlsEvent{});
        return;
      }
      if (config_.stls == StlsPolicy::required) {
        quit("the server refused STLS: " + line);
        return;
      }
      start_login();
      return;
    case Step::user:
      if (err) {
        login_failed(line);
        return;
      }
      send("PASS " + config_.password);
      expect(Step::pass, false);
      return;
    case Step::pass:
    case Step::apop:
    case Step::auth:
    case Step::auth_continue:
      if (err) {
        login_failed(line);
        return;
      }
      enter_state(ClientState::stat);
      send("STAT");
      expect(Step::stat, false);
      return;
    case Step::stat: {
      if (err) {
        quit("STAT failed: " + line);
        return;
      }
      const CommandLine reply = split_command(line);
      const auto count = reply.args.empty() ? std::nullopt : parse_number(reply.args[0]);
      if (!count) {
        quit("STAT reply without a message count: " + line);
        return;
      }
      messages_on_server_ = *count;
      if (messages_on_server_ == 0) {
        quit({});
        return;
      }
      enter_state(ClientState::uidl);
      send("UIDL");
      expect(Step::uidl, true);
      return;
    }
    case Step::uidl:  // -ERR: no unique ids; fetch everything
      for (std::uint32_t n = 1; n <= messages_on_server_; ++n) work_.push_back(Work{n, {}});
      next_message();
      return;
    case Step::retr:  // -ERR: skip this message
      next_message();
      return;
    case Step::dele:
      if (ok) ++marked_;
      next_message();
      return;
    case Step::quit:
      finish(err ? "QUIT failed, deletions not applied: " + line : error_, ok);
      return;
    case Step::none:
      finish("reply without a command: " + line);
      return;
  }
}

void Client::on_body_line(std::string_view line) {
  if (line == ".") {
    in_body_ = false;
    on_body_end();
    return;
  }
  body_ += dot_unstuff(line);
  body_ += "\r\n";
  ++body_lines_;
  if (body_.size() > config_.message_bytes_max) {
    finish("the server sent more than " + std::to_string(config_.message_bytes_max) + " octets");
  }
}

void Client::on_body_end() {
  static constexpr std::array<std::string_view, 4> kWhat = {"capability list", "unique-id listing",
                                                             "message", "response"};
  const std::string_view what = step_ == Step::capa   ? kWhat[0]
                                : step_ == Step::uidl ? kWhat[1]
                                : step_ == Step::retr ? kWhat[2]
                                                      : kWhat[3];
  events_.emplace_back(BodyEvent{Direction::server_to_client, std::string(what), body_lines_,
                                 body_.size(), tls_active_});
  std::vector<std::string_view> lines;
  if (step_ == Step::capa || step_ == Step::uidl) {
    std::string_view rest = body_;
    while (!rest.empty()) {
      const auto end = rest.find("\r\n");
      lines.push_back(rest.substr(0, end));
      rest.remove_prefix(end + 2);
    }
  }
  switch (step_) {
    case Step::capa:
      capabilities_.clear();
      for (const std::string_view line : lines) capabilities_.push_back(split_command(line).verb);
      after_capa();
      return;
    case Step::uidl: {
      std::map<std::uint32_t, std::string> uidls;
      for (const std::string_view line : lines) {
        const CommandLine entry = split_command(line);
        const auto number = parse_number(entry.verb);
        if (number && entry.args.size() == 1) uidls[*number] = std::string(entry.args[0]);
      }
      for (std::uint32_t n = 1; n <= messages_on_server_; ++n) {
        const auto it = uidls.find(n);
        if (it == uidls.end()) continue;  // gone from the listing: nothing to fetch
        if (config_.known_uidls.contains(it->second)) {
          ++skipped_known_;
          continue;
        }
        work_.push_back(Work{n, it->second});
      }
      next_message();
      return;
    }
    case Step::retr: {
      // A final line stored without CRLF got one on the wire; the size says so.
      if (size_hint_ && body_.size() == *size_hint_ + 2 && body_.ends_with("\r\n")) body_.resize(*size_hint_);
      const Work& work = work_[work_next_ - 1];
      ++retrieved_;
      events_.emplace_back(RetrievedEvent{work.number, work.uidl, std::exchange(body_, {})});
      if (config_.mode == RetrieveMode::delete_after_retrieve) {
        enter_state(ClientState::dele);
        send("DELE " + std::to_string(work.number));
        expect(Step::dele, false);
        return;
      }
      next_message();
      return;
    }
    default:
      finish("multi-line reply to a single-line command");
      return;
  }
}

void Client::after_capa() {
  const bool offers_stls = std::find(capabilities_.begin(), capabilities_.end(), "STLS") != capabilities_.end();
  if (!tls_active_ && config_.stls != StlsPolicy::never) {
    if (offers_stls) {
      enter_state(ClientState::stls);
      send("STLS");  // RFC 2595 §4
      expect(Step::stls, false);
      return;
    }
    if (config_.stls == StlsPolicy::required) {
      quit("the server does not offer STLS");
      return;
    }
  }
  start_login();
}

void Client::start_login() {
  enter_state(ClientState::login);
  switch (config_.method) {
    case LoginMethod::user_pass:
      send("USER " + config_.user);  // RFC 1939 §7
      expect(Step::user, false);
      return;
    case LoginMethod::apop:
      if (timestamp_.empty()) {
        login_failed("the greeting has no APOP timestamp");
        return;
      }
      send("APOP " + config_.user + " " + apop_digest(timestamp_, config_.password));  // RFC 1939 §7
      expect(Step::apop, false);
      return;
    case LoginMethod::sasl_plain: {
      const std::string response = encode_sasl_plain(config_.user, config_.password);
      if (response.size() + 11 <= kAuthCommandBytesMax) {
        send("AUTH PLAIN " + response);  // RFC 5034 §4, initial response
      } else {
        send("AUTH PLAIN");
      }
      expect(Step::auth, false);
      return;
    }
  }
}

void Client::login_failed(std::string reply) {
  events_.emplace_back(LoginFailedEvent{reply});
  quit("login failed: " + reply);
}

void Client::next_message() {
  if (work_next_ >= work_.size()) {
    quit({});
    return;
  }
  const Work& work = work_[work_next_++];
  enter_state(ClientState::retr);
  send("RETR " + std::to_string(work.number));
  expect(Step::retr, true);
}

void Client::quit(std::string error) {
  error_ = std::move(error);
  enter_state(ClientState::quit);
  send("QUIT");
  expect(Step::quit, false);
}

void Client::finish(std::string error, bool committed) {
  if (state_ == ClientState::done) return;
  SummaryEvent summary;
  summary.ok = error.empty();
  summary.messages_on_server = messages_on_server_;
  summary.retrieved = retrieved_;
  summary.skipped_known = skipped_known_;
  summary.deleted = committed ? marked_ : 0;
  summary.error = std::move(error);
  const std::string reason = summary.ok ? "QUIT" : summary.error;
  events_.emplace_back(std::move(summary));
  in_body_ = false;
  step_ = Step::none;
  enter_state(ClientState::done);
  events_.emplace_back(CloseEvent{reason});
}

}  // namespace maillab::net::pop3
