#include "net/tls/tls_context.hpp"

#include <openssl/err.h>
#include <openssl/pem.h>

#include <cassert>
#include <climits>
#include <fstream>
#include <sstream>
#include <utility>

#include "net/tls/tls_internal.hpp"

namespace maillab::net::tls {

namespace detail {

std::string drain_openssl_errors() {
  std::string out;
  while (unsigned long code = ERR_get_error()) {
    const char* reason = ERR_reason_error_string(code);
    std::string text;
    if (reason != nullptr) {
      text = reason;
    } else {
      char buffer[256];
      ERR_error_string_n(code, buffer, sizeof buffer);
      text = buffer;
    }
    if (out.find(text) != std::string::npos) continue;
    if (!out.empty()) out += "; ";
    out += text;
  }
  return out;
}

// With a callback installed OpenSSL formats every secret of every handshake
// in hex (sprintf per octet, ~0.5 M instructions a handshake) before calling
// it: installed only while a sink may want the lines.
void update_key_log_callback(TlsContext::Shared& shared) {
  const bool wanted = shared.key_log || shared.engine_key_logs;
  SSL_CTX_set_keylog_callback(shared.ctx.get(), wanted ? &key_log_callback : nullptr);
}

BioPtr memory_bio(std::string_view text) {
  assert(text.size() <= static_cast<std::size_t>(INT_MAX));
  return BioPtr(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
}

}  // namespace detail

namespace {

// OpenSSL's DEFAULT minus what RFC 7525 / RFC 9325 §4.1-4.2 call legacy.
constexpr const char* tls12_cipher_list =
    "DEFAULT:!aNULL:!eNULL:!kRSA:!PSK:!SRP:!DSS:!RC4:!3DES:!SEED:!IDEA:!CAMELLIA:!ARIA:!MD5:!SHA1";

Error tls_error(std::string what) {
  std::string detail = detail::drain_openssl_errors();
  if (!detail.empty()) what += ": " + detail;
  return make_error(ErrorCategory::tls, std::move(what));
}

Result<std::shared_ptr<TlsContext::Shared>> make_shared_context(Role role) {
  ERR_clear_error();
  detail::SslCtxPtr ctx(SSL_CTX_new(role == Role::server ? TLS_server_method() : TLS_client_method()));
  if (!ctx) return tls_error("cannot create TLS context");
  if (SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION) != 1 ||
      SSL_CTX_set_cipher_list(ctx.get(), tls12_cipher_list) != 1) {
    return tls_error("cannot set TLS protocol policy");
  }
  SSL_CTX_set_options(ctx.get(), SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                                     SSL_OP_CIPHER_SERVER_PREFERENCE);
  // A partial write of a record must not stall a memory BIO driver.
  SSL_CTX_set_mode(ctx.get(), SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  // No key log callback until someone gives a sink (detail::update_key_log_callback).
  auto shared = std::make_shared<TlsContext::Shared>();
  shared->ctx = std::move(ctx);
  shared->role = role;
  return shared;
}

Result<std::string> read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error(ErrorCategory::not_found, "cannot open " + path.string());
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return make_error(ErrorCategory::io, "cannot read " + path.string());
  return text.str();
}

}  // namespace

Result<TlsContext> TlsContext::server(std::string_view cert_pem, std::string_view key_pem) {
  auto shared = make_shared_context(Role::server);
  if (!shared) return shared.error();
  SSL_CTX* ctx = (*shared)->ctx.get();

  auto cert_bio = detail::memory_bio(cert_pem);
  detail::X509Ptr leaf(PEM_read_bio_X509(cert_bio.get(), nullptr, nullptr, nullptr));
  if (!leaf) return tls_error("no certificate in the PEM text");
  if (SSL_CTX_use_certificate(ctx, leaf.get()) != 1) return tls_error("certificate refused");
  while (X509* extra = PEM_read_bio_X509(cert_bio.get(), nullptr, nullptr, nullptr)) {
    if (SSL_CTX_add0_chain_cert(ctx, extra) != 1) {
      X509_free(extra);
      return tls_error("chain certificate refused");
    }
  }
  ERR_clear_error();  // the loop above ends on "no start line"

  auto key_bio = detail::memory_bio(key_pem);
  detail::PkeyPtr key(PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr));
  if (!key) return tls_error("no private key in the PEM text");
  if (SSL_CTX_use_PrivateKey(ctx, key.get()) != 1) return tls_error("the private key does not match the certificate or is unusable");
  if (SSL_CTX_check_private_key(ctx) != 1) {
    return tls_error("the private key does not match the certificate");
  }
  return TlsContext(std::move(*shared));
}

