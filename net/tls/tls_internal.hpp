// Shared by the net/tls sources only: the context's shared state, OpenSSL
// handle deleters, and the error-queue helper.  Not for use outside net/tls.
#pragma once

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <memory>
#include <string>
#include <string_view>

#include "net/tls/tls_certificate.hpp"
#include "net/tls/tls_context.hpp"

namespace maillab::net::tls::detail {

struct SslCtxFree { void operator()(SSL_CTX* p) const { SSL_CTX_free(p); } };
struct SslFree { void operator()(SSL* p) const { SSL_free(p); } };
struct BioFree { void operator()(BIO* p) const { BIO_free(p); } };
struct X509Free { void operator()(X509* p) const { X509_free(p); } };
struct PkeyFree { void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); } };

using SslCtxPtr = std::unique_ptr<SSL_CTX, SslCtxFree>;
using SslPtr = std::unique_ptr<SSL, SslFree>;
using BioPtr = std::unique_ptr<BIO, BioFree>;
using X509Ptr = std::unique_ptr<X509, X509Free>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;

// Drains OpenSSL's (per-thread) error queue into "reason; reason".  "" when empty.
std::string drain_openssl_errors();

// The SSL_CTX keylog callback; routes each line to the engine's sink, else the
// context's (defined in tls_engine.cpp).
void key_log_callback(const SSL* ssl, const char* line);

// Installs key_log_callback on the SSL_CTX while the context or one of its
// engines has a sink, and removes it otherwise.
void update_key_log_callback(TlsContext::Shared& shared);

// A read-only memory BIO over `text` (which must outlive it).
BioPtr memory_bio(std::string_view text);

// A self-signed certificate and its key as OpenSSL objects (tls_certificate.cpp):
// what make_self_signed_certificate writes as PEM and
// TlsContext::server_self_signed loads without a PEM round trip.  With
// `existing_key` the certificate is made for (and signed by) that key, which
// it then holds a reference to, and request.key_type is not used.
struct CertificateObjects {
  X509Ptr cert;
  PkeyPtr key;
};
// `existing_key_der`, when given, is existing_key's SubjectPublicKeyInfo as
// public_key_der makes it (OpenSSL 3.0 encodes through OSSL_ENCODER, ~0.8 M
// instructions: with_certificate_for makes it once per shared key).
Result<CertificateObjects> make_certificate_objects(const CertificateRequest& request,
                                                    EVP_PKEY* existing_key = nullptr,
                                                    std::string_view existing_key_der = {});
// i2d_PUBKEY: the key's SubjectPublicKeyInfo, DER.
Result<std::string> public_key_der(EVP_PKEY* key);

}  // namespace maillab::net::tls::detail

namespace maillab::net::tls {

struct TlsContext::Shared {
  detail::SslCtxPtr ctx;
  Role role = Role::client;
  bool verify = false;
  KeyLogSink key_log;
  bool engine_key_logs = false;  // some engine was given a sink of its own
  std::string key_der;           // the private key's public half as DER, once with_certificate_for needed it
};

// The certificate one copy of a server context presents instead of the
// SSL_CTX's own (TlsContext::with_certificate_for).
struct TlsContext::Certificate {
  detail::X509Ptr cert;
};

}  // namespace maillab::net::tls
