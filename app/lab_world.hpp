// LabWorld: the scenario's world on the wall clock, for `maillab serve` and
// the studio's live mode.
//
// Theory of operation.  The world (sim/world.hpp) runs on its own virtual
// clock; here that clock follows the steady clock: Instant{0} is the moment
// the lab started, and every call that touches the world first advances it to
// the present, running each event that fell due meanwhile at its own time.
// One asio steady_timer waits for the world's next deadline; when it fires
// the world advances and the timer is armed again.  So a hop takes as long in
// real time as in the scenario (links of 1 ms by default, retries after
// minutes), the io thread never blocks (a virtual clock never sleeps), and
// one batch of events sees one consistent time.  The world keeps no trace
// events in memory (listeners hear them) and runs none of the scenario's
// scripted messages: real clients are its mail clients.  Its mailbox hosts
// deliver into the lab's one store (the Maildirs real clients read), and
// after every advance `on_advanced` runs (the server pokes idle IMAP
// sessions).  Each advance runs inside `around` when one is set: the server
// has the deliveries of the world's later hops (those the timer runs) join the
// queue's group commit instead of fsyncing each.  stop() lets the timer go so that the io_context can run out of
// work; mail still in the world's queues stays in the on-disk queue and is
// resumed at the next start.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>

#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>

#include "net/mail/mail_store.hpp"
#include "sim/world.hpp"

namespace maillab::app {

class LabWorld {
 public:
  LabWorld(asio::io_context& io, const sim::Scenario& scenario, net::mail::MailStore& store,
           std::int64_t start_unix_s, std::uint64_t seed = 1);
  LabWorld(const LabWorld&) = delete;
  LabWorld& operator=(const LabWorld&) = delete;

  [[nodiscard]] sim::World& world() { return world_; }
  [[nodiscard]] sim::Trace& trace() { return world_.trace(); }
  // The present on the world's clock (time since the lab started).
  [[nodiscard]] Instant present() const;
  void set_on_advanced(std::function<void()> callback) { on_advanced_ = std::move(callback); }
  // Every advance of the world runs inside `around` (the server: with the
  // Maildir's syncs going into the queue's group commit, app/spool_sink.hpp).
  using Around = std::function<void(const std::function<void()>& advance)>;
  void set_around_advance(Around around) { around_ = std::move(around); }

  // Brings the world's hosts up and arms the timer.
  void start();
  // Runs everything due by now; re-arms the timer.
  void advance();
  // advance(), inject, advance(): local deliveries are done when it returns.
  sim::InjectReport inject(const sim::Injection& injection, sim::SettledCallback on_settled);
  // No more timer (the server is stopping); calls still advance the world.
  void stop();

 private:
  void arm();

  asio::steady_timer timer_;
  std::chrono::steady_clock::time_point origin_;
  sim::World world_;
  std::function<void()> on_advanced_;
  Around around_;
  Instant armed_for_ = never;
  bool stopped_ = false;
  bool advancing_ = false;
};

}  // namespace maillab::app
