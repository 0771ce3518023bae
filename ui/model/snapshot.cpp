#include "ui/model/snapshot.hpp"

#include <algorithm>

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

HostView& host(std::vector<HostView>& hosts, const std::string& name) {
  auto it = std::find_if(hosts.begin(), hosts.end(), [&](const HostView& h) { return h.name == name; });
  if (it != hosts.end()) return *it;
  hosts.push_back(HostView{name, {}, false});
  return hosts.back();
}

// The connection a line belongs to, in either direction.
std::vector<Link>::iterator find_link(std::vector<Link>& links, const TraceEvent& event) {
  return std::find_if(links.begin(), links.end(), [&](const Link& link) {
    return link.proto == event.proto && ((link.src == event.src && link.dst == event.dst) ||
                                         (link.src == event.dst && link.dst == event.src));
  });
}

// Who a delivery is for: the trace's "user" field, else its destination.
std::string delivery_user(const TraceEvent& event) {
  auto user = extra_string(event, "user");
  return user.empty() ? event.dst : user;
}

bool is_dequeue(const TraceEvent& event) {
  const auto action = extra_string(event, "action");
  return action == "dequeue" || action == "relayed" || action == "expired" || action == "sent";
}

// A message that is queued, delivered or bounced somewhere has left every
// other queue: the hop before handed it on.
void drop_elsewhere(Snapshot& snap, const std::string& msg, const std::string& keep_host) {
  if (msg.empty()) return;
  for (auto& [name, queue] : snap.queues) {
    if (name == keep_host) continue;
    std::erase_if(queue, [&](const QueuedMessage& q) { return q.msg == msg; });
  }
}

}  // namespace

std::vector<HostView> host_roles(const Trace& trace) {
  std::vector<HostView> hosts;
  for (const auto& name : trace.hosts) host(hosts, name);
  for (const auto& event : trace.events) {
    if (event.kind != EventKind::connect && event.kind != EventKind::dns) continue;
    if (event.src.empty() || event.dst.empty()) continue;
    if (event.kind == EventKind::dns || event.proto == "dns") {
      // The DNS server is the one answering.
      host(hosts, event.dir == 'S' ? event.src : event.dst).roles.insert(Role::dns);
      continue;
    }
    if (event.proto == "submission") {
      host(hosts, event.src).roles.insert(Role::mua);
      host(hosts, event.dst).roles.insert(Role::submission);
    } else if (event.proto == "smtp") {
      host(hosts, event.dst).roles.insert(Role::mx);
    } else if (event.proto == "pop3" || event.proto == "imap") {
      host(hosts, event.src).roles.insert(Role::mua);
      host(hosts, event.dst).roles.insert(Role::store);
    }
  }
  for (const auto& event : trace.events) {
    if (event.kind == EventKind::deliver && !event.src.empty()) host(hosts, event.src).roles.insert(Role::store);
  }
  for (auto& h : hosts) {
    if (h.roles.empty()) h.roles.insert(Role::other);
  }
  return hosts;
}

Snapshot snapshot_at(const Trace& trace, std::size_t cursor) {
  Snapshot snap;
  snap.hosts = host_roles(trace);
  cursor = std::min(cursor, trace.events.size());
  for (std::size_t i = 0; i < cursor; ++i) {
    const auto& event = trace.events[i];
    auto* fate = event.msg.empty() ? nullptr : &snap.messages[event.msg];
    switch (event.kind) {
      case EventKind::connect:
        snap.open_links.push_back(Link{event.src, event.dst, event.proto, static_cast<std::size_t>(-1), event.msg});
        if (fate) fate->route.push_back({event.t, event.src + " -> " + event.dst + " (" + event.proto + ")"});
        break;
      case EventKind::close:
        if (auto it = find_link(snap.open_links, event); it != snap.open_links.end()) snap.open_links.erase(it);
        break;
      case EventKind::line:
        if (auto it = find_link(snap.open_links, event); it != snap.open_links.end()) {
          it->last_event = i;
          if (!event.msg.empty()) it->msg = event.msg;
        }
        break;
      case EventKind::dns:
        snap.dns_events.push_back(i);
        break;
      case EventKind::queue: {
        // A dequeue is logged after the next hop queued the message: it only
        // empties its own host's queue.
        if (!is_dequeue(event)) drop_elsewhere(snap, event.msg, event.src);
        auto& queue = snap.queues[event.src];
        auto it = std::find_if(queue.begin(), queue.end(), [&](const QueuedMessage& q) { return q.msg == event.msg; });
        if (is_dequeue(event)) {
          if (it != queue.end()) queue.erase(it);
          if (fate) fate->queued = false;
          break;
        }
        QueuedMessage entry{event.msg, extra_number(event, "next_retry", -1), event.text};
        if (it == queue.end()) queue.push_back(entry);
        else *it = entry;
        if (fate) {
          fate->queued = true;
          fate->route.push_back({event.t, "queued at " + event.src});
        }
        break;
      }
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
        auto it = std::find_if(snap.hosts.begin(), snap.hosts.end(), [&](const HostView& h) { return h.name == name; });
        if (it != snap.hosts.end()) {
          if (action == "down") it->down = true;
          if (action == "up") it->down = false;
        }
        break;
      }
      case EventKind::tls:
      case EventKind::other:
        break;
    }
  }
  for (auto it = snap.queues.begin(); it != snap.queues.end();) {
    it = it->second.empty() ? snap.queues.erase(it) : std::next(it);
  }
  return snap;
}

}  // namespace maillab::ui
