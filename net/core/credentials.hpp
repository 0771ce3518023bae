// The one question every server engine asks about users (SMTP AUTH, POP3
// USER/PASS/APOP/AUTH, IMAP LOGIN/AUTHENTICATE): do these credentials hold?
// The engines decide nothing about users themselves; the world (sim/) or the
// lab server answers from the scenario's [[user]] tables.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace maillab::net {

class CredentialChecker {
 public:
  virtual ~CredentialChecker() = default;
  // Logins are full addresses ("alice@lab.test").
  virtual bool verify_password(std::string_view user, std::string_view password) const = 0;
  // The shared secret, for challenge-response mechanisms that need it (POP3 APOP,
  // RFC 1939 §7).  nullopt for an unknown user.
  virtual std::optional<std::string> shared_secret(std::string_view user) const = 0;
};

}  // namespace maillab::net
