#include "net/tls/tls_certificate.hpp"

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>

#include <array>
#include <memory>
#include <string_view>

#include "net/tls/tls_internal.hpp"

namespace maillab::net::tls {

namespace {

struct GeneralNamesFree {
  void operator()(GENERAL_NAMES* p) const { GENERAL_NAMES_free(p); }
};
struct BnFree { void operator()(BIGNUM* p) const { BN_free(p); } };
struct ExtFree { void operator()(X509_EXTENSION* p) const { X509_EXTENSION_free(p); } };

Error tls_error(std::string what) {
  std::string reasons = detail::drain_openssl_errors();
  if (!reasons.empty()) what += ": " + reasons;
  return make_error(ErrorCategory::tls, std::move(what));
}

Error bad_request(std::string what) { return make_error(ErrorCategory::invalid_argument, std::move(what)); }

// RFC 1035 §2.3.1 host names, plus '_' and a leading "*." wildcard label.
bool valid_dns_name(std::string_view name) {
  if (name.empty() || name.size() > 253) return false;
  if (name.starts_with("*.")) name.remove_prefix(2);
  std::size_t label = 0;
  for (std::size_t i = 0; i <= name.size(); ++i) {
    if (i == name.size() || name[i] == '.') {
      if (label == 0 || label > 63) return false;
      label = 0;
      continue;
    }
    char c = name[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
              c == '_';
    if (!ok) return false;
    ++label;
  }
  return true;
}

Result<detail::PkeyPtr> make_key(KeyType type) {
  EVP_PKEY* key = type == KeyType::ec_p256 ? EVP_EC_gen("P-256") : EVP_RSA_gen(2048);
  if (key == nullptr) return tls_error("cannot generate a key");
  return detail::PkeyPtr(key);
}

Result<detail::PkeyPtr> share_key(EVP_PKEY* key) {
  if (EVP_PKEY_up_ref(key) != 1) return tls_error("cannot share the key");
  return detail::PkeyPtr(key);
}

std::string bio_text(BIO* bio) {
  char* data = nullptr;
  long size = BIO_get_mem_data(bio, &data);
  return size > 0 ? std::string(data, static_cast<std::size_t>(size)) : std::string();
}

// SHA-256 over the names, the start of validity and the public key (its
// SubjectPublicKeyInfo DER, `key_der`): unique per generated key, reproducible
// from the certificate's own contents.
Result<void> set_serial(X509* cert, const CertificateRequest& request, std::string_view key_der) {
  std::string input;
  for (const auto& name : request.dns_names) input += "DNS:" + name + "\n";
  for (const auto& ip : request.ip_addresses) input += "IP:" + ip + "\n";
  input += "notBefore:" + std::to_string(request.not_before_unix_s) + "\n";
  input.append(key_der);

  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int digest_size = 0;
  if (EVP_Digest(input.data(), input.size(), digest.data(), &digest_size, EVP_sha256(), nullptr) != 1) {
    return tls_error("cannot hash the serial number");
  }
  // 16 octets, top bit clear (positive), second bit set (no leading zero octet).
  digest[0] = static_cast<unsigned char>((digest[0] & 0x7f) | 0x40);
  std::unique_ptr<BIGNUM, BnFree> serial(BN_bin2bn(digest.data(), 16, nullptr));
  if (!serial || BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert)) == nullptr) {
    return tls_error("cannot set the serial number");
  }
  return {};
}

Result<void> add_extension(X509* cert, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
  std::unique_ptr<X509_EXTENSION, ExtFree> ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value));
  if (!ext || X509_add_ext(cert, ext.get(), -1) != 1) {
    return tls_error(std::string("cannot add extension ") + OBJ_nid2sn(nid));
  }
  return {};
}

Result<void> add_subject_alt_names(X509* cert, const CertificateRequest& request) {
  std::unique_ptr<GENERAL_NAMES, GeneralNamesFree> names(GENERAL_NAMES_new());
  if (!names) return tls_error("cannot allocate subjectAltName");
  for (const auto& dns : request.dns_names) {
    ASN1_IA5STRING* text = ASN1_IA5STRING_new();
    if (text == nullptr || ASN1_STRING_set(text, dns.data(), static_cast<int>(dns.size())) != 1) {
      ASN1_IA5STRING_free(text);
      return tls_error("cannot encode DNS name " + dns);
    }
    GENERAL_NAME* name = GENERAL_NAME_new();
    if (name == nullptr) {
      ASN1_IA5STRING_free(text);
      return tls_error("cannot allocate subjectAltName");
    }
    GENERAL_NAME_set0_value(name, GEN_DNS, text);
    if (sk_GENERAL_NAME_push(names.get(), name) == 0) {
      GENERAL_NAME_free(name);
      return tls_error("cannot allocate subjectAltName");
    }
  }
  for (const auto& ip : request.ip_addresses) {
    ASN1_OCTET_STRING* octets = a2i_IPADDRESS(ip.c_str());
    if (octets == nullptr) {
      ERR_clear_error();
      return bad_request("not an IP address: \"" + ip + "\"");
    }
    GENERAL_NAME* name = GENERAL_NAME_new();
    if (name == nullptr) {
      ASN1_OCTET_STRING_free(octets);
      return tls_error("cannot allocate subjectAltName");
    }
    GENERAL_NAME_set0_value(name, GEN_IPADD, octets);
    if (sk_GENERAL_NAME_push(names.get(), name) == 0) {
      GENERAL_NAME_free(name);
      return tls_error("cannot allocate subjectAltName");
    }
  }
  if (X509_add1_ext_i2d(cert, NID_subject_alt_name, names.get(), 0, X509V3_ADD_DEFAULT) != 1) {
    return tls_error("cannot add subjectAltName");
  }
  return {};
}

}  // namespace

