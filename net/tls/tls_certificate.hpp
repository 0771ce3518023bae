// Self-signed server certificates for the lab, made with OpenSSL's API.
//
// Theory of operation.  The lab server (and the simulator) need a certificate
// that real clients can be told to accept: one key (EC P-256 or RSA 2048) and
// one X.509 v3 certificate signed by that key, carrying
//   - subjectAltName: every DNS name and IP address given (RFC 5280 §4.2.1.6;
//     clients match names against the SAN only, RFC 6125 §6.4.4),
//   - basicConstraints CA:FALSE (critical), keyUsage digitalSignature
//     (+ keyEncipherment for RSA), extendedKeyUsage serverAuth,
//   - subjectKeyIdentifier, and the first DNS name as the subject CN.
// The result is PEM text; where it is stored is the caller's business.
//
// Pure code reads no clock and draws no randomness of its own: the validity
// window starts at a caller-given Unix time, and the serial number is a SHA-256
// hash of the names, that time and the public key (RFC 5280 §4.1.2.2: positive,
// at most 20 octets).  Including the key keeps serials distinct when the lab
// regenerates a certificate for the same names, which browsers and Thunderbird
// insist on.  Key generation itself uses OpenSSL's own DRBG.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "net/core/result.hpp"

namespace maillab::net::tls {

enum class KeyType : std::uint8_t {
  ec_p256,   // fast to make; ECDSA signatures vary by a byte or two in length
  rsa_2048,  // slower to make; every signature has the same length
};

struct CertificateRequest {
  std::vector<std::string> dns_names;     // "localhost", "smtp.lab.test"; the first is the CN
  std::vector<std::string> ip_addresses;  // "127.0.0.1", "::1"
  KeyType key_type = KeyType::ec_p256;
  std::int64_t not_before_unix_s = 0;     // the caller's "now"
  std::int64_t validity_days = 825;       // the CA/Browser Forum's old ceiling
};

struct CertificateAndKey {
  std::string cert_pem;  // "-----BEGIN CERTIFICATE-----..."
  std::string key_pem;   // "-----BEGIN PRIVATE KEY-----..." (PKCS#8, unencrypted)
};

// Errors: invalid_argument for no names, an empty or over-long DNS name, a
// malformed IP address or a non-positive validity; tls when OpenSSL fails.
Result<CertificateAndKey> make_self_signed_certificate(const CertificateRequest& request);

}  // namespace maillab::net::tls
