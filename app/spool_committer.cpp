#include "app/spool_committer.hpp"

#include <algorithm>
#include <utility>

#include <asio/post.hpp>

namespace maillab::app {

SpoolCommitter::SpoolCommitter(asio::io_context& io, const sim::Spool& spool, net::io::LogSink log,
                               std::size_t round_entries_max, sim::durable::SyncMode sync_mode,
                               sim::DeliveryLog* delivery_log)
    : io_(io),
      spool_(spool),
      log_(std::move(log)),
      round_entries_max_(std::max<std::size_t>(1, round_entries_max)),
      sync_mode_(sync_mode),
      delivery_log_(delivery_log) {
  worker_ = std::thread([this] { run(); });
  if (delivery_log_ != nullptr) log_worker_ = std::thread([this] { run_log(); });
}

SpoolCommitter::~SpoolCommitter() { stop(); }

void SpoolCommitter::commit(sim::StagedEntry staged, Committed done) {
  if (in_flight_++ == 0) hold_.emplace(io_.get_executor());
  {
    std::lock_guard lock(mutex_);
    next_.staged.push_back(std::move(staged));
    next_.done.push_back(std::move(done));
  }
  wake_.notify_one();
}

void SpoolCommitter::sync_deliveries(sim::durable::SyncLedger ledger, std::vector<Committed> acks,
                                     std::optional<sim::DeliveryLogPosition> retires) {
  if (ledger.empty() && acks.empty() && !retires) return;
  if (!acks.empty() && std::exchange(in_flight_, in_flight_ + acks.size()) == 0) hold_.emplace(io_.get_executor());
  bool wake = !acks.empty();  // a session waits: the round is due now
  {
    std::lock_guard lock(mutex_);
    wake = start_lingering() || wake;
    deliveries_.merge(std::move(ledger));
    for (auto& ack : acks) acks_.push_back(std::move(ack));
    if (retires) retires_ = retires;
  }
  if (wake) wake_.notify_one();
}

void SpoolCommitter::sync_log(std::uint64_t sequence, Committed ack, std::size_t joining) {
  bool wake = false;
  {
    std::lock_guard lock(mutex_);
    if (sequence <= log_synced_) {
      if (!ack) return;
    } else {
      log_joining_ = joining;
      // A sync not asked for yet wakes the thread (an ack alone waits for the one it is covered by);
      // while it gathers, only the news that no transaction is left open does.
      wake = log_gathering_ ? joining == 0 : sequence > log_wanted_;
      log_wanted_ = std::max(log_wanted_, sequence);
      if (ack) {
        if (in_flight_++ == 0) hold_.emplace(io_.get_executor());
        log_acks_.emplace_back(sequence, std::move(ack));
      }
      ack = nullptr;
    }
  }
  if (ack) {
    ack(Result<void>{});  // synced already, by the round this one's record was written before
    return;
  }
  if (wake) log_wake_.notify_one();
}

void SpoolCommitter::remove(std::string id) {
  bool wake = false;
  {
    std::lock_guard lock(mutex_);
    wake = start_lingering();
    chores_.push_back({std::move(id), {}, 0});
  }
  if (wake) wake_.notify_one();
}

void SpoolCommitter::update(std::string id, std::vector<std::string> recipients, std::uint32_t attempts) {
  if (recipients.empty()) return remove(std::move(id));
  bool wake = false;
  {
    std::lock_guard lock(mutex_);
    wake = start_lingering();
    chores_.push_back({std::move(id), std::move(recipients), attempts});
  }
  if (wake) wake_.notify_one();
}

void SpoolCommitter::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  log_wake_.notify_one();
  if (worker_.joinable()) worker_.join();
  if (log_worker_.joinable()) log_worker_.join();
}

