// The pcap writer: the virtual network's traffic as a classic libpcap file
// (pcap_open_dead + pcap_dump, link type raw IPv4) that Wireshark and tshark
// decode with their own dissectors.
//
// Theory of operation.  It observes the network (NetworkObserver) and
// synthesises IPv4 packets (RFC 791, header checksum filled in) carrying
//   TCP (RFC 9293): SYN, SYN-ACK and ACK for a connection, data segments of at
//     most 1460 octets with correct sequence and acknowledgement numbers (ISNs
//     derived from the connection number, so files are reproducible), FIN|ACK
//     for a close, RST for a refused or broken connection; checksums computed
//     over the pseudo-header;
//   UDP (RFC 768) for DNS datagrams.
// Services listen on their standard ports in the simulator already (25, 587,
// 110, 143, 53), so no decode-as setting is needed.  Timestamps are the
// scenario's start time plus simulated time.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "net/core/result.hpp"
#include "sim/network.hpp"

struct pcap;
struct pcap_dumper;

namespace maillab::sim {

class World;

class PcapWriter final : public NetworkObserver {
 public:
  static Result<std::unique_ptr<PcapWriter>> open(const std::string& path, const World& world);
  ~PcapWriter() override;
  PcapWriter(const PcapWriter&) = delete;
  PcapWriter& operator=(const PcapWriter&) = delete;

  void tcp_syn(ConnectionId id, const Endpoint& client, const Endpoint& server) override;
  void tcp_established(ConnectionId id) override;
  void tcp_reset(ConnectionId id, Side from) override;
  void tcp_data(ConnectionId id, Side from, std::string_view bytes) override;
  void tcp_fin(ConnectionId id, Side from) override;
  void udp(const Datagram& datagram) override;

 private:
  PcapWriter(pcap* handle, pcap_dumper* dumper, const World& world) : handle_(handle), dumper_(dumper), world_(world) {}
  struct Flow {
    Endpoint ends[2];
    std::uint32_t next_seq[2] = {0, 0};
    bool established = false;
  };
  void segment(Flow& flow, Side from, std::uint8_t flags, std::string_view payload);
  void packet(const Ipv4& src, const Ipv4& dst, std::uint8_t protocol, const std::string& transport);

  pcap* handle_;
  pcap_dumper* dumper_;
  const World& world_;
  std::map<ConnectionId, Flow> flows_;
  std::uint16_t ip_id_ = 1;
};

}  // namespace maillab::sim