namespace detail {

Result<std::string> public_key_der(EVP_PKEY* key) {
  unsigned char* der = nullptr;
  const int der_size = i2d_PUBKEY(key, &der);
  if (der_size <= 0) return tls_error("cannot encode the public key");
  std::string out(reinterpret_cast<const char*>(der), static_cast<std::size_t>(der_size));
  OPENSSL_free(der);
  return out;
}

Result<CertificateObjects> make_certificate_objects(const CertificateRequest& request, EVP_PKEY* existing_key,
                                                    std::string_view existing_key_der) {
  if (request.dns_names.empty() && request.ip_addresses.empty()) {
    return bad_request("a certificate needs at least one DNS name or IP address");
  }
  for (const auto& dns : request.dns_names) {
    if (!valid_dns_name(dns)) return bad_request("not a DNS name: \"" + dns + "\"");
  }
  for (const auto& ip : request.ip_addresses) {
    ASN1_OCTET_STRING* octets = a2i_IPADDRESS(ip.c_str());
    ERR_clear_error();
    if (octets == nullptr) return bad_request("not an IP address: \"" + ip + "\"");
    ASN1_OCTET_STRING_free(octets);
  }
  if (request.validity_days <= 0 || request.validity_days > 36500) {
    return bad_request("certificate validity must be 1 to 36500 days");
  }
  ERR_clear_error();
  auto key = existing_key != nullptr ? share_key(existing_key) : make_key(request.key_type);
  if (!key) return key.error();
  const bool rsa = EVP_PKEY_get_base_id(key->get()) == EVP_PKEY_RSA;

  detail::X509Ptr cert(X509_new());
  if (!cert || X509_set_version(cert.get(), X509_VERSION_3) != 1) return tls_error("cannot create a certificate");
  std::string made_key_der;
  std::string_view key_der = existing_key != nullptr ? existing_key_der : std::string_view();
  if (key_der.empty()) {
    auto der = public_key_der(key->get());
    if (!der) return der.error();
    made_key_der = std::move(der).value();
    key_der = made_key_der;
  }
  if (auto serial = set_serial(cert.get(), request, key_der); !serial) return serial.error();

  auto not_before = static_cast<time_t>(request.not_before_unix_s);
  if (ASN1_TIME_adj(X509_getm_notBefore(cert.get()), not_before, 0, 0) == nullptr ||
      ASN1_TIME_adj(X509_getm_notAfter(cert.get()), not_before, static_cast<int>(request.validity_days),
                    0) == nullptr) {
    return tls_error("cannot set the validity period");
  }

  X509_NAME* subject = X509_get_subject_name(cert.get());
  const std::string& common_name =
      request.dns_names.empty() ? request.ip_addresses.front() : request.dns_names.front();
  auto add_entry = [&](const char* field, const std::string& value) {
    return X509_NAME_add_entry_by_txt(subject, field, MBSTRING_UTF8,
                                      reinterpret_cast<const unsigned char*>(value.c_str()), -1, -1, 0) == 1;
  };
  if (!add_entry("O", "maillab") || (common_name.size() <= 64 && !add_entry("CN", common_name)) ||
      X509_set_issuer_name(cert.get(), subject) != 1) {
    return tls_error("cannot set the subject name");
  }
  if (X509_set_pubkey(cert.get(), key->get()) != 1) return tls_error("cannot set the public key");

  const char* key_usage = rsa ? "critical,digitalSignature,keyEncipherment" : "critical,digitalSignature";
  for (auto added : {add_extension(cert.get(), NID_basic_constraints, "critical,CA:FALSE"),
                     add_extension(cert.get(), NID_key_usage, key_usage),
                     add_extension(cert.get(), NID_ext_key_usage, "serverAuth"),
                     add_extension(cert.get(), NID_subject_key_identifier, "hash"),
                     add_subject_alt_names(cert.get(), request)}) {
    if (!added) return added.error();
  }
  if (X509_sign(cert.get(), key->get(), EVP_sha256()) <= 0) return tls_error("cannot sign the certificate");
  return CertificateObjects{std::move(cert), std::move(*key)};
}

}  // namespace detail

Result<CertificateAndKey> make_self_signed_certificate(const CertificateRequest& request) {
  auto made = detail::make_certificate_objects(request);
  if (!made) return made.error();
  detail::BioPtr cert_out(BIO_new(BIO_s_mem()));
  detail::BioPtr key_out(BIO_new(BIO_s_mem()));
  if (!cert_out || !key_out || PEM_write_bio_X509(cert_out.get(), made->cert.get()) != 1 ||
      PEM_write_bio_PrivateKey(key_out.get(), made->key.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return tls_error("cannot write PEM");
  }
  return CertificateAndKey{bio_text(cert_out.get()), bio_text(key_out.get())};
}

}  // namespace maillab::net::tls
