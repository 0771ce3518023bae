// The mail client (MUA): submission with AUTH over STARTTLS (RFC 6409, RFC
// 3207, RFC 4954) and fetching by POP3 (RFC 1939, STLS per RFC 2595; keep or
// delete) or by IMAP (RFC 3501: STARTTLS, AUTHENTICATE PLAIN, SELECT INBOX,
// UID SEARCH/UID FETCH of the UIDs above the last one seen while UIDVALIDITY
// holds, \Seen set with UID STORE, LOGOUT; the mail stays on the server).
// Transient submission failures wait in the client's outbox and are retried on
// the queue's schedule; permanent ones are shown to the user (the fate
// "rejected").
#include <algorithm>

#include <fmt/format.h>

#include "sim/compose.hpp"
#include "sim/world_roles.hpp"

namespace maillab::sim {

namespace smtp = net::smtp;
namespace pop3 = net::pop3;
namespace imap = net::imap;
namespace dns = net::dns;

Mua::Mua(World::Impl& world, const MuaSpec& spec, HostId host)
    : world_(world), spec_(spec), host_(host), name_(spec.host), resolver_(world, host) {}

void Mua::crash() {
  ++epoch_;
  for (auto& [id, s] : smtp_) s->abandon();
  for (auto& [id, s] : pop3_) s->abandon();
  for (auto& [id, s] : imap_) s->abandon();
  auto drop = std::make_shared<std::tuple<decltype(smtp_), decltype(pop3_), decltype(imap_)>>(
      std::move(smtp_), std::move(pop3_), std::move(imap_));
  smtp_.clear();
  pop3_.clear();
  imap_.clear();
  world_.scheduler.after(Duration{0}, [drop] {});
  // Mail being submitted stays in the outbox (on disk): what the server had not
  // yet accepted is retried once the client is back.
  auto unsent = std::move(outgoing_);
  outgoing_.clear();
  for (auto& [id, out] : unsent)
    world_.scheduler.after(Duration{0}, [this, out = std::move(out)]() mutable { settle(out, name_ + " went down"); });
}

void Mua::settle(Outgoing& out, const std::string& no_answer) {
  std::vector<std::string> again;
  std::string why;
  for (const auto& r : out.recipients) {
    auto found = out.results->find(r);
    if (found == out.results->end() || found->second.delivery == smtp::Delivery::transient) {
      again.push_back(r);
      why = found == out.results->end() ? no_answer : found->second.diagnostic;
    } else if (found->second.delivery == smtp::Delivery::permanent) {
      world_.event(TraceKind::bounce, name_, "", "submission", r + " refused at submission: " + found->second.diagnostic,
                   out.msg);
      world_.finalize(out.msg, r, FateState::rejected, "refused at submission: " + found->second.diagnostic);
    }
  }
  if (!again.empty()) retry_or_give_up(*out.message, out.data, out.msg, out.attempt, again, why);
}

void Mua::retry_or_give_up(const MessageSpec& message, std::string data, std::string msg, std::uint32_t attempt,
                           const std::vector<std::string>& recipients, const std::string& why) {
  const auto& schedule = world_.scenario.queue.retry;
  const Duration wait = schedule[std::min<std::size_t>(attempt - 1, schedule.size() - 1)];
  const Duration age = world_.now() - (Instant{} + message.at);
  if (age + wait > world_.scenario.queue.lifetime) {
    world_.event(TraceKind::bounce, name_, "", "submission", "gave up sending <" + msg + ">: " + why, msg);
    for (const auto& r : recipients) world_.finalize(msg, r, FateState::rejected, "not submitted: " + why);
    return;
  }
  auto deferred = world_.make_event(TraceKind::queue, name_, "", "submission",
                                    "<" + msg + "> stays in the outbox: " + why + "; retry in " + format_duration(wait),
                                    msg);
  deferred.action = "retry";
  deferred.next_retry = world_.now() + wait;
  world_.trace.add(std::move(deferred));
  const MessageSpec* m = &message;
  const std::uint64_t epoch = epoch_;
  world_.scheduler.after(wait, [this, m, data = std::move(data), msg, attempt, epoch]() mutable {
    // A crashed client's outbox survives (it is on disk), so no epoch check here.
    (void)epoch;
    submit(*m, std::move(data), msg, attempt + 1);
  });
}

void Mua::submit(const MessageSpec& message, std::string data, std::string msg, std::uint32_t attempt) {
  std::vector<std::string> recipients;
  for (const auto* list : {&message.to, &message.cc, &message.bcc})
    for (const auto& r : *list)
      if (std::find(recipients.begin(), recipients.end(), r) == recipients.end()) recipients.push_back(r);
  if (!world_.network.host_up(host_))
    return retry_or_give_up(message, std::move(data), msg, attempt, recipients, name_ + " is down");
  // One submission, shared by the callbacks of its lookup and session
  // instead of each copying the message.
  struct Submission {
    const MessageSpec* m = nullptr;
    std::string data;
    std::string msg;
    std::uint32_t attempt = 0;
    std::vector<std::string> recipients;
  };
  auto sub = std::make_shared<Submission>(Submission{&message, std::move(data), std::move(msg), attempt,
                                                     std::move(recipients)});
  const std::uint64_t epoch = epoch_;
  resolver_.query(spec_.server, dns::RecordType::a, sub->msg, [this, sub, epoch](DnsAnswer answer) {
    const Submission& out = *sub;
    if (epoch != epoch_)
      return retry_or_give_up(*out.m, out.data, out.msg, out.attempt, out.recipients, name_ + " went down");
    if (answer.status != DnsAnswer::Status::ok)
      return retry_or_give_up(*out.m, out.data, out.msg, out.attempt, out.recipients,
                              "no address for " + spec_.server);
    const Ipv4 address = answer.records.front().ipv4;
    if (world_.tracing())
      world_.event(TraceKind::connect, name_, spec_.server, spec_.port == 25 ? "smtp" : "submission",
                   fmt::format("connecting to {}:{}", format_ipv4(address), spec_.port), out.msg);
    world_.network.connect(host_, address, spec_.port, [this, sub, epoch, address](ConnectOutcome outcome,
                                                                                  ConnectionId id) {
      const Submission& job = *sub;
      if (outcome != ConnectOutcome::connected)
        world_.event(TraceKind::connect, name_, spec_.server, spec_.port == 25 ? "smtp" : "submission",
                     fmt::format("connect to {}:{}: {}", format_ipv4(address), spec_.port, to_string(outcome)),
                     job.msg);
      if (epoch != epoch_) {
        world_.network.close(id, Side::client);
        return retry_or_give_up(*job.m, job.data, job.msg, job.attempt, job.recipients, name_ + " went down");
      }
      if (outcome != ConnectOutcome::connected)
        return retry_or_give_up(*job.m, job.data, job.msg, job.attempt, job.recipients,
                                std::string(to_string(outcome)));
      auto session = std::make_shared<EngineSession<smtp::Client>>(
          world_.network, world_.scheduler, world_.trace, id, Side::client,
          SessionLabel{name_, spec_.server, spec_.port == 25 ? "smtp" : "submission", true}, world_.client_tls,
          spec_.server);
      session->msg = job.msg;
      auto* raw = session.get();  // the session owns this callback: no shared_ptr cycle
      auto results = std::make_shared<std::map<std::string, smtp::Verdict>>();
      session->on_event = [this, sub, raw, results](smtp::ClientEvent& event) {
        if (auto* r = std::get_if<smtp::RecipientOutcome>(&event)) (*results)[r->address] = r->verdict;
        else if (auto* c = std::get_if<smtp::ContentSentEvent>(&event))
          world_.trace.add(TraceEvent{world_.now(), TraceKind::line, name_, spec_.server,
                                      spec_.port == 25 ? "smtp" : "submission", 'C',
                                      fmt::format("(message content: {} lines, {} octets)", c->lines, c->octets),
                                      raw->engine().tls_active(), sub->msg});
      };
      session->on_closed = [this, epoch, id] {
        world_.scheduler.after(Duration{0}, [this, epoch, id] {
          if (epoch != epoch_) return;
          smtp_.erase(id);
          auto node = outgoing_.extract(id);
          if (!node.empty()) settle(node.mapped(), "no answer");
        });
      };
      smtp::ClientConfig config;
      config.helo_name = name_;
      config.line_events = sender_side_lines(world_.trace);
      config.state_events = false;  // EngineSession drops them unread
      config.tls = spec_.starttls ? smtp::TlsPolicy::required : smtp::TlsPolicy::none;
      if (spec_.auth) {
        const auto* user = world_.scenario.find_user(spec_.user);
        config.credentials = smtp::ClientCredentials{user->address, user->password};
      }
      config.messages.push_back(smtp::OutgoingMessage{job.m->from, job.recipients, job.data});
      smtp_[id] = session;
      // The message's last use here: it moves to the outbox entry.
      outgoing_[id] = Outgoing{job.m, std::move(sub->data), job.msg, job.attempt, job.recipients, results};
      session->start(std::move(config), world_.now());  // by value: moved, the message data not copied
    });
  });
}

void Mua::fetch_event(const std::string& proto, std::string text, const std::string& msg, std::string action) {
  if (!world_.tracing()) return;
  auto event = world_.make_event(TraceKind::fetch, name_, spec_.fetch_server, proto, std::move(text), msg);
  event.user = spec_.user;
  event.action = std::move(action);
  world_.trace.add(std::move(event));
}

void Mua::fetch() {
  if (!world_.network.host_up(host_) || spec_.fetch == FetchProtocol::none) return;
  const std::uint64_t epoch = epoch_;
  resolver_.query(spec_.fetch_server, dns::RecordType::a, "", [=, this](DnsAnswer answer) {
    if (epoch != epoch_ || answer.status != DnsAnswer::Status::ok) return;
    const Ipv4 address = answer.records.front().ipv4;
    if (spec_.fetch == FetchProtocol::imap) fetch_imap(address, epoch);
    else fetch_pop3(address, epoch);
  });
}

void Mua::fetch_pop3(Ipv4 address, std::uint64_t epoch) {
  world_.event(TraceKind::connect, name_, spec_.fetch_server, "pop3",
               fmt::format("connecting to {}:110", format_ipv4(address)));
  world_.network.connect(host_, address, 110, [=, this](ConnectOutcome outcome, ConnectionId id) {
    if (outcome != ConnectOutcome::connected)
      world_.event(TraceKind::connect, name_, spec_.fetch_server, "pop3",
                   fmt::format("connect to {}:110: {}", format_ipv4(address), to_string(outcome)));
    if (epoch != epoch_) return world_.network.close(id, Side::client);
    if (outcome != ConnectOutcome::connected) return;
    auto session = std::make_shared<EngineSession<pop3::Client>>(
        world_.network, world_.scheduler, world_.trace, id, Side::client,
        SessionLabel{name_, spec_.fetch_server, "pop3", true}, world_.client_tls, spec_.fetch_server);
    // Retrieved in delete mode: DELE follows each RETR, QUIT's +OK commits them.
    auto marked = std::make_shared<std::vector<std::string>>();
    session->on_event = [=, this](pop3::ClientEvent& event) {
      if (auto* r = std::get_if<pop3::RetrievedEvent>(&event)) {
        const std::string msg = message_id_of(r->message);
        mailbox_.push_back(r->message);
        if (!r->uidl.empty()) known_uidls_.insert(r->uidl);
        if (!spec_.keep) marked->push_back(msg);
        if (world_.tracing())
          fetch_event("pop3", "retrieved <" + msg + "> \"" + subject_of(r->message) + "\"", msg);
      } else if (auto* s = std::get_if<pop3::SummaryEvent>(&event)) {
        fetch_event("pop3",
                    s->ok ? fmt::format("{} message(s) on the server, {} retrieved, {} deleted", s->messages_on_server,
                                        s->retrieved, s->deleted)
                          : "fetch failed: " + s->error);
        // Only when every DELE was accepted is it known which ones went.
        if (s->deleted > 0 && s->deleted == marked->size())
          for (const auto& msg : *marked)
            fetch_event("pop3", "<" + msg + "> deleted on the server (DELE, committed by QUIT)", msg, "delete");
      }
    };
    session->on_closed = [=, this] {
      world_.scheduler.after(Duration{0}, [=, this] {
        if (epoch == epoch_) pop3_.erase(id);
      });
    };
    pop3::ClientConfig config;
    config.line_events = sender_side_lines(world_.trace);
    const auto* user = world_.scenario.find_user(spec_.user);
    config.user = user->address;
    config.password = user->password;
    config.stls = pop3::StlsPolicy::required;
    config.mode = spec_.keep ? pop3::RetrieveMode::keep : pop3::RetrieveMode::delete_after_retrieve;
    config.known_uidls = known_uidls_;
    pop3_[id] = session;
    session->start(std::move(config), world_.now());
  });
}

void Mua::fetch_imap(Ipv4 address, std::uint64_t epoch) {
  world_.event(TraceKind::connect, name_, spec_.fetch_server, "imap",
               fmt::format("connecting to {}:143", format_ipv4(address)));
  world_.network.connect(host_, address, 143, [=, this](ConnectOutcome outcome, ConnectionId id) {
    if (outcome != ConnectOutcome::connected)
      world_.event(TraceKind::connect, name_, spec_.fetch_server, "imap",
                   fmt::format("connect to {}:143: {}", format_ipv4(address), to_string(outcome)));
    if (epoch != epoch_) return world_.network.close(id, Side::client);
    if (outcome != ConnectOutcome::connected) return;
    auto session = std::make_shared<EngineSession<imap::ImapClient>>(
        world_.network, world_.scheduler, world_.trace, id, Side::client,
        SessionLabel{name_, spec_.fetch_server, "imap", true}, world_.client_tls, spec_.fetch_server);
    auto fetched = std::make_shared<std::uint32_t>(0);
    session->on_event = [=, this](imap::ClientEvent& event) {
      if (auto* m = std::get_if<imap::FetchedMessage>(&event)) {
        const std::string msg = message_id_of(m->data);
        mailbox_.push_back(m->data);
        ++*fetched;
        // Remembered per message, so a client that crashes mid-fetch does not fetch it again.
        if (m->uid_validity != imap_uid_validity_) {
          imap_uid_validity_ = m->uid_validity;
          imap_last_uid_ = 0;
        }
        imap_last_uid_ = std::max(imap_last_uid_, m->uid);
        if (world_.tracing())
          fetch_event("imap",
                      fmt::format("fetched <{}> \"{}\" (UID {}), left on the server", msg, subject_of(m->data),
                                  m->uid),
                      msg);
      } else if (auto* f = std::get_if<imap::ClientFinished>(&event)) {
        // UIDs up to highest_uid were fetched even when the session broke later.
        if (f->uid_validity != 0) {
          imap_uid_validity_ = f->uid_validity;
          imap_last_uid_ = f->highest_uid;
        }
        fetch_event("imap",
                    f->ok ? fmt::format("{} new message(s) fetched, all left on the server (UIDVALIDITY {}, "
                                        "last UID {})",
                                        *fetched, f->uid_validity, f->highest_uid)
                          : "fetch failed: " + f->reason);
      }
    };
    session->on_closed = [=, this] {
      world_.scheduler.after(Duration{0}, [=, this] {
        if (epoch == epoch_) imap_.erase(id);
      });
    };
    imap::ClientConfig config;
    const auto* user = world_.scenario.find_user(spec_.user);
    config.user = user->address;
    config.password = user->password;
    config.starttls = true;
    config.use_authenticate = true;
    config.mark_seen = true;  // the user reads what was downloaded: \Seen is kept on the server
    config.uid_validity = imap_uid_validity_;
    config.last_uid = imap_last_uid_;
    imap_[id] = session;
    session->start(std::move(config), world_.now());
  });
}

}  // namespace maillab::sim
