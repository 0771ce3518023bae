// libFuzzer target: RFC 5321 address parsing (net/mail/address.hpp).
// The first byte picks the options (bit 0: SMTPUTF8); the rest is the text, tried
// as a mailbox, a forward path and a reverse path.  Whatever parses must print
// back to a path that re-parses to an equal address, with no CR, LF or NUL in it.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "net/mail/address.hpp"

namespace mail = maillab::net::mail;

namespace {

void require(bool condition) {
  if (!condition) std::abort();
}

void check_round_trip(const mail::Address& a, mail::ParseOptions options) {
  std::string path = a.to_path();
  require(path.find_first_of(std::string_view("\r\n\0", 3)) == std::string::npos);
  require(path.size() <= 256);
  require(a.local_part.size() <= 64);
  auto again = a.is_null() ? mail::parse_reverse_path(path, options) : mail::parse_forward_path(path, options);
  require(again.ok());
  require(*again == a);
  require(again->local_part == a.local_part && again->domain == a.domain);
  require(again->to_path() == path);
  if (!a.is_null()) {
    auto mailbox = mail::parse_mailbox(a.to_string(), options);
    require(mailbox.ok() && *mailbox == a);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  mail::ParseOptions options{(data[0] & 1) != 0};
  std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  if (auto a = mail::parse_mailbox(text, options); a.ok()) {
    require(!a->is_null());
    check_round_trip(*a, options);
  }
  auto forward = mail::parse_forward_path(text, options);
  if (forward.ok()) check_round_trip(*forward, options);
  auto reverse = mail::parse_reverse_path(text, options);
  if (reverse.ok()) check_round_trip(*reverse, options);
  require(!forward.ok() || reverse.ok());  // every forward path is a reverse path
  (void)mail::is_postmaster_path(text);
  return 0;
}
