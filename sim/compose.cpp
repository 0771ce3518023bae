#include "sim/compose.hpp"

#include <optional>
#include <string_view>

#include "net/core/base64.hpp"
#include "net/mail/message.hpp"

namespace maillab::sim {
namespace {

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : ", ") + item;
  return out;
}

// Body text with CRLF line ends and a final CRLF.
std::string text_block(const std::string& text) {
  std::string out = net::mail::normalize_crlf(text);
  if (out.empty() || out.size() < 2 || out.substr(out.size() - 2) != "\r\n") out += "\r\n";
  return out;
}

std::string base64_lines(const std::string& bytes) {
  const std::string encoded = net::base64_encode(bytes);
  std::string out;
  for (std::size_t i = 0; i < encoded.size(); i += 76) out += encoded.substr(i, 76) + "\r\n";
  return out;
}

}  // namespace

std::string compose_message(const MessageSpec& spec, const std::string& message_id, std::int64_t date_s) {
  std::string out;
  // Appended in place into room for a plain message (every scripted message is composed here).
  out.reserve(256 + spec.from.size() + 32 * (spec.to.size() + spec.cc.size()) + spec.subject.size() +
              message_id.size() + spec.body.size() + spec.body.size() / 32);
  auto field = [&out](std::string_view name, std::string_view value) {
    out += name;
    out += ": ";
    out += value;
    out += "\r\n";
  };
  field("From", spec.from);
  if (!spec.to.empty()) field("To", join(spec.to));
  if (!spec.cc.empty()) field("Cc", join(spec.cc));
  field("Subject", spec.subject);
  field("Date", net::mail::format_rfc5322_date(date_s));
  field("Message-ID", message_id);
  out += "MIME-Version: 1.0\r\n";
  if (spec.attachments.empty()) {
    out += "Content-Type: text/plain; charset=utf-8\r\n";
    out += "Content-Transfer-Encoding: 8bit\r\n\r\n";
    out += text_block(spec.body);
    return out;
  }
  const std::string boundary = "=_maillab_" + spec.id;
  out += "Content-Type: multipart/mixed; boundary=\"" + boundary + "\"\r\n\r\n";
  out += "This is a multi-part message in MIME format.\r\n";
  out += "--" + boundary + "\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n";
  out += text_block(spec.body);
  for (const auto& a : spec.attachments) {
    out += "--" + boundary + "\r\n";
    out += "Content-Type: " + a.content_type + "; name=\"" + a.name + "\"\r\n";
    out += "Content-Disposition: attachment; filename=\"" + a.name + "\"\r\n";
    out += "Content-Transfer-Encoding: base64\r\n\r\n";
    out += base64_lines(a.content);
  }
  out += "--" + boundary + "--\r\n";
  return out;
}

std::string compose_dsn(const DsnInput& in) {
  const std::string boundary = "=_dsn_" + in.message_id.substr(1, in.message_id.find('@') - 1);
  std::string out;
  out += "From: Mail Delivery System <MAILER-DAEMON@" + in.reporting_mta + ">\r\n";
  out += "To: " + in.original_envelope_sender + "\r\n";
  out += "Subject: Undelivered Mail Returned to Sender\r\n";
  out += "Date: " + net::mail::format_rfc5322_date(in.now_s) + "\r\n";
  out += "Message-ID: " + in.message_id + "\r\n";
  out += "Auto-Submitted: auto-replied\r\n";  // RFC 3834 §5
  out += "MIME-Version: 1.0\r\n";
  out += "Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary=\"" + boundary + "\"\r\n\r\n";
  out += "--" + boundary + "\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n";
  out += "This is the mail system at host " + in.reporting_mta + ".\r\n\r\n";
  out += "I'm sorry to have to inform you that your message could not\r\nbe delivered to one or more recipients.\r\n\r\n";
  for (const auto& f : in.failed) out += "<" + f.address + ">: " + f.diagnostic + "\r\n";
  out += "\r\n--" + boundary + "\r\nContent-Type: message/delivery-status\r\n\r\n";
  out += "Reporting-MTA: dns; " + in.reporting_mta + "\r\n";  // RFC 3464 §2.2.2
  out += "Arrival-Date: " + net::mail::format_rfc5322_date(in.arrival_date_s) + "\r\n";
  for (const auto& f : in.failed) {
    out += "\r\nFinal-Recipient: rfc822; " + f.address + "\r\n";  // §2.3.2
    out += "Action: failed\r\n";                                  // §2.3.3
    out += "Status: " + f.status + "\r\n";                         // §2.3.4
    if (!f.remote_mta.empty()) out += "Remote-MTA: dns; " + f.remote_mta + "\r\n";
    out += "Diagnostic-Code: " + f.diagnostic + "\r\n";           // §2.3.6
  }
  out += "\r\n--" + boundary + "\r\nContent-Type: text/rfc822-headers\r\n\r\n";
  const auto original = net::mail::Message::parse(in.original_message);
  for (const auto& field : original.fields()) out += net::mail::normalize_crlf(field.text);
  out += "\r\n--" + boundary + "--\r\n";
  return out;
}

