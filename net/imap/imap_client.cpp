#include "net/imap/imap_client.hpp"

#include <algorithm>
#include <cassert>

#include "net/core/sasl.hpp"
#include "net/imap/imap_format.hpp"
#include "net/imap/imap_mutf7.hpp"
#include "net/imap/imap_sequence.hpp"

namespace maillab::net::imap {
namespace {

constexpr std::size_t kClientStates = kClientStateNames.size();

constexpr std::uint16_t to_bit(ClientState s) { return static_cast<std::uint16_t>(1u << static_cast<unsigned>(s)); }

// kClientTransitions[from]: the states enter_state() may move to from `from`.
constexpr std::array<std::uint16_t, kClientStates> kClientTransitions{
    to_bit(ClientState::capability),                                            // greeting
    to_bit(ClientState::starttls) | to_bit(ClientState::authenticating),        // capability
    to_bit(ClientState::tls_handshake),                                         // starttls
    to_bit(ClientState::capability),                                            // tls handshake
    to_bit(ClientState::selecting),                                             // authenticating
    to_bit(ClientState::searching),                                             // selecting
    to_bit(ClientState::fetching) | to_bit(ClientState::logging_out),           // searching
    to_bit(ClientState::storing) | to_bit(ClientState::logging_out),            // fetching
    to_bit(ClientState::logging_out),                                           // storing
    to_bit(ClientState::done),                                                  // logging out
    0,                                                                          // done
    0,                                                                          // failed
};

bool has_capability(std::string_view caps, std::string_view name) {
  std::size_t pos = 0;
  while (pos < caps.size()) {
    auto sp = caps.find(' ', pos);
    auto word = caps.substr(pos, sp == std::string_view::npos ? std::string_view::npos : sp - pos);
    if (iequals(word, name)) return true;
    if (sp == std::string_view::npos) break;
    pos = sp + 1;
  }
  return false;
}

// "[CODE arg]" at the start of a response text.
std::optional<std::string> response_code(std::string_view text, std::string_view code) {
  if (text.empty() || text[0] != '[') return std::nullopt;
  auto close = text.find(']');
  if (close == std::string_view::npos) return std::nullopt;
  auto inner = text.substr(1, close - 1);
  auto sp = inner.find(' ');
  if (!iequals(inner.substr(0, sp), code)) return std::nullopt;
  return std::string(sp == std::string_view::npos ? std::string_view{} : inner.substr(sp + 1));
}

std::string uid_list(const std::vector<std::uint32_t>& uids) {
  std::string out;
  for (auto u : uids) out += (out.empty() ? "" : ",") + std::to_string(u);
  return out;
}

ParserLimits response_limits(std::uint64_t message_bytes_max) {
  ParserLimits limits;
  limits.line_bytes_max = 1024 * 1024;
  limits.command_bytes_max = static_cast<std::size_t>(message_bytes_max) + 1024 * 1024;
  limits.literals_max = 1024;
  limits.depth_max = 64;
  limits.args_max = 100000;
  return limits;
}

}  // namespace

ImapClient::ImapClient(ClientConfig config, Instant now)
    : cfg_(std::move(config)), reader_(response_limits(cfg_.message_bytes_max)), tls_(cfg_.implicit_tls),
      deadline_(now + cfg_.response_timeout), now_(now) {}

void ImapClient::enter_state(ClientState next) {
  bool allowed = next == ClientState::failed ||
                 (kClientTransitions[static_cast<std::size_t>(state_)] & to_bit(next)) != 0;
  assert(allowed);  // the script never skips a step
  if (!allowed) return;
  events_.emplace_back(StateEvent{kClientStateNames[static_cast<std::size_t>(state_)],
                                  kClientStateNames[static_cast<std::size_t>(next)]});
  state_ = next;
}

void ImapClient::send(const std::string& line) {
  out_ += line + "\r\n";
  events_.emplace_back(LineEvent{Direction::client_to_server, line, tls_});
  deadline_ = now_ + cfg_.response_timeout;
}

void ImapClient::command(const std::string& text) {
  pending_tag_ = "a" + std::to_string(++tag_counter_);
  send(pending_tag_ + " " + text);
}

void ImapClient::fail(std::string reason) {
  if (state_ == ClientState::done || state_ == ClientState::failed) return;
  enter_state(ClientState::failed);
  events_.emplace_back(ClientFinished{false, reason, uid_validity_, highest_uid_});
  if (!closed_) events_.emplace_back(CloseEvent{std::move(reason)});
  closed_ = true;
  deadline_ = never;
}

void ImapClient::finish() {
  enter_state(ClientState::done);
  events_.emplace_back(ClientFinished{true, "", uid_validity_, highest_uid_});
  events_.emplace_back(CloseEvent{"logout"});
  closed_ = true;
  deadline_ = never;
}

void ImapClient::handle_bytes(Instant now, std::string_view bytes) {
  if (closed_) return;
  now_ = now;
  if (state_ == ClientState::tls_handshake) return;
  reader_.push(bytes);
  while (!closed_ && state_ != ClientState::tls_handshake) {
    auto next = reader_.next();
    if (std::holds_alternative<std::monostate>(next)) break;
    if (auto* lit = std::get_if<LiteralAnnounced>(&next)) {
      if (lit->size > cfg_.message_bytes_max) {
        reader_.reject_literal();
        fail("literal from server too large");
        break;
      }
      reader_.accept_literal();
    } else if (auto* ready = std::get_if<CommandReady>(&next)) {
      const auto& raw = ready->command;
      for (std::size_t i = 0; i < raw.lines.size(); ++i) {
        if (i > 0) events_.emplace_back(LiteralEvent{Direction::server_to_client, raw.literals[i - 1].size()});
        events_.emplace_back(LineEvent{Direction::server_to_client, raw.lines[i], tls_});
      }
      on_response(raw);
    } else if (std::holds_alternative<ReaderFailed>(next)) {
      fail("response line too long");
    }
  }
}

void ImapClient::on_response(const RawCommand& raw) {
  std::string_view line = raw.lines[0];
  if (state_ == ClientState::greeting) {
    if (line.rfind("* OK", 0) != 0) return fail("server refused the connection: " + std::string(line));
    enter_state(ClientState::capability);
    command("CAPABILITY");
    return;
  }
  if (line.rfind("+", 0) == 0) {
    if (state_ == ClientState::authenticating) send(encode_sasl_plain(cfg_.user, cfg_.password));
    return;
  }
  if (line.rfind("* ", 0) == 0) return on_untagged(raw, line.substr(2));
  auto sp = line.find(' ');
  if (sp == std::string_view::npos || line.substr(0, sp) != pending_tag_) return;
  auto rest = line.substr(sp + 1);
  auto sp2 = rest.find(' ');
  on_tagged(rest.substr(0, sp2), sp2 == std::string_view::npos ? std::string_view{} : rest.substr(sp2 + 1));
}

void ImapClient::on_untagged(const RawCommand& raw, std::string_view line) {
  if (iequals(line.substr(0, 4), "BYE ") && state_ != ClientState::logging_out) {
    return fail("server said BYE: " + std::string(line.substr(4)));
  }
  if (iequals(line.substr(0, 11), "CAPABILITY ")) {
    capabilities_ = std::string(line.substr(11));
    return;
  }
  if (iequals(line.substr(0, 3), "OK ")) {
    if (auto v = response_code(line.substr(3), "UIDVALIDITY")) uid_validity_ = parse_u32(*v).value_or(0);
    return;
  }
  if (iequals(line.substr(0, 6), "SEARCH")) {
    uids_.clear();
    std::string_view rest = line.substr(6);
    while (!rest.empty()) {
      if (rest.front() == ' ') {
        rest.remove_prefix(1);
        continue;
      }
      auto sp = rest.find(' ');
      if (auto uid = parse_u32(rest.substr(0, sp)); uid && *uid > cfg_.last_uid) uids_.push_back(*uid);
      if (sp == std::string_view::npos) break;
      rest.remove_prefix(sp);
    }
    std::sort(uids_.begin(), uids_.end());
    return;
  }
  // "n FETCH (UID u FLAGS (...) BODY[] {k}...)"
  auto sp = line.find(' ');
  if (state_ != ClientState::fetching || sp == std::string_view::npos ||
      !iequals(line.substr(sp + 1, 6), "FETCH ")) {
    return;
  }
  std::size_t offset = 2 + sp + 7;
  auto values = parse_values(raw, offset, response_limits(cfg_.message_bytes_max));
  auto* list = std::get_if<std::vector<Value>>(&values);
  if (list == nullptr || list->size() != 1 || !(*list)[0].is_list()) return;
  const auto& items = (*list)[0].items;
  FetchedMessage msg;
  msg.uid_validity = uid_validity_;
  bool has_body = false;
  for (std::size_t i = 0; i + 1 < items.size(); i += 2) {
    std::string name = upper_ascii(items[i].text);
    if (name == "UID") msg.uid = parse_u32(items[i + 1].text).value_or(0);
    else if (name == "FLAGS") {
      for (const auto& f : items[i + 1].items) msg.flags.push_back(f.text);
    } else if (name == "BODY[]") {
      msg.data = items[i + 1].text;
      has_body = true;
    }
  }
  if (msg.uid == 0 || !has_body) return;
  highest_uid_ = std::max(highest_uid_, msg.uid);
  events_.emplace_back(std::move(msg));
}

void ImapClient::after_capability() {
  if (!tls_ && cfg_.starttls) {
    if (!has_capability(capabilities_, "STARTTLS")) return fail("server does not offer STARTTLS");
    enter_state(ClientState::starttls);
    command("STARTTLS");
    return;
  }
  authenticate();
}

void ImapClient::authenticate() {
  if (has_capability(capabilities_, "LOGINDISABLED")) return fail("server disables login on this connection");
  enter_state(ClientState::authenticating);
  if (!cfg_.use_authenticate) {
    command("LOGIN " + imap_string(cfg_.user) + " " + imap_string(cfg_.password));
  } else if (has_capability(capabilities_, "SASL-IR")) {
    command("AUTHENTICATE PLAIN " + encode_sasl_plain(cfg_.user, cfg_.password));
  } else {
    command("AUTHENTICATE PLAIN");
  }
}

void ImapClient::on_tagged(std::string_view status, std::string_view text) {
  if (!iequals(status, "OK")) {
    return fail(std::string(kClientStateNames[static_cast<std::size_t>(state_)]) + " failed: " +
                std::string(status) + " " + std::string(text));
  }
  switch (state_) {
    case ClientState::capability:
      return after_capability();
    case ClientState::starttls:
      enter_state(ClientState::tls_handshake);
      reader_.discard_buffered();
      deadline_ = never;
      events_.emplace_back(StartTlsEvent{});
      return;
    case ClientState::authenticating:
      enter_state(ClientState::selecting);
      return command("SELECT " + imap_string(mutf7_encode(cfg_.mailbox).value_or(cfg_.mailbox)));
    case ClientState::selecting: {
      enter_state(ClientState::searching);
      std::uint32_t from = uid_validity_ == cfg_.uid_validity ? cfg_.last_uid + 1 : 1;
      if (uid_validity_ != cfg_.uid_validity) cfg_.last_uid = 0;  // RFC 3501 §2.3.1.1: UIDs start over
      highest_uid_ = cfg_.last_uid;
      return command("UID SEARCH UID " + std::to_string(from) + ":*");
    }
    case ClientState::searching:
      if (uids_.empty()) {
        enter_state(ClientState::logging_out);
        return command("LOGOUT");
      }
      enter_state(ClientState::fetching);
      return command("UID FETCH " + uid_list(uids_) + " (UID FLAGS BODY.PEEK[])");
    case ClientState::fetching:
      if (cfg_.mark_seen) {
        enter_state(ClientState::storing);
        return command("UID STORE " + uid_list(uids_) + " +FLAGS.SILENT (\\Seen)");
      }
      enter_state(ClientState::logging_out);
      return command("LOGOUT");
    case ClientState::storing:
      enter_state(ClientState::logging_out);
      return command("LOGOUT");
    case ClientState::logging_out:
      return finish();
    default:
      return;
  }
}

void ImapClient::handle_timeout(Instant now) {
  now_ = now;
  if (!closed_ && now >= deadline_) fail("server did not answer in time");
}

void ImapClient::handle_close(Instant now) {
  now_ = now;
  if (closed_) return;
  closed_ = true;
  if (state_ != ClientState::done && state_ != ClientState::failed) {
    enter_state(ClientState::failed);
    events_.emplace_back(ClientFinished{false, "connection closed", uid_validity_, highest_uid_});
  }
}

void ImapClient::handle_tls_established(Instant now) {
  if (state_ != ClientState::tls_handshake) return;
  now_ = now;
  tls_ = true;
  capabilities_.clear();
  enter_state(ClientState::capability);
  command("CAPABILITY");  // RFC 3501 §6.2.1: capabilities may change after TLS
}

std::string ImapClient::poll_transmit() { return std::exchange(out_, std::string()); }

std::optional<ClientEvent> ImapClient::poll_event() {
  if (events_.empty()) return std::nullopt;
  ClientEvent e = std::move(events_.front());
  events_.pop_front();
  return e;
}

Instant ImapClient::poll_timeout() const { return closed_ ? never : deadline_; }

}  // namespace maillab::net::imap
