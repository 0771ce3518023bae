#include "net/imap/imap_server.hpp"

#include <algorithm>
#include <cassert>

#include "net/core/sasl.hpp"
#include "net/imap/imap_fetch.hpp"
#include "net/imap/imap_format.hpp"
#include "net/imap/imap_message.hpp"
#include "net/imap/imap_mutf7.hpp"
#include "net/imap/imap_search.hpp"
#include "net/imap/imap_sequence.hpp"
#include "net/imap/imap_summary.hpp"

namespace maillab::net::imap {
namespace {

using mail::MessageMeta;

constexpr std::size_t kStates = kServerStateNames.size();
// kServerTransitions[from][to]: the only state changes enter_state() allows.
constexpr std::array<std::array<bool, kStates>, kStates> kServerTransitions{{
    //  not-auth authenticated selected logout
    {{false, true, false, true}},   // not authenticated
    {{false, false, true, true}},   // authenticated
    {{false, true, true, true}},    // selected (SELECT again re-enters it)
    {{false, false, false, false}}, // logout
}};

constexpr std::uint8_t bit(ServerState s) { return static_cast<std::uint8_t>(1u << static_cast<unsigned>(s)); }
constexpr std::uint8_t kNotAuth = bit(ServerState::not_authenticated);
constexpr std::uint8_t kAuth = bit(ServerState::authenticated) | bit(ServerState::selected);
constexpr std::uint8_t kSelected = bit(ServerState::selected);
constexpr std::uint8_t kAnyState = kNotAuth | kAuth;

// A FETCH writes at most about this much before it lets the driver take the output.
constexpr std::size_t kFetchSliceBytes = 256 * 1024;
constexpr std::size_t kFetchSliceSlack = 64 * 1024;  // a slice ends after the message that crossed the limit
constexpr std::size_t kLongFetchMessages = 16;       // more than this: a slice is likely to fill

constexpr std::string_view kPermanentFlags = "(\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)";
constexpr std::string_view kSystemFlags = "\\Answered \\Flagged \\Deleted \\Seen \\Draft";

bool has_flag(const mail::Flags& flags, std::string_view f) {
  return std::any_of(flags.begin(), flags.end(), [&](const std::string& x) { return iequals(x, f); });
}

void normalise(mail::Flags& flags) {
  std::sort(flags.begin(), flags.end());
  flags.erase(std::unique(flags.begin(), flags.end()), flags.end());
}

// Logins are addresses with a strict charset (catalogue row 47).
bool valid_login(std::string_view user) {
  auto at = user.find('@');
  if (user.empty() || user.size() > 254 || at == std::string_view::npos || at == 0 || at + 1 >= user.size() ||
      user.find('@', at + 1) != std::string_view::npos || user.find("..") != std::string_view::npos ||
      user.front() == '.') {
    return false;
  }
  return std::all_of(user.begin(), user.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-' ||
           c == '_' || c == '+' || c == '@';
  });
}

// A decoded mailbox name stays inside the user's tree (catalogue row 39).
bool valid_mailbox(std::string_view name) {
  if (name.empty() || name.size() > 255 || name.front() == '~') return false;
  std::size_t pos = 0;
  while (true) {
    auto slash = name.find('/', pos);
    auto part = name.substr(pos, slash == std::string_view::npos ? std::string_view::npos : slash - pos);
    if (part.empty() || part == "." || part == ".." || part == "cur" || part == "new" || part == "tmp") return false;
    for (char c : part) {
      if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return false;
    }
    if (slash == std::string_view::npos) return true;
    pos = slash + 1;
  }
}

std::string uid_set_text(std::vector<std::uint32_t> uids) {
  std::string out;
  std::size_t i = 0;
  while (i < uids.size()) {
    std::size_t j = i;
    while (j + 1 < uids.size() && uids[j + 1] == uids[j] + 1) ++j;
    if (!out.empty()) out += ",";
    out += std::to_string(uids[i]);
    if (j > i) out += ":" + std::to_string(uids[j]);
    i = j + 1;
  }
  return out;
}

// LIST patterns (RFC 3501 §6.3.8): '*' matches anything, '%' anything but '/'.
bool glob_match(std::string_view pattern, std::string_view name) {
  std::vector<char> prev(name.size() + 1, 0), cur(name.size() + 1, 0);
  prev[0] = 1;
  for (char p : pattern) {
    std::fill(cur.begin(), cur.end(), 0);
    for (std::size_t j = 0; j <= name.size(); ++j) {
      if (p == '*' || p == '%') {
        cur[j] = prev[j] || (j > 0 && cur[j - 1] && (p == '*' || name[j - 1] != '/'));
      } else if (j > 0) {
        cur[j] = prev[j - 1] && name[j - 1] == p;
      }
    }
    std::swap(prev, cur);
  }
  return prev[name.size()] != 0;
}

std::string_view special_use_attr(mail::SpecialUse u) {
  switch (u) {
    case mail::SpecialUse::sent: return "\\Sent";
    case mail::SpecialUse::drafts: return "\\Drafts";
    case mail::SpecialUse::trash: return "\\Trash";
    case mail::SpecialUse::junk: return "\\Junk";
    case mail::SpecialUse::none: break;
  }
  return {};
}


}  // namespace

struct ImapServer::Session {
  enum class Wait : std::uint8_t { none, sasl, idle, tls };

  using Handler = void (Session::*)(const Command&, bool uid);
  struct CommandSpec {
    std::string_view verb;
    std::uint8_t states;
    Handler run;
  };

  ServerConfig cfg;
  const CredentialChecker& creds;
  mail::MailStore& store;
  CommandReader reader;
  std::string out;
  std::deque<ServerEvent> events;
  ServerState state = ServerState::not_authenticated;
  std::string user;
  bool tls = false;
  bool closed = false;
  Wait wait = Wait::none;
  std::string wait_tag;
  Instant last_activity{};
  Instant last_keepalive{};
  std::size_t logged_lines = 0;
  std::uint32_t bad_count = 0;
  std::uint32_t auth_failures = 0;
  std::optional<std::pair<Instant, std::string>> delayed;
  bool allow_expunge = true;
  // Selected mailbox: the session's snapshot, sequence number = index + 1.
  std::string mailbox;
  bool read_only = false;
  std::uint32_t uid_validity = 0;
  std::vector<MessageMeta> view;
  // The store's status when `view` last matched it in full: while it stays the
  // same, there is nothing to report and messages() need not be read.
  std::optional<mail::MailboxStatus> view_status;
  // A FETCH whose responses do not fit one slice: what is left to write.
  struct PendingFetch {
    std::string tag;
    bool uid = false;
    std::vector<FetchItem> items;
    std::vector<std::size_t> targets;  // indices into view
    std::size_t next = 0;
    bool wants_summary = false, wants_tree = false, wants_raw = false, sets_seen = false, wants_flags = false;
  };
  std::optional<PendingFetch> fetch;

  Session(ServerConfig c, const CredentialChecker& cr, mail::MailStore& st, Instant now)
      : cfg(std::move(c)), creds(cr), store(st), reader(cfg.limits), tls(cfg.implicit_tls), last_activity(now) {
    reader.set_line_bytes_max(std::min(cfg.preauth_line_bytes_max, cfg.limits.line_bytes_max));
    emit("* OK [CAPABILITY " + capabilities() + "] " + cfg.hostname + " maillab IMAP4rev1 server ready");
  }
  ~Session() { release_user_session(); }
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // The slot taken in cfg.user_sessions at login, given back once.
  bool holds_user_session = false;
  void release_user_session() {
    if (holds_user_session) cfg.user_sessions->close(user);
    holds_user_session = false;
  }

