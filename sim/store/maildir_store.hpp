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
// Index.  Each mailbox is read from disk ("sync") once and then kept in memory
// (UID -> file name, flags, RFC822.SIZE, internal date), updated by the
// store's own writes.  Every call but read() first compares a stamp of the
// folder (lstat of new/, cur/, dovecot-uidlist, dovecot-keywords: inode, size,
// mtime, ctime) with the one the index was built under, and syncs again only
// when it differs, so another program's changes are still seen at the next
// call.  Timestamps have a coarse tick: a change in the same tick as the
// stamp would not move it ("racy", as in git's index).  So an index is
// trusted only when every stamped ctime is older than a filesystem time taken
// before the stamp (a probe: utimensat of tmp/, then lstat); an untrusted one
// (after our own writes, or a change in this tick) is synced again at its next
// use.  read() skips the stamp: a message file never changes its content, and
// a name that has gone (moved or flagged by mutt, deleted) makes it sync and
// look again.  A sync lists new/ and cur/ with readdir's d_type (lstat only
// where the type is unknown) and keeps the internal dates it already had.
//
// A sync: files that appeared in new/ or cur/ without a UID (another program
// delivered them) get the next UIDs in file name order; files that vanished
// lose theirs; a changed name (mutt moved it to cur/ or changed its flags) is
// picked up.  UIDVALIDITY comes from a
// per-user counter file, maillab-uidvalidity (initialised past every
// UIDVALIDITY found in the user's folders), so values never repeat for a user.
// tmp/ is never read; ensure_user() removes our own leftovers from it.
//
// Isolation (catalogue rows 39, 47): users and names are validated by
// sim/store/mailbox_name.hpp before any path is built; directories that are
// symbolic links are not mailboxes or users, message files that are symbolic
// links are not messages, and files are opened with O_NOFOLLOW.
//
// Deferred durability (the lab server's group commit): while a SyncLedger is
// set with defer_syncs(), append() and copy() write and link the message file
// exactly as above but fsync nothing, and leave dovecot-uidlist alone.  An
// append() into new/ (no flags) through the Maildir's open directories does
// not even write it: it settles the name and the UID and records the file in
// the ledger (add_unwritten), and whoever syncs the ledger writes it first
// (the lab server's committer thread: creating a file costs more than the
// rest of a delivery, and the io thread should answer sessions meanwhile).
// A listing in between keeps the record of a hidden UID whose file is not
// there yet (sync()).  The UID lives in the index (and in the files' names)
// until seal_deferred() writes each changed folder's uid list once, unsynced,
// into the ledger.  The
// ledger collects the message files, the uid lists and their directories; the
// caller makes them durable with ledger.sync() (on its worker thread, one
// round for many deliveries) and then runs the ledger's on_synced actions on
// the store's thread.  Until then a deferred UID is hidden from every reader
// (status, messages, read, set_flags, expunge, copy), and so is every UID
// above it: UIDNEXT stops below it.  So a UID a client has seen always has its
// file and its dovecot-uidlist entry on disk, and a crash can never give it to
// another message without a new UIDVALIDITY (RFC 3501 §2.3.1.1).  Until the
// ledger is synced a crash may lose the message, so only a caller that still
// holds it durably elsewhere (maillab serve's queue, which re-delivers after a
// crash) may set a ledger.  Every other caller, and every other operation,
// gets the MailStore contract: durable and visible before the call returns.
// A crash can leave such a delivery in new/ shorter than the size in its name
// (its data never reached the disk): ensure_user() removes those, as it
// empties tmp/.  A deferred delivery into a trusted index keeps it trusted
// instead of listing the folder again at its next use; the actions that show
// the round's UIDs mark the index for one such listing by the next reader
// (every call but append()), so another program's change made since is seen
// by the first reader after the round.  Deliveries alone never list the
// folder again: a stream of mail into a big folder costs no O(folder) per round.
// A delivery never asks for the times of new/, tmp/ or dovecot-uidlist, which
// it changes (durable::identity_at says why): it checks their identity and
// size, and readers compare those alone for the files whose times it left
// unasked, until that listing.
//
// Limits (set_limits) and change_counter() live in memory: the counter also
// bumps when a sync finds changes made by another program.  Not supported:
// a Dovecot or another maillab writing the same tree at the same time (we do
// not wait on Dovecot's dotlocks); more than 26 keywords in one mailbox.
#pragma once

