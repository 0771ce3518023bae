// Durable file operations for the Maildir store (POSIX): every write that
// must survive a crash is written, fsync'd, renamed or linked into place and
// its directory fsync'd before the call returns (qmail's maildir(5) delivery,
// security catalogue rows 54 and 57).  Nothing here follows a symbolic link
// (catalogue row 47): files are opened with O_NOFOLLOW.
//
// Errors: ENOENT is not_found, EEXIST exists, everything else (ENOSPC, EDQUOT,
// EIO, EFBIG ...) io, with the path and strerror in the message.  A failed
// write removes what it had written.
//
// Deferred durability (group commit across deliveries): the *_deferred
// variants write, link and rename exactly like the others but fsync nothing;
// they hand a SyncLedger the open descriptor of every file they wrote and the
// directories whose entries they changed.  ledger.sync() later makes all of it
// durable at once, usually on another thread: an fdatasync of every file
// (write-back started for all first, so they share journal commits) and an
// fsync of every directory, or one syncfs(2) of the file system (it waits
// for the write-back of every dirty file and directory there and flushes the
// device's cache, so it covers what those fsyncs would; Linux reports
// write-back errors through it since 5.8).  A
// descriptor names the inode, so a file renamed since (a reader moving new/ to
// cur/) is still the one synced.  Until sync() has succeeded the caller must
// treat those writes as not durable (the lab server keeps the message in its
// fsync'd queue until then).  A ledger also carries actions for its owner to
// run once a sync() of it has succeeded (on_synced): the Maildir store shows
// a deferred delivery's UID to readers only then.  sync() never runs them
// (it may run on another thread); whoever syncs takes them (take_on_synced)
// and runs them where their owner lives.
//
// A ledger may also carry a message file not yet written (add_unwritten):
// the Maildir store settles its name and UID and leaves the writing itself
// (create in tmp/, rename into new/) to whoever syncs the ledger, so that the
// lab server's io thread never waits on a file creation.  write_unwritten()
// writes them; sync() does so first.  One that cannot be written stays for
// the next write_unwritten() (take_unwritten() carries it to another ledger),
// unless its directory has been deleted since: there is nothing left to
// write it into, as if it had been delivered and its folder deleted after.
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "net/core/result.hpp"

