#include "net/io/tcp_server.hpp"

#include <algorithm>
#include <utility>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/post.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include "net/io/wall_clock.hpp"
#include "net/tls/tls_engine.hpp"

namespace maillab::net::io {

namespace {
constexpr auto use_tuple = asio::experimental::as_tuple(asio::use_awaitable);
constexpr int pump_rounds_max = 64;  // engine steps per wake-up; each one makes progress
constexpr std::size_t kKeptCiphertextBuffer = 64 * 1024;  // smaller ones are freed after each write
}  // namespace

std::string address_text(const asio::ip::address& address) {
  if (!address.is_v4()) return address.to_string();
  const auto bytes = address.to_v4().to_bytes();
  char text[16];  // "255.255.255.255"
  std::size_t size = 0;
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    if (i > 0) text[size++] = '.';
    const unsigned value = bytes[i];
    if (value >= 100) text[size++] = static_cast<char>('0' + value / 100);
    if (value >= 10) text[size++] = static_cast<char>('0' + value / 10 % 10);
    text[size++] = static_cast<char>('0' + value % 10);
  }
  return std::string(text, size);
}

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(TcpServer& server, const ServiceSpec& spec, asio::ip::tcp::socket socket,
             ConnectionLimiter::Ticket ticket, PeerInfo peer, std::uint64_t id)
      : id_(id),
        server_(server),
        spec_(spec),
        socket_(std::move(socket)),
        timer_(socket_.get_executor()),
        hold_timer_(socket_.get_executor()),
        drained_(socket_.get_executor()),
        ticket_(std::move(ticket)),
        peer_(std::move(peer)),
        credentials_(server.directory()) {}

  void start() {
    const Instant now = wall_now();
    // Before the first read or write: both try the socket at once (read_loop, queue_wire).
    asio::error_code ignored;
    socket_.non_blocking(true, ignored);
    if (auto* observer = server_.observer()) observer->opened(id_, spec_.name, peer_, now);
    if (spec_.implicit_tls && !begin_tls(now)) return finish(now);
    SessionContext context{peer_, spec_.implicit_tls, server_.tls().has_value(), credentials_, server_.log(), {}, {}};
    if (auto* observer = server_.observer())
      context.on_line = [observer, id = id_](const LineEvent& line) { observer->line(id, line, wall_now()); };
    // Later, not now: an answer may arrive while another connection is in its step.
    context.wake = [weak = weak_from_this(), executor = socket_.get_executor()] {
      asio::post(executor, [weak] {
        if (auto self = weak.lock()) self->pump(wall_now());
      });
    };
    engine_ = spec_.factory(context, now);
    auto self = shared_from_this();
    asio::co_spawn(socket_.get_executor(), [self]() { return self->read_loop(); }, asio::detached);
    asio::co_spawn(socket_.get_executor(), [self]() { return self->timer_loop(); }, asio::detached);
    pump(now);
  }

  // The server is stopping: the goodbye, then close once it is written.
  void shutdown() {
    if (closed_) return;
    const Instant now = wall_now();
    held_until_ = Instant{};
    set_hold(false);
    engine_->shutdown(now);
    pump(now);
    request_close(now);
  }

  [[nodiscard]] ConnectionView view() const {
    return {id_, spec_.name, peer_, hold_, static_cast<std::size_t>(std::count(held_.begin(), held_.end(), '\n'))};
  }
  [[nodiscard]] std::uint64_t id() const { return id_; }

  void set_hold(bool hold) {
    hold_ = hold;
    if (!hold) release(held_.size());
  }

  // Releases the next held line; false when there was none.
  bool step() {
    if (held_.empty()) return false;
    const auto end = held_.find('\n');
    release(end == std::string::npos ? held_.size() : end + 1);
    return true;
  }

  [[nodiscard]] bool watches_store() const { return !closed_ && engine_ && engine_->watches_store(); }

  void store_changed() {
    if (!watches_store()) return;
    const Instant now = wall_now();
    engine_->handle_store_changed(now);
    pump(now);
  }

  // Closes the socket now.  Safe to call more than once.
  void finish(Instant now) {
    if (closed_) return;
    closed_ = true;
    if (engine_) engine_->handle_close(now);
    if (auto* observer = server_.observer()) observer->closed(id_, now);
    // close() alone sends the FIN: no other process holds the descriptor, so a
    // shutdown() first would be one more system call per connection.
    asio::error_code ignored;
    socket_.close(ignored);
    timer_.cancel();
    hold_timer_.cancel();
    drained_.cancel();
    // Nothing more can be sent: the output waiting here goes now (a write in
    // progress frees its own buffer when it ends, in write_loop).
    std::string().swap(wire_out_);
    std::string().swap(held_);
    server_.forget(this);
  }

 private:
  asio::awaitable<void> read_loop() {
    auto self = shared_from_this();
    while (!closed_) {
      if (held_until_ > wall_now()) {
        hold_timer_.expires_at(to_steady(held_until_));
        co_await hold_timer_.async_wait(use_tuple);
        if (closed_) break;
        if (held_until_ > wall_now()) continue;
        pump(wall_now());
        continue;
      }
      if (output_full()) {
        drained_.expires_at(std::chrono::steady_clock::time_point::max());
        draining_ = true;
        co_await drained_.async_wait(use_tuple);
        draining_ = false;
        continue;
      }
      if (close_requested_) break;
      // Wait for bytes without a buffer of our own, then read them into the server's.
      auto [waited] = co_await socket_.async_wait(asio::ip::tcp::socket::wait_read, use_tuple);
      if (closed_) break;
      const std::span<char> buffer = server_.read_buffer();
      asio::error_code error = waited;
      std::size_t octets = 0;
      if (!error) octets = socket_.read_some(asio::buffer(buffer.data(), buffer.size()), error);
      if (error == asio::error::would_block || error == asio::error::try_again) continue;
      const Instant now = wall_now();
      if (error) {
        finish(now);  // the peer closed or reset: an event, not an exception
        break;
      }
      feed(now, std::string_view(buffer.data(), octets));
    }
  }

  asio::awaitable<void> timer_loop() {
    auto self = shared_from_this();
    while (!closed_) {
      armed_ = deadline();
      timer_.expires_at(to_steady(armed_));
      co_await timer_.async_wait(use_tuple);
      if (closed_) break;
      const Instant now = wall_now();
      if (now >= tls_deadline_) {
        log("TLS handshake timed out");
        finish(now);
        break;
      }
      if (now >= write_deadline_) {
        // Catalogue row 42: the client has taken nothing for the output timeout.
        const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(server_.limits().output_timeout);
        log("output timeout: no output taken for " + std::to_string(seconds.count()) + " s with " +
            std::to_string(pending_octets()) + " octets pending; connection closed");
        finish(now);
        break;
      }
      if (!output_full() && now >= engine_->poll_timeout()) {
        engine_->handle_timeout(now);
        pump(now);
      }
    }
  }

  asio::awaitable<void> write_loop() {
    auto self = shared_from_this();
    const Duration timeout = server_.limits().output_timeout;
    bool failed = false;
    while (!wire_out_.empty() && !closed_ && !failed) {
      // Two buffers that trade places: their capacity is kept, so a long FETCH
      // does not allocate and copy a fresh string for every write.
      in_writing_.clear();
      in_writing_.swap(wire_out_);
      in_flight_ = in_writing_.size();
      write_deadline_ = wall_now() + timeout;
      rearm();
      std::size_t sent = 0;
      while (sent < in_writing_.size()) {
        auto [error, octets] = co_await socket_.async_write_some(
            asio::buffer(in_writing_.data() + sent, in_writing_.size() - sent), use_tuple);
        if (error || closed_) {
          failed = true;
          break;
        }
        sent += octets;
        in_flight_ = in_writing_.size() - sent;
        // Progress moves the deadline; the armed timer finds it later and waits again.
        if (octets > 0) write_deadline_ = wall_now() + timeout;
      }
      in_flight_ = 0;
      write_deadline_ = never;
      if (failed) break;
      rearm();  // below the output limit again: the engine's own deadline counts again
    }
    if (failed) {
      std::string().swap(in_writing_);
      finish(wall_now());
    }
    writing_ = false;
    drained_.cancel();
    if (!closed_ && std::exchange(pump_cut_, false)) pump(wall_now());
    if (!closed_ && close_requested_ && wire_out_.empty() && !writing_) finish(wall_now());
  }

  // The client has not taken what it was sent: no more input is read and the
  // engine is not asked for more output (a long FETCH waits) until it drains.
  [[nodiscard]] bool output_full() const {
    return wire_out_.size() + in_flight_ + held_.size() > server_.limits().pending_output_max;
  }

  [[nodiscard]] Instant deadline() const {
    Instant next = std::min(tls_deadline_, write_deadline_);
    if (engine_ && !output_full()) next = std::min(next, engine_->poll_timeout());
    return next;
  }

  // The timer is re-armed only when the next deadline is earlier than the armed
  // one; one that fires early finds the later deadline and waits again.
  void rearm() {
    if (!closed_ && deadline() < armed_) timer_.cancel();
  }

  [[nodiscard]] std::size_t pending_octets() const { return wire_out_.size() + in_flight_; }

  void feed(Instant now, std::string_view bytes) {
    if (!tls_) {
      engine_->handle_bytes(now, bytes);
      return pump(now);
    }
    tls_->handle_ciphertext(bytes);
    queue_ciphertext();
    if (tls_->failed()) {
      log(tls_->error() ? tls_->error()->message : "TLS failed");
      return request_close(now);
    }
    if (!tls_ready_ && tls_->handshake_complete()) {
      tls_ready_ = true;
      tls_deadline_ = never;
      if (!spec_.implicit_tls) engine_->handle_tls_established(now);
    }
    const std::string plain = tls_->poll_plaintext();
    if (!plain.empty()) engine_->handle_bytes(now, plain);
    if (tls_->peer_closed()) {
      pump(now);
      return finish(now);
    }
    pump(now);
  }

  // Drains the engine: output, then requests, until it has nothing more.
  void pump(Instant now) {
    if (closed_ || !engine_) return;
    note_logins(now);
    if (held_until_ > now) return rearm();
    for (int round = 0; round < pump_rounds_max; ++round) {
      if (output_full()) {
        pump_cut_ = true;  // the rest when the output has drained (write_loop)
        break;
      }
      send_plain(engine_->poll_transmit());
      const SessionRequests requests = engine_->poll_requests(now);
      note_logins(now);
      if (held_until_ > now) break;
      if (requests.start_tls) {
        send_plain(engine_->poll_transmit());  // the go-ahead, in the clear
        release(held_.size());                 // even when held: TLS starts right behind it
        if (!begin_tls(now)) return finish(now);
      }
      if (requests.close) {
        send_plain(engine_->poll_transmit());
        return request_close(now);
      }
      if (!requests.more) break;
    }
    rearm();
    server_.after_activity();
  }

  void note_logins(Instant now) {
    if (credentials_.take_successes() > 0) server_.penalty().record_success(peer_.address);
    for (std::uint32_t failures = credentials_.take_failures(); failures > 0; --failures) {
      const Duration delay = server_.penalty().record_failure(peer_.address, now);
      held_until_ = std::max(held_until_, now + delay);
    }
  }

  bool begin_tls(Instant now) {
    if (!server_.tls()) return false;
    auto engine = tls::TlsEngine::server(*server_.tls());
    if (!engine) {
      log(engine.error().message);
      return false;
    }
    tls_.emplace(std::move(engine).value());
    tls_deadline_ = now + server_.limits().tls_handshake;
    return true;
  }

  void send_plain(std::string bytes) {
    if (bytes.empty()) return;
    if (hold_) {
      held_ += bytes;
      return;
    }
    send_now(bytes);
  }

  // The first `octets` of the held output go out; a close that waited for them follows.
  void release(std::size_t octets) {
    if (octets == 0) return;
    std::string out = held_.substr(0, octets);
    held_.erase(0, octets);
    send_now(out);
    if (held_.empty() && close_after_release_) {
      close_after_release_ = false;
      request_close(wall_now());
    }
  }

  void send_now(std::string_view bytes) {
    if (!tls_) return queue_wire(bytes);
    if (tls_->failed()) return;
    tls_->write_plaintext(bytes);
    queue_ciphertext();
  }

  // Through one buffer that a long FETCH or RETR keeps: a fresh one per 256 KiB
  // slice cost page faults and zeroing in a 10k BODY.PEEK[].  An idle session
  // keeps none (memory per idle session, issue 7).
  void queue_ciphertext() {
    tls_->poll_ciphertext(ciphertext_);
    queue_wire(ciphertext_);
    ciphertext_.clear();
    if (ciphertext_.capacity() < kKeptCiphertextBuffer) std::string().swap(ciphertext_);
  }

  void queue_wire(std::string_view bytes) {
    if (bytes.empty() || closed_) return;
    if (!writing_ && !pump_cut_) {
      // Nothing is queued ahead: the socket takes a reply at once almost always
      // (one send, no writer coroutine); what it does not take, or an error,
      // goes to write_loop, which waits for room or reports the error.
      asio::error_code error;
      const std::size_t octets = socket_.write_some(asio::buffer(bytes.data(), bytes.size()), error);
      if (!error && octets == bytes.size()) {
        if (draining_) drained_.cancel();  // read_loop waited for held output that has now gone
        return;
      }
      if (!error) bytes.remove_prefix(octets);
    }
    wire_out_ += bytes;
    if (writing_) return;
    writing_ = true;
    auto self = shared_from_this();
    asio::co_spawn(socket_.get_executor(), [self]() { return self->write_loop(); }, asio::detached);
  }

  void request_close(Instant now) {
    if (close_requested_ || closed_) return;
    if (!held_.empty()) {
      close_after_release_ = true;  // the teacher has not stepped the last replies out yet
      return;
    }
    close_requested_ = true;
    if (tls_ && !tls_->failed()) {
      tls_->close();  // close_notify, RFC 8446 §6.1
      queue_ciphertext();
    }
    if (!writing_) finish(now);
  }

  void log(const std::string& what) {
    if (server_.log()) server_.log()(spec_.name + " " + peer_.address + ": " + what);
  }

  std::uint64_t id_;
  TcpServer& server_;
  const ServiceSpec& spec_;
  asio::ip::tcp::socket socket_;
  asio::steady_timer timer_;
  asio::steady_timer hold_timer_;
  asio::steady_timer drained_;
  ConnectionLimiter::Ticket ticket_;
  PeerInfo peer_;
  CountingCredentials credentials_;  // before engine_: the engine holds a reference
  std::unique_ptr<SessionEngine> engine_;
  std::optional<tls::TlsEngine> tls_;
  bool tls_ready_ = false;
  std::string ciphertext_;  // see queue_ciphertext
  std::string wire_out_;
  std::string in_writing_;  // what the current async_write sends
  std::size_t in_flight_ = 0;
  bool writing_ = false;
  bool close_requested_ = false;
  bool closed_ = false;
  bool hold_ = false;
  bool pump_cut_ = false;  // pump() stopped at the output limit with work left
  bool draining_ = false;  // read_loop waits on drained_ for the output to go
  bool close_after_release_ = false;
  std::string held_;  // output held back for live stepping
  Instant armed_ = never;
  Instant held_until_{};
  Instant tls_deadline_ = never;
  Instant write_deadline_ = never;
};

