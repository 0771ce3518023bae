#include <doctest/doctest.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <array>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "tests/net/tls/tls_test_support.hpp"

using namespace maillab::net::tls;
using namespace maillab::net::tls::testing;

namespace {

TlsContext verifying_client(const std::string& ca_pem) {
  auto context = TlsContext::client_verifying(ca_pem, test_now_unix_s + 86400);
  REQUIRE_MESSAGE(context.ok(), (context.ok() ? "" : context.error().message));
  return *context;
}

}  // namespace

TEST_CASE("tls engine: client and server complete a TLS 1.3 handshake in memory") {
  auto server_context = lab_server_context();
  auto client_context = lab_client_context();
  auto client = make_client(client_context, "smtp.lab.test");
  auto server = make_server(server_context);
  CHECK(client.state() == TlsState::handshaking);
  CHECK_FALSE(client.handshake_complete());
  CHECK(client.description().empty());

  pump(client, server);

  CHECK(client.handshake_complete());
  CHECK(server.handshake_complete());
  CHECK(client.state() == TlsState::established);
  CHECK(server.state() == TlsState::established);
  CHECK(state_name(server.state()) == "established");
  CHECK(client.protocol_version() == "TLSv1.3");
  CHECK(client.description() == "TLSv1.3 TLS_AES_256_GCM_SHA384");
  CHECK(server.description() == client.description());
  CHECK(server.requested_server_name() == "smtp.lab.test");
}

TEST_CASE("tls engine: data flows both ways, even fed one byte at a time") {
  EstablishedPair pair;
  auto& client = pair.client;
  auto& server = pair.server;

  client.write_plaintext("EHLO alice-pc\r\n");
  std::string records = client.poll_ciphertext();
  CHECK(records.find("EHLO") == std::string::npos);  // it is encrypted on the wire
  for (char byte : records) server.handle_ciphertext(std::string_view(&byte, 1));
  CHECK(server.poll_plaintext() == "EHLO alice-pc\r\n");
  CHECK(server.poll_plaintext().empty());

  std::string big(100000, 'x');  // several records
  server.write_plaintext(big);
  pump(client, server);
  CHECK(client.poll_plaintext() == big);
  CHECK_FALSE(client.failed());
  CHECK_FALSE(server.failed());
}

TEST_CASE("tls engine: poll_ciphertext into a buffer appends the records after what it holds") {
  EstablishedPair pair;
  auto& client = pair.client;
  auto& server = pair.server;

  std::string big(300000, 'y');  // several records
  server.write_plaintext(big);
  std::string wire = "kept";
  server.poll_ciphertext(wire);
  REQUIRE(wire.size() > big.size());
  CHECK(wire.substr(0, 4) == "kept");
  const std::size_t before_tail = wire.size();
  server.poll_ciphertext(wire);  // nothing pending: nothing appended
  CHECK(wire.size() == before_tail);
  server.write_plaintext("tail\r\n");
  server.poll_ciphertext(wire);
  CHECK(wire.size() > before_tail);
  client.handle_ciphertext(std::string_view(wire).substr(4));
  CHECK(client.poll_plaintext() == big + "tail\r\n");
  CHECK_FALSE(client.failed());
}

TEST_CASE("tls engine: plaintext written before the handshake is sent after it") {
  auto server_context = lab_server_context();
  auto client_context = lab_client_context();
  auto client = make_client(client_context, "localhost");
  auto server = make_server(server_context);
  client.write_plaintext("first line\r\n");
  std::string hello = client.poll_ciphertext();
  CHECK(hello.find("first line") == std::string::npos);
  server.handle_ciphertext(hello);
  pump(client, server);
  CHECK(server.poll_plaintext() == "first line\r\n");
}

TEST_CASE("tls engine: close() sends close_notify and the peer sees it") {
  EstablishedPair pair;
  auto& client = pair.client;
  auto& server = pair.server;
  server.write_plaintext("221 2.0.0 Bye\r\n");
  server.close();
  CHECK(server.state() == TlsState::closed);
  CHECK_FALSE(server.peer_closed());
  pump(client, server);
  CHECK(client.poll_plaintext() == "221 2.0.0 Bye\r\n");
  CHECK(client.peer_closed());
  CHECK(client.state() == TlsState::closed);
  CHECK_FALSE(client.failed());
  CHECK(client.handshake_complete());
}

