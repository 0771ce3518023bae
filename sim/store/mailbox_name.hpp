// Mailbox and user names: the one place both stores validate what a client or
// a scenario names, so that no name ever escapes the user's tree (security
// catalogue rows 39 and 47).
//
// Mailbox names (RFC 3501 §5.1, already decoded from modified UTF-7 to UTF-8,
// hierarchy delimiter '/'):
//   - 1 to 255 octets of well-formed UTF-8 (no overlong forms, no surrogates);
//   - no NUL, no C0 or C1 control character, no DEL;
//   - no leading '/', no empty part ("a//b", "a/"), no "." or ".." part;
//   - no part starting with '~' (home-directory expansion, Dovecot's rule);
//   - no '*' or '%' (LIST wildcards, RFC 3501 §6.3.8: such a name could not
//     be listed unambiguously);
//   - no part named "cur", "new" or "tmp" (the Maildir subdirectories).  Both
//     stores refuse them so that the simulator and the real server agree.
// "INBOX" is case-insensitive (RFC 3501 §5.1): a first part equal to it in any
// case is canonicalised to "INBOX" ("inbox/Sub" -> "INBOX/Sub").  Other names
// are case-sensitive.
//
// Users are full addresses "local@domain" with a strict charset: the local part
// is 1-64 octets of [A-Za-z0-9] and "._+-=", not starting or ending with '.'
// and without "..", the domain is LDH labels (RFC 1035 §2.3.1) of 1-63 octets,
// 1-253 octets in all.  The canonical form keeps the local part as given (it is
// case-sensitive, RFC 5321 §2.4) and lower-cases the domain.
#pragma once

#include <string>
#include <string_view>

#include "net/core/result.hpp"
#include "net/mail/mail_store.hpp"

namespace maillab::sim {

inline constexpr std::size_t kMailboxNameOctetsMax = 255;
inline constexpr std::size_t kUserLocalPartOctetsMax = 64;
inline constexpr std::size_t kUserDomainOctetsMax = 253;
inline constexpr std::string_view kInbox = "INBOX";

// The validated, canonical form of a mailbox name, or invalid_argument saying why.
Result<std::string> canonical_mailbox_name(std::string_view name);

struct UserName {
  std::string key;         // "alice@lab.test": local part as given, domain lower-cased
  std::string local_part;  // "alice"
  std::string domain;      // "lab.test"
};

// The validated user, or invalid_argument saying why.
Result<UserName> parse_user(std::string_view user);

// The special-use attribute (RFC 6154) of a canonical name: the top-level
// mailboxes "Sent", "Drafts", "Trash" and "Junk" that ensure_user() creates.
net::mail::SpecialUse special_use_of(std::string_view canonical_name);

// The special-use mailboxes every user has, in creation order.
inline constexpr std::string_view kSpecialMailboxes[] = {"Sent", "Drafts", "Trash", "Junk"};

// "a/b/c" -> "a/b"; "" for a top-level name.
std::string_view parent_of(std::string_view canonical_name);

// Whether `name` is `ancestor` or lies below it ("a/b" is within "a", "ab" is not).
bool is_within(std::string_view name, std::string_view ancestor);

}  // namespace maillab::sim
