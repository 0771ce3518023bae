#include "app/serve_lab.hpp"

#include <algorithm>
#include <cctype>
#include <set>

#include <openssl/crypto.h>

#include "net/io/wall_clock.hpp"
#include "net/mail/message.hpp"

namespace maillab::app {

namespace {

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string key_of(const net::mail::Address& address) { return address.local_part + "@" + address.domain_key(); }

std::string domain_of(std::string_view key) {
  const auto at = key.rfind('@');
  return at == std::string_view::npos ? std::string() : std::string(key.substr(at + 1));
}

}  // namespace

// Received: fields in the header section (RFC 5321 §6.3 hop count).
std::size_t received_fields(std::string_view data) {
  std::size_t count = 0;
  std::size_t pos = 0;
  while (pos < data.size()) {
    const std::size_t end = data.find('\n', pos);
    const std::string_view line = data.substr(pos, end == std::string_view::npos ? data.size() - pos : end - pos);
    if (line.empty() || line == "\r") break;
    if (line.size() >= 9 && lower(line.substr(0, 9)) == "received:") ++count;
    if (end == std::string_view::npos) break;
    pos = end + 1;
  }
  return count;
}

std::string address_key(std::string_view address) {
  const auto at = address.rfind('@');
  if (at == std::string_view::npos) return std::string(address);
  return std::string(address.substr(0, at)) + "@" + lower(address.substr(at + 1));
}

std::string lab_host_name(const sim::Scenario& scenario) {
  if (!scenario.domains.empty() && !scenario.domains.front().mailbox_host.empty())
    return scenario.domains.front().mailbox_host;
  if (!scenario.domains.empty()) return "mail." + scenario.domains.front().name;
  return "mail.lab.test";
}

LabDirectory::LabDirectory(const sim::Scenario& scenario) : host_name_(lower(lab_host_name(scenario))) {
  for (const auto& domain : scenario.domains) domains_.emplace(lower(domain.name), "");
  for (const auto& spec : scenario.users) {
    const std::string key = address_key(spec.address);
    users_.emplace(key, &spec);
    user_keys_.push_back(key);
    auto domain = domains_.find(domain_of(key));
    if (domain != domains_.end() && domain->second.empty()) domain->second = key;
    for (const auto& alias : spec.aliases) {
      const std::string alias_key = alias.find('@') == std::string::npos ? alias + "@" + domain_of(key) : address_key(alias);
      aliases_.emplace(alias_key, key);
    }
  }
}

const sim::UserSpec* LabDirectory::user(std::string_view key) const {
  auto it = users_.find(key);
  return it == users_.end() ? nullptr : it->second;
}

bool LabDirectory::is_local_domain(std::string_view domain) const { return domains_.contains(lower(domain)); }

std::optional<std::string> LabDirectory::mailbox_of(const net::mail::Address& address) const {
  if (address.is_null()) return std::nullopt;
  const std::string key = key_of(address);
  if (users_.contains(key)) return key;
  if (auto alias = aliases_.find(key); alias != aliases_.end()) return alias->second;
  // RFC 5321 §4.1.1.3: postmaster must be accepted; it reaches the domain's first user.
  if (lower(address.local_part) == "postmaster") {
    const std::string domain = address.domain_key();
    if (auto it = domains_.find(domain); it != domains_.end() && !it->second.empty()) return it->second;
    if (domain == host_name_ && !user_keys_.empty()) return user_keys_.front();
  }
  return std::nullopt;
}

bool LabDirectory::verify_password(std::string_view user, std::string_view password) const {
  auto it = users_.find(address_key(user));
  if (it == users_.end() || it->first != user) return false;  // the key's own spelling: one Maildir per user
  const std::string& expected = it->second->password;
  return expected.size() == password.size() && CRYPTO_memcmp(expected.data(), password.data(), expected.size()) == 0;
}

std::optional<std::string> LabDirectory::shared_secret(std::string_view user) const {
  auto it = users_.find(address_key(user));
  if (it == users_.end() || it->first != user) return std::nullopt;
  return it->second->password;
}

net::smtp::AuthOffer LabDirectory::auth_offer(const net::smtp::SessionInfo& session) const {
  if (!session.submission) return net::smtp::AuthOffer::disabled;  // the MX port takes mail, not logins
  return session.tls_active ? net::smtp::AuthOffer::offered : net::smtp::AuthOffer::requires_tls;
}

bool LabDirectory::sender_allowed(std::string_view user, const net::mail::Address& sender) const {
  if (sender.is_null()) return false;
  const std::string login = address_key(user);
  const std::string key = key_of(sender);
  if (key == login) return true;
  auto alias = aliases_.find(key);
  return alias != aliases_.end() && alias->second == login;
}

net::smtp::RecipientVerdict LabDirectory::check_recipient(const net::smtp::SessionInfo& session,
                                                          const net::mail::Address& recipient) const {
  if (mailbox_of(recipient)) return net::smtp::RecipientVerdict::accept;
  const std::string domain = recipient.domain_key();
  if (!is_local_domain(domain)) return net::smtp::RecipientVerdict::relay_denied;
  // A logged-in student's mail for another scenario domain is relayed as an
  // MSA relays it: that domain's MX decides, and an unknown user there comes
  // back as a DSN (RFC 3464) through the world, as it would on the Internet.
  const std::string_view login = session.authenticated_user;
  const auto at = login.rfind('@');
  if (session.submission && at != std::string_view::npos && lower(login.substr(at + 1)) != domain)
    return net::smtp::RecipientVerdict::accept;
  return net::smtp::RecipientVerdict::unknown_user;
}

net::io::DnsZone make_zone(const sim::Scenario& scenario) {
  net::io::DnsZone zone;
  for (const auto& host : scenario.hosts) zone.add_a(host.name, host.address);
  for (const auto& domain : scenario.domains) {
    zone.apexes.insert(lower(domain.name));
    if (domain.null_mx) zone.add_mx(domain.name, {0, ""});
    for (const auto& mx : domain.mx) zone.add_mx(domain.name, {mx.preference, mx.host});
  }
  return zone;
}

}  // namespace maillab::app
