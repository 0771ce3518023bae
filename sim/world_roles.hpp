// Internal to the world: the roles hosts play (see world.hpp for the theory of
// operation).  Only world*.cpp include this.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "net/core/credentials.hpp"
#include "net/dns/dns_message.hpp"
#include "net/imap/imap_client.hpp"
#include "net/imap/imap_server.hpp"
#include "net/pop3/pop3_client.hpp"
#include "net/pop3/pop3_lock.hpp"
#include "net/pop3/pop3_server.hpp"
#include "net/smtp/smtp_client.hpp"
#include "net/smtp/smtp_server.hpp"
#include "net/tls/tls_context.hpp"
#include "sim/session.hpp"
#include "sim/store/memory_store.hpp"
#include "sim/world.hpp"

namespace maillab::sim {

class ScenarioCredentials final : public net::CredentialChecker {
 public:
  explicit ScenarioCredentials(const Scenario& scenario) : scenario_(scenario) {}
  bool verify_password(std::string_view user, std::string_view password) const override {
    const auto* u = scenario_.find_user(user);
    return u && u->password == password;
  }
  std::optional<std::string> shared_secret(std::string_view user) const override {
    const auto* u = scenario_.find_user(user);
    if (!u) return std::nullopt;
    return u->password;
  }

 private:
  const Scenario& scenario_;
};

struct DnsAnswer {
  enum class Status : std::uint8_t { ok, nxdomain, nodata, timeout, failure };
  Status status = Status::timeout;
  std::vector<net::dns::Record> records;
};

// A stub resolver on one host: one query, three tries five seconds apart.
class Resolver {
 public:
  Resolver(World::Impl& world, HostId host) : world_(world), host_(host) {}
  void query(const std::string& name, net::dns::RecordType type, const std::string& msg,
             std::function<void(DnsAnswer)> done);

 private:
  World::Impl& world_;
  HostId host_;
  std::uint16_t next_id_ = 1;
};

// One outcome per recipient of one delivery attempt.
struct RecipientResult {
  net::smtp::Delivery delivery = net::smtp::Delivery::transient;
  std::string status;      // RFC 3463 "5.1.1"
  std::string diagnostic;  // "smtp; 550 5.1.1 ..." or a local reason
  std::string remote_mta;
};

struct QueueEntry {
  std::string queue_id;
  std::string msg;  // Message-ID without brackets
  std::string sender;
  std::string data;
  std::vector<std::string> recipients;  // still pending
  std::map<std::string, RecipientResult> last;  // the last transient result per recipient
  Instant arrived{};
  std::uint32_t attempts = 0;
  bool in_flight = false;
  EventId retry{};
};

class Mta;

class MtaPolicy final : public net::smtp::Policy {
 public:
  MtaPolicy(Mta& mta, std::uint16_t port) : mta_(mta), port_(port) {}
  net::smtp::AuthOffer auth_offer(const net::smtp::SessionInfo& session) const override;
  const net::CredentialChecker& credentials() const override;
  bool sender_allowed(std::string_view user, const net::mail::Address& sender) const override;
  net::smtp::RecipientVerdict check_recipient(const net::smtp::SessionInfo& session,
                                              const net::mail::Address& recipient) const override;
  std::optional<net::smtp::Reply> inject(net::smtp::PolicyStage stage, const net::smtp::SessionInfo& session,
                                         std::string_view argument) override;

 private:
  Mta& mta_;
  std::uint16_t port_;
  std::string mail_from_;
};

class Mta {
 public:
  Mta(World::Impl& world, const HostSpec& spec, HostId host);
  void start();
  void crash();
  void restart();

  World::Impl& world_;
  const HostSpec& spec_;
  HostId host_;
  std::string name_;
  MemoryStore own_store_;          // unused when the world was given one store for all
  net::mail::MailStore& store_;
  net::pop3::MaildropLocks locks_;
  Resolver resolver_;
  std::optional<net::tls::TlsContext> tls_;
  std::uint64_t epoch_ = 0;
  std::uint64_t next_queue_id_ = 1;
  std::map<std::string, QueueEntry> queue_;
  std::map<std::string, Instant> greylist_;

  // Is this host where `domain` keeps its mailboxes / one of its MX hosts?
  bool is_final_for(const std::string& domain) const;
  bool is_mx_for(const std::string& domain) const;
  // The user a local address delivers to (aliases resolved), or "".
  std::string local_user(const std::string& address) const;
  // Does some domain keep its mailboxes here (so POP3 and IMAP are served)?
  bool keeps_mailboxes() const;
  // The store moved (a delivery, a POP3 UPDATE, an IMAP session's flags):
  // selected IMAP sessions hear of it at once (EXISTS, FETCH, RFC 3501 §7).
  void store_changed();
  // A real client's message, accepted by this host (World::inject): local
  // recipients are stored at once, the others queued.  Returns the local
  // recipients whose store failed for a reason that may pass (kept by the
  // caller, not bounced).
  std::vector<std::pair<std::string, RecipientResult>> inject(const Injection& injection);