TEST_CASE("tls engine: a verifying client accepts the lab certificate under each of its names") {
  auto server_context = lab_server_context();
  auto client_context = verifying_client(lab_certificate().cert_pem);
  CHECK(client_context.verifies_peer());
  for (const char* name : {"localhost", "smtp.lab.test", "mail.school.test", "127.0.0.1", "::1"}) {
    std::string shown(name);
    CAPTURE(shown);
    auto client = make_client(client_context, name);
    auto server = make_server(server_context);
    pump(client, server);
    CHECK_MESSAGE(client.handshake_complete(), (client.error() ? client.error()->message : ""));
    CHECK(server.handshake_complete());
  }
}

TEST_CASE("tls engine: a verifying client rejects a name the certificate does not carry") {
  auto server_context = lab_server_context();
  auto client_context = verifying_client(lab_certificate().cert_pem);
  for (const char* name : {"evil.test", "lab.test", "x.smtp.lab.test", "127.0.0.2"}) {
    std::string shown(name);
    CAPTURE(shown);
    auto client = make_client(client_context, name);
    auto server = make_server(server_context);
    pump(client, server);
    CHECK_FALSE(client.handshake_complete());
    REQUIRE(client.failed());
    REQUIRE(client.error().has_value());
    CHECK(client.error()->category == maillab::ErrorCategory::tls);
    CHECK(client.error()->message.find("TLS handshake failed: certificate verify failed") == 0);
    CHECK(client.error()->message.find("mismatch") != std::string::npos);
    // The client's alert reaches the server, which fails too instead of hanging.
    CHECK(server.failed());
    CHECK_FALSE(server.handshake_complete());
  }
}

TEST_CASE("tls engine: a verifying client rejects a certificate it was not given") {
  CertificateRequest other;
  other.dns_names = {"localhost"};
  other.not_before_unix_s = test_now_unix_s;
  auto other_cert = make_self_signed_certificate(other);
  REQUIRE(other_cert.ok());
  auto server_context = lab_server_context();
  auto client_context = verifying_client(other_cert->cert_pem);
  auto client = make_client(client_context, "localhost");
  auto server = make_server(server_context);
  pump(client, server);
  REQUIRE(client.failed());
  CHECK(client.error()->message.find("certificate verify failed") != std::string::npos);
}

TEST_CASE("tls engine: a verifying client checks validity at the time it is given") {
  auto server_context = lab_server_context();
  auto client_context = TlsContext::client_verifying(lab_certificate().cert_pem, test_now_unix_s + 826 * 86400);
  REQUIRE(client_context.ok());
  auto client = make_client(*client_context, "localhost");
  auto server = make_server(server_context);
  pump(client, server);
  REQUIRE(client.failed());
  CHECK(client.error()->message.find("certificate has expired") != std::string::npos);
}

TEST_CASE("tls engine: garbage ciphertext gives a sticky error, not a crash") {
  auto server_context = lab_server_context();
  auto client_context = lab_client_context();

  SUBCASE("plaintext SMTP where a ClientHello belongs") {
    auto server = make_server(server_context);
    server.handle_ciphertext(std::string_view("EHLO alice-pc\r\nMAIL FROM:<a@b>\r\n"));
    REQUIRE(server.failed());
    CHECK(server.error()->message.find("TLS handshake failed: ") == 0);
    CHECK(server.error()->message.size() > std::string("TLS handshake failed: ").size());
    server.handle_ciphertext(std::string_view("more"));  // ignored, still failed
    CHECK(server.failed());
    CHECK(server.poll_plaintext().empty());
  }
  SUBCASE("a corrupted record after the handshake") {
    auto client = make_client(client_context, "localhost");
    auto server = make_server(server_context);
    pump(client, server);
    client.write_plaintext("secret");
    std::string record = client.poll_ciphertext();
    REQUIRE(record.size() > 10);
    record[record.size() - 3] = static_cast<char>(record[record.size() - 3] ^ 0x55);
    server.handle_ciphertext(record);
    REQUIRE(server.failed());
    CHECK(server.error()->message.find("TLS record error: ") == 0);
    CHECK(server.poll_plaintext().empty());
    CHECK_FALSE(server.poll_ciphertext().empty());  // the alert for the peer
  }
  SUBCASE("random-looking bytes with a TLS record header") {
    auto server = make_server(server_context);
    std::string junk("\x16\x03\x01\x00\x20", 5);
    for (int i = 0; i < 32; ++i) junk += static_cast<char>(i * 37);
    server.handle_ciphertext(junk);
    CHECK(server.failed());
  }
}

