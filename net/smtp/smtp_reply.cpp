#include "net/smtp/smtp_reply.hpp"

#include <cassert>
#include <cstddef>
#include <initializer_list>
#include <utility>

namespace maillab::net::smtp {

namespace {

void append_wire_line(std::string& out, int code, char separator, std::string_view enhanced, std::string_view text) {
  if (code >= 100 && code <= 999) {  // every reply: three digits without a temporary string
    const char head[4] = {static_cast<char>('0' + code / 100), static_cast<char>('0' + code / 10 % 10),
                          static_cast<char>('0' + code % 10), separator};
    out.append(head, sizeof head);
  } else {
    out += std::to_string(code);
    out += separator;
  }
  if (!enhanced.empty()) {
    out += enhanced;
    if (!text.empty()) out += ' ';
  }
  out += text;
}

std::string wire_line(int code, char separator, std::string_view enhanced, std::string_view text) {
  std::string out;
  append_wire_line(out, code, separator, enhanced, text);
  return out;
}

}  // namespace

std::string Reply::to_wire() const {
  assert(code >= 200 && code <= 599);
  // Sized once: every reply of every session comes through here.
  std::size_t size = 0;
  for (const auto& line : lines) size += line.size();
  std::string out;
  out.reserve(size + (lines.size() + 1) * (enhanced.size() + 8));
  if (lines.empty()) {
    append_wire_line(out, code, ' ', enhanced, {});
    out += "\r\n";
    return out;
  }
  for (std::size_t i = 0; i < lines.size(); ++i) {
    append_wire_line(out, code, i + 1 == lines.size() ? ' ' : '-', enhanced, lines[i]);
    out += "\r\n";
  }
  return out;
}

std::string Reply::text() const {
  std::string out;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    if (i != 0) out += '\n';
    out += lines[i];
  }
  return out;
}

std::string Reply::first_wire_line() const {
  const std::string_view first = lines.empty() ? std::string_view{} : std::string_view{lines.front()};
  return wire_line(code, lines.size() > 1 ? '-' : ' ', enhanced, first);
}

Reply make_reply(int code, std::string_view enhanced, std::string_view text) {
  Reply reply{code, std::string(enhanced), {}};
  if (!text.empty()) reply.lines.emplace_back(text);
  return reply;
}

