// The studio's live mode (`maillab-studio --live [SCENARIO]`): the lab server
// of `maillab serve` (app/lab_server.hpp) in the studio's own process.
//
// Theory of operation.  One thread, no locks.  The server runs on an
// asio::io_context of its own that nobody run()s: the studio's frame loop
// calls poll() once a frame (ui/model/live.hpp), which runs the handlers that
// are ready, or waits a few milliseconds for one when the window does not
// wait for the display.  The world's trace listener hands each event to the
// LiveFeed, which the frame loop drains into the live lesson.  Live stepping
// passes straight to the TCP server (net/io/tcp_server.hpp: hold, step,
// connection_views); "hold new sessions" sits in front of the server's
// session observer and holds a connection as it opens, before its greeting.  stop() ends every session with its protocol's goodbye
// and runs the io_context until it is out of work, for a bounded time.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

#include <asio/io_context.hpp>

#include "app/lab_server.hpp"
#include "net/io/session.hpp"
#include "ui/model/live.hpp"

namespace maillab::app {

class StudioLab final : public ui::LiveLab, private net::io::SessionObserver {
 public:
  explicit StudioLab(ServeOptions options);
  StudioLab(const StudioLab&) = delete;
  StudioLab& operator=(const StudioLab&) = delete;

  // As LabServer::open (0 ready; 1 a port, the state dir or the trace file
  // is unusable; 2 a bad scenario), then start() accepts.
  int open(std::ostream& errors);
  void start();
  // Stops accepting, ends the sessions cleanly; returns within `grace_s`.
  void stop(double grace_s);

  [[nodiscard]] ui::LiveFeed& feed() { return feed_; }
  [[nodiscard]] std::string title() const;
  // "smtp 2525, submission 2587, ..." (the services that are on).
  [[nodiscard]] std::string listening() const;

  void poll(double wait_s) override;
  [[nodiscard]] double now_s() const override;
  [[nodiscard]] std::vector<ui::LiveSession> sessions() const override;
  bool hold(std::uint64_t id, bool held) override;
  bool step(std::uint64_t id) override;
  void set_hold_new(bool hold) override { hold_new_ = hold; }
  [[nodiscard]] bool hold_new() const override { return hold_new_; }

 private:
  // In front of the server's own observer (the sessions' trace): a session
  // that opens while hold_new_ is on is held before its greeting is sent.
  void opened(std::uint64_t connection, std::string_view service, const net::io::PeerInfo& peer,
              Instant now) override;
  void line(std::uint64_t connection, const net::LineEvent& line, Instant now) override;
  void closed(std::uint64_t connection, Instant now) override;

  asio::io_context io_;
  ServeOptions options_;
  std::unique_ptr<LabServer> server_;
  ui::LiveFeed feed_;
  net::io::SessionObserver* trace_observer_ = nullptr;
  bool hold_new_ = false;
  bool started_ = false;
};

}  // namespace maillab::app
