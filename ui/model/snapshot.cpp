#include "ui/model/snapshot.hpp"

#include <algorithm>
#include <cctype>

namespace maillab::ui {
namespace {

std::string extra_string(const TraceEvent& event, const char* key) {
  const auto it = event.extra.find(key);
  if (it == event.extra.end() || !it->is_string()) return {};
  return it->get<std::string>();
}

double extra_number(const TraceEvent& event, const char* key, double fallback) {
  const auto it = event.extra.find(key);
  if (it == event.extra.end() || !it->is_number()) return fallback;
  return it->get<double>();
}

struct HostIndex {
  std::vector<HostView>& hosts;
  std::unordered_map<std::string, std::size_t> ids;

  explicit HostIndex(std::vector<HostView>& list) : hosts(list) {
    for (std::size_t i = 0; i < hosts.size(); ++i) ids.emplace(hosts[i].name, i);
  }
  HostView& operator[](const std::string& name) {
    const auto [it, added] = ids.try_emplace(name, hosts.size());
    if (added) hosts.push_back(HostView{name, {}, false});
    return hosts[it->second];
  }
};

// Both directions of one connection share a key.
std::string link_key(const TraceEvent& event) {
  const bool forward = event.src < event.dst;
  std::string key = event.proto;
  key += '\n';
  key += forward ? event.src : event.dst;
  key += '\n';
  key += forward ? event.dst : event.src;
  return key;
}

std::vector<Link>::iterator find_open(std::vector<Link>& links, std::size_t opened) {
  const auto it = std::lower_bound(links.begin(), links.end(), opened,
                                   [](const Link& link, std::size_t id) { return link.opened < id; });
  return it != links.end() && it->opened == opened ? it : links.end();
}

// The connection a line or close belongs to: the newest open one between the
// two hosts for that protocol (the trace names no connection).
Link* find_link(Snapshot& snap, const std::string& key) {
  const auto ids = snap.link_ids.find(key);
  if (ids == snap.link_ids.end() || ids->second.empty()) return nullptr;
  const auto it = find_open(snap.open_links, ids->second.back());
  return it == snap.open_links.end() ? nullptr : &*it;
}

void close_link(Snapshot& snap, const std::string& key) {
  const auto ids = snap.link_ids.find(key);
  if (ids == snap.link_ids.end() || ids->second.empty()) return;
  if (const auto it = find_open(snap.open_links, ids->second.back()); it != snap.open_links.end()) {
    snap.open_links.erase(it);
  }
  ids->second.pop_back();
  if (ids->second.empty()) snap.link_ids.erase(ids);
}

bool equals_nocase(std::string_view text, std::string_view word) {
  return text.size() == word.size() && std::equal(text.begin(), text.end(), word.begin(), [](char a, char b) {
           return std::toupper(static_cast<unsigned char>(a)) == b;
         });
}

// SMTP and POP3 "QUIT"; IMAP "<tag> LOGOUT".
bool is_goodbye(const TraceEvent& event) {
  std::string_view text = event.text;
  while (!text.empty() && (text.back() == ' ' || text.back() == '\r')) text.remove_suffix(1);
  if (equals_nocase(text, "QUIT")) return true;
  const auto space = text.find(' ');
  return event.proto == "imap" && space != std::string_view::npos && equals_nocase(text.substr(space + 1), "LOGOUT");
}

bool is_smtp(const std::string& proto) { return proto == "smtp" || proto == "submission" || proto == "lmtp"; }

// Who a delivery is for: the trace's "user" field, else its destination.
std::string delivery_user(const TraceEvent& event) {
  auto user = extra_string(event, "user");
  return user.empty() ? event.dst : user;
}

bool is_dequeue(const TraceEvent& event) {
  const auto action = extra_string(event, "action");
  return action == "dequeue" || action == "relayed" || action == "expired" || action == "sent";
}

void remove_from_queue(Snapshot& snap, const std::string& host, const std::string& msg) {
  const auto queue = snap.queues.find(host);
  if (queue == snap.queues.end()) return;
  std::erase_if(queue->second, [&](const QueuedMessage& q) { return q.msg == msg; });
  if (queue->second.empty()) snap.queues.erase(queue);
}

// A message that is queued, delivered or bounced somewhere has left every
// other queue: the hop before handed it on.
void drop_elsewhere(Snapshot& snap, const std::string& msg, const std::string& keep_host) {
  if (msg.empty()) return;
  const auto where = snap.queued_at.find(msg);
  if (where == snap.queued_at.end()) return;
  for (auto it = where->second.begin(); it != where->second.end();) {
    if (*it == keep_host) {
      ++it;
      continue;
    }
    remove_from_queue(snap, *it, msg);
    it = where->second.erase(it);
  }
  if (where->second.empty()) snap.queued_at.erase(where);
}

void apply_queue(Snapshot& snap, const TraceEvent& event, MessageFate* fate) {
  // A dequeue is logged after the next hop queued the message: it only
  // empties its own host's queue.
  if (is_dequeue(event)) {
    remove_from_queue(snap, event.src, event.msg);
    if (auto where = snap.queued_at.find(event.msg); where != snap.queued_at.end()) {
      where->second.erase(event.src);
      if (where->second.empty()) snap.queued_at.erase(where);
    }
    if (fate) fate->queued = false;
    return;
  }
  drop_elsewhere(snap, event.msg, event.src);
  auto& queue = snap.queues[event.src];
  auto it = std::find_if(queue.begin(), queue.end(), [&](const QueuedMessage& q) { return q.msg == event.msg; });
  QueuedMessage entry{event.msg, extra_number(event, "next_retry", -1), event.text};
  if (it == queue.end()) queue.push_back(std::move(entry));
  else *it = std::move(entry);
  if (!event.msg.empty()) snap.queued_at[event.msg].insert(event.src);
  if (fate) {
    fate->queued = true;
    fate->route.push_back({event.t, "queued at " + event.src});
  }
}

}  // namespace

void add_host_roles(std::vector<HostView>& hosts, const Trace& trace, std::size_t from, std::size_t to) {
  to = std::min(to, trace.events.size());
  HostIndex host(hosts);
  for (const auto& name : trace.hosts) host[name];
  for (std::size_t i = from; i < to; ++i) {
    const auto& event = trace.events[i];
    if (event.kind == EventKind::deliver && !event.src.empty()) {
      host[event.src].roles.insert(Role::store);
      continue;
    }
    // A mail client composing: the simulator's MUAs queue what they write.
    if (event.kind == EventKind::queue && event.text.starts_with("composed ") && !event.src.empty()) {
      host[event.src].roles.insert(Role::mua);
      continue;
    }
    if (event.kind != EventKind::connect && event.kind != EventKind::dns) continue;
    if (event.src.empty() || event.dst.empty()) continue;
    if (event.kind == EventKind::dns || event.proto == "dns") {
      // The DNS server is the one answering.
      host[event.dir == 'S' ? event.src : event.dst].roles.insert(Role::dns);
    } else if (event.proto == "submission") {
      host[event.src].roles.insert(Role::mua);
      host[event.dst].roles.insert(Role::submission);
    } else if (event.proto == "smtp") {
      host[event.dst].roles.insert(Role::mx);
    } else if (event.proto == "pop3" || event.proto == "imap") {
      host[event.src].roles.insert(Role::mua);
      host[event.dst].roles.insert(Role::store);
    }
  }
}

std::vector<HostView> host_roles(const Trace& trace) {
  std::vector<HostView> hosts;
  add_host_roles(hosts, trace, 0, trace.events.size());
  for (auto& h : hosts) {
    if (h.roles.empty()) h.roles.insert(Role::other);
  }
  return hosts;
}

void apply_event(Snapshot& snap, const Trace& trace) {
  const std::size_t i = snap.cursor;
  if (i >= trace.events.size()) return;
  ++snap.cursor;
  const auto& event = trace.events[i];
  auto* fate = event.msg.empty() ? nullptr : &snap.messages[event.msg];
  switch (event.kind) {
    case EventKind::connect: {
      snap.open_links.push_back(Link{event.src, event.dst, event.proto, no_event, event.msg, i, false});
      snap.link_ids[link_key(event)].push_back(i);
      if (fate) fate->route.push_back({event.t, event.src + " -> " + event.dst + " (" + event.proto + ")"});
      break;
    }
    case EventKind::close:
      close_link(snap, link_key(event));
      break;
    case EventKind::line: {
      const auto key = link_key(event);
      Link* link = find_link(snap, key);
      if (link == nullptr) break;
      link->last_event = i;
      if (!event.msg.empty()) link->msg = event.msg;
      if (event.dir == 'C' && is_goodbye(event)) {
        link->closing = true;
      } else if (event.dir == 'S' && ((link->closing && !event.text.starts_with("*")) ||
                                      (is_smtp(event.proto) && event.text.starts_with("421")))) {
        close_link(snap, key);
      }
      break;
    }
    case EventKind::dns:
      snap.dns_events.push_back(i);
      break;
    case EventKind::queue:
      apply_queue(snap, event, fate);
      break;
    case EventKind::deliver:
    case EventKind::bounce: {
      drop_elsewhere(snap, event.msg, {});
      if (event.kind == EventKind::deliver) {
        snap.mailboxes[delivery_user(event)].push_back(event.msg);
        if (fate) {
          fate->delivered = true;
          fate->queued = false;
          fate->route.push_back({event.t, "delivered to " + delivery_user(event)});
        }
      } else if (fate) {
        fate->bounced = true;
        fate->queued = false;
        fate->route.push_back({event.t, "bounced: " + event.text});
      }
      break;
    }
    case EventKind::fetch:
      if (fate) fate->route.push_back({event.t, "fetched by " + event.src + " (" + event.proto + ")"});
      if (extra_string(event, "action") == "delete" || extra_string(event, "action") == "deleted") {
        auto& box = snap.mailboxes[delivery_user(event)];
        std::erase(box, event.msg);
      }
      break;
    case EventKind::fault: {
      const auto action = extra_string(event, "action");
      const auto& name = event.dst.empty() ? event.src : event.dst;
      if (action != "down" && action != "up") break;
      if (action == "down") snap.down.insert(name);
      else snap.down.erase(name);
      auto it = std::find_if(snap.hosts.begin(), snap.hosts.end(), [&](const HostView& h) { return h.name == name; });
      if (it != snap.hosts.end()) it->down = action == "down";
      break;
    }
    case EventKind::tls:
    case EventKind::other:
      break;
  }
}

Snapshot snapshot_at(const Trace& trace, std::size_t cursor) {
  Snapshot snap;
  snap.hosts = host_roles(trace);
  cursor = std::min(cursor, trace.events.size());
  while (snap.cursor < cursor) apply_event(snap, trace);
  return snap;
}

void SnapshotCache::clear() { *this = SnapshotCache{}; }

void SnapshotCache::refresh_hosts() {
  current_.hosts = roles_;
  for (auto& host : current_.hosts) {
    if (host.roles.empty()) host.roles.insert(Role::other);
    host.down = current_.down.count(host.name) > 0;
  }
  hosts_stale_ = false;
}

const Snapshot& SnapshotCache::at(const Trace& trace, std::size_t cursor) {
  cursor = std::min(cursor, trace.events.size());
  if (roles_through_ < trace.events.size() || roles_.size() < trace.hosts.size()) {
    add_host_roles(roles_, trace, roles_through_, trace.events.size());
    roles_through_ = trace.events.size();
    hosts_stale_ = true;
  }
  if (cursor < current_.cursor) {
    const std::size_t k = std::min(cursor / checkpoint_interval, checkpoints_.size() - 1);
    current_ = checkpoints_[k];
    hosts_stale_ = true;
  }
  if (checkpoints_.empty()) checkpoints_.push_back(current_);
  if (hosts_stale_) refresh_hosts();
  while (current_.cursor < cursor) {
    apply_event(current_, trace);
    ++applied_;
    if (current_.cursor % checkpoint_interval == 0 && current_.cursor / checkpoint_interval == checkpoints_.size()) {
      checkpoints_.push_back(current_);
    }
  }
  return current_;
}

}  // namespace maillab::ui
