// Events the POP3 engines report beside the shared ones of net/core/engine.hpp.
//
// A multi-line response (RETR, TOP, LIST, UIDL, CAPA, AUTH's mechanism list)
// is one BodyEvent, not a LineEvent per line: the transcript shows its status
// line and then this summary.  Octets and lines count what crossed the wire
// (byte-stuffed, terminating "." excluded).  The same event reports plaintext
// the server threw away after STLS (CVE-2011-0411).
#pragma once

#include <cstdint>
#include <string>

#include "net/core/engine.hpp"

namespace maillab::net::pop3 {

struct BodyEvent {
  Direction dir = Direction::server_to_client;
  std::string what;  // "message 3", "scan listing", "capability list", ...
  std::uint32_t lines = 0;
  std::uint64_t octets = 0;
  bool tls = false;
};

}  // namespace maillab::net::pop3
