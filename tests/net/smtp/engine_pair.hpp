// An in-memory engine pair (after h11's ConnectionPair and quinn's test Pair):
// one client engine and one server engine wired back to back, with a shared
// virtual clock.  Generic over any two engines that follow the shared contract
// of net/core/engine.hpp (SMTP, POP3, IMAP), so other suites can include it.
//
// run() moves bytes both ways and pulls every event until nothing changes:
//   - every LineEvent goes into that side's transcript ("C: ..." / "S: ...");
//   - a StartTlsEvent from both sides, with no bytes in flight, stands in for the
//     TLS handshake: handle_tls_established() on the server, then the client
//     (the real TLS pair test runs net/tls in between);
//   - a CloseEvent delivers that side's last bytes, then handle_close() on the
//     other side (unless it asked to close as well);
//   - every event is also kept, and handed to on_client_event/on_server_event
//     (for drivers' duties such as storing a message).
// advance(d) moves the clock, firing each engine's poll_timeout() on the way.
// chunk_octets splits every delivery, to show parsers do not depend on framing.
#pragma once

#include <algorithm>
#include <cstddef>
#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "net/core/engine.hpp"
#include "net/core/time.hpp"

namespace maillab::testing {

template <typename Engine>
using EventOf = typename decltype(std::declval<Engine&>().poll_event())::value_type;

template <typename ClientEngine, typename ServerEngine>
class EnginePair {
 public:
  using ClientEvent = EventOf<ClientEngine>;
  using ServerEvent = EventOf<ServerEngine>;

  EnginePair(ClientEngine& client, ServerEngine& server, Instant start) : now(start), client_(client), server_(server) {}

  void run() {
    for (std::size_t round = 0; round < rounds_max; ++round) {
      bool progress = false;
      progress |= pull_events(client_, client_side_, client_events, on_client_event);
      progress |= pull_events(server_, server_side_, server_events, on_server_event);
      progress |= move_bytes(client_, client_side_, server_, server_side_);
      progress |= move_bytes(server_, server_side_, client_, client_side_);
      if (!progress) progress = finish_tls() || deliver_close(client_side_, server_, server_side_) ||
                                deliver_close(server_side_, client_, client_side_);
      if (!progress) return;
    }
    failed_to_settle = true;
  }

  // Moves the clock by `d`, firing each deadline on the way.
  void advance(Duration d) {
    const Instant target = now + d;
    run();
    for (std::size_t step = 0; step < rounds_max; ++step) {
      const Instant next = std::min(client_.poll_timeout(), server_.poll_timeout());
      if (next > target) break;
      now = std::max(now, next);
      if (client_.poll_timeout() <= now) client_.handle_timeout(now);
      if (server_.poll_timeout() <= now) server_.handle_timeout(now);
      run();
    }
    now = target;
    run();
  }

  // Lines as each side saw them: "C: EHLO x", "S: 250 ok".
  std::vector<std::string> client_transcript;
  std::vector<std::string> server_transcript;
  std::vector<ClientEvent> client_events;
  std::vector<ServerEvent> server_events;
  std::function<void(const ClientEvent&)> on_client_event;
  std::function<void(const ServerEvent&)> on_server_event;
  std::size_t chunk_octets = std::numeric_limits<std::size_t>::max();
  std::string client_wire;  // every byte the client sent
  std::string server_wire;
  bool tls_active = false;
  bool failed_to_settle = false;  // run() hit rounds_max: a livelock between the engines
  Instant now;

  [[nodiscard]] bool client_closed() const { return client_side_.close_requested || client_side_.peer_closed; }
  [[nodiscard]] bool server_closed() const { return server_side_.close_requested || server_side_.peer_closed; }

  template <typename T>
  [[nodiscard]] std::vector<T> client_events_of() const { return events_of<T>(client_events); }
  template <typename T>
  [[nodiscard]] std::vector<T> server_events_of() const { return events_of<T>(server_events); }

  static constexpr std::size_t rounds_max = 100000;

 private:
  struct Side {
    std::vector<std::string>* transcript = nullptr;
    std::string* wire = nullptr;
    bool tls_requested = false;
    bool close_requested = false;
    bool close_delivered = false;
    bool peer_closed = false;  // handle_close() was called on this side
  };

  template <typename T, typename Event>
  static std::vector<T> events_of(const std::vector<Event>& events) {
    std::vector<T> out;
    for (const auto& event : events) {
      if (const T* e = std::get_if<T>(&event)) out.push_back(*e);
    }
    return out;
  }

  template <typename Engine, typename Event>
  bool pull_events(Engine& engine, Side& side, std::vector<Event>& store,
                   const std::function<void(const Event&)>& hook) {
    bool any = false;
    while (auto event = engine.poll_event()) {
      any = true;
      if (const auto* line = std::get_if<net::LineEvent>(&*event)) {
        side.transcript->push_back(
            std::string(line->dir == net::Direction::client_to_server ? "C: " : "S: ") + line->text);
      }
      if (std::holds_alternative<net::StartTlsEvent>(*event)) side.tls_requested = true;
      if (std::holds_alternative<net::CloseEvent>(*event)) side.close_requested = true;
      store.push_back(*event);
      if (hook) hook(store.back());
    }
    return any;
  }

  template <typename From, typename To>
  bool move_bytes(From& from, Side& from_side, To& to, Side& to_side) {
    std::string bytes = from.poll_transmit();
    if (bytes.empty()) return false;
    *from_side.wire += bytes;
    if (to_side.close_requested || to_side.peer_closed) return true;  // nobody reads them
    for (std::size_t at = 0; at < bytes.size(); at += chunk_octets) {
      to.handle_bytes(now, std::string_view(bytes).substr(at, chunk_octets));
    }
    return true;
  }

  bool finish_tls() {
    if (!client_side_.tls_requested || !server_side_.tls_requested) return false;
    client_side_.tls_requested = server_side_.tls_requested = false;
    tls_active = true;
    server_.handle_tls_established(now);
    client_.handle_tls_established(now);
    return true;
  }

  template <typename Peer>
  bool deliver_close(Side& closing, Peer& peer, Side& peer_side) {
    if (!closing.close_requested || closing.close_delivered) return false;
    closing.close_delivered = true;
    if (peer_side.close_requested) return false;
    peer_side.peer_closed = true;
    peer.handle_close(now);
    return true;
  }

  ClientEngine& client_;
  ServerEngine& server_;
  Side client_side_{&client_transcript, &client_wire};
  Side server_side_{&server_transcript, &server_wire};
};

}  // namespace maillab::testing
