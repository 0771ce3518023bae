#include <doctest/doctest.h>

#include "net/core/base64.hpp"
#include "net/core/sasl.hpp"

using namespace maillab::net;

TEST_CASE("base64: RFC 4648 test vectors round-trip") {
  const char* vectors[][2] = {{"", ""},         {"f", "Zg=="},         {"fo", "Zm8="},
                              {"foo", "Zm9v"},  {"foob", "Zm9vYg=="},  {"fooba", "Zm9vYmE="},
                              {"foobar", "Zm9vYmFy"}};
  for (auto& [plain, encoded] : vectors) {
    CHECK(base64_encode(plain) == encoded);
    auto decoded = base64_decode(encoded);
    REQUIRE(decoded);
    CHECK(*decoded == plain);
  }
}

TEST_CASE("base64: malformed input is refused, not guessed") {
  CHECK_FALSE(base64_decode("Zg="));      // length not a multiple of 4
  CHECK_FALSE(base64_decode("Z==="));     // padding too early
  CHECK_FALSE(base64_decode("Zg==Zm9v")); // padding before the last quantum
  CHECK_FALSE(base64_decode("Zm9*"));     // not in the alphabet
  CHECK_FALSE(base64_decode("Zm=v"));     // data after padding
}

TEST_CASE("sasl plain: decodes authcid and password, refuses impersonation") {
  auto creds = decode_sasl_plain(encode_sasl_plain("alice@lab.test", "s3cret"));
  REQUIRE(creds);
  CHECK(creds->user == "alice@lab.test");
  CHECK(creds->password == "s3cret");

  using namespace std::string_literals;
  CHECK(decode_sasl_plain(base64_encode("alice@lab.test\0alice@lab.test\0pw"s)));
  CHECK_FALSE(decode_sasl_plain(base64_encode("bob@lab.test\0alice@lab.test\0pw"s)));
  CHECK_FALSE(decode_sasl_plain(base64_encode("no-nuls-here")));
  CHECK_FALSE(decode_sasl_plain(base64_encode("\0\0pw"s)));
  CHECK_FALSE(decode_sasl_plain("!!!!"));
}
