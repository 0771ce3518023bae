#include "sim/store/spool.hpp"

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <optional>
#include <system_error>

#include "net/core/decimal.hpp"
#include "sim/store/durable_file.hpp"

namespace maillab::sim {

namespace fs = std::filesystem;

namespace {

constexpr std::string_view kMagic = "maillab-spool 1";
constexpr std::size_t kIdOctetsMax = 64;
constexpr const char* kTmp = ".tmp";
constexpr const char* kDamaged = ".damaged";

bool valid_id(std::string_view id) {
  if (id.empty() || id.size() > kIdOctetsMax) return false;
  if (std::isalnum(static_cast<unsigned char>(id.front())) == 0) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '.' || c == '_' || c == '-';
  });
}

bool valid_attribute_name(std::string_view name) {
  if (name.empty() || name.size() > 32) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
  });
}

bool needs_escape(unsigned char c) { return c == '%' || c < 0x20 || c == 0x7f; }

// Appends `value` percent-encoded (see the header) to `out`; runs that need no escape go in whole.
void append_encoded(std::string& out, std::string_view value) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::size_t plain = 0;
  for (std::size_t i = 0; i < value.size(); ++i) {
    const auto c = static_cast<unsigned char>(value[i]);
    if (!needs_escape(c)) continue;
    out.append(value.data() + plain, i - plain);
    out += '%';
    out += hex[c >> 4];
    out += hex[c & 15];
    plain = i + 1;
  }
  out.append(value.data() + plain, value.size() - plain);
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

Result<std::string> decode(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (std::size_t i = 0; i < value.size(); ++i) {
    if (value[i] != '%') {
      out += value[i];
      continue;
    }
    const int high = i + 2 < value.size() ? hex_value(value[i + 1]) : -1;
    const int low = i + 2 < value.size() ? hex_value(value[i + 2]) : -1;
    if (high < 0 || low < 0) return make_error(ErrorCategory::parse, "bad %-escape in a header value");
    out += static_cast<char>(high * 16 + low);
    i += 2;
  }
  return out;
}

// The entry's header lines, appended to `out` without a temporary string per line.
void append_header(std::string& out, const SpoolEntry& entry) {
  out += kMagic;
  out += "\nid ";
  out += entry.id;
  out += "\narrival-us ";
  net::append_decimal(out, entry.arrival.us);
  out += "\nattempts ";
  net::append_decimal(out, entry.attempts);
  auto field = [&out](std::string_view key, std::string_view value) {
    out += '\n';
    out += key;
    if (value.empty()) return;
    out += ' ';
    append_encoded(out, value);
  };
  field("sender", entry.sender);
  field("message-id", entry.message_id);
  for (const auto& [name, value] : entry.attributes) {
    // field("attr", name + " " + value) without the joined string (a space needs no escape).
    out += "\nattr";
    if (name.empty() && value.empty()) continue;
    out += ' ';
    append_encoded(out, name);
    if (value.empty()) continue;
    out += ' ';
    append_encoded(out, value);
  }
  for (const auto& recipient : entry.recipients) field("recipient", recipient);
  out += "\nsize ";
  net::append_decimal(out, entry.data.size());
  out += "\n\n";
}

std::string format_header(const SpoolEntry& entry) {
  std::string out;
  out.reserve(256 + 64 * entry.recipients.size());
  append_header(out, entry);
  return out;
}

template <typename T>
bool parse_number(std::string_view text, T& out) {
  if (text.empty()) return false;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), out);
  return error == std::errc() && end == text.data() + text.size();
}

Error parse_error(std::string message) { return make_error(ErrorCategory::parse, std::move(message)); }

// "key value" -> value, when the line has that key.
bool take_field(std::string_view line, std::string_view key, std::string_view& value) {
  if (line.size() <= key.size() || line.substr(0, key.size()) != key || line[key.size()] != ' ') {
    if (line == key) {  // an empty value
      value = {};
      return true;
    }
    return false;
  }
  value = line.substr(key.size() + 1);
  return true;
}

Result<void> write_all(int fd, std::string_view header, std::string_view data, const fs::path& path) {
  while (!header.empty() || !data.empty()) {
    struct iovec parts[2];
    int count = 0;
    if (!header.empty()) parts[count++] = {const_cast<char*>(header.data()), header.size()};
    if (!data.empty()) parts[count++] = {const_cast<char*>(data.data()), data.size()};
    const ssize_t written = ::writev(fd, parts, count);
    if (written < 0) {
      if (errno == EINTR) continue;
      return durable::errno_error("write", path, errno);
    }
    auto done = static_cast<std::size_t>(written);
    const std::size_t from_header = std::min(done, header.size());
    header.remove_prefix(from_header);
    data.remove_prefix(done - from_header);
  }
  return {};
}