 private:
  struct Inbound {
    std::unique_ptr<MtaPolicy> policy;
    std::shared_ptr<EngineSession<net::smtp::Server>> session;
  };
  void accept_smtp(ConnectionId id, std::uint16_t port);
  void accept_pop3(ConnectionId id);
  void accept_imap(ConnectionId id);
  void on_message(ConnectionId id, std::uint16_t port, net::smtp::MessageEvent& message);
  std::string new_queue_id();
  // Stores into the local mailbox (aliases, forwarding, quota).  A failure
  // is bounced; with `keep_transient` a store error that may pass (a full
  // disk) is returned instead, for the caller to keep the message.  nullopt
  // when it was stored, forwarded or bounced.
  std::optional<RecipientResult> deliver_local(const std::string& sender, const std::string& recipient,
                                               const std::string& data, const std::string& msg,
                                               bool keep_transient = false);
  void enqueue(const std::string& sender, std::vector<std::string> recipients, std::string data,
               const std::string& msg);
  // A queue event with the studio's fields: action, and the next attempt's time.
  void queue_event(std::string text, const std::string& msg, std::string action = {},
                   std::optional<Instant> next_retry = std::nullopt);
  void attempt(const std::string& queue_id);
  void deliver_domain(const std::string& queue_id, const std::string& domain, std::vector<std::string> recipients,
                      std::function<void(std::map<std::string, RecipientResult>)> done);
  // One domain's share of a delivery attempt, shared by the callbacks of its
  // lookups and sessions: the MX hosts in order, the recipients, who hears.
  struct DomainAttempt {
    std::string queue_id;
    std::string msg;
    std::vector<std::string> exchanges;
    std::vector<std::string> recipients;
    std::function<void(std::map<std::string, RecipientResult>)> done;
  };
  // Tries exchanges[index] (its A record, then SMTP), then the next ones.
  void try_exchange(const std::shared_ptr<DomainAttempt>& attempt, std::size_t index, std::string last_error);
  void finish_attempt(const std::string& queue_id, const std::map<std::string, RecipientResult>& results);
  void bounce(const QueueEntry& entry, const std::map<std::string, RecipientResult>& failed);

  std::map<ConnectionId, Inbound> inbound_;
  std::map<ConnectionId, std::shared_ptr<EngineSession<net::pop3::Server>>> pop3_;
  std::map<ConnectionId, std::shared_ptr<EngineSession<net::imap::ImapServer>>> imap_;
  std::map<ConnectionId, std::shared_ptr<EngineSession<net::smtp::Client>>> outbound_;
  std::uint64_t store_seen_ = 0;  // store_.change_counter() when IMAP sessions last heard
};

class Mua {
 public:
  Mua(World::Impl& world, const MuaSpec& spec, HostId host);
  void submit(const MessageSpec& message, std::string data, std::string msg, std::uint32_t attempt);
  void fetch();
  void crash();

  World::Impl& world_;
  const MuaSpec& spec_;
  HostId host_;
  std::string name_;
  Resolver resolver_;
  std::uint64_t epoch_ = 0;
  std::vector<std::string> mailbox_;
  std::set<std::string, std::less<>> known_uidls_;
  std::uint32_t imap_uid_validity_ = 0;  // what the last IMAP fetch saw
  std::uint32_t imap_last_uid_ = 0;

 private:
  void fetch_pop3(Ipv4 address, std::uint64_t epoch);
  void fetch_event(const std::string& proto, std::string text, const std::string& msg = {}, std::string action = {});
  void fetch_imap(Ipv4 address, std::uint64_t epoch);
  // One submission in progress: what the server answered per recipient so far.
  struct Outgoing {
    const MessageSpec* message = nullptr;
    std::string data;
    std::string msg;
    std::uint32_t attempt = 0;
    std::vector<std::string> recipients;
    std::shared_ptr<std::map<std::string, net::smtp::Verdict>> results;
  };
  void retry_or_give_up(const MessageSpec& message, std::string data, std::string msg, std::uint32_t attempt,
                        const std::vector<std::string>& recipients, const std::string& why);
  // The session ended (or the client crashed): rejected recipients are final,
  // the others go back to the outbox.
  void settle(Outgoing& out, const std::string& no_answer);
  std::map<ConnectionId, std::shared_ptr<EngineSession<net::smtp::Client>>> smtp_;
  std::map<ConnectionId, std::shared_ptr<EngineSession<net::pop3::Client>>> pop3_;
  std::map<ConnectionId, std::shared_ptr<EngineSession<net::imap::ImapClient>>> imap_;
  std::map<ConnectionId, Outgoing> outgoing_;
};

class DnsServer {
 public:
  DnsServer(World::Impl& world, HostId host);
  void start();