struct TcpServer::Listener {
  Listener(asio::io_context& io, ServiceSpec service) : spec(std::move(service)), acceptor(io) {}
  ServiceSpec spec;
  asio::ip::tcp::acceptor acceptor;
};

TcpServer::TcpServer(asio::io_context& io, const CredentialChecker& directory, std::optional<tls::TlsContext> tls,
                     ConnectionCaps caps, LogSink log, DriverLimits limits)
    : io_(io),
      directory_(directory),
      tls_(std::move(tls)),
      limiter_(caps),
      log_(std::move(log)),
      limits_(limits) {}

TcpServer::~TcpServer() {
  // Connections refer to the listeners' specs and to this server.
  for (auto& connection : std::list<std::shared_ptr<Connection>>(connections_)) connection->finish(wall_now());
}

Result<std::uint16_t> TcpServer::listen(const std::string& address, ServiceSpec spec) {
  asio::error_code error;
  const auto ip = asio::ip::make_address(address, error);
  if (error) return make_error(ErrorCategory::invalid_argument, "--bind: '" + address + "' is not an IP address");
  auto listener = std::make_unique<Listener>(io_, std::move(spec));
  const asio::ip::tcp::endpoint endpoint(ip, listener->spec.port);
  auto& acceptor = listener->acceptor;
  const std::string where = listener->spec.name + " on " + address + " port " + std::to_string(listener->spec.port);
  acceptor.open(endpoint.protocol(), error);
  if (!error) acceptor.set_option(asio::ip::tcp::acceptor::reuse_address(true), error);
  // Replies leave at once (no Nagle delay behind an unacknowledged segment); on
  // Linux accepted sockets inherit it, which saves a setsockopt per connection.
  if (!error) acceptor.set_option(asio::ip::tcp::no_delay(true), error);
  if (!error) acceptor.bind(endpoint, error);
  if (!error) acceptor.listen(asio::socket_base::max_listen_connections, error);
  if (error) return make_error(ErrorCategory::io, where + ": " + error.message());
  const std::uint16_t bound = acceptor.local_endpoint(error).port();
  listeners_.push_back(std::move(listener));
  return bound;
}

