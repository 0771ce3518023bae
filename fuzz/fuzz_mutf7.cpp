// Fuzzes modified UTF-7 (RFC 3501 §5.1.3): whatever decodes must re-encode to the
// same bytes, and whatever encodes must decode back to the same UTF-8.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "net/imap/imap_mutf7.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  if (auto decoded = maillab::net::imap::mutf7_decode(input)) {
    auto again = maillab::net::imap::mutf7_encode(*decoded);
    if (!again || *again != input) std::abort();
  }
  if (auto encoded = maillab::net::imap::mutf7_encode(input)) {
    auto back = maillab::net::imap::mutf7_decode(*encoded);
    if (!back || *back != input) std::abort();
  }
  return 0;
}
