// Helpers shared by the net/tls tests: one lab certificate per test run and an
// in-memory wire between two engines (quinn's test Pair, h11's ConnectionPair).
#pragma once

#include <doctest/doctest.h>

#include <string>

#include "net/tls/tls_certificate.hpp"
#include "net/tls/tls_context.hpp"
#include "net/tls/tls_engine.hpp"

namespace maillab::net::tls::testing {

// 2024-01-01T00:00:00Z: a fixed "now" keeps the tests independent of the clock.
inline constexpr std::int64_t test_now_unix_s = 1704067200;

inline const CertificateAndKey& lab_certificate() {
  static const CertificateAndKey cert = [] {
    CertificateRequest request;
    request.dns_names = {"localhost", "smtp.lab.test", "mail.school.test"};
    request.ip_addresses = {"127.0.0.1", "::1"};
    request.not_before_unix_s = test_now_unix_s;
    auto made = make_self_signed_certificate(request);
    REQUIRE_MESSAGE(made.ok(), (made.ok() ? "" : made.error().message));
    return *made;
  }();
  return cert;
}

inline TlsContext lab_server_context() {
  auto context = TlsContext::server(lab_certificate().cert_pem, lab_certificate().key_pem);
  REQUIRE_MESSAGE(context.ok(), (context.ok() ? "" : context.error().message));
  return *context;
}

inline TlsContext lab_client_context() {
  auto context = TlsContext::client_without_verification();
  REQUIRE(context.ok());
  return *context;
}

inline TlsEngine make_client(const TlsContext& context, std::string_view name) {
  auto engine = TlsEngine::client(context, name);
  REQUIRE_MESSAGE(engine.ok(), (engine.ok() ? "" : engine.error().message));
  return std::move(*engine);
}

inline TlsEngine make_server(const TlsContext& context) {
  auto engine = TlsEngine::server(context);
  REQUIRE(engine.ok());
  return std::move(*engine);
}

// Moves ciphertext both ways until neither side has anything to send.
inline void pump(TlsEngine& client, TlsEngine& server) {
  for (int round = 0; round < 64; ++round) {
    std::string to_server = client.poll_ciphertext();
    std::string to_client = server.poll_ciphertext();
    if (to_server.empty() && to_client.empty()) return;
    if (!to_server.empty()) server.handle_ciphertext(to_server);
    if (!to_client.empty()) client.handle_ciphertext(to_client);
  }
  FAIL("TLS engines kept talking for 64 rounds");
}

// A lab client (dialling "localhost") and server with their handshake done.
struct EstablishedPair {
  EstablishedPair() {
    pump(client, server);
    REQUIRE(server.handshake_complete());
  }
  TlsContext server_context = lab_server_context();
  TlsContext client_context = lab_client_context();
  TlsEngine client = make_client(client_context, "localhost");
  TlsEngine server = make_server(server_context);
};

}  // namespace maillab::net::tls::testing
