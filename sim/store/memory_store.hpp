// MemoryStore: the mail store the simulator runs on.  Everything lives in
// ordered maps, so iteration order, UIDs and UIDVALIDITY values depend only on
// the sequence of calls: no clock, no randomness.
//
// UIDVALIDITY comes from one store-wide counter (1, 2, 3, ...), so a mailbox
// deleted and created again, or created for another user, never repeats a
// value (RFC 3501 §2.3.1.1).  UIDs start at 1 in every mailbox and are never
// reused: uid_next only grows.  Mailbox semantics follow RFC 3501 §6.3:
// CREATE makes missing superior names, DELETE refuses INBOX and names with
// children, RENAME moves children along and, for INBOX, moves the messages
// into the new mailbox and leaves INBOX empty.  Subscriptions are names and
// may outlive their mailbox (RFC 3501 §6.3.6); they follow a RENAME.
// Names and users are validated by sim/store/mailbox_name.hpp.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "net/mail/mail_store.hpp"

namespace maillab::sim {

class MemoryStore final : public net::mail::MailStore {
 public:
  MemoryStore() = default;

  Result<void> ensure_user(std::string_view user) override;
  bool has_user(std::string_view user) const override;
  Result<void> set_limits(std::string_view user, net::mail::StoreLimits limits) override;
  Result<std::uint64_t> used_bytes(std::string_view user) const override;

  Result<std::vector<net::mail::MailboxInfo>> list_mailboxes(std::string_view user) const override;
  Result<void> create_mailbox(std::string_view user, std::string_view name) override;
  Result<void> delete_mailbox(std::string_view user, std::string_view name) override;
  Result<void> rename_mailbox(std::string_view user, std::string_view from, std::string_view to) override;
  Result<void> set_subscribed(std::string_view user, std::string_view name, bool subscribed) override;
  Result<net::mail::MailboxStatus> status(std::string_view user, std::string_view mailbox) const override;

  Result<std::vector<net::mail::MessageMeta>> messages(std::string_view user,
                                                       std::string_view mailbox) const override;
  Result<std::string> read(std::string_view user, std::string_view mailbox, std::uint32_t uid) const override;
  Result<std::uint32_t> append(std::string_view user, std::string_view mailbox, std::string_view data,
                               const net::mail::Flags& flags, std::int64_t internal_date_s) override;
  Result<void> set_flags(std::string_view user, std::string_view mailbox, std::uint32_t uid,
                         const net::mail::Flags& flags) override;
  Result<void> expunge(std::string_view user, std::string_view mailbox,
                       std::span<const std::uint32_t> uids) override;
  Result<std::uint32_t> copy(std::string_view user, std::string_view from, std::uint32_t uid,
                             std::string_view to) override;

  std::uint64_t change_counter() const override { return change_counter_; }

 private:
  struct Message {
    net::mail::MessageMeta meta;
    std::string data;  // CRLF line ends
  };
  struct Mailbox {
    std::uint32_t uid_validity = 0;
    std::uint32_t uid_next = 1;
    std::uint64_t modseq = 1;
    std::map<std::uint32_t, Message> messages;  // by UID
  };
  struct User {
    std::map<std::string, Mailbox> mailboxes;  // by canonical name
    std::set<std::string> subscriptions;
    net::mail::StoreLimits limits;
  };

  Result<const User*> find_user(std::string_view user) const;
  Result<User*> find_user(std::string_view user);
  Result<Mailbox*> find_mailbox(std::string_view user, std::string_view name);
  Result<const Mailbox*> find_mailbox(std::string_view user, std::string_view name) const;
  static std::uint64_t total_bytes(const User& user);
  void add_mailbox(User& user, const std::string& name);
  std::uint32_t store_message(Mailbox& box, Message message);

  std::map<std::string, User> users_;  // by canonical user key
  std::uint32_t next_uid_validity_ = 1;
  std::uint64_t change_counter_ = 0;
};

}  // namespace maillab::sim
