#include "net/imap/imap_mutf7.hpp"

#include <array>
#include <cstdint>
#include <vector>

namespace maillab::net::imap {
namespace {

constexpr std::string_view kAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

int alphabet_index(char c) {
  auto pos = kAlphabet.find(c);
  return pos == std::string_view::npos ? -1 : static_cast<int>(pos);
}

bool is_direct(char32_t cp) { return cp >= 0x20 && cp <= 0x7e; }

void append_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xc0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xe0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  } else {
    out.push_back(static_cast<char>(0xf0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3f)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  }
}

// Strict UTF-8 decoding: no overlongs, no surrogates, nothing above U+10FFFF.
std::optional<std::vector<char32_t>> utf8_code_points(std::string_view s) {
  std::vector<char32_t> out;
  for (std::size_t i = 0; i < s.size();) {
    auto b0 = static_cast<unsigned char>(s[i]);
    std::size_t len = 0;
    char32_t cp = 0;
    if (b0 < 0x80) { len = 1; cp = b0; }
    else if ((b0 & 0xe0) == 0xc0) { len = 2; cp = b0 & 0x1f; }
    else if ((b0 & 0xf0) == 0xe0) { len = 3; cp = b0 & 0x0f; }
    else if ((b0 & 0xf8) == 0xf0) { len = 4; cp = b0 & 0x07; }
    else return std::nullopt;
    if (i + len > s.size()) return std::nullopt;
    for (std::size_t k = 1; k < len; ++k) {
      auto b = static_cast<unsigned char>(s[i + k]);
      if ((b & 0xc0) != 0x80) return std::nullopt;
      cp = (cp << 6) | (b & 0x3f);
    }
    static constexpr std::array<char32_t, 5> kMin{0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return std::nullopt;
    out.push_back(cp);
    i += len;
  }
  return out;
}

void flush_shift(std::string& out, std::vector<std::uint16_t>& units) {
  if (units.empty()) return;
  out.push_back('&');
  std::uint32_t bits = 0;
  int nbits = 0;
  for (auto u : units) {
    bits = (bits << 16) | u;
    nbits += 16;
    while (nbits >= 6) {
      nbits -= 6;
      out.push_back(kAlphabet[(bits >> nbits) & 0x3f]);
    }
    bits &= (1u << nbits) - 1;
  }
  if (nbits > 0) out.push_back(kAlphabet[(bits << (6 - nbits)) & 0x3f]);
  out.push_back('-');
  units.clear();
}

}  // namespace

std::optional<std::string> mutf7_encode(std::string_view utf8) {
  auto cps = utf8_code_points(utf8);
  if (!cps) return std::nullopt;
  std::string out;
  std::vector<std::uint16_t> units;
  for (char32_t cp : *cps) {
    if (cp == 0) return std::nullopt;
    if (is_direct(cp)) {
      flush_shift(out, units);
      out.push_back(static_cast<char>(cp));
      if (cp == U'&') out.push_back('-');
    } else if (cp < 0x10000) {
      units.push_back(static_cast<std::uint16_t>(cp));
    } else {
      char32_t v = cp - 0x10000;
      units.push_back(static_cast<std::uint16_t>(0xd800 + (v >> 10)));
      units.push_back(static_cast<std::uint16_t>(0xdc00 + (v & 0x3ff)));
    }
  }
  flush_shift(out, units);
  return out;
}

std::optional<std::string> mutf7_decode(std::string_view text) {
  std::string out;
  for (std::size_t i = 0; i < text.size();) {
    char c = text[i];
    if (!is_direct(static_cast<unsigned char>(c))) return std::nullopt;
    if (c != '&') {
      out.push_back(c);
      ++i;
      continue;
    }
    auto end = text.find('-', i + 1);
    if (end == std::string_view::npos) return std::nullopt;
    if (end == i + 1) {
      out.push_back('&');
      i = end + 1;
      continue;
    }
    std::uint32_t bits = 0;
    int nbits = 0;
    char32_t high = 0;
    for (std::size_t k = i + 1; k < end; ++k) {
      int v = alphabet_index(text[k]);
      if (v < 0) return std::nullopt;
      bits = (bits << 6) | static_cast<std::uint32_t>(v);
      nbits += 6;
      if (nbits < 16) continue;
      nbits -= 16;
      auto unit = static_cast<char32_t>((bits >> nbits) & 0xffff);
      bits &= (1u << nbits) - 1;
      if (high != 0) {
        if (unit < 0xdc00 || unit > 0xdfff) return std::nullopt;
        append_utf8(out, 0x10000 + ((high - 0xd800) << 10) + (unit - 0xdc00));
        high = 0;
      } else if (unit >= 0xd800 && unit <= 0xdbff) {
        high = unit;
      } else if ((unit >= 0xdc00 && unit <= 0xdfff) || unit == 0 || is_direct(unit)) {
        return std::nullopt;
      } else {
        append_utf8(out, unit);
      }
    }
    if (high != 0 || nbits >= 6 || bits != 0) return std::nullopt;
    i = end + 1;
  }
  auto again = mutf7_encode(out);
  if (!again || *again != text) return std::nullopt;
  return out;
}

}  // namespace maillab::net::imap
