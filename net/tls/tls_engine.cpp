#include "net/tls/tls_engine.hpp"

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <array>
#include <cassert>
#include <climits>
#include <utility>

#include "net/tls/tls_internal.hpp"

namespace maillab::net::tls {

struct TlsEngine::Impl {
  std::shared_ptr<TlsContext::Shared> context;
  detail::SslPtr ssl;
  BIO* network_in = nullptr;   // ciphertext from the peer; owned by ssl
  BIO* network_out = nullptr;  // ciphertext for the peer; owned by ssl
  TlsState state = TlsState::handshaking;
  bool established_once = false;
  bool peer_closed = false;
  bool close_sent = false;
  std::string pending_plaintext;  // written before the handshake completed
  std::string plaintext_in;
  std::optional<Error> error;
  KeyLogSink key_log;

  void drive();
  void read_records();
  void write_records(std::string_view bytes);
  void fail(int ssl_error);
};

namespace detail {

void key_log_callback(const SSL* ssl, const char* line) {
  const auto* impl = static_cast<const TlsEngine::Impl*>(SSL_get_app_data(ssl));
  if (impl == nullptr) return;
  if (impl->key_log) {
    impl->key_log(line);
  } else if (impl->context->key_log) {
    impl->context->key_log(line);
  }
}

}  // namespace detail

namespace {

constexpr std::array<std::string_view, 4> state_names{"handshaking", "established", "closed",
                                                      "failed"};

bool is_ip_literal(std::string_view name) {
  std::string text(name);
  ASN1_OCTET_STRING* ip = a2i_IPADDRESS(text.c_str());
  ERR_clear_error();
  if (ip == nullptr) return false;
  ASN1_OCTET_STRING_free(ip);
  return true;
}

// Per record, ERR_clear_error() costs about as much as a small record's
// decryption (it walks every slot of the thread's queue); the queue is
// almost always empty already, and peeking at it is cheap.
void clear_errors() {
  if (ERR_peek_error() != 0) ERR_clear_error();
}

std::string ssl_error_name(int ssl_error) {
  switch (ssl_error) {
    case SSL_ERROR_ZERO_RETURN: return "the peer closed the TLS session";
    case SSL_ERROR_SYSCALL: return "unexpected end of the TLS stream";
    case SSL_ERROR_SSL: return "protocol error";
    default: return "OpenSSL error " + std::to_string(ssl_error);
  }
}

}  // namespace

std::string_view state_name(TlsState state) { return state_names.at(static_cast<std::size_t>(state)); }

void TlsEngine::Impl::fail(int ssl_error) {
  std::string message = established_once ? "TLS record error: " : "TLS handshake failed: ";
  std::string reasons = detail::drain_openssl_errors();
  message += reasons.empty() ? ssl_error_name(ssl_error) : reasons;
  long verify = SSL_get_verify_result(ssl.get());
  if (verify != X509_V_OK && context->verify) {
    message += std::string(" (") + X509_verify_cert_error_string(verify) + ")";
  }
  error = make_error(ErrorCategory::tls, std::move(message));
  state = TlsState::failed;
  pending_plaintext.clear();
}

void TlsEngine::Impl::drive() {
  if (state == TlsState::failed) return;
  if (!SSL_is_init_finished(ssl.get())) {
    clear_errors();
    int result = SSL_do_handshake(ssl.get());
    if (result != 1) {
      int ssl_error = SSL_get_error(ssl.get(), result);
      if (ssl_error != SSL_ERROR_WANT_READ && ssl_error != SSL_ERROR_WANT_WRITE) fail(ssl_error);
      return;
    }
    established_once = true;
    if (state == TlsState::handshaking) state = TlsState::established;
  }
  if (!pending_plaintext.empty() && !close_sent) {
    std::string pending = std::exchange(pending_plaintext, {});
    write_records(pending);
    if (state == TlsState::failed) return;
  }
  read_records();
}

void TlsEngine::Impl::read_records() {
  std::array<char, 16384> buffer;
  while (state != TlsState::failed && !peer_closed) {
    // Nothing buffered on either side of OpenSSL: the read could only say
    // WANT_READ (half the calls, at the cost of a small record).
    if (BIO_ctrl_pending(network_in) == 0 && SSL_has_pending(ssl.get()) == 0) return;
    clear_errors();
    std::size_t got = 0;
    if (SSL_read_ex(ssl.get(), buffer.data(), buffer.size(), &got) == 1) {
      plaintext_in.append(buffer.data(), got);
      continue;
    }
    int ssl_error = SSL_get_error(ssl.get(), 0);
    if (ssl_error == SSL_ERROR_WANT_READ || ssl_error == SSL_ERROR_WANT_WRITE) return;
    if (ssl_error == SSL_ERROR_ZERO_RETURN) {
      peer_closed = true;
      state = TlsState::closed;
      return;
    }
    fail(ssl_error);
  }
}

void TlsEngine::Impl::write_records(std::string_view bytes) {
  while (!bytes.empty() && state != TlsState::failed) {
    clear_errors();
    std::size_t written = 0;
    if (SSL_write_ex(ssl.get(), bytes.data(), bytes.size(), &written) == 1) {
      bytes.remove_prefix(written);
      continue;
    }
    int ssl_error = SSL_get_error(ssl.get(), 0);
    // A memory BIO never fills up; WANT_* here means the peer owes us records.
    if (ssl_error == SSL_ERROR_WANT_READ || ssl_error == SSL_ERROR_WANT_WRITE) {
      pending_plaintext.insert(0, bytes);
      return;
    }
    fail(ssl_error);
  }
}

TlsEngine::TlsEngine(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TlsEngine::TlsEngine(TlsEngine&&) noexcept = default;
TlsEngine& TlsEngine::operator=(TlsEngine&&) noexcept = default;
TlsEngine::~TlsEngine() = default;

namespace {

Result<std::unique_ptr<TlsEngine::Impl>> make_impl(const std::shared_ptr<TlsContext::Shared>& context) {
  ERR_clear_error();
  auto impl = std::make_unique<TlsEngine::Impl>();
  impl->context = context;
  impl->ssl.reset(SSL_new(context->ctx.get()));
  BIO* in = BIO_new(BIO_s_mem());
  BIO* out = BIO_new(BIO_s_mem());
  if (!impl->ssl || in == nullptr || out == nullptr) {
    BIO_free(in);
    BIO_free(out);
    std::string reasons = detail::drain_openssl_errors();
    return make_error(ErrorCategory::tls, "cannot create a TLS session: " + reasons);
  }
  BIO_set_mem_eof_return(in, -1);  // empty means "wait for more", not end of stream
  BIO_set_mem_eof_return(out, -1);
  SSL_set_bio(impl->ssl.get(), in, out);
  impl->network_in = in;
  impl->network_out = out;
  SSL_set_app_data(impl->ssl.get(), impl.get());
  return impl;
}

}  // namespace

Result<TlsEngine> TlsEngine::client(const TlsContext& context, std::string_view server_name) {
  assert(context.role() == Role::client);
  auto impl = make_impl(context.shared_);
  if (!impl) return impl.error();
  SSL* ssl = (*impl)->ssl.get();
  SSL_set_connect_state(ssl);
  std::string name(server_name);
  bool ip = is_ip_literal(name);
  if (!name.empty() && !ip && SSL_set_tlsext_host_name(ssl, name.c_str()) != 1) {
    return make_error(ErrorCategory::invalid_argument,
                      "invalid TLS server name \"" + name + "\": " + detail::drain_openssl_errors());
  }
  if (context.verifies_peer()) {
    if (name.empty()) {
      return make_error(ErrorCategory::invalid_argument, "a verifying TLS client needs a server name");
    }
    int set = ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name.c_str())
                 : SSL_set1_host(ssl, name.c_str());
    if (set != 1) {
      return make_error(ErrorCategory::invalid_argument,
                        "invalid TLS server name \"" + name + "\": " + detail::drain_openssl_errors());
    }
    SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
  }
  (*impl)->drive();  // the ClientHello
  return TlsEngine(std::move(*impl));
}

Result<TlsEngine> TlsEngine::server(const TlsContext& context) {
  assert(context.role() == Role::server);
  auto impl = make_impl(context.shared_);
  if (!impl) return impl.error();
  SSL* ssl = (*impl)->ssl.get();
  if (context.certificate_ && SSL_use_certificate(ssl, context.certificate_->cert.get()) != 1) {
    return make_error(ErrorCategory::tls, "certificate refused: " + detail::drain_openssl_errors());
  }
  SSL_set_accept_state(ssl);
  return TlsEngine(std::move(*impl));
}

void TlsEngine::handle_ciphertext(std::string_view bytes) {
  Impl& s = *impl_;
  if (s.state == TlsState::failed || bytes.empty()) return;
  while (!bytes.empty()) {
    int chunk = static_cast<int>(std::min<std::size_t>(bytes.size(), INT_MAX));
    int wrote = BIO_write(s.network_in, bytes.data(), chunk);
    assert(wrote == chunk);
    bytes.remove_prefix(static_cast<std::size_t>(wrote));
  }
  s.drive();
}

void TlsEngine::handle_ciphertext(std::span<const std::uint8_t> bytes) {
  handle_ciphertext(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}

std::string TlsEngine::poll_ciphertext() {
  std::string out;
  poll_ciphertext(out);
  return out;
}

void TlsEngine::poll_ciphertext(std::string& out) {
  const std::size_t pending = BIO_ctrl_pending(impl_->network_out);
  if (pending == 0) return;
  const std::size_t old_size = out.size();
  out.resize(old_size + pending);
  const int got = BIO_read(impl_->network_out, out.data() + old_size, static_cast<int>(pending));
  out.resize(old_size + (got > 0 ? static_cast<std::size_t>(got) : 0));
}

void TlsEngine::write_plaintext(std::string_view bytes) {
  Impl& s = *impl_;
  assert(!s.close_sent && "write_plaintext after close()");
  if (s.state == TlsState::failed || s.close_sent || bytes.empty()) return;
  if (!s.established_once || !s.pending_plaintext.empty()) {
    s.pending_plaintext.append(bytes);
    return;
  }
  s.write_records(bytes);
}

std::string TlsEngine::poll_plaintext() { return std::exchange(impl_->plaintext_in, {}); }

void TlsEngine::close() {
  Impl& s = *impl_;
  if (s.close_sent || s.state == TlsState::failed) return;
  s.close_sent = true;
  s.state = TlsState::closed;
  s.pending_plaintext.clear();
  if (!SSL_is_init_finished(s.ssl.get())) return;  // nothing to protect a close_notify with
  ERR_clear_error();
  SSL_shutdown(s.ssl.get());
  ERR_clear_error();
}

TlsState TlsEngine::state() const { return impl_->state; }
bool TlsEngine::handshake_complete() const { return impl_->established_once; }
bool TlsEngine::peer_closed() const { return impl_->peer_closed; }
const std::optional<Error>& TlsEngine::error() const { return impl_->error; }

std::string TlsEngine::protocol_version() const {
  if (!impl_->established_once) return {};
  return SSL_get_version(impl_->ssl.get());
}

std::string TlsEngine::cipher() const {
  if (!impl_->established_once) return {};
  const SSL_CIPHER* current = SSL_get_current_cipher(impl_->ssl.get());
  if (current == nullptr) return {};
  const char* name = SSL_CIPHER_standard_name(current);
  return name != nullptr ? name : SSL_CIPHER_get_name(current);
}

std::string TlsEngine::description() const {
  if (!impl_->established_once) return {};
  return protocol_version() + " " + cipher();
}

std::string TlsEngine::requested_server_name() const {
  const char* name = SSL_get_servername(impl_->ssl.get(), TLSEXT_NAMETYPE_host_name);
  return name != nullptr ? name : "";
}

void TlsEngine::set_key_log(KeyLogSink sink) {
  impl_->key_log = std::move(sink);
  if (!impl_->key_log || impl_->context->engine_key_logs) return;
  impl_->context->engine_key_logs = true;
  detail::update_key_log_callback(*impl_->context);
}

}  // namespace maillab::net::tls
