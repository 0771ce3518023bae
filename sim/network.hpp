// The virtual network: hosts, TCP-like connections and UDP datagrams.
//
// Theory of operation.  Hosts have a name and an IPv4 address.  Every packet is
// an event on the scheduler, so the network is exactly as deterministic as the
// scheduler and its one PRNG.
//
//   connect   SYN -> (latency) -> the listener's accept callback runs and the
//             server side exists; SYN-ACK -> (latency) -> the client's connect
//             callback runs with `connected`.  Nobody listening: RST, `refused`
//             after one round trip.  Host down, unknown address or a cut link:
//             no answer, `timed_out` after ConnectOptions::timeout.
//   send      bytes arrive in order after latency plus serialisation time
//             (bandwidth).  A lost segment is retransmitted after the
//             retransmission timeout (RFC 6298: 1 s for SYN, doubling; 200 ms for
//             data, Linux's minimum), so loss shows as delay; after
//             `retries_max` losses in a row the connection breaks.
//   close     a FIN, delivered after the data sent before it; the peer's
//             on_close runs.  The connection is gone once both sides closed.
//   down      set_host_up(h, false) resets every connection of h: the peers'
//             on_close runs after one latency; h's own side is silently dropped
//             (its programs died with it).  Datagrams to or from h are lost.
//   UDP       datagrams are delivered once or lost (loss, cut link, host down).
//
// Fault knobs live in one LinkOptions per pair of hosts (latency, bandwidth,
// loss, cut = partition) and the host's up/down state.  An observer (the pcap
// writer, tests) sees every SYN, data segment, FIN, RST and datagram.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "net/core/time.hpp"
#include "sim/random.hpp"
#include "sim/scheduler.hpp"

namespace maillab::sim {

using Ipv4 = std::array<std::uint8_t, 4>;
std::string format_ipv4(const Ipv4& address);
std::optional<Ipv4> parse_ipv4(std::string_view text);

using HostId = std::uint32_t;
using ConnectionId = std::uint64_t;

enum class Side : std::uint8_t { client = 0, server = 1 };
constexpr Side other(Side side) { return side == Side::client ? Side::server : Side::client; }

struct Endpoint {
  HostId host = 0;
  Ipv4 address{};
  std::uint16_t port = 0;
};

struct LinkOptions {
  Duration latency{1000};         // one way
  std::uint64_t bandwidth_bps = 0;  // 0: unlimited
  double loss = 0.0;              // per segment / datagram, 0..1
  bool cut = false;               // a partition: nothing gets through
};

struct ConnectOptions {
  Duration timeout{30'000'000};
  int retries_max = 6;
};

enum class ConnectOutcome : std::uint8_t { connected, refused, timed_out };
std::string_view to_string(ConnectOutcome outcome);

struct StreamHandlers {
  std::function<void(std::string_view bytes)> on_data;
  std::function<void()> on_close;  // the peer closed, or the connection broke
};

struct Datagram {
  Endpoint source;
  Endpoint destination;
  std::vector<std::uint8_t> payload;
};

class NetworkObserver {
 public:
  virtual ~NetworkObserver() = default;
  virtual void tcp_syn(ConnectionId, const Endpoint& /*client*/, const Endpoint& /*server*/) {}
  virtual void tcp_established(ConnectionId) {}
  virtual void tcp_reset(ConnectionId, Side /*from*/) {}
  virtual void tcp_data(ConnectionId, Side /*from*/, std::string_view /*bytes*/) {}
  virtual void tcp_fin(ConnectionId, Side /*from*/) {}
  virtual void udp(const Datagram&) {}
};

class Network {
 public:
  using AcceptFn = std::function<StreamHandlers(ConnectionId)>;
  using ConnectFn = std::function<void(ConnectOutcome, ConnectionId)>;
  using DatagramFn = std::function<void(const Datagram&)>;

  Network(Scheduler& scheduler, Prng& prng) : scheduler_(scheduler), prng_(prng) {}

  HostId add_host(std::string name, Ipv4 address);
  [[nodiscard]] std::optional<HostId> find_host(std::string_view name) const;
  [[nodiscard]] std::optional<HostId> host_by_address(const Ipv4& address) const;
  [[nodiscard]] const std::string& host_name(HostId host) const { return hosts_.at(host).name; }
  [[nodiscard]] const Ipv4& host_address(HostId host) const { return hosts_.at(host).address; }
  [[nodiscard]] std::size_t host_count() const { return hosts_.size(); }
  [[nodiscard]] bool host_up(HostId host) const { return hosts_.at(host).up; }
  void set_host_up(HostId host, bool up);

