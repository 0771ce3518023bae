// The mail store interface: what the MDA delivers into and what the POP3 and
// IMAP engines read from.  Two implementations share one test suite
// (tests/sim/store/): in memory (sim/store/memory_store) and Maildir
// (sim/store/maildir_store, readable by mutt and Dovecot).
//
// Model (IMAP4rev1, RFC 3501 §2.3): a user owns mailboxes named with the
// hierarchy delimiter '/' ("INBOX", "Sent", "Archive/2026").  Every mailbox has
// a UIDVALIDITY and a UIDNEXT; UIDs are strictly ascending, never reused, and
// persist across restarts.  INBOX and the special-use mailboxes Sent, Drafts,
// Trash, Junk (RFC 6154) exist for every user from ensure_user() on.
//
// Names given here are already decoded from modified UTF-7 (UTF-8) and are
// validated by the store: empty, "." or ".." parts, a leading '/', '~', NUL or
// control characters are refused (invalid_argument), so no name ever escapes
// the user's tree.  "INBOX" is case-insensitive, other names are not.
//
// Durability: append() returns only once the message is stored durably (the
// Maildir implementation fsyncs file and directory).  The store never reads a
// clock: callers pass the internal date.
//
// Reader caches: a protocol engine may keep what it derives from stored
// messages (IMAP: ENVELOPE, BODYSTRUCTURE) with the store object, so that all
// its sessions on that store share it.  (user, mailbox, UIDVALIDITY, UID)
// never names two different messages (RFC 3501 §2.3.1.1), so such data never
// goes stale; the cache only has to bound its size.  A copy of a store starts
// with no reader caches.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "net/core/result.hpp"

namespace maillab::net::mail {

// System flags are spelled as on the wire: "\\Seen", "\\Answered", "\\Flagged",
// "\\Deleted", "\\Draft"; keywords are atoms ("$Forwarded").  Kept sorted and
// unique by the store.
using Flags = std::vector<std::string>;

enum class SpecialUse : std::uint8_t { none, sent, drafts, trash, junk };

struct MailboxInfo {
  std::string name;  // UTF-8, '/'-separated
  SpecialUse special_use = SpecialUse::none;
  bool subscribed = false;
  bool has_children = false;
};

struct MailboxStatus {
  std::uint32_t uid_validity = 0;
  std::uint32_t uid_next = 1;
  std::uint32_t messages = 0;
  std::uint32_t unseen = 0;          // without \Seen
  std::uint64_t modseq = 0;          // bumps on every change to the mailbox
  bool operator==(const MailboxStatus&) const = default;
};

struct MessageMeta {
  std::uint32_t uid = 0;
  Flags flags;
  std::int64_t internal_date_s = 0;  // Unix seconds, UTC
  std::uint64_t size = 0;            // RFC822.SIZE: octets with CRLF line ends
};

struct StoreLimits {
  std::uint64_t quota_bytes = 0;     // per user, 0 = unlimited; append fails with `quota`
};

// Base of what a reader keeps in a store's reader caches.
class ReaderCache {
 public:
  virtual ~ReaderCache() = default;
};

class MailStore {
 public:
  virtual ~MailStore() = default;

  // The reader cache registered under `name`, made by `make()` on first use
  // (T derives from ReaderCache; one type per name).
  template <class T, class Make>
  T& reader_cache(std::string_view name, Make make) const {
    auto it = reader_caches_.caches.find(name);
    if (it == reader_caches_.caches.end()) {
      std::unique_ptr<ReaderCache> made = make();
      it = reader_caches_.caches.emplace(std::string(name), std::move(made)).first;
    }
    return static_cast<T&>(*it->second);
  }

  // Users.  ensure_user creates the user's INBOX and special-use mailboxes.
  virtual Result<void> ensure_user(std::string_view user) = 0;
  virtual bool has_user(std::string_view user) const = 0;
  virtual Result<void> set_limits(std::string_view user, StoreLimits limits) = 0;
  virtual Result<std::uint64_t> used_bytes(std::string_view user) const = 0;

  // Mailboxes.
  virtual Result<std::vector<MailboxInfo>> list_mailboxes(std::string_view user) const = 0;
  virtual Result<void> create_mailbox(std::string_view user, std::string_view name) = 0;
  virtual Result<void> delete_mailbox(std::string_view user, std::string_view name) = 0;
  virtual Result<void> rename_mailbox(std::string_view user, std::string_view from,
                                      std::string_view to) = 0;
  virtual Result<void> set_subscribed(std::string_view user, std::string_view name,
                                      bool subscribed) = 0;
  virtual Result<MailboxStatus> status(std::string_view user, std::string_view mailbox) const = 0;

  // Messages, in ascending UID order.
  virtual Result<std::vector<MessageMeta>> messages(std::string_view user,
                                                    std::string_view mailbox) const = 0;
  // The message as stored: CRLF line ends, exactly `size` octets.
  virtual Result<std::string> read(std::string_view user, std::string_view mailbox,
                                   std::uint32_t uid) const = 0;
  // Stores `data` (any line ends are normalised to CRLF) and returns its UID.
  virtual Result<std::uint32_t> append(std::string_view user, std::string_view mailbox,
                                       std::string_view data, const Flags& flags,
                                       std::int64_t internal_date_s) = 0;
  virtual Result<void> set_flags(std::string_view user, std::string_view mailbox,
                                 std::uint32_t uid, const Flags& flags) = 0;
  // Removes these UIDs (unknown UIDs are ignored).
  virtual Result<void> expunge(std::string_view user, std::string_view mailbox,
                               std::span<const std::uint32_t> uids) = 0;
  // Copies one message, flags and internal date included; returns the new UID.
  virtual Result<std::uint32_t> copy(std::string_view user, std::string_view from,
                                     std::uint32_t uid, std::string_view to) = 0;

  // Bumps on every change anywhere in the store: drivers compare it to know
  // when to poke idle IMAP sessions (RFC 2177).
  virtual std::uint64_t change_counter() const = 0;

 private:
  // Not copied with the store: a copy may come to hold other messages under the same names.
  struct ReaderCaches {
    ReaderCaches() = default;
    ReaderCaches(const ReaderCaches&) {}
    ReaderCaches& operator=(const ReaderCaches&) { return *this; }
    ReaderCaches(ReaderCaches&&) noexcept = default;
    ReaderCaches& operator=(ReaderCaches&&) noexcept = default;
    std::map<std::string, std::unique_ptr<ReaderCache>, std::less<>> caches;
  };
  mutable ReaderCaches reader_caches_;
};

}  // namespace maillab::net::mail
