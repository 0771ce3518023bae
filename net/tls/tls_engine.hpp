// One TLS connection over OpenSSL memory BIOs: sans-I/O, like the protocol
// engines, so the same TLS runs over the simulator's virtual network and over
// real sockets.
//
// Theory of operation.  The driver moves bytes; the engine never touches a
// socket:
//   handle_ciphertext(bytes)  records from the peer (any split, any size)
//   poll_ciphertext()         records to send to the peer (handshake, data,
//                             alerts, close_notify); drain it after every call
//   write_plaintext(bytes)    application data to protect; queued until the
//                             handshake completes, then sent
//   poll_plaintext()          application data the peer sent, decrypted
//   close()                   sends close_notify (RFC 8446 §6.1)
// States:
//   handshaking -> established -> closed      (close() or the peer's close_notify)
//   any         -> failed                     (sticky; error() says why)
// A failed engine may still hold an alert in poll_ciphertext(): send it, then
// close the connection.  A client names the server with SNI (RFC 6066 §3) unless
// the name is an IP literal; a verifying client also checks that name against
// the certificate (RFC 6125), IP literals against its IP SANs.
//
// OpenSSL keeps its error queue per thread; every call here starts from an
// empty queue and leaves it empty.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "net/core/result.hpp"
#include "net/tls/tls_context.hpp"

namespace maillab::net::tls {

enum class TlsState : std::uint8_t { handshaking, established, closed, failed };

// "handshaking", "established", ...: for traces and tooltips.
std::string_view state_name(TlsState state);

class TlsEngine {
 public:
  // `server_name` is what the client dialled: a host name (sent as SNI and, when
  // verifying, matched against the certificate) or an IP literal.
  static Result<TlsEngine> client(const TlsContext& context, std::string_view server_name);
  static Result<TlsEngine> server(const TlsContext& context);

  TlsEngine(TlsEngine&&) noexcept;
  TlsEngine& operator=(TlsEngine&&) noexcept;
  TlsEngine(const TlsEngine&) = delete;
  TlsEngine& operator=(const TlsEngine&) = delete;
  ~TlsEngine();

  void handle_ciphertext(std::string_view bytes);
  void handle_ciphertext(std::span<const std::uint8_t> bytes);
  [[nodiscard]] std::string poll_ciphertext();
  // The same, appended to `out`: a driver that keeps one buffer for it gets no
  // fresh allocation (and no fresh pages) per write of a long FETCH.
  void poll_ciphertext(std::string& out);

  void write_plaintext(std::string_view bytes);
  [[nodiscard]] std::string poll_plaintext();

  // Sends close_notify once; after it nothing more is written.
  void close();

  [[nodiscard]] TlsState state() const;
  [[nodiscard]] bool handshake_complete() const;  // established, or closed after establishing
  [[nodiscard]] bool peer_closed() const;         // the peer's close_notify arrived
  [[nodiscard]] bool failed() const { return state() == TlsState::failed; }
  // Why the engine failed: "TLS handshake failed: certificate verify failed
  // (hostname mismatch)", "TLS record error: wrong version number".
  [[nodiscard]] const std::optional<Error>& error() const;

  // After the handshake: "TLSv1.3", "TLS_AES_256_GCM_SHA384" (IANA names, RFC 8446
  // Appendix B.4), and both as the transcript shows them.  Empty before.
  [[nodiscard]] std::string protocol_version() const;
  [[nodiscard]] std::string cipher() const;
  [[nodiscard]] std::string description() const;  // "TLSv1.3 TLS_AES_256_GCM_SHA384"

  // Server side: the name the client asked for with SNI, "" when it sent none.
  [[nodiscard]] std::string requested_server_name() const;

  // This connection's secrets go to `sink` instead of the context's.  The
  // first engine given a sink switches key logging on in the shared SSL_CTX
  // (set sinks before handshakes run on other threads).
  void set_key_log(KeyLogSink sink);

  struct Impl;

 private:
  explicit TlsEngine(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace maillab::net::tls
