// What the world looks like at the playhead, derived from the trace alone:
// the topology's hosts and roles, open connections and the envelope moving on
// each, hosts that are down, every MTA's queue, every mailbox, the DNS answers
// so far and each message's route.  Rewinding is recomputing this for an
// earlier cursor; the world is never touched.
#pragma once

#include <cstddef>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "ui/model/trace.hpp"

namespace maillab::ui {

enum class Role : unsigned char { mua, submission, mx, dns, store, other };

struct HostView {
  std::string name;
  std::set<Role> roles;
  bool down = false;
};

struct Link {
  std::string src;
  std::string dst;
  std::string proto;
  std::size_t last_event = static_cast<std::size_t>(-1);  // the newest line on it
  std::string msg;  // the message it carries, if known
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
  std::vector<HostView> hosts;                           // in trace order
  std::vector<Link> open_links;                          // connections open at the playhead
  std::map<std::string, std::vector<QueuedMessage>> queues;       // host -> queue
  std::map<std::string, std::vector<std::string>> mailboxes;      // user -> Message-IDs
  std::vector<std::size_t> dns_events;                   // indexes of DNS lines so far
  std::map<std::string, MessageFate> messages;           // Message-ID -> fate so far
};

// The roles a host plays, from every event in the trace (not only those before
// the cursor): the topology does not rearrange itself while playing.
std::vector<HostView> host_roles(const Trace& trace);

Snapshot snapshot_at(const Trace& trace, std::size_t cursor);

}  // namespace maillab::ui
