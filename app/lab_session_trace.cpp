#include "app/lab_session_trace.hpp"

#include <cctype>
#include <string_view>
#include <vector>

#include "app/lab_world_router.hpp"

namespace maillab::app {

std::string SessionTrace::proto_of(std::string_view service) {
  if (service == "smtps" || service == "submission") return "submission";
  if (service == "pop3s" || service == "pop3") return "pop3";
  if (service == "imaps" || service == "imap") return "imap";
  return "smtp";
}

namespace {

std::string upper(std::string_view text) {
  std::string out(text);
  for (auto& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

// The words of a line, split at single spaces (at most `max` of them, the last takes the rest).
std::vector<std::string> words(const std::string& text, std::size_t max) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  while (out.size() + 1 < max) {
    const std::size_t space = text.find(' ', pos);
    if (space == std::string::npos) break;
    out.push_back(text.substr(pos, space - pos));
    pos = space + 1;
  }
  out.push_back(text.substr(pos));
  return out;
}

constexpr const char* kHidden = "(hidden)";

}  // namespace

std::string SessionTrace::hide_secrets(const std::string& proto, const std::string& text, bool sasl_response) {
  if (sasl_response) return kHidden;
  if (proto == "imap") {
    const auto w = words(text, 4);  // tag LOGIN user password | tag AUTHENTICATE mech initial
    if (w.size() >= 2 && upper(w[1]) == "LOGIN")
      return w[0] + " " + w[1] + (w.size() >= 3 ? " " + w[2] : "") + (w.size() >= 4 ? std::string(" ") + kHidden : "");
    if (w.size() >= 4 && upper(w[1]) == "AUTHENTICATE") return w[0] + " " + w[1] + " " + w[2] + " " + kHidden;
    return text;
  }
  const auto w = words(text, 3);  // AUTH mech initial | PASS secret
  if (w.size() >= 3 && upper(w[0]) == "AUTH") return w[0] + " " + w[1] + " " + kHidden;
  if (proto == "pop3" && w.size() >= 2 && upper(w[0]) == "PASS") return w[0] + " " + kHidden;
  return text;
}

void SessionTrace::add(sim::TraceEvent event) {
  world_.advance();  // the world's events due by now come first
  event.t = world_.world().now();
  world_.trace().add(std::move(event));
}

void SessionTrace::opened(std::uint64_t connection, std::string_view service, const net::io::PeerInfo& peer,
                          Instant /*now*/) {
  Open open{client_label(peer.address, peer.port == 0 ? "" : std::to_string(peer.port)), "", proto_of(service)};
  open.host = host_for_(open.proto);
  sim::TraceEvent event;
  event.kind = sim::TraceKind::connect;
  event.src = open.client;
  event.dst = open.host;
  event.proto = open.proto;
  event.text = "real client " + open.client + " connected to the " + std::string(service) + " port";
  add(std::move(event));
  open_[connection] = std::move(open);
}

void SessionTrace::line(std::uint64_t connection, const net::LineEvent& line, Instant /*now*/) {
  auto it = open_.find(connection);
  if (it == open_.end()) return;
  const bool from_client = line.dir == net::Direction::client_to_server;
  Open& open = it->second;
  std::string text = line.text;
  if (from_client) {
    text = hide_secrets(open.proto, line.text, open.in_sasl && open.challenge_sent);
    const auto w = words(line.text, 3);
    const std::string verb = upper(open.proto == "imap" ? (w.size() >= 2 ? w[1] : "") : w[0]);
    // IMAP LOGIN with a literal (RFC 9051 §4.3): the user name and password
    // follow as lines after "+" continuations, hidden like SASL responses.
    const bool login_literal = open.proto == "imap" && verb == "LOGIN" && !line.text.empty() && line.text.back() == '}';
    if (verb == "AUTH" || verb == "AUTHENTICATE" || login_literal) open.in_sasl = true;
  } else {
    // SMTP 334 (RFC 4954 §4), POP3 and IMAP "+ " (RFC 5034 §4, RFC 3501 §7.5).
    const char* challenge = open.proto == "imap" || open.proto == "pop3" ? "+" : "334";
    open.challenge_sent = open.in_sasl && line.text.rfind(challenge, 0) == 0;
    if (!open.challenge_sent) open.in_sasl = false;
  }
  sim::TraceEvent event;
  event.kind = sim::TraceKind::line;
  event.src = from_client ? it->second.client : it->second.host;
  event.dst = from_client ? it->second.host : it->second.client;
  event.proto = it->second.proto;
  event.dir = from_client ? 'C' : 'S';
  event.text = std::move(text);
  event.tls = line.tls;
  add(std::move(event));
}

void SessionTrace::closed(std::uint64_t connection, Instant /*now*/) {
  auto it = open_.find(connection);
  if (it == open_.end()) return;
  sim::TraceEvent event;
  event.kind = sim::TraceKind::close;
  event.src = it->second.client;
  event.dst = it->second.host;
  event.proto = it->second.proto;
  event.text = "connection closed";
  open_.erase(it);
  add(std::move(event));
}

}  // namespace maillab::app
