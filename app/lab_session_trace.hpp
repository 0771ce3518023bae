// SessionTrace: real clients' sessions in the world's trace (`serve --trace`,
// the studio's live view), beside the hops their mail causes.
//
// Theory of operation.  The TCP server (net/io) reports every real session's
// opening, each protocol line (client or server, in clear or inside TLS) and
// its end.  Each becomes a trace event as the world records its own sessions:
// `connect` when a session opens, `line` with dir C or S, `close` at the end;
// src and dst are the client ("127.0.0.1:51234") and the world host the port
// stands for (the greeting's name for the SMTP ports, the mailbox host for
// POP3 and IMAP), proto is smtp, submission, pop3 or imap.  The world is
// advanced to the present first, so events come out in time order.
// A real client may type a real password: the trace (a file, a projector)
// never shows one.  SMTP and POP3 AUTH and IMAP AUTHENTICATE keep the
// mechanism, their initial responses and every SASL response line after a
// server challenge ("334", "+") are replaced; IMAP LOGIN keeps the user name
// (a LOGIN with literals, none of its lines after a "+"), POP3 PASS the
// command only.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>

#include "app/lab_world.hpp"
#include "net/io/session.hpp"

namespace maillab::app {

class SessionTrace final : public net::io::SessionObserver {
 public:
  // `host_for(proto)`: the world host standing for that service.
  SessionTrace(LabWorld& world, std::function<std::string(const std::string& proto)> host_for)
      : world_(world), host_for_(std::move(host_for)) {}

  void opened(std::uint64_t connection, std::string_view service, const net::io::PeerInfo& peer, Instant now) override;
  void line(std::uint64_t connection, const net::LineEvent& line, Instant now) override;
  void closed(std::uint64_t connection, Instant now) override;

  // "smtps" -> "submission", "imaps" -> "imap": the protocol a service speaks.
  static std::string proto_of(std::string_view service);
  // A client line as the trace shows it (see the theory of operation);
  // `sasl_response`: the line answers a server challenge.
  static std::string hide_secrets(const std::string& proto, const std::string& text, bool sasl_response);

 private:
  struct Open {
    std::string client;
    std::string host;
    std::string proto;
    bool in_sasl = false;        // an AUTH/AUTHENTICATE exchange is going on
    bool challenge_sent = false;  // the server's last line was a SASL challenge
  };
  void add(sim::TraceEvent event);

  LabWorld& world_;
  std::function<std::string(const std::string&)> host_for_;
  std::map<std::uint64_t, Open> open_;
};

}  // namespace maillab::app
