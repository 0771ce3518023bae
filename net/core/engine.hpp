// What every sans-I/O protocol engine shares (SMTP, POP3, IMAP; client and server).
//
// Theory of operation.  Input is pushed, output is pulled (STYLE.md):
//   handle_bytes(now, bytes)   bytes from the peer (plaintext: TLS is the driver's)
//   handle_timeout(now)        the deadline from poll_timeout() has passed
//   handle_close(now)          the peer closed or the connection broke
//   poll_transmit()            bytes to send to the peer (may be empty)
//   poll_event()               the next event, if any (lines, state changes, ...)
//   poll_timeout()             the next deadline, or `never`
// The driver decides how many events to pull, so it can pause at any event
// boundary: that is what "step" means in the studio.
//
// STARTTLS is shared by all three protocols: the engine emits StartTls once it
// has sent (server) or received (client) the go-ahead, throws away any plaintext
// that was pipelined behind the command (CVE-2011-0411), and waits for the
// driver to call handle_tls_established() after the handshake.  From then on the
// driver runs every byte through net/tls; the engine still sees plaintext.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "net/core/time.hpp"

namespace maillab::net {

enum class Direction : std::uint8_t { client_to_server, server_to_client };

// One protocol line as it crossed the wire, without its CRLF.  DATA/literal
// payload is not a line event (it would flood the transcript); the engines
// report it as a summary event of their own.
struct LineEvent {
  Direction dir = Direction::client_to_server;
  std::string text;
  bool tls = false;  // the line travelled inside TLS
};

// Which protocol lines an engine reports as LineEvents (every engine config has one).
struct LineEventOptions {
  // The lines the peer sends too; a driver that runs both ends (the simulator)
  // records each line at its sender and turns this off.
  bool peer = true;
  // The lines this engine sends; off, lines_sent() alone counts them (the
  // simulator when nobody keeps, prints or watches the transcript).
  bool sent = true;
};

// Every state change goes through one enter_state(); this is its trace.
struct StateEvent {
  std::string_view from;  // human-readable names from the engine's state table
  std::string_view to;
};

// The engine has asked for TLS to start (see the theory of operation above).
struct StartTlsEvent {};

// The engine wants the connection closed once poll_transmit() is drained.
struct CloseEvent {
  std::string reason;
};

}  // namespace maillab::net
