#include "net/core/sasl.hpp"

#include "net/core/base64.hpp"

namespace maillab::net {

std::optional<SaslCredentials> decode_sasl_plain(std::string_view base64_response) {
  auto decoded = base64_decode(base64_response);
  if (!decoded) return std::nullopt;
  const std::string_view message = *decoded;
  const auto first = message.find('\0');
  if (first == std::string_view::npos) return std::nullopt;
  const auto second = message.find('\0', first + 1);
  if (second == std::string_view::npos) return std::nullopt;
  if (message.find('\0', second + 1) != std::string_view::npos) return std::nullopt;
  const auto authzid = message.substr(0, first);
  SaslCredentials credentials{std::string(message.substr(first + 1, second - first - 1)),
                              std::string(message.substr(second + 1))};
  if (credentials.user.empty()) return std::nullopt;
  if (!authzid.empty() && authzid != credentials.user) return std::nullopt;
  return credentials;
}

std::string encode_sasl_plain(std::string_view user, std::string_view password) {
  std::string message;
  message += '\0';
  message += user;
  message += '\0';
  message += password;
  return base64_encode(message);
}

}  // namespace maillab::net
