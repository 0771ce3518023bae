// EngineSession's timer (sim/session.hpp): an engine's deadline that moves
// later leaves the earlier event on the heap to re-queue itself under the
// latest arming's reserved (time, sequence) key.  The timeout must run once,
// at the latest deadline, in the place a cancel-and-reschedule would give it
// among other events due at the same microsecond.
#include <doctest/doctest.h>

#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "net/core/engine.hpp"
#include "sim/clock.hpp"
#include "sim/network.hpp"
#include "sim/random.hpp"
#include "sim/scheduler.hpp"
#include "sim/session.hpp"
#include "sim/trace.hpp"

using namespace maillab;
using namespace maillab::sim;
using namespace std::chrono_literals;

namespace {

// An engine with an idle timeout that every chunk of bytes restarts.
class IdleEngine {
 public:
  using Event = std::variant<net::LineEvent, net::StateEvent, net::StartTlsEvent, net::CloseEvent>;
  IdleEngine(Duration idle, Instant now, std::string* log) : idle_(idle), deadline_(now + idle), log_(log) {}
  void handle_bytes(Instant now, std::string_view) { deadline_ = now + idle_; }
  void handle_timeout(Instant now) {
    *log_ += "timeout@" + std::to_string(now.us) + " ";
    deadline_ = never;
  }
  void handle_close(Instant) {}
  void handle_tls_established(Instant) {}
  std::string poll_transmit() { return {}; }
  std::optional<Event> poll_event() { return std::nullopt; }
  [[nodiscard]] Instant poll_timeout() const { return deadline_; }

 private:
  Duration idle_;
  Instant deadline_;
  std::string* log_;
};

}  // namespace

TEST_CASE("session timer: a deadline moved later fires once, at the last one, ordered by its last arming") {
  VirtualClock clock;
  Scheduler scheduler(clock);
  Prng prng(1);
  Network network(scheduler, prng);
  Trace trace;
  network.set_default_link(LinkOptions{10ms, 0, 0.0, false});
  const HostId client_host = network.add_host("a.test", Ipv4{192, 0, 2, 1});
  const HostId server_host = network.add_host("b.test", Ipv4{192, 0, 2, 2});
  std::string log;
  std::shared_ptr<EngineSession<IdleEngine>> server;
  network.listen(server_host, 25, [&](ConnectionId id) {
    server = std::make_shared<EngineSession<IdleEngine>>(network, scheduler, trace, id, Side::server,
                                                         SessionLabel{"b.test", "a.test", "smtp", false},
                                                         std::nullopt, "");
    server->start(Duration{10s}, scheduler.now(), &log);
    return StreamHandlers{};
  });
  ConnectionId connection = 0;
  network.connect(client_host, Ipv4{192, 0, 2, 2}, 25, [&](ConnectOutcome, ConnectionId id) {
    connection = id;
    network.set_handlers(id, Side::client, StreamHandlers{[](std::string_view) {}, [] {}});
  });
  // Bytes reach the server at 1.01 s, 2.01 s and 3.01 s: the deadline moves
  // to 11.01, 12.01 and 13.01 s.
  for (int second = 1; second <= 3; ++second)
    scheduler.at(Instant{second * 1'000'000}, [&] { network.send(connection, Side::client, "x"); });
  const Instant last_deadline{13'010'000};
  scheduler.at(last_deadline, [&] { log += "before "; });  // scheduled before the last arming
  scheduler.at(Instant{5'000'000}, [&] { scheduler.at(last_deadline, [&] { log += "after "; }); });
  scheduler.run_until(Instant{60'000'000});
  CHECK(log == "before timeout@13010000 after ");
}