namespace replies {

namespace {
std::string cat(std::initializer_list<std::string_view> parts) {
  std::size_t size = 0;
  for (auto part : parts) size += part.size();
  std::string out;
  out.reserve(size);  // one allocation, not one per doubling
  for (auto part : parts) out += part;
  return out;
}
}  // namespace

Reply greeting(std::string_view host) { return make_reply(220, "", cat({host, " ESMTP maillab"})); }
Reply closing(std::string_view host) { return make_reply(221, "2.0.0", cat({host, " Bye"})); }
Reply ok() { return make_reply(250, "2.0.0", "Ok"); }
Reply sender_ok() { return make_reply(250, "2.1.0", "Ok"); }
Reply recipient_ok() { return make_reply(250, "2.1.5", "Ok"); }
Reply queued(std::string_view queue_id) { return make_reply(250, "2.0.0", cat({"Ok: queued as ", queue_id})); }
Reply chunk_ok(std::size_t octets) {
  return make_reply(250, "2.0.0", cat({"Ok: ", std::to_string(octets), " octets received"}));
}
Reply helo(std::string_view host, std::string_view client_name) {
  return make_reply(250, "", cat({host, " Hello ", client_name}));
}
Reply ehlo(std::string_view host, std::string_view client_name, std::vector<std::string> keywords) {
  Reply reply = helo(host, client_name);
  reply.lines.reserve(1 + keywords.size());
  for (auto& keyword : keywords) reply.lines.push_back(std::move(keyword));
  return reply;
}
Reply vrfy_cannot_verify() {
  return make_reply(252, "2.5.2", "Cannot VRFY user, but will accept message and attempt delivery");
}
Reply help() {
  Reply reply = make_reply(214, "2.0.0", "Commands supported:");
  reply.lines.emplace_back("EHLO HELO MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY HELP STARTTLS AUTH");
  reply.lines.emplace_back("See RFC 5321");
  return reply;
}
Reply start_mail_input() { return make_reply(354, "", "End data with <CR><LF>.<CR><LF>"); }
Reply ready_to_start_tls() { return make_reply(220, "2.0.0", "Ready to start TLS"); }
Reply auth_ok() { return make_reply(235, "2.7.0", "Authentication successful"); }
Reply auth_challenge(std::string_view base64_text) {
  Reply reply{334, "", {std::string(base64_text)}};
  return reply;
}

Reply service_closing(std::string_view host, std::string_view why) {
  return make_reply(421, "4.3.2", cat({host, " Service not available, closing transmission channel: ", why}));
}
Reply timeout(std::string_view host) {
  return make_reply(421, "4.4.2", cat({host, " Error: timeout exceeded"}));
}
Reply too_many_errors(std::string_view host) {
  return make_reply(421, "4.7.0", cat({host, " Error: too many errors"}));
}
Reply local_error() { return make_reply(451, "4.3.0", "Error: queue file write error"); }
Reply insufficient_storage() { return make_reply(452, "4.3.1", "Insufficient system storage"); }
Reply too_many_recipients() { return make_reply(452, "4.5.3", "Error: too many recipients"); }
Reply greylisted() { return make_reply(451, "4.7.1", "Greylisted, please try again later"); }

Reply command_unrecognized() { return make_reply(500, "5.5.2", "Error: command not recognized"); }
Reply command_too_long() { return make_reply(500, "5.5.2", "Error: command line too long"); }
Reply nul_in_command() { return make_reply(500, "5.5.2", "Error: NUL character in command"); }
Reply text_line_too_long() {
  return make_reply(500, "5.5.6", "Error: message text line longer than 1000 octets");
}
Reply auth_line_too_long() { return make_reply(500, "5.5.6", "Authentication Exchange line is too long"); }
Reply syntax(std::string_view what) { return make_reply(501, "5.5.4", cat({"Syntax: ", what})); }
Reply auth_cancelled() { return make_reply(501, "5.7.0", "Authentication aborted"); }
Reply auth_bad_base64() { return make_reply(501, "5.5.2", "Cannot decode response"); }
Reply not_implemented() { return make_reply(502, "5.5.1", "Error: command not implemented"); }
Reply bad_sequence(std::string_view what) { return make_reply(503, "5.5.1", cat({"Error: ", what})); }
Reply mechanism_unsupported() {
  return make_reply(504, "5.5.4", "Unrecognized authentication type");
}
Reply auth_required() { return make_reply(530, "5.7.0", "Authentication required"); }
Reply auth_failed() { return make_reply(535, "5.7.8", "Error: authentication failed"); }
Reply encryption_required() {
  return make_reply(538, "5.7.11", "Encryption required for requested authentication mechanism");
}
Reply unknown_user(std::string_view path) {
  return make_reply(550, "5.1.1", cat({path, ": Recipient address rejected: User unknown"}));
}
Reply bare_newline() { return make_reply(550, "5.5.2", "Error: bare <LF> received"); }
Reply message_too_big() {
  return make_reply(552, "5.3.4", "Error: message file too big");
}
Reply sender_not_owned(std::string_view path, std::string_view user) {
  return make_reply(553, "5.7.1", cat({path, ": Sender address rejected: not owned by user ", user}));
}
Reply bad_address(std::string_view why) { return make_reply(553, "5.1.3", cat({"Error: bad address: ", why})); }
Reply relay_denied(std::string_view path) {
  return make_reply(554, "5.7.1", cat({path, ": Relay access denied"}));
}
Reply tls_already_active() { return make_reply(554, "5.5.1", "Error: TLS already active"); }
Reply transaction_failed(std::string_view why) { return make_reply(554, "5.0.0", cat({"Error: ", why})); }
Reply utf8_not_allowed() {
  return make_reply(553, "5.6.7", "Error: non-ASCII address requires SMTPUTF8");
}

}  // namespace replies

}  // namespace maillab::net::smtp
