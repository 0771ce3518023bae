// MIME bombs (security catalogue row 32) against the MIME tree that FETCH
// BODYSTRUCTURE and BODY[section] are answered from (net/imap/imap_message.hpp):
// nesting deeper than kMimeDepthMax and more than kMimePartsMax parts become
// opaque leaves, and huge address and parameter lists are answered.  These
// tests assert the shape of the answer; how long it takes is bench's business.
#include <doctest/doctest.h>

#include <algorithm>
#include <string>

#include "net/imap/imap_message.hpp"

using namespace maillab::net::imap;

namespace {

std::size_t depth_of(const MimeNode& node) {
  std::size_t deepest = 0;
  for (const auto& part : node.parts) deepest = std::max(deepest, depth_of(part));
  if (node.message) deepest = std::max(deepest, depth_of(*node.message));
  return deepest + 1;
}

std::size_t nodes_in(const MimeNode& node) {
  std::size_t n = 1;
  for (const auto& part : node.parts) n += nodes_in(part);
  if (node.message) n += nodes_in(*node.message);
  return n;
}

std::size_t count_of(const std::string& hay, const std::string& needle) {
  std::size_t n = 0;
  for (auto at = hay.find(needle); at != std::string::npos; at = hay.find(needle, at + needle.size())) ++n;
  return n;
}

// `levels` multiparts, each the only part of the one above, around a text part.
std::string nested_multiparts(std::size_t levels) {
  std::string raw = "Subject: deep\r\nMIME-Version: 1.0\r\n";
  for (std::size_t n = 0; n < levels; ++n) {
    raw += "Content-Type: multipart/mixed; boundary=b" + std::to_string(n) + "\r\n\r\n--b" + std::to_string(n) + "\r\n";
  }
  raw += "Content-Type: text/plain\r\n\r\nboom\r\n";
  for (std::size_t n = levels; n-- > 0;) raw += "--b" + std::to_string(n) + "--\r\n";
  return raw;
}

// One multipart with `parts` text parts.
std::string sibling_parts(std::size_t parts) {
  std::string raw = "Subject: wide\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n";
  raw.reserve(parts * 40);
  for (std::size_t n = 0; n < parts; ++n) raw += "--x\r\nContent-Type: text/plain\r\n\r\npart " + std::to_string(n) + "\r\n";
  raw += "--x--\r\n";
  return raw;
}

}  // namespace