 private:
  net::dns::Message answer(const net::dns::Message& query) const;
  World::Impl& world_;
  HostId host_;
};

// One injection waiting for its recipients' final fates (World::inject).
struct InjectionWatch {
  std::string tag;  // Injection::tag
  std::set<std::string> remaining;
  std::map<std::string, Fate> fates;
  SettledCallback on_settled;
};

struct World::Impl {
  Impl(World& world);

  World& world;
  const Scenario& scenario;
  Scheduler& scheduler;
  Network& network;
  Trace& trace;
  Prng& prng;
  ScenarioCredentials credentials;
  std::optional<net::tls::TlsContext> client_tls;
  // One SSL_CTX and key for every MTA, made by the first; each MTA presents
  // its own certificate (TlsContext::with_certificate_for).
  std::optional<net::tls::TlsContext> server_tls;
  net::tls::KeyLogSink key_log;
  std::unique_ptr<DnsServer> dns;
  HostId dns_host = 0;
  std::map<std::string, std::unique_ptr<Mta>> mtas;
  std::map<std::string, std::unique_ptr<Mua>> muas;
  std::int64_t start_unix_s = 0;                // Unix time at Instant{0}
  net::mail::MailStore* shared_store = nullptr;  // WorldOptions::store
  // Injections not yet settled, by Message-ID (oldest first).
  std::map<std::string, std::vector<std::shared_ptr<InjectionWatch>>> watches;
  HandoffSink handoff;  // World::set_handoff; empty in `maillab run`

  [[nodiscard]] Instant now() const { return scheduler.now(); }
  // Would an event be kept, printed, watched or heard?  When not (`maillab run
  // --quiet`), callers skip building its text: event() would drop it anyway.
  [[nodiscard]] bool tracing() const { return trace.wants_events(); }
  [[nodiscard]] std::int64_t unix_now() const { return start_unix_s + scheduler.now().us / 1'000'000; }
  void event(TraceKind kind, const std::string& src, const std::string& dst, const std::string& proto,
             std::string text, const std::string& msg = {}, char dir = 0);
  // An event to complete with the studio's optional fields before trace.add().
  [[nodiscard]] TraceEvent make_event(TraceKind kind, const std::string& src, const std::string& dst,
                                      const std::string& proto, std::string text, const std::string& msg = {}) const;
  MessageTrack& track(const std::string& msg);
  void note_hop(const std::string& msg, const std::string& host);
  void finalize(const std::string& msg, const std::string& recipient, FateState state, std::string where);
  // `target` now shares `from`'s journey (a forward): an injection waiting
  // for `from` waits for `target` too.
  void fate_opened(const std::string& msg, const std::string& from, const std::string& target);
  // The tag of the injection still waiting for `recipient` of `msg` ("" if none).
  [[nodiscard]] std::string watch_tag(const std::string& msg, const std::string& recipient) const;
  Mta* mta(const std::string& host);
  Mta* mailbox_host_of(const std::string& user);
  // Scenario::find_host / find_domain through an index by lowered name (the
  // first of each name, as they would find): every DNS answer and routing
  // decision asks, and the scenario's lookups scan every host or domain.
  [[nodiscard]] const HostSpec* host_named(std::string_view name) const;
  [[nodiscard]] const DomainSpec* domain_named(std::string_view name) const;
  std::map<std::string, const HostSpec*, std::less<>> hosts_by_name;
  std::map<std::string, const DomainSpec*, std::less<>> domains_by_name;
  // Scenario::find_user, and the first user whose address or alias `address`
  // is (Mta::local_user), through indexes: every recipient asks.
  [[nodiscard]] const UserSpec* user_at(std::string_view address) const;
  [[nodiscard]] const UserSpec* user_or_alias(std::string_view address) const;
  std::map<std::string, const UserSpec*, std::less<>> users_by_address;
  std::map<std::string, const UserSpec*, std::less<>> users_by_any_address;
  bool fault_active(const FaultSpec& fault) const;
  void apply_faults();
};

}  // namespace maillab::sim
