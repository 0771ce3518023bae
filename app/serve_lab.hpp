// The rules of `maillab serve` (CONTRACT.md), from the scenario: who may log
// in, which domains are ours, where a message for an address is stored, and
// the DNS zone.  Everything here is the lab's policy; net/io drives the
// engines and net/smtp speaks the protocol.
//
// Theory of operation.
//   LabDirectory   the scenario's users (full addresses, the scenario's
//                  passwords), aliases and domains.  It is the
//                  CredentialChecker of every engine and the SMTP Policy:
//                    MX port (RFC 5321)      no AUTH; RCPT for a scenario domain
//                                            is accepted for a known user or
//                                            alias (else 550 5.1.1), anything
//                                            else is 554 5.7.1 relay denied
//                                            (catalogue row 1).
//                    submission (RFC 6409)   AUTH only once TLS is up (538 5.7.11
//                                            before, RFC 4954 §4); MAIL only as an
//                                            address the login owns (553 5.7.1,
//                                            catalogue row 3); recipients as above,
//                                            except that a recipient at another
//                                            scenario domain than the login's is
//                                            accepted: that domain's MX decides
//                                            (an unknown user there is a DSN); the
//                                            lab has no way out to the Internet.
//                  Accepted mail goes into the queue and through the scenario's
//                  world (app/lab_world_router.hpp): its MDAs store it.
//                  Logins compare the local part exactly and the domain without
//                  case (RFC 5321 §2.4), as the Maildir store keys users.
//   make_zone      A records for every scenario host, MX records (or the null
//                  MX) for every domain.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "net/core/credentials.hpp"
#include "net/io/dns_zone.hpp"
#include "net/io/session.hpp"
#include "net/mail/mail_store.hpp"
#include "net/smtp/smtp_policy.hpp"
#include "sim/scenario.hpp"

namespace maillab::app {

// "alice@Lab.Test" -> "alice@lab.test": the local part as given, the domain lower-cased.
std::string address_key(std::string_view address);

class LabDirectory final : public net::CredentialChecker, public net::smtp::Policy {
 public:
  explicit LabDirectory(const sim::Scenario& scenario);

  // The user key whose INBOX receives mail for `address` (a user, an alias or
  // postmaster of a scenario domain); nullopt when there is none.
  [[nodiscard]] std::optional<std::string> mailbox_of(const net::mail::Address& address) const;
  [[nodiscard]] bool is_local_domain(std::string_view domain) const;
  // Where a user's mail is also sent (the scenario's `forward`) and whether a copy stays.
  [[nodiscard]] const sim::UserSpec* user(std::string_view key) const;
  [[nodiscard]] const std::vector<std::string>& user_keys() const { return user_keys_; }

  // net::CredentialChecker
  bool verify_password(std::string_view user, std::string_view password) const override;
  std::optional<std::string> shared_secret(std::string_view user) const override;

  // net::smtp::Policy
  net::smtp::AuthOffer auth_offer(const net::smtp::SessionInfo& session) const override;
  const net::CredentialChecker& credentials() const override { return *this; }
  bool sender_allowed(std::string_view user, const net::mail::Address& sender) const override;
  net::smtp::RecipientVerdict check_recipient(const net::smtp::SessionInfo& session,
                                              const net::mail::Address& recipient) const override;

 private:
  std::map<std::string, const sim::UserSpec*, std::less<>> users_;  // by user key
  std::map<std::string, std::string, std::less<>> aliases_;         // alias key -> user key
  std::map<std::string, std::string, std::less<>> domains_;         // lower-case -> first user key ("" if none)
  std::vector<std::string> user_keys_;
  std::string host_name_;
};

net::io::DnsZone make_zone(const sim::Scenario& scenario);

// Received: fields in the header section (RFC 5321 §6.3 hop count).
std::size_t received_fields(std::string_view data);

// The name the lab's services give themselves (greeting, Received: by): the
// first domain's mailbox host, "mail.lab.test" in the built-in classroom.
std::string lab_host_name(const sim::Scenario& scenario);

}  // namespace maillab::app