TEST_CASE("tls engine: TLS 1.1 and legacy-only cipher suites are refused") {
  auto server_context = lab_server_context();

  SUBCASE("a client capped at TLS 1.1") {
    auto client_context = lab_client_context();
    SSL_CTX* ctx = client_context.native_handle();
    SSL_CTX_set_security_level(ctx, 0);
    REQUIRE(SSL_CTX_set_cipher_list(ctx, "DEFAULT@SECLEVEL=0") == 1);
    REQUIRE(SSL_CTX_set_min_proto_version(ctx, TLS1_VERSION) == 1);
    REQUIRE(SSL_CTX_set_max_proto_version(ctx, TLS1_1_VERSION) == 1);
    auto client = make_client(client_context, "localhost");
    auto server = make_server(server_context);
    pump(client, server);
    REQUIRE(server.failed());
    CHECK(server.error()->message.find("unsupported protocol") != std::string::npos);
  }
  SUBCASE("a TLS 1.2 client offering only static-RSA and SHA-1 suites") {
    auto client_context = lab_client_context();
    SSL_CTX* ctx = client_context.native_handle();
    REQUIRE(SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION) == 1);
    REQUIRE(SSL_CTX_set_cipher_list(ctx, "AES128-SHA:AES256-SHA:ECDHE-ECDSA-AES128-SHA") == 1);
    auto client = make_client(client_context, "localhost");
    auto server = make_server(server_context);
    pump(client, server);
    REQUIRE(server.failed());
    CHECK(server.error()->message.find("no shared cipher") != std::string::npos);
  }
  SUBCASE("a TLS 1.2 client with modern suites is served") {
    auto client_context = lab_client_context();
    REQUIRE(SSL_CTX_set_max_proto_version(client_context.native_handle(), TLS1_2_VERSION) == 1);
    auto client = make_client(client_context, "localhost");
    auto server = make_server(server_context);
    pump(client, server);
    REQUIRE(client.handshake_complete());
    CHECK(client.protocol_version() == "TLSv1.2");
    CHECK(client.cipher() == "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384");
  }
}

