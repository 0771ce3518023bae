// TLS configuration shared by many connections: one OpenSSL SSL_CTX.
//
// Theory of operation.  A TlsContext is made once per role and host (a server
// with its certificate and key, or a client with its trust policy) and handed to
// every TlsEngine of that role; copies share the same SSL_CTX.  Many hosts may
// share one server SSL_CTX and key, each copy presenting its own certificate
// (with_certificate_for): the simulator's MTAs, where a key and an SSL_CTX per
// host cost more to make than all the handshakes of a small run.  Policy, the
// same for both roles:
//   - TLS 1.2 minimum (RFC 8996 deprecates 1.0/1.1; RFC 8314 §4.1 asks mail
//     clients for 1.2+), TLS 1.3 preferred;
//   - OpenSSL's default cipher list minus legacy suites: no static-RSA key
//     exchange, no SHA-1 MACs, no 3DES/RC4/CAMELLIA/ARIA/SEED/IDEA, no
//     anonymous or PSK/SRP suites (TLS 1.3 suites are OpenSSL's defaults);
//   - no renegotiation and no compression (CRIME).
// Clients either skip verification (the lab's certificates are self-signed and
// the simulator dials them by host name) or verify against given CA PEM text;
// a verifying client checks the peer's name in TlsEngine (RFC 6125).
//
// The key log (NSS key log format, what SSLKEYLOGFILE writes) goes to a sink:
// one line per secret, without newline, e.g.
//   CLIENT_HANDSHAKE_TRAFFIC_SECRET <64 hex client random> <hex secret>
// so that the simulator can write FILE.pcap.keys for Wireshark.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <openssl/types.h>

#include "net/core/result.hpp"
#include "net/tls/tls_certificate.hpp"

namespace maillab::net::tls {

enum class Role : std::uint8_t { client, server };

// One NSS key log line, without the trailing newline.
using KeyLogSink = std::function<void(std::string_view line)>;

class TlsContext {
 public:
  // A server with its certificate chain (leaf first) and private key, as PEM.
  static Result<TlsContext> server(std::string_view cert_pem, std::string_view key_pem);
  // A server with a fresh self-signed certificate for `request`
  // (tls_certificate.hpp), loaded as made, without a PEM round trip: the
  // simulator's hosts, which never need the PEM text.
  static Result<TlsContext> server_self_signed(const CertificateRequest& request);
  static Result<TlsContext> server_from_files(const std::filesystem::path& cert_file,
                                              const std::filesystem::path& key_file);
  // A client that accepts any certificate: the lab's are self-signed.
  static Result<TlsContext> client_without_verification();
  // A client that trusts exactly the certificates in `ca_pem` (CAs or, for a
  // self-signed lab certificate, the certificate itself) and checks the name.
  // Validity periods are checked at `verify_at_unix_s` (the simulator's clock),
  // or at OpenSSL's wall-clock time when none is given (the lab server).
  static Result<TlsContext> client_verifying(std::string_view ca_pem,
                                             std::optional<std::int64_t> verify_at_unix_s = std::nullopt);

  // A copy of this server context whose engines present a certificate of
  // their own for `request` (made and signed like server_self_signed's, with
  // this context's private key; request.key_type is not used).  The SSL_CTX,
  // key and key log stay shared.
  [[nodiscard]] Result<TlsContext> with_certificate_for(const CertificateRequest& request) const;

  [[nodiscard]] Role role() const;
  [[nodiscard]] bool verifies_peer() const;

  // Every secret of every connection made from this context goes to `sink`
  // (an engine may override it, see TlsEngine::set_key_log).  Empty: none.
  // OpenSSL formats the secrets only while some sink is set: without one a
  // handshake costs no key log work.
  void set_key_log(KeyLogSink sink);

  // For tests and drivers that tune OpenSSL beyond this policy.
  [[nodiscard]] SSL_CTX* native_handle() const;

  struct Shared;  // the SSL_CTX and the key log sink, shared by copies and engines
  struct Certificate;  // what with_certificate_for made

 private:
  explicit TlsContext(std::shared_ptr<Shared> shared) : shared_(std::move(shared)) {}
  friend class TlsEngine;
  std::shared_ptr<Shared> shared_;
  std::shared_ptr<const Certificate> certificate_;  // null: the SSL_CTX's own
};

}  // namespace maillab::net::tls
