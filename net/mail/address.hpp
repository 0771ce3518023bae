// Mail addresses as SMTP carries them (RFC 5321 §4.1.2, §4.1.3, §4.5.3.1).
//
//   Reverse-path = Path / "<>"        Forward-path = Path
//   Path    = "<" [ A-d-l ":" ] Mailbox ">"     (source routes are parsed and dropped, §C)
//   Mailbox = Local-part "@" ( Domain / address-literal )
//   Local-part = Dot-string / Quoted-string     (SMTPUTF8, RFC 6531: UTF-8 allowed)
//
// Limits: local part 64 octets, domain 255, path 256 (§4.5.3.1.1-3).  Case: the
// local part is case-sensitive, the domain is not (§2.4); equality follows that.
// Errors say what is wrong ("missing '@'", "local part longer than 64 octets").
#pragma once

#include <string>
#include <string_view>

#include "net/core/result.hpp"

namespace maillab::net::mail {

struct Address {
  std::string local_part;  // unquoted form: the quotes and backslashes removed
  std::string domain;      // as written; a literal keeps its brackets "[192.0.2.1]"

  [[nodiscard]] bool is_null() const { return local_part.empty() && domain.empty(); }
  [[nodiscard]] bool domain_is_literal() const { return !domain.empty() && domain.front() == '['; }
  // The domain lower-cased (ASCII), for lookups and comparisons.
  [[nodiscard]] std::string domain_key() const;
  // "local@domain", quoting the local part when it is not a Dot-string; "" for null.
  [[nodiscard]] std::string to_string() const;
  // "<local@domain>", "<>" for the null path.
  [[nodiscard]] std::string to_path() const;

  // Local part exact, domain case-insensitive.
  friend bool operator==(const Address& a, const Address& b);
};

struct ParseOptions {
  bool allow_utf8 = false;  // SMTPUTF8 was given (RFC 6531 §3.3)
};

// "alice@lab.test" (no angle brackets).
Result<Address> parse_mailbox(std::string_view text, ParseOptions options = {});
// "<alice@lab.test>" or "<@relay:alice@lab.test>"; "<>" only for a reverse path.
Result<Address> parse_forward_path(std::string_view text, ParseOptions options = {});
Result<Address> parse_reverse_path(std::string_view text, ParseOptions options = {});
// "<Postmaster>" (any case): the one forward path without a domain that a server
// must accept (RFC 5321 §4.1.1.3); parse_forward_path refuses it.
bool is_postmaster_path(std::string_view text);

}  // namespace maillab::net::mail
