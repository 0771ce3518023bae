// EngineSession: runs one sans-I/O protocol engine (SMTP, POP3, IMAP; client or
// server) over one virtual connection, with TLS in between after STARTTLS.
//
// Theory of operation (net/core/engine.hpp is the contract driven here).
//   bytes in    the network hands ciphertext to the TlsEngine once TLS runs,
//               plaintext to the engine; the first time the TLS handshake is
//               complete the engine hears handle_tls_established().
//   pump        drains poll_transmit() first (so the server's "220 Ready to
//               start TLS" leaves in clear), then events: LineEvent goes to the
//               trace, StartTlsEvent creates the TlsEngine (client: sends its
//               ClientHello), CloseEvent closes (close_notify, then FIN), every
//               other event goes to on_event.  Repeats until nothing moves.
//               An engine told to count its sent lines instead of reporting
//               them (LineEventOptions::sent) has its count added to the trace's.
//   timers      one scheduler event at poll_timeout(), re-armed after each pump.
//   peer close  handle_close(), a last pump, our FIN, on_closed.
// Sessions are held by shared_ptr; callbacks hold weak_ptrs, so a session
// that its owner dropped (its host went down) is never called again.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>

#include "net/core/engine.hpp"
#include "net/tls/tls_context.hpp"
#include "net/tls/tls_engine.hpp"
#include "sim/network.hpp"
#include "sim/scheduler.hpp"
#include "sim/trace.hpp"

namespace maillab::sim {

// The engines' line options in the simulator: EngineSession records each line on
// its sender's side only, and only counts them when nobody wants the events.
inline net::LineEventOptions sender_side_lines(const Trace& trace) {
  return net::LineEventOptions{.peer = false, .sent = trace.wants_events()};
}

struct SessionLabel {
  std::string self;   // this side's host name
  std::string peer;   // the other side's host name
  std::string proto;  // "smtp", "submission", "pop3", "imap"
  bool is_client = true;
};

template <typename Engine>
class EngineSession : public std::enable_shared_from_this<EngineSession<Engine>> {
 public:
  using Event = typename std::invoke_result_t<decltype(&Engine::poll_event), Engine&>::value_type;

  EngineSession(Network& network, Scheduler& scheduler, Trace& trace, ConnectionId id, Side side,
                SessionLabel label, std::optional<net::tls::TlsContext> tls_context, std::string tls_server_name)
      : network_(network),
        scheduler_(scheduler),
        trace_(trace),
        id_(id),
        side_(side),
        label_(std::move(label)),
        tls_context_(std::move(tls_context)),
        tls_server_name_(std::move(tls_server_name)) {}

  std::function<void(Event&)> on_event;
  std::function<void()> on_closed;
  std::string msg;  // the Message-ID the lines are about, when there is one

  template <typename... Args>
  void start(Args&&... args) {
    engine_ = std::make_unique<Engine>(std::forward<Args>(args)...);
    std::weak_ptr<EngineSession> weak = this->shared_from_this();
    network_.set_handlers(id_, side_,
                          StreamHandlers{[weak](std::string_view bytes) {
                                           if (auto self = weak.lock()) self->on_bytes(bytes);
                                         },
                                         [weak] {
                                           if (auto self = weak.lock()) self->on_peer_close();
                                         }});
    pump();
  }

  Engine& engine() { return *engine_; }
  [[nodiscard]] bool closed() const { return closed_; }
  [[nodiscard]] ConnectionId id() const { return id_; }

  void pump() {
    if (closed_ || !engine_) return;
    auto keep_alive = this->shared_from_this();
    bool moved = true;
    while (moved && !closed_) {
      moved = false;
      std::string out = engine_->poll_transmit();
      if (!out.empty()) {
        moved = true;
        write(std::move(out));
      }
      while (auto event = engine_->poll_event()) {
        moved = true;
        handle_event(*event);
        if (closed_) return;
      }
    }
    count_sent_lines();
    arm_timer();
  }

  // The owner gives up on this session (its host went down): no more callbacks.
  void abandon() {
    closed_ = true;
    disarm_timer();
  }

 private:
  void record_line(net::LineEvent& line) {
    const bool from_self = (line.dir == net::Direction::client_to_server) == label_.is_client;
    // Each line is recorded once, by the side that sent it.
    if (!from_self) return;
    if (!trace_.wants_events()) return trace_.count_line();
    TraceEvent event;
    event.t = scheduler_.now();
    event.kind = TraceKind::line;
    event.src = label_.self;
    event.dst = label_.peer;
    event.proto = label_.proto;
    event.dir = line.dir == net::Direction::client_to_server ? 'C' : 'S';
    event.text = std::move(line.text);
    event.tls = line.tls;
    event.msg = msg;
    trace_.add(std::move(event));
  }

  // An engine whose sent lines are counted, not reported (LineEventOptions::sent
  // off: nobody keeps, prints or watches the transcript), adds its count here.
  void count_sent_lines() {
    if constexpr (requires(const Engine& e) { e.lines_sent(); }) {
      if (engine_->sent_line_events()) return;
      const std::uint64_t sent = engine_->lines_sent();
      trace_.count_lines(sent - lines_counted_);
      lines_counted_ = sent;
    }
  }