void TcpServer::start() {
  for (auto& listener : listeners_) {
    Listener* l = listener.get();
    asio::co_spawn(
        io_,
        [this, l]() -> asio::awaitable<void> {
          while (!stopping_) {
            // accept() fills in the peer's address: no getpeername() per connection.
            asio::ip::tcp::endpoint remote;
            auto [error, socket] = co_await l->acceptor.async_accept(remote, use_tuple);
            if (stopping_) break;
            if (error) {
              if (error == asio::error::operation_aborted) break;
              // Out of descriptors and the like: wait a little instead of spinning.
              asio::steady_timer pause(io_, std::chrono::milliseconds(100));
              co_await pause.async_wait(use_tuple);
              continue;
            }
            asio::error_code ignored;
            PeerInfo peer{address_text(remote.address()), remote.port()};
            auto ticket = limiter_.try_acquire(peer.address);
            if (!ticket.valid()) {
              if (log_) log_(l->spec.name + " " + peer.address + ": connection refused, too many connections");
              auto refused = std::make_shared<asio::ip::tcp::socket>(std::move(socket));
              if (l->spec.implicit_tls || l->spec.refusal.empty()) {
                refused->close(ignored);
                continue;
              }
              auto text = std::make_shared<std::string>(l->spec.refusal);
              asio::async_write(*refused, asio::buffer(*text), [refused, text](asio::error_code, std::size_t) {
                asio::error_code ignore;
                refused->shutdown(asio::ip::tcp::socket::shutdown_both, ignore);
                refused->close(ignore);
              });
              continue;
            }
#ifndef __linux__
            socket.set_option(asio::ip::tcp::no_delay(true), ignored);  // Linux copies it from the listener
#endif
            auto connection = std::make_shared<Connection>(*this, l->spec, std::move(socket), std::move(ticket),
                                                           std::move(peer), next_connection_id_++);
            connections_.push_back(connection);
            connection->start();
          }
        },
        asio::detached);
  }
}