  void set_default_link(const LinkOptions& options) { default_link_ = options; }
  void set_link(HostId a, HostId b, const LinkOptions& options);
  [[nodiscard]] LinkOptions link(HostId a, HostId b) const;
  void set_observer(NetworkObserver* observer) { observer_ = observer; }

  // TCP.
  void listen(HostId host, std::uint16_t port, AcceptFn on_accept);
  void unlisten(HostId host, std::uint16_t port);
  void connect(HostId from, const Ipv4& to, std::uint16_t port, ConnectFn on_result,
               ConnectOptions options = {});
  // Handlers of one side; data that arrived before them is handed over at once.
  void set_handlers(ConnectionId id, Side side, StreamHandlers handlers);
  // The bytes travel as one segment; the std::string overload moves them in
  // instead of copying.
  void send(ConnectionId id, Side from, std::string bytes);
  void send(ConnectionId id, Side from, std::string_view bytes) { send(id, from, std::string(bytes)); }
  void send(ConnectionId id, Side from, const char* bytes) { send(id, from, std::string(bytes)); }
  void close(ConnectionId id, Side from);
  [[nodiscard]] bool is_open(ConnectionId id) const { return connections_.count(id) != 0; }
  [[nodiscard]] const Endpoint& endpoint(ConnectionId id, Side side) const {
    return connections_.at(id).ends[static_cast<int>(side)];
  }
  [[nodiscard]] std::size_t open_connections() const { return connections_.size(); }

  // UDP.
  void bind_udp(HostId host, std::uint16_t port, DatagramFn on_datagram);
  void unbind_udp(HostId host, std::uint16_t port);
  void send_udp(HostId from, std::uint16_t from_port, const Ipv4& to, std::uint16_t to_port,
                std::vector<std::uint8_t> payload);
  std::uint16_t ephemeral_port(HostId host);

 private:
  struct Host {
    std::string name;
    Ipv4 address{};
    bool up = true;
    std::uint16_t next_port = 49152;
  };
  struct Connection {
    std::array<Endpoint, 2> ends{};
    std::array<StreamHandlers, 2> handlers{};
    std::array<std::string, 2> pending{};      // arrived before handlers were set
    std::array<bool, 2> pending_close{};
    std::array<bool, 2> fin_sent{};
    std::array<bool, 2> fin_delivered{};
    std::array<Instant, 2> last_arrival{};     // per receiving side, keeps order
    std::array<Instant, 2> busy_until{};       // per sending side, bandwidth
    // Segments on their way to each side, oldest first (from `head`): each
    // arrival event takes the oldest, so an event holds no bytes of its own.
    std::array<std::vector<std::string>, 2> in_flight{};
    std::array<std::size_t, 2> in_flight_head{};
    // Bumped whenever a side's handlers are replaced or dropped, so that
    // deliver() knows whether to put back the on_data it called.
    std::array<std::uint64_t, 2> handlers_version{};
  };

  bool reachable(HostId a, HostId b) const;
  // When a transmission from a to b, sent now, arrives; nullopt when it is
  // lost more than retries_max times (the connection breaks).
  std::optional<Instant> transit(HostId a, HostId b, std::size_t bytes, Instant& busy_until,
                                 Duration rto);
  void deliver(ConnectionId id, Side to, std::string_view bytes);
  void deliver_segment(ConnectionId id, Side to);
  void deliver_close(ConnectionId id, Side to);
  void break_connection(ConnectionId id, std::optional<Side> dead_side);

  Scheduler& scheduler_;
  Prng& prng_;
  NetworkObserver* observer_ = nullptr;
  std::vector<Host> hosts_;
  // Every connect and datagram looks its peer up: keyed by the address as one
  // 32-bit number, which compares in one instruction (std::array's <=> calls memcmp).
  static std::uint32_t address_key(const Ipv4& a) {
    return std::uint32_t{a[0]} << 24 | std::uint32_t{a[1]} << 16 | std::uint32_t{a[2]} << 8 | a[3];
  }
  std::unordered_map<std::uint32_t, HostId> by_address_;
  LinkOptions default_link_{};
  std::map<std::pair<HostId, HostId>, LinkOptions> links_;
  std::map<std::pair<HostId, std::uint16_t>, AcceptFn> listeners_;
  std::map<std::pair<HostId, std::uint16_t>, DatagramFn> udp_bindings_;
  std::map<ConnectionId, Connection> connections_;
  ConnectionId next_connection_ = 1;
};

}  // namespace maillab::sim
