// The pcap of a lesson: a classic libpcap file of raw IPv4 packets with the
// TCP handshakes, data, FINs and the DNS datagrams; decoded by tshark when it is
// installed (Debian package tshark), else that part is skipped with a message.
#include <doctest/doctest.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include "sim/pcap_writer.hpp"
#include "sim/scenario.hpp"
#include "sim/world.hpp"

using namespace maillab;
using namespace maillab::sim;
namespace fs = std::filesystem;

namespace {

fs::path source_root() {
  if (const char* env = std::getenv("MAILLAB_SOURCE_DIR")) return env;
  return fs::path(__FILE__).parent_path().parent_path().parent_path();
}

std::string run_command(const std::string& command) {
  std::string out;
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(command.c_str(), "r"), pclose);
  if (!pipe) return out;
  std::array<char, 4096> buffer{};
  while (std::fgets(buffer.data(), buffer.size(), pipe.get())) out += buffer.data();
  return out;
}

struct Packet {
  std::uint8_t protocol = 0;
  std::uint16_t src_port = 0, dst_port = 0;
  std::uint8_t tcp_flags = 0;
};

std::uint16_t be16(const std::string& s, std::size_t at) {
  return static_cast<std::uint16_t>((static_cast<std::uint8_t>(s[at]) << 8) | static_cast<std::uint8_t>(s[at + 1]));
}

std::uint32_t le32(const std::string& s, std::size_t at) {
  std::uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<std::uint8_t>(s[at + static_cast<std::size_t>(i)]);
  return v;
}

}  // namespace

TEST_CASE("pcap: a lesson's traffic is written as IPv4 TCP/UDP packets tshark can decode") {
  auto load = load_scenario_file((source_root() / "scenarios" / "02-two-domains.toml").string());
  REQUIRE(load.scenario);
  const fs::path path = fs::temp_directory_path() / "maillab-pcap-test.pcap";
  {
    World world(*load.scenario, 1);
    auto writer = PcapWriter::open(path.string(), world);
    REQUIRE(writer);
    world.set_network_observer(writer->get());
    world.run();
  }
  std::ifstream in(path, std::ios::binary);
  std::ostringstream bytes;
  bytes << in.rdbuf();
  const std::string file = bytes.str();
  REQUIRE(file.size() > 24);
  CHECK(le32(file, 0) == 0xA1B2C3D4U);  // classic pcap, microseconds
  std::vector<Packet> packets;
  for (std::size_t at = 24; at + 16 <= file.size();) {
    const std::uint32_t length = le32(file, at + 8);
    const std::string ip = file.substr(at + 16, length);
    at += 16 + length;
    REQUIRE(ip.size() >= 28);
    CHECK((static_cast<std::uint8_t>(ip[0]) >> 4) == 4);
    Packet p;
    p.protocol = static_cast<std::uint8_t>(ip[9]);
    p.src_port = be16(ip, 20);
    p.dst_port = be16(ip, 22);
    if (p.protocol == 6) p.tcp_flags = static_cast<std::uint8_t>(ip[33]);
    packets.push_back(p);
  }
  auto count = [&](auto pred) { return std::count_if(packets.begin(), packets.end(), pred); };
  CHECK(count([](const Packet& p) { return p.protocol == 17 && p.dst_port == 53; }) > 0);
  CHECK(count([](const Packet& p) { return p.protocol == 6 && p.dst_port == 25 && p.tcp_flags == 0x02; }) == 1);
  CHECK(count([](const Packet& p) { return p.protocol == 6 && p.dst_port == 587 && p.tcp_flags == 0x02; }) == 1);
  CHECK(count([](const Packet& p) { return p.protocol == 6 && (p.tcp_flags & 0x01); }) >= 4);  // FINs both ways

  if (run_command("command -v tshark").empty()) {
    MESSAGE("tshark is not installed: skipping the dissector check (apt-get install tshark)");
    return;
  }
  const std::string smtp = run_command("tshark -r " + path.string() + " -Y smtp 2>/dev/null");
  const std::string dns = run_command("tshark -r " + path.string() + " -Y dns 2>/dev/null");
  CHECK(smtp.find("EHLO") != std::string::npos);
  CHECK(dns.find("MX") != std::string::npos);
}

TEST_CASE("pcap: an IMAP fetch is on port 143 and tshark decodes its clear-text part as IMAP") {
  auto load = load_scenario_file((source_root() / "scenarios" / "01-basics.toml").string());
  REQUIRE(load.scenario);
  const fs::path path = fs::temp_directory_path() / "maillab-pcap-imap-test.pcap";
  {
    World world(*load.scenario, 1);
    auto writer = PcapWriter::open(path.string(), world);
    REQUIRE(writer);
    world.set_network_observer(writer->get());
    world.run();
  }
  std::ifstream in(path, std::ios::binary);
  std::ostringstream bytes;
  bytes << in.rdbuf();
  const std::string file = bytes.str();
  std::size_t imap_syns = 0;
  for (std::size_t at = 24; at + 16 <= file.size();) {
    const std::uint32_t length = le32(file, at + 8);
    const std::string ip = file.substr(at + 16, length);
    at += 16 + length;
    REQUIRE(ip.size() >= 28);
    if (static_cast<std::uint8_t>(ip[9]) == 6 && be16(ip, 22) == 143 && static_cast<std::uint8_t>(ip[33]) == 0x02)
      ++imap_syns;
  }
  CHECK(imap_syns == 1);
  if (run_command("command -v tshark").empty()) {
    MESSAGE("tshark is not installed: skipping the dissector check (apt-get install tshark)");
    return;
  }
  const std::string imap = run_command("tshark -r " + path.string() + " -Y imap 2>/dev/null");
  CHECK(imap.find("STARTTLS") != std::string::npos);
  CHECK(imap.find("CAPABILITY") != std::string::npos);
}