  // ---- output ----------------------------------------------------------------

  // Sends one response (without its final CRLF); embedded literals are logged as
  // LiteralEvents, the lines around them as LineEvents.
  void emit(std::string_view wire) {
    std::size_t start = out.size();
    out.append(wire);
    out.append("\r\n");
    log_wire(start);
  }

  // The events for the responses written to `out` from `start` on (ending in CRLF).
  void log_wire(std::size_t start) {
    std::string_view wire(out);
    wire = wire.substr(start, wire.size() - start - 2);
    std::size_t pos = 0;
    while (true) {
      auto crlf = wire.find("\r\n", pos);
      auto line = wire.substr(pos, crlf == std::string_view::npos ? std::string_view::npos : crlf - pos);
      events.emplace_back(LineEvent{Direction::server_to_client, std::string(line), tls});
      if (crlf == std::string_view::npos) break;
      auto spec = trailing_literal(line);
      std::size_t n = spec ? static_cast<std::size_t>(spec->size) : 0;
      if (spec) events.emplace_back(LiteralEvent{Direction::server_to_client, n});
      pos = crlf + 2 + n;
      if (pos >= wire.size()) {
        if (pos == wire.size() && spec) events.emplace_back(LineEvent{Direction::server_to_client, "", tls});
        break;
      }
    }
  }

  void tagged(const std::string& tag, std::string_view text) {
    if (wait == Wait::none && state == ServerState::selected) sync_view(allow_expunge);
    emit(tag + " " + std::string(text));
  }

  void bad(const std::string& tag, std::string_view text) {
    emit((tag.empty() ? std::string("*") : tag) + " BAD " + std::string(text));
    const std::uint32_t cap =
        state == ServerState::not_authenticated ? cfg.preauth_bad_commands_max : cfg.bad_commands_max;
    if (++bad_count >= cap) {
      emit("* BYE Too many invalid IMAP commands.");  // RFC 9051 §7.1.5 (Dovecot's wording)
      close("too many invalid commands");
    }
  }

  void close(std::string reason) {
    if (closed) return;
    closed = true;
    if (state != ServerState::logout) enter_state(ServerState::logout);
    events.emplace_back(CloseEvent{std::move(reason)});
  }

  void enter_state(ServerState next) {
    bool allowed = kServerTransitions[static_cast<std::size_t>(state)][static_cast<std::size_t>(next)];
    assert(allowed);  // a transition outside the table is a bug in this engine
    if (!allowed) return;
    events.emplace_back(StateEvent{kServerStateNames[static_cast<std::size_t>(state)],
                                   kServerStateNames[static_cast<std::size_t>(next)]});
    state = next;
    if (next == ServerState::logout) release_user_session();
  }

  [[nodiscard]] bool auth_allowed() const { return tls || cfg.allow_cleartext_auth; }

  [[nodiscard]] std::string capabilities() const {
    std::string caps = "IMAP4rev1";
    caps += cfg.literal_plus ? " LITERAL+" : " LITERAL-";
    caps += " SASL-IR ID ENABLE IDLE UIDPLUS MOVE NAMESPACE SPECIAL-USE CHILDREN UNSELECT";
    if (state == ServerState::not_authenticated) {
      if (!tls && cfg.starttls_offered) caps += " STARTTLS";
      caps += auth_allowed() ? " AUTH=PLAIN" : " LOGINDISABLED";
    }
    return caps;
  }

  // ---- input -----------------------------------------------------------------

  void log_lines(const RawCommand& raw) {
    for (std::size_t i = logged_lines; i < raw.lines.size(); ++i) {
      if (i > 0 && i - 1 < raw.literals.size()) {
        events.emplace_back(LiteralEvent{Direction::client_to_server, raw.literals[i - 1].size()});
      }
      events.emplace_back(LineEvent{Direction::client_to_server, raw.lines[i], tls});
    }
    logged_lines = raw.lines.size();
  }

  static std::string first_token(const RawCommand& raw) {
    if (raw.lines.empty()) return {};
    std::string_view l = raw.lines[0];
    auto sp = l.find(' ');
    auto tag = l.substr(0, sp);
    bool ok = !tag.empty() && std::all_of(tag.begin(), tag.end(), [](char c) {
      auto u = static_cast<unsigned char>(c);
      return u > 0x20 && u < 0x7f && c != '(' && c != ')' && c != '{' && c != '"' && c != '+' && c != '*' &&
             c != '%' && c != '\\';
    });
    return ok && sp != std::string_view::npos ? std::string(tag) : std::string();
  }

  void on_literal(const LiteralAnnounced& lit) {
    log_lines(*lit.so_far);
    bool append = peek_verb(*lit.so_far) == "APPEND" && state != ServerState::not_authenticated;
    std::uint64_t used = lit.so_far->bytes();
    std::uint64_t cap = append ? cfg.append_bytes_max
                               : (cfg.limits.command_bytes_max > used ? cfg.limits.command_bytes_max - used : 0);
    if (!lit.synchronising && !cfg.literal_plus) cap = std::min<std::uint64_t>(cap, cfg.limits.nonsync_literal_bytes_max);
    bool too_many = lit.so_far->literals.size() >= cfg.limits.literals_max;
    std::string verb = peek_verb(*lit.so_far);
    bool preauth_refused = state == ServerState::not_authenticated && verb != "LOGIN" && verb != "AUTHENTICATE";
    if (preauth_refused) cap = 0;
    if (lit.size <= cap && !too_many) {
      reader.accept_literal();
      if (lit.synchronising) emit("+ Ready for literal data");
      return;
    }
    std::string tag = first_token(*lit.so_far);
    bool sync = lit.synchronising;
    reader.reject_literal();
    logged_lines = 0;
    if (!sync) {
      emit("* BYE [TOOBIG] Literal too large");  // RFC 7888 §4: its octets are never read
      close("non-synchronising literal too large");
    } else if (preauth_refused) {
      bad(tag, "Log in first");
    } else if (append) {
      emit((tag.empty() ? "*" : tag) + " NO [TOOBIG] Message too large");  // RFC 7888, RFC 4469 §5
    } else {
      bad(tag, "[TOOBIG] Literal too large");
    }
  }

  void process(Instant now) {
    while (!closed && wait != Wait::tls && !delayed && !fetch) {
      auto next = reader.next();
      if (std::holds_alternative<std::monostate>(next)) break;
      if (auto* lit = std::get_if<LiteralAnnounced>(&next)) {
        on_literal(*lit);
      } else if (auto* ready = std::get_if<CommandReady>(&next)) {
        log_lines(ready->command);
        logged_lines = 0;
        dispatch(now, ready->command);
      } else if (auto* raw = std::get_if<RawLine>(&next)) {
        events.emplace_back(LineEvent{Direction::client_to_server, raw->text, tls});
        on_raw_line(now, raw->text);
      } else if (auto* failed = std::get_if<ReaderFailed>(&next)) {
        emit("* BYE [TOOBIG] " + failed->reason);
        close(failed->reason);
      }
    }
  }

  void on_raw_line(Instant now, const std::string& text) {
    reader.set_raw_lines(false);
    Wait was = wait;
    wait = Wait::none;
    std::string tag = std::move(wait_tag);
    if (was == Wait::idle) {
      if (iequals(text, "DONE")) tagged(tag, "OK IDLE terminated");
      else bad(tag, "Expected DONE");
    } else if (was == Wait::sasl) {
      if (text == "*") bad(tag, "Authentication cancelled");  // RFC 3501 §6.2.2
      else finish_plain(now, tag, text);
    }
  }

