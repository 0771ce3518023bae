#include "sim/network.hpp"

#include <cassert>
#include <charconv>
#include <memory>
#include <utility>

#include "net/core/decimal.hpp"

namespace maillab::sim {

std::string format_ipv4(const Ipv4& address) {
  // At most 15 characters: the string keeps them inline, with no allocation.
  std::string out;
  for (std::size_t i = 0; i < 4; ++i) {
    if (i > 0) out += '.';
    net::append_decimal(out, static_cast<unsigned>(address[i]));
  }
  return out;
}

std::optional<Ipv4> parse_ipv4(std::string_view text) {
  Ipv4 out{};
  const char* p = text.data();
  const char* end = text.data() + text.size();
  for (std::size_t i = 0; i < 4; ++i) {
    if (i > 0) {
      if (p == end || *p != '.') return std::nullopt;
      ++p;
    }
    unsigned value = 0;
    auto [next, ec] = std::from_chars(p, end, value);
    if (ec != std::errc{} || next == p || next - p > 3 || value > 255) return std::nullopt;
    out[i] = static_cast<std::uint8_t>(value);
    p = next;
  }
  if (p != end) return std::nullopt;
  return out;
}

std::string_view to_string(ConnectOutcome outcome) {
  switch (outcome) {
    case ConnectOutcome::connected: return "connected";
    case ConnectOutcome::refused: return "connection refused";
    case ConnectOutcome::timed_out: return "connection timed out";
  }
  return "?";
}

HostId Network::add_host(std::string name, Ipv4 address) {
  assert(!find_host(name));
  hosts_.push_back(Host{std::move(name), address, true, 49152});
  const auto id = static_cast<HostId>(hosts_.size() - 1);
  by_address_.try_emplace(address_key(address), id);  // the first host with an address keeps it
  return id;
}

std::optional<HostId> Network::find_host(std::string_view name) const {
  for (std::size_t i = 0; i < hosts_.size(); ++i)
    if (hosts_[i].name == name) return static_cast<HostId>(i);
  return std::nullopt;
}

std::optional<HostId> Network::host_by_address(const Ipv4& address) const {
  auto it = by_address_.find(address_key(address));
  if (it == by_address_.end()) return std::nullopt;
  return it->second;
}

void Network::set_host_up(HostId host, bool up) {
  auto& h = hosts_.at(host);
  if (h.up == up) return;
  h.up = up;
  if (up) return;
  std::vector<std::pair<ConnectionId, Side>> doomed;
  for (const auto& [id, c] : connections_) {
    if (c.ends[0].host == host) doomed.emplace_back(id, Side::client);
    else if (c.ends[1].host == host) doomed.emplace_back(id, Side::server);
  }
  for (auto [id, side] : doomed) break_connection(id, side);
}

void Network::set_link(HostId a, HostId b, const LinkOptions& options) {
  links_[std::minmax(a, b)] = options;
  if (!options.cut) return;
  std::vector<ConnectionId> doomed;
  for (const auto& [id, c] : connections_) {
    auto pair = std::minmax(c.ends[0].host, c.ends[1].host);
    if (pair == std::minmax(a, b)) doomed.push_back(id);
  }
  for (auto id : doomed) break_connection(id, std::nullopt);
}

LinkOptions Network::link(HostId a, HostId b) const {
  auto it = links_.find(std::minmax(a, b));
  return it == links_.end() ? default_link_ : it->second;
}

bool Network::reachable(HostId a, HostId b) const {
  return hosts_.at(a).up && hosts_.at(b).up && !link(a, b).cut;
}

std::optional<Instant> Network::transit(HostId a, HostId b, std::size_t bytes, Instant& busy_until,
                                        Duration rto) {
  const LinkOptions options = link(a, b);
  const Instant depart = busy_until > scheduler_.now() ? busy_until : scheduler_.now();
  Duration serialisation{0};
  if (options.bandwidth_bps > 0)
    serialisation = Duration{static_cast<std::int64_t>(bytes * 8ULL * 1'000'000ULL / options.bandwidth_bps)};
  busy_until = depart + serialisation;
  Instant arrival = depart + serialisation + options.latency;
  for (int tries = 0; prng_.chance(options.loss); ++tries) {
    if (tries >= 6) return std::nullopt;
    arrival = arrival + rto;
    rto = rto * 2;
  }
  return arrival;
}

void Network::listen(HostId host, std::uint16_t port, AcceptFn on_accept) {
  listeners_[{host, port}] = std::move(on_accept);
}

void Network::unlisten(HostId host, std::uint16_t port) { listeners_.erase({host, port}); }

std::uint16_t Network::ephemeral_port(HostId host) {
  auto& h = hosts_.at(host);
  const std::uint16_t port = h.next_port;
  h.next_port = h.next_port == 65535 ? 49152 : static_cast<std::uint16_t>(h.next_port + 1);
  return port;
}

void Network::connect(HostId from, const Ipv4& to, std::uint16_t port, ConnectFn on_result,
                      ConnectOptions options) {
  const ConnectionId id = next_connection_++;
  const Instant started = scheduler_.now();
  Endpoint client{from, hosts_.at(from).address, ephemeral_port(from)};
  const auto target = host_by_address(to);
  Endpoint server{target.value_or(0), to, port};
  if (observer_) observer_->tcp_syn(id, client, server);
  // Held once: the events below share it instead of each copying the caller's captures.
  auto result = std::make_shared<ConnectFn>(std::move(on_result));
  auto time_out = [this, started, timeout = options.timeout, result, id] {
    scheduler_.at(started + timeout, [result, id] { (*result)(ConnectOutcome::timed_out, id); });
  };
  if (!target || !reachable(from, *target)) return time_out();
  Instant busy = started;
  const auto syn_arrival = transit(from, *target, 0, busy, Duration{1'000'000});
  if (!syn_arrival || *syn_arrival > started + options.timeout) return time_out();
  scheduler_.at(*syn_arrival, [this, id, client, server, result, time_out] {
    if (!reachable(client.host, server.host)) return time_out();
    const Duration latency = link(client.host, server.host).latency;
    auto listener = listeners_.find({server.host, server.port});
    if (listener == listeners_.end()) {
      if (observer_) observer_->tcp_reset(id, Side::server);
      scheduler_.after(latency, [result, id] { (*result)(ConnectOutcome::refused, id); });
      return;
    }
    Connection connection;
    connection.ends = {client, server};
    connections_.emplace(id, std::move(connection));
    if (observer_) observer_->tcp_established(id);
    scheduler_.after(latency, [this, id, result] {
      (*result)(connections_.count(id) ? ConnectOutcome::connected : ConnectOutcome::timed_out, id);
    });
    AcceptFn accept = listener->second;
    StreamHandlers handlers = accept(id);  // may also call set_handlers() itself
    if (connections_.count(id) && (handlers.on_data || handlers.on_close))
      set_handlers(id, Side::server, std::move(handlers));
  });
}

void Network::set_handlers(ConnectionId id, Side side, StreamHandlers handlers) {
  auto it = connections_.find(id);
  if (it == connections_.end()) return;
  const auto s = static_cast<int>(side);
  it->second.handlers[s] = std::move(handlers);
  ++it->second.handlers_version[s];
  if (it->second.pending[s].empty() && !it->second.pending_close[s]) return;
  std::string bytes = std::move(it->second.pending[s]);
  it->second.pending[s].clear();
  const bool closed = it->second.pending_close[s];
  it->second.pending_close[s] = false;
  scheduler_.after(Duration{0}, [this, id, side, bytes = std::move(bytes), closed]() mutable {
    if (!bytes.empty()) deliver(id, side, bytes);
    if (closed) deliver_close(id, side);
  });
}

void Network::send(ConnectionId id, Side from, std::string bytes) {
  auto it = connections_.find(id);
  if (it == connections_.end() || bytes.empty()) return;
  auto& c = it->second;
  const auto f = static_cast<int>(from);
  const auto t = 1 - f;
  if (c.fin_sent[f]) return;
  if (observer_) observer_->tcp_data(id, from, bytes);
  auto arrival = transit(c.ends[f].host, c.ends[t].host, bytes.size(), c.busy_until[f], Duration{200'000});
  if (!arrival) return break_connection(id, std::nullopt);
  if (*arrival < c.last_arrival[t]) arrival = c.last_arrival[t];
  c.last_arrival[t] = *arrival;
  // Arrivals towards one side are scheduled in sending order (never earlier
  // than the last one), so each event takes the oldest segment in flight.
  c.in_flight[t].push_back(std::move(bytes));
  // Two words: std::function keeps them without allocating.
  const std::uint64_t to_key = id * 2 + static_cast<std::uint64_t>(t);
  scheduler_.at(*arrival, [this, to_key] { deliver_segment(to_key / 2, static_cast<Side>(to_key % 2)); });
}

void Network::close(ConnectionId id, Side from) {
  auto it = connections_.find(id);
  if (it == connections_.end()) return;
  auto& c = it->second;
  const auto f = static_cast<int>(from);
  const auto t = 1 - f;
  if (c.fin_sent[f]) return;
  c.fin_sent[f] = true;
  c.handlers[f] = {};
  ++c.handlers_version[f];
  if (observer_) observer_->tcp_fin(id, from);
  Instant busy = c.busy_until[f];
  auto arrival = transit(c.ends[f].host, c.ends[t].host, 0, busy, Duration{200'000});
  if (!arrival) return break_connection(id, std::nullopt);
  if (*arrival < c.last_arrival[t]) arrival = c.last_arrival[t];
  c.last_arrival[t] = *arrival;
  scheduler_.at(*arrival, [this, id, to = other(from)] { deliver_close(id, to); });
}

void Network::deliver_segment(ConnectionId id, Side to) {
  auto it = connections_.find(id);
  if (it == connections_.end()) return;
  auto& c = it->second;
  const auto s = static_cast<int>(to);
  auto& queue = c.in_flight[s];
  std::string bytes = std::move(queue[c.in_flight_head[s]]);
  if (++c.in_flight_head[s] == queue.size()) {
    queue.clear();
    c.in_flight_head[s] = 0;
  }
  deliver(id, to, bytes);
}

void Network::deliver(ConnectionId id, Side to, std::string_view bytes) {
  auto it = connections_.find(id);
  if (it == connections_.end()) return;
  auto& c = it->second;
  const auto s = static_cast<int>(to);
  if (c.fin_sent[s]) return;  // this side closed: it reads no more
  if (!c.handlers[s].on_data) {
    c.pending[s] += bytes;
    return;
  }
  // The handler may close this side, replace its handlers or break the
  // connection while it runs: it runs from here, and goes back only when its
  // side's handlers were left alone meanwhile.
  auto on_data = std::move(c.handlers[s].on_data);
  c.handlers[s].on_data = nullptr;
  const std::uint64_t version = c.handlers_version[s];
  on_data(bytes);
  auto again = connections_.find(id);
  if (again != connections_.end() && again->second.handlers_version[s] == version)
    again->second.handlers[s].on_data = std::move(on_data);
}

void Network::deliver_close(ConnectionId id, Side to) {
  auto it = connections_.find(id);
  if (it == connections_.end()) return;
  auto& c = it->second;
  const auto s = static_cast<int>(to);
  c.fin_delivered[s] = true;
  std::function<void()> on_close;
  if (!c.fin_sent[s]) {
    if (!c.handlers[s].on_close) c.pending_close[s] = true;
    on_close = c.handlers[s].on_close;
  }
  if (c.fin_sent[0] && c.fin_sent[1] && c.fin_delivered[0] && c.fin_delivered[1]) connections_.erase(it);
  if (on_close) on_close();
}

void Network::break_connection(ConnectionId id, std::optional<Side> dead_side) {
  auto it = connections_.find(id);
  if (it == connections_.end()) return;
  auto c = std::move(it->second);
  connections_.erase(it);
  if (observer_) observer_->tcp_reset(id, dead_side.value_or(Side::client));
  const Duration latency = link(c.ends[0].host, c.ends[1].host).latency;
  for (Side side : {Side::client, Side::server}) {
    const auto s = static_cast<int>(side);
    if (dead_side == side || c.fin_sent[s] || !c.handlers[s].on_close) continue;
    scheduler_.after(dead_side ? latency : Duration{0}, c.handlers[s].on_close);
  }
}

void Network::bind_udp(HostId host, std::uint16_t port, DatagramFn on_datagram) {
  udp_bindings_[{host, port}] = std::move(on_datagram);
}

void Network::unbind_udp(HostId host, std::uint16_t port) { udp_bindings_.erase({host, port}); }

void Network::send_udp(HostId from, std::uint16_t from_port, const Ipv4& to, std::uint16_t to_port,
                       std::vector<std::uint8_t> payload) {
  const auto target = host_by_address(to);
  Datagram datagram{Endpoint{from, hosts_.at(from).address, from_port},
                    Endpoint{target.value_or(0), to, to_port}, std::move(payload)};
  if (observer_) observer_->udp(datagram);
  if (!target || !reachable(from, *target)) return;
  if (prng_.chance(link(from, *target).loss)) return;
  const Instant arrival = scheduler_.now() + link(from, *target).latency;
  scheduler_.at(arrival, [this, datagram = std::move(datagram)] {
    if (!hosts_.at(datagram.destination.host).up) return;
    auto it = udp_bindings_.find({datagram.destination.host, datagram.destination.port});
    if (it == udp_bindings_.end()) return;
    auto on_datagram = it->second;
    on_datagram(datagram);
  });
}

}  // namespace maillab::sim
