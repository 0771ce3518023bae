#include "app/spool_sink.hpp"

#include <utility>
#include <vector>

#include <asio/post.hpp>

#include "net/io/wall_clock.hpp"

namespace maillab::app {

SpoolSink::SpoolSink(asio::io_context& io, sim::Spool& spool, SpoolCommitter& committer, QueueRouter& router,
                     net::io::LogSink log)
    : io_(io), spool_(spool), committer_(committer), router_(router), log_(std::move(log)), seal_timer_(io) {}

Result<void> SpoolSink::requeue_logged() {
  auto logged = delivery_log_->recover();
  if (!logged) return logged.error();
  if (!logged->empty()) {
    std::vector<sim::StagedEntry> staged;
    for (const auto& entry : logged.value()) {
      auto one = spool_.stage(entry);
      if (one) staged.push_back(std::move(one).value());
      else if (one.error().category != ErrorCategory::exists) return one.error();  // exists: requeued before
    }
    if (auto committed = spool_.commit(staged); !committed) return committed.error();
    if (log_) {
      log_("delivery log: " + std::to_string(logged->size()) +
           " acknowledged message(s) not yet known to be durable in the Maildirs go back through the queue");
    }
  }
  // Only once they are in the queue: a new epoch, whose records never include these.
  return delivery_log_->restart();
}

Result<sim::SpoolRecovery> SpoolSink::recover(Instant now) {
  if (delivery_log_ != nullptr) {
    if (auto requeued = requeue_logged(); !requeued) return requeued.error();
  }
  auto recovered = spool_.recover();
  if (!recovered) return recovered;
  if (log_) {
    for (const auto& damaged : recovered->damaged)
      log_("queue: " + damaged.name + " is damaged (" + damaged.reason + "), moved to " + damaged.moved_to.string());
    if (recovered->tmp_discarded > 0)
      log_("queue: discarded " + std::to_string(recovered->tmp_discarded) + " incomplete file(s) in tmp/");
    if (!recovered->entries.empty())
      log_("queue: resuming " + std::to_string(recovered->entries.size()) + " queued message(s)");
  }
  // A resumed entry's Maildir copies found on disk may be a killed process's
  // unsynced writes, still only in the page cache: make them durable before
  // the dedupe relies on them and the entry leaves the queue.
  if (!recovered->entries.empty() && deferred_store_ != nullptr) {
    sim::durable::SyncLedger ledger;
    auto root = ledger.add_dir(deferred_store_->root());
    auto synced = root ? ledger.sync(sim::durable::SyncMode::syncfs) : root;
    if (!synced) return synced.error();
  }
  router_.recovered(recovered->entries);
  for (const auto& entry : recovered->entries) track_and_route(entry, now, true);
  return recovered;
}

void SpoolSink::store(const net::smtp::MessageEvent& message, const net::io::PeerInfo& peer, bool submission,
                      Instant now, net::io::StoreDone done) {
  using net::smtp::StoreResult;
  if (auto refusal = router_.admit(message, submission)) {
    done(*refusal);
    return;
  }
  sim::SpoolEntry entry;
  entry.id = spool_.make_id(now);
  entry.sender = message.reverse_path.to_string();
  for (const auto& path : message.forward_paths) entry.recipients.push_back(path.to_string());
  entry.arrival = now;
  entry.message_id = sim::find_message_id(message.data);
  entry.attributes.emplace_back(kHelo, message.helo_name);
  entry.attributes.emplace_back(kClientAddress, peer.address);
  if (peer.port != 0) entry.attributes.emplace_back(kClientPort, std::to_string(peer.port));
  if (message.tls) entry.attributes.emplace_back(kTls, "1");
  if (!message.authenticated_user.empty()) entry.attributes.emplace_back(kAuthUser, message.authenticated_user);
  if (submission) entry.attributes.emplace_back(kSubmission, "1");
  entry.data = message.data;
  if (deliver_at_once(entry, now, done)) return;

  auto staged = spool_.stage(entry);
  if (!staged) {
    if (log_) log_("queue: " + staged.error().message);
    done({StoreResult::insufficient_storage, "", ""});  // 452 4.3.1: nothing queued
    return;
  }
  committer_.commit(std::move(staged).value(), [this, entry = std::move(entry), done = std::move(done)](
                                                   const Result<void>& durable) mutable {
    if (!durable) {
      done({StoreResult::insufficient_storage, "", ""});
      return;
    }
    done({StoreResult::accepted, entry.id, ""});
    schedule_route(std::move(entry));
  });
}

bool SpoolSink::deliver_at_once(sim::SpoolEntry& entry, Instant now, net::io::StoreDone& done) {
  using net::smtp::StoreResult;
  if (deferred_store_ == nullptr || !router_.delivers_at_once(entry)) return false;
  // Into the delivery log before routing, its sync requested at once, so that
  // the disk works while the message is delivered.  Should routing leave a
  // recipient for the queue after all, the record stays: a replay after a
  // crash finds the copies and the queue entry by its id and delivers nothing twice.
  std::optional<std::uint64_t> logged;
  if (delivery_log_ != nullptr) {
    auto appended = delivery_log_->append(entry);
    if (appended) {
      logged = *appended;
      logged_ = true;
      committer_.sync_log(*logged, {}, open_transactions());
    } else if (appended.error().category != ErrorCategory::exists && log_) {
      log_("delivery log: " + appended.error().message);
    }
  }
  Pending& pending = pending_[entry.id];
  pending.recipients = {entry.recipients.begin(), entry.recipients.end()};
  pending.attempts = 1;
  // When its 250 rides on the log, sealing may wait for the deliveries that follow (see kSealWait).
  with_deferred_syncs([&] { router_.route(entry, now, false); }, logged.has_value());
  if (after_route_) after_route_();
  changed_.erase(entry.id);  // no queue entry to rewrite or remove
  std::vector<std::string> left(pending.recipients.begin(), pending.recipients.end());
  if (left.empty()) {
    pending_.erase(entry.id);
    SpoolCommitter::Committed ack = [id = entry.id, done = std::move(done)](const Result<void>& durable) {
      if (durable) done({StoreResult::accepted, id, ""});
      else done({StoreResult::insufficient_storage, "", ""});  // 452 4.3.1
    };
    // On the log's sync when it is in the log, else on the ledger's.
    if (logged) {
      committer_.sync_log(*logged, std::move(ack), open_transactions());
    } else {
      acks_.push_back(std::move(ack));
      flush_soon();
    }
    return true;
  }
  // Not all final after all: the queue keeps those recipients (as if queued
  // first and routed after), and the deliveries made go to the committer
  // first, so that the 250 follows both.
  entry.recipients = std::move(left);
  flush();
  auto staged = spool_.stage(entry);
  if (!staged) {
    if (log_) log_("queue: " + staged.error().message);
    pending_.erase(entry.id);
    refuse_logged(logged, std::move(done));
    return true;
  }
  committer_.commit(std::move(staged).value(), [this, id = entry.id, logged, done = std::move(done)](
                                                   const Result<void>& durable) mutable {
    if (!durable) {
      pending_.erase(id);
      refuse_logged(logged, std::move(done));
      return;
    }
    done({StoreResult::accepted, id, ""});
  });
  return true;
}

void SpoolSink::refuse_logged(std::optional<std::uint64_t> record, net::io::StoreDone done) {
  using net::smtp::StoreResult;
  SpoolCommitter::Committed refuse = [done = std::move(done)](const Result<void>& /*voided*/) {
    done({StoreResult::insufficient_storage, "", ""});  // 452 4.3.1
  };
  if (!record) return refuse({});
  // The 452 waits until the log says the record is void: a restart must not deliver what was refused.
  auto voided = delivery_log_->void_record(*record);
  if (!voided) {
    if (log_) log_("delivery log: " + voided.error().message + " (a restart may deliver a message refused with 452)");
    return refuse({});
  }
  committer_.sync_log(*voided, std::move(refuse));
}

void SpoolSink::schedule_route(sim::SpoolEntry entry) {
  // Routed from memory while the backlog is small; beyond that read back from the queue.
  ToRoute next{entry.id, std::nullopt};
  if (to_route_bytes_ + entry.data.size() <= kToRouteBytesMax) {
    to_route_bytes_ += entry.data.size();
    next.entry = std::move(entry);
  }
  to_route_.push_back(std::move(next));
  if (!route_posted_) {
    route_posted_ = true;
    asio::post(io_, [this] { route_next(); });
  }
}

void SpoolSink::queue_made(sim::SpoolEntry entry, Instant now, std::function<void(bool durable)> committed) {
  entry.arrival = now;
  if (deferred_store_ == nullptr) return stage_made(std::move(entry), std::move(committed));
  // Staged only once every delivery made before it is durable: a forwarded
  // copy's entry never exists without the copy its user keeps (stored just
  // before the handoff, app/lab_world_router.hpp), not even after kill -9 or
  // a power cut.  This ledger goes to the committer after every ledger
  // handed over before it, and its actions run only once a round has synced it.
  unsynced_.on_synced([this, entry = std::move(entry), committed = std::move(committed)]() mutable {
    stage_made(std::move(entry), std::move(committed));
  });
  flush_soon();
}

void SpoolSink::stage_made(sim::SpoolEntry entry, std::function<void(bool durable)> committed) {
  entry.id = spool_.make_id(entry.arrival);
  auto staged = spool_.stage(entry);
  if (!staged) {
    if (log_) log_("queue: " + staged.error().message);
    committed(false);
    return;
  }
  committer_.commit(std::move(staged).value(), [this, entry = std::move(entry), committed = std::move(committed)](
                                                   const Result<void>& durable) mutable {
    committed(static_cast<bool>(durable));
    if (durable) schedule_route(std::move(entry));
  });
}

void SpoolSink::route_next() {
  route_posted_ = false;
  if (to_route_.empty()) return;
  ToRoute next = std::move(to_route_.front());
  to_route_.pop_front();
  // One entry per turn of the event loop: the sessions' replies and reads go
  // in between, so a delivery backlog never holds back a 250.
  if (!to_route_.empty()) {
    route_posted_ = true;
    asio::post(io_, [this] { route_next(); });
  }
  if (next.entry) {
    to_route_bytes_ -= next.entry->data.size();
    track_and_route(std::move(*next.entry), net::io::wall_now(), false);
    return;
  }
  auto entry = spool_.load(next.id);
  if (!entry) {
    if (log_) log_("queue: " + entry.error().message + " (it stays for the next start)");
    return;
  }
  track_and_route(std::move(entry).value(), net::io::wall_now(), false);
}

void SpoolSink::track_and_route(sim::SpoolEntry entry, Instant now, bool resumed) {
  Pending& pending = pending_[entry.id];
  pending.recipients = {entry.recipients.begin(), entry.recipients.end()};
  pending.attempts = entry.attempts + 1;
  with_deferred_syncs([&] { router_.route(entry, now, resumed); });
  if (after_route_) after_route_();
}

void SpoolSink::with_deferred_syncs(const std::function<void()>& work, bool seal_may_wait) {
  if (deferred_store_ == nullptr) return work();
  struct Restore {
    SpoolSink& sink;
    sim::durable::SyncLedger* previous;
    bool seal_could_wait;
    ~Restore() {
      sink.deferred_store_->defer_syncs(previous);
      sink.seal_may_wait_ = seal_could_wait;
    }
  } restore{*this, deferred_store_->deferred_syncs(), seal_may_wait_};
  deferred_store_->defer_syncs(&unsynced_);
  seal_may_wait_ = seal_may_wait_ || seal_may_wait;  // (work nested in such a delivery keeps it)
  work();
  // Deliveries made outside route() (the world's later hops) are flushed too.
  if (deferred_store_->unsealed() || !unsynced_.empty()) flush_soon();
}

void SpoolSink::recipient_final(const std::string& id, const std::string& recipient) {
  auto it = pending_.find(id);
  if (it == pending_.end()) return;
  auto one = it->second.recipients.find(recipient);
  if (one == it->second.recipients.end()) return;
  it->second.recipients.erase(one);
  // Several finals of one entry usually come together: write the outcome once.
  changed_.insert(id);
  flush_soon();
}

void SpoolSink::flush_soon() {
  if (flush_posted_) return;
  if (!seal_may_wait_) {
    flush_posted_ = true;
    asio::post(io_, [this] { flush(); });
    return;
  }
  if (seal_waiting_) return;
  seal_waiting_ = true;
  seal_timer_.expires_after(kSealWait);
  seal_timer_.async_wait([this](const std::error_code& error) {
    if (error) return;  // the sink is going away
    seal_waiting_ = false;
    flush();
  });
}

void SpoolSink::flush() {
  flush_posted_ = false;
  if (deferred_store_ != nullptr && deferred_store_->unsealed()) {
    // One dovecot-uidlist write per folder for all deliveries since the last flush;
    // their UIDs are shown once the committer has synced the ledger.
    sim::durable::SyncLedger* previous = deferred_store_->deferred_syncs();
    deferred_store_->defer_syncs(&unsynced_);
    auto sealed = deferred_store_->seal_deferred();
    deferred_store_->defer_syncs(previous);
    if (!sealed && log_)
      log_("queue: " + sealed.error().message + " (the new messages stay hidden until the next round)");
    // Readers (IMAP IDLE) hear of the new messages when they are shown.
    if (after_route_) unsynced_.on_synced(after_route_);
  }
  // Before the chores below: they may remove entries whose copies it holds.
  std::optional<sim::DeliveryLogPosition> retires;
  if (std::exchange(logged_, false)) retires = delivery_log_->end();
  if (!unsynced_.empty() || !acks_.empty() || retires)
    committer_.sync_deliveries(std::move(unsynced_), std::exchange(acks_, {}), retires);
  for (const auto& id : std::exchange(changed_, {})) {
    auto it = pending_.find(id);
    if (it == pending_.end()) continue;
    if (it->second.recipients.empty()) {
      committer_.remove(id);
      pending_.erase(it);
    } else {
      committer_.update(id, {it->second.recipients.begin(), it->second.recipients.end()}, it->second.attempts);
    }
  }
}

}  // namespace maillab::app
