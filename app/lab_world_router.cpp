#include "app/lab_world_router.hpp"

#include <algorithm>
#include <cctype>
#include <map>
#include <memory>
#include <set>
#include <vector>

#include "net/io/wall_clock.hpp"
#include "net/mail/address.hpp"
#include "net/mail/message.hpp"
#include "sim/compose.hpp"

namespace maillab::app {

namespace {

std::string domain_part(std::string_view address) {
  const auto at = address.rfind('@');
  std::string domain(at == std::string_view::npos ? std::string_view() : address.substr(at + 1));
  std::transform(domain.begin(), domain.end(), domain.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return domain;
}

// Is `queue_id` the id of a Received: field in the header section ("... id 1A2B.7 ...")?
bool carries_queue_id(std::string_view message, std::string_view queue_id) {
  const std::size_t header_end = message.find("\r\n\r\n");
  const std::string_view header = message.substr(0, header_end);
  for (std::size_t at = header.find(queue_id); at != std::string_view::npos; at = header.find(queue_id, at + 1)) {
    std::size_t before = at;
    while (before > 0 && std::isspace(static_cast<unsigned char>(header[before - 1]))) --before;
    const std::size_t after = at + queue_id.size();
    const bool ends = after == header.size() || std::isspace(static_cast<unsigned char>(header[after])) ||
                      header[after] == ';';
    if (before >= 2 && before < at && header.substr(before - 2, 2) == "id" && ends) return true;
  }
  return false;
}

}  // namespace

std::string client_label(std::string_view address, std::string_view port) {
  std::string label = address.empty() ? std::string("client") : std::string(address);
  if (label.find(':') != std::string::npos) label = "[" + label + "]";
  return port.empty() ? label : label + ":" + std::string(port);
}

std::optional<net::smtp::StoreOutcome> WorldRouter::admit(const net::smtp::MessageEvent& message,
                                                          bool /*submission*/) {
  if (received_fields(message.data) >= 50)  // RFC 5321 §6.3
    return net::smtp::StoreOutcome{net::smtp::StoreResult::permanent_failure, "", "5.4.6 Too many hops: a mail loop?"};
  return std::nullopt;
}

std::string WorldRouter::entry_host(const sim::SpoolEntry& entry) const {
  if (entry.attribute(SpoolSink::kSubmission) == "1") {
    const std::string login = entry.attribute(SpoolSink::kAuthUser);
    return world_.world().submission_host(domain_part(login.empty() ? entry.sender : login));
  }
  return world_.world().mx_host(entry.recipients.empty() ? std::string() : domain_part(entry.recipients.front()));
}

bool WorldRouter::holds(const std::string& user, const sim::SpoolEntry& entry) const {
  auto metas = store_.messages(user, "INBOX");
  if (!metas) return false;
  // The world dates a delivery by its own clock, whole seconds since the lab started: a little slack.
  const std::int64_t since = net::io::unix_seconds(entry.arrival) - 5;
  for (auto meta = metas->rbegin(); meta != metas->rend(); ++meta) {
    if (meta->internal_date_s < since) continue;
    auto data = store_.read(user, "INBOX", meta->uid);
    if (data && carries_queue_id(*data, entry.id)) return true;
  }
  return false;
}

bool WorldRouter::delivers_at_once(const sim::SpoolEntry& entry) const {
  if (entry.recipients.empty()) return false;
  const std::string host = entry_host(entry);
  if (host.empty()) return false;
  const sim::Scenario& scenario = world_.world().scenario();
  auto keeps_here = [&](std::string_view address) {
    const sim::DomainSpec* domain = scenario.find_domain(domain_part(address));
    return domain != nullptr && domain->mailbox_host == host;
  };
  const net::mail::ParseOptions utf8{true};
  for (const auto& recipient : entry.recipients) {
    auto address = net::mail::parse_mailbox(recipient, utf8);
    if (!address) return false;
    const auto owner = directory_.mailbox_of(address.value());
    if (!owner || !keeps_here(recipient) || !keeps_here(*owner)) return false;
    const sim::UserSpec* spec = directory_.user(*owner);
    if (spec == nullptr || !spec->forward.empty()) return false;
  }
  return true;
}

void WorldRouter::route(const sim::SpoolEntry& entry, Instant /*now*/, bool resumed) {
  const std::string host = entry_host(entry);
  const bool auth = !entry.attribute(SpoolSink::kAuthUser).empty();
  const bool tls = entry.attribute(SpoolSink::kTls) == "1";

  net::mail::ReceivedInfo info;
  info.helo = entry.attribute(SpoolSink::kHelo);
  if (info.helo.empty()) info.helo = "unknown";
  info.client_ip = entry.attribute(SpoolSink::kClientAddress);
  info.by_host = host;
  info.protocol = tls ? (auth ? net::mail::ReceivedProtocol::esmtpsa : net::mail::ReceivedProtocol::esmtps)
                      : (auth ? net::mail::ReceivedProtocol::esmtpa : net::mail::ReceivedProtocol::esmtp);
  info.id = entry.id;
  if (entry.recipients.size() == 1) info.for_recipient = entry.recipients.front();
  info.date_s = net::io::unix_seconds(entry.arrival);
  auto received = net::mail::format_received(info);
  if (!received) {  // an EHLO name that cannot stand in a header: say so instead
    info.helo = "invalid";
    received = net::mail::format_received(info);
  }

  sim::Injection injection;
  injection.host = host;
  injection.sender = entry.sender;
  injection.client = client_label(info.client_ip, entry.attribute(SpoolSink::kClientPort));
  injection.proto = entry.attribute(SpoolSink::kSubmission) == "1" ? "submission" : "smtp";
  injection.data = "Received: " + (received ? received.value() : "by " + host) + "\r\n";
  injection.msg = sim::message_id_of(entry.data);
  if (injection.msg.empty()) {
    injection.msg = entry.id + "@" + host;
    injection.data += "Message-ID: <" + injection.msg + ">\r\n";
  }
  injection.data += entry.data;

  // World recipient -> the queue entry's spellings of it.
  auto originals = std::make_shared<std::map<std::string, std::vector<std::string>>>();
  std::vector<std::string> finals;
  const net::mail::ParseOptions utf8{true};
  std::size_t held = 0;
  for (const auto& recipient : entry.recipients) {
    auto address = net::mail::parse_mailbox(recipient, utf8);
    if (!address) {  // not an address any more (a hand-edited entry): nothing to deliver to
      if (log_) log_("queue " + entry.id + ": recipient " + recipient + ": " + address.error().message);
      finals.push_back(recipient);
      continue;
    }
    const auto owner = directory_.mailbox_of(address.value());
    if (resumed && owner && holds(*owner, entry)) {
      ++held;
      finals.push_back(recipient);
      continue;
    }
    std::string key = address->local_part + "@" + address->domain_key();
    if (owner && !world_.world().scenario().find_user(key)) key = *owner;  // postmaster, RFC 5321 §4.5.1
    auto& spellings = (*originals)[key];
    if (spellings.empty()) injection.recipients.push_back(key);
    spellings.push_back(recipient);
  }
  if (held > 0 && log_)
    log_("queue " + entry.id + ": already in " + std::to_string(held) +
         " mailbox(es) before the restart, not delivered there again");
  for (const auto& recipient : finals) sink_->recipient_final(entry.id, recipient);
  if (injection.recipients.empty()) return;

  auto reported = std::make_shared<std::set<std::string>>();
  auto final = [this, id = entry.id, originals, reported](const std::string& world_recipient) {
    auto it = originals->find(world_recipient);
    if (it == originals->end() || !reported->insert(world_recipient).second) return;
    for (const auto& recipient : it->second) sink_->recipient_final(id, recipient);
  };
  const auto report = world_.inject(injection, [final](const std::map<std::string, sim::Fate>& fates) {
    for (const auto& [recipient, fate] : fates)
      if (fate.state != sim::FateState::rejected) final(recipient);
  });
  if (!report.known_host) {
    if (log_) log_("queue " + entry.id + ": the scenario has no MTA " + host + "; it stays queued");
    return;
  }
  for (const auto& recipient : report.delivered) final(recipient);
  for (const auto& refusal : report.refused)
    if (log_)
      log_("queue " + entry.id + ": " + refusal.recipient + " not stored yet (" + refusal.status + " " +
           refusal.reason + "); it stays queued for the next start");
}

}  // namespace maillab::app
