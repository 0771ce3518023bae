#include "net/io/dns_zone.hpp"

#include <algorithm>
#include <cctype>

namespace maillab::net::io {

namespace {

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

constexpr std::size_t udp_plain_octets = 512;     // RFC 1035 §2.3.4
constexpr std::uint16_t udp_edns_octets = 1232;   // the DNS flag day 2020 size

}  // namespace

void DnsZone::add_a(const std::string& name, std::array<std::uint8_t, 4> address) {
  auto& list = a[lower(name)];
  if (std::find(list.begin(), list.end(), address) == list.end()) list.push_back(address);
}

void DnsZone::add_mx(const std::string& domain, MxTarget target) {
  target.exchange = lower(target.exchange);
  mx[lower(domain)].push_back(std::move(target));
}

bool DnsZone::name_exists(const std::string& name) const {
  return a.contains(name) || mx.contains(name) || empty_names.contains(name) || apexes.contains(name);
}

bool DnsZone::in_zone(const std::string& name) const {
  for (const auto& apex : apexes) {
    if (name == apex) return true;
    if (name.size() > apex.size() && name.ends_with(apex) && name[name.size() - apex.size() - 1] == '.') return true;
  }
  return name_exists(name);
}

dns::Message answer(const DnsZone& zone, const dns::Message& query) {
  dns::Message response;
  response.id = query.id;
  response.is_response = true;
  response.opcode = query.opcode;
  response.recursion_desired = query.recursion_desired;
  response.checking_disabled = query.checking_disabled;
  response.questions = query.questions;
  if (query.opcode != 0) {
    response.rcode = dns::Rcode::not_implemented;
    return response;
  }
  if (query.questions.size() != 1) {
    response.rcode = dns::Rcode::format_error;
    return response;
  }
  const dns::Question& question = query.questions.front();
  const std::string name = lower(question.name);
  if (question.dns_class != dns::class_in || !zone.in_zone(name)) {
    response.rcode = dns::Rcode::refused;
    return response;
  }
  response.authoritative = true;
  auto add_a = [&](const std::string& owner, std::vector<dns::Record>& section) {
    auto it = zone.a.find(owner);
    if (it == zone.a.end()) return;
    for (const auto& address : it->second) {
      dns::Record record;
      record.name = owner;
      record.type = dns::RecordType::a;
      record.ttl_s = zone.ttl_s;
      record.ipv4 = address;
      section.push_back(record);
    }
  };
  if (question.type == dns::RecordType::a) {
    add_a(name, response.answers);
  } else if (question.type == dns::RecordType::mx) {
    if (auto it = zone.mx.find(name); it != zone.mx.end()) {
      for (const auto& target : it->second) {
        dns::Record record;
        record.name = name;
        record.type = dns::RecordType::mx;
        record.ttl_s = zone.ttl_s;
        record.preference = target.preference;
        record.exchange = target.exchange;
        response.answers.push_back(record);
        if (!target.exchange.empty()) add_a(target.exchange, response.additional);
      }
    }
  }
  if (response.answers.empty() && !zone.name_exists(name)) response.rcode = dns::Rcode::name_error;
  return response;
}

std::optional<std::vector<std::uint8_t>> answer_datagram(const DnsZone& zone, std::span<const std::uint8_t> bytes) {
  auto decoded = dns::decode(bytes);
  if (!decoded) {
    if (bytes.size() < 12 || (bytes[2] & 0x80) != 0) return std::nullopt;  // no header, or a response
    dns::Message error;
    error.id = static_cast<std::uint16_t>((bytes[0] << 8) | bytes[1]);
    error.is_response = true;
    error.rcode = dns::Rcode::format_error;
    return dns::encode(error);
  }
  const dns::Message& query = decoded.value();
  if (query.is_response) return std::nullopt;
  dns::Message response = answer(zone, query);
  std::size_t limit = udp_plain_octets;
  for (const auto& record : query.additional) {
    if (record.type != dns::RecordType::opt) continue;
    limit = std::clamp<std::size_t>(record.dns_class, udp_plain_octets, udp_edns_octets);
    dns::Record opt;
    opt.type = dns::RecordType::opt;
    opt.dns_class = udp_edns_octets;
    opt.ttl_s = 0;
    response.additional.push_back(opt);
    break;
  }
  auto encoded = dns::encode(response);
  if (encoded.size() > limit) {
    std::erase_if(response.additional, [](const dns::Record& r) { return r.type != dns::RecordType::opt; });
    encoded = dns::encode(response);
  }
  if (encoded.size() > limit) {
    response.answers.clear();
    response.truncated = true;
    encoded = dns::encode(response);
  }
  return encoded;
}

}  // namespace maillab::net::io