// Creates `path` (O_EXCL) with the entry's bytes and returns the open descriptor.
Result<int> write_entry(const fs::path& path, const SpoolEntry& entry) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return durable::errno_error("create", path, errno);
  if (auto written = write_all(fd, format_header(entry), entry.data, path); !written) {
    ::close(fd);
    ::unlink(path.c_str());
    return written.error();
  }
  return fd;
}

bool exists_no_follow(const char* path) {
  struct stat st {};
  return ::lstat(path, &st) == 0;
}
bool exists_no_follow(const std::string& path) { return exists_no_follow(path.c_str()); }
bool exists_no_follow(const fs::path& path) { return exists_no_follow(path.c_str()); }

// Moves <name> to .damaged/<name> (or <name>.N when that is taken).
Result<fs::path> move_aside(const fs::path& from, const fs::path& damaged_dir, const std::string& name) {
  for (int n = 0; n < 1000; ++n) {
    fs::path to = damaged_dir / (n == 0 ? name : name + "." + std::to_string(n));
    if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) == 0) return to;
    if (errno != EEXIST) return durable::errno_error("rename", from, errno);
  }
  return make_error(ErrorCategory::exists, "no free name in " + damaged_dir.string() + " for " + name);
}

}  // namespace

std::string format_spool_entry(const SpoolEntry& entry) {
  std::string out;
  out.reserve(256 + 64 * entry.recipients.size() + entry.data.size());  // one copy of the message
  append_header(out, entry);
  out += entry.data;
  return out;
}

Result<SpoolEntry> parse_spool_entry(std::string_view bytes) {
  const std::size_t header_end = bytes.find("\n\n");
  if (header_end == std::string_view::npos) return parse_error("no end of header (truncated?)");
  std::string_view header = bytes.substr(0, header_end + 1);
  std::string_view data = bytes.substr(header_end + 2);

  std::vector<std::string_view> lines;
  while (!header.empty()) {
    const std::size_t end = header.find('\n');
    lines.push_back(header.substr(0, end));
    header.remove_prefix(end + 1);
  }
  if (lines.empty() || lines[0] != kMagic) return parse_error("not a maillab spool entry (first line)");

  SpoolEntry entry;
  std::size_t at = 1;
  std::string_view value;
  auto field = [&](std::string_view key) -> Result<std::string_view> {
    if (at >= lines.size() || !take_field(lines[at], key, value)) return parse_error("expected '" + std::string(key) + "'");
    ++at;
    return value;
  };
  auto decoded = [&](std::string_view key, std::string& out) -> Result<void> {
    auto raw = field(key);
    if (!raw) return raw.error();
    auto text = decode(*raw);
    if (!text) return text.error();
    out = std::move(text).value();
    return {};
  };

  auto id = field("id");
  if (!id) return id.error();
  if (!valid_id(*id)) return parse_error("bad queue id");
  entry.id = std::string(*id);
  auto arrival = field("arrival-us");
  if (!arrival) return arrival.error();
  if (!parse_number(*arrival, entry.arrival.us)) return parse_error("bad arrival-us");
  auto attempts = field("attempts");
  if (!attempts) return attempts.error();
  if (!parse_number(*attempts, entry.attempts)) return parse_error("bad attempts");
  if (auto got = decoded("sender", entry.sender); !got) return got.error();
  if (auto got = decoded("message-id", entry.message_id); !got) return got.error();
  while (at < lines.size() && take_field(lines[at], "attr", value)) {
    const std::size_t space = value.find(' ');
    std::string_view name = value.substr(0, space);
    if (!valid_attribute_name(name)) return parse_error("bad attribute name");
    auto text = decode(space == std::string_view::npos ? std::string_view() : value.substr(space + 1));
    if (!text) return text.error();
    entry.attributes.emplace_back(std::string(name), std::move(text).value());
    ++at;
  }
  while (at < lines.size() && take_field(lines[at], "recipient", value)) {
    auto recipient = decode(value);
    if (!recipient) return recipient.error();
    entry.recipients.push_back(std::move(recipient).value());
    ++at;
  }
  if (entry.recipients.empty()) return parse_error("no recipient");
  auto size_text = field("size");
  if (!size_text) return size_text.error();
  std::uint64_t size = 0;
  if (!parse_number(*size_text, size)) return parse_error("bad size");
  if (at != lines.size()) return parse_error("unexpected header line after size");
  if (data.size() < size)
    return parse_error("truncated: " + std::to_string(data.size()) + " of " + std::to_string(size) + " octets");
  if (data.size() > size) return parse_error("trailing octets after the message data");
  entry.data = std::string(data);
  return entry;
}

