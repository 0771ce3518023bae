// SpoolSink: the lab server's MessageSink over the on-disk queue.
//
// Theory of operation.  An SMTP transaction that reaches end of DATA is
//   1. offered to the router's admit() (a refusal such as a mail loop is
//      answered at once and nothing is queued);
//   2. staged as a queue entry (sim/store/spool.hpp): envelope, the client's
//      HELO name, address and port, TLS and login as attributes, the data untouched;
//      a write error is 452 4.3.1 (RFC 3463 X.3.1) at once;
//   3. handed to the SpoolCommitter, whose next group commit makes it durable;
//      then the session gets its 250 with the queue id (RFC 5321 §4.2.2,
//      §6.1), or 452 4.3.1 when the commit failed (the entry is gone);
//   4. routed, one entry per turn of the event loop in the order of the
//      replies (from memory; a backlog of more than kToRouteBytesMax octets
//      of data is read back from the queue instead, and a backlog never
//      holds back the sessions' replies): the router
//      delivers or injects it and reports every recipient that is final,
//      delivered or failed for good, through recipient_final().  When no
//      recipient of an entry is left, the entry is removed from the queue; a
//      partial outcome rewrites the entry's pending recipients, so a restart
//      never repeats a delivery that was reported final.
// Deliveries without fsync (set_deferred_store): while route() runs, the
// Maildir store records what it leaves unsynced (most message files it leaves
// unwritten too) in the sink's ledger instead of fsyncing
// (sim/store/maildir_store.hpp); flush() hands that ledger to the
// committer before the chores that finish entries, so an entry leaves the
// queue only once its Maildir copies are durable (app/spool_committer.hpp).
// Deliveries made outside route() (the world's later hops) are deferred the
// same way through with_deferred_syncs(), which posts a flush when they left
// anything unsynced.
// Local mail without a queue entry: when the router says an entry goes
// into local mailboxes at once for every recipient (delivers_at_once: no
// relay, no forward), store() routes it at once with deferred syncs instead
// of steps 2-4, and its 250 waits for the committer's round that makes the
// ledger holding its Maildir files durable (sync_deliveries with an ack); a
// failed sync answers 452 4.3.1.  Before its 250 such a message exists only
// in the Maildir, hidden from readers until that round (the client still
// holds it, RFC 5321 §6.1); after it, it is durable there.  If routing left
// a recipient not final after all (a full mailbox, a store error that may
// pass), the entry is queued for just those recipients, committed after the
// ledger is handed over, and the 250 waits for that commit.
// With a delivery log (set_delivery_log, sim/store/delivery_log.hpp) such a
// message's entry is appended to the log before it is routed (the log's sync
// starts at once and runs while it is delivered) and its 250 waits only for
// that sync; the ledger of its Maildir files goes to the committer with the
// log position it retires, and its UIDs are shown once that ledger is
// durable, as above.  When the log has no room the 250 waits for the ledger.
// If routing leaves a recipient for the queue, the record stays (a replay
// finds the copies and the queue entry by its id); if the queue then refuses
// too, the 452 waits for a record that voids it.
// recover() first puts the log's records not yet retired into the queue (a
// crash may have come before their Maildir copies were durable), where they
// are resumed like any entry: the router's dedupe finds the copies that did
// reach the disk.
// Mail the router makes (a DSN, a forwarded copy: app/lab_world_router.hpp)
// is queued through queue_made() exactly as a client's message, and routed
// once durable, after the router heard that it is.  It is staged only once
// the deliveries made before it are durable (an on_synced action of the
// sink's ledger): the copy a forwarding user keeps is stored before her
// forward is handed over, so her forward's entry, which makes her recipient
// final on a restart, never exists while her own copy could still be lost.
// On start, recover() loads the queue (tmp/ leftovers discarded, damaged
// files moved aside and logged by name) and routes every entry again:
// acknowledged mail is resumed, never lost.  A recipient the router leaves
// pending stays queued until it is reported final (or the next start).
//
// Everything here runs on the io thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>

#include "app/spool_committer.hpp"
#include "net/io/session.hpp"
#include "sim/store/delivery_log.hpp"
#include "sim/store/maildir_store.hpp"
#include "sim/store/spool.hpp"

namespace maillab::app {

// What becomes of a durable queue entry: delivered into the Maildirs, or
// injected into the scenario's world.
class QueueRouter {
 public:
  virtual ~QueueRouter() = default;
  // A refusal before anything is queued (554 5.4.6 for a loop ...), or nullopt.
  virtual std::optional<net::smtp::StoreOutcome> admit(const net::smtp::MessageEvent& message, bool submission) = 0;
  // Called once per entry per start, after it is durable.  `resumed`: the
  // entry was found in the queue at start, so a crash may have come between
  // a delivery and its report: the router must not deliver twice.
  virtual void route(const sim::SpoolEntry& entry, Instant now, bool resumed) = 0;
  // Would route() store the entry into local mailboxes at once, for every
  // recipient, with nothing left for later (no relay, no forward)?  Such an
  // entry may be routed before it is durable, without a queue entry.
  [[nodiscard]] virtual bool delivers_at_once(const sim::SpoolEntry& /*entry*/) const { return false; }
  // Every entry recover() found, before the first of them is routed.
  virtual void recovered(const std::vector<sim::SpoolEntry>& entries) { (void)entries; }
};

class SpoolSink final : public net::io::MessageSink {
 public:
  // Attribute names in queue entries.
  static constexpr const char* kHelo = "helo";
  static constexpr const char* kClientAddress = "client-address";
  static constexpr const char* kClientPort = "client-port";
  static constexpr const char* kTls = "tls";              // "1" when the session was encrypted
  static constexpr const char* kAuthUser = "auth-user";  // the login, absent when none
  static constexpr const char* kSubmission = "submission";  // "1" for the submission ports