void TcpServer::shutdown() {
  if (stopping_) return;
  stopping_ = true;
  asio::error_code ignored;
  for (auto& listener : listeners_) listener->acceptor.close(ignored);
  for (auto& connection : std::list<std::shared_ptr<Connection>>(connections_)) connection->shutdown();
  if (connections_.empty()) return;
  grace_timer_ = std::make_unique<asio::steady_timer>(io_, limits_.shutdown_grace);
  grace_timer_->async_wait([this](asio::error_code error) {
    if (error) return;
    for (auto& connection : std::list<std::shared_ptr<Connection>>(connections_)) connection->finish(wall_now());
  });
}

std::vector<ConnectionView> TcpServer::connection_views() const {
  std::vector<ConnectionView> views;
  views.reserve(connections_.size());
  for (const auto& connection : connections_) views.push_back(connection->view());
  return views;
}

bool TcpServer::hold(std::uint64_t id, bool held) {
  for (auto& connection : std::list<std::shared_ptr<Connection>>(connections_)) {
    if (connection->id() != id) continue;
    connection->set_hold(held);
    return true;
  }
  return false;
}

bool TcpServer::step(std::uint64_t id) {
  for (auto& connection : std::list<std::shared_ptr<Connection>>(connections_))
    if (connection->id() == id) return connection->step();
  return false;
}

void TcpServer::forget(Connection* connection) {
  connections_.remove_if([connection](const auto& c) { return c.get() == connection; });
  if (stopping_ && connections_.empty() && grace_timer_) grace_timer_->cancel();
}

void TcpServer::after_activity() {
  if (store_ == nullptr || notify_posted_) return;
  if (store_->change_counter() == seen_changes_) return;
  // Later, not now: the connection that changed the store is still in its step.
  notify_posted_ = true;
  asio::post(io_, [this] {
    notify_posted_ = false;
    seen_changes_ = store_->change_counter();
    // A copy: a step may close a connection.  Only the watchers are stepped.
    std::vector<std::shared_ptr<Connection>> watchers;
    for (const auto& connection : connections_)
      if (connection->watches_store()) watchers.push_back(connection);
    for (auto& connection : watchers) connection->store_changed();
  });
}

}  // namespace maillab::net::io