TEST_CASE("tls engine: the key log has NSS key log lines for every secret") {
  const std::regex nss_line("^[A-Z_0-9]+ [0-9a-f]{64} [0-9a-f]{64,}$");

  SUBCASE("TLS 1.3: five secrets, the same on both sides") {
    auto server_context = lab_server_context();
    auto client_context = lab_client_context();
    std::vector<std::string> client_lines;
    std::vector<std::string> server_lines;
    client_context.set_key_log([&](std::string_view line) { client_lines.emplace_back(line); });
    server_context.set_key_log([&](std::string_view line) { server_lines.emplace_back(line); });
    auto client = make_client(client_context, "localhost");
    auto server = make_server(server_context);
    pump(client, server);
    REQUIRE(client.handshake_complete());
    std::set<std::string> labels;
    for (const auto& line : client_lines) {
      CAPTURE(line);
      CHECK(std::regex_match(line, nss_line));
      labels.insert(line.substr(0, line.find(' ')));
    }
    CHECK(labels == std::set<std::string>{"CLIENT_HANDSHAKE_TRAFFIC_SECRET", "SERVER_HANDSHAKE_TRAFFIC_SECRET",
                                          "CLIENT_TRAFFIC_SECRET_0", "SERVER_TRAFFIC_SECRET_0",
                                          "EXPORTER_SECRET"});
    CHECK(std::set<std::string>(client_lines.begin(), client_lines.end()) ==
          std::set<std::string>(server_lines.begin(), server_lines.end()));
  }
  SUBCASE("TLS 1.2: one CLIENT_RANDOM line with the 48-octet master secret") {
    auto server_context = lab_server_context();
    auto client_context = lab_client_context();
    REQUIRE(SSL_CTX_set_max_proto_version(client_context.native_handle(), TLS1_2_VERSION) == 1);
    std::vector<std::string> lines;
    client_context.set_key_log([&](std::string_view line) { lines.emplace_back(line); });
    auto client = make_client(client_context, "localhost");
    auto server = make_server(server_context);
    pump(client, server);
    REQUIRE(lines.size() == 1);
    CHECK(std::regex_match(lines[0], std::regex("^CLIENT_RANDOM [0-9a-f]{64} [0-9a-f]{96}$")));
  }
  SUBCASE("an engine's own sink takes precedence over the context's") {
    auto server_context = lab_server_context();
    auto client_context = lab_client_context();
    int context_lines = 0;
    int engine_lines = 0;
    client_context.set_key_log([&](std::string_view) { ++context_lines; });
    auto client = make_client(client_context, "localhost");
    client.set_key_log([&](std::string_view) { ++engine_lines; });
    auto server = make_server(server_context);
    pump(client, server);
    CHECK(context_lines == 0);
    CHECK(engine_lines == 5);
  }
  SUBCASE("an engine's own sink gets the lines when its context has none") {
    auto server_context = lab_server_context();
    auto client_context = lab_client_context();
    int engine_lines = 0;
    auto client = make_client(client_context, "localhost");
    client.set_key_log([&](std::string_view) { ++engine_lines; });
    auto server = make_server(server_context);
    pump(client, server);
    CHECK(engine_lines == 5);
  }
}

namespace {
bool has_key_log_callback(const TlsContext& context) {
  return SSL_CTX_get_keylog_callback(context.native_handle()) != nullptr;
}
}  // namespace

TEST_CASE("tls context: OpenSSL's key log callback is installed only while a sink is set") {
  auto client_context = lab_client_context();
  auto server_context = lab_server_context();
  CHECK_FALSE(has_key_log_callback(client_context));
  CHECK_FALSE(has_key_log_callback(server_context));
  client_context.set_key_log([](std::string_view) {});
  CHECK(has_key_log_callback(client_context));
  client_context.set_key_log({});
  CHECK_FALSE(has_key_log_callback(client_context));
  auto server = make_server(server_context);
  server.set_key_log([](std::string_view) {});
  CHECK(has_key_log_callback(server_context));
  server_context.set_key_log({});  // the engine's sink still wants the lines
  CHECK(has_key_log_callback(server_context));
}

TEST_CASE("tls context: certificate and key load from PEM files; bad input is an error") {
  auto dir = std::filesystem::temp_directory_path() / "maillab-tls-context-test";
  std::filesystem::create_directories(dir);
  auto write = [&](const char* name, const std::string& text) {
    std::ofstream(dir / name, std::ios::binary) << text;
    return dir / name;
  };
  auto cert_file = write("cert.pem", lab_certificate().cert_pem);
  auto key_file = write("key.pem", lab_certificate().key_pem);

  auto loaded = TlsContext::server_from_files(cert_file, key_file);
  REQUIRE_MESSAGE(loaded.ok(), (loaded.ok() ? "" : loaded.error().message));
  CHECK(loaded->role() == Role::server);

  auto missing = TlsContext::server_from_files(dir / "nope.pem", key_file);
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().category == maillab::ErrorCategory::not_found);

  CertificateRequest other;
  other.dns_names = {"localhost"};
  auto other_cert = make_self_signed_certificate(other);
  REQUIRE(other_cert.ok());
  auto mismatched = TlsContext::server(lab_certificate().cert_pem, other_cert->key_pem);
  REQUIRE_FALSE(mismatched.ok());
  CHECK(mismatched.error().message.find("does not match") != std::string::npos);

  auto garbage = TlsContext::server("not a certificate", lab_certificate().key_pem);
  REQUIRE_FALSE(garbage.ok());
  CHECK(garbage.error().category == maillab::ErrorCategory::tls);

  auto no_ca = TlsContext::client_verifying("");
  CHECK_FALSE(no_ca.ok());
  std::filesystem::remove_all(dir);
}

