// Scenarios: what a teacher writes (TOML, scenarios/README.md documents every
// key) and what the world is built from.
//
// Theory of operation.  load_scenario() parses with toml++ and validates in one
// pass, collecting every problem as an Error positioned "FILE:LINE:COL": unknown
// keys, wrong types, malformed durations and addresses, references to hosts,
// users, domains or MUAs that do not exist, and impossible times (a fault that
// ends before it starts, a message after the end of the run).  Nothing is
// defaulted silently: every default is the documented one, and a key that is
// there but wrong is an error, never ignored.  After validation the scenario is
// complete: implicit MX hosts, the DNS server and one MUA per user that has
// none are made explicit, addresses are assigned, so the world only reads it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "net/core/result.hpp"
#include "net/core/time.hpp"
#include "sim/network.hpp"

namespace maillab::sim {

// "90s", "10m", "1h30m", "250ms", "2d"; nullopt when malformed.
std::optional<Duration> parse_duration(std::string_view text);
// The shortest exact spelling: "1h30m", "250ms", "0s".
std::string format_duration(Duration duration);

struct MxSpec {
  std::string host;
  std::uint16_t preference = 10;
};

struct DomainSpec {
  std::string name;
  std::vector<MxSpec> mx;    // empty and !null_mx: no MX record (RFC 5321 §5.1 implicit MX)
  bool null_mx = false;      // RFC 7505: "MX 0 ." - the domain accepts no mail
  std::string mailbox_host;  // where the mailboxes live (the MDA)
  std::string submission_host;
};

struct UserSpec {
  std::string address;
  std::string password;
  std::uint64_t quota_bytes = 0;     // 0: unlimited
  std::vector<std::string> aliases;  // other addresses delivered here
  std::vector<std::string> forward;  // addresses every delivery is also sent on to
  bool keep = true;                  // with forward: keep a copy here
};

enum class HostKind : std::uint8_t { mta, client, dns };

struct HostSpec {
  std::string name;
  Ipv4 address{};
  HostKind kind = HostKind::mta;
  bool open_relay = false;  // relays for anyone (the lesson's bad example)
};

enum class FetchProtocol : std::uint8_t { none, pop3, imap };

struct MuaSpec {
  std::string name;
  std::string host;
  std::string user;        // "" for an outsider with no account
  std::string server;      // where it submits
  std::uint16_t port = 587;
  bool starttls = true;
  bool auth = true;
  FetchProtocol fetch = FetchProtocol::none;
  std::string fetch_server;  // default: the user's domain's mailbox host
  std::vector<Duration> fetch_at;
  Duration fetch_every{0};   // 0: only fetch_at
  bool keep = true;          // leave fetched mail on the server (POP3 without DELE)
};

struct AttachmentSpec {
  std::string name;
  std::string content_type = "text/plain";
  std::string content;
};

struct MessageSpec {
  std::string id;  // the Message-ID's left part, "m1" ... by default
  Duration at{0};
  std::string mua;
  std::string from;
  std::vector<std::string> to, cc, bcc;
  std::string subject;
  std::string body;
  std::vector<AttachmentSpec> attachments;
};

enum class FaultKind : std::uint8_t { host_down, link, partition, greylist, mailbox_full, reply };
enum class ReplyStage : std::uint8_t { connect, ehlo, mail, rcpt, data };
std::string_view to_string(FaultKind kind);
std::string_view to_string(ReplyStage stage);

struct FaultSpec {
  FaultKind kind = FaultKind::host_down;
  Duration at{0};
  std::optional<Duration> until;  // nullopt: to the end of the run
  std::string host;               // host_down, greylist, reply; link/partition: one end
  std::string peer;               // link/partition: the other end
  LinkOptions link{};             // link
  Duration greylist_delay{300'000'000};
  std::string user;               // mailbox_full
  ReplyStage stage = ReplyStage::rcpt;
  int code = 451;
  std::string text;
  std::optional<std::uint16_t> port;  // reply: only this service (25 or 587)
};

enum class ExpectKind : std::uint8_t { mailbox, bounce, route, queue_empty, transcript, fetched };

struct ExpectSpec {
  ExpectKind kind = ExpectKind::mailbox;
  SourcePosition where;
  std::string user;                 // mailbox, bounce ("to")
  std::string folder = "INBOX";
  std::optional<std::uint32_t> count;
  std::optional<std::string> subject;
  std::string message;              // route: the [[message]] id
  std::string host;                 // route: through; queue_empty: only this host
  std::string contains;             // transcript
  bool negate = false;              // transcript: absent = true
  std::string mua;                  // fetched
};

struct QueueSpec {
  std::vector<Duration> retry{std::chrono::minutes(5), std::chrono::minutes(10), std::chrono::minutes(20),
                              std::chrono::minutes(40)};  // the last one repeats
  Duration lifetime{std::chrono::hours(24)};
};

// [limits]: the lab server's limits (`maillab serve`; the simulated world
// keeps the engines' own defaults).  The defaults are the lab column of the
// security catalogue §3; timeouts below an RFC minimum are refused, never
// clamped.
struct LimitsSpec {
  std::size_t connections_max = 1000;             // catalogue row 19 (Dovecot default_client_limit)
  std::size_t connections_per_ip_max = 10;        // row 19
  std::size_t imap_sessions_per_user_max = 10;    // row 43 (Dovecot mail_max_userip_connections)
  Duration smtp_idle_timeout{std::chrono::minutes(5)};     // RFC 5321 §4.5.3.2.7: at least 5 min
  Duration smtp_data_timeout{std::chrono::minutes(3)};     // RFC 5321 §4.5.3.2.5: at least 3 min
  Duration imap_autologout{std::chrono::minutes(30)};      // RFC 9051 §5.4: at least 30 min
  Duration imap_login_timeout{std::chrono::minutes(3)};    // before login (Dovecot)
  Duration pop3_idle_timeout{std::chrono::minutes(10)};    // RFC 1939 §3: at least 10 min
  Duration output_timeout{std::chrono::minutes(5)};        // row 42: output pending without progress (Dovecot)
  std::size_t smtp_line_bytes_max = 4096;         // row 11; RFC 5321 §4.5.3.1.4: at least 512
  std::uint64_t message_bytes_max = 25ull * 1024 * 1024;  // rows 15-17; RFC 5321 §4.5.3.1.7: at least 64K
  std::size_t recipients_max = 100;               // row 14; RFC 5321 §4.5.3.1.8: at least 100
  std::size_t smtp_errors_max = 20;               // row 20 (Postfix hard_error_limit)
  std::size_t smtp_errors_soft_max = 10;          // row 20: past it every reply waits (soft_error_limit)
  Duration smtp_error_delay{std::chrono::seconds(1)};  // row 20 (smtpd_error_sleep_time); 0s: none
  std::size_t smtp_junk_commands_max = 100;       // row 20: then NOOP/RSET/VRFY/... count as errors
  std::size_t smtp_header_bytes_max = 100 * 1024;  // row 32 (Postfix header_size_limit 102400)
  std::uint64_t smtp_min_data_rate = 500;         // row 18: bytes/s inside DATA/BDAT (smtpd_min_data_rate); 0: off
  std::size_t imap_line_bytes_max = 64 * 1024;    // row 37; RFC 7162 §4: at least 8192
  std::uint64_t imap_literal_bytes_max = 25ull * 1024 * 1024;  // rows 33-34: APPEND
  std::size_t imap_depth_max = 8;                 // row 38: nested lists in one command
};

struct Scenario {
  std::string file;
  std::string title;
  std::string description;
  std::string title_id;        // Bahasa Indonesia; empty: none written
  std::string description_id;
  std::int64_t start_unix_s = 1772438400;  // 2026-03-02T08:00:00Z
  std::uint64_t seed = 1;
  Duration until{std::chrono::hours(1)};
  LinkOptions default_link{};
  bool starttls = true;  // MTA-to-MTA hops use STARTTLS when offered
  QueueSpec queue;
  LimitsSpec limits;
  std::vector<DomainSpec> domains;
  std::vector<UserSpec> users;
  std::vector<HostSpec> hosts;
  std::vector<MuaSpec> muas;
  std::vector<MessageSpec> messages;
  std::vector<FaultSpec> faults;
  std::vector<ExpectSpec> expects;
  std::string dns_host = "dns.lab";

  [[nodiscard]] const HostSpec* find_host(std::string_view name) const;
  [[nodiscard]] const DomainSpec* find_domain(std::string_view name) const;  // case-insensitive
  [[nodiscard]] const UserSpec* find_user(std::string_view address) const;
  [[nodiscard]] const MuaSpec* find_mua(std::string_view name) const;
};

// Every problem found, in file order; empty when the scenario is valid.
struct ScenarioLoad {
  std::optional<Scenario> scenario;
  std::vector<Error> errors;
};

ScenarioLoad load_scenario(std::string_view text, std::string_view file);
ScenarioLoad load_scenario_file(const std::string& path);

}  // namespace maillab::sim
