// Spool: the lab server's on-disk mail queue (Postfix's incoming/active
// queue, one file per message).  A message the SMTP server acknowledges with
// 250 is in here, fsync'd (RFC 5321 §6.1), until every recipient is final.
//
// Layout of the spool's directory (`maillab serve`: STATE/queue/):
//   <id>       one file per message, named by its queue id
//   .tmp/      entries being written (and replacements being prepared)
//   .damaged/  files that recover() could not read, moved aside, never deleted
//
// Entry file: a header of "key value" lines (LF line ends), a blank line,
// then exactly `size` octets of message data:
//   maillab-spool 1
//   id 1A2B3C4D5E.7                (also the file name: [0-9A-Za-z._-], 1..64)
//   arrival-us 1764198071000000    (Instant of acceptance, as the caller gave it)
//   attempts 0                     (delivery attempts so far)
//   sender alice@lab.test          (the reverse path; empty value for <>)
//   message-id <x@lab.test>        (the Message-ID field, empty when absent)
//   attr helo pc1.lab.test         (any number of named attributes about the
//   attr client-address 127.0.0.1   client, as Postfix's queue file keeps them;
//                                   names [a-z0-9-], 1..32)
//   recipient carol@school.test    (one line per recipient still pending, >= 1)
//   size 1234
//   <blank line><data>
// Values are percent-encoded where needed ('%', controls including CR and
// LF, and DEL as %XX), so any octets survive a round trip.
//
// Writing is two steps so that the expensive part can be grouped across
// messages (group commit): stage() writes .tmp/<id> and keeps it open;
// commit(handles) starts write-back of every staged file, fdatasyncs each,
// renames each into the spool directory (never over an existing entry) and
// fsyncs that directory once for the whole batch.  Only then is any of them durable; if the batch
// fails, every file of it is removed again and the caller answers 452 4.3.1.
// commit() reads no member state but the paths, so one thread may stage
// while another commits (each handle belongs to one caller at a time).
// update() replaces an entry atomically (.tmp/, fdatasync, rename, fsync).
// remove() unlinks entries and fsyncs the directory once; retire() does so
// only after a SyncLedger of the entries' deliveries is durable (maillab
// serve delivers into the Maildirs without fsync and lets the queue entry
// stand for the message until then: see durable_file.hpp).
//
// recover() is run once at start: it empties .tmp/ (an entry there was never
// acknowledged), loads every entry and moves every file it cannot read
// (truncated, not ours, a symbolic link) to .damaged/, reporting each by
// name.  Nothing here reads a clock, spawns a thread or follows a symlink.
#pragma once

#include <optional>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "net/core/result.hpp"
#include "net/core/time.hpp"
#include "sim/store/durable_file.hpp"

namespace maillab::sim {

struct SpoolEntry {
  std::string id;
  std::string sender;                   // empty: the null reverse path <>
  std::vector<std::string> recipients;  // still pending
  Instant arrival{};
  std::uint32_t attempts = 0;
  std::string message_id;
  std::vector<std::pair<std::string, std::string>> attributes;  // (name, value), in order
  std::string data;

  // The value of the first attribute with that name ("" if none).
  [[nodiscard]] std::string attribute(std::string_view name) const;

  friend bool operator==(const SpoolEntry&, const SpoolEntry&) = default;
};

// The entry file's bytes, and back (parse errors name what is wrong).
std::string format_spool_entry(const SpoolEntry& entry);
Result<SpoolEntry> parse_spool_entry(std::string_view bytes);

// The Message-ID field of a message's header section, as written ("" if none).
std::string find_message_id(std::string_view data);

// A written, not yet durable entry: .tmp/<id>, still open.
class StagedEntry {
 public:
  StagedEntry() = default;
  StagedEntry(std::string id, int fd) : id_(std::move(id)), fd_(fd) {}
  StagedEntry(StagedEntry&& other) noexcept : id_(std::move(other.id_)), fd_(std::exchange(other.fd_, -1)) {}
  StagedEntry& operator=(StagedEntry&& other) noexcept;
  StagedEntry(const StagedEntry&) = delete;
  StagedEntry& operator=(const StagedEntry&) = delete;
  ~StagedEntry();

