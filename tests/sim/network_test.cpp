#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "sim/clock.hpp"
#include "sim/network.hpp"
#include "sim/random.hpp"
#include "sim/scheduler.hpp"

using namespace maillab;
using namespace maillab::sim;
using namespace std::chrono_literals;

namespace {

struct Lab {
  VirtualClock clock;
  Scheduler scheduler{clock};
  Prng prng{1};
  Network network{scheduler, prng};
  HostId a = network.add_host("a.test", Ipv4{192, 0, 2, 1});
  HostId b = network.add_host("b.test", Ipv4{192, 0, 2, 2});
};

// An echo-less server that records what it received and whether it saw a close.
struct Recorder {
  std::string received;
  bool closed = false;
  ConnectionId id = 0;
};

}  // namespace

TEST_CASE("network: ipv4 addresses parse and format, malformed ones are refused") {
  CHECK(parse_ipv4("192.0.2.25") == Ipv4{192, 0, 2, 25});
  CHECK(format_ipv4(Ipv4{10, 0, 0, 1}) == "10.0.0.1");
  CHECK_FALSE(parse_ipv4("192.0.2"));
  CHECK_FALSE(parse_ipv4("192.0.2.256"));
  CHECK_FALSE(parse_ipv4("192.0.2.1x"));
  CHECK_FALSE(parse_ipv4("a.b.c.d"));
}

