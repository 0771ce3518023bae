// The TCP driver with real sockets on 127.0.0.1: asynchronous stores, the
// session observer and live stepping.  The client is a plain socket in the
// same io_context; the test turns the loop by hand until the bytes it waits
// for have arrived (bounded: a few seconds at most).
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <asio/connect.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/write.hpp>

#include "net/io/session.hpp"
#include "net/io/tcp_server.hpp"

using namespace maillab;
using namespace maillab::net;
using namespace maillab::net::io;
using namespace std::chrono_literals;

namespace {

class NoLogins final : public CredentialChecker {
 public:
  bool verify_password(std::string_view, std::string_view) const override { return false; }
  std::optional<std::string> shared_secret(std::string_view) const override { return std::nullopt; }
};

class AcceptAll final : public smtp::Policy {
 public:
  smtp::AuthOffer auth_offer(const smtp::SessionInfo&) const override { return smtp::AuthOffer::disabled; }
  const CredentialChecker& credentials() const override { return logins_; }
  bool sender_allowed(std::string_view, const mail::Address&) const override { return true; }
  smtp::RecipientVerdict check_recipient(const smtp::SessionInfo&, const mail::Address&) const override {
    return smtp::RecipientVerdict::accept;
  }

 private:
  NoLogins logins_;
};

// Keeps every answer until the test gives it (a group commit in slow motion).
class LaterSink final : public MessageSink {
 public:
  void store(const smtp::MessageEvent& message, const PeerInfo&, bool, Instant, StoreDone done) override {
    data.push_back(message.data);
    pending.push_back(std::move(done));
    if (open) open_at_store.push_back(open->count);
  }
  std::vector<std::string> data;
  std::vector<StoreDone> pending;
  std::shared_ptr<const OpenTransactions> open;
  std::vector<std::size_t> open_at_store;  // the count each store() saw
};

class Recorder final : public SessionObserver {
 public:
  void opened(std::uint64_t connection, std::string_view service, const PeerInfo&, Instant) override {
    events.push_back("open " + std::to_string(connection) + " " + std::string(service));
  }
  void line(std::uint64_t connection, const LineEvent& line, Instant) override {
    events.push_back(std::to_string(connection) + (line.dir == Direction::client_to_server ? " C: " : " S: ") +
                     line.text);
  }
  void closed(std::uint64_t connection, Instant) override { events.push_back("close " + std::to_string(connection)); }
  std::vector<std::string> events;
};

struct Lab {
  // `junk_commands_max`: how many EHLOs and NOOPs a test may send before they count as errors.
  explicit Lab(std::size_t junk_commands_max = smtp::ServerConfig{}.junk_commands_max)
      : server(io, logins, std::nullopt, {}, {}) {
    smtp::ServerConfig config;
    config.host_name = "mx.lab.test";
    config.junk_commands_max = junk_commands_max;
    auto port =
        server.listen("127.0.0.1", {"smtp", 0, false, smtp_session_factory({config, &policy, &sink, open}), ""});
    REQUIRE(port);
    server.set_observer(&recorder);
    server.start();
    client.connect(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), port.value()));
    client.non_blocking(true);
  }
  // Connections live in the io_context's handlers: end them before the server goes.
  ~Lab() {
    asio::error_code ignored;
    client.close(ignored);
    server.shutdown();
    io.run_for(3s);
  }

  // Turns the loop until `wanted` has arrived (or 3 s have passed); returns all that arrived.
  std::string read_until(std::string_view wanted) {
    const auto give_up = std::chrono::steady_clock::now() + 3s;
    while (received.find(wanted) == std::string::npos && std::chrono::steady_clock::now() < give_up) {
      io.run_for(5ms);
      drain();
    }
    return received;
  }
  // Turns the loop for a while and returns what arrived meanwhile.
  std::string settle() {
    for (int i = 0; i < 20; ++i) {
      io.run_for(5ms);
      drain();
    }
    return received;
  }
  void drain() {
    char buffer[4096];
    asio::error_code error;
    while (true) {
      const std::size_t octets = client.read_some(asio::buffer(buffer), error);
      if (error) break;
      received.append(buffer, octets);
    }
    if (error == asio::error::eof) eof = true;
  }
  void send(std::string_view text) {
    asio::error_code error;
    asio::write(client, asio::buffer(text), error);
    REQUIRE_FALSE(error);
  }
  // One whole transaction up to the end of DATA; the sink now has it.
  void send_message() {
    read_until("220 ");
    send("EHLO client.test\r\nMAIL FROM:<a@lab.test>\r\nRCPT TO:<b@lab.test>\r\nDATA\r\n");
    read_until("354 ");
    send("Subject: hi\r\n\r\nbody\r\n.\r\n");
  }
  std::uint64_t only_connection() const {
    const auto views = server.connection_views();
    REQUIRE(views.size() == 1);
    return views.front().id;
  }

  asio::io_context io;
  NoLogins logins;
  AcceptAll policy;
  LaterSink sink;
  std::shared_ptr<OpenTransactions> open = std::make_shared<OpenTransactions>();
  Recorder recorder;
  TcpServer server;
  asio::ip::tcp::socket client{io};
  std::string received;
  bool eof = false;
};

}  // namespace

