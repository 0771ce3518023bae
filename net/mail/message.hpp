// Internet messages (RFC 5322) as the MTA, the stores and the IMAP engine see them.
//
// A Message is a header section and a body, split at the first empty line
// (RFC 5322 §2.1).  The header section is a list of fields in their original
// order; a name may repeat (Received:, RFC 5322 §3.6).  Each field keeps its exact
// bytes, so an unmodified message serialises back byte for byte, whether it uses
// CRLF or LF line ends.  Lines that are not "name: value" (an mbox "From " line,
// a stray continuation line, obs syntax) are kept as non-field entries: never
// returned by lookups, never dropped.  Parsing is total and linear: any bytes
// give a Message.  MIME structure is not parsed here (GMime does that).
//
// Fields the MTA adds: Received: (RFC 5321 §4.4) and Return-Path: are prepended;
// Message-ID: and Date: (RFC 5322 §3.6.4, §3.6.1) are appended when missing.
// Every value written into a header is checked first: CR, LF or NUL in a value
// is header injection and is refused (security catalogue row 25).  The hop count
// (RFC 5321 §6.3, row 30) is the number of Received: fields.
//
// Line endings: on the wire and in the stores a message uses CRLF (RFC 5322 §2.1,
// RFC 5321 §2.3.8); normalize_crlf() turns every bare CR, bare LF and CRLF into
// CRLF so that no bare CR or LF ever leaves the server (catalogue row 6).
//
// Nothing here reads a clock or invents identifiers: callers pass the time and
// the Message-ID parts.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "net/core/result.hpp"

namespace maillab::net::mail {

// Every CRLF, bare CR and bare LF becomes CRLF ("a\rb\nc\r\n" -> "a\r\nb\r\nc\r\n").
std::string normalize_crlf(std::string_view text);

struct HeaderField {
  std::string name;       // as written, without the colon ("Received"); "" for a non-field line
  std::string raw_value;  // everything after the colon up to the field's last line end, folds kept
  std::string value;      // raw_value unfolded (RFC 5322 §2.2.3), surrounding WSP trimmed
  std::string text;       // the exact bytes: name, colon, raw value and the line end

  [[nodiscard]] bool is_field() const { return !name.empty(); }
};

// The value of the one field whose exact bytes (its lines and their line
// ends) are `text`, when its name is `name` (ASCII case-insensitive): what
// Message::parse(text).first(name)->value reads, without building a Message;
// nullopt when `text` is no field or another one.
std::optional<std::string> field_value(std::string_view text, std::string_view name);
// Whether field_value(text, name) would find the field, without unfolding its value:
// what Message::parse(text).count(name) counts.
bool is_field_named(std::string_view text, std::string_view name);

class Message {
 public:
  // Any bytes parse; CRLF and LF line ends are both understood.
  static Message parse(std::string_view raw);

  [[nodiscard]] const std::vector<HeaderField>& fields() const { return fields_; }
  // Case-insensitive lookups (ASCII); nullptr / empty when absent.
  [[nodiscard]] const HeaderField* first(std::string_view name) const;
  [[nodiscard]] std::vector<const HeaderField*> all(std::string_view name) const;
  [[nodiscard]] std::size_t count(std::string_view name) const;

  // Adds "name: value" before every other field / after the last one.  The value
  // may be folded ("a\r\n\tb"); folds are rewritten to the message's line end.
  // Refused: a name that is not ftext (RFC 5322 §3.6.8), a value with NUL, a
  // bare CR or LF, or a line end not followed by WSP (that would start a new field).
  Result<void> prepend(std::string_view name, std::string_view value);
  Result<void> append(std::string_view name, std::string_view value);
  // Removes every field with that name; returns how many went.
  std::size_t remove_all(std::string_view name);

  [[nodiscard]] const std::string& body() const { return body_; }
  // False when no empty line ends the header section (a message of headers only).
  [[nodiscard]] bool has_body_separator() const { return !separator_.empty(); }
  // Octets of the header section including the empty line that ends it.
  [[nodiscard]] std::size_t header_size() const;
  // "\r\n" unless the message's first line end is a bare LF.
  [[nodiscard]] const std::string& line_end() const { return line_end_; }

