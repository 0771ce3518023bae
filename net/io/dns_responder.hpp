// The lab's DNS over UDP: one socket, answers from a DnsZone
// (net/io/dns_zone.hpp), so that `dig @127.0.0.1 -p 2053 MX school.test`
// shows the scenario's MX records.  One coroutine receives, answers and sends;
// errors on the socket (an ICMP port unreachable coming back as a refused
// receive) are ignored, a closed socket ends the loop.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include <asio/io_context.hpp>
#include <asio/ip/udp.hpp>

#include "net/core/result.hpp"
#include "net/io/dns_zone.hpp"

namespace maillab::net::io {

class DnsResponder {
 public:
  DnsResponder(asio::io_context& io, DnsZone zone);
  // Binds now; answering starts with start().  Returns the port bound.
  Result<std::uint16_t> bind(const std::string& address, std::uint16_t port);
  void start();
  void stop();

 private:
  asio::io_context& io_;
  std::shared_ptr<const DnsZone> zone_;
  asio::ip::udp::socket socket_;
};

}  // namespace maillab::net::io
