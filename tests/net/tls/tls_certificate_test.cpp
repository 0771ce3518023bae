#include <doctest/doctest.h>
#include <openssl/bn.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <memory>
#include <set>
#include <string>

#include "tests/net/tls/tls_test_support.hpp"

using namespace maillab::net::tls;
using namespace maillab::net::tls::testing;

namespace {

struct X509Free { void operator()(X509* p) const { X509_free(p); } };
using X509Ptr = std::unique_ptr<X509, X509Free>;

X509Ptr parse(const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  X509Ptr cert(PEM_read_bio_X509(bio, nullptr, nullptr, nullptr));
  BIO_free(bio);
  REQUIRE(cert);
  return cert;
}

std::set<std::string> san_entries(X509* cert) {
  std::set<std::string> out;
  auto* names = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  REQUIRE(names != nullptr);
  for (int i = 0; i < sk_GENERAL_NAME_num(names); ++i) {
    GENERAL_NAME* name = sk_GENERAL_NAME_value(names, i);
    if (name->type == GEN_DNS) {
      const auto* text = ASN1_STRING_get0_data(name->d.dNSName);
      out.insert("DNS:" + std::string(reinterpret_cast<const char*>(text),
                                      static_cast<std::size_t>(ASN1_STRING_length(name->d.dNSName))));
    } else if (name->type == GEN_IPADD) {
      out.insert("IP:" + std::to_string(ASN1_STRING_length(name->d.iPAddress)) + " octets");
    }
  }
  GENERAL_NAMES_free(names);
  return out;
}

std::string serial_hex(X509* cert) {
  BIGNUM* bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr);
  char* hex = BN_bn2hex(bn);
  std::string out(hex);
  OPENSSL_free(hex);
  BN_free(bn);
  return out;
}

}  // namespace

TEST_CASE("tls certificate: a self-signed certificate carries the requested DNS and IP SANs") {
  auto cert = parse(lab_certificate().cert_pem);
  CHECK(san_entries(cert.get()) == std::set<std::string>{"DNS:localhost", "DNS:smtp.lab.test",
                                                          "DNS:mail.school.test", "IP:4 octets",
                                                          "IP:16 octets"});
  CHECK(X509_check_host(cert.get(), "smtp.lab.test", 0, 0, nullptr) == 1);
  CHECK(X509_check_host(cert.get(), "other.lab.test", 0, 0, nullptr) == 0);
  CHECK(X509_check_ip_asc(cert.get(), "127.0.0.1", 0) == 1);
  CHECK(X509_check_ip_asc(cert.get(), "::1", 0) == 1);
  CHECK(X509_check_ip_asc(cert.get(), "10.0.0.1", 0) == 0);
}

TEST_CASE("tls certificate: X.509 v3, CA:FALSE, serverAuth, signed by its own key") {
  auto cert = parse(lab_certificate().cert_pem);
  CHECK(X509_get_version(cert.get()) == X509_VERSION_3);
  CHECK(X509_check_ca(cert.get()) == 0);
  CHECK((X509_get_extension_flags(cert.get()) & EXFLAG_BCONS) != 0);  // basicConstraints present
  CHECK((X509_get_extended_key_usage(cert.get()) & XKU_SSL_SERVER) != 0);
  CHECK((X509_get_key_usage(cert.get()) & KU_DIGITAL_SIGNATURE) != 0);
  CHECK((X509_get_key_usage(cert.get()) & KU_KEY_CERT_SIGN) == 0);
  CHECK(X509_check_purpose(cert.get(), X509_PURPOSE_SSL_SERVER, 0) == 1);
  EVP_PKEY* key = X509_get0_pubkey(cert.get());
  REQUIRE(key != nullptr);
  CHECK(EVP_PKEY_is_a(key, "EC"));
  CHECK(X509_verify(cert.get(), key) == 1);
  char cn[128] = {};
  X509_NAME_get_text_by_NID(X509_get_subject_name(cert.get()), NID_commonName, cn, sizeof cn);
  CHECK(std::string(cn) == "localhost");
  CHECK(X509_NAME_cmp(X509_get_subject_name(cert.get()), X509_get_issuer_name(cert.get())) == 0);
  CHECK(lab_certificate().key_pem.find("-----BEGIN PRIVATE KEY-----") == 0);
}

TEST_CASE("tls certificate: validity starts at the given time and lasts the given days") {
  auto cert = parse(lab_certificate().cert_pem);
  int days = 0;
  int seconds = 0;
  REQUIRE(ASN1_TIME_diff(&days, &seconds, X509_get0_notBefore(cert.get()), X509_get0_notAfter(cert.get())) == 1);
  CHECK(days == 825);
  CHECK(seconds == 0);
  CHECK(ASN1_TIME_cmp_time_t(X509_get0_notBefore(cert.get()), test_now_unix_s) == 0);
}

TEST_CASE("tls certificate: RSA 2048 keys work, and serials are positive and differ per key") {
  CertificateRequest request;
  request.dns_names = {"localhost"};
  request.ip_addresses = {"127.0.0.1"};
  request.key_type = KeyType::rsa_2048;
  request.not_before_unix_s = test_now_unix_s;
  auto first = make_self_signed_certificate(request);
  auto second = make_self_signed_certificate(request);
  REQUIRE(first.ok());
  REQUIRE(second.ok());
  auto a = parse(first->cert_pem);
  auto b = parse(second->cert_pem);
  CHECK(EVP_PKEY_is_a(X509_get0_pubkey(a.get()), "RSA"));
  CHECK(EVP_PKEY_get_bits(X509_get0_pubkey(a.get())) == 2048);
  CHECK((X509_get_key_usage(a.get()) & KU_KEY_ENCIPHERMENT) != 0);
  CHECK(ASN1_INTEGER_get_int64(nullptr, X509_get0_serialNumber(a.get())) == 0);  // too big for 64 bits
  CHECK(serial_hex(a.get()).size() == 32);  // 16 octets, no sign octet
  CHECK(serial_hex(a.get()) != serial_hex(b.get()));

  auto context = TlsContext::server(first->cert_pem, first->key_pem);
  REQUIRE(context.ok());
  auto client_context = TlsContext::client_verifying(first->cert_pem, test_now_unix_s + 86400);
  REQUIRE(client_context.ok());
  auto client = make_client(*client_context, "127.0.0.1");
  auto server = make_server(*context);
  pump(client, server);
  CHECK(client.handshake_complete());
}

TEST_CASE("tls certificate: bad requests are errors") {
  CertificateRequest request;
  CHECK_FALSE(make_self_signed_certificate(request).ok());  // no names at all
  for (const char* bad : {"", "two words", "a..b", "x,DNS:evil.test", "trailing.dot."}) {
    std::string shown(bad);
    CAPTURE(shown);
    request.dns_names = {"localhost", bad};
    auto made = make_self_signed_certificate(request);
    REQUIRE_FALSE(made.ok());
    CHECK(made.error().category == maillab::ErrorCategory::invalid_argument);
  }
  request.dns_names = {"localhost"};
  request.ip_addresses = {"300.1.1.1"};
  CHECK_FALSE(make_self_signed_certificate(request).ok());
  request.ip_addresses = {};
  request.validity_days = 0;
  CHECK_FALSE(make_self_signed_certificate(request).ok());
}
