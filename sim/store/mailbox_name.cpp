#include "sim/store/mailbox_name.hpp"

#include <cstdint>

namespace maillab::sim {
namespace {

Error invalid(std::string message) {
  return make_error(ErrorCategory::invalid_argument, std::move(message));
}

bool ascii_iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i];
    char y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

// Decodes one UTF-8 sequence at `i`; returns the code point and advances `i`,
// or returns -1 for a malformed, overlong or surrogate sequence.
std::int32_t next_code_point(std::string_view s, std::size_t& i) {
  auto byte = [&](std::size_t k) { return static_cast<std::uint8_t>(s[k]); };
  std::uint8_t lead = byte(i);
  if (lead < 0x80) {
    ++i;
    return lead;
  }
  std::size_t length = 0;
  std::int32_t cp = 0;
  std::int32_t min = 0;
  if ((lead & 0xE0) == 0xC0) {
    length = 2, cp = lead & 0x1F, min = 0x80;
  } else if ((lead & 0xF0) == 0xE0) {
    length = 3, cp = lead & 0x0F, min = 0x800;
  } else if ((lead & 0xF8) == 0xF0) {
    length = 4, cp = lead & 0x07, min = 0x10000;
  } else {
    return -1;
  }
  if (i + length > s.size()) return -1;
  for (std::size_t k = 1; k < length; ++k) {
    std::uint8_t b = byte(i + k);
    if ((b & 0xC0) != 0x80) return -1;
    cp = (cp << 6) | (b & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return -1;
  i += length;
  return cp;
}

bool is_control(std::int32_t cp) { return cp < 0x20 || (cp >= 0x7F && cp <= 0x9F); }

Result<void> check_part(std::string_view part) {
  if (part.empty()) return invalid("mailbox name has an empty part");
  if (part == "." || part == "..") return invalid("mailbox name has a '.' or '..' part");
  if (part.front() == '~') return invalid("mailbox name part starts with '~'");
  if (part == "cur" || part == "new" || part == "tmp") {
    return invalid("mailbox name part '" + std::string(part) + "' is reserved by Maildir");
  }
  return {};
}

bool is_local_part_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '+' || c == '-' || c == '=';
}

bool is_ldh(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
}

}  // namespace

Result<std::string> canonical_mailbox_name(std::string_view name) {
  if (name.empty()) return invalid("mailbox name is empty");
  if (name.size() > kMailboxNameOctetsMax) return invalid("mailbox name longer than 255 octets");
  if (name.front() == '/') return invalid("mailbox name starts with '/'");
  for (std::size_t i = 0; i < name.size();) {
    std::int32_t cp = next_code_point(name, i);
    if (cp < 0) return invalid("mailbox name is not valid UTF-8");
    if (is_control(cp)) return invalid("mailbox name contains a control character");
    if (cp == '*' || cp == '%') return invalid("mailbox name contains a LIST wildcard");
  }
  std::size_t start = 0;
  while (true) {
    std::size_t slash = name.find('/', start);
    std::string_view part = name.substr(start, slash == std::string_view::npos ? name.npos : slash - start);
    if (auto checked = check_part(part); !checked) return checked.error();
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  std::string canonical(name);
  std::size_t first_end = name.find('/');
  if (ascii_iequals(name.substr(0, first_end), kInbox)) canonical.replace(0, kInbox.size(), kInbox);
  return canonical;
}

Result<UserName> parse_user(std::string_view user) {
  std::size_t at = user.find('@');
  if (at == std::string_view::npos) return invalid("user is not a full address (no '@')");
  std::string_view local = user.substr(0, at);
  std::string_view domain = user.substr(at + 1);
  if (local.empty() || local.size() > kUserLocalPartOctetsMax) {
    return invalid("user local part must be 1 to 64 octets");
  }
  for (char c : local) {
    if (!is_local_part_char(c)) return invalid("user local part has a character outside [A-Za-z0-9._+=-]");
  }
  if (local.front() == '.' || local.back() == '.' || local.find("..") != std::string_view::npos) {
    return invalid("user local part has a leading, trailing or doubled '.'");
  }
  if (domain.empty() || domain.size() > kUserDomainOctetsMax) {
    return invalid("user domain must be 1 to 253 octets");
  }
  std::string lowered;
  std::size_t start = 0;
  while (true) {
    std::size_t dot = domain.find('.', start);
    std::string_view label = domain.substr(start, dot == std::string_view::npos ? domain.npos : dot - start);
    if (label.empty() || label.size() > 63) return invalid("user domain label must be 1 to 63 octets");
    if (label.front() == '-' || label.back() == '-') return invalid("user domain label starts or ends with '-'");
    for (char c : label) {
      if (!is_ldh(c)) return invalid("user domain has a character outside letters, digits and '-'");
    }
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  for (char c : domain) lowered.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c);
  UserName parsed;
  parsed.local_part = std::string(local);
  parsed.domain = lowered;
  parsed.key = parsed.local_part + "@" + parsed.domain;
  return parsed;
}

net::mail::SpecialUse special_use_of(std::string_view canonical_name) {
  using net::mail::SpecialUse;
  if (canonical_name == "Sent") return SpecialUse::sent;
  if (canonical_name == "Drafts") return SpecialUse::drafts;
  if (canonical_name == "Trash") return SpecialUse::trash;
  if (canonical_name == "Junk") return SpecialUse::junk;
  return SpecialUse::none;
}

std::string_view parent_of(std::string_view canonical_name) {
  std::size_t slash = canonical_name.rfind('/');
  return slash == std::string_view::npos ? std::string_view{} : canonical_name.substr(0, slash);
}

bool is_within(std::string_view name, std::string_view ancestor) {
  if (name.size() < ancestor.size() || name.substr(0, ancestor.size()) != ancestor) return false;
  return name.size() == ancestor.size() || name[ancestor.size()] == '/';
}

}  // namespace maillab::sim