#include <array>
#include <climits>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "net/mail/mail_store.hpp"
#include "sim/store/durable_file.hpp"
#include "sim/store/maildir_format.hpp"

namespace maillab::sim {

class MaildirStore final : public net::mail::MailStore {
 public:
  // Opens the state directory `root`, creating it when missing.
  static Result<std::unique_ptr<MaildirStore>> open(std::filesystem::path root);

  // A Maildir's directory and its cur/, new/ and tmp/, as strings for the system calls.
  struct MaildirPaths {
    std::string dir, cur, new_dir, tmp;
  };
  // Writes (with fsync) the uid lists that deferred deliveries left unsaved.
  ~MaildirStore() override;
  MaildirStore(const MaildirStore&) = delete;
  MaildirStore& operator=(const MaildirStore&) = delete;

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

  // Deliveries record what they leave unsynced in `ledger` (nullptr: fsync as usual).
  void defer_syncs(durable::SyncLedger* ledger) { deferred_ = ledger; }
  [[nodiscard]] durable::SyncLedger* deferred_syncs() const { return deferred_; }
  // Writes the uid list of every folder that deferred deliveries changed since
  // the last call into the current ledger (one rewrite per folder, however
  // many deliveries), and adds the on_synced action that shows their UIDs once
  // that ledger is synced.  invalid_argument without a ledger; on a write
  // error the UIDs stay hidden and the next call tries again.
  Result<void> seal_deferred();
  // Deferred UIDs not shown yet, over all folders.
  [[nodiscard]] std::size_t hidden_uids() const;
  // Deferred deliveries since the last seal_deferred()?
  [[nodiscard]] bool unsealed() const { return !unsealed_.empty(); }
  // How many times a folder was read from disk (listed and reconciled): tests
  // use it to check that the index is used.
  std::uint64_t syncs() const { return syncs_; }

 private:
  explicit MaildirStore(std::filesystem::path root) : root_(std::move(root)) {}

  // What lstat says about one of the files a folder's index depends on.
  // A quiet stamp (quiet_stamp_at) has no times: two stamps agree when their
  // identity and size do, and their times too where both have them.
  struct Stamp {
    bool exists = false;
    bool quiet = false;
    std::uint64_t dev = 0, ino = 0, size = 0;
    std::int64_t mtime_ns = 0, ctime_ns = 0;
    // The same file (or the same absence), whatever its size and times.
    [[nodiscard]] bool same_file(const Stamp& other) const {
      return exists == other.exists && dev == other.dev && ino == other.ino;
    }
    bool operator==(const Stamp& other) const {
      return same_file(other) && size == other.size &&
             (quiet || other.quiet || (mtime_ns == other.mtime_ns && ctime_ns == other.ctime_ns));
    }
  };
  static constexpr std::int64_t kUnknownDate = INT64_MIN;
  static constexpr std::size_t kNotAppendable = SIZE_MAX;

  // Where a mailbox lives: a function of the user's and the mailbox's names
  // (and root_) alone, so each is made once and kept (places_), and a kept
  // one never goes stale; whether its directories exist (users and folders
  // come and go: CREATE, RENAME, DELETE, another program) is asked of the
  // disk at every use, as before.  It spares every delivery ~18 path joins.
  struct Place {
    std::string user_key;
    std::string name;  // canonical
    std::string key;   // in folders_
    std::filesystem::path home;  // the user's Maildir
    std::filesystem::path dir;   // this mailbox's Maildir
    std::string domain;          // root_/<domain>
    MaildirPaths home_paths, dir_paths;
    std::string uid_list, keywords;  // in dir
  };
  using Location = std::shared_ptr<const Place>;

