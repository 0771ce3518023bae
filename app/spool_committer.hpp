// SpoolCommitter: group commit of the spool's fsyncs across SMTP sessions.
//
// Theory of operation.  Sessions stage their messages on the io thread
// (sim::Spool::stage: written to tmp/, not yet durable) and hand the handle
// here.  One worker thread takes everything handed over since its last round
// and runs one sim::Spool::commit for it (write-back started for all, the
// renames into queue/, one syncfs), while the io
// thread goes on staging the next messages.  When a round is durable (or has
// failed) its callbacks run on the io thread, posted to the io_context: a
// session's pending 250 (RFC 5321 §6.1) or 452 4.3.1 (RFC 3463 X.3.1; the
// batch's files are gone again, so nothing unacknowledged is queued and the
// client retries).  The more sessions wait, the larger a round, so the cost
// of the fsyncs is shared: Postfix's cleanup pays one fsync per message,
// databases call this group commit.
//
// Deliveries ride on the same rounds.  The Maildir copies of queued messages
// are named and indexed on the io thread and written here, without fsync, at
// the start of the next round (sim/store/maildir_store.hpp, defer_syncs:
// creating a file is most of a delivery's cost, and the io thread should
// answer sessions meanwhile); their SyncLedger is handed here before the
// chores that finish those entries.  A file that cannot be written (a full
// disk) fails the deliveries' part of the round, as a failed sync does, and
// is tried again by the next round; it is dropped only at stop(), when its
// message is still in the queue or the delivery log for the next start.
// A round makes its staged entries and every ledger handed over so far
// durable in one go: by default one syncfs(2) (SyncMode; on this
// machine's ext4 without a journal an fdatasync costs a disk write per file:
// 16 files took 112 ms that way against 21 ms for one syncfs).  Only when
// that succeeded do the chores run: removing finished entries
// (Spool::retire) and rewriting pending recipients.  When it fails the
// chores are dropped: the entries stay queued and the next start delivers
// them again (the router's dedupe keeps each copy once).  So from its 250 on
// a message is always fsync'd in the queue or in the Maildir (RFC 5321
// §6.1), and the io thread never waits for the disk.  Deliveries and chores
// alone wait up to 50 ms for staged entries, so that they share a round
// instead of syncing once per message.  Once a round has made the deliveries
// durable, their ledger's on_synced actions run on the io thread: the
// Maildir store shows the new UIDs to IMAP and POP3 only then
// (sim/store/maildir_store.hpp).  The actions of a round that failed wait for
// the next round that makes something durable (with syncfs that round's sync
// covers their files too).
//
// Mail delivered at once into local Maildirs (app/spool_sink.hpp) has no
// queue entry: its 250 rides on the ledger instead (sync_deliveries with
// acks).  Such acks do not wait for staged entries; they are answered, ok or
// 452, by the round that synced (or failed to sync) the ledger handed with them.
//
// With a delivery log (sim/store/delivery_log.hpp) such mail is appended to
// the log on the io thread instead, and its 250 waits only for the log's
// fdatasync (sync_log), done by a thread of its own so that it never waits
// behind a round's syncfs: while one fdatasync runs, the records appended
// meanwhile wait for the next, which covers them all (group commit again).
// Every such message goes through the log, however many sessions wait: one
// small fdatasync each is cheaper than waiting for a round's syncfs (16 and
// 64 sessions, bench/README.md "SMTP, ninth round").  While other SMTP
// sessions have a transaction open (MAIL given, message not yet handed
// over), a log sync first waits up to kLogGather for their records, or until
// the last of them has come: a lone client's 250 never waits for company,
// and under load one fdatasync covers several messages instead of one or two.
// The ledger of its Maildir files then waits like any other
// delivery (up to chore_linger_ after it was handed over, or until a round
// syncs anyway) and comes with the log position it retires: once a round has
// synced it, the log's checkpoint moves there (header written and synced)
// before its on_synced actions show the UIDs, so a record replayed after a
// crash is never one whose message a reader saw (and perhaps expunged).
//
// While a round is in flight the committer holds work on the io_context, so
// io.run() does not return before every callback has run; stop() drains the
// queue and joins the workers.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>

#include "net/core/result.hpp"
#include "net/io/session.hpp"
#include "sim/store/delivery_log.hpp"
#include "sim/store/spool.hpp"

namespace maillab::app {

class SpoolCommitter {
 public:
  // Runs on the io thread once the entry is durable (ok) or not (error).
  using Committed = std::function<void(const Result<void>& durable)>;