std::string find_message_id(std::string_view data) {
  std::string found;
  bool in_field = false;
  std::size_t pos = 0;
  while (pos < data.size()) {
    std::size_t end = data.find('\n', pos);
    if (end == std::string_view::npos) end = data.size();
    std::string_view line = data.substr(pos, end - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    pos = end + 1;
    if (line.empty()) break;  // end of the header section
    if (line.front() == ' ' || line.front() == '\t') {  // folded (RFC 5322 §2.2.3)
      if (in_field) found += line;
      continue;
    }
    if (in_field) break;
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    std::string name(line.substr(0, colon));
    std::transform(name.begin(), name.end(), name.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    while (!name.empty() && (name.back() == ' ' || name.back() == '\t')) name.pop_back();
    if (name != "message-id") continue;
    in_field = true;
    found = std::string(line.substr(colon + 1));
  }
  const auto first = found.find_first_not_of(" \t");
  if (first == std::string::npos) return {};
  const auto last = found.find_last_not_of(" \t");
  return found.substr(first, last - first + 1);
}

std::string SpoolEntry::attribute(std::string_view name) const {
  for (const auto& [key, value] : attributes)
    if (key == name) return value;
  return {};
}

StagedEntry& StagedEntry::operator=(StagedEntry&& other) noexcept {
  if (this != &other) {
    close_fd();
    id_ = std::move(other.id_);
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

StagedEntry::~StagedEntry() { close_fd(); }

int StagedEntry::release_fd() { return std::exchange(fd_, -1); }

void StagedEntry::close_fd() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

void Spool::note(std::string_view id) const {
  // Only "<hex>.<anything>" can be an id make_id makes: its stamp is the hex part.
  const std::size_t dot = id.find('.');
  if (dot == std::string_view::npos || dot == 0 || dot > 16) return;
  std::uint64_t stamp = 0;
  auto [end, error] = std::from_chars(id.data(), id.data() + dot, stamp, 16);
  if (error == std::errc{} && end == id.data() + dot) newest_noted_ = std::max(newest_noted_, stamp);
}

Result<Spool> Spool::open(fs::path dir) {
  std::error_code error;
  fs::create_directories(dir, error);
  if (error) return make_error(ErrorCategory::io, "cannot create " + dir.string() + ": " + error.message());
  for (const char* sub : {kTmp, kDamaged}) {
    auto made = durable::make_dir(dir / sub);
    if (!made && made.error().category != ErrorCategory::exists) return made.error();
  }
  if (auto synced = durable::fsync_dir(dir); !synced) return synced.error();
  return Spool(std::move(dir));
}

std::string Spool::make_id(Instant now) {
  static constexpr char digits[] = "0123456789ABCDEF";
  char text[40];  // 16 hex digits, '.', 20 decimal ones
  char* at = text + 16;
  auto value = static_cast<std::uint64_t>(now.us);
  do {
    *--at = digits[value & 15];
    value >>= 4;
  } while (value != 0);
  const std::string_view stamp(at, static_cast<std::size_t>(text + 16 - at));
  // Once recover() has listed the queue, every id in it or in .tmp/ came from
  // recover(), stage() (both note it) or this function, whose sequence numbers
  // never repeat: a stamp past every noted one needs no look at the disk (two
  // lstats of names never seen, each a new negative dentry, per message).
  const bool no_look = listed_ && static_cast<std::uint64_t>(now.us) > newest_noted_;
  // "<dir>/<id>" and "<dir>/.tmp/<id>" written in place: no path joins per message.
  std::string in_queue = dir_.native();
  in_queue += '/';
  std::string in_tmp = in_queue + ".tmp/";
  const std::size_t queue_base = in_queue.size();
  const std::size_t tmp_base = in_tmp.size();
  while (true) {
    char* end = text + 16;
    *end++ = '.';
    end = std::to_chars(end, text + sizeof text, ++sequence_).ptr;
    const std::string_view sequence(text + 16, static_cast<std::size_t>(end - (text + 16)));
    in_queue.resize(queue_base);
    in_queue += stamp;
    in_queue += sequence;
    in_tmp.resize(tmp_base);
    in_tmp += stamp;
    in_tmp += sequence;
    if (no_look || (!exists_no_follow(in_queue) && !exists_no_follow(in_tmp))) return in_queue.substr(queue_base);
  }
}

Result<StagedEntry> Spool::stage(const SpoolEntry& entry) const {
  if (!valid_id(entry.id)) return make_error(ErrorCategory::invalid_argument, "bad queue id '" + entry.id + "'");
  if (entry.recipients.empty()) return make_error(ErrorCategory::invalid_argument, "a spool entry needs a recipient");
  for (const auto& attribute : entry.attributes)
    if (!valid_attribute_name(attribute.first))
      return make_error(ErrorCategory::invalid_argument, "bad attribute name '" + attribute.first + "'");
  note(entry.id);
  if (exists_no_follow(dir_ / entry.id))
    return make_error(ErrorCategory::exists, "queue id " + entry.id + " is taken");
  auto fd = write_entry(tmp_dir() / entry.id, entry);
  if (!fd) return fd.error();
  return StagedEntry(entry.id, *fd);
}

Result<void> Spool::commit(std::span<StagedEntry> staged) const {
  durable::SyncLedger none;
  return commit(staged, none, durable::SyncMode::per_file);
}

Result<void> Spool::commit(std::span<StagedEntry> staged, durable::SyncLedger& deliveries,
                           durable::SyncMode mode) const {
  const fs::path tmp = tmp_dir();
  const fs::path& queue = dir_;
  std::size_t renamed = 0;
  auto fail = [&](Error error) -> Result<void> {
    for (std::size_t i = 0; i < staged.size(); ++i) {
      staged[i].close_fd();
      const fs::path path = (i < renamed ? queue : tmp) / staged[i].id();
      ::unlink(path.c_str());
    }
    if (renamed > 0) (void)durable::fsync_dir(queue);
    deliveries.release();
    return error;
  };
  // Start write-back of every file first, so that the syncs below find
  // their data on its way and share the journal commits (Linux).
  for (auto& entry : staged) ::sync_file_range(entry.fd(), 0, 0, SYNC_FILE_RANGE_WRITE);
  deliveries.start_writeback();
  if (mode == durable::SyncMode::per_file) {
    for (auto& entry : staged) {
      if (::fdatasync(entry.fd()) != 0) return fail(durable::errno_error("fdatasync", tmp / entry.id(), errno));
    }
  }
  for (auto& entry : staged) {
    const int fd = entry.release_fd();
    if (fd >= 0 && ::close(fd) != 0) return fail(durable::errno_error("close", tmp / entry.id(), errno));
  }
  for (auto& entry : staged) {
    const fs::path from = tmp / entry.id();
    const fs::path to = queue / entry.id();
    if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) != 0)
      return fail(durable::errno_error("rename", from, errno));
    ++renamed;
  }
  if (mode == durable::SyncMode::syncfs) {
    durable::SyncLedger spool_dir;
    if (auto opened = spool_dir.add_dir(queue); !opened) return fail(opened.error());
    if (auto synced = spool_dir.sync(durable::SyncMode::syncfs); !synced) return fail(synced.error());
    deliveries.release();
    return {};
  }
  if (auto synced = durable::fsync_dir(queue); !synced) return fail(synced.error());
  if (auto synced = deliveries.sync(durable::SyncMode::per_file); !synced) return fail(synced.error());
  return {};
}

void Spool::discard(StagedEntry staged) const {
  staged.close_fd();
  const fs::path path = tmp_dir() / staged.id();
  ::unlink(path.c_str());
}

std::optional<Error> Spool::unlink_entries(std::span<const std::string> ids) const {
  std::optional<Error> first;
  for (const auto& id : ids) {
    if (!valid_id(id)) {
      if (!first) first = make_error(ErrorCategory::invalid_argument, "bad queue id '" + id + "'");
      continue;
    }
    const fs::path path = dir_ / id;
    if (::unlink(path.c_str()) != 0 && errno != ENOENT && !first) first = durable::errno_error("unlink", path, errno);
  }
  return first;
}

Result<void> Spool::retire(durable::SyncLedger& deliveries, durable::SyncMode mode,
                          std::span<const std::string> ids) const {
  if (auto synced = deliveries.sync(mode); !synced) return synced;
  // No directory fsync: an entry whose unlink a crash undoes is resumed at
  // the next start, and the router's dedupe (the queue id in Received:) finds
  // the copies that are already durable and does not deliver them again.
  std::optional<Error> first = unlink_entries(ids);
  if (first) return *first;
  return {};
}

Result<SpoolEntry> Spool::load(std::string_view id) const {
  if (!valid_id(id)) return make_error(ErrorCategory::invalid_argument, "bad queue id '" + std::string(id) + "'");
  const fs::path path = dir_ / std::string(id);
  auto bytes = durable::read_file(path);
  if (!bytes) return bytes.error();
  auto entry = parse_spool_entry(*bytes);
  if (!entry) return make_error(ErrorCategory::parse, path.string() + ": " + entry.error().message);
  if (entry->id != id) return make_error(ErrorCategory::parse, path.string() + ": the id inside is " + entry->id);
  return entry;
}

Result<void> Spool::update(std::string_view id, const std::vector<std::string>& recipients,
                           std::uint32_t attempts) const {
  if (recipients.empty()) return make_error(ErrorCategory::invalid_argument, "a spool entry needs a recipient");
  auto entry = load(id);
  if (!entry) return entry.error();
  entry->recipients = recipients;
  entry->attempts = attempts;
  const fs::path temporary = tmp_dir() / (std::string(id) + "+update");  // '+' is never in an id
  ::unlink(temporary.c_str());
  auto fd = write_entry(temporary, *entry);
  if (!fd) return fd.error();
  const bool synced = ::fdatasync(*fd) == 0;
  const int sync_errno = errno;
  const bool closed = ::close(*fd) == 0;
  const int close_errno = errno;
  if (!synced || !closed) {
    ::unlink(temporary.c_str());
    return durable::errno_error(synced ? "close" : "fdatasync", temporary, synced ? close_errno : sync_errno);
  }
  const fs::path target = dir_ / std::string(id);
  if (::rename(temporary.c_str(), target.c_str()) != 0) {
    const int error_number = errno;
    ::unlink(temporary.c_str());
    return durable::errno_error("rename", temporary, error_number);
  }
  return durable::fsync_dir(dir_);
}

Result<void> Spool::remove(std::span<const std::string> ids) const {
  std::optional<Error> first = unlink_entries(ids);
  if (auto synced = durable::fsync_dir(dir_); !synced && !first) first = synced.error();
  if (first) return *first;
  return {};
}

Result<SpoolRecovery> Spool::recover() const {
  SpoolRecovery report;
  std::error_code error;

  const fs::path tmp = tmp_dir();
  std::vector<fs::path> leftovers;
  for (fs::directory_iterator it(tmp, error), end; !error && it != end; it.increment(error)) leftovers.push_back(it->path());
  if (error) return make_error(ErrorCategory::io, "cannot read " + tmp.string() + ": " + error.message());
  for (const auto& path : leftovers) {
    if (::unlink(path.c_str()) == 0) ++report.tmp_discarded;
  }
  if (report.tmp_discarded > 0) {
    if (auto synced = durable::fsync_dir(tmp); !synced) return synced.error();
  }

  const fs::path& queue = dir_;
  std::vector<std::string> names;
  for (fs::directory_iterator it(queue, error), end; !error && it != end; it.increment(error))
    names.push_back(it->path().filename().string());
  if (error) return make_error(ErrorCategory::io, "cannot read " + queue.string() + ": " + error.message());
  std::sort(names.begin(), names.end());

  const fs::path damaged = damaged_dir();
  for (const auto& name : names) {
    if (name == kTmp || name == kDamaged) continue;
    note(name);
    std::string reason;
    if (!valid_id(name)) {
      reason = "not a queue id";
    } else {
      auto bytes = durable::read_file(queue / name);
      if (!bytes) {
        reason = bytes.error().message;
      } else if (auto entry = parse_spool_entry(*bytes); !entry) {
        reason = entry.error().message;
      } else if (entry->id != name) {
        reason = "the id inside is " + entry->id;
      } else {
        report.entries.push_back(std::move(entry).value());
        continue;
      }
    }
    auto moved = move_aside(queue / name, damaged, name);
    if (!moved) return moved.error();
    report.damaged.push_back({name, reason, std::move(moved).value()});
  }
  if (!report.damaged.empty()) {
    if (auto synced = durable::fsync_dir(damaged); !synced) return synced.error();
    if (auto synced = durable::fsync_dir(queue); !synced) return synced.error();
  }
  std::sort(report.entries.begin(), report.entries.end(), [](const SpoolEntry& a, const SpoolEntry& b) {
    return a.arrival != b.arrival ? a.arrival < b.arrival : a.id < b.id;
  });
  listed_ = true;
  return report;
}

}  // namespace maillab::sim