  [[nodiscard]] const std::string& id() const { return id_; }
  [[nodiscard]] int fd() const { return fd_; }
  void close_fd();
  // The descriptor, which the caller now owns.
  int release_fd();

 private:
  std::string id_;
  int fd_ = -1;
};

struct DamagedFile {
  std::string name;    // the file name in the spool directory
  std::string reason;  // why it could not be read
  std::filesystem::path moved_to;
};

struct SpoolRecovery {
  std::vector<SpoolEntry> entries;  // by arrival, then id
  std::vector<DamagedFile> damaged;
  std::size_t tmp_discarded = 0;
};

class Spool {
 public:
  // Opens (creating when missing) the spool at `dir`.
  static Result<Spool> open(std::filesystem::path dir);

  [[nodiscard]] const std::filesystem::path& dir() const { return dir_; }
  [[nodiscard]] std::filesystem::path tmp_dir() const { return dir_ / ".tmp"; }
  [[nodiscard]] std::filesystem::path damaged_dir() const { return dir_ / ".damaged"; }

  // A queue id not used by any file in the spool or .tmp/: the arrival time in
  // hex, a dot, a sequence number.  After recover() it trusts what it has seen
  // (recover() lists the queue; nothing but this Spool writes it then) and
  // looks at the disk only for a stamp not past every id noted.
  std::string make_id(Instant now);

  // Writes .tmp/<entry.id>; invalid_argument for a bad id or no recipients,
  // exists when the id is taken, io on a write error (nothing is left behind).
  Result<StagedEntry> stage(const SpoolEntry& entry) const;
  // Makes every staged entry durable in the spool, or none of them.  The handles
  // are closed either way.
  Result<void> commit(std::span<StagedEntry> staged) const;
  // The same, and `deliveries` durable in the same round (emptied either way;
  // on failure nothing of the batch is queued and the deliveries may not be
  // durable).  per_file: write-back started for all, an fdatasync per entry,
  // the renames, one fsync of the spool directory, then the deliveries' own
  // syncs (their data is mostly on disk by then).  syncfs: write-back started
  // for all, the renames, then one syncfs(2) for everything: one journal
  // commit per round, but a power loss in that window can leave an entry of
  // the batch torn in the spool (never acknowledged: recover() moves it to
  // .damaged/ as truncated).
  Result<void> commit(std::span<StagedEntry> staged, durable::SyncLedger& deliveries, durable::SyncMode mode) const;
  // Drops a staged entry that will not be committed.
  void discard(StagedEntry staged) const;

  // Replaces the pending recipients and attempts of an entry atomically.
  Result<void> update(std::string_view id, const std::vector<std::string>& recipients, std::uint32_t attempts) const;
  // Removes entries (a missing one is not an error) with one directory fsync.
  Result<void> remove(std::span<const std::string> ids) const;
  // Removes finished entries once what their delivery left unsynced is
  // durable: `deliveries` is synced first, and when that fails nothing is
  // removed (the entries are delivered again at the next start; the caller
  // must not rewrite them either).  The unlinks are not fsync'd: an entry a
  // crash brings back is resumed, and the router's dedupe keeps it once.
  Result<void> retire(durable::SyncLedger& deliveries, durable::SyncMode mode, std::span<const std::string> ids) const;
  // One entry.
  Result<SpoolEntry> load(std::string_view id) const;

  Result<SpoolRecovery> recover() const;

 private:
  explicit Spool(std::filesystem::path dir) : dir_(std::move(dir)) {}
  // Unlinks every entry of `ids` (gone already is fine); the first error, if any.
  std::optional<Error> unlink_entries(std::span<const std::string> ids) const;

  // An id that is or will be on disk: make_id() looks at the disk for stamps up to its own.
  void note(std::string_view id) const;

  std::filesystem::path dir_;
  std::uint64_t sequence_ = 0;
  mutable bool listed_ = false;            // recover() has listed the queue (and emptied .tmp/)
  mutable std::uint64_t newest_noted_ = 0;  // the greatest stamp of an id noted
};

}  // namespace maillab::sim