  // The exact bytes parsed, plus whatever fields were added or removed.
  [[nodiscard]] std::string serialize() const;

 private:
  Result<void> insert(std::size_t index, std::string_view name, std::string_view value);

  std::vector<HeaderField> fields_;
  std::string separator_;  // the empty line as written: "\r\n", "\n" or "" (none)
  std::string body_;
  std::string line_end_ = "\r\n";
};

// `raw` with "name: value" added before its first line: the bytes that
// Message::parse(raw), prepend(name, value) and serialize() give, with the
// same refusals, without parsing the message.
Result<std::string> with_field_prepended(std::string_view raw, std::string_view name, std::string_view value);
// `raw` with `fields` ({name, value}, top to bottom) before its first line:
// with_field_prepended for the last field, then for each one above it in turn,
// a field it refuses left out; built in one string (the MDA's Return-Path: and
// Delivered-To: on every delivery).
std::string with_fields_prepended(std::string_view raw,
                                  std::initializer_list<std::pair<std::string_view, std::string_view>> fields);

// The number of Received: fields: the hop count for loop detection (RFC 5321 §6.3).
std::size_t hop_count(const Message& message);

// "with" keywords, RFC 5321 §4.4, RFC 3848 (ESMTPA/ESMTPS/ESMTPSA/LMTP*),
// RFC 6531 §3.7.3 (UTF8SMTP*).
enum class ReceivedProtocol : std::uint8_t {
  smtp, esmtp, esmtpa, esmtps, esmtpsa,
  lmtp, lmtpa, lmtps, lmtpsa,
  utf8smtp, utf8smtpa, utf8smtps, utf8smtpsa,
};
std::string_view to_string(ReceivedProtocol protocol);

struct ReceivedInfo {
  std::string helo;            // the client's EHLO/HELO argument
  std::string client_host;     // its reverse-DNS name; "" when unknown
  std::string client_ip;       // "192.0.2.1" or "2001:db8::1" ("IPv6:" is added); "" to omit
  std::string by_host;         // this server's name
  ReceivedProtocol protocol = ReceivedProtocol::esmtp;
  std::string id;              // the queue id; "" to omit
  std::string for_recipient;   // "bob@lab.test" (one recipient only); "" to omit
  std::int64_t date_s = 0;     // Unix seconds, written in UTC
};

// The body of a Received: field (what follows "Received: "), e.g.
//   from pc.lab.test (pc.lab.test [192.0.2.7])\r\n\tby mx.lab.test with ESMTPS id 1A2B\r\n\t
//   for <bob@lab.test>; Thu, 26 Nov 2026 19:47:16 +0000
// folded so that no line of the whole field exceeds 78 characters (RFC 5322 §2.1.1)
// unless one token alone is longer.  Refused: a value with CR, LF, NUL or another
// control character, or with whitespace, '(', ')' or ';' where a single token
// is expected (all but for_recipient); an empty helo or by_host.
Result<std::string> format_received(const ReceivedInfo& info);
// prepend("Received", format_received(info)).
Result<void> add_received(Message& message, const ReceivedInfo& info);

// "Thu, 26 Nov 2026 19:47:16 +0000" (RFC 5322 §3.3), always UTC.  Times outside
// the years 0000-9999 are clamped to them.
std::string format_rfc5322_date(std::int64_t unix_seconds);
// Parses a Date: value into Unix seconds.  Accepts RFC 5322 §3.3 and its obsolete
// forms (§4.3): optional day of week, comments, optional seconds, 2- and 3-digit
// years, the named zones (UT, GMT, EST ... PDT) and military zones (read as
// +0000); a missing zone is read as +0000.
Result<std::int64_t> parse_rfc5322_date(std::string_view text);

// Adds "Message-ID: <id_left@domain>" and "Date: <now_s>" at the end of the
// header section, each only when the message has none (RFC 5322 §3.6, RFC 6409
// §8.2-8.3).  id_left and domain must be dot-atom-text (domain may also be a
// "[literal]"); otherwise the message is left unchanged and an error returned.
Result<void> ensure_message_id_and_date(Message& message, std::string_view id_left, std::string_view domain,
                                        std::int64_t now_s);

}  // namespace maillab::net::mail
