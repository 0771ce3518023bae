#include "sim/pcap_writer.hpp"

#include <pcap/pcap.h>

#include "sim/world.hpp"

namespace maillab::sim {
namespace {

constexpr std::uint8_t tcp_fin_flag = 0x01, tcp_syn_flag = 0x02, tcp_rst_flag = 0x04, tcp_psh_flag = 0x08,
                       tcp_ack_flag = 0x10;

void put16(std::string& out, std::uint16_t v) {
  out.push_back(static_cast<char>(v >> 8));
  out.push_back(static_cast<char>(v & 0xFF));
}
void put32(std::string& out, std::uint32_t v) {
  put16(out, static_cast<std::uint16_t>(v >> 16));
  put16(out, static_cast<std::uint16_t>(v & 0xFFFF));
}

// The Internet checksum (RFC 1071) over `data`, starting from `sum`.
std::uint16_t checksum(std::string_view data, std::uint32_t sum = 0) {
  for (std::size_t i = 0; i + 1 < data.size(); i += 2)
    sum += (static_cast<std::uint8_t>(data[i]) << 8U) | static_cast<std::uint8_t>(data[i + 1]);
  if (data.size() % 2) sum += static_cast<std::uint8_t>(data.back()) << 8U;
  while (sum >> 16U) sum = (sum & 0xFFFF) + (sum >> 16U);
  return static_cast<std::uint16_t>(~sum & 0xFFFF);
}

std::uint32_t pseudo_sum(const Ipv4& src, const Ipv4& dst, std::uint8_t protocol, std::size_t length) {
  std::uint32_t sum = 0;
  sum += (src[0] << 8U) | src[1];
  sum += (src[2] << 8U) | src[3];
  sum += (dst[0] << 8U) | dst[1];
  sum += (dst[2] << 8U) | dst[3];
  sum += protocol;
  sum += static_cast<std::uint32_t>(length);
  return sum;
}

}  // namespace

Result<std::unique_ptr<PcapWriter>> PcapWriter::open(const std::string& path, const World& world) {
  pcap* handle = pcap_open_dead(DLT_RAW, 65535);
  if (!handle) return make_error(ErrorCategory::io, "pcap_open_dead failed");
  pcap_dumper* dumper = pcap_dump_open(handle, path.c_str());
  if (!dumper) {
    std::string why = pcap_geterr(handle);
    pcap_close(handle);
    return make_error(ErrorCategory::io, path + ": " + why);
  }
  return std::unique_ptr<PcapWriter>(new PcapWriter(handle, dumper, world));
}

PcapWriter::~PcapWriter() {
  pcap_dump_close(dumper_);
  pcap_close(handle_);
}

void PcapWriter::packet(const Ipv4& src, const Ipv4& dst, std::uint8_t protocol, const std::string& transport) {
  std::string ip;
  ip.push_back(0x45);
  ip.push_back(0);
  put16(ip, static_cast<std::uint16_t>(20 + transport.size()));
  put16(ip, ip_id_++);
  put16(ip, 0x4000);  // don't fragment
  ip.push_back(64);
  ip.push_back(static_cast<char>(protocol));
  put16(ip, 0);
  ip.append(reinterpret_cast<const char*>(src.data()), 4);
  ip.append(reinterpret_cast<const char*>(dst.data()), 4);
  const std::uint16_t sum = checksum(ip);
  ip[10] = static_cast<char>(sum >> 8);
  ip[11] = static_cast<char>(sum & 0xFF);
  ip += transport;
  const std::int64_t us = world_.now().us;
  pcap_pkthdr header{};
  header.ts.tv_sec = static_cast<time_t>(world_.scenario().start_unix_s + us / 1'000'000);
  header.ts.tv_usec = static_cast<suseconds_t>(us % 1'000'000);
  header.caplen = static_cast<bpf_u_int32>(ip.size());
  header.len = header.caplen;
  pcap_dump(reinterpret_cast<u_char*>(dumper_), &header, reinterpret_cast<const u_char*>(ip.data()));
}

void PcapWriter::segment(Flow& flow, Side from, std::uint8_t flags, std::string_view payload) {
  const int f = static_cast<int>(from);
  const int t = 1 - f;
  std::string tcp;
  put16(tcp, flow.ends[f].port);
  put16(tcp, flow.ends[t].port);
  put32(tcp, flow.next_seq[f]);
  put32(tcp, (flags & tcp_ack_flag) ? flow.next_seq[t] : 0);
  tcp.push_back(0x50);  // 5 words, no options
  tcp.push_back(static_cast<char>(flags));
  put16(tcp, 65535);
  put16(tcp, 0);
  put16(tcp, 0);
  tcp += payload;
  const std::uint16_t sum =
      checksum(tcp, pseudo_sum(flow.ends[f].address, flow.ends[t].address, 6, tcp.size()));
  tcp[16] = static_cast<char>(sum >> 8);
  tcp[17] = static_cast<char>(sum & 0xFF);
  packet(flow.ends[f].address, flow.ends[t].address, 6, tcp);
  flow.next_seq[f] += static_cast<std::uint32_t>(payload.size());
  if (flags & (tcp_syn_flag | tcp_fin_flag)) flow.next_seq[f] += 1;
}

void PcapWriter::tcp_syn(ConnectionId id, const Endpoint& client, const Endpoint& server) {
  Flow& flow = flows_[id];
  flow.ends[0] = client;
  flow.ends[1] = server;
  flow.next_seq[0] = static_cast<std::uint32_t>(id * 0x01000193U + 0x1000);
  flow.next_seq[1] = static_cast<std::uint32_t>(id * 0x2545F491U + 0x8000);
  segment(flow, Side::client, tcp_syn_flag, {});
}

void PcapWriter::tcp_established(ConnectionId id) {
  auto it = flows_.find(id);
  if (it == flows_.end()) return;
  it->second.established = true;
  segment(it->second, Side::server, tcp_syn_flag | tcp_ack_flag, {});
  segment(it->second, Side::client, tcp_ack_flag, {});
}

void PcapWriter::tcp_reset(ConnectionId id, Side from) {
  auto it = flows_.find(id);
  if (it == flows_.end()) return;
  if (!it->second.established) it->second.next_seq[1] = 0;
  segment(it->second, from, tcp_rst_flag | tcp_ack_flag, {});
  flows_.erase(it);
}

void PcapWriter::tcp_data(ConnectionId id, Side from, std::string_view bytes) {
  auto it = flows_.find(id);
  if (it == flows_.end()) return;
  for (std::size_t i = 0; i < bytes.size(); i += 1460)
    segment(it->second, from, tcp_psh_flag | tcp_ack_flag, bytes.substr(i, 1460));
}

void PcapWriter::tcp_fin(ConnectionId id, Side from) {
  auto it = flows_.find(id);
  if (it == flows_.end()) return;
  segment(it->second, from, tcp_fin_flag | tcp_ack_flag, {});
}

void PcapWriter::udp(const Datagram& datagram) {
  std::string u;
  put16(u, datagram.source.port);
  put16(u, datagram.destination.port);
  put16(u, static_cast<std::uint16_t>(8 + datagram.payload.size()));
  put16(u, 0);
  u.append(reinterpret_cast<const char*>(datagram.payload.data()), datagram.payload.size());
  std::uint16_t sum = checksum(u, pseudo_sum(datagram.source.address, datagram.destination.address, 17, u.size()));
  if (sum == 0) sum = 0xFFFF;
  u[6] = static_cast<char>(sum >> 8);
  u[7] = static_cast<char>(sum & 0xFF);
  packet(datagram.source.address, datagram.destination.address, 17, u);
}

}  // namespace maillab::sim