void SpoolCommitter::run_log() {
  std::unique_lock lock(mutex_);
  while (true) {
    log_wake_.wait(lock, [this] { return stopping_ || log_wanted_ > log_synced_; });
    if (log_wanted_ <= log_synced_) return;  // stopping, nothing asked for
    if (log_joining_ > 0 && !stopping_) {
      log_gathering_ = true;
      log_wake_.wait_for(lock, kLogGather, [this] { return stopping_ || log_joining_ == 0; });
      log_gathering_ = false;
    }
    const std::uint64_t through = log_wanted_;
    log_joining_ = 0;  // the records after `through` bring their own word
    lock.unlock();
    Result<void> durable = delivery_log_->sync();
    lock.lock();
    // A failed sync answers the acks it was for (452) and is not retried for them.
    if (durable) log_synced_ = through;
    else log_wanted_ = log_synced_;
    std::vector<Committed> logged;
    auto unanswered = std::stable_partition(log_acks_.begin(), log_acks_.end(),
                                            [&](const auto& waiting) { return waiting.first > through; });
    for (auto it = unanswered; it != log_acks_.end(); ++it) logged.push_back(std::move(it->second));
    log_acks_.erase(unanswered, log_acks_.end());
    if (!logged.empty()) {
      asio::post(io_, [this, logged = std::move(logged), durable = std::move(durable)]() mutable {
        finished(std::move(logged), std::move(durable));
      });
    }
  }
}

void SpoolCommitter::run() {
  std::unique_lock lock(mutex_);
  while (true) {
    wake_.wait(lock, [this] {
      return stopping_ || !next_.staged.empty() || !chores_.empty() || !deliveries_.empty() || !acks_.empty() ||
             retires_;
    });
    // Chores and deliveries alone wait a little for staged entries to share
    // their round: a sync per delivered message would take the disk from the
    // sessions' 250s.
    // Acks are sessions waiting for their 250: they do not wait.
    const auto syncing_now = [this] { return stopping_ || !next_.staged.empty() || !acks_.empty(); };
    if (!syncing_now()) wake_.wait_until(lock, lingering_since_ + chore_linger_, syncing_now);
    if (next_.staged.empty() && chores_.empty() && deliveries_.empty() && acks_.empty() && !retires_)
      return;  // stopping
    Round round;
    if (next_.staged.size() <= round_entries_max_) {
      round = std::exchange(next_, Round{});
    } else {
      const auto split = static_cast<std::ptrdiff_t>(round_entries_max_);
      round.staged.assign(std::make_move_iterator(next_.staged.begin()),
                          std::make_move_iterator(next_.staged.begin() + split));
      round.done.assign(std::make_move_iterator(next_.done.begin()), std::make_move_iterator(next_.done.begin() + split));
      next_.staged.erase(next_.staged.begin(), next_.staged.begin() + split);
      next_.done.erase(next_.done.begin(), next_.done.begin() + split);
    }
    std::vector<Chore> chores = std::exchange(chores_, {});
    sim::durable::SyncLedger deliveries = std::exchange(deliveries_, {});
    std::vector<Committed> acks = std::exchange(acks_, {});
    std::optional<sim::DeliveryLogPosition> retires = std::exchange(retires_, std::nullopt);
    // What to run on the io thread once the deliveries are durable (the store shows their UIDs).
    std::vector<std::function<void()>> published = deliveries.take_on_synced();
    const bool syncs_something = !round.staged.empty() || deliveries.file_count() + deliveries.dir_count() > 0;
    lock.unlock();

    // The deliveries' message files first: those that cannot be written now are tried again by the next round.
    const Result<void> written = deliveries.write_unwritten();
    sim::durable::SyncLedger unwritten = deliveries.take_unwritten();
    note_unwritten(written, unwritten.unwritten_count());

    // One round makes the staged entries and the deliveries handed over so far
    // durable together; the chores (which may remove those deliveries' entries) follow.
    std::vector<std::string> removed;
    std::vector<Chore> updates;
    for (auto& chore : chores) {
      if (chore.recipients.empty()) removed.push_back(std::move(chore.id));
      else updates.push_back(std::move(chore));
    }
    Result<void> synced;
    if (!round.staged.empty()) {
      synced = spool_.commit(round.staged, deliveries, sync_mode_);
      asio::post(io_, [this, done = std::move(round.done), durable = synced]() mutable {
        finished(std::move(done), std::move(durable));
      });
    }
    // The deliveries first (after a commit their ledger is empty), then the
    // rewrites of pending recipients, then the unlinks: a DSN or forwarded
    // copy queued as an entry of its own (app/lab_world_router.hpp) leaves the
    // queue only after the entry it came from has recorded it, even when both
    // chores share this round.
    if (synced) {
      synced = deliveries.sync(sync_mode_);
      if (synced && !written) synced = written;  // not all of them are there to show
      if (synced && syncs_something) {
        // Actions of a round that failed wait for one that made something durable.
        for (auto& action : std::exchange(stranded_, {})) published.push_back(std::move(action));
        if (!retires) retires = std::exchange(stranded_retires_, std::nullopt);
        // Before the actions that show the UIDs: no record is replayed whose message a reader saw.
        if (retires) {
          synced = retire_log(*retires);
          if (synced) retires.reset();
        }
      }
      if (synced && !published.empty()) {
        asio::post(io_, [actions = std::move(published)] {
          for (const auto& action : actions) action();
        });
      }
    }
    // Not retired in this round: a later one that makes something durable does it
    // (positions only grow, so the newest covers those before it).
    if (retires) stranded_retires_ = retires;
    // After the actions that show the new UIDs: a client that has its 250 finds the message.
    if (!acks.empty()) {
      asio::post(io_, [this, acks = std::move(acks), durable = synced]() mutable {
        finished(std::move(acks), std::move(durable));
      });
    }
    if (synced) synced = spool_.retire(deliveries, sync_mode_, removed);
    if (!synced) {
      for (auto& action : published) stranded_.push_back(std::move(action));
      if (log_ && !chores.empty()) {
        log_("queue: " + synced.error().message + " (" + std::to_string(removed.size() + updates.size()) +
             " delivered entr(ies) stay queued; delivered again at the next start)");
      }
      updates.clear();
      removed.clear();
    }
    for (const auto& chore : updates) {
      if (auto updated = spool_.update(chore.id, chore.recipients, chore.attempts); !updated && log_)
        log_("queue: cannot update " + chore.id + ": " + updated.error().message);
    }
    sim::durable::SyncLedger synced_above;
    if (auto gone = spool_.retire(synced_above, sync_mode_, removed); !gone && log_)
      log_("queue: " + gone.error().message + " (a delivered entry stays queued; resumed at the next start)");
    lock.lock();
    if (!unwritten.empty()) {
      if (stopping_) {
        if (log_) {
          log_("maildir: " + std::to_string(unwritten.unwritten_count()) +
               " message file(s) never written; their messages stay queued or logged for the next start");
        }
      } else {
        start_lingering();  // (tried again after chore_linger_, or sooner with a round that is due)
        deliveries_.merge(std::move(unwritten));
      }
    }
  }
}

