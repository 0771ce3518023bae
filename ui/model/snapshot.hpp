// What the world looks like at the playhead, derived from the trace alone:
// the topology's hosts and roles, open connections and the envelope moving on
// each, hosts that are down, every MTA's queue, every mailbox, the DNS answers
// so far and each message's route.  Rewinding is recomputing this for an
// earlier cursor; the world is never touched.
//
// A snapshot is a fold over the trace: apply_event() takes it from cursor i to
// i+1.  SnapshotCache makes that cheap per frame: playing forward applies only
// the new events; going back restores the nearest checkpoint (one every
// checkpoint_interval events) and applies at most that many.  A connection is
// open from its connect event until a close event or, since the simulator's
// trace has none, until the server's final reply after the client's goodbye
// (SMTP QUIT -> 221, RFC 5321 §4.1.1.10; POP3 QUIT -> +OK, RFC 1939 §6; IMAP
// LOGOUT -> tagged OK, RFC 3501 §6.1.3) or an SMTP 421 (RFC 5321 §3.8).
#pragma once

#include <cstddef>
#include <map>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "ui/model/trace.hpp"

namespace maillab::ui {

enum class Role : unsigned char { mua, submission, mx, dns, store, other };

struct HostView {
  std::string name;
  std::set<Role> roles;
  bool down = false;
};

inline constexpr std::size_t no_event = static_cast<std::size_t>(-1);

struct Link {
  std::string src;
  std::string dst;
  std::string proto;
  std::size_t last_event = no_event;  // the newest line on it
  std::string msg;                    // the message it carries, if known
  std::size_t opened = no_event;      // its connect event
  bool closing = false;               // the client said goodbye; the next final reply ends it
};

struct QueuedMessage {
  std::string msg;
  double next_try_s = -1;  // -1 when unknown
  std::string reason;
};

struct RouteStep {
  double t = 0;
  std::string what;  // "alice-pc -> smtp.lab.test (submission)", "delivered to bob@lab.test", ...
};

struct MessageFate {
  std::vector<RouteStep> route;
  bool delivered = false;
  bool bounced = false;
  bool queued = false;
};

struct Snapshot {
  std::size_t cursor = 0;                                    // events [0, cursor) applied
  std::vector<HostView> hosts;                               // in trace order
  std::vector<Link> open_links;                              // connections open at the playhead, oldest first
  std::map<std::string, std::vector<QueuedMessage>> queues;  // host -> queue (no empty queues)
  std::map<std::string, std::vector<std::string>> mailboxes; // user -> Message-IDs
  std::vector<std::size_t> dns_events;                       // indexes of DNS lines so far
  std::map<std::string, MessageFate> messages;               // Message-ID -> fate so far
  std::set<std::string> down;                                // hosts down at the playhead

  // Lookups that keep apply_event() independent of the snapshot's size.
  std::unordered_map<std::string, std::vector<std::size_t>> link_ids;  // connection key -> `opened` of its open links
  std::unordered_map<std::string, std::set<std::string>> queued_at;    // Message-ID -> hosts whose queue holds it
};

// The roles a host plays, from every event in the trace (not only those before
// the cursor): the topology does not rearrange itself while playing.
std::vector<HostView> host_roles(const Trace& trace);
// The same, extended by events [from, to) of a growing trace.
void add_host_roles(std::vector<HostView>& hosts, const Trace& trace, std::size_t from, std::size_t to);

// Moves the snapshot past event `snapshot.cursor`.
void apply_event(Snapshot& snapshot, const Trace& trace);

// The snapshot at a cursor, computed from scratch (tests, one-off use).
Snapshot snapshot_at(const Trace& trace, std::size_t cursor);

// The snapshot at a cursor for every frame, computed incrementally.  The trace
// may grow between calls (live mode); it must not change otherwise (call clear()
// when a new trace is loaded).
class SnapshotCache {
 public:
  static constexpr std::size_t checkpoint_interval = 8192;

  const Snapshot& at(const Trace& trace, std::size_t cursor);
  void clear();
  // Events applied since the last clear() (how much work the cache did: tests).
  [[nodiscard]] std::size_t events_applied() const { return applied_; }

 private:
  void refresh_hosts();

  std::vector<HostView> roles_;
  std::size_t roles_through_ = 0;
  bool hosts_stale_ = true;
  Snapshot current_;
  std::vector<Snapshot> checkpoints_;  // [k]: the snapshot after k * checkpoint_interval events
  std::size_t applied_ = 0;
};

}  // namespace maillab::ui