TEST_CASE("network: connect, exchange bytes in order both ways, close from both sides") {
  Lab lab;
  lab.network.set_default_link(LinkOptions{10ms, 0, 0.0, false});
  Recorder server, client;
  lab.network.listen(lab.b, 25, [&](ConnectionId id) {
    server.id = id;
    lab.network.send(id, Side::server, "220 hello\r\n");
    return StreamHandlers{[&](std::string_view bytes) { server.received += bytes; },
                          [&] { server.closed = true; lab.network.close(server.id, Side::server); }};
  });
  std::vector<ConnectOutcome> outcomes;
  Instant connected_at{};
  lab.network.connect(lab.a, Ipv4{192, 0, 2, 2}, 25, [&](ConnectOutcome outcome, ConnectionId id) {
    outcomes.push_back(outcome);
    connected_at = lab.scheduler.now();
    client.id = id;
    lab.network.set_handlers(id, Side::client,
                             {[&](std::string_view bytes) {
                                client.received += bytes;
                                lab.network.send(client.id, Side::client, "EHLO a\r\n");
                                lab.network.send(client.id, Side::client, "QUIT\r\n");
                                lab.network.close(client.id, Side::client);  // reads no more
                              },
                              [&] { client.closed = true; }});
  });
  lab.scheduler.run_until(never);
  REQUIRE(outcomes == std::vector<ConnectOutcome>{ConnectOutcome::connected});
  CHECK(connected_at == Instant{20'000});  // SYN + SYN-ACK
  CHECK(client.received == "220 hello\r\n");
  CHECK(server.received == "EHLO a\r\nQUIT\r\n");
  CHECK(server.closed);
  CHECK(lab.network.open_connections() == 0);
}

TEST_CASE("network: connecting where nothing listens is refused after one round trip") {
  Lab lab;
  lab.network.set_default_link(LinkOptions{5ms, 0, 0.0, false});
  std::vector<ConnectOutcome> outcomes;
  lab.network.connect(lab.a, Ipv4{192, 0, 2, 2}, 25, [&](ConnectOutcome o, ConnectionId) {
    outcomes.push_back(o);
    CHECK(lab.scheduler.now() == Instant{10'000});
  });
  lab.scheduler.run_until(never);
  CHECK(outcomes == std::vector<ConnectOutcome>{ConnectOutcome::refused});
}

TEST_CASE("network: connecting to a host that is down times out after the connect timeout") {
  Lab lab;
  lab.network.listen(lab.b, 25, [](ConnectionId) { return StreamHandlers{}; });
  lab.network.set_host_up(lab.b, false);
  std::vector<ConnectOutcome> outcomes;
  lab.network.connect(lab.a, Ipv4{192, 0, 2, 2}, 25,
                      [&](ConnectOutcome o, ConnectionId) {
                        outcomes.push_back(o);
                        CHECK(lab.scheduler.now() == Instant{45'000'000});
                      },
                      ConnectOptions{45s, 6});
  lab.scheduler.run_until(never);
  CHECK(outcomes == std::vector<ConnectOutcome>{ConnectOutcome::timed_out});
}

TEST_CASE("network: an address nobody has times out too") {
  Lab lab;
  std::vector<ConnectOutcome> outcomes;
  lab.network.connect(lab.a, Ipv4{198, 51, 100, 9}, 25,
                      [&](ConnectOutcome o, ConnectionId) { outcomes.push_back(o); });
  lab.scheduler.run_until(never);
  CHECK(outcomes == std::vector<ConnectOutcome>{ConnectOutcome::timed_out});
}

TEST_CASE("network: a host going down breaks its connections and the peer sees a close") {
  Lab lab;
  Recorder client;
  lab.network.listen(lab.b, 25, [&](ConnectionId) { return StreamHandlers{[](std::string_view) {}, [] {}}; });
  lab.network.connect(lab.a, Ipv4{192, 0, 2, 2}, 25, [&](ConnectOutcome, ConnectionId id) {
    lab.network.set_handlers(id, Side::client, {[](std::string_view) {}, [&] { client.closed = true; }});
  });
  lab.scheduler.after(1s, [&] { lab.network.set_host_up(lab.b, false); });
  lab.scheduler.run_until(never);
  CHECK(client.closed);
  CHECK(lab.network.open_connections() == 0);
}

TEST_CASE("network: a partition (cut link) stops connects until it heals") {
  Lab lab;
  lab.network.listen(lab.b, 25, [&](ConnectionId) { return StreamHandlers{}; });
  lab.network.set_link(lab.a, lab.b, LinkOptions{1ms, 0, 0.0, true});
  std::vector<ConnectOutcome> outcomes;
  auto record = [&](ConnectOutcome o, ConnectionId) { outcomes.push_back(o); };
  lab.network.connect(lab.a, Ipv4{192, 0, 2, 2}, 25, record, ConnectOptions{5s, 6});
  lab.scheduler.after(10s, [&] {
    lab.network.set_link(lab.a, lab.b, LinkOptions{1ms, 0, 0.0, false});
    lab.network.connect(lab.a, Ipv4{192, 0, 2, 2}, 25, record);
  });
  lab.scheduler.run_until(never);
  CHECK(outcomes == std::vector<ConnectOutcome>{ConnectOutcome::timed_out, ConnectOutcome::connected});
}

TEST_CASE("network: bandwidth delays a large write by its serialisation time") {
  Lab lab;
  lab.network.set_default_link(LinkOptions{1ms, 80'000, 0.0, false});  // 10 kB/s
  Instant arrived{};
  lab.network.listen(lab.b, 25, [&](ConnectionId) {
    return StreamHandlers{[&](std::string_view) { arrived = lab.scheduler.now(); }, [] {}};
  });
  lab.network.connect(lab.a, Ipv4{192, 0, 2, 2}, 25, [&](ConnectOutcome, ConnectionId id) {
    lab.network.send(id, Side::client, std::string(10'000, 'x'));
  });
  lab.scheduler.run_until(never);
  CHECK(arrived == Instant{2'000 + 1'000'000 + 1'000});
}

TEST_CASE("network: loss on a TCP link shows as retransmission delay, never as missing bytes") {
  Lab lab;
  lab.network.set_default_link(LinkOptions{1ms, 0, 0.3, false});
  std::string received;
  lab.network.listen(lab.b, 25, [&](ConnectionId) {
    return StreamHandlers{[&](std::string_view bytes) { received += bytes; }, [] {}};
  });
  std::string sent;
  lab.network.connect(lab.a, Ipv4{192, 0, 2, 2}, 25, [&](ConnectOutcome o, ConnectionId id) {
    REQUIRE(o == ConnectOutcome::connected);
    for (int i = 0; i < 50; ++i) {
      auto chunk = std::to_string(i) + ";";
      sent += chunk;
      lab.network.send(id, Side::client, chunk);
    }
  });
  lab.scheduler.run_until(never);
  CHECK(received == sent);
  CHECK(lab.clock.now() > Instant{200'000});
}

TEST_CASE("network: UDP datagrams arrive after latency, or are lost on a lossy link") {
  Lab lab;
  int delivered = 0;
  lab.network.bind_udp(lab.b, 53, [&](const Datagram& d) {
    ++delivered;
    CHECK(d.source.host == lab.a);
    CHECK(d.payload.size() == 3);
  });
  lab.network.send_udp(lab.a, 40000, Ipv4{192, 0, 2, 2}, 53, {1, 2, 3});
  lab.scheduler.run_until(never);
  CHECK(delivered == 1);
  lab.network.set_link(lab.a, lab.b, LinkOptions{1ms, 0, 1.0, false});
  lab.network.send_udp(lab.a, 40000, Ipv4{192, 0, 2, 2}, 53, {1, 2, 3});
  lab.scheduler.run_until(never);
  CHECK(delivered == 1);
}
