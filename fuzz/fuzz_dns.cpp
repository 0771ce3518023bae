// libFuzzer target: DNS message decoding (net/dns/dns_message.hpp).
// Arbitrary bytes go to decode(); whatever decodes must encode to a packet that
// decodes to an equal message, and encoding that again gives the same octets.
// The seeds in fuzz/corpus/dns/ are a captured dig query and lab answers.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "net/dns/dns_message.hpp"

namespace dns = maillab::net::dns;

namespace {

void require(bool condition) {
  if (!condition) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto message = dns::decode(std::span(data, size));
  if (!message) {
    require(!message.error().message.empty());
    return 0;
  }
  for (const auto* section : {&message->answers, &message->authority, &message->additional}) {
    for (const auto& record : *section) require(!dns::describe(record).empty());
  }
  auto wire = dns::encode(*message);
  auto again = dns::decode(wire);
  require(again.ok());
  require(*again == *message);
  require(dns::encode(*again) == wire);
  return 0;
}