  static const CommandSpec* find_command(std::string_view verb);

  void dispatch(Instant now, const RawCommand& raw) {
    auto parsed = parse_command(raw, cfg.limits);
    if (auto* err = std::get_if<ParseError>(&parsed)) {
      bad(err->tag, err->message);
      return;
    }
    auto& cmd = std::get<Command>(parsed);
    now_ = now;
    bool uid = false;
    Command sub;
    const Command* target = &cmd;
    if (cmd.verb == "UID") {
      if (cmd.args.empty() || !cmd.args[0].is_atom()) {
        bad(cmd.tag, "UID needs a command");
        return;
      }
      sub.tag = cmd.tag;
      sub.verb = upper_ascii(cmd.args[0].text);
      sub.args.assign(cmd.args.begin() + 1, cmd.args.end());
      if (sub.verb != "FETCH" && sub.verb != "STORE" && sub.verb != "COPY" && sub.verb != "MOVE" &&
          sub.verb != "SEARCH" && sub.verb != "EXPUNGE") {
        bad(cmd.tag, "Unknown UID command");
        return;
      }
      uid = true;
      target = &sub;
    }
    const CommandSpec* spec = find_command(target->verb);
    if (spec == nullptr) {
      bad(cmd.tag, "Unknown command");
      return;
    }
    if ((spec->states & bit(state)) == 0) {
      bad(cmd.tag, state == ServerState::not_authenticated ? "Log in first" : "Command not valid in this state");
      return;
    }
    allow_expunge = !(target->verb == "FETCH" || target->verb == "STORE" || target->verb == "SEARCH");
    (this->*spec->run)(*target, uid);
    allow_expunge = true;
  }

  Instant now_{};

  // ---- any state ---------------------------------------------------------------

  void cmd_capability(const Command& c, bool) {
    emit("* CAPABILITY " + capabilities());
    tagged(c.tag, "OK CAPABILITY completed");
  }

  void cmd_noop(const Command& c, bool) { tagged(c.tag, "OK NOOP completed"); }

  void cmd_logout(const Command& c, bool) {
    emit("* BYE Logging out");
    emit(c.tag + " OK LOGOUT completed");
    close("logout");
  }

  void cmd_id(const Command& c, bool) {
    if (c.args.size() != 1 || !(c.args[0].is_list() || c.args[0].is_nil())) {
      bad(c.tag, "ID needs a parameter list or NIL");
      return;
    }
    emit("* ID (\"name\" \"maillab\" \"vendor\" \"maillab\")");
    tagged(c.tag, "OK ID completed");
  }

  // ---- not authenticated -----------------------------------------------------

  void cmd_starttls(const Command& c, bool) {
    if (tls || !cfg.starttls_offered) {
      bad(c.tag, "STARTTLS not available");
      return;
    }
    emit(c.tag + " OK Begin TLS negotiation now");
    reader.discard_buffered();  // CVE-2011-0411: nothing pipelined survives
    wait = Wait::tls;
    events.emplace_back(StartTlsEvent{});
  }

  void cmd_login(const Command& c, bool) {
    if (c.args.size() != 2 || c.args[0].is_list() || c.args[1].is_list()) {
      bad(c.tag, "LOGIN needs a user name and a password");
      return;
    }
    if (!auth_allowed()) {
      emit(c.tag + " NO [PRIVACYREQUIRED] Cleartext authentication disallowed on non-secure (SSL/TLS) connections.");
      return;
    }
    check_credentials(c.tag, c.args[0].text, c.args[1].text);
  }

  void cmd_authenticate(const Command& c, bool) {
    if (c.args.empty() || c.args.size() > 2 || !c.args[0].is_atom()) {
      bad(c.tag, "AUTHENTICATE needs a mechanism");
      return;
    }
    if (!iequals(c.args[0].text, "PLAIN")) {
      emit(c.tag + " NO [CANNOT] Unsupported authentication mechanism");
      return;
    }
    if (!auth_allowed()) {
      emit(c.tag + " NO [PRIVACYREQUIRED] Cleartext authentication disallowed on non-secure (SSL/TLS) connections.");
      return;
    }
    if (c.args.size() == 2) {  // SASL-IR, RFC 4959 §3: "=" is an empty response
      finish_plain(now_, c.tag, c.args[1].text == "=" ? std::string() : c.args[1].text);
      return;
    }
    emit("+ ");
    wait = Wait::sasl;
    wait_tag = c.tag;
    reader.set_raw_lines(true);
  }

  void finish_plain(Instant now, const std::string& tag, const std::string& response) {
    now_ = now;
    auto plain = decode_sasl_plain(response);
    if (!plain) {
      bad(tag, "Invalid SASL PLAIN response");
      return;
    }
    check_credentials(tag, plain->user, plain->password);
  }

  void check_credentials(const std::string& tag, const std::string& name, const std::string& password) {
    bool ok = valid_login(name) && creds.verify_password(name, password);
    if (ok && !store.has_user(name) && !store.ensure_user(name)) ok = false;
    // Right credentials, but the user has all the sessions allowed (catalogue
    // row 43): RFC 9051 §7.1 LIMIT (from RFC 5530 §3); no penalty, the
    // connection stays in the not-authenticated state and may try again.
    const bool over_limit = ok && cfg.user_sessions != nullptr && !cfg.user_sessions->try_open(name);
    events.emplace_back(LoginEvent{name, ok && !over_limit});
    if (over_limit) {
      emit(tag + " NO [LIMIT] Too many sessions for this user; log out elsewhere first");
      return;
    }
    if (!ok) {
      ++auth_failures;
      Duration delay = cfg.auth_failure_delay * (1 << std::min<std::uint32_t>(auth_failures - 1, 8));
      delay = std::min(delay, cfg.auth_failure_delay_max);
      std::string reply = tag + " NO [AUTHENTICATIONFAILED] Authentication failed.";  // RFC 5530
      if (delay.count() <= 0) emit(reply);
      else delayed = {now_ + delay, reply};
      return;
    }
    user = name;
    holds_user_session = cfg.user_sessions != nullptr;
    reader.set_line_bytes_max(cfg.limits.line_bytes_max);
    bad_count = 0;  // the logged-in session counts afresh, as Dovecot's imap process after imap-login
    enter_state(ServerState::authenticated);
    emit(tag + " OK [CAPABILITY " + capabilities() + "] Logged in");
  }

  // ---- mailbox names -----------------------------------------------------------

  std::optional<std::string> mailbox_arg(const Command& c, const Value& v) {
    if (v.is_list()) {
      bad(c.tag, "Invalid mailbox name");
      return std::nullopt;
    }
    if (iequals(v.text, "INBOX")) return std::string("INBOX");
    auto decoded = mutf7_decode(v.text);
    if (!decoded || !valid_mailbox(*decoded)) {
      emit(c.tag + " NO [CANNOT] Invalid mailbox name");
      return std::nullopt;
    }
    if (decoded->size() > 6 && iequals(decoded->substr(0, 6), "INBOX/")) decoded->replace(0, 5, "INBOX");
    return decoded;
  }

  static std::string encoded(const std::string& name) { return mutf7_encode(name).value_or(name); }