TEST_CASE("imap message bomb: 10,000 nested multiparts stop at kMimeDepthMax, the rest an opaque leaf") {
  const ParsedMessage message(nested_multiparts(10'000));
  CHECK(depth_of(message.root()) == kMimeDepthMax + 1);
  const std::string structure = message.body_structure(true);
  CHECK(count_of(structure, "\"MIXED\"") == kMimeDepthMax + 1);
  CHECK(count_of(structure, "(") < 20 * kMimeDepthMax);
  // The deepest part answered is the opaque multipart; below it there is nothing.
  std::vector<std::uint32_t> path(kMimeDepthMax, 1);
  const auto deepest = message.section(path, "", {});
  REQUIRE(deepest.has_value());
  CHECK(deepest->find("--b" + std::to_string(kMimeDepthMax) + "\r\n") != std::string::npos);
  path.push_back(1);
  path.push_back(1);
  CHECK_FALSE(message.section(path, "", {}).has_value());
}

TEST_CASE("imap message bomb: just under the depth cap every level is a part") {
  const ParsedMessage message(nested_multiparts(kMimeDepthMax - 1));
  CHECK(depth_of(message.root()) == kMimeDepthMax);
  std::vector<std::uint32_t> path(kMimeDepthMax - 1, 1);
  CHECK(message.section(path, "", {}) == std::optional<std::string>("boom"));
}

TEST_CASE("imap message bomb: 100,000 sibling parts give kMimePartsMax parts, the rest opaque in the last") {
  const ParsedMessage message(sibling_parts(100'000));
  CHECK(nodes_in(message.root()) == kMimePartsMax);
  CHECK(message.root().parts.size() == kMimePartsMax - 1);
  const std::string structure = message.body_structure(false);
  CHECK(count_of(structure, "\"PLAIN\"") == kMimePartsMax - 1);
  // Part 9,999 holds the parts that were not split off, delimiters and all: nothing is lost.
  const auto last = message.section({static_cast<std::uint32_t>(kMimePartsMax - 1)}, "", {});
  REQUIRE(last.has_value());
  CHECK(last->find("part 9998\r\n--x\r\n") == 0);
  CHECK(last->find("part 99999") != std::string::npos);
  CHECK(last->find("--x--") == std::string::npos);
  CHECK_FALSE(message.section({static_cast<std::uint32_t>(kMimePartsMax)}, "", {}).has_value());
}

TEST_CASE("imap message bomb: a multipart with fewer parts than the cap keeps every part") {
  const ParsedMessage message(sibling_parts(500));
  CHECK(message.root().parts.size() == 500);
  CHECK(message.section({500}, "TEXT", {}) == std::nullopt);  // a text part has no TEXT
  CHECK(message.section({500}, "", {}) == std::optional<std::string>("part 499"));
}

TEST_CASE("imap message bomb: the parts cap counts across nesting levels") {
  // 20 multiparts of 1,000 parts each inside one: 20,021 parts without a cap.
  std::string raw = "Subject: tree\r\nContent-Type: multipart/mixed; boundary=top\r\n\r\n";
  for (int m = 0; m < 20; ++m) {
    raw += "--top\r\nContent-Type: multipart/mixed; boundary=in" + std::to_string(m) + "\r\n\r\n";
    for (int n = 0; n < 1000; ++n) raw += "--in" + std::to_string(m) + "\r\n\r\nx\r\n";
    raw += "--in" + std::to_string(m) + "--\r\n";
  }
  raw += "--top--\r\n";
  const ParsedMessage message(raw);
  CHECK(nodes_in(message.root()) == kMimePartsMax);
  CHECK(message.root().parts.size() == 10);  // 1 + 10 x (1 + 999) + ... : the tenth inner multipart is the last split
  CHECK(message.body_structure(true).size() < 1'000'000);
}

TEST_CASE("imap message bomb: a From: of 5,000 addresses is answered in ENVELOPE") {
  std::string raw = "From: ";
  for (int n = 0; n < 5'000; ++n) raw += (n ? ",\r\n a" : "a") + std::to_string(n) + "@lab.test";
  raw += "\r\nSubject: many\r\n\r\nbody\r\n";
  const ParsedMessage message(raw);
  const std::string envelope = message.envelope();
  CHECK(count_of(envelope, "\"lab.test\")") == 3 * 5'000);  // From, Sender and Reply-To
  CHECK(envelope.find("(NIL NIL \"a4999\" \"lab.test\")") != std::string::npos);
  CHECK(message.body_structure(true).find("\"TEXT\" \"PLAIN\"") != std::string::npos);
}

TEST_CASE("imap message bomb: huge RFC 2231 parameter lists are answered") {
  SUBCASE("10,000 continuations of one parameter are one value") {
    std::string raw = "Content-Type: application/octet-stream;";
    for (int n = 0; n < 10'000; ++n) raw += "\r\n name*" + std::to_string(n) + "=ab;";
    raw += "\r\n\r\nbody\r\n";
    const ParsedMessage message(raw);
    const auto& params = message.root().params;
    REQUIRE(params.size() == 1);
    CHECK(params[0].first == "NAME");
    CHECK(params[0].second.size() == 20'000);
  }
  SUBCASE("5,000 distinct parameters are listed, encoded ones decoded") {
    std::string raw = "Content-Type: text/plain;";
    for (int n = 0; n < 5'000; ++n) raw += "\r\n p" + std::to_string(n) + "*=utf-8''%C3%A9;";
    raw += "\r\n\r\nbody\r\n";
    const ParsedMessage message(raw);
    const auto& params = message.root().params;
    CHECK(params.size() >= 5'000);
    CHECK(std::count_if(params.begin(), params.end(), [](const auto& p) { return p.second == "\xC3\xA9"; }) == 5'000);
  }
}
