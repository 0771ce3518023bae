#include "app/lab_world.hpp"

namespace maillab::app {

namespace {

sim::WorldOptions serve_options(net::mail::MailStore& store, std::int64_t start_unix_s) {
  sim::WorldOptions options;
  options.store = &store;
  options.scripted = false;
  options.start_unix_s = start_unix_s;
  return options;
}

}  // namespace

LabWorld::LabWorld(asio::io_context& io, const sim::Scenario& scenario, net::mail::MailStore& store,
                   std::int64_t start_unix_s, std::uint64_t seed)
    : timer_(io),
      origin_(std::chrono::steady_clock::now()),
      world_(scenario, seed, serve_options(store, start_unix_s)) {
  world_.trace().set_keep(false);
}

Instant LabWorld::present() const {
  const auto elapsed = std::chrono::steady_clock::now() - origin_;
  return Instant{std::chrono::duration_cast<std::chrono::microseconds>(elapsed).count()};
}

void LabWorld::start() {
  world_.start();
  advance();
}

void LabWorld::advance() {
  if (advancing_) return;  // called back from inside an event: it runs in this pass
  advancing_ = true;
  const Instant now = present();
  const Instant until = now > world_.now() ? now : world_.now();
  if (around_) around_([this, until] { world_.advance(until); });
  else world_.advance(until);
  advancing_ = false;
  if (on_advanced_) on_advanced_();
  arm();
}

sim::InjectReport LabWorld::inject(const sim::Injection& injection, sim::SettledCallback on_settled) {
  advance();
  auto report = world_.inject(injection, std::move(on_settled));
  advance();
  return report;
}

void LabWorld::stop() {
  stopped_ = true;
  armed_for_ = never;
  timer_.cancel();
}

void LabWorld::arm() {
  const Instant next = world_.next_deadline();
  if (stopped_ || next == armed_for_) return;
  armed_for_ = next;
  timer_.cancel();
  if (next == never) return;
  timer_.expires_at(origin_ + std::chrono::microseconds(next.us));
  timer_.async_wait([this, next](const asio::error_code& error) {
    if (error || stopped_ || armed_for_ != next) return;
    armed_for_ = never;
    advance();
  });
}

}  // namespace maillab::app