  SpoolCommitter(asio::io_context& io, const sim::Spool& spool, net::io::LogSink log,
                 std::size_t round_entries_max = 512,
                 sim::durable::SyncMode sync_mode = sim::durable::SyncMode::syncfs,
                 sim::DeliveryLog* delivery_log = nullptr);
  ~SpoolCommitter();
  SpoolCommitter(const SpoolCommitter&) = delete;
  SpoolCommitter& operator=(const SpoolCommitter&) = delete;

  // io thread.
  void commit(sim::StagedEntry staged, Committed done);
  // What deliveries left unsynced: durable before any chore handed over after it.
  // `acks` run on the io thread once a round has made the ledger durable (ok),
  // or has failed to (error): the 250s of messages delivered without a queue entry.
  // `retires`: the delivery log's records before it are retired once this ledger is durable.
  void sync_deliveries(sim::durable::SyncLedger ledger, std::vector<Committed> acks = {},
                       std::optional<sim::DeliveryLogPosition> retires = std::nullopt);
  // The delivery log is to be durable through record `sequence`: a round
  // syncs it as soon as it can.  `ack` (the 250 of the message in that
  // record) runs on the io thread once it is, or has failed to be; at once,
  // here, when a round has already synced that far.  `joining`: how many
  // other sessions have a transaction open now (net::io::OpenTransactions);
  // while some do, the sync waits up to kLogGather for their records.
  void sync_log(std::uint64_t sequence, Committed ack = {}, std::size_t joining = 0);
  void remove(std::string id);
  void update(std::string id, std::vector<std::string> recipients, std::uint32_t attempts);
  // Commits what was handed over, then ends the workers (any thread but theirs).
  void stop();

 private:
  struct Chore {
    std::string id;
    std::vector<std::string> recipients;  // empty: remove the entry
    std::uint32_t attempts = 0;
  };
  struct Round {
    std::vector<sim::StagedEntry> staged;
    std::vector<Committed> done;
  };

  void run();
  // The delivery log's thread: one fdatasync for every record asked for so far.
  void run_log();
  void finished(std::vector<Committed> done, Result<void> durable);
  // Under the lock, before chores or deliveries are added: their linger starts now if none were waiting
  // (true: the worker must be woken to keep the time; else it is already waiting for it, or busy).
  bool start_lingering();
  // Logs a failure to write deliveries' files (worker thread).
  void note_unwritten(const Result<void>& written, std::size_t left);
  // Worker thread: the log's checkpoint moved to `upto` and synced; the io thread hears it.
  Result<void> retire_log(sim::DeliveryLogPosition upto);

  asio::io_context& io_;
  const sim::Spool& spool_;
  net::io::LogSink log_;
  const std::size_t round_entries_max_;
  const sim::durable::SyncMode sync_mode_;
  sim::DeliveryLog* const delivery_log_;
  const std::chrono::milliseconds chore_linger_{50};
  // How long a log sync waits for the records of open transactions.  Each
  // fdatasync costs the machine far more than its disk time (its completion
  // interrupt, two thread wake-ups and the answer posted back): at 16 and 64
  // sessions, waiting for company raised the rate, and at one session there
  // is no company and no wait (bench/README.md, "SMTP, twelfth round").
  static constexpr std::chrono::microseconds kLogGather{800};

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable log_wake_;
  Round next_;
  std::vector<Chore> chores_;
  sim::durable::SyncLedger deliveries_;
  std::vector<Committed> acks_;  // wait for deliveries_
  std::vector<std::pair<std::uint64_t, Committed>> log_acks_;  // (record, ack): wait for the log's sync
  std::uint64_t log_wanted_ = 0;  // the delivery log is to be synced through this record
  std::uint64_t log_synced_ = 0;  // and is through this one
  std::size_t log_joining_ = 0;   // the latest word on open transactions (sync_log)
  bool log_gathering_ = false;    // run_log waits for them
  std::optional<sim::DeliveryLogPosition> retires_;  // once deliveries_ are durable
  std::chrono::steady_clock::time_point lingering_since_;  // when chores_ or deliveries_ stopped being empty
  bool stopping_ = false;

  // io thread only.
  std::size_t in_flight_ = 0;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> hold_;

  // worker thread only: on_synced actions of deliveries whose round failed,
  // and the log position their records wait for.
  std::vector<std::function<void()>> stranded_;
  std::optional<sim::DeliveryLogPosition> stranded_retires_;
  std::string unwritten_error_;  // the last failure to write deliveries' files that was logged

  std::thread worker_;
  std::thread log_worker_;
};

}  // namespace maillab::app
