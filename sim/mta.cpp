// The MTA and its MDA: see world.hpp for the theory of operation.
#include <algorithm>
#include <charconv>
#include <fmt/format.h>

#include "net/mail/message.hpp"
#include "net/tls/tls_certificate.hpp"
#include "sim/compose.hpp"
#include "sim/world_roles.hpp"

namespace maillab::sim {

namespace smtp = net::smtp;
namespace dns = net::dns;
using Status = DnsAnswer::Status;

namespace {

std::string domain_of(const std::string& address) { return address.substr(address.find('@') + 1); }

RecipientResult from_verdict(const smtp::Verdict& v, const std::string& remote) {
  RecipientResult r;
  r.delivery = v.delivery;
  r.remote_mta = remote;
  if (v.reply) {
    r.status = v.reply->enhanced.empty() ? (v.reply->is_permanent() ? "5.0.0" : "4.0.0") : v.reply->enhanced;
    r.diagnostic = "smtp; " + v.reply->first_wire_line();
  } else {
    r.status = v.delivery == smtp::Delivery::permanent ? "5.0.0" : "4.4.1";
    r.diagnostic = "x-maillab; " + v.diagnostic;
  }
  return r;
}

RecipientResult local_result(smtp::Delivery delivery, std::string status, std::string diagnostic) {
  return RecipientResult{delivery, std::move(status), std::move(diagnostic), ""};
}

}  // namespace

// --- policy --------------------------------------------------------------------------

smtp::AuthOffer MtaPolicy::auth_offer(const smtp::SessionInfo& session) const {
  if (port_ != 587) return smtp::AuthOffer::disabled;
  return session.tls_active ? smtp::AuthOffer::offered : smtp::AuthOffer::requires_tls;
}

const net::CredentialChecker& MtaPolicy::credentials() const { return mta_.world_.credentials; }

bool MtaPolicy::sender_allowed(std::string_view user, const net::mail::Address& sender) const {
  const std::string address = sender.local_part + "@" + sender.domain_key();
  if (address == user) return true;
  const auto* u = mta_.world_.user_at(user);
  return u && std::find(u->aliases.begin(), u->aliases.end(), address) != u->aliases.end();
}

smtp::RecipientVerdict MtaPolicy::check_recipient(const smtp::SessionInfo& session,
                                                  const net::mail::Address& recipient) const {
  const std::string domain = recipient.domain_key();
  const std::string address = recipient.local_part + "@" + domain;
  if (mta_.is_final_for(domain) || mta_.is_mx_for(domain))
    return mta_.local_user(address).empty() ? smtp::RecipientVerdict::unknown_user : smtp::RecipientVerdict::accept;
  if (!session.authenticated_user.empty() || mta_.spec_.open_relay) return smtp::RecipientVerdict::accept;
  return smtp::RecipientVerdict::relay_denied;
}

std::optional<smtp::Reply> MtaPolicy::inject(smtp::PolicyStage stage, const smtp::SessionInfo& session,
                                             std::string_view argument) {
  auto& world = mta_.world_;
  if (stage == smtp::PolicyStage::mail) mail_from_ = std::string(argument);
  for (const auto& fault : world.scenario.faults) {
    if (!world.fault_active(fault)) continue;
    if (fault.kind == FaultKind::reply && fault.host == mta_.name_ && (!fault.port || *fault.port == port_) &&
        static_cast<int>(fault.stage) == static_cast<int>(stage)) {
      std::string text = fault.text.empty() ? "Simulated failure (scenario fault)" : fault.text;
      std::string enhanced = fault.code >= 500 ? "5.3.0" : "4.3.0";
      if (text.size() > 5 && std::isdigit(static_cast<unsigned char>(text[0])) && text[1] == '.') {
        enhanced = text.substr(0, text.find(' '));
        text = text.find(' ') == std::string::npos ? "" : text.substr(text.find(' ') + 1);
      }
      return smtp::make_reply(fault.code, enhanced, text);
    }
    if (stage != smtp::PolicyStage::rcpt) continue;
    if (fault.kind == FaultKind::mailbox_full) {
      auto parsed = net::mail::parse_forward_path(argument);
      if (parsed && mta_.is_final_for(parsed->domain_key()) &&
          mta_.local_user(parsed->local_part + "@" + parsed->domain_key()) == fault.user)
        return smtp::make_reply(452, "4.2.2", "Mailbox full, try again later");  // RFC 3463 X.2.2
    }
    if (fault.kind == FaultKind::greylist && fault.host == mta_.name_) {
      // RFC 6647 §2.1: the triplet (client address, sender, recipient).
      const std::string key = std::string(session.client_address) + " " + mail_from_ + " " + std::string(argument);
      auto [it, first] = mta_.greylist_.try_emplace(key, world.now());
      if (first || world.now() - it->second < fault.greylist_delay) return smtp::replies::greylisted();
    }
  }
  return std::nullopt;
}

// --- MTA -----------------------------------------------------------------------------

Mta::Mta(World::Impl& world, const HostSpec& spec, HostId host)
    : world_(world),
      spec_(spec),
      host_(host),
      name_(spec.name),
      store_(world.shared_store ? *world.shared_store : static_cast<net::mail::MailStore&>(own_store_)),
      resolver_(world, host) {
  net::tls::CertificateRequest request;
  request.dns_names = {spec.name};
  request.not_before_unix_s = world.start_unix_s - 86400;
  if (!world.server_tls) {
    if (auto first = net::tls::TlsContext::server_self_signed(request)) world.server_tls = std::move(first).value();
  }
  if (!world.server_tls) return;
  if (auto context = world.server_tls->with_certificate_for(request)) tls_ = std::move(context).value();
}

bool Mta::is_final_for(const std::string& domain) const {
  const auto* d = world_.domain_named(domain);
  return d && d->mailbox_host == name_;
}

bool Mta::is_mx_for(const std::string& domain) const {
  const auto* d = world_.domain_named(domain);
  if (!d) return false;
  return std::any_of(d->mx.begin(), d->mx.end(), [&](const MxSpec& mx) { return mx.host == name_; });
}

std::string Mta::local_user(const std::string& address) const {
  const auto* u = world_.user_or_alias(address);
  return u ? u->address : std::string();
}

void Mta::start() {
  for (std::uint16_t port : {std::uint16_t{25}, std::uint16_t{587}})
    world_.network.listen(host_, port, [this, port](ConnectionId id) {
      accept_smtp(id, port);
      return StreamHandlers{};
    });
  if (!keeps_mailboxes()) return;
  world_.network.listen(host_, 110, [this](ConnectionId id) {
    accept_pop3(id);
    return StreamHandlers{};
  });
  world_.network.listen(host_, 143, [this](ConnectionId id) {
    accept_imap(id);
    return StreamHandlers{};
  });
}

bool Mta::keeps_mailboxes() const {
  return std::any_of(world_.scenario.domains.begin(), world_.scenario.domains.end(),
                     [&](const DomainSpec& d) { return d.mailbox_host == name_; });
}

void Mta::store_changed() {
  if (store_.change_counter() == store_seen_) return;
  store_seen_ = store_.change_counter();
  for (auto& [id, session] : imap_) {
    if (session->closed()) continue;
    session->engine().handle_store_changed(world_.now());
    session->pump();
  }
}

void Mta::crash() {
  ++epoch_;
  for (auto& [id, in] : inbound_) in.session->abandon();
  for (auto& [id, s] : pop3_) s->abandon();
  for (auto& [id, s] : imap_) s->abandon();
  for (auto& [id, s] : outbound_) s->abandon();
  // Sessions may still be on the stack of the event that crashed us: drop them later.
  auto drop = std::make_shared<std::tuple<decltype(inbound_), decltype(pop3_), decltype(imap_), decltype(outbound_)>>(
      std::move(inbound_), std::move(pop3_), std::move(imap_), std::move(outbound_));
  inbound_.clear();
  pop3_.clear();
  imap_.clear();
  outbound_.clear();
  world_.scheduler.after(Duration{0}, [drop] {});
  locks_ = net::pop3::MaildropLocks{};
  for (auto& [id, entry] : queue_) entry.in_flight = false;
}

void Mta::restart() {
  for (auto& [id, entry] : queue_) {
    world_.scheduler.cancel(entry.retry);
    entry.retry = {};
    attempt(id);
  }
}

void Mta::accept_smtp(ConnectionId id, std::uint16_t port) {
  const HostId peer = world_.network.endpoint(id, Side::client).host;
  Inbound in;
  in.policy = std::make_unique<MtaPolicy>(*this, port);
  in.session = std::make_shared<EngineSession<smtp::Server>>(
      world_.network, world_.scheduler, world_.trace, id, Side::server,
      SessionLabel{name_, world_.network.host_name(peer), port == 587 ? "submission" : "smtp", false}, tls_, "");
  auto* session = in.session.get();
  session->on_event = [this, id, port](smtp::ServerEvent& event) {
    if (auto* m = std::get_if<smtp::MessageEvent>(&event)) on_message(id, port, *m);
  };
  const std::uint64_t epoch = epoch_;
  session->on_closed = [this, id, epoch] {
    world_.scheduler.after(Duration{0}, [this, id, epoch] {
      if (epoch == epoch_) inbound_.erase(id);
    });
  };
  smtp::ServerConfig config;
  config.host_name = name_;
  config.line_events = sender_side_lines(world_.trace);
  config.state_events = false;  // EngineSession drops them unread
  config.client_address = format_ipv4(world_.network.host_address(peer));
  config.submission = port == 587;
  config.tls_available = tls_.has_value();
  config.data_reserve_octets = 1000;  // the lab's messages are a few hundred octets: a small, cached block
  auto& policy = *in.policy;
  auto keep = in.session;
  inbound_.emplace(id, std::move(in));
  keep->start(std::move(config), policy, world_.now());
}

void Mta::accept_pop3(ConnectionId id) {
  const HostId peer = world_.network.endpoint(id, Side::client).host;
  auto session = std::make_shared<EngineSession<net::pop3::Server>>(
      world_.network, world_.scheduler, world_.trace, id, Side::server,
      SessionLabel{name_, world_.network.host_name(peer), "pop3", false}, tls_, "");
  session->on_event = [this, session = session.get(), peer_name = world_.network.host_name(peer)](
                          net::pop3::ServerEvent& event) {
    auto* body = std::get_if<net::pop3::BodyEvent>(&event);
    if (!body) return;
    if (!world_.trace.wants_events()) return world_.trace.count_line();
    world_.trace.add(TraceEvent{world_.now(), TraceKind::line, name_, peer_name, "pop3", 'S',
                                fmt::format("({}: {} lines, {} octets)", body->what, body->lines, body->octets),
                                body->tls, session->msg});
  };
  const std::uint64_t epoch = epoch_;
  session->on_closed = [this, id, epoch] {
    world_.scheduler.after(Duration{0}, [this, id, epoch] {
      if (epoch != epoch_) return;
      pop3_.erase(id);
      store_changed();  // the UPDATE state may have removed messages (RFC 1939 §6)
    });
  };
  net::pop3::ServerConfig config;
  config.host_name = name_;
  config.line_events = sender_side_lines(world_.trace);
  config.apop_timestamp = fmt::format("<{}.{}@{}>", id, world_.unix_now(), name_);
  config.tls_available = tls_.has_value();
  pop3_.emplace(id, session);
  session->start(std::move(config), store_, world_.credentials, locks_, world_.now());
}

void Mta::accept_imap(ConnectionId id) {
  const HostId peer = world_.network.endpoint(id, Side::client).host;
  auto session = std::make_shared<EngineSession<net::imap::ImapServer>>(
      world_.network, world_.scheduler, world_.trace, id, Side::server,
      SessionLabel{name_, world_.network.host_name(peer), "imap", false}, tls_, "");
  // A literal (a message in a FETCH response) is summarised, not shown line by line.
  session->on_event = [this, session = session.get(), peer_name = world_.network.host_name(peer)](
                          net::imap::ServerEvent& event) {
    auto* literal = std::get_if<net::imap::LiteralEvent>(&event);
    if (!literal || literal->dir != net::Direction::server_to_client) return;
    if (!world_.trace.wants_events()) return world_.trace.count_line();
    world_.trace.add(TraceEvent{world_.now(), TraceKind::line, name_, peer_name, "imap", 'S',
                                fmt::format("(literal: {} octets)", literal->bytes), session->engine().tls_active(),
                                session->msg});
  };
  const std::uint64_t epoch = epoch_;
  session->on_closed = [this, id, epoch] {
    world_.scheduler.after(Duration{0}, [this, id, epoch] {
      if (epoch != epoch_) return;
      imap_.erase(id);
      store_changed();  // flags it set (\Seen) reach the other sessions
    });
  };
  net::imap::ServerConfig config;
  config.hostname = name_;
  config.starttls_offered = tls_.has_value();
  config.unix_epoch_offset_s = world_.start_unix_s;
  imap_.emplace(id, session);
  session->start(std::move(config), world_.credentials, store_, world_.now());
}

namespace {

// Upper-case hexadecimal, left-padded with zeros to `min_digits` (fmt's "{:0NX}", without its parsing).
void append_hex(std::string& out, std::uint64_t value, int min_digits) {
  char digits[16];
  char* end = std::to_chars(digits, digits + sizeof digits, value, 16).ptr;
  for (auto n = end - digits; n < min_digits; ++n) out += '0';
  for (char* c = digits; c != end; ++c) out += (*c >= 'a' && *c <= 'f') ? static_cast<char>(*c - 'a' + 'A') : *c;
}

}  // namespace

std::string Mta::new_queue_id() {
  // Postfix-like queue ids, unique per host and deterministic.
  std::string id;
  append_hex(id, next_queue_id_++, 5);
  append_hex(id, std::uint64_t{host_} + 10, 1);
  return id;
}

void Mta::on_message(ConnectionId id, std::uint16_t port, smtp::MessageEvent& event) {
  auto it = inbound_.find(id);
  if (it == inbound_.end()) return;
  auto session = it->second.session;
  const std::string queue_id = new_queue_id();
  if (count_fields(event.data, "Received") >= 30) {  // RFC 5321 §6.3: the hop count
    session->engine().complete_message(world_.now(), smtp::StoreOutcome{smtp::StoreResult::permanent_failure, "",
                                                                        "5.4.6 Too many hops: a mail loop?"});
    return session->pump();
  }
  const HostId peer = world_.network.endpoint(id, Side::client).host;
  net::mail::ReceivedInfo info;
  info.helo = event.helo_name.empty() ? "unknown" : event.helo_name;
  info.client_host = world_.network.host_name(peer);
  info.client_ip = format_ipv4(world_.network.host_address(peer));
  info.by_host = name_;
  const bool auth = !event.authenticated_user.empty();
  info.protocol = event.tls ? (auth ? net::mail::ReceivedProtocol::esmtpsa : net::mail::ReceivedProtocol::esmtps)
                            : (auth ? net::mail::ReceivedProtocol::esmtpa : net::mail::ReceivedProtocol::esmtp);
  info.id = queue_id;
  if (event.forward_paths.size() == 1) info.for_recipient = event.forward_paths.front().to_string();
  info.date_s = world_.unix_now();
  std::string data;
  if (port == 587) {
    auto parsed = net::mail::Message::parse(event.data);
    (void)net::mail::add_received(parsed, info);
    const auto& user = event.authenticated_user;
    (void)net::mail::ensure_message_id_and_date(parsed, queue_id, user.empty() ? name_ : domain_of(user),
                                                world_.unix_now());
    data = parsed.serialize();
  } else {
    // What add_received on the parsed message gives, without parsing it.
    auto received = net::mail::format_received(info);
    auto with = received ? net::mail::with_field_prepended(event.data, "Received", *received) : received;
    data = with ? std::move(with).value() : event.data;
  }
  const std::string msg = message_id_of(data);
  session->msg = msg;
  world_.note_hop(msg, name_);
  const std::string sender = event.reverse_path.is_null() ? "" : event.reverse_path.to_string();
  std::vector<std::string> local, remote;
  for (const auto& path : event.forward_paths) {
    const std::string rcpt = path.local_part + "@" + path.domain_key();
    (is_final_for(path.domain_key()) ? local : remote).push_back(rcpt);
  }
  session->engine().complete_message(world_.now(), smtp::StoreOutcome{smtp::StoreResult::accepted, queue_id, ""});
  session->pump();
  const std::uint64_t epoch = epoch_;
  for (const auto& rcpt : local)
    world_.scheduler.after(Duration{0}, [this, epoch, sender, rcpt, data, msg] {
      if (epoch == epoch_) deliver_local(sender, rcpt, data, msg);
    });
  if (!remote.empty()) enqueue(sender, remote, data, msg);
}

std::optional<RecipientResult> Mta::deliver_local(const std::string& sender, const std::string& recipient,
                                                  const std::string& data, const std::string& msg,
                                                  bool keep_transient) {
  auto fail = [&](RecipientResult result) -> std::optional<RecipientResult> {
    if (result.delivery == smtp::Delivery::transient) {
      world_.event(TraceKind::deliver, name_, "", "local",
                   fmt::format("<{}> not stored for {} yet: {} {}", msg, recipient, result.status, result.diagnostic),
                   msg);
      world_.finalize(msg, recipient, FateState::rejected, result.status + " " + result.diagnostic);
      return result;
    }
    QueueEntry entry{"", msg, sender, data, {}, {}, world_.now(), 0, false, {}};
    bounce(entry, {{recipient, result}});
    return std::nullopt;
  };
  const std::string user = local_user(recipient);
  if (user.empty())
    return fail(local_result(smtp::Delivery::permanent, "5.1.1", "x-local; user unknown (RFC 3463 X.1.1)"));
  const auto* spec = world_.user_at(user);
  for (const auto& target : spec->forward) {
    // Handed on, not stored here: a queue step of the MDA, not a delivery.
    world_.event(TraceKind::queue, name_, "", "local", recipient + " forwards to " + target, msg);
    world_.track(msg).fates.try_emplace(target);
    if (world_.handoff) continue;  // the copies go to the caller's queue, below
    world_.fate_opened(msg, recipient, target);
    if (is_final_for(domain_of(target))) deliver_local(sender, target, data, msg);
    else enqueue(sender, {target}, data, msg);
  }
  // With a handoff sink the forwarded copy is handed over only after a kept
  // copy is stored: the caller may make the copy durable at once, and from
  // then on counts this recipient as done (its kept copy must not be missing
  // then).  A kept copy that could not be stored for now hands nothing over:
  // the recipient is tried again as a whole.
  auto hand_off_forward = [&] {
    world_.handoff(Handoff{name_, sender, spec->forward, data, msg, false,
                           {{world_.watch_tag(msg, recipient), recipient}}});
  };
  const bool hands_off = world_.handoff && !spec->forward.empty();
  if (!spec->forward.empty() && !spec->keep) {
    if (hands_off) hand_off_forward();
    world_.finalize(msg, recipient, FateState::delivered, "forwarded by " + name_);
    return std::nullopt;
  }
  // Message::prepend of Delivered-To:, then of Return-Path:, without parsing the message.
  std::string stored =
      net::mail::with_fields_prepended(data, {{"Return-Path", "<" + sender + ">"}, {"Delivered-To", recipient}});
  auto uid = store_.append(user, "INBOX", stored, {}, world_.unix_now());
  if (!uid) {
    const bool quota = uid.error().category == ErrorCategory::quota;
    // A store that failed for another reason (a full disk) may work later:
    // with `keep_transient` the caller keeps the message (RFC 3463 X.3.1).
    const bool permanent = quota || !keep_transient;
    if (hands_off && permanent) hand_off_forward();  // the forward goes on; the kept copy bounces
    return fail(local_result(permanent ? smtp::Delivery::permanent : smtp::Delivery::transient,
                             quota ? "5.2.2" : (keep_transient ? "4.3.1" : "5.3.0"),
                             quota ? "x-local; mailbox full: quota exceeded (RFC 3463 X.2.2)"
                                   : "x-local; " + uid.error().message));
  }
  if (world_.tracing()) {
    auto delivered = world_.make_event(TraceKind::deliver, name_, "", "local",
                                       fmt::format("<{}> delivered to {} INBOX (uid {})", msg, user, *uid), msg);
    delivered.user = user;
    delivered.data = std::move(stored);
    world_.trace.add(std::move(delivered));
  }
  store_changed();
  if (hands_off) hand_off_forward();
  world_.finalize(msg, recipient, FateState::delivered, user + " INBOX on " + name_);
  return std::nullopt;
}

std::vector<std::pair<std::string, RecipientResult>> Mta::inject(const Injection& injection) {
  const std::string& msg = injection.msg;
  MessageTrack& track = world_.track(msg);
  if (track.subject.empty()) track.subject = subject_of(injection.data);
  if (track.from.empty()) track.from = injection.sender;
  if (track.label.empty()) track.label = injection.client;
  for (const auto& r : injection.recipients) track.fates.try_emplace(r);
  // note_hop() on the track at hand (World::inject refuses an empty Message-ID).
  if (!injection.client.empty()) track.route.push_back(injection.client);
  track.route.push_back(name_);
  std::vector<std::string> local, remote;
  for (const auto& rcpt : injection.recipients) (is_final_for(domain_of(rcpt)) ? local : remote).push_back(rcpt);
  if (world_.tracing()) {  // else Trace::add would drop it: not built (every real client's message)
    std::string list;
    for (const auto& rcpt : injection.recipients) list += (list.empty() ? "" : ", ") + rcpt;
    auto accepted = world_.make_event(TraceKind::queue, name_, "", injection.proto,
                                      injection.client.empty()
                                          ? fmt::format("accepted <{}> from <{}> for {} from the lab's queue "
                                                        "(a DSN or a forwarded copy, {} octets)",
                                                        msg, injection.sender, list, injection.data.size())
                                          : fmt::format("accepted <{}> from <{}> for {} from the real client {} "
                                                        "({} octets)",
                                                        msg, injection.sender, list, injection.client,
                                                        injection.data.size()),
                                      msg);
    world_.trace.add(std::move(accepted));
  }
  std::vector<std::pair<std::string, RecipientResult>> refused;
  for (const auto& rcpt : local)
    if (auto failed = deliver_local(injection.sender, rcpt, injection.data, msg, true))
      refused.emplace_back(rcpt, *failed);
  if (!remote.empty()) enqueue(injection.sender, remote, injection.data, msg);
  return refused;
}

void Mta::enqueue(const std::string& sender, std::vector<std::string> recipients, std::string data,
                  const std::string& msg) {
  const std::string id = new_queue_id();
  if (world_.tracing()) {
    std::string list;
    for (const auto& r : recipients) list += (list.empty() ? "" : ", ") + r;
    queue_event(fmt::format("{}: queued <{}> from <{}> for {}", id, msg, sender, list), msg, "enqueue",
                world_.now());  // the first attempt runs at once
  }
  queue_.emplace(id, QueueEntry{id, msg, sender, std::move(data), std::move(recipients), {}, world_.now(), 0, false, {}});
  const std::uint64_t epoch = epoch_;
  world_.scheduler.after(Duration{0}, [this, id, epoch] {
    if (epoch == epoch_) attempt(id);
  });
}

void Mta::queue_event(std::string text, const std::string& msg, std::string action,
                      std::optional<Instant> next_retry) {
  if (!world_.tracing()) return;
  auto event = world_.make_event(TraceKind::queue, name_, "", "smtp", std::move(text), msg);
  event.action = std::move(action);
  event.next_retry = next_retry;
  world_.trace.add(std::move(event));
}

void Mta::attempt(const std::string& queue_id) {
  auto it = queue_.find(queue_id);
  if (it == queue_.end() || it->second.in_flight || !world_.network.host_up(host_)) return;
  QueueEntry& entry = it->second;
  entry.in_flight = true;
  ++entry.attempts;
  std::map<std::string, std::vector<std::string>> by_domain;
  for (const auto& r : entry.recipients) by_domain[domain_of(r)].push_back(r);
  auto results = std::make_shared<std::map<std::string, RecipientResult>>();
  auto outstanding = std::make_shared<std::size_t>(by_domain.size());
  const std::uint64_t epoch = epoch_;
  for (auto& [domain, rcpts] : by_domain) {
    deliver_domain(queue_id, domain, rcpts, [this, queue_id, results, outstanding, epoch](auto domain_results) {
      if (epoch != epoch_) return;
      for (auto& [r, result] : domain_results) (*results)[r] = result;
      if (--*outstanding == 0) finish_attempt(queue_id, *results);
    });
  }
}

void Mta::deliver_domain(const std::string& queue_id, const std::string& domain, std::vector<std::string> recipients,
                         std::function<void(std::map<std::string, RecipientResult>)> done) {
  auto attempt = std::make_shared<DomainAttempt>();
  attempt->queue_id = queue_id;
  attempt->msg = queue_.at(queue_id).msg;
  attempt->recipients = std::move(recipients);
  attempt->done = std::move(done);
  auto all = [attempt](RecipientResult r) {
    std::map<std::string, RecipientResult> out;
    for (const auto& rcpt : attempt->recipients) out[rcpt] = r;
    return out;
  };
  const std::uint64_t epoch = epoch_;
  resolver_.query(domain, dns::RecordType::mx, attempt->msg, [this, attempt, all, domain, epoch](DnsAnswer answer) {
    if (epoch != epoch_) return;
    const std::string& msg = attempt->msg;
    const auto& finished = attempt->done;
    if (answer.status == Status::timeout || answer.status == Status::failure)
      return finished(all(local_result(smtp::Delivery::transient, "4.4.3", "x-maillab; DNS lookup of " + domain +
                                                                           " failed, will retry (RFC 3463 X.4.3)")));
    if (answer.status == Status::nxdomain)
      return finished(all(local_result(smtp::Delivery::permanent, "5.1.2",
                                   "x-maillab; domain " + domain + " does not exist (NXDOMAIN, RFC 3463 X.1.2)")));
    std::vector<dns::Record> mx;
    for (const auto& r : answer.records)
      if (r.type == dns::RecordType::mx) mx.push_back(r);
    if (mx.size() == 1 && mx.front().exchange.empty())
      return finished(all(local_result(smtp::Delivery::permanent, "5.1.10",
                                   "x-maillab; " + domain + " has a null MX: it accepts no mail (RFC 7505 §3)")));
    std::vector<std::string> exchanges;
    if (mx.empty()) {
      // RFC 5321 §5.1: no MX records, the domain itself is the implicit MX.
      world_.event(TraceKind::queue, name_, "", "smtp",
                   "no MX for " + domain + ": falling back to its A record (RFC 5321 §5.1 implicit MX)", msg);
      exchanges.push_back(domain);
    } else {
      // Sort by preference; shuffle equal preferences (RFC 5321 §5.1).
      std::stable_sort(mx.begin(), mx.end(), [](const auto& a, const auto& b) { return a.preference < b.preference; });
      for (std::size_t i = 0; i < mx.size();) {
        std::size_t j = i;
        while (j < mx.size() && mx[j].preference == mx[i].preference) ++j;
        for (std::size_t k = j - 1; k > i; --k) std::swap(mx[k], mx[i + world_.prng.below(k - i + 1)]);
        i = j;
      }
      // An MX host itself drops its own preference and worse (RFC 5321 §5.1).
      auto self = std::find_if(mx.begin(), mx.end(), [&](const auto& r) { return r.exchange == name_; });
      if (self != mx.end()) {
        const auto own = self->preference;
        mx.erase(std::remove_if(mx.begin(), mx.end(), [&](const auto& r) { return r.preference >= own; }), mx.end());
        if (mx.empty())
          return finished(all(local_result(smtp::Delivery::permanent, "5.4.6",
                                       "x-maillab; mail for " + domain + " loops back to myself (RFC 3463 X.4.6)")));
      }
      std::string order;
      for (const auto& r : mx) {
        exchanges.push_back(r.exchange);
        if (world_.tracing())
          order += (order.empty() ? "" : ", ") + r.exchange + " (" + std::to_string(r.preference) + ")";
      }
      if (world_.tracing())
        world_.event(TraceKind::queue, name_, "", "smtp", "MX order for " + domain + ": " + order, msg);
    }
    attempt->exchanges = std::move(exchanges);
    try_exchange(attempt, 0, "");
  });
}

void Mta::try_exchange(const std::shared_ptr<DomainAttempt>& attempt, std::size_t index, std::string last_error) {
  if (queue_.find(attempt->queue_id) == queue_.end()) return;
  if (index >= attempt->exchanges.size()) {
    std::map<std::string, RecipientResult> out;
    for (const auto& r : attempt->recipients)
      out[r] = local_result(smtp::Delivery::transient, "4.4.1", "x-maillab; " + last_error + " (RFC 3463 X.4.1)");
    return attempt->done(out);
  }
  const std::uint64_t epoch = epoch_;
  // The callbacks below share `attempt` (and find the exchange by index)
  // instead of each copying the recipients, the MX list and `done`.
  auto next = [this, attempt, index](std::string why) { try_exchange(attempt, index + 1, std::move(why)); };
  const auto on_address = [this, attempt, index, epoch, next](DnsAnswer answer) {
    if (epoch != epoch_) return;
    const std::string& exchange = attempt->exchanges[index];
    const std::string& msg = attempt->msg;
    if (answer.status != Status::ok) return next("no address for " + exchange);
    const Ipv4 address = answer.records.front().ipv4;
    if (world_.tracing())
      world_.event(TraceKind::connect, name_, exchange, "smtp", "connecting to " + format_ipv4(address) + ":25", msg);
    world_.network.connect(host_, address, 25, [this, attempt, index, epoch, next, address](ConnectOutcome outcome,
                                                                                           ConnectionId id) {
      if (epoch != epoch_) return;
      const std::string& peer = attempt->exchanges[index];
      if (outcome != ConnectOutcome::connected)
        world_.event(TraceKind::connect, name_, peer, "smtp",
                     "connect to " + format_ipv4(address) + ":25: " + std::string(to_string(outcome)), attempt->msg);
      if (outcome != ConnectOutcome::connected) return next(peer + ": " + std::string(to_string(outcome)));
      auto it = queue_.find(attempt->queue_id);
      if (it == queue_.end()) return world_.network.close(id, Side::client);
      auto session = std::make_shared<EngineSession<smtp::Client>>(
          world_.network, world_.scheduler, world_.trace, id, Side::client,
          SessionLabel{name_, peer, "smtp", true}, world_.client_tls, peer);
      session->msg = attempt->msg;
      auto* raw = session.get();  // the session owns this callback: no shared_ptr cycle
      auto results = std::make_shared<std::map<std::string, RecipientResult>>();
      auto session_failure = std::make_shared<std::optional<smtp::Verdict>>();
      session->on_event = [this, attempt, index, raw, results, session_failure](smtp::ClientEvent& event) {
        const std::string& remote = attempt->exchanges[index];
        if (auto* r = std::get_if<smtp::RecipientOutcome>(&event)) {
          (*results)[r->address] = from_verdict(r->verdict, remote);
          if (r->verdict.scope == smtp::FailureScope::session) *session_failure = r->verdict;
        } else if (auto* c = std::get_if<smtp::ContentSentEvent>(&event)) {
          world_.trace.add(TraceEvent{world_.now(), TraceKind::line, name_, remote, "smtp", 'C',
                                      fmt::format("(message content: {} lines, {} octets)", c->lines, c->octets),
                                      raw->engine().tls_active(), attempt->msg});
        }
      };
      session->on_closed = [this, attempt, index, epoch, next, id, results, session_failure] {
        world_.scheduler.after(Duration{0}, [this, attempt, index, epoch, next, id, results, session_failure] {
          if (epoch != epoch_) return;
          const std::string& remote = attempt->exchanges[index];
          outbound_.erase(id);
          // A session-wide transient failure (421, a timeout, a dropped line):
          // the next MX may do better (RFC 5321 §5.1).
          if (*session_failure && (*session_failure)->delivery == smtp::Delivery::transient)
            return next(remote + ": " + (*session_failure)->diagnostic);
          std::map<std::string, RecipientResult> out;
          for (const auto& r : attempt->recipients) {
            auto found = results->find(r);
            out[r] = found != results->end()
                         ? found->second
                         : local_result(smtp::Delivery::transient, "4.4.2", "x-maillab; " + remote + ": no answer");
          }
          attempt->done(out);
        });
      };
      smtp::ClientConfig config;
      config.helo_name = name_;
      config.line_events = sender_side_lines(world_.trace);
      config.state_events = false;  // EngineSession drops them unread
      config.tls = world_.scenario.starttls ? smtp::TlsPolicy::opportunistic : smtp::TlsPolicy::none;
      config.messages.push_back(smtp::OutgoingMessage{it->second.sender, attempt->recipients, it->second.data});
      outbound_[id] = session;
      // The engine takes the config by value: moved, not copied with the message data.
      session->start(std::move(config), world_.now());
    });
  };
  resolver_.query(attempt->exchanges[index], dns::RecordType::a, attempt->msg, on_address);
}

void Mta::finish_attempt(const std::string& queue_id, const std::map<std::string, RecipientResult>& results) {
  auto it = queue_.find(queue_id);
  if (it == queue_.end()) return;
  QueueEntry& entry = it->second;
  entry.in_flight = false;
  std::map<std::string, RecipientResult> failed;
  std::vector<std::string> pending;
  for (const auto& rcpt : entry.recipients) {
    const RecipientResult& r = results.at(rcpt);
    if (r.delivery == smtp::Delivery::accepted) {
      if (world_.tracing())
        world_.event(TraceKind::queue, name_, "", "smtp",
                     fmt::format("{}: {} relayed to {}", queue_id, rcpt, r.remote_mta), entry.msg);
    } else if (r.delivery == smtp::Delivery::permanent) {
      failed[rcpt] = r;
    } else {
      entry.last[rcpt] = r;
      pending.push_back(rcpt);
    }
  }
  entry.recipients = pending;
  const Duration age = world_.now() - entry.arrived;
  const bool expired = !pending.empty() && age >= world_.scenario.queue.lifetime;
  if (expired) {
    for (const auto& rcpt : pending) {
      RecipientResult r = entry.last[rcpt];
      r.status = "4.4.7";  // RFC 3463 X.4.7: delivery time expired
      r.diagnostic += " (gave up after " + format_duration(age) + " in the queue)";
      failed[rcpt] = r;
    }
    pending.clear();
    entry.recipients.clear();
  }
  if (!failed.empty()) bounce(entry, failed);
  if (pending.empty()) {
    world_.track(entry.msg).queued += world_.now() - entry.arrived;
    if (expired)
      queue_event(queue_id + ": removed from the queue: its lifetime of " +
                      format_duration(world_.scenario.queue.lifetime) + " expired",
                  entry.msg, "expired");
    else
      queue_event(queue_id + ": removed from the queue", entry.msg, "dequeue");
    queue_.erase(it);
    return;
  }
  const auto& schedule = world_.scenario.queue.retry;
  Duration wait = schedule[std::min<std::size_t>(entry.attempts - 1, schedule.size() - 1)];
  const Instant deadline = entry.arrived + world_.scenario.queue.lifetime;
  Instant when = world_.now() + wait;
  if (when > deadline) when = deadline;
  std::string list;
  for (const auto& r : pending) list += (list.empty() ? "" : ", ") + r + " (" + entry.last[r].diagnostic + ")";
  queue_event(fmt::format("{}: deferred: {}; retry at {}", queue_id, list, format_clock(when)), entry.msg, "retry",
              when);
  const std::uint64_t epoch = epoch_;
  entry.retry = world_.scheduler.at(when, [this, queue_id, epoch] {
    if (epoch == epoch_) attempt(queue_id);
  });
}

void Mta::bounce(const QueueEntry& entry, const std::map<std::string, RecipientResult>& failed) {
  // The failed recipients are final once their DSN is on its way (a handoff
  // names them while the world still waits for them).
  auto finalize = [&] {
    for (const auto& [rcpt, r] : failed)
      world_.finalize(entry.msg, rcpt, entry.sender.empty() ? FateState::discarded : FateState::bounced,
                      r.status + " " + r.diagnostic);
  };
  for (const auto& [rcpt, r] : failed)
    world_.event(TraceKind::bounce, name_, "", "smtp", rcpt + ": " + r.status + " " + r.diagnostic, entry.msg);
  if (entry.sender.empty()) {
    // RFC 5321 §6.1, RFC 3464 §2: never a bounce for a bounce.
    world_.event(TraceKind::bounce, name_, "", "smtp",
                 "<" + entry.msg + "> has the null sender <>: no bounce for a bounce, discarded", entry.msg);
    return finalize();
  }
  DsnInput input;
  input.reporting_mta = name_;
  input.original_envelope_sender = entry.sender;
  input.original_message = entry.data;
  input.arrival_date_s = world_.start_unix_s + entry.arrived.us / 1'000'000;
  input.now_s = world_.unix_now();
  // `maillab serve` restarts the world with the queue ids: the start time keeps its DSNs' ids apart.
  const std::string dsn_id = world_.handoff ? fmt::format("dsn.{}.{}@{}", new_queue_id(), world_.start_unix_s, name_)
                                            : "dsn." + new_queue_id() + "@" + name_;
  input.message_id = "<" + dsn_id + ">";
  for (const auto& [rcpt, r] : failed) input.failed.push_back(FailedRecipient{rcpt, r.status, r.remote_mta, r.diagnostic});
  std::string data = compose_dsn(input);
  MessageTrack& t = world_.track(dsn_id);
  t.is_bounce = true;
  t.label = "bounce";
  t.subject = "Undelivered Mail Returned to Sender";
  t.from = "MAILER-DAEMON@" + name_;
  t.fates.try_emplace(entry.sender);
  world_.note_hop(dsn_id, name_);
  world_.event(TraceKind::bounce, name_, "", "smtp",
               "sending a delivery status notification <" + dsn_id + "> to <" + entry.sender + "> (RFC 3464)", entry.msg);
  if (world_.handoff) {
    Handoff handoff{name_, "", {entry.sender}, std::move(data), dsn_id, true, {}};
    for (const auto& [rcpt, r] : failed) handoff.origins.emplace_back(world_.watch_tag(entry.msg, rcpt), rcpt);
    world_.handoff(handoff);
  } else if (is_final_for(domain_of(entry.sender))) {
    const std::uint64_t epoch = epoch_;
    world_.scheduler.after(Duration{0}, [this, epoch, sender = entry.sender, data, dsn_id] {
      if (epoch == epoch_) deliver_local("", sender, data, dsn_id);
    });
  } else {
    enqueue("", {entry.sender}, std::move(data), dsn_id);
  }
  finalize();
}

}  // namespace maillab::sim