  SpoolSink(asio::io_context& io, sim::Spool& spool, SpoolCommitter& committer, QueueRouter& router,
            net::io::LogSink log);

  // The write-ahead log of mail delivered at once (nullptr: off); set before recover().
  void set_delivery_log(sim::DeliveryLog* delivery_log) { delivery_log_ = delivery_log; }

  // Loads the queue (after the delivery log's records not yet retired are put
  // into it, and the log restarted) and routes every entry in it; the counts go to the log.
  Result<sim::SpoolRecovery> recover(Instant now);

  void store(const net::smtp::MessageEvent& message, const net::io::PeerInfo& peer, bool submission, Instant now,
             net::io::StoreDone done) override;

  // The router's report: `recipient` of entry `id` is delivered or failed for good.
  void recipient_final(const std::string& id, const std::string& recipient);

  // A message the router made (a DSN, a forwarded copy) becomes an entry of its
  // own: `entry` gets a queue id and goes through the committer like a
  // client's; `committed` hears whether it is durable, before it is routed.
  // With a deferred store it is staged only after the deliveries made before
  // it are durable (the round that syncs the sink's current ledger).
  void queue_made(sim::SpoolEntry entry, Instant now, std::function<void(bool durable)> committed);

  // The SMTP sessions' count of open transactions: the delivery log's sync waits for theirs (SpoolCommitter::sync_log).
  void set_open_transactions(std::shared_ptr<const net::io::OpenTransactions> open) {
    open_transactions_ = std::move(open);
  }

  // Runs after every route(): the server looks for store changes to push (IMAP IDLE).
  void set_after_route(std::function<void()> hook) { after_route_ = std::move(hook); }

  // Maildir deliveries made while routing go without fsync into a ledger that
  // the committer syncs before the entries are removed (nullptr: off).
  void set_deferred_store(sim::MaildirStore* store) { deferred_store_ = store; }
  // Runs `work` with the deferred store's syncs going into this sink's ledger.
  // `seal_may_wait`: the work is the routing of a message whose 250 rides on the delivery log (see kSealWait).
  void with_deferred_syncs(const std::function<void()>& work, bool seal_may_wait = false);

  // Entries queued and not yet finished.
  [[nodiscard]] std::size_t queued() const { return pending_.size(); }

 private:
  struct Pending {
    std::multiset<std::string> recipients;
    std::uint32_t attempts = 0;
  };
  struct ToRoute {
    std::string id;
    std::optional<sim::SpoolEntry> entry;  // none: load it from the queue
  };
  static constexpr std::size_t kToRouteBytesMax = 16 * 1024 * 1024;

  void track_and_route(sim::SpoolEntry entry, Instant now, bool resumed);
  // The local path above; false when the entry must go through the queue.
  bool deliver_at_once(sim::SpoolEntry& entry, Instant now, net::io::StoreDone& done);
  // 452 4.3.1 for a message whose delivery log record (if any) is voided first.
  void refuse_logged(std::optional<std::uint64_t> record, net::io::StoreDone done);
  // Puts the delivery log's records not yet retired into the queue and restarts the log.
  Result<void> requeue_logged();
  // Stages a made entry (queue_made) and hands it to the committer.
  void stage_made(sim::SpoolEntry entry, std::function<void(bool durable)> committed);
  // Routes a durable entry in a later turn of the event loop, after those before it.
  void schedule_route(sim::SpoolEntry entry);
  void route_next();
  void flush();
  [[nodiscard]] std::size_t open_transactions() const { return open_transactions_ ? open_transactions_->count : 0; }
  // flush() in a later turn of the event loop, or after kSealWait while seal_may_wait_.
  void flush_soon();

  asio::io_context& io_;
  sim::Spool& spool_;
  SpoolCommitter& committer_;
  QueueRouter& router_;
  net::io::LogSink log_;
  std::map<std::string, Pending> pending_;  // by queue id
  std::set<std::string> changed_;           // finals not yet written to the queue
  bool flush_posted_ = false;
  // While a message whose 250 waits only for the delivery log is routed, its
  // seal (the uid list's append, the ledger's handover) may wait kSealWait for
  // the deliveries that follow, and goes with theirs: at 16 sessions a flush
  // per message found one delivery to seal.  No 250 and no reader waits for
  // it (readers see the UIDs once the committer's round, which lingers up to
  // 50 ms for company, has synced them).
  static constexpr std::chrono::milliseconds kSealWait{2};
  bool seal_may_wait_ = false;
  bool seal_waiting_ = false;
  asio::steady_timer seal_timer_;
  std::function<void()> after_route_;
  std::shared_ptr<const net::io::OpenTransactions> open_transactions_;
  std::deque<ToRoute> to_route_;  // durable, acknowledged, not yet routed
  std::size_t to_route_bytes_ = 0;  // message data held in to_route_
  bool route_posted_ = false;
  sim::MaildirStore* deferred_store_ = nullptr;
  sim::durable::SyncLedger unsynced_;  // deliveries not yet handed to the committer
  std::vector<SpoolCommitter::Committed> acks_;  // wait for unsynced_ to be durable
  sim::DeliveryLog* delivery_log_ = nullptr;
  bool logged_ = false;  // records appended since the last ledger was handed over
};

}  // namespace maillab::app