  void store_failure(const std::string& tag, const Error& e, bool trycreate = false) {
    switch (e.category) {
      case ErrorCategory::not_found:
        emit(tag + (trycreate ? " NO [TRYCREATE] Mailbox does not exist" : " NO [NONEXISTENT] Mailbox does not exist"));
        break;
      case ErrorCategory::exists: emit(tag + " NO [ALREADYEXISTS] Mailbox already exists"); break;
      case ErrorCategory::quota: emit(tag + " NO [OVERQUOTA] Quota exceeded"); break;
      case ErrorCategory::invalid_argument:
      case ErrorCategory::permission: emit(tag + " NO [CANNOT] " + e.message); break;
      default: emit(tag + " NO [UNAVAILABLE] " + e.message); break;
    }
  }

  // ---- authenticated -----------------------------------------------------------

  void cmd_select(const Command& c, bool) {
    bool examine = c.verb == "EXAMINE";
    if (c.args.size() != 1) {
      bad(c.tag, "SELECT needs a mailbox");
      return;
    }
    auto name = mailbox_arg(c, c.args[0]);
    if (!name) {
      if (state == ServerState::selected) leave_selected();  // RFC 3501 §6.3.1
      return;
    }
    auto st = store.status(user, *name);
    auto msgs = st ? store.messages(user, *name) : Result<std::vector<MessageMeta>>(st.error());
    if (!msgs) {
      if (state == ServerState::selected) leave_selected();
      store_failure(c.tag, msgs.error());
      return;
    }
    mailbox = *name;
    read_only = examine;
    uid_validity = st->uid_validity;
    view = std::move(*msgs);
    view_status = *st;
    enter_state(ServerState::selected);
    std::vector<std::string> keywords;
    for (const auto& m : view) {
      for (const auto& f : m.flags) {
        if (!f.empty() && f[0] != '\\') keywords.push_back(f);
      }
    }
    normalise(keywords);
    std::string flags = "* FLAGS (" + std::string(kSystemFlags);
    for (const auto& k : keywords) flags += " " + k;
    emit(flags + ")");
    emit("* " + std::to_string(view.size()) + " EXISTS");
    emit("* 0 RECENT");
    for (std::size_t i = 0; i < view.size(); ++i) {
      if (!has_flag(view[i].flags, "\\Seen")) {
        emit("* OK [UNSEEN " + std::to_string(i + 1) + "] First unseen");
        break;
      }
    }
    emit("* OK [UIDVALIDITY " + std::to_string(st->uid_validity) + "] UIDs valid");
    emit("* OK [UIDNEXT " + std::to_string(st->uid_next) + "] Predicted next UID");
    emit("* OK [PERMANENTFLAGS " + std::string(examine ? "()" : kPermanentFlags) + "] Flags permitted");
    tagged(c.tag, examine ? "OK [READ-ONLY] EXAMINE completed" : "OK [READ-WRITE] SELECT completed");
  }

  void cmd_create(const Command& c, bool) {
    if (c.args.size() != 1) return bad(c.tag, "CREATE needs a mailbox");
    Value v = c.args[0];
    if (!v.is_list() && v.text.size() > 1 && v.text.back() == '/') v.text.pop_back();  // RFC 3501 §6.3.3
    auto name = mailbox_arg(c, v);
    if (!name) return;
    if (*name == "INBOX") return emit(c.tag + " NO [ALREADYEXISTS] INBOX always exists");
    auto r = store.create_mailbox(user, *name);
    if (!r) return store_failure(c.tag, r.error());
    tagged(c.tag, "OK CREATE completed");
  }

  void cmd_delete(const Command& c, bool) {
    if (c.args.size() != 1) return bad(c.tag, "DELETE needs a mailbox");
    auto name = mailbox_arg(c, c.args[0]);
    if (!name) return;
    if (*name == "INBOX") return emit(c.tag + " NO [CANNOT] INBOX cannot be deleted");
    auto r = store.delete_mailbox(user, *name);
    if (!r) return store_failure(c.tag, r.error());
    tagged(c.tag, "OK DELETE completed");
  }

  void cmd_rename(const Command& c, bool) {
    if (c.args.size() != 2) return bad(c.tag, "RENAME needs two mailboxes");
    auto from = mailbox_arg(c, c.args[0]);
    if (!from) return;
    auto to = mailbox_arg(c, c.args[1]);
    if (!to) return;
    if (*to == "INBOX") return emit(c.tag + " NO [ALREADYEXISTS] INBOX always exists");
    auto r = store.rename_mailbox(user, *from, *to);
    if (!r) return store_failure(c.tag, r.error());
    tagged(c.tag, "OK RENAME completed");
  }

  void cmd_subscribe(const Command& c, bool) {
    if (c.args.size() != 1) return bad(c.tag, "Mailbox expected");
    auto name = mailbox_arg(c, c.args[0]);
    if (!name) return;
    auto r = store.set_subscribed(user, *name, c.verb == "SUBSCRIBE");
    if (!r) return store_failure(c.tag, r.error());
    tagged(c.tag, "OK " + c.verb + " completed");
  }

