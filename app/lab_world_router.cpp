#include "app/lab_world_router.hpp"

#include <algorithm>
#include <cctype>
#include <map>
#include <memory>
#include <set>
#include <tuple>
#include <utility>
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
  // ASCII only, as std::tolower in the "C" locale (nothing here sets another), without a libc call per octet.
  for (char& c : domain) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
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

WorldRouter::WorldRouter(LabWorld& world, const LabDirectory& directory, const net::mail::MailStore& store,
                         net::io::LogSink log)
    : world_(world), directory_(directory), store_(store), log_(std::move(log)) {
  world_.world().set_handoff([this](const sim::Handoff& made) { handoff(made); });
}

void WorldRouter::recovered(const std::vector<sim::SpoolEntry>& entries) {
  for (const auto& entry : entries) {
    for (const auto& [name, value] : entry.attributes) {
      const auto space = value.find(' ');
      if (name == kOrigin && space != std::string::npos)
        made_for_.emplace(value.substr(0, space), value.substr(space + 1));
    }
  }
}

std::optional<net::smtp::StoreOutcome> WorldRouter::admit(const net::smtp::MessageEvent& message,
                                                          bool /*submission*/) {
  if (received_fields(message.data) >= 50)  // RFC 5321 §6.3
    return net::smtp::StoreOutcome{net::smtp::StoreResult::permanent_failure, "", "5.4.6 Too many hops: a mail loop?"};
  return std::nullopt;
}

std::string WorldRouter::entry_host(const sim::SpoolEntry& entry) const {
  if (std::string made_by = entry.attribute(kEntryHost); !made_by.empty()) return made_by;
  if (entry.attribute(SpoolSink::kSubmission) == "1") {
    const std::string login = entry.attribute(SpoolSink::kAuthUser);
    return world_.world().submission_host(domain_part(login.empty() ? entry.sender : login));
  }
  return world_.world().mx_host(entry.recipients.empty() ? std::string() : domain_part(entry.recipients.front()));
}

std::optional<std::string> WorldRouter::held_copy(const std::string& user, const sim::SpoolEntry& entry) const {
  auto metas = store_.messages(user, "INBOX");
  if (!metas) return std::nullopt;
  // The world dates a delivery by its own clock, whole seconds since the lab started: a little slack.
  const std::int64_t since = net::io::unix_seconds(entry.arrival) - 5;
  for (auto meta = metas->rbegin(); meta != metas->rend(); ++meta) {
    if (meta->internal_date_s < since) continue;
    auto data = store_.read(user, "INBOX", meta->uid);
    if (data && carries_queue_id(*data, entry.id)) return std::move(data).value();
  }
  return std::nullopt;
}