namespace maillab::sim::durable {

Error errno_error(std::string_view operation, const std::filesystem::path& path, int error_number);

// The whole file; not_found when it does not exist, io when it is a symlink.
Result<std::string> read_file(const std::filesystem::path& path);

Result<void> fsync_dir(const std::filesystem::path& dir);

// What statx(2) says of a file without asking for its times.  Since Linux 6.13
// a look at a file's ctime makes its next change take a fine-grained
// timestamp, and that advances the clock every other file's next write reads
// (multigrain timestamps).  A file written in between then changes its mtime
// at every write: the lab server's delivery log got its inode written at
// every fdatasync, one more disk write per sync (bench/README.md, "SMTP,
// eleventh round").  So the delivery path asks only this.
struct Identity {
  std::uint64_t dev = 0, ino = 0, size = 0;
  bool is_dir = false;
};
// `name` relative to `dir_fd` ("": dir_fd itself); a symlink is not followed.  nullopt: errno says why.
std::optional<Identity> identity_at(int dir_fd, const char* name);

// Creates `path` (which must not exist), writes `content`, sets the
// modification time when given, fsyncs and closes it.  On failure the file
// is removed.
Result<void> write_new_file(const std::string& path, std::string_view content,
                            std::optional<std::int64_t> mtime_s = std::nullopt);

// Replaces dir/name atomically: writes dir/name.lock, fsyncs it, renames it
// over dir/name and fsyncs dir (the lock name is Dovecot's dotlock for its
// own files, so a Dovecot reading the same tree sees a writer at work).
Result<void> replace_file(const std::filesystem::path& dir, std::string_view name, std::string_view content);

// Appends `content` to the existing file `path`, which must still be
// `expected_size` octets long (the caller's view of it): otherwise nothing is
// written and the error is `exists` (someone else rewrote it; the caller
// rewrites the whole file instead).  Then fdatasync.  A write that fails half
// way is cut back to `expected_size`, so a reader never sees half a line.
// Appending creates no inode and frees none: on ext4 without a journal every
// inode freed in the last minute slows each later create in its group.
Result<void> append_to_file(const std::string& path, std::string_view content, std::uint64_t expected_size);

// Moves `from` to `to`, which must not exist (exists when it does: nothing is
// replaced), then fsyncs to's directory.  One renameat2(RENAME_NOREPLACE); link
// then unlink where the file system has no such rename.  On failure neither a
// partial `to` nor (if the move failed) a changed `from` is left.
Result<void> link_into_place(const std::string& from, const std::string& to);

// The same relative to open directories (openat(2), renameat2(2)): no path walk
// from the root per call.  The paths of the directories name the files in
// errors and in the ledger.
struct DirAt {
  int fd;
  const std::string& path;
};
Result<void> write_new_file_at(DirAt dir, std::string_view name, std::string_view content,
                               std::optional<std::int64_t> mtime_s);
Result<void> link_into_place_at(DirAt from_dir, const std::string& from, DirAt to_dir, const std::string& to);

// rename(from, to) then fsync both directories.
Result<void> rename_durably(const std::filesystem::path& from, const std::filesystem::path& to);

// mkdir with mode 0700; exists when it is already there.
Result<void> make_dir(const std::filesystem::path& dir);

enum class SyncMode : std::uint8_t {
  per_file,  // fdatasync each file, fsync each directory
  syncfs,    // one syncfs(2) of the file system holding them (also flushes everything else on it)
};

class SyncLedger {
 public:
  SyncLedger() = default;
  SyncLedger(SyncLedger&& other) noexcept;
  SyncLedger& operator=(SyncLedger&& other) noexcept;
  SyncLedger(const SyncLedger&) = delete;
  SyncLedger& operator=(const SyncLedger&) = delete;
  ~SyncLedger();

  // Takes ownership of `fd`, the file now at `path`.  A file recorded again
  // under the same path (a uid list replaced again) supersedes the older one,
  // whose inode has left the directory.
  void add_file(int fd, std::string path);
  // The same for a file the caller has just created (O_EXCL): no older record
  // can be its inode, so none is looked for (a ledger holds one per delivery).
  void add_new_file(int fd, std::string path);
  // Opens the directory once per ledger; io when it cannot be opened.
  Result<void> add_dir(const std::string& dir);
  // The same for a directory the caller holds open as `fd` (the ledger keeps a duplicate).
  Result<void> add_dir(const std::string& dir, int fd);
  // A message file to write later (see above): `content` created as `name` in
  // `tmp`, with `mtime_s` as its modification time, then renamed into `into`
  // under the same name (maildir(5): tmp/ to new/), which counts as a
  // directory of this ledger at once.  The ledger keeps duplicates of both
  // directories' descriptors.
  Result<void> add_unwritten(DirAt tmp, DirAt into, std::string name, std::string content, std::int64_t mtime_s);
  // Writes every unwritten file (write_new_file_at_deferred, then
  // link_into_place_at_deferred, into this ledger).  Returns the first
  // failure; those that failed stay unwritten.
  Result<void> write_unwritten();
  // A ledger holding just the files still unwritten, taken from this one.
  [[nodiscard]] SyncLedger take_unwritten();
  [[nodiscard]] std::size_t unwritten_count() const { return unwritten_.size(); }
  // Moves everything `other` holds into this ledger.
  void merge(SyncLedger&& other);

  // Something to run once this ledger is durable (see above); merge() moves them along.
  void on_synced(std::function<void()> action) { on_synced_.push_back(std::move(action)); }
  // The actions, in the order they were added; the ledger keeps none.
  [[nodiscard]] std::vector<std::function<void()>> take_on_synced() { return std::exchange(on_synced_, {}); }

