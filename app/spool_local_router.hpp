// LocalRouter: the queue router of `maillab serve` while the lab has no world
// to hand mail to: every queued message goes straight into its recipients'
// Maildirs through LabDelivery (aliases, forwards, Return-Path:,
// Delivered-To:, Received: with the queue id and the time of acceptance).
//
// Theory of operation.  admit() refuses a message with 50 Received: fields
// (554 5.4.6, a loop: RFC 5321 §6.3) before it is queued.  route() rebuilds
// the SMTP transaction from the queue entry (envelope, HELO name, client
// address, TLS, login) and delivers all pending recipients at once, as
// LabDelivery did before there was a queue.  When every mailbox took it, each
// recipient is final and the entry leaves the queue; when the store failed
// (a full disk, a mailbox over quota), the recipients stay queued and are
// delivered again at the next start: an acknowledged message is never dropped.
//
// Exactly once across a crash: a Maildir copy is visible before its queue
// entry can be removed, so an entry resumed at start may already be in some
// mailboxes.  Every copy carries the queue id in its Received: field and the
// time of acceptance as its internal date; before a resumed delivery the
// router reads the few messages of each user with that internal date and
// skips every mailbox that already holds the entry.
#pragma once

#include <set>
#include <string>

#include "app/serve_lab.hpp"
#include "app/spool_sink.hpp"

namespace maillab::app {

class LocalRouter final : public QueueRouter {
 public:
  LocalRouter(LabDelivery& delivery, const LabDirectory& directory, const net::mail::MailStore& store,
              net::io::LogSink log)
      : delivery_(delivery), directory_(directory), store_(store), log_(std::move(log)) {}
  // The sink that hears the finals; set before the first route().
  void set_sink(SpoolSink* sink) { sink_ = sink; }

  std::optional<net::smtp::StoreOutcome> admit(const net::smtp::MessageEvent& message, bool submission) override;
  void route(const sim::SpoolEntry& entry, Instant now, bool resumed) override;

 private:
  // The user keys whose INBOX already holds a copy of `entry`.
  std::set<std::string> holders_of(const sim::SpoolEntry& entry) const;

  LabDelivery& delivery_;
  const LabDirectory& directory_;
  const net::mail::MailStore& store_;
  net::io::LogSink log_;
  SpoolSink* sink_ = nullptr;
};

}  // namespace maillab::app
