// Base64 (RFC 4648 §4) for SASL exchanges (SMTP AUTH, IMAP AUTHENTICATE, POP3 AUTH)
// and MIME.  Decoding is strict: bad characters or padding give nullopt, so a
// protocol can answer 501 / BAD instead of guessing.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace maillab::net {

std::string base64_encode(std::string_view bytes);
std::optional<std::string> base64_decode(std::string_view text);

}  // namespace maillab::net
