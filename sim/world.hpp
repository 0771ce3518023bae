// The world: a scenario played out on the scheduler and the virtual network
// by the real protocol engines.
//
// Theory of operation.  World builds one host per scenario host and gives it
// its role:
//   dns     the lab's authoritative DNS server (UDP 53): MX records (or the
//           null MX of RFC 7505), A records for every host, NXDOMAIN else.
//   mta     SMTP on 25 (MX service, RFC 5321) and 587 (submission, RFC 6409:
//           AUTH only after STARTTLS, RFC 4954 §4); POP3 on 110 (RFC 1939,
//           STLS) and IMAP on 143 (RFC 3501, STARTTLS) where it keeps
//           mailboxes; IMAP sessions hear of new mail and flag changes at
//           once.  Accepted mail gets a Received: field and goes to the
//           local MDA (Return-Path:, Delivered-To:, aliases, forwarding, quota)
//           or to the queue.  The queue resolves MX records as RFC 5321 §5.1
//           says (sorted by preference, equal preferences shuffled, own
//           preference and worse dropped, no MX: the domain's A record, null MX:
//           bounce), tries each exchange in turn, retries transient failures
//           on the scenario's schedule until the maximum lifetime and bounces
//           permanent ones with an RFC 3464 DSN to the envelope sender - never
//           for a message whose sender is <> (RFC 5321 §6.1, RFC 3464 §2).
//   client  an MUA: composes, submits with AUTH over STARTTLS, fetches by
//           POP3 (keeps or deletes) or IMAP (keeps, sets \Seen).
// Faults switch on and off at their times.  Every hop, DNS query, queue and
// delivery decision is a trace event.  Each message is tracked by Message-ID
// with one fate per envelope recipient: that is what the summary prints and
// what the VOPR test checks (delivered or bounced exactly once).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "net/tls/tls_context.hpp"
#include "sim/clock.hpp"
#include "sim/network.hpp"
#include "sim/random.hpp"
#include "sim/scenario.hpp"
#include "sim/scheduler.hpp"
#include "sim/trace.hpp"

namespace maillab::net::mail {
class MailStore;
}

namespace maillab::sim {

enum class FateState : std::uint8_t { pending, delivered, bounced, rejected, discarded };
std::string_view to_string(FateState state);

struct Fate {
  FateState state = FateState::pending;
  std::string where;  // "bob@school.test INBOX on mx1.school.test", or why it failed
  Instant at{};
  std::uint32_t finals = 0;  // how many times a final outcome was recorded (must be 1)
};

struct MessageTrack {
  std::string id;        // Message-ID without angle brackets
  std::string label;     // the scenario's id ("m1"), or "bounce of m1"
  std::string subject;
  std::string from;
  bool is_bounce = false;
  Instant created{};
  std::vector<std::string> route;                 // hosts in the order the message reached them
  std::map<std::string, Fate> fates;              // by envelope recipient
  Duration queued{0};                             // summed time in MTA queues
};

struct ExpectationResult {
  const ExpectSpec* spec = nullptr;
  bool held = false;
  std::string detail;  // what was found
};

class World {
 public:
  World(const Scenario& scenario, std::uint64_t seed);
  ~World();
  World(const World&) = delete;
  World& operator=(const World&) = delete;

  void set_transcript(std::ostream* out) { trace_.set_transcript(out); }
  void set_network_observer(NetworkObserver* observer) { network_.set_observer(observer); }
  // Where the TLS secrets go (FILE.pcap.keys); call before run().
  void set_key_log(net::tls::KeyLogSink sink);

  // Runs until `until` (default: the scenario's) or until nothing is pending.
  void run(std::optional<Duration> until = std::nullopt);

  [[nodiscard]] const Trace& trace() const { return trace_; }
  [[nodiscard]] const Scenario& scenario() const { return scenario_; }
  [[nodiscard]] Instant now() const { return clock_.now(); }
  [[nodiscard]] const std::vector<std::string>& message_order() const { return order_; }
  [[nodiscard]] const MessageTrack* track(const std::string& id) const;
  [[nodiscard]] std::size_t queue_size(const std::string& host) const;  // 0 for non-MTAs
  [[nodiscard]] std::size_t queued_total() const;
  // The store of the host holding `user`'s mailbox; nullptr for unknown users.
  [[nodiscard]] const net::mail::MailStore* store_of(const std::string& user) const;
  [[nodiscard]] std::vector<std::string> fetched_by(const std::string& mua) const;

  [[nodiscard]] std::vector<ExpectationResult> check_expectations() const;
  [[nodiscard]] std::string summary() const;

  struct Impl;

 private:
  const Scenario& scenario_;
  VirtualClock clock_;
  Scheduler scheduler_{clock_};
  Prng prng_;
  Network network_{scheduler_, prng_};
  Trace trace_;
  std::map<std::string, MessageTrack> tracks_;
  std::vector<std::string> order_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace maillab::sim
