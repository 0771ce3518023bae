// libFuzzer target: the RFC 5322 message model and dates (net/mail/message.hpp).
// Invariants: any bytes parse and serialise back to exactly themselves; the
// header section and body add up to the input; a prepended Received: field
// leaves the original bytes intact and raises the hop count by one; Message-ID
// and Date are present after ensure_message_id_and_date; a parsed date formats
// and re-parses to the same second.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "net/mail/message.hpp"

namespace mail = maillab::net::mail;

namespace {

void require(bool condition) {
  if (!condition) std::abort();
}

void check_date(std::string_view text) {
  auto t = mail::parse_rfc5322_date(text);
  if (!t.ok()) return;
  constexpr std::int64_t earliest_s = -62167219200;
  constexpr std::int64_t latest_s = 253402300799;
  if (*t < earliest_s || *t > latest_s) return;
  auto again = mail::parse_rfc5322_date(mail::format_rfc5322_date(*t));
  require(again.ok() && *again == *t);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view raw(reinterpret_cast<const char*>(data), size);
  auto m = mail::Message::parse(raw);
  require(m.serialize() == raw);
  require(m.header_size() + m.body().size() == raw.size());
  std::size_t fields = 0;
  for (const auto& f : m.fields()) {
    if (!f.is_field()) continue;
    ++fields;
    require(m.first(f.name) != nullptr);
    require(f.value.find('\n') == std::string::npos);
    if (f.name == "Date" || f.name == "date") check_date(f.value);
  }
  require(fields <= m.fields().size());
  check_date(raw);

  std::size_t hops = mail::hop_count(m);
  mail::ReceivedInfo info;
  info.helo = "client.lab.test";
  info.client_ip = "192.0.2.1";
  info.by_host = "mx.lab.test";
  info.id = "F00";
  info.date_s = static_cast<std::int64_t>(size) * 86400;
  require(mail::add_received(m, info).ok());
  require(mail::hop_count(m) == hops + 1);
  std::string with_received = m.serialize();
  require(with_received.size() > raw.size());
  require(std::string_view(with_received).substr(with_received.size() - raw.size()) == raw);
  require(mail::hop_count(mail::Message::parse(with_received)) == hops + 1);

  require(mail::ensure_message_id_and_date(m, "fuzz.1", "lab.test", 0).ok());
  auto reparsed = mail::Message::parse(m.serialize());
  require(reparsed.first("Message-ID") != nullptr);
  require(reparsed.first("Date") != nullptr);
  require(reparsed.body() == m.body());

  std::string normalized = mail::normalize_crlf(raw);
  require(mail::normalize_crlf(normalized) == normalized);
  return 0;
}
