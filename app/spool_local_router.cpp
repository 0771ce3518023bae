#include "app/spool_local_router.hpp"

#include <algorithm>
#include <cassert>
#include <string_view>

#include "net/io/wall_clock.hpp"
#include "net/mail/address.hpp"

namespace maillab::app {

namespace {

// Whether the header section has "id QUEUE-ID" as a token (our Received: field).
bool carries_queue_id(std::string_view data, std::string_view queue_id) {
  const std::size_t header_end = data.find("\n\n");
  const std::size_t crlf_end = data.find("\r\n\r\n");
  const std::string_view header = data.substr(0, std::min(header_end, crlf_end));
  const std::string token = "id " + std::string(queue_id);
  for (std::size_t at = header.find(token); at != std::string_view::npos; at = header.find(token, at + 1)) {
    const std::size_t end = at + token.size();
    const bool starts = at > 0 && (header[at - 1] == ' ' || header[at - 1] == '\t');
    const bool ends = end == header.size() || header[end] == ';' || header[end] == ' ' || header[end] == '\r' ||
                      header[end] == '\n' || header[end] == '\t';
    if (starts && ends) return true;
  }
  return false;
}

}  // namespace

std::optional<net::smtp::StoreOutcome> LocalRouter::admit(const net::smtp::MessageEvent& message,
                                                          bool /*submission*/) {
  if (received_fields(message.data) >= 50)  // RFC 5321 §6.3
    return net::smtp::StoreOutcome{net::smtp::StoreResult::permanent_failure, "", "5.4.6 Too many hops: a mail loop?"};
  return std::nullopt;
}

std::set<std::string> LocalRouter::holders_of(const sim::SpoolEntry& entry) const {
  std::set<std::string> holders;
  const std::int64_t arrival_s = net::io::unix_seconds(entry.arrival);
  for (const auto& user : directory_.user_keys()) {
    auto metas = store_.messages(user, "INBOX");
    if (!metas) continue;
    for (const auto& meta : *metas) {
      if (meta.internal_date_s != arrival_s) continue;
      auto data = store_.read(user, "INBOX", meta.uid);
      if (data && carries_queue_id(*data, entry.id)) {
        holders.insert(user);
        break;
      }
    }
  }
  return holders;
}

void LocalRouter::route(const sim::SpoolEntry& entry, Instant /*now*/, bool resumed) {
  assert(sink_ != nullptr);
  const net::mail::ParseOptions utf8{true};
  net::smtp::MessageEvent message;
  std::vector<std::string> finals;
  std::vector<std::string> deliverable;
  if (!entry.sender.empty()) {
    auto sender = net::mail::parse_mailbox(entry.sender, utf8);
    if (sender) message.reverse_path = std::move(sender).value();
    else if (log_) log_("queue " + entry.id + ": sender " + entry.sender + ": " + sender.error().message);
  }
  for (const auto& recipient : entry.recipients) {
    auto address = net::mail::parse_mailbox(recipient, utf8);
    if (address) {
      message.forward_paths.push_back(std::move(address).value());
      deliverable.push_back(recipient);
      continue;
    }
    // Not an address any more (a hand-edited entry): nothing to deliver to.
    if (log_) log_("queue " + entry.id + ": recipient " + recipient + ": " + address.error().message);
    finals.push_back(recipient);
  }
  if (!message.forward_paths.empty()) {
    message.data = entry.data;
    message.helo_name = entry.attribute(SpoolSink::kHelo);
    message.authenticated_user = entry.attribute(SpoolSink::kAuthUser);
    message.tls = entry.attribute(SpoolSink::kTls) == "1";
    message.smtputf8 = true;
    net::io::PeerInfo peer{entry.attribute(SpoolSink::kClientAddress), 0};
    const bool submission = entry.attribute(SpoolSink::kSubmission) == "1";
    std::set<std::string> holders;
    if (resumed) holders = holders_of(entry);
    if (!holders.empty() && log_)
      log_("queue " + entry.id + ": already in " + std::to_string(holders.size()) +
           " mailbox(es) before the restart, not delivered there again");
    const auto outcome = delivery_.deliver(message, peer, submission, entry.arrival, entry.id,
                                           [&holders](const std::string& user) { return holders.contains(user); });
    if (outcome.result == net::smtp::StoreResult::accepted) {
      finals.insert(finals.end(), deliverable.begin(), deliverable.end());
    } else if (log_) {
      log_("queue " + entry.id + ": not delivered yet (" +
           (outcome.reason.empty() ? std::string("the store failed") : outcome.reason) +
           "); it stays queued for the next start");
    }
  }
  for (const auto& recipient : finals) sink_->recipient_final(entry.id, recipient);
}

}  // namespace maillab::app
