#include <doctest/doctest.h>

#include "net/imap/imap_mutf7.hpp"

using namespace maillab::net::imap;

TEST_CASE("mutf7: RFC 3501 §5.1.3 example round-trips") {
  std::string utf8 = "~peter/mail/\xe5\x8f\xb0\xe5\x8c\x97/\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e";
  auto encoded = mutf7_encode(utf8);
  REQUIRE(encoded);
  CHECK(*encoded == "~peter/mail/&U,BTFw-/&ZeVnLIqe-");
  auto decoded = mutf7_decode(*encoded);
  REQUIRE(decoded);
  CHECK(*decoded == utf8);
}

TEST_CASE("mutf7: ampersand, umlauts and astral characters") {
  CHECK(mutf7_decode("Tom &- Jerry") == std::optional<std::string>("Tom & Jerry"));
  CHECK(mutf7_encode("Entw\xc3\xbc" "rfe") == std::optional<std::string>("Entw&APw-rfe"));
  auto emoji = mutf7_encode("\xf0\x9f\x93\xa7");  // U+1F4E7, a surrogate pair
  REQUIRE(emoji);
  CHECK(mutf7_decode(*emoji) == std::optional<std::string>("\xf0\x9f\x93\xa7"));
}

TEST_CASE("mutf7: non-canonical and malformed spellings are refused (catalogue row 39)") {
  CHECK_FALSE(mutf7_decode("&AGEAYgBj-"));    // "abc" hidden in a shift
  CHECK_FALSE(mutf7_decode("&AC4ALg-"));      // ".." hidden in a shift
  CHECK_FALSE(mutf7_decode("&Jjo!"));         // bad base64, no terminator
  CHECK_FALSE(mutf7_decode("&Jjo"));          // unterminated
  CHECK_FALSE(mutf7_decode("&APw-&APw-"));    // two shifts where one would do
  CHECK_FALSE(mutf7_decode("&APx-"));         // non-zero pad bits
  CHECK_FALSE(mutf7_decode("&2D0-"));         // lone high surrogate
  CHECK_FALSE(mutf7_decode("&AAA-"));         // U+0000
  CHECK_FALSE(mutf7_decode("a\x01" "b"));     // control character
  CHECK_FALSE(mutf7_decode("caf\xc3\xa9"));   // raw 8-bit
  CHECK_FALSE(mutf7_encode("\xc3"));          // invalid UTF-8
  CHECK_FALSE(mutf7_encode("\xc0\xaf"));      // overlong
}