  void cmd_list(const Command& c, bool) {
    bool lsub = c.verb == "LSUB";
    if (c.args.size() != 2 || c.args[0].is_list() || c.args[1].is_list()) {
      return bad(c.tag, "LIST needs a reference and a pattern");
    }
    const std::string& ref = c.args[0].text;
    const std::string& pat = c.args[1].text;
    if (ref.size() + pat.size() > 1024) return emit(c.tag + " NO [CANNOT] Pattern too long");
    if (pat.empty() && !lsub) {
      emit("* LIST (\\Noselect) \"/\" \"\"");  // RFC 3501 §6.3.8: the hierarchy delimiter
      return tagged(c.tag, "OK LIST completed");
    }
    auto boxes = store.list_mailboxes(user);
    if (!boxes) return store_failure(c.tag, boxes.error());
    std::string full = ref + pat;  // matched only against this user's own names (catalogue row 40)
    struct Entry {
      std::string name;
      std::string attrs;
    };
    std::vector<Entry> entries;
    std::vector<std::string> names;
    for (const auto& b : *boxes) names.push_back(b.name);
    for (const auto& b : *boxes) {
      if (lsub && !b.subscribed) continue;
      std::string enc = encoded(b.name);
      bool match = b.name == "INBOX" ? glob_match(upper_ascii(full), "INBOX") || glob_match(full, "INBOX")
                                     : glob_match(full, enc);
      if (!match) continue;
      std::string attrs;
      if (!lsub) {
        attrs = b.has_children ? "\\HasChildren" : "\\HasNoChildren";
        auto su = special_use_attr(b.special_use);
        if (!su.empty()) attrs += " " + std::string(su);
      }
      entries.push_back({enc, attrs});
    }
    // Parents that exist only as a path prefix ("a" for "a/b") show as \Noselect.
    std::vector<std::string> implied;
    for (const auto& n : names) {
      for (auto slash = n.find('/'); slash != std::string::npos; slash = n.find('/', slash + 1)) {
        std::string parent = n.substr(0, slash);
        if (std::find(names.begin(), names.end(), parent) == names.end()) implied.push_back(parent);
      }
    }
    normalise(implied);
    for (const auto& p : implied) {
      std::string enc = encoded(p);
      if (glob_match(full, enc) && !lsub) entries.push_back({enc, "\\Noselect \\HasChildren"});
    }
    std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
      return std::make_pair(a.name != "INBOX", a.name) < std::make_pair(b.name != "INBOX", b.name);
    });
    for (const auto& e : entries) emit("* " + c.verb + " (" + e.attrs + ") \"/\" " + imap_string(e.name));
    tagged(c.tag, "OK " + c.verb + " completed");
  }

  void cmd_status(const Command& c, bool) {
    if (c.args.size() != 2 || !c.args[1].is_list() || c.args[1].items.empty()) {
      return bad(c.tag, "STATUS needs a mailbox and a list of items");
    }
    auto name = mailbox_arg(c, c.args[0]);
    if (!name) return;
    auto st = store.status(user, *name);
    if (!st) return store_failure(c.tag, st.error());
    std::string items;
    for (const auto& item : c.args[1].items) {
      std::string w = upper_ascii(item.text);
      std::uint64_t v = 0;
      if (w == "MESSAGES") v = st->messages;
      else if (w == "RECENT") v = 0;
      else if (w == "UIDNEXT") v = st->uid_next;
      else if (w == "UIDVALIDITY") v = st->uid_validity;
      else if (w == "UNSEEN") v = st->unseen;
      else return bad(c.tag, "Unknown STATUS item");
      items += (items.empty() ? "" : " ") + w + " " + std::to_string(v);
    }
    emit("* STATUS " + imap_string(encoded(*name)) + " (" + items + ")");
    tagged(c.tag, "OK STATUS completed");
  }

  void cmd_namespace(const Command& c, bool) {
    emit("* NAMESPACE ((\"\" \"/\")) NIL NIL");  // RFC 2342: one personal namespace
    tagged(c.tag, "OK NAMESPACE completed");
  }

  void cmd_enable(const Command& c, bool) {
    if (c.args.empty()) return bad(c.tag, "ENABLE needs capabilities");
    emit("* ENABLED");  // RFC 5161 §3.1: none of ours need enabling
    tagged(c.tag, "OK ENABLE completed");
  }

  void cmd_append(const Command& c, bool) {
    if (c.args.size() < 2 || c.args.size() > 4 || c.args.back().kind != Value::Kind::string) {
      return bad(c.tag, "APPEND needs a mailbox and a message literal");
    }
    auto name = mailbox_arg(c, c.args[0]);
    if (!name) return;
    mail::Flags flags;
    std::int64_t date = cfg.unix_epoch_offset_s + now_.us / 1000000;
    for (std::size_t i = 1; i + 1 < c.args.size(); ++i) {
      const Value& v = c.args[i];
      if (v.is_list() && i == 1) {
        for (const auto& f : v.items) {
          auto canon = f.is_atom() ? canonical_flag(f.text) : std::nullopt;
          if (!canon) return bad(c.tag, "Invalid flag");
          flags.push_back(*canon);
        }
      } else if (v.kind == Value::Kind::string) {
        auto t = parse_date_time(v.text);
        if (!t) return bad(c.tag, "Invalid date-time");
        date = *t;
      } else {
        return bad(c.tag, "Invalid APPEND argument");
      }
    }
    normalise(flags);
    auto st = store.status(user, *name);
    if (!st) return store_failure(c.tag, st.error(), true);
    auto uid = store.append(user, *name, c.args.back().text, flags, date);
    if (!uid) return store_failure(c.tag, uid.error(), true);
    tagged(c.tag, "OK [APPENDUID " + std::to_string(st->uid_validity) + " " + std::to_string(*uid) +
                      "] APPEND completed");  // RFC 4315 §3
  }

  void cmd_idle(const Command& c, bool) {
    emit("+ idling");  // RFC 2177
    last_keepalive = now_;
    wait = Wait::idle;
    wait_tag = c.tag;
    reader.set_raw_lines(true);
    if (state == ServerState::selected) sync_view(true);
  }

  // ---- selected ----------------------------------------------------------------

  void cmd_check(const Command& c, bool) { tagged(c.tag, "OK CHECK completed"); }

  void leave_selected() {
    view.clear();
    view_status.reset();
    mailbox.clear();
    enter_state(ServerState::authenticated);
  }

  void cmd_close(const Command& c, bool) {
    if (!read_only) expunge_deleted(nullptr, false);
    leave_selected();
    tagged(c.tag, "OK CLOSE completed");
  }

  void cmd_unselect(const Command& c, bool) {
    leave_selected();
    tagged(c.tag, "OK UNSELECT completed");
  }

  // Removes UIDs from the store and from the view, reporting EXPUNGE (RFC 3501 §7.4.1).
  void remove_uids(std::vector<std::uint32_t> uids, bool report) {
    if (uids.empty()) return;
    std::sort(uids.begin(), uids.end());
    (void)store.expunge(user, mailbox, uids);
    std::vector<MessageMeta> kept;
    std::size_t removed = 0;
    for (std::size_t i = 0; i < view.size(); ++i) {
      if (std::binary_search(uids.begin(), uids.end(), view[i].uid)) {
        if (report) emit("* " + std::to_string(i + 1 - removed) + " EXPUNGE");
        ++removed;
      } else {
        kept.push_back(std::move(view[i]));
      }
    }
    view = std::move(kept);
  }

  void expunge_deleted(const std::vector<std::pair<std::uint32_t, std::uint32_t>>* uid_filter, bool report) {
    std::vector<std::uint32_t> uids;
    for (const auto& m : view) {
      if (has_flag(m.flags, "\\Deleted") && (uid_filter == nullptr || contains(*uid_filter, m.uid))) {
        uids.push_back(m.uid);
      }
    }
    remove_uids(std::move(uids), report);
  }

  void cmd_expunge(const Command& c, bool uid) {
    if (read_only) return emit(c.tag + " NO [READ-ONLY] Mailbox is read-only");
    if (uid) {
      auto set = c.args.size() == 1 ? SequenceSet::parse(c.args[0].text) : std::nullopt;
      if (!set) return bad(c.tag, "UID EXPUNGE needs a UID set");
      auto resolved = set->resolve(view.empty() ? 0 : view.back().uid);
      expunge_deleted(&resolved, true);
    } else {
      if (!c.args.empty()) return bad(c.tag, "EXPUNGE takes no arguments");
      expunge_deleted(nullptr, true);
    }
    tagged(c.tag, std::string("OK ") + (uid ? "UID " : "") + "EXPUNGE completed");
  }

  // Indices into view named by a sequence or UID set; nullopt (after BAD) when a
  // sequence number is 0 or above EXISTS (catalogue row 41).
  std::optional<std::vector<std::size_t>> select_messages(const Command& c, const Value& arg, bool uid) {
    auto set = arg.is_atom() ? SequenceSet::parse(arg.text) : std::nullopt;
    if (!set) {
      bad(c.tag, "Invalid sequence set");
      return std::nullopt;
    }
    std::vector<std::size_t> picked;
    if (uid) {
      auto resolved = set->resolve(view.empty() ? 0 : view.back().uid);
      for (std::size_t i = 0; i < view.size(); ++i) {
        if (contains(resolved, view[i].uid)) picked.push_back(i);
      }
      return picked;
    }
    auto n = static_cast<std::uint32_t>(view.size());
    if (set->max_value(n) > n || set->max_value(n) == 0) {
      bad(c.tag, "Invalid message sequence number");
      return std::nullopt;
    }
    for (auto [a, b] : set->resolve(n)) {
      for (std::uint32_t s = a; s <= b; ++s) picked.push_back(s - 1);
    }
    return picked;
  }

  void set_flags(std::size_t idx, mail::Flags flags) {
    normalise(flags);
    if (flags == view[idx].flags) return;
    if (store.set_flags(user, mailbox, view[idx].uid, flags)) view[idx].flags = std::move(flags);
  }

  // A section of the message itself, not of a part: raw octets answer it.
  static bool top_level_section(const FetchItem& i) {
    return i.part.empty() && (i.text_spec.empty() || i.text_spec == "HEADER" || i.text_spec == "TEXT" ||
                              i.text_spec == "HEADER.FIELDS" || i.text_spec == "HEADER.FIELDS.NOT");
  }

  // FETCH (RFC 3501 §6.4.5).  Per message, only what the items need is done:
  // FLAGS, UID, INTERNALDATE, RFC822.SIZE come from the view; ENVELOPE, BODY
  // and BODYSTRUCTURE from the shared summary cache (imap_summary.hpp), which
  // a miss fills by reading and parsing the message once; whole-message,
  // HEADER and TEXT sections from the raw octets; only sections below the top
  // level need the MIME tree.  Responses are written straight into the output,
  // at most kFetchSliceBytes per step: a longer FETCH goes on when the driver
  // has taken the output (poll_transmit) or at its timeout (poll_timeout says
  // "now"), and commands behind it wait, so one large FETCH neither holds the
  // whole response in memory nor keeps a single-threaded driver from its other
  // sessions.
  void cmd_fetch(const Command& c, bool uid) {
    if (c.args.size() != 2) return bad(c.tag, "FETCH needs a sequence set and items");
    auto parsed = parse_fetch_items(c.args[1]);
    if (auto* err = std::get_if<std::string>(&parsed)) return bad(c.tag, *err);
    auto items = std::get<std::vector<FetchItem>>(std::move(parsed));
    if (uid && std::none_of(items.begin(), items.end(), [](const FetchItem& i) { return i.kind == FetchItem::Kind::uid; })) {
      FetchItem u;
      u.kind = FetchItem::Kind::uid;
      items.insert(items.begin(), u);
    }
    auto targets = select_messages(c, c.args[0], uid);
    if (!targets) return;
    using K = FetchItem::Kind;
    auto any = [&](auto pred) { return std::any_of(items.begin(), items.end(), pred); };
    PendingFetch f;
    f.tag = c.tag;
    f.uid = uid;
    f.targets = std::move(*targets);
    f.wants_summary = any([](const FetchItem& i) {
      return i.kind == K::envelope || i.kind == K::body_structure || i.kind == K::body;
    });
    f.wants_tree = any([](const FetchItem& i) { return i.kind == K::section && !top_level_section(i); });
    f.wants_raw = f.wants_tree || any([](const FetchItem& i) {
      return i.kind == K::rfc822 || i.kind == K::rfc822_header || i.kind == K::rfc822_text || i.kind == K::section;
    });
    f.sets_seen = !read_only && any([](const FetchItem& i) {
      return (i.kind == K::section && !i.peek) || i.kind == K::rfc822 || i.kind == K::rfc822_text;
    });
    f.wants_flags = any([](const FetchItem& i) { return i.kind == K::flags; });
    f.items = std::move(items);
    fetch = std::move(f);
    continue_fetch();
  }

  // Goes on with a pending FETCH; once it is done, with the commands that waited behind it.
  void resume(Instant now) {
    if (!fetch || closed) return;
    now_ = now;
    continue_fetch();
    if (!fetch) process(now);
  }

  // Writes the responses of the pending FETCH until a slice is full or it is done.
  void continue_fetch() {
    using K = FetchItem::Kind;
    PendingFetch& f = *fetch;
    const auto& items = f.items;
    const bool wants_summary = f.wants_summary, wants_tree = f.wants_tree, wants_raw = f.wants_raw;
    const bool sets_seen = f.sets_seen, wants_flags = f.wants_flags;
    SummaryCache& cache = SummaryCache::of(store);
    const SummaryCache::Table* table = wants_summary ? cache.table(user, mailbox, uid_validity) : nullptr;
    const std::size_t slice_start = out.size();
    // One allocation per slice: grown by doubling, each slice's buffer took fresh
    // pages past malloc's mmap threshold (92% of the page faults of a 10k BODY.PEEK[]).
    if (f.targets.size() - f.next > kLongFetchMessages) out.reserve(slice_start + kFetchSliceBytes + kFetchSliceSlack);
    for (; f.next < f.targets.size() && out.size() - slice_start < kFetchSliceBytes; ++f.next) {
      const std::size_t idx = f.targets[f.next];
      if (idx >= view.size()) continue;
      const std::uint32_t message_uid = view[idx].uid;
      const std::uint64_t message_size = view[idx].size;
      const MessageSummary* summary = wants_summary ? SummaryCache::find(table, message_uid, message_size) : nullptr;
      std::string raw;
      std::unique_ptr<ParsedMessage> tree;
      bool parse = wants_tree || (wants_summary && summary == nullptr);
      if (wants_raw || parse) {
        auto read = store.read(user, mailbox, message_uid);
        if (!read) continue;  // expunged by another session, not yet reported
        raw = std::move(*read);
      }
      if (parse) {
        tree = std::make_unique<ParsedMessage>(std::move(raw));
        if (wants_summary && summary == nullptr) {
          cache.add(user, mailbox, uid_validity, message_uid,
                    MessageSummary{message_size, tree->envelope(), tree->body_structure(true),
                                   tree->body_structure(false)});
          table = cache.table(user, mailbox, uid_validity);
          summary = SummaryCache::find(table, message_uid, message_size);
        }
      }
      const std::string_view text = tree ? std::string_view(tree->raw()) : std::string_view(raw);
      bool flag_changed = false;
      if (sets_seen && !has_flag(view[idx].flags, "\\Seen")) {
        auto flags = view[idx].flags;
        flags.push_back("\\Seen");
        set_flags(idx, flags);
        flag_changed = true;
      }
      const MessageMeta& m = view[idx];
      const std::size_t start = out.size();
      out += "* ";
      out += std::to_string(idx + 1);
      out += " FETCH (";
      bool first = true;
      auto add = [&](std::string_view name, std::string_view value) {
        if (!first) out += ' ';
        first = false;
        out += name;
        out += ' ';
        out += value;
      };
      auto add_literal = [&](std::string_view name, std::string_view data) {
        add(name, "{");
        out += std::to_string(data.size());
        out += "}\r\n";
        out += data;
      };
      for (const auto& it : items) {
        switch (it.kind) {
          case K::uid: add("UID", std::to_string(m.uid)); break;
          case K::flags: add("FLAGS", flag_list(m.flags)); break;
          case K::internal_date: add("INTERNALDATE", "\"" + format_date_time(m.internal_date_s) + "\""); break;
          case K::rfc822_size: add("RFC822.SIZE", std::to_string(m.size)); break;
          case K::envelope: add("ENVELOPE", summary->envelope); break;
          case K::body_structure: add("BODYSTRUCTURE", summary->body_structure); break;
          case K::body: add("BODY", summary->body); break;
          case K::rfc822: add_literal("RFC822", text); break;
          case K::rfc822_header: add_literal("RFC822.HEADER", split_message(text).first); break;
          case K::rfc822_text: add_literal("RFC822.TEXT", split_message(text).second); break;
          case K::section: {
            std::string owned;
            std::string_view data;
            if (!top_level_section(it)) {
              owned = tree->section(it.part, it.text_spec, it.fields).value_or(std::string());
              data = owned;
            } else if (it.text_spec.empty()) {
              data = text;
            } else if (it.text_spec == "HEADER") {
              data = split_message(text).first;
            } else if (it.text_spec == "TEXT") {
              data = split_message(text).second;
            } else {
              owned = filter_header(split_message(text).first, it.fields, it.text_spec == "HEADER.FIELDS.NOT");
              data = owned;
            }
            if (it.origin) data = data.substr(std::min<std::size_t>(*it.origin, data.size()), it.count);
            add_literal(it.label, data);
            break;
          }
        }
      }
      if (flag_changed && !wants_flags) add("FLAGS", flag_list(m.flags));
      out += ")\r\n";
      log_wire(start);
    }
    if (f.next < f.targets.size()) return;
    std::string tag = std::move(f.tag);
    bool uid = f.uid;
    fetch.reset();
    bool expunges_allowed = allow_expunge;
    allow_expunge = false;  // RFC 3501 §7.4.1: no EXPUNGE while responding to FETCH
    tagged(tag, std::string("OK ") + (uid ? "UID " : "") + "FETCH completed");
    allow_expunge = expunges_allowed;
  }

  void cmd_store(const Command& c, bool uid) {
    if (c.args.size() < 3 || !c.args[1].is_atom()) return bad(c.tag, "STORE needs a set, an item and flags");
    std::string item = upper_ascii(c.args[1].text);
    bool silent = item.size() > 7 && item.substr(item.size() - 7) == ".SILENT";
    if (silent) item.resize(item.size() - 7);
    if (item != "FLAGS" && item != "+FLAGS" && item != "-FLAGS") return bad(c.tag, "Unknown STORE item");
    std::vector<const Value*> raw_flags;
    if (c.args.size() == 3 && c.args[2].is_list()) {
      for (const auto& v : c.args[2].items) raw_flags.push_back(&v);
    } else {
      for (std::size_t i = 2; i < c.args.size(); ++i) raw_flags.push_back(&c.args[i]);
    }
    mail::Flags given;
    for (const Value* v : raw_flags) {
      auto canon = v->is_atom() ? canonical_flag(v->text) : std::nullopt;
      if (!canon) return bad(c.tag, "Invalid flag");
      given.push_back(*canon);
    }
    auto targets = select_messages(c, c.args[0], uid);
    if (!targets) return;
    if (read_only) return emit(c.tag + " NO [READ-ONLY] Mailbox is read-only");
    for (auto idx : *targets) {
      mail::Flags flags = view[idx].flags;
      if (item == "FLAGS") {
        flags = given;
      } else if (item == "+FLAGS") {
        flags.insert(flags.end(), given.begin(), given.end());
      } else {
        std::erase_if(flags, [&](const std::string& f) { return has_flag(given, f); });
      }
      set_flags(idx, flags);
      if (!silent) {
        std::string resp = "* " + std::to_string(idx + 1) + " FETCH (";
        if (uid) resp += "UID " + std::to_string(view[idx].uid) + " ";
        emit(resp + "FLAGS " + flag_list(view[idx].flags) + ")");
      }
    }
    tagged(c.tag, std::string("OK ") + (uid ? "UID " : "") + "STORE completed");
  }

  void cmd_copy(const Command& c, bool uid) {
    bool move = c.verb == "MOVE";
    if (c.args.size() != 2) return bad(c.tag, c.verb + " needs a set and a mailbox");
    auto targets = select_messages(c, c.args[0], uid);
    if (!targets) return;
    auto dest = mailbox_arg(c, c.args[1]);
    if (!dest) return;
    if (move && read_only) return emit(c.tag + " NO [READ-ONLY] Mailbox is read-only");
    auto st = store.status(user, *dest);
    if (!st) return store_failure(c.tag, st.error(), true);
    std::vector<std::uint32_t> from, to;
    for (auto idx : *targets) {
      auto r = store.copy(user, mailbox, view[idx].uid, *dest);
      if (!r) {
        if (r.error().category == ErrorCategory::not_found) continue;
        return store_failure(c.tag, r.error(), true);
      }
      from.push_back(view[idx].uid);
      to.push_back(*r);
    }
    std::string code;
    if (!from.empty()) {
      code = "[COPYUID " + std::to_string(st->uid_validity) + " " + uid_set_text(from) + " " + uid_set_text(to) + "] ";
    }
    if (move) {
      if (!code.empty()) emit("* OK " + code + "Moved");  // RFC 6851 §4.3
      remove_uids(from, true);
      return tagged(c.tag, std::string("OK ") + (uid ? "UID " : "") + "MOVE completed");
    }
    tagged(c.tag, "OK " + code + (uid ? "UID " : "") + "COPY completed");
  }

  void cmd_search(const Command& c, bool uid) {
    auto parsed = parse_search(c.args, 0);
    if (auto* err = std::get_if<SearchError>(&parsed)) {
      if (err->bad_charset) return emit(c.tag + " NO [BADCHARSET (UTF-8 US-ASCII)] " + err->message);
      return bad(c.tag, err->message);
    }
    const auto& key = std::get<SearchKey>(parsed);
    auto max_uid = view.empty() ? 0u : view.back().uid;
    std::string result = "* SEARCH";
    for (std::size_t i = 0; i < view.size(); ++i) {
      std::unique_ptr<ParsedMessage> msg;
      bool tried = false;
      std::optional<std::string> raw;
      bool raw_tried = false;
      SearchSubject subject;
      subject.seq = static_cast<std::uint32_t>(i + 1);
      subject.meta = &view[i];
      subject.max_seq = static_cast<std::uint32_t>(view.size());
      subject.max_uid = max_uid;
      subject.raw = [&]() -> const std::string* {
        if (!raw_tried) {
          raw_tried = true;
          auto read = store.read(user, mailbox, view[i].uid);
          if (read) raw = std::move(*read);
        }
        return raw ? &*raw : nullptr;
      };
      subject.message = [&]() -> const ParsedMessage* {
        if (!tried) {
          tried = true;
          if (const std::string* text = subject.raw()) msg = std::make_unique<ParsedMessage>(*text);
        }
        return msg.get();
      };
      if (search_matches(key, subject)) result += " " + std::to_string(uid ? view[i].uid : i + 1);
    }
    emit(result);
    tagged(c.tag, std::string("OK ") + (uid ? "UID " : "") + "SEARCH completed");
  }

  // ---- changes from elsewhere --------------------------------------------------

  // Brings the view up to date with the store: EXPUNGE (when allowed), FETCH
  // FLAGS for changed flags, EXISTS for new messages.
  void sync_view(bool expunges) {
    auto st = store.status(user, mailbox);
    if (st && view_status && *st == *view_status) return;
    auto r = store.messages(user, mailbox);
    if (!r) return;
    view_status.reset();
    const auto& now_msgs = *r;
    auto find = [&](std::uint32_t uid) -> const MessageMeta* {
      auto it = std::lower_bound(now_msgs.begin(), now_msgs.end(), uid,
                                 [](const MessageMeta& m, std::uint32_t u) { return m.uid < u; });
      return it != now_msgs.end() && it->uid == uid ? &*it : nullptr;
    };
    if (expunges) {
      std::vector<std::uint32_t> gone;
      for (const auto& m : view) {
        if (find(m.uid) == nullptr) gone.push_back(m.uid);
      }
      if (!gone.empty()) {
        std::vector<MessageMeta> kept;
        std::size_t removed = 0;
        for (std::size_t i = 0; i < view.size(); ++i) {
          if (std::binary_search(gone.begin(), gone.end(), view[i].uid)) {
            emit("* " + std::to_string(i + 1 - removed) + " EXPUNGE");
            ++removed;
          } else {
            kept.push_back(std::move(view[i]));
          }
        }
        view = std::move(kept);
      }
    }
    for (std::size_t i = 0; i < view.size(); ++i) {
      const MessageMeta* now_m = find(view[i].uid);
      if (now_m != nullptr && now_m->flags != view[i].flags) {
        view[i].flags = now_m->flags;
        emit("* " + std::to_string(i + 1) + " FETCH (UID " + std::to_string(view[i].uid) + " FLAGS " +
             flag_list(view[i].flags) + ")");
      }
    }
    std::uint32_t last = view.empty() ? 0 : view.back().uid;
    std::size_t before = view.size();
    for (const auto& m : now_msgs) {
      if (m.uid > last) view.push_back(m);
    }
    if (view.size() != before) emit("* " + std::to_string(view.size()) + " EXISTS");
    // Only a view that now holds exactly the store's messages may skip the next look.
    if (st && view.size() == now_msgs.size()) view_status = *st;
  }
};