void SpoolCommitter::note_unwritten(const Result<void>& written, std::size_t left) {
  if (written) {
    unwritten_error_.clear();
    return;
  }
  // Once per kind of failure, not once per round: a full disk would fill the log every 50 ms.
  if (written.error().message == unwritten_error_) return;
  unwritten_error_ = written.error().message;
  if (log_) {
    log_("maildir: " + unwritten_error_ + " (" + std::to_string(left) +
         " message file(s) not written yet; tried again at every round)");
  }
}

bool SpoolCommitter::start_lingering() {
  if (!chores_.empty() || !deliveries_.empty() || retires_) return false;
  lingering_since_ = std::chrono::steady_clock::now();
  return true;
}

Result<void> SpoolCommitter::retire_log(sim::DeliveryLogPosition upto) {
  if (auto written = delivery_log_->checkpoint(upto); !written) {
    if (log_) log_("delivery log: " + written.error().message + " (its records stay; replayed at the next start)");
    return written;
  }
  asio::post(io_, [delivery_log = delivery_log_, upto] { delivery_log->retired(upto); });
  return {};
}

void SpoolCommitter::finished(std::vector<Committed> done, Result<void> durable) {
  if (!durable && log_) log_("queue: " + durable.error().message + " (" + std::to_string(done.size()) + " refused)");
  for (auto& callback : done) callback(durable);
  in_flight_ -= done.size();
  if (in_flight_ == 0) hold_.reset();
}

}  // namespace maillab::app