  // A Maildir's directories that append() holds open, so that a delivery
  // creates, renames and stamps relative to them instead of walking their
  // paths from the root.  Each keeps the device and inode it had when opened.
  // Before every use one lstat of the Maildir's path, and the stamps of new/
  // and cur/ (and one of tmp/) taken relative to it, tell whether the paths
  // still lead to them; another program's move or replacement of any of them
  // opens it again, so nothing is ever delivered into a directory that has
  // left its place.  forget() closes them along with the index.
  struct OpenDir {
    int fd = -1;
    std::uint64_t dev = 0, ino = 0;
  };
  struct OpenMaildir {
    OpenDir dir, tmp, new_dir, cur;
    OpenMaildir() = default;
    OpenMaildir(const OpenMaildir&) = delete;
    OpenMaildir& operator=(const OpenMaildir&) = delete;
    ~OpenMaildir();
  };

  // A mailbox as found on disk by the latest sync, kept current by our writes.
  struct Folder {
    Location place;  // its key in folders_, its home and its directory
    maildir::UidList list;
    std::vector<bool> in_new;    // per record: new/ (else cur/)
    std::vector<std::int64_t> dates;  // per record: internal date, kUnknownDate until looked up
    std::vector<std::string> keywords;
    std::array<Stamp, 4> stamps{};    // new/, cur/, dovecot-uidlist, dovecot-keywords
    bool trusted = false;             // stamps taken safely after the last change (see above)
    bool recheck = false;             // a round of ours was shown: the next reader lists once more
    bool list_unsaved = false;        // deferred deliveries not yet in dovecot-uidlist
    // dovecot-uidlist as we last wrote or read it: it holds records[0..records_on_disk)
    // exactly as here and ends after them, in list_bytes octets; kNotAppendable: rewrite it.
    std::size_t records_on_disk = kNotAppendable;
    std::uint64_t list_bytes = 0;