  void handle_event(Event& event) {
    if (auto* line = std::get_if<net::LineEvent>(&event)) return record_line(*line);
    if (std::holds_alternative<net::StartTlsEvent>(event)) return start_tls();
    if (std::holds_alternative<net::CloseEvent>(event)) {
      if (on_event) on_event(event);
      return close_connection();
    }
    if (std::holds_alternative<net::StateEvent>(event)) return;
    if (on_event) on_event(event);
  }

  void write(std::string plaintext) {
    if (tls_) {
      tls_->write_plaintext(plaintext);
      flush_tls();
    } else {
      network_.send(id_, side_, std::move(plaintext));
    }
  }

  void flush_tls() {
    std::string cipher = tls_->poll_ciphertext();
    if (!cipher.empty()) network_.send(id_, side_, std::move(cipher));
  }

  void start_tls() {
    if (!tls_context_) return close_connection();
    auto engine = label_.is_client ? net::tls::TlsEngine::client(*tls_context_, tls_server_name_)
                                   : net::tls::TlsEngine::server(*tls_context_);
    if (!engine) {
      trace_.add(TraceEvent{scheduler_.now(), TraceKind::tls, label_.self, label_.peer, label_.proto, 0,
                            engine.error().message, false, msg});
      return close_connection();
    }
    tls_.emplace(std::move(engine).value());
    flush_tls();
  }

  void on_bytes(std::string_view bytes) {
    if (closed_) return;
    auto keep_alive = this->shared_from_this();
    if (!tls_) {
      engine_->handle_bytes(scheduler_.now(), bytes);
      return pump();
    }
    tls_->handle_ciphertext(bytes);
    flush_tls();
    if (tls_->failed()) {
      const std::string why = tls_->error() ? tls_->error()->message : "TLS failed";
      trace_.add(TraceEvent{scheduler_.now(), TraceKind::tls, label_.self, label_.peer, label_.proto, 0, why, false,
                            msg});
      engine_->handle_close(scheduler_.now());
      pump();
      return close_connection();
    }
    if (!tls_announced_ && tls_->handshake_complete()) {
      tls_announced_ = true;
      if (label_.is_client)
        trace_.add(TraceEvent{scheduler_.now(), TraceKind::tls, label_.self, label_.peer, label_.proto, 0,
                              "handshake complete: " + tls_->description(), true, msg});
      engine_->handle_tls_established(scheduler_.now());
    }
    std::string plain = tls_->poll_plaintext();
    if (!plain.empty()) engine_->handle_bytes(scheduler_.now(), plain);
    pump();
  }

  void on_peer_close() {
    if (closed_) return;
    auto keep_alive = this->shared_from_this();
    engine_->handle_close(scheduler_.now());
    pump();
    close_connection();
  }

  void close_connection() {
    if (closed_) return;
    closed_ = true;
    count_sent_lines();
    disarm_timer();
    if (tls_ && tls_->handshake_complete() && !tls_->failed()) {
      tls_->close();
      flush_tls();
    }
    network_.close(id_, side_);
    if (on_closed) {
      auto done = std::move(on_closed);
      done();
    }
  }

  // The engine's timer is `timer_`: the (time, sequence) key that scheduling
  // it at its latest arming gives.  On the heap sits `queued_`, the event of
  // an earlier arming when the deadline only moved later (each line restarts
  // an idle timeout): when it comes due it re-queues itself under timer_'s
  // reserved key (scheduler.hpp), so timeouts run in the same order as with
  // a cancel and a new event per arming, without two heap updates per line.
  void arm_timer() {
    const Instant deadline = engine_->poll_timeout();
    if (timer_.valid() && timer_.at == deadline) return;
    if (deadline == never) return disarm_timer();
    const Instant due = deadline < scheduler_.now() ? scheduler_.now() : deadline;
    timer_ = EventId{due, scheduler_.reserve_sequences(1), 0};
    if (queued_.valid() && queued_.at <= due) return;
    scheduler_.cancel(queued_);
    queue_timer();
  }

  void queue_timer() {
    std::weak_ptr<EngineSession> weak = this->shared_from_this();
    const std::uint64_t sequence = timer_.sequence;
    queued_ = scheduler_.at_reserved(timer_.at, sequence, [weak, sequence] {
      auto self = weak.lock();
      if (!self || self->closed_) return;
      self->queued_ = {};
      if (self->timer_.sequence != sequence) return self->queue_timer();  // re-armed later meanwhile
      self->timer_ = {};
      self->engine_->handle_timeout(self->scheduler_.now());
      self->pump();
    });
  }

  void disarm_timer() {
    scheduler_.cancel(queued_);
    queued_ = {};
    timer_ = {};
  }

  Network& network_;
  Scheduler& scheduler_;
  Trace& trace_;
  ConnectionId id_;
  Side side_;
  SessionLabel label_;
  std::optional<net::tls::TlsContext> tls_context_;
  std::string tls_server_name_;
  // Apart from the session: together they are over 1 KiB (an SMTP server 1.3 KiB), past the
  // allocator's fast path for small blocks (glibc's bins consolidated their fast chunks first).
  std::unique_ptr<Engine> engine_;
  std::optional<net::tls::TlsEngine> tls_;
  bool tls_announced_ = false;
  bool closed_ = false;
  std::uint64_t lines_counted_ = 0;  // of engine_->lines_sent(), handed to the trace
  EventId timer_{};   // the armed timer's key (its slot unused)
  EventId queued_{};  // the event on the heap for it
};

}  // namespace maillab::sim