const ImapServer::Session::CommandSpec* ImapServer::Session::find_command(std::string_view verb) {
  using S = ImapServer::Session;
  static const std::array kCommands{
      CommandSpec{"CAPABILITY", kAnyState, &S::cmd_capability},
      CommandSpec{"NOOP", kAnyState, &S::cmd_noop},
      CommandSpec{"LOGOUT", kAnyState, &S::cmd_logout},
      CommandSpec{"ID", kAnyState, &S::cmd_id},
      CommandSpec{"STARTTLS", kNotAuth, &S::cmd_starttls},
      CommandSpec{"LOGIN", kNotAuth, &S::cmd_login},
      CommandSpec{"AUTHENTICATE", kNotAuth, &S::cmd_authenticate},
      CommandSpec{"SELECT", kAuth, &S::cmd_select},
      CommandSpec{"EXAMINE", kAuth, &S::cmd_select},
      CommandSpec{"CREATE", kAuth, &S::cmd_create},
      CommandSpec{"DELETE", kAuth, &S::cmd_delete},
      CommandSpec{"RENAME", kAuth, &S::cmd_rename},
      CommandSpec{"SUBSCRIBE", kAuth, &S::cmd_subscribe},
      CommandSpec{"UNSUBSCRIBE", kAuth, &S::cmd_subscribe},
      CommandSpec{"LIST", kAuth, &S::cmd_list},
      CommandSpec{"LSUB", kAuth, &S::cmd_list},
      CommandSpec{"STATUS", kAuth, &S::cmd_status},
      CommandSpec{"NAMESPACE", kAuth, &S::cmd_namespace},
      CommandSpec{"ENABLE", bit(ServerState::authenticated), &S::cmd_enable},
      CommandSpec{"APPEND", kAuth, &S::cmd_append},
      CommandSpec{"IDLE", kAuth, &S::cmd_idle},
      CommandSpec{"CHECK", kSelected, &S::cmd_check},
      CommandSpec{"CLOSE", kSelected, &S::cmd_close},
      CommandSpec{"UNSELECT", kSelected, &S::cmd_unselect},
      CommandSpec{"EXPUNGE", kSelected, &S::cmd_expunge},
      CommandSpec{"SEARCH", kSelected, &S::cmd_search},
      CommandSpec{"FETCH", kSelected, &S::cmd_fetch},
      CommandSpec{"STORE", kSelected, &S::cmd_store},
      CommandSpec{"COPY", kSelected, &S::cmd_copy},
      CommandSpec{"MOVE", kSelected, &S::cmd_copy},
  };
  for (const auto& spec : kCommands) {
    if (spec.run != nullptr && spec.verb == verb) return &spec;
  }
  return nullptr;
}

