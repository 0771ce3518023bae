// What FETCH answers from a message's MIME structure, kept between commands
// and between sessions: ENVELOPE, BODYSTRUCTURE and BODY (RFC 3501 §7.4.2) of
// every message some session has fetched them for.
//
// Theory of operation.  The summaries live in a reader cache of the mail store
// (net/mail/mail_store.hpp), one table per (user, mailbox, UIDVALIDITY), keyed
// by UID: such a key never names two different messages (RFC 3501 §2.3.1.1),
// so an entry never goes stale.  As a guard against a store that breaks that
// rule, an entry also records the RFC822.SIZE it was made from and is ignored
// when the size differs.  The cache is bounded by bytes: past the bound it is
// emptied and fills again on use (a warm FETCH of 10,000 ENVELOPEs needs a
// few MiB).  A table pointer is valid until the next add().
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <unordered_map>

#include "net/mail/mail_store.hpp"

namespace maillab::net::imap {

struct MessageSummary {
  std::uint64_t size = 0;       // RFC822.SIZE of the message it describes
  std::string envelope;         // ENVELOPE
  std::string body_structure;   // BODYSTRUCTURE (extensible)
  std::string body;             // BODY (non-extensible)
};

class SummaryCache final : public mail::ReaderCache {
 public:
  static constexpr std::size_t kBytesMax = 64u * 1024 * 1024;

  explicit SummaryCache(std::size_t bytes_max = kBytesMax) : bytes_max_(bytes_max) {}

  using Table = std::unordered_map<std::uint32_t, MessageSummary>;

  // The summaries cached for one mailbox, or null.
  [[nodiscard]] const Table* table(std::string_view user, std::string_view mailbox, std::uint32_t uid_validity) const;
  // The summary of one message when cached and made from a message of `size` octets.
  [[nodiscard]] static const MessageSummary* find(const Table* table, std::uint32_t uid, std::uint64_t size);
  void add(std::string_view user, std::string_view mailbox, std::uint32_t uid_validity, std::uint32_t uid,
           MessageSummary summary);

  [[nodiscard]] std::size_t bytes() const { return bytes_; }

  // The cache kept with `store`.
  static SummaryCache& of(const mail::MailStore& store);

 private:
  static std::string key_of(std::string_view user, std::string_view mailbox, std::uint32_t uid_validity);

  std::size_t bytes_max_;
  std::map<std::string, Table, std::less<>> tables_;
  std::size_t bytes_ = 0;
};

}  // namespace maillab::net::imap