Result<TlsContext> TlsContext::server_self_signed(const CertificateRequest& request) {
  auto made = detail::make_certificate_objects(request);
  if (!made) return made.error();
  auto shared = make_shared_context(Role::server);
  if (!shared) return shared.error();
  SSL_CTX* ctx = (*shared)->ctx.get();
  if (SSL_CTX_use_certificate(ctx, made->cert.get()) != 1) return tls_error("certificate refused");
  if (SSL_CTX_use_PrivateKey(ctx, made->key.get()) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
    return tls_error("the private key does not match the certificate");
  }
  return TlsContext(std::move(*shared));
}

Result<TlsContext> TlsContext::server_from_files(const std::filesystem::path& cert_file,
                                                 const std::filesystem::path& key_file) {
  auto cert = read_file(cert_file);
  if (!cert) return cert.error();
  auto key = read_file(key_file);
  if (!key) return key.error();
  auto context = server(*cert, *key);
  if (!context) {
    Error error = context.error();
    error.message = cert_file.string() + ", " + key_file.string() + ": " + error.message;
    return error;
  }
  return context;
}

Result<TlsContext> TlsContext::client_without_verification() {
  auto shared = make_shared_context(Role::client);
  if (!shared) return shared.error();
  SSL_CTX_set_verify((*shared)->ctx.get(), SSL_VERIFY_NONE, nullptr);
  return TlsContext(std::move(*shared));
}

Result<TlsContext> TlsContext::client_verifying(std::string_view ca_pem,
                                                std::optional<std::int64_t> verify_at_unix_s) {
  auto shared = make_shared_context(Role::client);
  if (!shared) return shared.error();
  SSL_CTX* ctx = (*shared)->ctx.get();
  X509_STORE* store = SSL_CTX_get_cert_store(ctx);
  auto bio = detail::memory_bio(ca_pem);
  int count = 0;
  while (X509* cert = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
    int added = X509_STORE_add_cert(store, cert);
    X509_free(cert);
    if (added != 1) return tls_error("trusted certificate refused");
    ++count;
  }
  ERR_clear_error();
  if (count == 0) return make_error(ErrorCategory::tls, "no certificate in the trusted PEM text");
  // A trusted certificate ends the chain even when it is not a self-signed CA:
  // that is how a client pins the lab's self-signed CA:FALSE certificate.
  X509_STORE_set_flags(store, X509_V_FLAG_PARTIAL_CHAIN);
  if (verify_at_unix_s) {
    X509_VERIFY_PARAM_set_time(SSL_CTX_get0_param(ctx), static_cast<time_t>(*verify_at_unix_s));
  }
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  (*shared)->verify = true;
  return TlsContext(std::move(*shared));
}

Result<TlsContext> TlsContext::with_certificate_for(const CertificateRequest& request) const {
  assert(role() == Role::server);
  EVP_PKEY* key = SSL_CTX_get0_privatekey(shared_->ctx.get());
  if (key == nullptr) return make_error(ErrorCategory::tls, "the TLS context has no private key");
  if (shared_->key_der.empty()) {
    auto der = detail::public_key_der(key);
    if (!der) return der.error();
    shared_->key_der = std::move(der).value();
  }
  auto made = detail::make_certificate_objects(request, key, shared_->key_der);
  if (!made) return made.error();
  auto certificate = std::make_shared<Certificate>();
  certificate->cert = std::move(made->cert);
  TlsContext copy(shared_);
  copy.certificate_ = std::move(certificate);
  return copy;
}

Role TlsContext::role() const { return shared_->role; }
bool TlsContext::verifies_peer() const { return shared_->verify; }
void TlsContext::set_key_log(KeyLogSink sink) {
  shared_->key_log = std::move(sink);
  detail::update_key_log_callback(*shared_);
}
SSL_CTX* TlsContext::native_handle() const { return shared_->ctx.get(); }

}  // namespace maillab::net::tls