ImapServer::ImapServer(ServerConfig config, const CredentialChecker& credentials, mail::MailStore& store,
                       Instant now)
    : s_(std::make_unique<Session>(std::move(config), credentials, store, now)) {}

ImapServer::~ImapServer() = default;

void ImapServer::handle_bytes(Instant now, std::string_view bytes) {
  if (s_->closed) return;
  s_->last_activity = now;
  if (s_->wait == Session::Wait::tls) return;  // plaintext after STARTTLS OK is discarded
  s_->reader.push(bytes);
  s_->now_ = now;
  s_->process(now);
}

void ImapServer::handle_timeout(Instant now) {
  if (s_->closed) return;
  s_->now_ = now;
  if (s_->fetch) {
    if (s_->out.size() < kFetchSliceBytes) s_->resume(now);
    return;
  }
  if (s_->delayed && now >= s_->delayed->first) {
    s_->emit(s_->delayed->second);
    s_->delayed.reset();
    s_->process(now);
    return;
  }
  Duration limit = s_->state == ServerState::not_authenticated ? s_->cfg.preauth_timeout : s_->cfg.autologout;
  if (s_->wait == Session::Wait::idle && now >= s_->last_keepalive + s_->cfg.idle_keepalive &&
      now < s_->last_activity + limit) {
    s_->emit("* OK Still here");
    s_->last_keepalive = now;
    return;
  }
  if (now >= s_->last_activity + limit) {
    s_->emit("* BYE Autologout; idle for too long");  // RFC 3501 §5.4
    s_->close("autologout");
  }
}

