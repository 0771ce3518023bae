// Appending a number in decimal to a string without a temporary string: the
// spool header, Maildir base names and the trace's clock do this for every message.
#pragma once

#include <charconv>
#include <concepts>
#include <cstddef>
#include <string>

namespace maillab::net {

// Appends `value` in decimal, left-padded with zeros to at least `min_digits` digits.
template <std::integral T>
void append_decimal(std::string& out, T value, int min_digits = 1) {
  char digits[24];
  char* end = std::to_chars(digits, digits + sizeof digits, value).ptr;
  for (auto n = end - digits; n < min_digits; ++n) out += '0';
  out.append(digits, static_cast<std::size_t>(end - digits));
}

}  // namespace maillab::net
