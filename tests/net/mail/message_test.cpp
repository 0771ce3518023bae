#include <doctest/doctest.h>

#include <string>

#include "net/mail/message.hpp"

using namespace maillab::net::mail;

TEST_CASE("message: normalize_crlf turns bare CR, bare LF and CRLF into CRLF") {
  CHECK(normalize_crlf("") == "");
  CHECK(normalize_crlf("abc") == "abc");
  CHECK(normalize_crlf("a\r\nb\r\n") == "a\r\nb\r\n");
  CHECK(normalize_crlf("a\nb\n") == "a\r\nb\r\n");
  CHECK(normalize_crlf("a\rb\r") == "a\r\nb\r\n");
  CHECK(normalize_crlf("a\n\rb") == "a\r\n\r\nb");      // LF then CR: two line ends
  CHECK(normalize_crlf("a\r\r\nb") == "a\r\n\r\nb");    // bare CR then CRLF
  CHECK(normalize_crlf("\n.\n") == "\r\n.\r\n");        // smuggling shapes become plain lines
  CHECK(normalize_crlf(std::string("a\0b\n", 4)) == std::string("a\0b\r\n", 5));
}