  [[nodiscard]] bool empty() const {
    return files_.empty() && new_files_.empty() && dirs_.empty() && on_synced_.empty() && unwritten_.empty();
  }
  [[nodiscard]] std::size_t file_count() const { return files_.size() + new_files_.size() + unwritten_.size(); }
  [[nodiscard]] std::size_t dir_count() const { return dirs_.size(); }

  // Starts write-back of every recorded file (sync_file_range), so that a
  // later fdatasync or syncfs finds the data on its way.
  void start_writeback() const;
  // Closes everything without syncing: for a caller that has just synced the
  // whole file system (syncfs) after everything here was written (files still
  // unwritten are dropped).  The on_synced actions stay (so do they after sync()).
  void release() { close_all(); }

  // Writes the unwritten files, makes every recorded file and directory
  // durable, then closes them all and empties the ledger, whether it
  // succeeded or not (a failure names the first path that could not be
  // written or synced; a file that could not be written is dropped).
  Result<void> sync(SyncMode mode);

 private:
  // Paths as strings: compared and copied per delivery, never split into components.
  struct Entry {
    std::string path;
    int fd = -1;
  };
  // A directory an unwritten file goes into, shared by the files recorded one after another for it.
  struct HeldDir {
    HeldDir(std::string dir_path, int dir_fd) : path(std::move(dir_path)), fd(dir_fd) {}
    HeldDir(const HeldDir&) = delete;
    HeldDir& operator=(const HeldDir&) = delete;
    ~HeldDir();
    std::string path;
    int fd;
  };
  struct Unwritten {
    std::shared_ptr<const HeldDir> tmp;
    std::shared_ptr<const HeldDir> into;
    std::string name;
    std::string content;
    std::int64_t mtime_s = 0;
  };
  void close_all();
  [[nodiscard]] bool holds_dir(const std::string& dir) const;
  Result<std::shared_ptr<const HeldDir>> hold(DirAt dir, const std::shared_ptr<const HeldDir>& last);
  Result<void> write(const Unwritten& file);

  std::vector<Entry> files_;      // may be superseded (add_file)
  std::vector<Entry> new_files_;  // never are (add_new_file)
  std::vector<Entry> dirs_;
  std::vector<std::function<void()>> on_synced_;
  std::vector<Unwritten> unwritten_;
};

// write_new_file without the fsync: the open descriptor goes into `ledger`.
Result<void> write_new_file_deferred(const std::string& path, std::string_view content,
                                     std::optional<std::int64_t> mtime_s, SyncLedger& ledger);
// replace_file without its fsyncs: the file and `dir` go into `ledger`.
Result<void> replace_file_deferred(const std::filesystem::path& dir, std::string_view name, std::string_view content,
                                   SyncLedger& ledger);
// append_to_file without the fdatasync: the file goes into `ledger`.
Result<void> append_to_file_deferred(const std::string& path, std::string_view content,
                                     std::uint64_t expected_size, SyncLedger& ledger);
// link_into_place without the fsync: to's directory goes into `ledger`.
Result<void> link_into_place_deferred(const std::string& from, const std::string& to,
                                      SyncLedger& ledger);
// append_to_file_deferred for `name` in the open directory `dir`; `after` gets
// the file's identity once written (the one its size check read, grown by `content`).
Result<void> append_to_file_at_deferred(DirAt dir, std::string_view name, std::string_view content,
                                        std::uint64_t expected_size, SyncLedger& ledger, Identity& after);
// The *_at forms without their fsyncs.
Result<void> write_new_file_at_deferred(DirAt dir, std::string_view name, std::string_view content,
                                        std::optional<std::int64_t> mtime_s, SyncLedger& ledger);
Result<void> link_into_place_at_deferred(DirAt from_dir, const std::string& from, DirAt to_dir,
                                         const std::string& to, SyncLedger& ledger);

}  // namespace maillab::sim::durable