namespace {

bool is_wsp(char c) { return c == ' ' || c == '\t'; }

char ascii_lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

// Could a field whose text this is be named `name`?  (Its name starts the text.)
bool starts_with_name(std::string_view text, std::string_view name) {
  if (text.size() < name.size()) return false;
  for (std::size_t i = 0; i < name.size(); ++i)
    if (ascii_lower(text[i]) != ascii_lower(name[i])) return false;
  return true;
}

bool starts_with_message_id(std::string_view text) { return starts_with_name(text, "message-id"); }

// Calls visit(begin, end) for each entry of the header section, cut the way
// Message::parse cuts it: a line, then its continuation lines that start
// with WSP, up to the empty line.  visit returns true to stop.
template <typename Visit>
void for_each_entry(std::string_view raw, Visit visit) {
  std::size_t pos = 0;
  std::size_t entry_begin = std::string_view::npos;
  while (pos < raw.size()) {
    const std::size_t lf = raw.find('\n', pos);
    const std::size_t next = lf == std::string_view::npos ? raw.size() : lf + 1;
    const std::string_view line = raw.substr(pos, next - pos);
    if (line == "\r\n" || line == "\n") break;
    if (!is_wsp(line.front()) || entry_begin == std::string_view::npos) {
      if (entry_begin != std::string_view::npos && visit(entry_begin, pos)) return;
      entry_begin = pos;
    }
    pos = next;
  }
  if (entry_begin != std::string_view::npos) visit(entry_begin, pos);
}

// Message::parse(message).first("Message-ID"), without parsing every field:
// only an entry that can be named Message-ID is parsed.
std::optional<std::string> message_id_field(std::string_view raw) {
  std::optional<std::string> value;
  for_each_entry(raw, [&](std::size_t begin, std::size_t end) {
    const std::string_view text = raw.substr(begin, end - begin);
    if (!starts_with_message_id(text)) return false;
    value = net::mail::field_value(text, "Message-ID");
    return value.has_value();
  });
  return value;
}

}  // namespace

// Message::parse(message).first("Subject"), read the way message_id_field
// reads Message-ID: only an entry that can be named Subject is parsed, and
// never the body.
std::string subject_of(const std::string& message) {
  const std::string_view raw = message;
  std::string subject;
  for_each_entry(raw, [&](std::size_t begin, std::size_t end) {
    const std::string_view text = raw.substr(begin, end - begin);
    if (!starts_with_name(text, "subject")) return false;
    auto value = net::mail::field_value(text, "Subject");
    if (value) subject = std::move(*value);
    return value.has_value();
  });
  return subject;
}

std::size_t count_fields(std::string_view raw, std::string_view name) {
  std::size_t n = 0;
  for_each_entry(raw, [&](std::size_t begin, std::size_t end) {
    const std::string_view text = raw.substr(begin, end - begin);
    if (starts_with_name(text, name) && net::mail::is_field_named(text, name)) ++n;  // no Message built
    return false;
  });
  return n;
}

std::string message_id_of(const std::string& message) {
  auto value = message_id_field(message);
  if (!value) return {};
  std::string id = std::move(*value);
  if (id.size() >= 2 && id.front() == '<' && id.back() == '>') id = id.substr(1, id.size() - 2);
  return id;
}

}  // namespace maillab::sim