    std::filesystem::path path_of(std::size_t index) const;
    std::optional<std::size_t> index_of(std::uint32_t uid) const;
  };
  Result<std::filesystem::path> home_of(std::string_view user) const;
  // The place of a mailbox whose names are valid (not_found: no such user).
  Result<Location> locate(std::string_view user, std::string_view mailbox) const;
  // The same without asking whether the user exists.
  Result<Location> place_of(std::string_view user, std::string_view mailbox) const;
  // The index of a mailbox, synced when its stamp moved or was not trusted.
  // The pointer stays valid until the next call that may sync or forget.
  Result<Folder*> open_folder(std::string_view user, std::string_view mailbox) const;
  // With `open`, its stamps are taken relative to open->dir.  `taken` (if given) are append()'s
  // delivery_stamps_of(*open): enough to go on with a trusted index; a sync takes full ones.
  Result<Folder*> folder_at(const Location& where, const OpenMaildir* open = nullptr,
                            const std::array<Stamp, 4>* taken = nullptr) const;
  // The Maildir of `at` held open and checked against its path; nullptr when
  // its path or one of cur/, new/, tmp/ is not a real directory (or cannot be opened).
  OpenMaildir* open_maildir(const Place& at, std::array<Stamp, 4>& stamps) const;
  static bool open_dir(int at, const char* name, OpenDir& out);
  // `previous` (may be null) lends the dates it knew and its uid list when that did not change.
  // `stamps` are the ones taken before; `wrote_list` tells whether the sync saved dovecot-uidlist.
  Result<Folder> sync(const Location& where, Folder* previous, const std::array<Stamp, 4>& stamps,
                      bool& wrote_list) const;
  static Stamp stamp_at(const std::string& path);
  static Stamp stamp_at(int dir_fd, const char* name);
  static Stamp stamp_of(const struct stat& st);
  // Without times (durable::identity_at says why a delivery asks no more).
  static Stamp quiet_stamp_at(int dir_fd, const char* name);
  static Stamp quiet_stamp_of(const durable::Identity& found);
  static std::array<Stamp, 4> stamps_of(const Place& place);
  static std::array<Stamp, 4> stamps_of(const OpenMaildir& open);
  // What a delivery checks: quiet stamps of new/ and dovecot-uidlist, which it
  // changes, full ones of cur/ and dovecot-keywords, which it leaves alone.
  static std::array<Stamp, 4> delivery_stamps_of(const OpenMaildir& open);
  // Our own write changed the folder: its stamps now describe our change, not a check.
  // `open` (when given) is its Maildir held open: the stamps are taken relative to it.
  void after_write(Folder& folder, const OpenMaildir* open = nullptr) const;
  // The first UID readers may not see (the folder's UIDNEXT when nothing is hidden).
  std::uint32_t shown_below(const Folder& folder) const;
  // How many of the folder's records readers see (records are in UID order).
  std::size_t shown_count(const Folder& folder) const;
  // The on_synced action of a sealed round: these deferred UIDs are durable.
  void publish(const std::string& key, const std::vector<std::uint32_t>& uids);
  void forget(std::string_view key_prefix) const;
  Result<std::int64_t> date_of(Folder& folder, std::size_t index) const;
  // dovecot-uidlist rewritten whole, fsync'd (or unsynced, into `ledger`).
  Result<void> save(Folder& folder, durable::SyncLedger* ledger = nullptr) const;
  // Only records were added since the last save: append their lines (Dovecot
  // does the same), else rewrite.  Into the deferred ledger when one is set.
  // `list_stamp` (when given) gets dovecot-uidlist's stamp if the append could take it from its descriptor.
  Result<void> save_added(Folder& folder, std::optional<Stamp>* list_stamp = nullptr) const;
  Result<std::uint64_t> size_of(const Folder& folder, std::size_t index) const;
  Result<std::uint32_t> allocate_uid_validity(const std::filesystem::path& home) const;
  Result<void> make_folder(const std::filesystem::path& home, const std::string& name) const;
  // Through `open` when given (checked by open_maildir just before), else by paths.
  Result<std::uint32_t> deliver(Folder& folder, std::string disk_bytes, std::uint64_t size,
                                const net::mail::Flags& flags, std::int64_t internal_date_s,
                                OpenMaildir* open = nullptr);
  Result<std::uint64_t> used_bytes_at(const std::string& user_key, const std::filesystem::path& home) const;
  Result<void> check_quota(const std::string& user_key, const std::filesystem::path& home,
                           std::uint64_t size) const;
  std::vector<std::string> folder_names(const std::filesystem::path& home) const;
  Result<std::vector<std::string>> read_subscriptions(const std::filesystem::path& home) const;
  Result<void> write_subscriptions(const std::filesystem::path& home, const std::vector<std::string>& names) const;

  std::filesystem::path root_;
  std::map<std::string, net::mail::StoreLimits> limits_;  // by user key
  mutable std::uint64_t change_counter_ = 0;
  // Indexes by "<user key>\n<canonical mailbox name>".
  mutable std::map<std::string, Folder, std::less<>> folders_;
  // Places by "<length of the user>:<user><mailbox>" as callers spell them; emptied when full.
  static constexpr std::size_t kPlacesMax = 1024;
  mutable std::unordered_map<std::string, Location> places_;
  // Open Maildirs by folder key (as folders_), at most kOpenMaildirsMax (four descriptors each).
  static constexpr std::size_t kOpenMaildirsMax = 64;
  mutable std::map<std::string, std::unique_ptr<OpenMaildir>, std::less<>> open_maildirs_;
  mutable std::int64_t fs_now_ns_ = INT64_MIN;
  mutable std::uint64_t syncs_ = 0;  // the latest probe of the filesystem's time
  durable::SyncLedger* deferred_ = nullptr;
  // Deferred UIDs not yet durable, by folder key: readers see none from the lowest on.
  std::map<std::string, std::set<std::uint32_t>, std::less<>> hidden_;
  // Deferred UIDs whose folder's uid list seal_deferred() has not written yet.
  std::map<std::string, std::vector<std::uint32_t>> unsealed_;
};

}  // namespace maillab::sim