TEST_CASE("tcp server: the 250 after DATA waits for the sink's answer, which may come later") {
  Lab lab;
  lab.send_message();
  const std::string before = lab.settle();
  REQUIRE(lab.sink.pending.size() == 1);
  CHECK(lab.sink.data.front().find("body") != std::string::npos);
  CHECK(before.find("250 2.0.0") == std::string::npos);  // not durable yet: no acknowledgement

  lab.sink.pending.front()({smtp::StoreResult::accepted, "Q1", ""});
  CHECK(lab.read_until("Q1").find("250 2.0.0") != std::string::npos);
}

TEST_CASE("tcp server: a late refusal from the sink is the client's 452, and nothing was acknowledged") {
  Lab lab;
  lab.send_message();
  lab.settle();
  REQUIRE(lab.sink.pending.size() == 1);
  lab.sink.pending.front()({smtp::StoreResult::insufficient_storage, "", ""});
  const std::string all = lab.read_until("452 ");
  CHECK(all.find("452 4.3.1") != std::string::npos);
  CHECK(all.find("250 2.0.0") == std::string::npos);
}

TEST_CASE("tcp server: an answer for a session that has gone is ignored") {
  Lab lab;
  lab.send_message();
  lab.settle();
  REQUIRE(lab.sink.pending.size() == 1);
  lab.client.close();
  lab.settle();
  CHECK(lab.server.open_connections() == 0);
  lab.sink.pending.front()({smtp::StoreResult::accepted, "Q2", ""});  // must not touch the dead session
  lab.settle();
}

TEST_CASE("tcp server: sessions count their open mail transactions, from MAIL until the message or its end") {
  Lab lab;
  lab.read_until("220 ");
  lab.send("EHLO client.test\r\n");
  lab.read_until("250 ");
  CHECK(lab.open->count == 0);
  lab.send("MAIL FROM:<a@lab.test>\r\n");
  lab.read_until("2.1.0");
  CHECK(lab.open->count == 1);
  lab.send("RCPT TO:<b@lab.test>\r\nDATA\r\n");
  lab.read_until("354 ");
  CHECK(lab.open->count == 1);
  lab.sink.open = lab.open;
  lab.send("Subject: hi\r\n\r\nbody\r\n.\r\n");
  lab.settle();
  REQUIRE(lab.sink.pending.size() == 1);
  CHECK(lab.sink.open_at_store == std::vector<std::size_t>{0});  // its own sync need not wait for it
  CHECK(lab.open->count == 0);

  lab.sink.pending.front()({smtp::StoreResult::accepted, "Q3", ""});
  lab.read_until("Q3");
  lab.send("MAIL FROM:<a@lab.test>\r\n");
  lab.settle();
  CHECK(lab.open->count == 1);
  lab.send("RSET\r\n");
  lab.settle();
  CHECK(lab.open->count == 0);

  lab.send("MAIL FROM:<a@lab.test>\r\n");
  lab.settle();
  CHECK(lab.open->count == 1);
  lab.client.close();  // gone mid-transaction: no sync may wait for it
  lab.settle();
  CHECK(lab.server.open_connections() == 0);
  CHECK(lab.open->count == 0);
}

TEST_CASE("tcp server: the observer hears the connection open, each line both ways, and the close") {
  Lab lab;
  lab.read_until("220 ");
  lab.send("NOOP\r\nQUIT\r\n");
  lab.read_until("221 ");
  lab.settle();
  const auto& events = lab.recorder.events;
  REQUIRE(events.size() >= 6);
  CHECK(events.front() == "open 1 smtp");
  CHECK(events[1].rfind("1 S: 220 ", 0) == 0);
  CHECK(std::find(events.begin(), events.end(), "1 C: NOOP") != events.end());
  CHECK(std::find(events.begin(), events.end(), "1 C: QUIT") != events.end());
  CHECK(events.back() == "close 1");
}

TEST_CASE("tcp server: a held connection's replies go out one line per step, and its close waits for them") {
  Lab lab;
  lab.read_until("220 ");
  const std::uint64_t id = lab.only_connection();
  REQUIRE(lab.server.hold(id, true));
  const std::size_t greeting = lab.received.size();

  lab.send("NOOP\r\nNOOP\r\nQUIT\r\n");
  CHECK(lab.settle().size() == greeting);  // the replies exist but are held
  REQUIRE(lab.server.connection_views().front().held_lines == 3);

  REQUIRE(lab.server.step(id));
  std::string now = lab.settle().substr(greeting);
  CHECK(now == "250 2.0.0 Ok\r\n");
  REQUIRE(lab.server.step(id));
  REQUIRE(lab.server.step(id));
  now = lab.read_until("221 ").substr(greeting);
  CHECK(now.find("221 ") != std::string::npos);
  lab.settle();
  CHECK(lab.eof);  // the close followed the last released line
  CHECK_FALSE(lab.server.step(id));
  CHECK(lab.server.open_connections() == 0);
}

