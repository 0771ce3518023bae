// MaildirStore: the mail store of `maillab serve`, on disk, readable by mutt
// and Dovecot (formats in sim/store/maildir_format.hpp).
//
// Layout: <root>/<domain>/<localpart>/ is the user's Maildir (INBOX: cur/
// new/ tmp/, dovecot-uidlist, dovecot-keywords, subscriptions,
// maillab-uidvalidity); every other mailbox is a Maildir++ folder beside it
// (".Sent", ".Archive.2026", each with a "maildirfolder" marker).
//
// Delivery (qmail's maildir(5)): write tmp/<unique>, fsync it, set its mtime
// to the internal date (Dovecot's INTERNALDATE), link it into new/ (no flags)
// or cur/ (":2,<flags>"), unlink the tmp name, fsync the directory, then add
// the UID to dovecot-uidlist (written to dovecot-uidlist.lock, fsync'd,
// renamed, directory fsync'd); only then does append() return.  Any failure
// removes what was written and returns io (ENOSPC included) or quota.
// Unique names carry the UID and UIDVALIDITY, never a clock or randomness.
//
// Every call re-reads the folder ("sync"): files that appeared in new/ or cur/
// without a UID (another program delivered them) get the next UIDs in file
// name order; files that vanished lose theirs; a changed name (mutt moved it
// to cur/ or changed its flags) is picked up.  UIDVALIDITY comes from a
// per-user counter file, maillab-uidvalidity (initialised past every
// UIDVALIDITY found in the user's folders), so values never repeat for a user.
// tmp/ is never read; ensure_user() removes our own leftovers from it.
//
// Isolation (catalogue rows 39, 47): users and names are validated by
// sim/store/mailbox_name.hpp before any path is built; directories that are
// symbolic links are not mailboxes or users, message files that are symbolic
// links are not messages, and files are opened with O_NOFOLLOW.
//
// Limits (set_limits) and change_counter() live in memory: the counter also
// bumps when a sync finds changes made by another program.  Not supported:
// a Dovecot or another maillab writing the same tree at the same time (we do
// not wait on Dovecot's dotlocks); more than 26 keywords in one mailbox.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "net/mail/mail_store.hpp"
#include "sim/store/maildir_format.hpp"

namespace maillab::sim {

class MaildirStore final : public net::mail::MailStore {
 public:
  // Opens the state directory `root`, creating it when missing.
  static Result<std::unique_ptr<MaildirStore>> open(std::filesystem::path root);

  const std::filesystem::path& root() const { return root_; }
  // The directory of an existing mailbox (INBOX: the user's Maildir itself).
  Result<std::filesystem::path> mailbox_dir(std::string_view user, std::string_view mailbox) const;

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
  explicit MaildirStore(std::filesystem::path root) : root_(std::move(root)) {}

  // A mailbox as found on disk by the latest sync.
  struct Folder {
    std::filesystem::path home;  // the user's Maildir
    std::filesystem::path dir;   // this mailbox's Maildir
    maildir::UidList list;
    std::vector<bool> in_new;    // per record: new/ (else cur/)
    std::vector<std::string> keywords;

    std::filesystem::path path_of(std::size_t index) const;
    std::optional<std::size_t> index_of(std::uint32_t uid) const;
  };
  struct Location {
    std::string user_key;
    std::filesystem::path home;
    std::string name;            // canonical
    std::filesystem::path dir;
  };

  Result<std::filesystem::path> home_of(std::string_view user) const;
  Result<Location> locate(std::string_view user, std::string_view mailbox) const;
  Result<Folder> open_folder(std::string_view user, std::string_view mailbox) const;
  Result<Folder> sync(const std::filesystem::path& home, const std::filesystem::path& dir) const;
  Result<void> save(Folder& folder) const;
  Result<std::uint64_t> size_of(const Folder& folder, std::size_t index) const;
  Result<std::uint32_t> allocate_uid_validity(const std::filesystem::path& home) const;
  Result<void> make_folder(const std::filesystem::path& home, const std::string& name) const;
  Result<std::uint32_t> deliver(Folder& folder, std::string_view disk_bytes, std::uint64_t size,
                                const net::mail::Flags& flags, std::int64_t internal_date_s);
  Result<std::uint64_t> used_bytes_at(const std::filesystem::path& home) const;
  Result<void> check_quota(const std::string& user_key, const std::filesystem::path& home,
                           std::uint64_t size) const;
  std::vector<std::string> folder_names(const std::filesystem::path& home) const;
  Result<std::vector<std::string>> read_subscriptions(const std::filesystem::path& home) const;
  Result<void> write_subscriptions(const std::filesystem::path& home, const std::vector<std::string>& names) const;

  std::filesystem::path root_;
  std::map<std::string, net::mail::StoreLimits> limits_;  // by user key
  mutable std::uint64_t change_counter_ = 0;
};

}  // namespace maillab::sim