void WorldRouter::forward_again(const sim::SpoolEntry& entry, const std::string& recipient, const std::string& user,
                                std::string copy) {
  const auto* spec = world_.world().scenario().find_user(user);
  const auto* domain = world_.world().scenario().find_domain(domain_part(user));
  if (spec == nullptr || domain == nullptr) return sink_->recipient_final(entry.id, recipient);
  // What the MDA forwarded: the stored copy without the two fields it put in front.
  for (const char* field : {"Return-Path:", "Delivered-To:"}) {
    const std::size_t end = copy.find('\n');
    if (end == std::string::npos || copy.compare(0, std::string_view(field).size(), field) != 0) break;
    copy.erase(0, end + 1);
  }
  std::string msg = sim::message_id_of(copy);
  sim::Handoff made{domain->mailbox_host, entry.sender, spec->forward, std::move(copy), std::move(msg), false, {}};
  if (log_) log_("queue " + entry.id + ": " + recipient + " forwards and its copy is stored: forwarding it again");
  Routed& routed = routed_[entry.id];
  routed.originals[recipient].push_back(recipient);
  made.origins.emplace_back(entry.id, recipient);
  handoff(made);
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
  const bool made = !entry.attribute(kEntryHost).empty();  // a DSN or forwarded copy of ours
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
  if (!made) injection.client = client_label(info.client_ip, entry.attribute(SpoolSink::kClientPort));
  injection.proto = entry.attribute(SpoolSink::kSubmission) == "1" ? "submission" : "smtp";
  injection.tag = entry.id;
  std::string fields = "Received: " + (received ? received.value() : "by " + host) + "\r\n";
  injection.msg = sim::message_id_of(entry.data);
  if (injection.msg.empty()) {
    injection.msg = entry.id + "@" + host;
    fields += "Message-ID: <" + injection.msg + ">\r\n";
  }
  injection.data.reserve(fields.size() + entry.data.size());  // one copy of the message
  injection.data += fields;
  injection.data += entry.data;

  Routed& routed = routed_[entry.id];
  routed = Routed{};
  std::vector<std::string> finals;
  const net::mail::ParseOptions utf8{true};
  std::size_t held = 0;
  std::size_t queued_before = 0;
  std::vector<std::tuple<std::string, std::string, std::string>> forwards;  // (recipient, user, stored copy)
  for (const auto& recipient : entry.recipients) {
    if (resumed && made_for_.contains({entry.id, recipient})) {  // its DSN or copy is queued already
      ++queued_before;
      finals.push_back(recipient);
      continue;
    }
    auto address = net::mail::parse_mailbox(recipient, utf8);
    if (!address) {  // not an address any more (a hand-edited entry): nothing to deliver to
      if (log_) log_("queue " + entry.id + ": recipient " + recipient + ": " + address.error().message);
      finals.push_back(recipient);
      continue;
    }
    const auto owner = directory_.mailbox_of(address.value());
    if (resumed && owner) {
      if (auto copy = held_copy(*owner, entry)) {
        ++held;
        // A user who keeps and forwards: the crash came between the stored
        // copy and the queued forward (else the forward would be queued, and
        // this recipient final): the forward is made from the stored copy.
        const auto* user = world_.world().scenario().find_user(*owner);
        if (user != nullptr && !user->forward.empty()) forwards.emplace_back(recipient, *owner, std::move(*copy));
        else finals.push_back(recipient);
        continue;
      }
    }
    std::string key = address->local_part + "@" + address->domain_key();
    if (owner && !world_.world().scenario().find_user(key)) key = *owner;  // postmaster, RFC 5321 §4.5.1
    auto& spellings = routed.originals[key];
    if (spellings.empty()) injection.recipients.push_back(key);
    spellings.push_back(recipient);
  }
  if (held > 0 && log_)
    log_("queue " + entry.id + ": already in " + std::to_string(held) +
         " mailbox(es) before the restart, not delivered there again");
  if (queued_before > 0 && log_)
    log_("queue " + entry.id + ": the DSN or copy for " + std::to_string(queued_before) +
         " recipient(s) was queued before the restart, not made again");
  for (const auto& recipient : finals) sink_->recipient_final(entry.id, recipient);
  for (auto& [recipient, user, copy] : forwards) forward_again(entry, recipient, user, std::move(copy));
  if (injection.recipients.empty()) {
    if (routed.originals.empty()) routed_.erase(entry.id);
    return;
  }

  const auto report = world_.inject(injection, [this, id = entry.id](const std::map<std::string, sim::Fate>& fates) {
    for (const auto& [recipient, fate] : fates)
      if (fate.state != sim::FateState::rejected) this->report(id, recipient, false);
  });
  if (!report.known_host) {
    if (log_) log_("queue " + entry.id + ": the scenario has no MTA " + host + "; it stays queued");
    routed_.erase(entry.id);
    return;
  }
  for (const auto& recipient : report.delivered) this->report(entry.id, recipient, false);
  for (const auto& refusal : report.refused)
    if (log_)
      log_("queue " + entry.id + ": " + refusal.recipient + " not stored yet (" + refusal.status + " " +
           refusal.reason + "); it stays queued for the next start");
}

void WorldRouter::report(const std::string& id, const std::string& world_recipient, bool from_handoff) {
  auto it = routed_.find(id);
  if (it == routed_.end()) return;
  Routed& routed = it->second;
  if (!from_handoff && routed.handed_off.contains(world_recipient)) return;  // final when its entry is durable
  auto original = routed.originals.find(world_recipient);
  if (original == routed.originals.end() || !routed.reported.insert(world_recipient).second) return;
  routed.handed_off.erase(world_recipient);
  // Nothing reads a reported recipient's spellings again (handoff() skips it).
  const std::vector<std::string> spellings = std::move(original->second);
  if (routed.reported.size() == routed.originals.size()) routed_.erase(it);
  for (const auto& recipient : spellings) sink_->recipient_final(id, recipient);
}

void WorldRouter::handoff(const sim::Handoff& made) {
  sim::SpoolEntry entry;
  entry.sender = made.sender;
  entry.recipients = made.recipients;
  entry.message_id = "<" + made.msg + ">";
  entry.attributes.emplace_back(kEntryHost, made.host);
  entry.attributes.emplace_back(SpoolSink::kHelo, made.host);
  std::vector<std::pair<std::string, std::string>> origins;  // (queue id, world recipient)
  for (const auto& [id, recipient] : made.origins) {
    auto it = routed_.find(id);
    if (it == routed_.end()) continue;
    auto original = it->second.originals.find(recipient);
    if (original == it->second.originals.end() || it->second.reported.contains(recipient)) continue;
    it->second.handed_off.insert(recipient);
    for (const auto& spelling : original->second) entry.attributes.emplace_back(kOrigin, id + " " + spelling);
    origins.emplace_back(id, recipient);
  }
  entry.data = made.data;
  const std::string what = made.dsn ? "the DSN <" + made.msg + ">" : "the forwarded copy of <" + made.msg + ">";
  sink_->queue_made(std::move(entry), net::io::wall_now(), [this, origins, what](bool durable) {
    for (const auto& [id, recipient] : origins) {
      if (durable) {
        report(id, recipient, true);
      } else if (log_) {
        log_("queue " + id + ": " + what + " for " + recipient + " could not be queued; " + recipient +
             " stays queued for the next start");
      }
    }
  });
}

}  // namespace maillab::app
