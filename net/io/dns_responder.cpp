#include "net/io/dns_responder.hpp"

#include <array>
#include <span>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/use_awaitable.hpp>

namespace maillab::net::io {

namespace {
constexpr auto use_tuple = asio::experimental::as_tuple(asio::use_awaitable);
}

DnsResponder::DnsResponder(asio::io_context& io, DnsZone zone)
    : io_(io), zone_(std::make_shared<const DnsZone>(std::move(zone))), socket_(io) {}

Result<std::uint16_t> DnsResponder::bind(const std::string& address, std::uint16_t port) {
  asio::error_code error;
  const auto ip = asio::ip::make_address(address, error);
  if (error) return make_error(ErrorCategory::invalid_argument, "--bind: '" + address + "' is not an IP address");
  const asio::ip::udp::endpoint endpoint(ip, port);
  socket_.open(endpoint.protocol(), error);
  if (!error) socket_.bind(endpoint, error);
  if (error)
    return make_error(ErrorCategory::io, "dns on " + address + " port " + std::to_string(port) + ": " + error.message());
  return socket_.local_endpoint(error).port();
}

void DnsResponder::start() {
  asio::co_spawn(
      io_,
      [this, zone = zone_]() -> asio::awaitable<void> {
        std::array<std::uint8_t, 4096> buffer{};
        while (socket_.is_open()) {
          asio::ip::udp::endpoint peer;
          auto [error, octets] = co_await socket_.async_receive_from(asio::buffer(buffer), peer, use_tuple);
          if (error == asio::error::operation_aborted || !socket_.is_open()) break;
          if (error) continue;
          auto reply = answer_datagram(*zone, std::span<const std::uint8_t>(buffer.data(), octets));
          if (!reply) continue;
          auto [send_error, sent] = co_await socket_.async_send_to(asio::buffer(*reply), peer, use_tuple);
          (void)send_error;
          (void)sent;
        }
      },
      asio::detached);
}

void DnsResponder::stop() {
  asio::error_code ignored;
  socket_.close(ignored);
}

}  // namespace maillab::net::io