TEST_CASE("tls engine: a server_self_signed context completes a handshake that a client verifying its name accepts") {
  CertificateRequest request;
  request.dns_names = {"mail.d1.test"};
  request.not_before_unix_s = test_now_unix_s;
  auto server_context = TlsContext::server_self_signed(request);
  REQUIRE_MESSAGE(server_context.ok(), (server_context.ok() ? "" : server_context.error().message));
  // The certificate the server presents, as PEM, is what a verifying client pins.
  X509* leaf = SSL_CTX_get0_certificate(server_context->native_handle());
  REQUIRE(leaf != nullptr);
  BIO* bio = BIO_new(BIO_s_mem());
  REQUIRE(PEM_write_bio_X509(bio, leaf) == 1);
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio, &data);
  const std::string pem(data, static_cast<std::size_t>(size));
  BIO_free(bio);
  auto client_context = TlsContext::client_verifying(pem, test_now_unix_s + 3600);
  REQUIRE(client_context.ok());

  auto client = make_client(*client_context, "mail.d1.test");
  auto server = make_server(*server_context);
  pump(client, server);
  CHECK(client.handshake_complete());
  CHECK(server.handshake_complete());

  auto wrong_name = make_client(*client_context, "mail.d2.test");
  auto other_server = make_server(*server_context);
  pump(wrong_name, other_server);
  CHECK(wrong_name.state() == TlsState::failed);
}

namespace {

// What a client saw of the leaf certificates presented to it: subject CN and
// public key (DER), recorded by an SSL verify callback that accepts them all.
std::vector<std::pair<std::string, std::string>> seen_leaves;
std::vector<std::string> seen_serials;  // hex, one per seen_leaves entry

int record_leaf(int /*preverify_ok*/, X509_STORE_CTX* store) {
  if (X509_STORE_CTX_get_error_depth(store) != 0) return 1;
  X509* leaf = X509_STORE_CTX_get_current_cert(store);
  std::array<char, 256> cn{};
  X509_NAME_get_text_by_NID(X509_get_subject_name(leaf), NID_commonName, cn.data(), static_cast<int>(cn.size()));
  unsigned char* der = nullptr;
  const int der_size = i2d_PUBKEY(X509_get0_pubkey(leaf), &der);
  seen_leaves.emplace_back(cn.data(), std::string(reinterpret_cast<const char*>(der), static_cast<std::size_t>(der_size)));
  OPENSSL_free(der);
  BIGNUM* serial = ASN1_INTEGER_to_BN(X509_get0_serialNumber(leaf), nullptr);
  char* hex = BN_bn2hex(serial);
  seen_serials.emplace_back(hex);
  OPENSSL_free(hex);
  BN_free(serial);
  return 1;
}

std::string public_key_der(EVP_PKEY* key) {
  unsigned char* der = nullptr;
  const int der_size = i2d_PUBKEY(key, &der);
  std::string out(reinterpret_cast<const char*>(der), static_cast<std::size_t>(der_size));
  OPENSSL_free(der);
  return out;
}

// The serial tls_certificate.cpp derives from a certificate's contents:
// SHA-256 over its DNS names, notBefore and public key, 16 octets, positive.
std::string expected_serial(const std::string& dns_name, std::int64_t not_before, const std::string& key_der) {
  const std::string input = "DNS:" + dns_name + "\nnotBefore:" + std::to_string(not_before) + "\n" + key_der;
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int size = 0;
  REQUIRE(EVP_Digest(input.data(), input.size(), digest.data(), &size, EVP_sha256(), nullptr) == 1);
  digest[0] = static_cast<unsigned char>((digest[0] & 0x7f) | 0x40);
  BIGNUM* serial = BN_bin2bn(digest.data(), 16, nullptr);
  char* hex = BN_bn2hex(serial);
  std::string out(hex);
  OPENSSL_free(hex);
  BN_free(serial);
  return out;
}

}  // namespace

