// WorldRouter: the queue router (app/spool_sink.hpp) that hands every
// acknowledged message to the scenario's world (app/lab_world.hpp), so mail
// between the scenario's domains takes its MX hops in real time, recorded in
// the world's trace as `maillab run` records them.
//
// Theory of operation.  route() turns a durable queue entry into a world
// injection:
//   entry host  the submission ports stand for the MTA that the scenario's
//               mail clients of the login's domain submit to; the MX port for
//               the most preferred MX of the first recipient's domain that is
//               up (World::submission_host, World::mx_host);
//   data        a Received: field of the entry host (the client's HELO name
//               and address, ESMTP/ESMTPS/ESMTPSA, the queue id, the time of
//               acceptance; RFC 5321 §4.4) in front of the client's bytes,
//               which stay untouched; a message without a Message-ID gets one
//               (RFC 5322 §3.6.4, RFC 6409 §8.3): the world follows each
//               message by it;
//   recipients  as the client gave them; postmaster of a scenario domain is
//               the address the directory routes it to (RFC 5321 §4.5.1).
// Recipients the entry host stores at once are final at once; the others are
// final when the world settles them (delivered after their hops, bounced with
// a DSN, discarded): each is then reported to the sink, which removes the
// entry from the on-disk queue once none is left.  A store error that may pass
// (a full disk) leaves the recipient queued for the next start.
//
// Local mail (delivers_at_once) is routed before it is durable and has no
// queue entry (app/spool_sink.hpp); the world sees the same injection.
//
// Exactly once across a crash: a resumed entry may already be in some
// mailboxes (the copy is stored before the queue forgets it).  Every copy
// carries the queue id in its first Received: field; before a resumed entry
// is injected, each recipient's INBOX is searched among the messages stored
// since the entry's arrival, and a recipient that holds it is final at once.
// DSNs and forwarded copies are made by the world, not found in the
// recipient's INBOX: the world hands each over (sim::Handoff) and it becomes
// a queue entry of its own (SpoolSink::queue_made) with
//   attr entry-host mx.school.test        the world MTA that made it, where it
//                                         is injected again;
//   attr origin 18F3A2B.7 bob@school.test the entry and recipient it comes from
//                                         (one per recipient it stands for).
// The recipient it comes from is reported final only when that entry is
// durable, so its entry records it in a later group-commit round (the
// committer rewrites entries before it unlinks any): a crash before that round
// makes the world run the recipient again (no copy was queued), a crash after
// it finds the new entry, whose origin lines make those recipients final at
// once, and from then on the new entry is one like any other (its copies
// carry its own queue id).  A user who keeps and forwards has her copy stored
// before her forward is handed over, and her forward is staged only once that
// copy is synced (SpoolSink::queue_made): a queued forward always has her copy
// beside it, and a resumed entry that finds the copy but no queued forward
// makes the forward again from the copy.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "app/lab_world.hpp"
#include "app/serve_lab.hpp"
#include "app/spool_sink.hpp"

namespace maillab::app {

// The trace's name for a real client: "127.0.0.1:51234", "[::1]:51234" (the
// address alone when the port is not known).
std::string client_label(std::string_view address, std::string_view port);

class WorldRouter final : public QueueRouter {
 public:
  // Attribute names of the entries the router makes (see the theory of operation).
  static constexpr const char* kEntryHost = "entry-host";
  static constexpr const char* kOrigin = "origin";

  // Takes the world's handoffs (sim::World::set_handoff).
  WorldRouter(LabWorld& world, const LabDirectory& directory, const net::mail::MailStore& store,
              net::io::LogSink log);
  // The sink that hears the finals; set before the first route().
  void set_sink(SpoolSink* sink) { sink_ = sink; }

  std::optional<net::smtp::StoreOutcome> admit(const net::smtp::MessageEvent& message, bool submission) override;
  void route(const sim::SpoolEntry& entry, Instant now, bool resumed) override;
  // Every recipient a user (or alias, or postmaster) whose domain keeps its
  // mailboxes at the entry host, none with a forward: the entry host's MDA
  // stores them all at once (barring a full mailbox or a store error).
  [[nodiscard]] bool delivers_at_once(const sim::SpoolEntry& entry) const override;
  void recovered(const std::vector<sim::SpoolEntry>& entries) override;

  // The world host a real client's mail enters at (see the theory of operation).
  [[nodiscard]] std::string entry_host(const sim::SpoolEntry& entry) const;

 private:
  // One routed entry whose recipients are not all reported final yet.
  struct Routed {
    std::map<std::string, std::vector<std::string>> originals;  // world recipient -> the entry's spellings
    std::set<std::string> reported;                            // world recipients reported final
    std::set<std::string> handed_off;                          // final once their new entry is durable
  };

  // `user`'s copy of `entry` if the INBOX holds one stored since its arrival.
  [[nodiscard]] std::optional<std::string> held_copy(const std::string& user, const sim::SpoolEntry& entry) const;
  // `recipient` (`user`, who keeps and forwards) holds `copy`; the forward
  // was not queued before the crash: it is queued now, from the copy.
  void forward_again(const sim::SpoolEntry& entry, const std::string& recipient, const std::string& user,
                     std::string copy);
  // Reports `world_recipient` of entry `id` final (once).
  void report(const std::string& id, const std::string& world_recipient, bool from_handoff);
  void handoff(const sim::Handoff& handoff);

  LabWorld& world_;
  const LabDirectory& directory_;
  const net::mail::MailStore& store_;
  net::io::LogSink log_;
  SpoolSink* sink_ = nullptr;
  std::map<std::string, Routed> routed_;                     // by queue id
  std::set<std::pair<std::string, std::string>> made_for_;  // (queue id, recipient) with a queued DSN or copy
};

}  // namespace maillab::app