void ImapServer::handle_close(Instant) {
  if (s_->closed) return;
  s_->closed = true;
  if (s_->state != ServerState::logout) s_->enter_state(ServerState::logout);
}

void ImapServer::handle_tls_established(Instant now) {
  if (s_->wait != Session::Wait::tls) return;
  s_->wait = Session::Wait::none;
  s_->tls = true;
  s_->reader.discard_buffered();
  s_->last_activity = now;
}

void ImapServer::handle_store_changed(Instant now) {
  s_->now_ = now;
  if (s_->closed || s_->state != ServerState::selected || s_->delayed || s_->fetch) return;
  // RFC 3501 §7: EXISTS and FETCH may come at any time; EXPUNGE only while a
  // command (IDLE counts) is in progress (§7.4.1).
  if (s_->wait == Session::Wait::idle) s_->sync_view(true);
  else if (s_->wait == Session::Wait::none) s_->sync_view(false);
}

std::string ImapServer::poll_transmit() {
  if (s_->out.empty()) s_->resume(s_->now_);
  return std::exchange(s_->out, std::string());
}

std::optional<ServerEvent> ImapServer::poll_event() {
  if (s_->events.empty()) return std::nullopt;
  ServerEvent e = std::move(s_->events.front());
  s_->events.pop_front();
  return e;
}

Instant ImapServer::poll_timeout() const {
  if (s_->closed) return never;
  if (s_->fetch) return s_->now_;  // more FETCH responses to write: due at once
  if (s_->delayed) return s_->delayed->first;
  Duration limit = s_->state == ServerState::not_authenticated ? s_->cfg.preauth_timeout : s_->cfg.autologout;
  Instant logout = s_->last_activity + limit;
  if (s_->wait == Session::Wait::idle) return std::min(logout, s_->last_keepalive + s_->cfg.idle_keepalive);
  return logout;
}

ServerState ImapServer::state() const { return s_->state; }
const std::string& ImapServer::user() const { return s_->user; }
bool ImapServer::tls_active() const { return s_->tls; }
bool ImapServer::idling() const { return s_->wait == Session::Wait::idle; }
bool ImapServer::closed() const { return s_->closed; }

}  // namespace maillab::net::imap