TEST_CASE("tls engine: every certificate with_certificate_for makes carries the serial its own name and key give") {
  CertificateRequest request;
  request.dns_names = {"mail.d1.test"};
  request.not_before_unix_s = test_now_unix_s;
  auto base = TlsContext::server_self_signed(request);
  REQUIRE(base.ok());
  const std::string key = public_key_der(SSL_CTX_get0_privatekey(base->native_handle()));
  std::vector<TlsContext> contexts;
  for (const char* name : {"mail.d2.test", "mail.d3.test", "mail.d4.test"}) {
    request.dns_names = {name};
    auto made = base->with_certificate_for(request);  // the key's DER is made once and reused
    REQUIRE(made.ok());
    contexts.push_back(std::move(made).value());
  }
  auto client_context = lab_client_context();
  SSL_CTX_set_verify(client_context.native_handle(), SSL_VERIFY_PEER, &record_leaf);
  std::set<std::string> serials;
  for (const TlsContext& context : contexts) {
    seen_leaves.clear();
    seen_serials.clear();
    auto client = make_client(client_context, "mail.test");
    auto server = make_server(context);
    pump(client, server);
    REQUIRE(client.handshake_complete());
    REQUIRE_FALSE(seen_leaves.empty());
    const std::string& name = seen_leaves.front().first;
    CHECK(seen_leaves.front().second == key);
    CHECK_MESSAGE(seen_serials.front() == expected_serial(name, test_now_unix_s, key), name);
    serials.insert(seen_serials.front());
  }
  CHECK(serials.size() == 3);
}

TEST_CASE("tls engine: contexts made by with_certificate_for share the SSL_CTX and key, each presenting its own name") {
  CertificateRequest request;
  request.dns_names = {"mail.d1.test"};
  request.not_before_unix_s = test_now_unix_s;
  auto base = TlsContext::server_self_signed(request);
  REQUIRE(base.ok());
  request.dns_names = {"mail.d2.test"};
  auto second = base->with_certificate_for(request);
  request.dns_names = {"mail.d3.test"};
  auto third = base->with_certificate_for(request);
  REQUIRE(second.ok());
  REQUIRE(third.ok());
  CHECK(second->native_handle() == base->native_handle());
  CHECK(third->native_handle() == base->native_handle());

  auto client_context = lab_client_context();
  SSL_CTX_set_verify(client_context.native_handle(), SSL_VERIFY_PEER, &record_leaf);
  std::vector<std::pair<std::string, std::string>> presented;  // one per handshake
  for (const TlsContext* context : {&*base, &*second, &*third}) {
    seen_leaves.clear();  // the callback runs once per verification error too
    auto client = make_client(client_context, "mail.test");
    auto server = make_server(*context);
    pump(client, server);
    CHECK(client.handshake_complete());
    CHECK(server.handshake_complete());
    REQUIRE_FALSE(seen_leaves.empty());
    presented.push_back(seen_leaves.front());
  }
  CHECK(presented[0].first == "mail.d1.test");
  CHECK(presented[1].first == "mail.d2.test");
  CHECK(presented[2].first == "mail.d3.test");
  const std::string key = public_key_der(SSL_CTX_get0_privatekey(base->native_handle()));
  for (const auto& [name, leaf_key] : presented) CHECK_MESSAGE(leaf_key == key, name);

  CertificateRequest nameless;
  auto refused = base->with_certificate_for(nameless);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().category == maillab::ErrorCategory::invalid_argument);
}

TEST_CASE("tls engine: server_self_signed refuses a request without names, as make_self_signed_certificate does") {
  auto context = TlsContext::server_self_signed(CertificateRequest{});
  REQUIRE_FALSE(context.ok());
  CHECK(context.error().category == maillab::ErrorCategory::invalid_argument);
}