TEST_CASE("tcp server: releasing a hold sends everything that was waiting") {
  Lab lab;
  lab.read_until("220 ");
  const std::uint64_t id = lab.only_connection();
  REQUIRE(lab.server.hold(id, true));
  lab.send("NOOP\r\nNOOP\r\n");
  lab.settle();
  CHECK(lab.server.connection_views().front().held_lines == 2);
  REQUIRE(lab.server.hold(id, false));
  const std::string all = lab.settle();
  CHECK(all.find("250 2.0.0 Ok\r\n250 2.0.0 Ok\r\n") != std::string::npos);
  CHECK_FALSE(lab.server.hold(id + 100, true));  // no such connection
}

TEST_CASE("tcp server: output the socket cannot take at once waits, and reaches a slow reader whole and in order") {
  constexpr int count = 40000;
  Lab lab(count);
  // A client of its own with a small receive buffer, so that the replies back
  // up into the server's socket and then into the driver: sends are cut short.
  asio::ip::tcp::socket slow(lab.io);
  slow.open(asio::ip::tcp::v4());
  slow.set_option(asio::socket_base::receive_buffer_size(4096));
  slow.connect(lab.client.remote_endpoint());
  slow.non_blocking(true);
  std::string received;
  const auto drain = [&] {
    char buffer[4096];
    asio::error_code error;
    while (!error) received.append(buffer, slow.read_some(asio::buffer(buffer), error));
  };
  const auto give_up = std::chrono::steady_clock::now() + 30s;
  while (received.find("220 ") == std::string::npos && std::chrono::steady_clock::now() < give_up) {
    lab.io.run_for(1ms);
    drain();
  }
  const std::size_t greeting = received.size();
  // Each EHLO's reply is seven lines (about 150 octets).
  std::string commands;
  for (int i = 0; i < count; ++i) commands += "EHLO c" + std::to_string(i) + ".test\r\n";
  std::size_t sent = 0;
  const auto write_more = [&] {
    asio::error_code error;
    if (sent < commands.size())
      sent += slow.write_some(asio::buffer(commands.data() + sent, commands.size() - sent), error);
  };
  // The client first writes without reading: the server's output backs up.
  for (int i = 0; i < 50; ++i) {
    write_more();
    lab.io.run_for(2ms);
  }
  const std::string last = " c" + std::to_string(count - 1) + ".test\r\n";
  const auto complete = [&] {
    const std::size_t end = received.rfind(last);
    return end != std::string::npos && received.find("250 CHUNKING", end) != std::string::npos;
  };
  while (!complete() && std::chrono::steady_clock::now() < give_up) {
    write_more();
    lab.io.run_for(1ms);
    drain();
  }
  // Every reply arrived once, in the order of the commands.
  const std::string replies = received.substr(greeting);
  std::size_t at = 0;
  int in_order = 0;
  for (int i = 0; i < count; ++i) {
    const std::size_t next = replies.find(" c" + std::to_string(i) + ".test\r\n", at);
    if (next == std::string::npos) break;
    at = next + 1;
    ++in_order;
  }
  CHECK(in_order == count);
  // ... and nothing else: as many octets as the replies' lines add up to.
  const std::size_t second = replies.find("250-mx.lab.test", 1);
  REQUIRE(second != std::string::npos);
  const std::size_t fixed = second - std::string("250-mx.lab.test Hello c0.test\r\n").size();
  std::size_t expected = 0;
  for (int i = 0; i < count; ++i)
    expected += fixed + std::string("250-mx.lab.test Hello c.test\r\n").size() + std::to_string(i).size();
  CHECK(replies.size() == expected);
}

TEST_CASE("tcp server: a peer's address reads as asio's to_string writes it, for every IPv4 byte and for IPv6") {
  using maillab::net::io::address_text;
  for (unsigned byte = 0; byte < 256; ++byte) {
    for (unsigned position = 0; position < 4; ++position) {
      asio::ip::address_v4::bytes_type bytes{10, 200, 3, 45};
      bytes[position] = static_cast<unsigned char>(byte);
      const asio::ip::address address{asio::ip::address_v4(bytes)};
      CHECK(address_text(address) == address.to_string());
    }
  }
  CHECK(address_text(asio::ip::make_address("0.0.0.0")) == "0.0.0.0");
  CHECK(address_text(asio::ip::make_address("255.255.255.255")) == "255.255.255.255");
  CHECK(address_text(asio::ip::make_address("127.0.0.1")) == "127.0.0.1");
  CHECK(address_text(asio::ip::make_address("::1")) == "::1");
  CHECK(address_text(asio::ip::make_address("::ffff:192.0.2.7")) == "::ffff:192.0.2.7");
}
