#include "sim/world.hpp"

#include <algorithm>
#include <fmt/format.h>

#include "net/core/decimal.hpp"
#include "net/mail/message.hpp"
#include "net/tls/tls_certificate.hpp"
#include "sim/compose.hpp"
#include "sim/world_roles.hpp"

namespace maillab::sim {

namespace dns = net::dns;

namespace {

// ASCII letters lowered, as the scenario's name lookups compare them.
std::string lowered(std::string_view name) {
  std::string out(name);
  for (auto& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

}  // namespace

std::string_view to_string(FateState state) {
  switch (state) {
    case FateState::pending: return "pending";
    case FateState::delivered: return "delivered";
    case FateState::bounced: return "bounced";
    case FateState::rejected: return "rejected";
    case FateState::discarded: return "discarded";
  }
  return "?";
}

// --- the world's shared services ------------------------------------------------

World::Impl::Impl(World& w)
    : world(w),
      scenario(w.scenario_),
      scheduler(w.scheduler_),
      network(w.network_),
      trace(w.trace_),
      prng(w.prng_),
      credentials(w.scenario_),
      start_unix_s(w.options_.start_unix_s.value_or(w.scenario_.start_unix_s)),
      shared_store(w.options_.store) {
  for (const auto& host : scenario.hosts) hosts_by_name.emplace(lowered(host.name), &host);
  // As Scenario::find_domain: the stored name against the lowered query.
  for (const auto& domain : scenario.domains) domains_by_name.emplace(domain.name, &domain);
  // emplace keeps the first: the user a front-to-back scan would find.
  for (const auto& user : scenario.users) {
    users_by_address.emplace(user.address, &user);
    users_by_any_address.emplace(user.address, &user);
    for (const auto& alias : user.aliases) users_by_any_address.emplace(alias, &user);
  }
}

const UserSpec* World::Impl::user_at(std::string_view address) const {
  auto it = users_by_address.find(address);
  return it == users_by_address.end() ? nullptr : it->second;
}

const UserSpec* World::Impl::user_or_alias(std::string_view address) const {
  auto it = users_by_any_address.find(address);
  return it == users_by_any_address.end() ? nullptr : it->second;
}

const HostSpec* World::Impl::host_named(std::string_view name) const {
  auto it = hosts_by_name.find(lowered(name));
  return it == hosts_by_name.end() ? nullptr : it->second;
}

const DomainSpec* World::Impl::domain_named(std::string_view name) const {
  auto it = domains_by_name.find(lowered(name));
  return it == domains_by_name.end() ? nullptr : it->second;
}

void World::Impl::event(TraceKind kind, const std::string& src, const std::string& dst, const std::string& proto,
                        std::string text, const std::string& msg, char dir) {
  if (kind != TraceKind::line && !tracing()) return;
  trace.add(TraceEvent{now(), kind, src, dst, proto, dir, std::move(text), false, msg});
}

TraceEvent World::Impl::make_event(TraceKind kind, const std::string& src, const std::string& dst,
                                   const std::string& proto, std::string text, const std::string& msg) const {
  return TraceEvent{now(), kind, src, dst, proto, 0, std::move(text), false, msg};
}

MessageTrack& World::Impl::track(const std::string& msg) {
  auto [it, inserted] = world.tracks_.try_emplace(msg);
  if (inserted) {
    it->second.id = msg;
    it->second.created = now();
    world.order_.push_back(msg);
  }
  return it->second;
}

void World::Impl::note_hop(const std::string& msg, const std::string& host) {
  if (msg.empty()) return;
  track(msg).route.push_back(host);
}

void World::Impl::finalize(const std::string& msg, const std::string& recipient, FateState state, std::string where) {
  if (msg.empty()) return;
  Fate& fate = track(msg).fates[recipient];
  ++fate.finals;
  fate.state = state;
  fate.where = std::move(where);
  fate.at = now();
  auto watching = watches.find(msg);
  if (watching == watches.end()) return;
  auto& list = watching->second;
  auto watch = std::find_if(list.begin(), list.end(), [&](const auto& w) { return w->remaining.contains(recipient); });
  if (watch == list.end()) return;
  std::shared_ptr<InjectionWatch> settled = *watch;
  settled->remaining.erase(recipient);
  settled->fates[recipient] = fate;
  if (!settled->remaining.empty()) return;
  list.erase(watch);
  if (list.empty()) watches.erase(watching);
  if (settled->on_settled) settled->on_settled(settled->fates);
}

void World::Impl::fate_opened(const std::string& msg, const std::string& from, const std::string& target) {
  auto watching = watches.find(msg);
  if (watching == watches.end()) return;
  for (auto& watch : watching->second) {
    if (!watch->remaining.contains(from)) continue;
    watch->remaining.insert(target);
    return;
  }
}

std::string World::Impl::watch_tag(const std::string& msg, const std::string& recipient) const {
  auto watching = watches.find(msg);
  if (watching == watches.end()) return {};
  for (const auto& watch : watching->second)
    if (watch->remaining.contains(recipient)) return watch->tag;
  return {};
}

Mta* World::Impl::mta(const std::string& host) {
  auto it = mtas.find(host);
  return it == mtas.end() ? nullptr : it->second.get();
}

Mta* World::Impl::mailbox_host_of(const std::string& user) {
  const auto* domain = domain_named(std::string_view(user).substr(user.find('@') + 1));
  return domain ? mta(domain->mailbox_host) : nullptr;
}

bool World::Impl::fault_active(const FaultSpec& fault) const {
  return now() >= Instant{} + fault.at && (!fault.until || now() < Instant{} + *fault.until);
}

void World::Impl::apply_faults() {
  for (const auto& fault : scenario.faults) {
    const FaultSpec* f = &fault;
    const std::string end = f->until ? " until " + format_clock(Instant{} + *f->until) : "";
    auto host_id = [this](const std::string& name) { return *network.find_host(name); };
    std::function<void()> on, off;
    std::string subject = f->host;
    std::string text;
    std::string action;  // host_down: "down" for the studio
    switch (f->kind) {
      case FaultKind::host_down:
        text = "host down" + end;
        action = "down";
        on = [this, f, host_id] {
          network.set_host_up(host_id(f->host), false);
          if (auto* m = mta(f->host)) m->crash();
          for (auto& [name, mua] : muas)
            if (mua->spec_.host == f->host) mua->crash();
        };
        off = [this, f, host_id] {
          network.set_host_up(host_id(f->host), true);
          auto up = make_event(TraceKind::fault, f->host, "", "", "host up again");
          up.action = "up";
          trace.add(std::move(up));
          if (auto* m = mta(f->host)) m->restart();
        };
        break;
      case FaultKind::link:
      case FaultKind::partition:
        text = (f->kind == FaultKind::partition ? "partition from " : "link to ") + f->peer +
               (f->kind == FaultKind::link ? fmt::format(": latency {}, loss {}", format_duration(f->link.latency),
                                                         f->link.loss)
                                           : "") +
               end;
        on = [this, f, host_id] { network.set_link(host_id(f->host), host_id(f->peer), f->link); };
        off = [this, f, host_id] {
          network.set_link(host_id(f->host), host_id(f->peer), scenario.default_link);
          event(TraceKind::fault, f->host, "", "", "link to " + f->peer + " back to normal");
        };
        break;
      case FaultKind::greylist:
        text = "greylisting on (first delivery attempts wait " + format_duration(f->greylist_delay) + ")" + end;
        break;
      case FaultKind::mailbox_full:
        subject = f->user;
        text = "mailbox full" + end;
        break;
      case FaultKind::reply:
        text = fmt::format("answers {} at {}{}", f->code, to_string(f->stage), end);
        break;
    }
    if (f->kind == FaultKind::mailbox_full) {
      if (auto* m = mailbox_host_of(f->user)) subject = m->name_;
      text = f->user + ": " + text;
    }
    scheduler.at(Instant{} + f->at, [this, subject, text, action, on] {
      auto fault_event = make_event(TraceKind::fault, subject, "", "", text);
      fault_event.action = action;
      trace.add(std::move(fault_event));
      if (on) on();
    });
    if (f->until && off) scheduler.at(Instant{} + *f->until, off);
  }
}

// --- DNS -------------------------------------------------------------------------

namespace {

std::string describe_answer(const dns::Message& response, const std::string& name, dns::RecordType type) {
  if (response.rcode == dns::Rcode::name_error) return "NXDOMAIN " + name;
  if (response.rcode != dns::Rcode::no_error) return "error " + std::to_string(static_cast<int>(response.rcode));
  if (response.answers.empty()) return "no " + dns::type_name(type) + " record for " + name + " (NODATA)";
  std::string out;
  for (const auto& r : response.answers) {
    out += out.empty() ? "" : ", ";
    if (r.type == dns::RecordType::mx && r.exchange.empty()) out += "MX 0 . (null MX, RFC 7505)";
    else out += dns::describe(r);
  }
  return out;
}

}  // namespace

DnsServer::DnsServer(World::Impl& world, HostId host) : world_(world), host_(host) {}

void DnsServer::start() {
  world_.network.bind_udp(host_, 53, [this](const Datagram& datagram) {
    auto query = dns::decode(datagram.payload);
    if (!query || query->is_response || query->questions.size() != 1) return;
    const dns::Message response = answer(*query);
    const auto& q = query->questions.front();
    if (world_.tracing())
      world_.event(TraceKind::dns, world_.network.host_name(host_), world_.network.host_name(datagram.source.host),
                   "dns", describe_answer(response, q.name, q.type), {}, 'S');
    world_.network.send_udp(host_, 53, datagram.source.address, datagram.source.port, dns::encode(response));
  });
}

dns::Message DnsServer::answer(const dns::Message& query) const {
  dns::Message response;
  response.id = query.id;
  response.is_response = true;
  response.authoritative = true;
  response.recursion_desired = query.recursion_desired;
  response.questions = query.questions;
  const auto& q = query.questions.front();
  const DomainSpec* domain = world_.domain_named(q.name);
  const HostSpec* host = world_.host_named(q.name);
  if (!domain && !host) {
    response.rcode = dns::Rcode::name_error;
    return response;
  }
  if (q.type == dns::RecordType::mx && domain) {
    if (domain->null_mx) {
      dns::Record r;
      r.name = q.name;
      r.type = dns::RecordType::mx;
      r.preference = 0;
      response.answers.push_back(r);
    }
    for (const auto& mx : domain->mx) {
      dns::Record r;
      r.name = q.name;
      r.type = dns::RecordType::mx;
      r.preference = mx.preference;
      r.exchange = mx.host;
      response.answers.push_back(r);
    }
  } else if (q.type == dns::RecordType::a && host) {
    dns::Record r;
    r.name = q.name;
    r.type = dns::RecordType::a;
    r.ipv4 = host->address;
    response.answers.push_back(r);
  }
  return response;
}

void Resolver::query(const std::string& name, dns::RecordType type, const std::string& msg,
                     std::function<void(DnsAnswer)> done) {
  // Everything one query needs, held once: the UDP binding and the retry
  // timer each hold a pointer to it (copying them copies no strings and no
  // callback), and it goes when both have let go.
  struct Pending {
    Resolver* resolver = nullptr;
    std::string name;
    dns::RecordType type{};
    std::string msg;
    std::string self;
    Ipv4 server{};
    std::function<void(DnsAnswer)> done;
    bool finished = false;
    int tries = 0;
    EventId timer{};
    std::uint16_t port = 0;
    std::uint16_t id = 0;

    void finish(DnsAnswer answer) {
      if (finished) return;
      finished = true;
      World::Impl& world = resolver->world_;
      world.scheduler.cancel(timer);
      world.network.unbind_udp(resolver->host_, port);
      auto callback = std::move(done);
      callback(std::move(answer));
    }
    static void send(const std::shared_ptr<Pending>& pending) {
      Pending& p = *pending;
      if (p.finished) return;
      World::Impl& world = p.resolver->world_;
      if (++p.tries > 3) {
        world.event(TraceKind::dns, p.self, world.network.host_name(world.dns_host), "dns",
                    "no answer for " + dns::type_name(p.type) + " " + p.name + " after 3 tries", p.msg);
        return p.finish(DnsAnswer{DnsAnswer::Status::timeout, {}});
      }
      dns::Message q;
      q.id = p.id;
      q.recursion_desired = true;
      q.questions.push_back(dns::Question{p.name, p.type});
      if (world.tracing())
        world.event(TraceKind::dns, p.self, world.network.host_name(world.dns_host), "dns",
                    "query " + dns::type_name(p.type) + " " + p.name, p.msg, 'C');
      world.network.send_udp(p.resolver->host_, p.port, p.server, 53, dns::encode(q));
      p.timer = world.scheduler.after(std::chrono::seconds(5), [pending] { send(pending); });
    }
  };
  auto pending = std::make_shared<Pending>();
  pending->resolver = this;
  pending->name = name;
  pending->type = type;
  pending->msg = msg;
  pending->done = std::move(done);
  pending->port = world_.network.ephemeral_port(host_);
  pending->id = next_id_++;
  pending->self = world_.network.host_name(host_);
  pending->server = world_.network.host_address(world_.dns_host);
  world_.network.bind_udp(host_, pending->port, [pending](const Datagram& datagram) {
    auto response = dns::decode(datagram.payload);
    if (!response || !response->is_response || response->id != pending->id) return;
    DnsAnswer answer;
    if (response->rcode == dns::Rcode::name_error) answer.status = DnsAnswer::Status::nxdomain;
    else if (response->rcode != dns::Rcode::no_error) answer.status = DnsAnswer::Status::failure;
    else if (response->answers.empty()) answer.status = DnsAnswer::Status::nodata;
    else answer.status = DnsAnswer::Status::ok;
    answer.records = std::move(response->answers);
    pending->finish(std::move(answer));
  });
  Pending::send(pending);
}

// --- World ------------------------------------------------------------------------

World::World(const Scenario& scenario, std::uint64_t seed, WorldOptions options)
    : scenario_(scenario),
      options_(options),
      clock_(options.clock ? *options.clock : own_clock_),
      prng_(seed),
      impl_(std::make_unique<Impl>(*this)) {
  network_.set_default_link(scenario.default_link);
  // [[expect]] kind = "transcript" counts as the lines go by: no kept events needed.
  for (const auto& e : scenario.expects)
    if (e.kind == ExpectKind::transcript) trace_.watch(e.contains);
  auto client = net::tls::TlsContext::client_without_verification();
  if (client) impl_->client_tls = std::move(client).value();
  for (const auto& host : scenario.hosts) {
    const HostId id = network_.add_host(host.name, host.address);
    switch (host.kind) {
      case HostKind::dns:
        impl_->dns_host = id;
        impl_->dns = std::make_unique<DnsServer>(*impl_, id);
        break;
      case HostKind::mta: impl_->mtas.emplace(host.name, std::make_unique<Mta>(*impl_, host, id)); break;
      case HostKind::client: break;
    }
  }
  for (const auto& mua : scenario.muas)
    impl_->muas.emplace(mua.name, std::make_unique<Mua>(*impl_, mua, *network_.find_host(mua.host)));
  for (const auto& user : scenario.users) {
    Mta* box = impl_->mailbox_host_of(user.address);  // the world's store when it was given one
    if (!box) continue;
    (void)box->store_.ensure_user(user.address);
    if (user.quota_bytes > 0) (void)box->store_.set_limits(user.address, net::mail::StoreLimits{user.quota_bytes});
  }
}

World::~World() = default;

void World::set_key_log(net::tls::KeyLogSink sink) {
  impl_->key_log = sink;
  if (impl_->client_tls) impl_->client_tls->set_key_log(sink);
  for (auto& [name, mta] : impl_->mtas)
    if (mta->tls_) mta->tls_->set_key_log(sink);
}

void World::run(std::optional<Duration> until) {
  const Instant end = Instant{} + until.value_or(scenario_.until);
  start(end);
  scheduler_.run_until(end);
}

void World::start() { start(Instant{} + scenario_.until); }

void World::advance(Instant now) {
  start();
  scheduler_.run_until(now);
}

void World::start(Instant end) {
  if (started_) return;
  started_ = true;
  impl_->dns->start();
  for (auto& [name, mta] : impl_->mtas) mta->start();
  impl_->apply_faults();
  if (!options_.scripted) return;
  // Lazily, one at a time (scheduler.hpp, "Reserved sequences"): the same
  // order as scheduling every message and fetch now, with the sequences they
  // would get, without a heap 10,000 keys deep.
  scripted_.clear();
  const Instant now = scheduler_.now();
  auto script = [&](Instant at, const MessageSpec* message, Mua* fetcher) {
    scripted_.push_back(Scripted{at < now ? now : at, 0, message, fetcher});
  };
  for (const auto& message : scenario_.messages) script(Instant{} + message.at, &message, nullptr);
  for (const auto& spec : scenario_.muas) {
    if (spec.fetch == FetchProtocol::none) continue;
    Mua* mua = impl_->muas.at(spec.name).get();
    for (const auto at : spec.fetch_at) script(Instant{} + at, nullptr, mua);
    if (spec.fetch_every.count() > 0)
      for (Instant t = Instant{} + spec.fetch_every; t <= end; t = t + spec.fetch_every) script(t, nullptr, mua);
  }
  const std::uint64_t first = scheduler_.reserve_sequences(scripted_.size());
  for (std::size_t i = 0; i < scripted_.size(); ++i) scripted_[i].sequence = first + i;
  std::stable_sort(scripted_.begin(), scripted_.end(), [](const Scripted& a, const Scripted& b) { return a.due < b.due; });
  schedule_scripted(0);
}

void World::schedule_scripted(std::size_t next) {
  if (next >= scripted_.size()) return;
  const Scripted item = scripted_[next];
  scheduler_.at_reserved(item.due, item.sequence, [this, next, item] {
    schedule_scripted(next + 1);
    if (item.message) return submit_scripted(*item.message);
    item.fetcher->fetch();
  });
}

void World::submit_scripted(const MessageSpec& spec) {
  const MessageSpec* m = &spec;
  auto& mua = *impl_->muas.at(m->mua);
  const std::string domain = m->from.substr(m->from.find('@') + 1);
  const std::string msg = m->id + "@" + domain;
  std::string data = compose_message(*m, "<" + msg + ">", impl_->unix_now());
  MessageTrack& t = impl_->track(msg);
  t.label = m->id;
  t.subject = m->subject;
  t.from = m->from;
  for (const auto* list : {&m->to, &m->cc, &m->bcc})
    for (const auto& r : *list) t.fates.try_emplace(r);
  impl_->note_hop(msg, mua.spec_.host);
  // The outbox is the client's queue: it submits at once.
  auto composed = impl_->make_event(
      TraceKind::queue, mua.spec_.host, "", "submission",
      "composed <" + msg + "> \"" + m->subject + "\" (" + std::to_string(data.size()) + " octets)", msg);
  composed.action = "enqueue";
  composed.next_retry = impl_->now();
  impl_->trace.add(std::move(composed));
  mua.submit(*m, std::move(data), msg, 1);
}

InjectReport World::inject(const Injection& injection, SettledCallback on_settled) {
  InjectReport report;
  Mta* mta = impl_->mta(injection.host);
  if (!mta || injection.msg.empty()) return report;
  start();
  report.known_host = true;
  auto watch = std::make_shared<InjectionWatch>();
  watch->tag = injection.tag;
  watch->remaining.insert(injection.recipients.begin(), injection.recipients.end());
  if (watch->remaining.empty()) return report;
  auto& list = impl_->watches[injection.msg];
  list.push_back(watch);
  for (auto& [recipient, result] : mta->inject(injection))
    report.refused.push_back(InjectReport::Refusal{recipient, result.status, result.diagnostic});
  for (const auto& [recipient, fate] : watch->fates)
    if (fate.state == FateState::delivered) report.delivered.push_back(recipient);
  report.pending.assign(watch->remaining.begin(), watch->remaining.end());
  if (report.pending.empty()) {
    return report;  // settled at once: the watch is already gone
  }
  watch->on_settled = std::move(on_settled);
  return report;
}

void World::set_handoff(HandoffSink sink) { impl_->handoff = std::move(sink); }

std::string World::submission_host(std::string_view domain) const {
  for (const auto& mua : scenario_.muas) {
    const auto at = mua.user.rfind('@');
    if (at == std::string::npos || !impl_->mta(mua.server)) continue;
    const DomainSpec* own = scenario_.find_domain(mua.user.substr(at + 1));
    if (own && own == scenario_.find_domain(domain)) return mua.server;
  }
  if (const DomainSpec* d = scenario_.find_domain(domain)) {
    if (impl_->mta(d->submission_host)) return d->submission_host;
    if (impl_->mta(d->mailbox_host)) return d->mailbox_host;
  }
  return impl_->mtas.empty() ? std::string() : impl_->mtas.begin()->first;
}

std::string World::mx_host(std::string_view domain) const {
  const DomainSpec* d = scenario_.find_domain(domain);
  if (!d) return submission_host(domain);
  // By preference, the scenario's order among equals, in one pass without a sorted copy (this runs
  // for every message a real client sends): the first MX of the least preference that is up, and
  // the first of the least preference at all.
  const MxSpec* up = nullptr;
  const MxSpec* first = nullptr;
  for (const auto& m : d->mx) {
    if (first == nullptr || m.preference < first->preference) first = &m;
    if (up != nullptr && !(m.preference < up->preference)) continue;
    const auto id = network_.find_host(m.host);
    if (impl_->mta(m.host) && id && network_.host_up(*id)) up = &m;
  }
  if (up != nullptr) return up->host;
  if (impl_->mta(d->mailbox_host)) return d->mailbox_host;
  if (first != nullptr && impl_->mta(first->host)) return first->host;
  return submission_host(domain);
}

const MessageTrack* World::track(const std::string& id) const {
  auto it = tracks_.find(id);
  return it == tracks_.end() ? nullptr : &it->second;
}

std::size_t World::queue_size(const std::string& host) const {
  auto it = impl_->mtas.find(host);
  return it == impl_->mtas.end() ? 0 : it->second->queue_.size();
}

std::size_t World::queued_total() const {
  std::size_t n = 0;
  for (const auto& [name, mta] : impl_->mtas) n += mta->queue_.size();
  return n;
}

const net::mail::MailStore* World::store_of(const std::string& user) const {
  const Mta* m = impl_->mailbox_host_of(user);
  return m ? &m->store_ : nullptr;
}

std::vector<std::string> World::fetched_by(const std::string& mua) const {
  auto it = impl_->muas.find(mua);
  return it == impl_->muas.end() ? std::vector<std::string>{} : it->second->mailbox_;
}

// --- expectations and summary --------------------------------------------------------

namespace {

struct Stored {
  std::vector<std::string> messages;
  std::string error;
};

Stored stored_messages(const net::mail::MailStore* store, const std::string& user, const std::string& folder) {
  Stored out;
  if (!store) return out;
  auto metas = store->messages(user, folder);
  if (!metas) {
    out.error = metas.error().message;
    return out;
  }
  for (const auto& meta : *metas)
    if (auto data = store->read(user, folder, meta.uid)) out.messages.push_back(*data);
  return out;
}

bool is_dsn(const std::string& message) {
  const auto parsed = net::mail::Message::parse(message);
  const auto* type = parsed.first("Content-Type");
  return type && type->value.find("multipart/report") != std::string::npos &&
         type->value.find("delivery-status") != std::string::npos;
}

std::string join_subjects(const std::vector<std::string>& messages) {
  std::string out;
  for (const auto& m : messages) out += (out.empty() ? "\"" : ", \"") + subject_of(m) + "\"";
  return out.empty() ? "none" : out;
}

ExpectationResult check_messages(const ExpectSpec& e, const std::vector<std::string>& messages, std::string what) {
  ExpectationResult r{&e, true, ""};
  std::size_t with_subject = 0;
  if (e.subject)
    for (const auto& m : messages)
      if (subject_of(m).find(*e.subject) != std::string::npos) ++with_subject;
  if (e.count && messages.size() != *e.count) r.held = false;
  if (e.subject && with_subject == 0) r.held = false;
  r.detail = what + " holds " + std::to_string(messages.size()) + " message(s): " + join_subjects(messages);
  return r;
}

}  // namespace

std::vector<ExpectationResult> World::check_expectations() const {
  std::vector<ExpectationResult> results;
  for (const auto& e : scenario_.expects) {
    switch (e.kind) {
      case ExpectKind::mailbox: {
        auto stored = stored_messages(store_of(e.user), e.user, e.folder);
        auto r = check_messages(e, stored.messages, e.user + " " + e.folder);
        if (!stored.error.empty()) r = ExpectationResult{&e, false, stored.error};
        results.push_back(r);
        break;
      }
      case ExpectKind::bounce: {
        std::vector<std::string> bounces;
        for (const auto& m : stored_messages(store_of(e.user), e.user, "INBOX").messages)
          if (is_dsn(m)) bounces.push_back(m);
        // The original's subject is in the DSN's text/rfc822-headers part.
        ExpectationResult r{&e, !bounces.empty(), ""};
        if (e.count) r.held = bounces.size() == *e.count;
        if (e.subject) {
          bool found = false;
          for (const auto& b : bounces) found = found || b.find("Subject: " + *e.subject) != std::string::npos;
          r.held = r.held && found;
        }
        r.detail = e.user + " received " + std::to_string(bounces.size()) + " bounce(s)";
        results.push_back(r);
        break;
      }
      case ExpectKind::route: {
        std::string msg;
        for (const auto& id : order_) {
          const auto& t = tracks_.at(id);
          if (t.label == e.message) msg = id;
        }
        ExpectationResult r{&e, false, "message " + e.message + " was never sent"};
        if (const auto* t = track(msg)) {
          r.held = std::find(t->route.begin(), t->route.end(), e.host) != t->route.end();
          std::string route;
          for (const auto& h : t->route) route += (route.empty() ? "" : " -> ") + h;
          r.detail = "route of " + e.message + ": " + route;
        }
        results.push_back(r);
        break;
      }
      case ExpectKind::queue_empty: {
        const std::size_t n = e.host.empty() ? queued_total() : queue_size(e.host);
        results.push_back(ExpectationResult{&e, n == 0,
                                            std::to_string(n) + " message(s) in the queue" +
                                                (e.host.empty() ? "s" : " of " + e.host)});
        break;
      }
      case ExpectKind::transcript: {
        const std::size_t hits = trace_.matches(e.contains);
        results.push_back(ExpectationResult{&e, e.negate ? hits == 0 : hits > 0,
                                            std::to_string(hits) + " transcript line(s) contain \"" + e.contains +
                                                "\""});
        break;
      }
      case ExpectKind::fetched:
        results.push_back(check_messages(e, fetched_by(e.mua), "the mail client " + e.mua));
        break;
    }
  }
  return results;
}

std::string World::summary() const {
  // Appended piece by piece: one line per message and recipient, so no temporary per piece.
  std::string out = "== Summary at " + format_clock(now()) + " ==\n";
  std::string route;
  for (const auto& id : order_) {
    const auto& t = tracks_.at(id);
    out += '<';
    out += id;
    out += "> ";
    out += t.is_bounce ? std::string_view("bounce") : std::string_view(t.label);
    out += " \"";
    out += t.subject;
    out += '"';
    if (!t.from.empty()) {
      out += " from ";
      out += t.from;
    }
    out += "\n  route: ";
    route.clear();
    for (const auto& h : t.route) {
      if (!route.empty()) route += " -> ";
      route += h;
    }
    out += route.empty() ? std::string_view("(none)") : std::string_view(route);
    out += " (";
    net::append_decimal(out, t.route.empty() ? std::size_t{0} : t.route.size() - 1);
    out += " hop(s), ";
    out += format_duration(t.queued);
    out += " in queues)\n";
    for (const auto& [rcpt, fate] : t.fates) {
      out += "  ";
      out += rcpt;
      out += ": ";
      out += to_string(fate.state);
      if (fate.state != FateState::pending) {
        out += " at ";
        out += format_clock(fate.at);
      }
      if (!fate.where.empty()) {
        out += " - ";
        out += fate.where;
      }
      out += '\n';
    }
  }
  for (const auto& [name, mta] : impl_->mtas)
    if (!mta->queue_.empty()) out += name + ": " + std::to_string(mta->queue_.size()) + " message(s) still queued\n";
  return out;
}

}  // namespace maillab::sim
