// Address parsing per RFC 5321 §4.1.2 (grammar), §4.1.3 (address literals),
// §4.5.3.1 (size limits) and RFC 6531 §3.3 (UTF-8 local parts and domains).
//
// The parser is a single left-to-right scan: Path -> optional A-d-l (source
// route, validated then dropped, RFC 5321 Appendix C) -> Local-part (Dot-string
// or Quoted-string) -> "@" -> Domain or address-literal.  Lengths are measured on
// the text as written, which is never shorter than the canonical form produced
// by to_string()/to_path(), so a parsed address always re-parses.
#include "net/mail/address.hpp"

#include <cstddef>
#include <cstdint>
#include <string>

namespace maillab::net::mail {
namespace {

constexpr std::size_t local_part_octets_max = 64;   // RFC 5321 §4.5.3.1.1
constexpr std::size_t domain_octets_max = 255;      // §4.5.3.1.2
constexpr std::size_t path_octets_max = 256;        // §4.5.3.1.3
constexpr std::size_t label_octets_max = 63;        // RFC 1035 §2.3.4

Error fail(std::string message) { return make_error(ErrorCategory::parse, std::move(message)); }

bool is_alpha(unsigned char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
bool is_hex(unsigned char c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
bool is_let_dig(unsigned char c) { return is_alpha(c) || is_digit(c); }

// atext, RFC 5322 §3.2.3 as used by RFC 5321 §4.1.2.
bool is_atext(unsigned char c) {
  if (is_let_dig(c)) return true;
  switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+': case '-':
    case '/': case '=': case '?': case '^': case '_': case '`': case '{': case '|': case '}':
    case '~':
      return true;
    default:
      return false;
  }
}

std::string describe_byte(unsigned char c) {
  switch (c) {
    case '\r': return "CR";
    case '\n': return "LF";
    case '\0': return "NUL";
    case ' ': return "a space";
    case '\t': return "a tab";
    default: break;
  }
  static constexpr char hex[] = "0123456789ABCDEF";
  if (c < 0x20 || c >= 0x7f) return std::string("byte 0x") + hex[c >> 4] + hex[c & 0xf];
  return std::string("'") + static_cast<char>(c) + "'";
}

// Length of the well-formed UTF-8 sequence starting at text[i] (RFC 3629 §4),
// 0 when it is malformed (overlong, surrogate, beyond U+10FFFF, truncated).
std::size_t utf8_sequence_length(std::string_view text, std::size_t i) {
  auto at = [&](std::size_t k) -> unsigned { return static_cast<unsigned char>(text[k]); };
  unsigned c0 = at(i);
  std::size_t n = 0;
  unsigned lo = 0x80, hi = 0xbf;
  if (c0 >= 0xc2 && c0 <= 0xdf) n = 2;
  else if (c0 == 0xe0) { n = 3; lo = 0xa0; }
  else if (c0 == 0xed) { n = 3; hi = 0x9f; }
  else if (c0 >= 0xe1 && c0 <= 0xef) n = 3;
  else if (c0 == 0xf0) { n = 4; lo = 0x90; }
  else if (c0 == 0xf4) { n = 4; hi = 0x8f; }
  else if (c0 >= 0xf1 && c0 <= 0xf3) n = 4;
  else return 0;
  if (i + n > text.size()) return 0;
  unsigned c1 = at(i + 1);
  if (c1 < lo || c1 > hi) return 0;
  for (std::size_t k = 2; k < n; ++k) {
    if (at(i + k) < 0x80 || at(i + k) > 0xbf) return 0;
  }
  return n;
}

// Refuses what may never appear anywhere in an address: control characters
// (CR and LF would inject header lines, catalogue row 25), DEL, and non-ASCII
// bytes unless SMTPUTF8 is in effect and they form valid UTF-8.
Result<void> check_bytes(std::string_view text, ParseOptions options) {
  for (std::size_t i = 0; i < text.size();) {
    auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x20 || c == 0x7f) return fail("address contains " + describe_byte(c));
    if (c < 0x80) { ++i; continue; }
    if (!options.allow_utf8) return fail("non-ASCII " + describe_byte(c) + " in address without SMTPUTF8");
    std::size_t n = utf8_sequence_length(text, i);
    if (n == 0) return fail("malformed UTF-8 in address");
    i += n;
  }
  return {};
}

// Domain = sub-domain *("." sub-domain); sub-domain = Let-dig [Ldh-str]
// (RFC 5321 §4.1.2), or a U-label under SMTPUTF8 (RFC 6531 §3.3).  Bytes were
// already checked by check_bytes, so any byte >= 0x80 is part of valid UTF-8.
Result<void> check_domain_name(std::string_view domain) {
  if (domain.empty()) return fail("empty domain");
  if (domain.size() > domain_octets_max) return fail("domain longer than 255 octets");
  std::size_t start = 0;
  while (true) {
    std::size_t dot = domain.find('.', start);
    std::string_view label = domain.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (label.empty()) return fail("empty label in domain '" + std::string(domain) + "'");
    if (label.size() > label_octets_max) return fail("domain label longer than 63 octets");
    if (label.front() == '-') return fail("domain label starts with a hyphen");
    if (label.back() == '-') return fail("domain label ends with a hyphen");
    for (char ch : label) {
      auto c = static_cast<unsigned char>(ch);
      if (!is_let_dig(c) && c != '-' && c < 0x80) return fail("invalid " + describe_byte(c) + " in domain");
    }
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return {};
}

// IPv4-address-literal = Snum 3("." Snum), Snum = 1*3DIGIT of value 0-255.
bool is_ipv4(std::string_view s) {
  int parts = 0;
  std::size_t i = 0;
  while (true) {
    std::size_t digits = 0;
    unsigned value = 0;
    while (i < s.size() && is_digit(static_cast<unsigned char>(s[i])) && digits < 4) {
      value = value * 10 + static_cast<unsigned>(s[i] - '0');
      ++i;
      ++digits;
    }
    if (digits == 0 || digits > 3 || value > 255) return false;
    ++parts;
    if (i == s.size()) return parts == 4;
    if (s[i] != '.' || parts == 4) return false;
    ++i;
  }
}

// Counts colon-separated groups of 1-4 hex digits; -1 when malformed.  When
// allow_v4_tail, the last group may be an IPv4 address worth two groups.
int count_hex_groups(std::string_view s, bool allow_v4_tail) {
  if (s.empty()) return 0;
  int groups = 0;
  std::size_t start = 0;
  while (true) {
    std::size_t colon = s.find(':', start);
    std::string_view g = s.substr(start, colon == std::string_view::npos ? std::string_view::npos : colon - start);
    if (colon == std::string_view::npos && allow_v4_tail && g.find('.') != std::string_view::npos) {
      if (!is_ipv4(g)) return -1;
      return groups + 2;
    }
    if (g.empty() || g.size() > 4) return -1;
    for (char ch : g) {
      if (!is_hex(static_cast<unsigned char>(ch))) return -1;
    }
    ++groups;
    if (colon == std::string_view::npos) return groups;
    start = colon + 1;
  }
}

// IPv6-addr = IPv6-full / IPv6-comp / IPv6v4-full / IPv6v4-comp (RFC 5321 §4.1.3):
// "::" stands for at least two zero groups, so at most 6 other groups around it.
bool is_ipv6(std::string_view s) {
  std::size_t gap = s.find("::");
  if (gap == std::string_view::npos) return count_hex_groups(s, true) == 8;
  if (s.find("::", gap + 1) != std::string_view::npos) return false;
  std::string_view left = s.substr(0, gap);
  std::string_view right = s.substr(gap + 2);
  int l = count_hex_groups(left, false);
  int r = count_hex_groups(right, true);
  return l >= 0 && r >= 0 && l + r <= 6;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    auto x = static_cast<unsigned char>(a[i]);
    auto y = static_cast<unsigned char>(b[i]);
    if (x >= 'A' && x <= 'Z') x = static_cast<unsigned char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<unsigned char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

// address-literal = "[" ( IPv4-address-literal / IPv6-address-literal /
//                         General-address-literal ) "]"      (RFC 5321 §4.1.3)
Result<void> check_address_literal(std::string_view literal) {
  if (literal.size() > domain_octets_max) return fail("domain longer than 255 octets");
  if (literal.size() < 2 || literal.front() != '[') return fail("address literal must start with '['");
  std::size_t close = literal.find(']');
  if (close == std::string_view::npos) return fail("address literal missing closing ']'");
  if (close + 1 != literal.size()) return fail("unexpected text after ']' in address literal");
  std::string_view inner = literal.substr(1, literal.size() - 2);
  if (inner.empty()) return fail("empty address literal");
  std::size_t colon = inner.find(':');
  if (colon == std::string_view::npos) {
    if (!is_ipv4(inner)) return fail("invalid IPv4 address literal '" + std::string(literal) + "'");
    return {};
  }
  std::string_view tag = inner.substr(0, colon);
  std::string_view content = inner.substr(colon + 1);
  if (iequals(tag, "IPv6")) {
    if (!is_ipv6(content)) return fail("invalid IPv6 address literal '" + std::string(literal) + "'");
    return {};
  }
  // General-address-literal = Standardized-tag ":" 1*dcontent; Standardized-tag = Ldh-str.
  if (tag.empty()) return fail("address literal tag is empty");
  for (char ch : tag) {
    auto c = static_cast<unsigned char>(ch);
    if (!is_let_dig(c) && c != '-') return fail("invalid " + describe_byte(c) + " in address literal tag");
  }
  if (tag.back() == '-') return fail("address literal tag ends with a hyphen");
  if (content.empty()) return fail("address literal has no content after the tag");
  for (char ch : content) {
    auto c = static_cast<unsigned char>(ch);
    // dcontent = %d33-90 / %d94-126
    if (c < 33 || c > 126 || c == '[' || c == '\\' || c == ']') {
      return fail("invalid " + describe_byte(c) + " in address literal");
    }
  }
  return {};
}

struct LocalPart {
  std::string value;     // unquoted
  std::size_t consumed;  // octets of the text it took, quotes included
};

// Quoted-string = DQUOTE *QcontentSMTP DQUOTE; quoted-pairSMTP = "\" %d32-126;
// qtextSMTP = %d32-33 / %d35-91 / %d93-126 (/ UTF8-non-ascii under RFC 6531).
Result<LocalPart> parse_quoted_local(std::string_view text) {
  LocalPart out{{}, 0};
  std::size_t i = 1;
  while (i < text.size()) {
    char c = text[i];
    if (c == '"') {
      out.consumed = i + 1;
      return out;
    }
    if (c == '\\') {
      if (i + 1 >= text.size()) break;
      auto next = static_cast<unsigned char>(text[i + 1]);
      if (next >= 0x80) return fail("backslash before a non-ASCII byte in quoted local part");
      out.value.push_back(static_cast<char>(next));
      i += 2;
      continue;
    }
    out.value.push_back(c);
    ++i;
  }
  return fail("unterminated quoted string in local part");
}

// Dot-string = Atom *("." Atom); Atom = 1*atext (/ UTF8-non-ascii under RFC 6531).
Result<LocalPart> parse_dot_local(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size() && text[i] != '@') {
    auto c = static_cast<unsigned char>(text[i]);
    if (c == '.') {
      if (i == 0) return fail("local part starts with a dot");
      if (text[i - 1] == '.') return fail("local part has two consecutive dots");
    } else if (c == '"') {
      return fail("quote inside an unquoted local part");
    } else if (!is_atext(c) && c < 0x80) {
      return fail("invalid " + describe_byte(c) + " in local part");
    }
    ++i;
  }
  if (i == 0) return fail(i < text.size() ? "empty local part" : "empty address");
  if (text[i - 1] == '.') return fail("local part ends with a dot");
  return LocalPart{std::string(text.substr(0, i)), i};
}

Result<Address> parse_mailbox_checked(std::string_view text) {
  if (text.empty()) return fail("empty address");
  auto local = text.front() == '"' ? parse_quoted_local(text) : parse_dot_local(text);
  if (!local) return local.error();
  std::size_t at = local->consumed;
  if (at > local_part_octets_max) return fail("local part longer than 64 octets");
  if (at >= text.size()) return fail("missing '@' in address");
  if (text[at] != '@') return fail("unexpected " + describe_byte(static_cast<unsigned char>(text[at])) + " after quoted local part");
  std::string_view domain = text.substr(at + 1);
  if (domain.empty()) return fail("empty domain");
  if (domain.find('@') != std::string_view::npos) return fail("more than one '@' in address");
  if (domain.front() == '[') {
    if (auto ok = check_address_literal(domain); !ok) return ok.error();
  } else if (domain.find(']') != std::string_view::npos) {
    return fail("unbalanced ']' in domain");
  } else if (auto ok = check_domain_name(domain); !ok) {
    return ok.error();
  }
  return Address{std::move(local->value), std::string(domain)};
}

// A-d-l = At-domain *( "," At-domain ); At-domain = "@" Domain.  Returns the
// octets consumed including the ":" (0 when there is no source route).
Result<std::size_t> skip_source_route(std::string_view inner) {
  if (inner.empty() || inner.front() != '@') return std::size_t{0};
  std::size_t colon = inner.find(':');
  if (colon == std::string_view::npos) return fail("source route without ':'");
  std::string_view route = inner.substr(0, colon);
  std::size_t start = 0;
  while (start <= route.size()) {
    std::size_t comma = route.find(',', start);
    std::string_view hop = route.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
    if (hop.empty() || hop.front() != '@') return fail("source route hop must start with '@'");
    if (auto ok = check_domain_name(hop.substr(1)); !ok) {
      return fail("in source route: " + ok.error().message);
    }
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return colon + 1;
}

Result<Address> parse_path(std::string_view text, ParseOptions options, bool allow_null) {
  if (text.empty()) return fail("empty path");
  if (auto ok = check_bytes(text, options); !ok) return ok.error();
  if (text.front() != '<') return fail("path must start with '<'");
  if (text.size() < 2 || text.back() != '>') return fail("path missing closing '>'");
  if (text.size() > path_octets_max) return fail("path longer than 256 octets");
  std::string_view inner = text.substr(1, text.size() - 2);
  if (inner.empty()) {
    if (allow_null) return Address{};
    return fail("null path '<>' is only allowed as a reverse path");
  }
  if (inner.front() == '<' || inner.back() == '>') return fail("unbalanced angle brackets in address");
  auto route = skip_source_route(inner);
  if (!route) return route.error();
  return parse_mailbox_checked(inner.substr(*route));
}

bool is_dot_string(std::string_view s) {
  if (s.empty() || s.front() == '.' || s.back() == '.') return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c == '.') {
      if (s[i - 1] == '.') return false;
    } else if (!is_atext(c) && c < 0x80) {
      return false;
    }
  }
  return true;
}

}  // namespace

std::string Address::domain_key() const {
  std::string key = domain;
  for (char& c : key) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return key;
}

std::string Address::to_string() const {
  if (is_null()) return {};
  std::string out;
  if (is_dot_string(local_part)) {
    out = local_part;
  } else {
    out.push_back('"');
    for (char c : local_part) {
      if (c == '"' || c == '\\') out.push_back('\\');
      out.push_back(c);
    }
    out.push_back('"');
  }
  out.push_back('@');
  out += domain;
  return out;
}

std::string Address::to_path() const { return "<" + to_string() + ">"; }

bool operator==(const Address& a, const Address& b) {
  return a.local_part == b.local_part && iequals(a.domain, b.domain);
}

Result<Address> parse_mailbox(std::string_view text, ParseOptions options) {
  if (text.empty()) return fail("empty address");
  if (auto ok = check_bytes(text, options); !ok) return ok.error();
  if (text.size() > path_octets_max - 2) return fail("address longer than 254 octets");
  if (text.front() == '<' || text.back() == '>') return fail("unexpected angle brackets around a mailbox");
  return parse_mailbox_checked(text);
}

Result<Address> parse_forward_path(std::string_view text, ParseOptions options) {
  return parse_path(text, options, false);
}

Result<Address> parse_reverse_path(std::string_view text, ParseOptions options) {
  return parse_path(text, options, true);
}

bool is_postmaster_path(std::string_view text) { return iequals(text, "<Postmaster>"); }

}  // namespace maillab::net::mail
