// DeliveryLog: a write-ahead log for mail the lab server delivers into local
// Maildirs at once (app/spool_sink.hpp).  Such a message has no queue file;
// before, its 250 waited for a syncfs(2) of its new Maildir file, directory
// entries and dovecot-uidlist line.  Now (while few sessions wait for a
// round: app/spool_sink.hpp) its queue entry (the spool's format,
// sim/store/spool.hpp) is appended here and the 250 waits only for an
// fdatasync of this one file, whose blocks were written and synced when the
// log was made (no allocation, no inode, no directory entry to flush: on
// this machine 0.18-0.28 ms against 0.5 ms and more).  The Maildir files are
// synced later, many at once; then the records they stood for are retired
// (checkpoint) and their space is used again.
//
// File layout (STATE/delivery-log, made once with its full size, zero-filled
// and synced, via a temporary name so that it never exists half made):
//   [0, 4096)        two header slots at 0 and 512; each: magic "MLDH",
//                    version, a counter, the epoch, the checkpoint (offset and
//                    sequence number of the first record not yet retired),
//                    CRC-32.  A checkpoint overwrites the slot not holding the
//                    newest header, so a torn write leaves the other valid.
//   [4096, size)     a ring of records: magic "MLDR", epoch, sequence number,
//                    payload length, CRC-32 (of all that and the payload),
//                    payload = format_spool_entry(), or "maillab-void N\n",
//                    which voids record N (its message was refused after all).
// A record goes at the end of the last one, or back at 4096 when it does not
// fit before the end, never over a record not yet retired; when the ring has
// no room, append() says so and the caller makes the message durable the
// old way.  recover() starts at the checkpoint and follows the records whose
// epoch is the header's and whose sequence numbers follow on, at the next
// offset or back at 4096: a torn, stale (older lap or epoch) or missing record
// ends the log.  Records appended but not yet synced may be lost by a power
// cut; none of them was acknowledged.  A voided record's bytes stay in the
// file until the ring writes over them.  restart() begins a new epoch after the
// recovered records were put somewhere durable (the queue), so no record of an
// earlier epoch is ever read again.
//
// Threads: append() and retired() belong to one thread (the io thread),
// sync() and checkpoint() to another (the committer); they share only the
// descriptor.  open(), recover() and restart() run before either starts.
#pragma once

#include <cstdint>
#include <deque>
#include <filesystem>
#include <string>
#include <vector>

#include "net/core/result.hpp"
#include "sim/store/spool.hpp"

namespace maillab::sim {

// Where the next record goes: its offset (if it fits there) and sequence number.
struct DeliveryLogPosition {
  std::uint64_t offset = 0;
  std::uint64_t sequence = 0;
  friend bool operator==(const DeliveryLogPosition&, const DeliveryLogPosition&) = default;
};

class DeliveryLog {
 public:
  static constexpr std::uint64_t kRecordsStart = 4096;
  static constexpr std::uint64_t kCapacityDefault = std::uint64_t{16} << 20;

  // The size for a new log in `dir`: `wanted`, but at most an eighth of the
  // space free there (a lab on a small disk keeps its room for mail) and half
  // the process's file size limit.
  static std::uint64_t capacity_for(const std::filesystem::path& dir, std::uint64_t wanted = kCapacityDefault);

  // Opens the log at `path`, making it with `capacity` octets when it does not
  // exist.  parse when the file is not a delivery log or both header slots are
  // damaged (nothing is changed then: the operator decides).
  static Result<DeliveryLog> open(const std::filesystem::path& path, std::uint64_t capacity = kCapacityDefault);

  DeliveryLog(DeliveryLog&& other) noexcept;
  DeliveryLog& operator=(DeliveryLog&& other) = delete;
  DeliveryLog(const DeliveryLog&) = delete;
  DeliveryLog& operator=(const DeliveryLog&) = delete;
  ~DeliveryLog();

  // The entries of the records not yet retired, oldest first (a record whose
  // payload does not parse is an error: it was written whole, CRC and all).
  Result<std::vector<SpoolEntry>> recover() const;
  // A new epoch, an empty ring, the header synced.
  Result<void> restart();

  // Writes the entry's record (not synced) and returns its sequence number.
  // exists when the ring has no room for it now (retire some first), io on a
  // write error.
  Result<std::uint64_t> append(const SpoolEntry& entry);
  // Writes a record that voids record `sequence` (not synced) and returns its
  // own number: recover() leaves that entry out (a message refused after all,
  // whose record was written first).
  Result<std::uint64_t> void_record(std::uint64_t sequence);
  // Where the next record goes: a checkpoint there retires every record appended so far.
  [[nodiscard]] DeliveryLogPosition end() const { return {tail_, next_sequence_}; }
  // The checkpoint `upto` is durable: the space of the records before it is free.
  void retired(DeliveryLogPosition upto);

  // Makes every appended record durable (fdatasync).
  Result<void> sync() const;
  // Records before `upto` are no longer needed: writes and syncs the header.
  Result<void> checkpoint(DeliveryLogPosition upto);

 private:
  struct Header {
    std::uint64_t counter = 0;
    std::uint32_t epoch = 0;
    DeliveryLogPosition checkpoint{kRecordsStart, 1};
  };
  struct Live {
    std::uint64_t sequence;
    std::uint64_t offset;
  };

  DeliveryLog(std::filesystem::path path, int fd, std::uint64_t capacity, Header header);
  Result<void> write_header(const Header& header);
  Result<std::uint64_t> append_payload(const std::string& payload);

  std::filesystem::path path_;
  int fd_ = -1;
  std::uint64_t capacity_ = 0;
  Header header_;  // the newest written; the committer's after open

  // io thread.
  std::uint32_t epoch_ = 0;
  bool started_ = false;  // restart() has begun this run's epoch
  std::uint64_t tail_ = kRecordsStart;
  std::uint64_t next_sequence_ = 1;
  std::deque<Live> live_;  // appended, not yet retired
};

}  // namespace maillab::sim
