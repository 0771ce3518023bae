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
//   inject  mail that real clients handed to `maillab serve` enters the world
//           at one MTA as if that MTA had just accepted it over SMTP: local
//           recipients go to its MDA at once (a full mailbox bounces; a store
//           error that may pass is handed back to the caller, whose on-disk
//           queue keeps the message), the others to its queue and from there
//           through DNS and SMTP hops.
//           A watcher hears when every recipient still in the world's hands
//           (forward targets included) has a final fate.  With a handoff
//           sink, the DSNs and forwarded copies such mail causes are handed
//           to the caller (who queues them durably and injects them again)
//           before the recipient they come from is final.
// The world runs on any sim::Clock (WorldOptions): `maillab run` on its own
// VirtualClock from Instant{0} to the end; `maillab serve` calls advance()
// with the time elapsed since it started, so the world keeps pace with the
// wall clock, and arms a timer at next_deadline().  Mailbox hosts keep their
// users in a MemoryStore each, or all in one given store (users are keyed by
// full address, so one store holds every domain).
// Faults switch on and off at their times.  Every hop, DNS query, queue and
// delivery decision is a trace event.  Each message is tracked by Message-ID
// with one fate per envelope recipient: that is what the summary prints and
// what the VOPR test checks (delivered or bounced exactly once).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <unordered_map>
#include <utility>
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

// How a World is built; the defaults are `maillab run`.
struct WorldOptions {
  Clock* clock = nullptr;                 // nullptr: the world's own VirtualClock, from Instant{0}
  net::mail::MailStore* store = nullptr;  // nullptr: a MemoryStore per mailbox host
  bool scripted = true;                   // the scenario's [[message]]s and fetches run (false: real clients)
  std::optional<std::int64_t> start_unix_s;  // Unix time at Instant{0}; nullopt: the scenario's start
};

// A message a real client handed over, as the world MTA `host` accepted it.
struct Injection {
  std::string host;                     // a world MTA
  std::string sender;                   // envelope sender; "" for <>
  std::vector<std::string> recipients;  // envelope recipients (local@domain)
  std::string data;                     // the client's bytes behind the Received: of `host`
  std::string msg;                      // Message-ID without angle brackets (never empty)
  std::string client;                   // "127.0.0.1:51234": the trace's name for the client;
                                        // "" for a handoff (below) coming back from the caller's queue
  std::string proto = "smtp";           // "smtp" or "submission": the port it came in on
  std::string tag;                      // the caller's name for it (its queue id): handoffs name it
};

// A new message the world makes from an injected one - a DSN (RFC 3464) or the
// copies a user's forwarding sends on - handed to the caller instead of being
// delivered or queued by the world (World::set_handoff).  The caller keeps it
// durably and injects it again at `host`; only then are the recipients in
// `origins` final for it (the world finalizes them right after the handoff).
struct Handoff {
  std::string host;                     // the MTA that made it
  std::string sender;                   // "" for a DSN
  std::vector<std::string> recipients;  // the DSN's recipient, or the forward targets
  std::string data;
  std::string msg;                      // its Message-ID without angle brackets
  bool dsn = false;
  // (tag of the injection, its recipient) whose outcome this message is; the
  // tag is "" when that recipient is watched by no injection.
  std::vector<std::pair<std::string, std::string>> origins;
};
using HandoffSink = std::function<void(const Handoff&)>;

// What inject() did at once.
struct InjectReport {
  bool known_host = false;              // false: `host` is no MTA of the world, nothing was done
  std::vector<std::string> delivered;   // stored in a mailbox of `host` already
  // Not stored by the MDA of `host` for a reason that may pass (a full disk):
  // the caller keeps them and tries again.  Bounced ones are settled instead.
  struct Refusal {
    std::string recipient;
    std::string status;                 // RFC 3463 "4.3.1"
    std::string reason;
  };
  std::vector<Refusal> refused;
  std::vector<std::string> pending;     // in the world's hands (queue, forwards): the watcher hears of them
};

// Every pending recipient of an injection reached a final fate (delivered,
// bounced or discarded): recipient -> its fate.
using SettledCallback = std::function<void(const std::map<std::string, Fate>&)>;

struct ExpectationResult {
  const ExpectSpec* spec = nullptr;
  bool held = false;
  std::string detail;  // what was found
};

class Mua;

class World {
 public:
  World(const Scenario& scenario, std::uint64_t seed, WorldOptions options = {});
  ~World();
  World(const World&) = delete;
  World& operator=(const World&) = delete;

  void set_transcript(std::ostream* out) { trace_.set_transcript(out); }
  void set_network_observer(NetworkObserver* observer) { network_.set_observer(observer); }
  // Where the TLS secrets go (FILE.pcap.keys); call before run().
  void set_key_log(net::tls::KeyLogSink sink);

  // Runs until `until` (default: the scenario's) or until nothing is pending.
  void run(std::optional<Duration> until = std::nullopt);

  // Real time (`maillab serve`).  start() brings the hosts up and schedules
  // the faults (once; advance() and inject() start the world if needed).
  void start();
  // Runs every event due at or before `now` and moves the clock there.
  void advance(Instant now);
  // When the next event is due (`never` when there is none).
  [[nodiscard]] Instant next_deadline() const { return scheduler_.next_deadline(); }
  // Hands a real client's message to `injection.host` at the clock's present;
  // `on_settled` is called (from a later advance()) once every recipient in
  // the report's `pending` has a final fate; never when `pending` is empty.
  InjectReport inject(const Injection& injection, SettledCallback on_settled = {});
  // From now on DSNs and forwarded copies of injected mail go to `sink`
  // (`maillab serve`: they become queue entries of their own); without one the
  // world delivers or queues them itself, as `maillab run` does.
  void set_handoff(HandoffSink sink);
  // Where a real client's mail enters: the MTA that the scenario's MUAs of
  // `domain` submit to (else the domain's submission host, else the first MTA);
  // and the most preferred MX of `domain` that is up (else its mailbox host).
  // "" when the world has no MTA.
  [[nodiscard]] std::string submission_host(std::string_view domain) const;
  [[nodiscard]] std::string mx_host(std::string_view domain) const;

  [[nodiscard]] const Trace& trace() const { return trace_; }
  // Listeners and set_keep(false) (`maillab run` streams and keeps nothing).
  Trace& trace() { return trace_; }
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
  void start(Instant end);
  void schedule_scripted(std::size_t next);
  void submit_scripted(const MessageSpec& m);

  const Scenario& scenario_;
  WorldOptions options_;
  VirtualClock own_clock_;
  Clock& clock_;
  Scheduler scheduler_{clock_};
  Prng prng_;
  Network network_{scheduler_, prng_};
  Trace trace_;
  // Looked up by Message-ID on every hop and fate (a hash, not ~17 string
  // comparisons in a 10,000-message tree); never iterated: order_ keeps the order.
  std::unordered_map<std::string, MessageTrack> tracks_;
  std::vector<std::string> order_;
  std::unique_ptr<Impl> impl_;
  bool started_ = false;
  // What the scenario scripts from the start (its [[message]]s, each MUA's
  // fetches) in (due, sequence) order with reserved sequence numbers; each
  // one's event schedules the next (lazy scheduling).
  struct Scripted {
    Instant due;
    std::uint64_t sequence = 0;
    const MessageSpec* message = nullptr;  // or
    Mua* fetcher = nullptr;
  };
  std::vector<Scripted> scripted_;
};

}  // namespace maillab::sim
