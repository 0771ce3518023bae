#include "app/studio_live.hpp"

#include <chrono>
#include <iostream>
#include <utility>

#include "app/lab_world_router.hpp"
#include "net/io/tcp_server.hpp"

namespace maillab::app {

StudioLab::StudioLab(ServeOptions options) : options_(std::move(options)) {
  server_ = std::make_unique<LabServer>(io_, options_, [](std::string_view line) {
    std::cerr << "maillab-studio: " << line << '\n';
  });
}

int StudioLab::open(std::ostream& errors) {
  const int status = server_->open(errors);
  if (status != 0) return status;
  server_->add_trace_listener([this](const sim::TraceEvent& event) { feed_.add(event); });
  trace_observer_ = server_->tcp_server().observer();
  server_->tcp_server().set_observer(this);
  return 0;
}

void StudioLab::opened(std::uint64_t connection, std::string_view service, const net::io::PeerInfo& peer,
                       Instant now) {
  if (trace_observer_ != nullptr) trace_observer_->opened(connection, service, peer, now);
  if (hold_new_) server_->tcp_server().hold(connection, true);
}

void StudioLab::line(std::uint64_t connection, const net::LineEvent& line, Instant now) {
  if (trace_observer_ != nullptr) trace_observer_->line(connection, line, now);
}

void StudioLab::closed(std::uint64_t connection, Instant now) {
  if (trace_observer_ != nullptr) trace_observer_->closed(connection, now);
}

void StudioLab::start() {
  server_->start();
  started_ = true;
}

void StudioLab::stop(double grace_s) {
  if (!started_) return;
  started_ = false;
  server_->stop();
  if (io_.stopped()) io_.restart();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(grace_s);
  while (!io_.stopped() && std::chrono::steady_clock::now() < deadline) {
    io_.run_for(std::chrono::milliseconds(50));
  }
}

std::string StudioLab::title() const { return server_->scenario().title; }

std::string StudioLab::listening() const {
  const std::pair<const char*, std::uint16_t> services[] = {
      {"smtp", options_.smtp}, {"submission", options_.submission}, {"smtps", options_.smtps},
      {"pop3", options_.pop3}, {"pop3s", options_.pop3s},           {"imap", options_.imap},
      {"imaps", options_.imaps}, {"dns", options_.dns}};
  std::string text = options_.bind + ":";
  for (const auto& [name, port] : services) {
    if (port == 0) continue;
    text += ' ';
    text += name;
    text += ' ';
    text += std::to_string(port);
  }
  return text;
}

void StudioLab::poll(double wait_s) {
  if (!started_) return;
  if (io_.stopped()) io_.restart();
  if (wait_s <= 0) {
    io_.poll();
  } else {
    io_.run_for(std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::duration<double>(wait_s)));
  }
}

double StudioLab::now_s() const { return server_->world().present().seconds(); }

std::vector<ui::LiveSession> StudioLab::sessions() const {
  std::vector<ui::LiveSession> out;
  for (const auto& view : server_->tcp_server().connection_views()) {
    // Named as the trace names the client (app/lab_session_trace.cpp).
    out.push_back({view.id, view.service,
                   client_label(view.peer.address, view.peer.port == 0 ? "" : std::to_string(view.peer.port)),
                   view.held, view.held_lines});
  }
  return out;
}

bool StudioLab::hold(std::uint64_t id, bool held) { return server_->tcp_server().hold(id, held); }
bool StudioLab::step(std::uint64_t id) { return server_->tcp_server().step(id); }

}  // namespace maillab::app
