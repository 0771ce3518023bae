// SASL PLAIN (RFC 4616) as all three protocols use it:
//   message = [authzid] NUL authcid NUL passwd
// The authorization identity, when present, must equal the authentication
// identity: the lab lets nobody act for someone else.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace maillab::net {

struct SaslCredentials {
  std::string user;
  std::string password;
};

// Decodes a base64 PLAIN response.  nullopt for bad base64 or a malformed message.
std::optional<SaslCredentials> decode_sasl_plain(std::string_view base64_response);
// base64("\0user\0password"), what a client sends.
std::string encode_sasl_plain(std::string_view user, std::string_view password);

}  // namespace maillab::net
