#include "sim/store/maildir_store.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <set>
#include <unordered_map>
#include <utility>

#include "net/mail/message.hpp"
#include "sim/store/durable_file.hpp"
#include "sim/store/mailbox_name.hpp"
#include "sim/store/store_flags.hpp"

namespace maillab::sim {

namespace fs = std::filesystem;
using net::mail::Flags;
using net::mail::MailboxInfo;
using net::mail::MailboxStatus;
using net::mail::MessageMeta;
using net::mail::StoreLimits;

namespace {

constexpr const char* kUidList = "dovecot-uidlist";
constexpr const char* kKeywords = "dovecot-keywords";
constexpr const char* kSubscriptions = "subscriptions";
constexpr const char* kUidValidity = "maillab-uidvalidity";
constexpr const char* kFolderMarker = "maildirfolder";
constexpr const char* kStagingDir = "..maillab-new";
constexpr const char* kTrashDir = "..maillab-trash";
constexpr std::string_view kOurTmpMark = ".maillab,";

Error not_found(std::string what) { return make_error(ErrorCategory::not_found, std::move(what)); }

bool is_real_dir(const char* path) {
  struct stat st {};
  return ::lstat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

bool is_real_dir(const fs::path& path) { return is_real_dir(path.c_str()); }

bool is_maildir(const fs::path& dir) {
  return is_real_dir(dir) && is_real_dir(dir / "cur") && is_real_dir(dir / "new") && is_real_dir(dir / "tmp");
}

Result<void> make_maildir_dirs(const fs::path& dir) {
  for (const char* sub : {"cur", "new", "tmp"}) {
    if (is_real_dir(dir / sub)) continue;
    if (auto made = durable::make_dir(dir / sub); !made) return made;
  }
  return {};
}

Result<void> remove_tree(const fs::path& path) {
  std::error_code ec;
  fs::remove_all(path, ec);
  if (ec) return make_error(ErrorCategory::io, "remove " + path.string() + ": " + ec.message());
  return {};
}

// Regular files (not symlinks, not dot files) of dir/sub, by unique base.
struct OnDisk {
  bool in_new = false;
  std::string name;
};

// readdir() with its d_type: one lstat only where the file system leaves the type unknown.
Result<void> list_messages(const fs::path& dir, std::map<std::string, OnDisk>& out) {
  for (const char* sub : {"new", "cur"}) {
    fs::path path = dir / sub;
    int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return durable::errno_error("list", path, errno);
    DIR* listing = ::fdopendir(fd);
    if (listing == nullptr) {
      int error = errno;
      ::close(fd);
      return durable::errno_error("list", path, error);
    }
    bool in_new = std::string_view(sub) == "new";
    while (true) {
      errno = 0;
      const dirent* entry = ::readdir(listing);
      if (entry == nullptr) break;
      std::string_view name(entry->d_name);
      if (name.empty() || name.front() == '.') continue;
      bool regular = entry->d_type == DT_REG;
      if (entry->d_type == DT_UNKNOWN) {
        struct stat st {};
        regular = ::fstatat(fd, entry->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode);
      }
      if (!regular) continue;
      out.emplace(std::string(maildir::split_file_name(name).base), OnDisk{in_new, std::string(name)});
    }
    int error = errno;
    ::closedir(listing);
    if (error != 0) return durable::errno_error("list", path, error);
  }
  return {};
}

// Runs `f` when the scope ends, however it ends.
template <class F>
struct OnExit {
  F f;
  ~OnExit() { f(); }
};
template <class F>
OnExit(F) -> OnExit<F>;  // clang 14 (Debian 12) has no aggregate deduction yet

std::int64_t ns_of(const struct timespec& t) { return static_cast<std::int64_t>(t.tv_sec) * 1000000000 + t.tv_nsec; }

// The file system's time now: touch tmp/ (nobody reads its times) and read its ctime back.
std::optional<std::int64_t> probe_fs_time(const std::string& tmp) {
  if (::utimensat(AT_FDCWD, tmp.c_str(), nullptr, AT_SYMLINK_NOFOLLOW) != 0) return std::nullopt;
  struct stat st {};
  if (::lstat(tmp.c_str(), &st) != 0) return std::nullopt;
  return ns_of(st.st_ctim);
}

std::string folder_key(std::string_view user_key, std::string_view name) {
  std::string key(user_key);
  key += '\n';
  key += name;
  return key;
}

// LF (or mixed) text from disk -> CRLF, in one pass over memchr'd lines when there is no CR.
std::string to_crlf(std::string_view text) {
  if (std::memchr(text.data(), '\r', text.size()) != nullptr) return net::mail::normalize_crlf(text);
  std::string out;
  out.reserve(text.size() + static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n')));
  const char* at = text.data();
  const char* end = at + text.size();
  while (at < end) {
    const void* found = std::memchr(at, '\n', static_cast<std::size_t>(end - at));
    const char* nl = found == nullptr ? end : static_cast<const char*>(found);
    out.append(at, static_cast<std::size_t>(nl - at));
    if (nl == end) break;
    out += "\r\n";
    at = nl + 1;
  }
  return out;
}

// A message file in CRLF form: one read of the size fstat reports, no symlinks followed.
Result<std::string> read_message_file(const fs::path& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return durable::errno_error("open", path, errno);
  struct stat st {};
  std::string content;
  if (::fstat(fd, &st) == 0 && st.st_size > 0) content.reserve(static_cast<std::size_t>(st.st_size));
  char buffer[65536];
  while (true) {
    std::size_t room = content.capacity() - content.size();
    bool direct = room > 0;
    std::size_t old_size = content.size();
    if (direct) content.resize(content.capacity());
    ssize_t got = direct ? ::read(fd, content.data() + old_size, room) : ::read(fd, buffer, sizeof buffer);
    if (direct) content.resize(old_size + static_cast<std::size_t>(std::max<ssize_t>(got, 0)));
    if (got < 0) {
      if (errno == EINTR) continue;
      int error = errno;
      ::close(fd);
      return durable::errno_error("read", path, error);
    }
    if (got == 0) break;
    if (!direct) content.append(buffer, static_cast<std::size_t>(got));
  }
  ::close(fd);
  return to_crlf(content);
}

std::optional<std::int64_t> mtime_of(const fs::path& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return std::nullopt;
  return static_cast<std::int64_t>(st.st_mtim.tv_sec);
}

void remove_our_tmp_files(const fs::path& dir) {
  std::error_code ec;
  for (fs::directory_iterator it(dir / "tmp", ec); !ec && it != fs::directory_iterator(); it.increment(ec)) {
    std::string name = it->path().filename().string();
    std::error_code status_ec;
    if (name.find(kOurTmpMark) != std::string::npos &&
        it->symlink_status(status_ec).type() == fs::file_type::regular) {
      std::error_code remove_ec;
      fs::remove(it->path(), remove_ec);
    }
  }
}

// Our deliveries in new/ shorter than the size their name carries: a crash
// tore a delivery whose fsync was deferred (its message is still queued and is
// delivered again).  Nothing we fsync'd can be short, so they are removed.
bool remove_torn_deliveries(const fs::path& dir) {
  bool removed = false;
  std::error_code ec;
  for (fs::directory_iterator it(dir / "new", ec); !ec && it != fs::directory_iterator(); it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.find(kOurTmpMark) == std::string::npos) continue;
    const auto expected = maildir::base_field(maildir::split_file_name(name).base, 'S');
    struct stat st {};
    if (!expected || ::lstat(it->path().c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
    if (static_cast<std::uint64_t>(st.st_size) >= *expected) continue;
    removed = ::unlink(it->path().c_str()) == 0 || removed;
  }
  return removed;
}

}  // namespace

fs::path MaildirStore::Folder::path_of(std::size_t index) const {
  return place->dir / (in_new[index] ? "new" : "cur") / list.records[index].file_name;
}

std::optional<std::size_t> MaildirStore::Folder::index_of(std::uint32_t uid) const {
  auto it = std::lower_bound(list.records.begin(), list.records.end(), uid,
                             [](const maildir::UidRecord& r, std::uint32_t u) { return r.uid < u; });
  if (it == list.records.end() || it->uid != uid) return std::nullopt;
  return static_cast<std::size_t>(it - list.records.begin());
}

Result<std::unique_ptr<MaildirStore>> MaildirStore::open(fs::path root) {
  std::error_code ec;
  fs::create_directories(root, ec);
  if (ec || !fs::is_directory(root, ec)) {
    return make_error(ErrorCategory::io, "cannot use " + root.string() + " as the Maildir root");
  }
  return std::unique_ptr<MaildirStore>(new MaildirStore(std::move(root)));
}

MaildirStore::~MaildirStore() {
  for (auto& [key, folder] : folders_) {
    if (folder.list_unsaved) (void)save(folder);
  }
}

namespace {

MaildirStore::MaildirPaths maildir_paths(const std::string& dir) {
  return {dir, dir + "/cur", dir + "/new", dir + "/tmp"};
}

bool is_maildir(const MaildirStore::MaildirPaths& paths) {
  return is_real_dir(paths.dir.c_str()) && is_real_dir(paths.cur.c_str()) && is_real_dir(paths.new_dir.c_str()) &&
         is_real_dir(paths.tmp.c_str());
}

}  // namespace

Result<fs::path> MaildirStore::home_of(std::string_view user) const {
  auto where = locate(user, kInbox);
  if (!where) return where.error();
  return (*where)->home;
}

Result<MaildirStore::Location> MaildirStore::place_of(std::string_view user, std::string_view mailbox) const {
  std::string memo_key = std::to_string(user.size());
  memo_key += ':';
  memo_key += user;
  memo_key += mailbox;
  if (auto it = places_.find(memo_key); it != places_.end()) return it->second;
  auto parsed = parse_user(user);
  if (!parsed) return parsed.error();
  auto name = canonical_mailbox_name(mailbox);
  if (!name) return name.error();
  std::string dir_name;
  if (*name != kInbox) {
    auto encoded = maildir::folder_dir_name(*name);
    if (!encoded) return encoded.error();
    dir_name = std::move(*encoded);
  }
  auto place = std::make_shared<Place>();
  place->user_key = parsed->key;
  place->name = std::move(*name);
  place->key = folder_key(place->user_key, place->name);
  const fs::path domain = root_ / parsed->domain;
  place->home = domain / parsed->local_part;
  place->dir = dir_name.empty() ? place->home : place->home / dir_name;
  place->domain = domain.native();
  place->home_paths = maildir_paths(place->home.native());
  place->dir_paths = maildir_paths(place->dir.native());
  place->uid_list = place->dir_paths.dir + '/' + kUidList;
  place->keywords = place->dir_paths.dir + '/' + kKeywords;
  if (places_.size() >= kPlacesMax) places_.clear();  // names made up by clients stay bounded
  places_.emplace(std::move(memo_key), place);
  return Location(std::move(place));
}

Result<MaildirStore::Location> MaildirStore::locate(std::string_view user, std::string_view mailbox) const {
  auto where = place_of(user, mailbox);
  if (!where) return where;
  const Place& at = **where;
  if (!is_real_dir(at.domain.c_str()) || !is_maildir(at.home_paths)) return not_found("no such user " + at.user_key);
  return where;
}

Result<fs::path> MaildirStore::mailbox_dir(std::string_view user, std::string_view mailbox) const {
  auto where = locate(user, mailbox);
  if (!where) return where.error();
  if (!is_maildir((*where)->dir_paths)) return not_found("no such mailbox " + (*where)->name);
  return (*where)->dir;
}

MaildirStore::Stamp MaildirStore::stamp_at(const std::string& path) { return stamp_at(AT_FDCWD, path.c_str()); }

MaildirStore::Stamp MaildirStore::stamp_at(int dir_fd, const char* name) {
  struct stat st {};
  const int empty = name[0] == '\0' ? AT_EMPTY_PATH : 0;  // "": the directory dir_fd itself
  if (::fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW | empty) != 0) return {};
  return stamp_of(st);
}

MaildirStore::Stamp MaildirStore::stamp_of(const struct stat& st) {
  Stamp out;
  out.exists = true;
  out.dev = static_cast<std::uint64_t>(st.st_dev);
  out.ino = static_cast<std::uint64_t>(st.st_ino);
  out.size = static_cast<std::uint64_t>(st.st_size);
  out.mtime_ns = ns_of(st.st_mtim);
  out.ctime_ns = ns_of(st.st_ctim);
  return out;
}

MaildirStore::Stamp MaildirStore::quiet_stamp_at(int dir_fd, const char* name) {
  const auto found = durable::identity_at(dir_fd, name);
  return found ? quiet_stamp_of(*found) : Stamp{};
}

MaildirStore::Stamp MaildirStore::quiet_stamp_of(const durable::Identity& found) {
  Stamp out;
  out.exists = true;
  out.quiet = true;
  out.dev = found.dev;
  out.ino = found.ino;
  out.size = found.size;
  return out;
}

std::array<MaildirStore::Stamp, 4> MaildirStore::stamps_of(const Place& place) {
  return {stamp_at(place.dir_paths.new_dir), stamp_at(place.dir_paths.cur), stamp_at(place.uid_list),
          stamp_at(place.keywords)};
}

std::array<MaildirStore::Stamp, 4> MaildirStore::stamps_of(const OpenMaildir& open) {
  return {stamp_at(open.dir.fd, "new"), stamp_at(open.dir.fd, "cur"), stamp_at(open.dir.fd, kUidList),
          stamp_at(open.dir.fd, kKeywords)};
}

std::array<MaildirStore::Stamp, 4> MaildirStore::delivery_stamps_of(const OpenMaildir& open) {
  return {quiet_stamp_at(open.dir.fd, "new"), stamp_at(open.dir.fd, "cur"), quiet_stamp_at(open.dir.fd, kUidList),
          stamp_at(open.dir.fd, kKeywords)};
}

MaildirStore::OpenMaildir::~OpenMaildir() {
  for (const OpenDir* open : {&dir, &tmp, &new_dir, &cur}) {
    if (open->fd >= 0) ::close(open->fd);
  }
}

bool MaildirStore::open_dir(int at, const char* name, OpenDir& out) {
  const int fd = ::openat(at, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return false;
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    return false;
  }
  if (out.fd >= 0) ::close(out.fd);
  out = {fd, static_cast<std::uint64_t>(st.st_dev), static_cast<std::uint64_t>(st.st_ino)};
  return true;
}

MaildirStore::OpenMaildir* MaildirStore::open_maildir(const Place& at, std::array<Stamp, 4>& stamps) const {
  auto same = [](const OpenDir& open, const Stamp& stamp) {
    return stamp.exists && stamp.dev == open.dev && stamp.ino == open.ino;
  };
  auto it = open_maildirs_.find(at.key);
  // Still the directory at its path?  (Another program may have moved it and made a new one there.)
  if (it != open_maildirs_.end() && !same(it->second->dir, quiet_stamp_at(AT_FDCWD, at.dir_paths.dir.c_str()))) {
    open_maildirs_.erase(it);
    it = open_maildirs_.end();
  }
  if (it == open_maildirs_.end()) {
    auto open = std::make_unique<OpenMaildir>();
    if (!open_dir(AT_FDCWD, at.dir_paths.dir.c_str(), open->dir)) return nullptr;
    if (open_maildirs_.size() >= kOpenMaildirsMax) open_maildirs_.erase(open_maildirs_.begin());
    it = open_maildirs_.emplace(at.key, std::move(open)).first;
  }
  OpenMaildir& open = *it->second;
  stamps = delivery_stamps_of(open);
  // new/, cur/ and tmp/ as they are there now (a directory replaced by another program is opened again).
  const bool ok = (same(open.new_dir, stamps[0]) || open_dir(open.dir.fd, "new", open.new_dir)) &&
                  (same(open.cur, stamps[1]) || open_dir(open.dir.fd, "cur", open.cur)) &&
                  (same(open.tmp, quiet_stamp_at(open.dir.fd, "tmp")) || open_dir(open.dir.fd, "tmp", open.tmp));
  if (!ok) {
    open_maildirs_.erase(it);
    return nullptr;
  }
  return &open;
}

void MaildirStore::after_write(Folder& folder, const OpenMaildir* open) const {
  folder.stamps = open != nullptr ? stamps_of(*open) : stamps_of(*folder.place);
  folder.trusted = false;
}

void MaildirStore::forget(std::string_view key_prefix) const {
  for (auto it = open_maildirs_.lower_bound(key_prefix);
       it != open_maildirs_.end() && it->first.starts_with(key_prefix);) {
    it = open_maildirs_.erase(it);
  }
  for (auto it = folders_.lower_bound(key_prefix); it != folders_.end() && it->first.starts_with(key_prefix);) {
    // Deferred UIDs that only the index knows go to disk first (still hidden until their round).
    if (it->second.list_unsaved) (void)save(it->second);
    it = folders_.erase(it);
  }
}

std::uint32_t MaildirStore::shown_below(const Folder& folder) const {
  auto it = hidden_.find(folder.place->key);
  return it == hidden_.end() || it->second.empty() ? folder.list.uid_next : *it->second.begin();
}

std::size_t MaildirStore::shown_count(const Folder& folder) const {
  const std::uint32_t below = shown_below(folder);
  auto end = std::lower_bound(folder.list.records.begin(), folder.list.records.end(), below,
                              [](const maildir::UidRecord& r, std::uint32_t u) { return r.uid < u; });
  return static_cast<std::size_t>(end - folder.list.records.begin());
}

std::size_t MaildirStore::hidden_uids() const {
  std::size_t count = 0;
  for (const auto& [key, uids] : hidden_) count += uids.size();
  return count;
}

void MaildirStore::publish(const std::string& key, const std::vector<std::uint32_t>& uids) {
  auto it = hidden_.find(key);
  if (it == hidden_.end()) return;
  for (std::uint32_t uid : uids) it->second.erase(uid);
  if (it->second.empty()) hidden_.erase(it);
  // One listing by the next reader catches another program's change made in the same instant as ours.
  if (auto folder = folders_.find(key); folder != folders_.end()) folder->second.recheck = true;
  ++change_counter_;
}

Result<void> MaildirStore::seal_deferred() {
  if (deferred_ == nullptr) return make_error(ErrorCategory::invalid_argument, "seal_deferred needs a ledger");
  Result<void> result;
  for (auto& [key, uids] : std::exchange(unsealed_, {})) {
    auto it = folders_.find(key);
    if (it != folders_.end() && it->second.list_unsaved) {
      Folder& folder = it->second;
      const bool was_trusted = folder.trusted;
      std::optional<Stamp> list_stamp;  // dovecot-uidlist once appended to, when known without a path walk
      if (auto saved = save_added(folder, &list_stamp); !saved) {
        if (result) result = saved;
        auto& again = unsealed_[key];
        again.insert(again.end(), uids.begin(), uids.end());
        after_write(folder);
        continue;
      }
      folder.list_unsaved = false;
      if (was_trusted) folder.stamps[2] = list_stamp ? *list_stamp : stamp_at(folder.place->uid_list);
      else after_write(folder);
    }
    // (A folder not in the index, or saved since, has its list on disk already.)
    deferred_->on_synced([this, key = key, uids = std::move(uids)] { publish(key, uids); });
  }
  return result;
}

Result<std::int64_t> MaildirStore::date_of(Folder& folder, std::size_t index) const {
  if (folder.dates[index] != kUnknownDate) return folder.dates[index];
  auto date = mtime_of(folder.path_of(index));
  if (!date) return not_found("message with UID " + std::to_string(folder.list.records[index].uid) + " vanished");
  folder.dates[index] = *date;
  return *date;
}

Result<MaildirStore::Folder*> MaildirStore::open_folder(std::string_view user, std::string_view mailbox) const {
  auto where = locate(user, mailbox);
  if (!where) return where.error();
  const Place& at = **where;
  if (!is_maildir(at.dir_paths)) {
    folders_.erase(at.key);
    return not_found("no such mailbox " + at.name);
  }
  if (auto it = folders_.find(at.key); it != folders_.end() && it->second.recheck) {
    it->second.recheck = false;
    it->second.trusted = false;
  }
  return folder_at(*where);
}

Result<MaildirStore::Folder*> MaildirStore::folder_at(const Location& where, const OpenMaildir* open,
                                                      const std::array<Stamp, 4>* taken) const {
  auto older_than_probe = [&](const std::array<Stamp, 4>& stamps) {
    return std::all_of(stamps.begin(), stamps.end(),
                       [&](const Stamp& st) { return !st.exists || st.ctime_ns < fs_now_ns_; });
  };
  const Place& at = *where;
  const std::string& key = at.key;
  auto stamps_now = [&] { return open != nullptr ? stamps_of(*open) : stamps_of(at); };
  std::array<Stamp, 4> stamps = taken != nullptr ? *taken : stamps_now();
  auto it = folders_.find(key);
  Folder* previous = nullptr;
  if (it != folders_.end()) {  // (its directory is the one its key names)
    const std::array<Stamp, 4>& indexed = it->second.stamps;
    auto current = [&] {
      if (taken == nullptr) return indexed == stamps;
      // A delivery asks only that new/ is still the directory the index knows: files another
      // program put there get their UIDs at the next reader's sync (publish() asks for one).
      return indexed[0].same_file(stamps[0]) && std::equal(indexed.begin() + 1, indexed.end(), stamps.begin() + 1);
    };
    if (it->second.trusted && current()) return &it->second;
    previous = &it->second;
  }
  if (taken != nullptr) stamps = stamps_now();  // a sync keeps full stamps
  if (!older_than_probe(stamps)) {
    if (auto now = probe_fs_time(at.dir_paths.tmp)) fs_now_ns_ = std::max(fs_now_ns_, *now);
    stamps = stamps_now();
  }
  bool wrote_list = false;
  ++syncs_;
  auto synced = sync(where, previous, stamps, wrote_list);
  if (!synced) {
    folders_.erase(key);
    return synced.error();
  }
  std::array<Stamp, 4> after = stamps_now();
  synced->trusted = older_than_probe(stamps) && after[0] == stamps[0] && after[1] == stamps[1] &&
                    after[3] == stamps[3] && (wrote_list || after[2] == stamps[2]);
  synced->stamps = after;
  return &folders_.insert_or_assign(key, std::move(*synced)).first->second;
}

Result<MaildirStore::Folder> MaildirStore::sync(const Location& where, Folder* previous,
                                                const std::array<Stamp, 4>& stamps, bool& wrote_list) const {
  const fs::path& home = where->home;
  const fs::path& dir = where->dir;
  Folder folder;
  folder.place = where;
  bool dirty = false;
  // What the previous index knew: its internal dates, and its uid list and keywords when their files did not change.
  std::unordered_map<std::string, std::int64_t> known_dates;
  if (previous != nullptr) {
    for (std::size_t i = 0; i < previous->list.records.size(); ++i) {
      if (previous->dates[i] == kUnknownDate) continue;
      known_dates.emplace(std::string(maildir::split_file_name(previous->list.records[i].file_name).base),
                          previous->dates[i]);
    }
  }
  bool unsaved = false;
  if (previous != nullptr && stamps[2].exists && previous->stamps[2] == stamps[2]) {
    folder.list = std::move(previous->list);
    unsaved = previous->list_unsaved;  // deferred deliveries only the index knows: keep their UIDs
    folder.records_on_disk = previous->records_on_disk;
    folder.list_bytes = previous->list_bytes;
  } else {
    auto text = durable::read_file(dir / kUidList);
    std::optional<maildir::UidList> parsed;
    if (text) {
      auto list = maildir::parse_uidlist(*text);
      if (list) parsed = std::move(*list);
    } else if (text.error().category != ErrorCategory::not_found) {
      return text.error();
    }
    if (parsed) {
      folder.list = std::move(*parsed);
      folder.records_on_disk = folder.list.torn ? kNotAppendable : folder.list.records.size();
      folder.list_bytes = text->size();
    } else {
      // No (or a broken) uid list: every file gets a new UID under a new UIDVALIDITY.
      auto validity = allocate_uid_validity(home);
      if (!validity) return validity.error();
      folder.list.uid_validity = *validity;
      dirty = true;
    }
  }
  if (previous != nullptr && previous->stamps[3] == stamps[3]) {
    folder.keywords = std::move(previous->keywords);
  } else {
    auto keywords = durable::read_file(dir / kKeywords);
    if (keywords) {
      folder.keywords = maildir::parse_keywords(*keywords);
    } else if (keywords.error().category != ErrorCategory::not_found) {
      return keywords.error();
    }
  }

  std::map<std::string, OnDisk> on_disk;
  if (auto listed = list_messages(dir, on_disk); !listed) return listed.error();
  // A hidden UID's file may not be written yet (deliver() left it to the ledger): it keeps its record until shown.
  const auto hidden = hidden_.find(where->key);
  auto unwritten = [&](const maildir::UidRecord& r) {
    return hidden != hidden_.end() && hidden->second.count(r.uid) > 0;
  };
  auto missing_any = [&] {
    return std::any_of(folder.list.records.begin(), folder.list.records.end(), [&](const maildir::UidRecord& r) {
      return on_disk.count(std::string(maildir::split_file_name(r.file_name).base)) == 0 && !unwritten(r);
    });
  };
  // readdir() may miss a file renamed while it runs (a reader moving new/ to
  // cur/): look once more before deciding that a message is gone.
  if (missing_any()) {
    if (auto listed = list_messages(dir, on_disk); !listed) return listed.error();
  }

  std::vector<maildir::UidRecord> kept;
  for (maildir::UidRecord& record : folder.list.records) {
    const std::string base(maildir::split_file_name(record.file_name).base);
    auto it = on_disk.find(base);
    if (it == on_disk.end()) {
      if (!unwritten(record)) {
        dirty = true;
        continue;
      }
      auto date = known_dates.find(base);
      folder.in_new.push_back(true);
      folder.dates.push_back(date == known_dates.end() ? kUnknownDate : date->second);
      kept.push_back(std::move(record));
      continue;
    }
    if (record.file_name != it->second.name) {
      record.file_name = it->second.name;
      dirty = true;
    }
    folder.in_new.push_back(it->second.in_new);
    auto date = known_dates.find(it->first);
    folder.dates.push_back(date == known_dates.end() ? kUnknownDate : date->second);
    kept.push_back(std::move(record));
    on_disk.erase(it);
  }
  for (auto& [base, found] : on_disk) {
    maildir::UidRecord record;
    record.uid = folder.list.uid_next++;
    record.file_name = found.name;
    if (!maildir::base_field(base, 'W')) {
      auto content = durable::read_file(dir / (found.in_new ? "new" : "cur") / found.name);
      if (!content) continue;
      record.fields.push_back("W" + std::to_string(net::mail::normalize_crlf(*content).size()));
    }
    folder.in_new.push_back(found.in_new);
    folder.dates.push_back(kUnknownDate);
    kept.push_back(std::move(record));
    dirty = true;
  }
  folder.list.records = std::move(kept);
  folder.list_unsaved = unsaved;
  if (dirty) {
    wrote_list = true;
    if (auto saved = save(folder); !saved) return saved.error();
    folder.list_unsaved = false;
    ++change_counter_;
  }
  return folder;
}

Result<void> MaildirStore::save(Folder& folder, durable::SyncLedger* ledger) const {
  ++folder.list.modseq;
  std::string content = maildir::format_uidlist(folder.list);
  folder.records_on_disk = kNotAppendable;
  auto saved = ledger != nullptr ? durable::replace_file_deferred(folder.place->dir, kUidList, content, *ledger)
                                 : durable::replace_file(folder.place->dir, kUidList, content);
  if (!saved) return saved;
  if (ledger == nullptr) folder.list_unsaved = false;
  folder.records_on_disk = folder.list.records.size();
  folder.list_bytes = content.size();
  return saved;
}

Result<void> MaildirStore::save_added(Folder& folder, std::optional<Stamp>* list_stamp) const {
  const std::size_t first = folder.records_on_disk;
  if (first != kNotAppendable && first <= folder.list.records.size()) {
    std::string lines = maildir::format_uidlist_records(folder.list, first);
    const std::string& path = folder.place->uid_list;
    auto append = [&]() -> Result<void> {
      if (deferred_ == nullptr) return durable::append_to_file(path, lines, folder.list_bytes);
      // Relative to the Maildir that append() held open for these deliveries (checked then), if it still does.
      auto open = open_maildirs_.find(folder.place->key);
      if (open == open_maildirs_.end()) {
        return durable::append_to_file_deferred(path, lines, folder.list_bytes, *deferred_);
      }
      durable::Identity after;
      auto done = durable::append_to_file_at_deferred({open->second->dir.fd, folder.place->dir_paths.dir}, kUidList,
                                                       lines, folder.list_bytes, *deferred_, after);
      if (done && list_stamp != nullptr) *list_stamp = quiet_stamp_of(after);
      return done;
    };
    auto appended = append();
    if (appended) {
      folder.list.modseq += folder.list.records.size() - first;  // as a reader counts them (maildir_format.hpp)
      folder.records_on_disk = folder.list.records.size();
      folder.list_bytes += lines.size();
      if (deferred_ == nullptr) folder.list_unsaved = false;
      return appended;
    }
    // Rewritten by someone else (or cut back): rewrite it whole from the index.
    if (appended.error().category != ErrorCategory::exists) return appended;
  }
  return save(folder, deferred_);
}

Result<std::uint64_t> MaildirStore::size_of(const Folder& folder, std::size_t index) const {
  const maildir::UidRecord& record = folder.list.records[index];
  if (auto w = maildir::base_field(maildir::split_file_name(record.file_name).base, 'W')) return *w;
  if (auto w = maildir::record_field(record, 'W')) return *w;
  auto content = durable::read_file(folder.path_of(index));
  if (!content) return content.error();
  return static_cast<std::uint64_t>(net::mail::normalize_crlf(*content).size());
}

Result<std::uint32_t> MaildirStore::allocate_uid_validity(const fs::path& home) const {
  std::uint32_t next = 1;
  auto text = durable::read_file(home / kUidValidity);
  if (text) {
    std::uint32_t value = 0;
    auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), value);
    if (ec == std::errc{} && value != 0) next = value;
  } else if (text.error().category != ErrorCategory::not_found) {
    return text.error();
  }
  if (!text || next == 1) {
    // Start past every UIDVALIDITY already used in this Maildir (RFC 3501 §2.3.1.1).
    std::vector<fs::path> dirs = {home};
    for (const std::string& name : folder_names(home)) dirs.push_back(home / *maildir::folder_dir_name(name));
    for (const fs::path& dir : dirs) {
      auto list_text = durable::read_file(dir / kUidList);
      if (!list_text) continue;
      auto list = maildir::parse_uidlist(*list_text);
      if (list && list->uid_validity >= next) next = list->uid_validity + 1;
    }
  }
  if (auto written = durable::replace_file(home, kUidValidity, std::to_string(next + 1) + "\n"); !written) {
    return written.error();
  }
  return next;
}

Result<void> MaildirStore::make_folder(const fs::path& home, const std::string& name) const {
  auto dir_name = maildir::folder_dir_name(name);
  if (!dir_name) return dir_name.error();
  fs::path staging = home / kStagingDir;
  if (auto removed = remove_tree(staging); !removed) return removed;
  if (auto made = durable::make_dir(staging); !made) return made;
  auto fail = [&](Error error) -> Result<void> {
    (void)remove_tree(staging);
    return error;
  };
  if (auto made = make_maildir_dirs(staging); !made) return fail(made.error());
  if (auto marker = durable::write_new_file(staging / kFolderMarker, ""); !marker) return fail(marker.error());
  auto validity = allocate_uid_validity(home);
  if (!validity) return fail(validity.error());
  maildir::UidList list;
  list.uid_validity = *validity;
  if (auto written = durable::write_new_file(staging / kUidList, maildir::format_uidlist(list)); !written) {
    return fail(written.error());
  }
  if (auto synced = durable::fsync_dir(staging); !synced) return fail(synced.error());
  if (auto moved = durable::rename_durably(staging, home / *dir_name); !moved) return fail(moved.error());
  return {};
}

std::vector<std::string> MaildirStore::folder_names(const fs::path& home) const {
  std::vector<std::string> names;
  std::error_code ec;
  for (fs::directory_iterator it(home, ec); !ec && it != fs::directory_iterator(); it.increment(ec)) {
    std::error_code status_ec;
    if (it->symlink_status(status_ec).type() != fs::file_type::directory) continue;
    auto name = maildir::mailbox_name_of_dir(it->path().filename().string());
    if (name && is_maildir(it->path())) names.push_back(std::move(*name));
  }
  std::sort(names.begin(), names.end());
  return names;
}

Result<std::vector<std::string>> MaildirStore::read_subscriptions(const fs::path& home) const {
  auto text = durable::read_file(home / kSubscriptions);
  if (!text) {
    if (text.error().category == ErrorCategory::not_found) return std::vector<std::string>{};
    return text.error();
  }
  return maildir::parse_subscriptions(*text);
}

Result<void> MaildirStore::write_subscriptions(const fs::path& home, const std::vector<std::string>& names) const {
  return durable::replace_file(home, kSubscriptions, maildir::format_subscriptions(names));
}

Result<std::uint32_t> MaildirStore::deliver(Folder& folder, std::string disk_bytes, std::uint64_t size,
                                            const Flags& flags, std::int64_t internal_date_s, OpenMaildir* open) {
  const bool deferred = deferred_ != nullptr;
  // A deferred delivery that only links a file keeps a trusted index trusted (see the header).
  bool keep_trust = deferred && folder.trusted;
  const bool to_new = flags.empty();
  const MaildirPaths& paths = folder.place->dir_paths;
  const std::string& into = to_new ? paths.new_dir : paths.cur;
  const int into_fd = open == nullptr ? -1 : to_new ? open->new_dir.fd : open->cur.fd;
  OnExit restamp{[&] {
    if (!keep_trust) return after_write(folder, open);
    // new/: its times are left unasked (durable::identity_at); readers go by its identity and size
    // until publish() has the next one list it.  (cur/: fstat of the directory held open, checked just before.)
    if (to_new) folder.stamps[0].quiet = true;
    else folder.stamps[1] = open != nullptr ? stamp_at(into_fd, "") : stamp_at(into);
  }};
  std::vector<std::string> keywords = folder.keywords;
  auto letters = maildir::flags_to_letters(flags, keywords, "");
  if (!letters) return letters.error();
  if (keywords != folder.keywords) {
    keep_trust = false;
    const std::string keyword_lines = maildir::format_keywords(keywords);
    if (auto written = durable::replace_file(folder.place->dir, kKeywords, keyword_lines); !written) {
      return written.error();
    }
    folder.keywords = keywords;
  }
  std::uint32_t uid = folder.list.uid_next;
  std::string base = maildir::our_base_name(internal_date_s, uid, folder.list.uid_validity, disk_bytes.size(), size);
  std::string name = to_new ? base : base + ":2," + *letters;
  const std::string temporary = paths.tmp + '/' + base;
  const std::string target = into + '/' + name;
  std::error_code ignored;
  const durable::DirAt tmp_at{open == nullptr ? -1 : open->tmp.fd, paths.tmp};
  const durable::DirAt into_at{into_fd, into};
  auto write = [&] {
    if (open != nullptr) {
      return deferred ? durable::write_new_file_at_deferred(tmp_at, base, disk_bytes, internal_date_s, *deferred_)
                      : durable::write_new_file_at(tmp_at, base, disk_bytes, internal_date_s);
    }
    return deferred ? durable::write_new_file_deferred(temporary, disk_bytes, internal_date_s, *deferred_)
                    : durable::write_new_file(temporary, disk_bytes, internal_date_s);
  };
  auto link = [&] {
    if (open != nullptr) {
      return deferred ? durable::link_into_place_at_deferred(tmp_at, base, into_at, name, *deferred_)
                      : durable::link_into_place_at(tmp_at, base, into_at, name);
    }
    return deferred ? durable::link_into_place_deferred(temporary, target, *deferred_)
                    : durable::link_into_place(temporary, target);
  };
  if (deferred && to_new && open != nullptr) {
    // Written by whoever syncs the ledger (the lab server's committer thread), before the round that shows the UID.
    if (auto recorded = deferred_->add_unwritten(tmp_at, into_at, base, std::move(disk_bytes), internal_date_s);
        !recorded) {
      return recorded.error();
    }
  } else {
    auto written = write();
    if (!written && written.error().category == ErrorCategory::exists) {
      fs::remove(temporary, ignored);  // a leftover of an earlier failed attempt at this very UID
      written = write();
    }
    if (!written) return written.error();
    if (auto linked = link(); !linked) {
      fs::remove(temporary, ignored);
      return linked.error();
    }
  }
  maildir::UidRecord record;
  record.uid = uid;
  record.file_name = name;
  folder.list.records.push_back(std::move(record));
  folder.in_new.push_back(to_new);
  folder.dates.push_back(internal_date_s);
  folder.list.uid_next = uid + 1;
  if (deferred) {
    // Hidden, and in dovecot-uidlist only at seal_deferred().
    folder.list_unsaved = true;
    unsealed_[folder.place->key].push_back(uid);
    hidden_[folder.place->key].insert(uid);
    ++change_counter_;
    return uid;
  }
  if (auto saved = save_added(folder); !saved) {
    fs::remove(target, ignored);
    (void)durable::fsync_dir(into);
    folder.list.records.pop_back();
    folder.in_new.pop_back();
    folder.dates.pop_back();
    folder.list.uid_next = uid;
    return saved.error();
  }
  ++change_counter_;
  return uid;
}

Result<std::uint64_t> MaildirStore::used_bytes_at(const std::string& user_key, const fs::path& home) const {
  std::vector<std::string> names = folder_names(home);
  names.insert(names.begin(), std::string(kInbox));
  std::uint64_t total = 0;
  for (const std::string& name : names) {
    auto where = place_of(user_key, name);
    if (!where) return where.error();
    auto folder = folder_at(*where);
    if (!folder) return folder.error();
    for (std::size_t i = 0; i < (*folder)->list.records.size(); ++i) {
      auto size = size_of(**folder, i);
      if (size) total += *size;
    }
  }
  return total;
}

Result<void> MaildirStore::check_quota(const std::string& user_key, const fs::path& home, std::uint64_t size) const {
  auto limits = limits_.find(user_key);
  if (limits == limits_.end() || limits->second.quota_bytes == 0) return {};
  auto used = used_bytes_at(user_key, home);
  if (!used) return used.error();
  if (*used + size > limits->second.quota_bytes) return make_error(ErrorCategory::quota, "mailbox quota exceeded");
  return {};
}

Result<void> MaildirStore::ensure_user(std::string_view user) {
  auto parsed = parse_user(user);
  if (!parsed) return parsed.error();
  fs::path domain = root_ / parsed->domain;
  fs::path home = domain / parsed->local_part;
  if (!is_real_dir(domain)) {
    if (auto made = durable::make_dir(domain); !made) return made;
    if (auto synced = durable::fsync_dir(root_); !synced) return synced;
  }
  bool changed = false;
  std::error_code ec;
  if (fs::symlink_status(home, ec).type() == fs::file_type::not_found) {
    // Build the whole Maildir beside its final name, then rename it into place.
    fs::path staging = domain / (".maillab-new-" + parsed->local_part);
    if (auto removed = remove_tree(staging); !removed) return removed;
    if (auto made = durable::make_dir(staging); !made) return made;
    auto fail = [&](Error error) -> Result<void> {
      (void)remove_tree(staging);
      return error;
    };
    if (auto made = make_maildir_dirs(staging); !made) return fail(made.error());
    maildir::UidList list;
    list.uid_validity = 1;
    if (auto written = durable::write_new_file(staging / kUidList, maildir::format_uidlist(list)); !written) {
      return fail(written.error());
    }
    if (auto written = durable::write_new_file(staging / kUidValidity, "2\n"); !written) {
      return fail(written.error());
    }
    if (auto synced = durable::fsync_dir(staging); !synced) return fail(synced.error());
    if (auto moved = durable::rename_durably(staging, home); !moved) return fail(moved.error());
    changed = true;
  } else if (!is_real_dir(home)) {
    return make_error(ErrorCategory::permission, "the Maildir of " + parsed->key + " is not a directory");
  } else if (!is_maildir(home)) {
    if (auto made = make_maildir_dirs(home); !made) return made;
  }
  auto subscriptions = read_subscriptions(home);
  if (!subscriptions) return subscriptions.error();
  std::set<std::string> subscribed(subscriptions->begin(), subscriptions->end());
  bool subscriptions_changed = false;
  if (changed) subscriptions_changed = subscribed.insert(std::string(kInbox)).second;
  for (std::string_view special : kSpecialMailboxes) {
    std::string name(special);
    if (is_maildir(home / *maildir::folder_dir_name(name))) continue;
    if (auto made = make_folder(home, name); !made) return made;
    subscriptions_changed = subscribed.insert(name).second || subscriptions_changed;
    changed = true;
  }
  if (subscriptions_changed) {
    if (auto written = write_subscriptions(home, {subscribed.begin(), subscribed.end()}); !written) return written;
  }
  remove_our_tmp_files(home);
  if (remove_torn_deliveries(home)) changed = true;
  for (const std::string& name : folder_names(home)) remove_our_tmp_files(home / *maildir::folder_dir_name(name));
  if (changed) forget(folder_key(parsed->key, ""));
  if (changed || subscriptions_changed) ++change_counter_;
  return {};
}

bool MaildirStore::has_user(std::string_view user) const { return locate(user, kInbox).ok(); }

Result<void> MaildirStore::set_limits(std::string_view user, StoreLimits limits) {
  auto home = home_of(user);
  if (!home) return home.error();
  limits_[parse_user(user)->key] = limits;
  return {};
}

Result<std::uint64_t> MaildirStore::used_bytes(std::string_view user) const {
  auto home = home_of(user);
  if (!home) return home.error();
  return used_bytes_at(parse_user(user)->key, *home);
}

Result<std::vector<MailboxInfo>> MaildirStore::list_mailboxes(std::string_view user) const {
  auto home = home_of(user);
  if (!home) return home.error();
  std::vector<std::string> names = folder_names(*home);
  names.insert(names.begin(), std::string(kInbox));
  auto subscriptions = read_subscriptions(*home);
  if (!subscriptions) return subscriptions.error();
  std::set<std::string> sorted(names.begin(), names.end());
  std::vector<MailboxInfo> out;
  for (const std::string& name : names) {
    MailboxInfo info;
    info.name = name;
    info.special_use = special_use_of(name);
    info.subscribed = std::binary_search(subscriptions->begin(), subscriptions->end(), name);
    auto child = sorted.lower_bound(name + "/");
    info.has_children = child != sorted.end() && is_within(*child, name);
    out.push_back(std::move(info));
  }
  return out;
}

Result<void> MaildirStore::create_mailbox(std::string_view user, std::string_view name) {
  auto located = locate(user, name);
  if (!located) return located.error();
  const Location where = *located;
  forget(folder_key(where->user_key, ""));
  if (where->name == kInbox || is_maildir(where->dir)) {
    return make_error(ErrorCategory::exists, "mailbox " + where->name + " already exists");
  }
  // RFC 3501 §6.3.3: create the superior hierarchical names that are missing.
  for (std::size_t slash = where->name.find('/'); slash != std::string::npos;
       slash = where->name.find('/', slash + 1)) {
    std::string parent = where->name.substr(0, slash);
    if (parent == kInbox || is_maildir(where->home / *maildir::folder_dir_name(parent))) continue;
    if (auto made = make_folder(where->home, parent); !made) return made;
  }
  if (auto made = make_folder(where->home, where->name); !made) return made;
  ++change_counter_;
  return {};
}

Result<void> MaildirStore::delete_mailbox(std::string_view user, std::string_view name) {
  auto located = locate(user, name);
  if (!located) return located.error();
  const Location where = *located;
  forget(folder_key(where->user_key, ""));
  if (where->name == kInbox) {
    return make_error(ErrorCategory::invalid_argument, "INBOX cannot be deleted (RFC 3501 §6.3.4)");
  }
  if (!is_maildir(where->dir)) return not_found("no such mailbox " + where->name);
  for (const std::string& other : folder_names(where->home)) {
    if (other != where->name && is_within(other, where->name)) {
      return make_error(ErrorCategory::invalid_argument, "mailbox " + where->name + " has children");
    }
  }
  // Move it out of sight first, so a crash never leaves half a mailbox listed.
  fs::path trash = where->home / kTrashDir;
  if (auto removed = remove_tree(trash); !removed) return removed;
  if (auto moved = durable::rename_durably(where->dir, trash); !moved) return moved;
  if (auto removed = remove_tree(trash); !removed) return removed;
  ++change_counter_;
  return {};
}

Result<void> MaildirStore::rename_mailbox(std::string_view user, std::string_view from, std::string_view to) {
  auto located_source = locate(user, from);
  if (!located_source) return located_source.error();
  const Location source = *located_source;
  auto located_target = locate(user, to);
  if (!located_target) return located_target.error();
  const Location target = *located_target;
  const fs::path& home = source->home;
  std::string user_prefix = folder_key(source->user_key, "");
  forget(user_prefix);
  OnExit forget_all{[&] { forget(user_prefix); }};
  if (!is_maildir(source->dir)) return not_found("no such mailbox " + source->name);
  if (target->name == kInbox || is_maildir(target->dir)) {
    return make_error(ErrorCategory::exists, "mailbox " + target->name + " already exists");
  }
  if (source->name != kInbox && is_within(target->name, source->name)) {
    return make_error(ErrorCategory::invalid_argument, "cannot rename a mailbox into itself");
  }
  std::vector<std::pair<std::string, std::string>> moves;  // old name, new name
  if (source->name != kInbox) {
    for (const std::string& name : folder_names(home)) {
      if (!is_within(name, source->name)) continue;
      std::string renamed = target->name + name.substr(source->name.size());
      auto dir_name = maildir::folder_dir_name(renamed);
      if (!dir_name) return dir_name.error();
      if (is_maildir(home / *dir_name)) {
        return make_error(ErrorCategory::exists, "mailbox " + renamed + " already exists");
      }
      moves.emplace_back(name, std::move(renamed));
    }
  }
  for (std::size_t slash = target->name.find('/'); slash != std::string::npos;
       slash = target->name.find('/', slash + 1)) {
    std::string parent = target->name.substr(0, slash);
    if (parent == kInbox || is_maildir(home / *maildir::folder_dir_name(parent))) continue;
    if (auto made = make_folder(home, parent); !made) return made;
  }
  if (source->name == kInbox) {
    // RFC 3501 §6.3.5: the messages move to the new mailbox, INBOX stays (empty).
    if (auto made = make_folder(home, target->name); !made) return made;
    auto opened_inbox = folder_at(source);
    if (!opened_inbox) return opened_inbox.error();
    auto opened_moved = folder_at(target);
    if (!opened_moved) return opened_moved.error();
    Folder* inbox = *opened_inbox;
    Folder* moved = *opened_moved;
    for (std::size_t i = 0; i < inbox->list.records.size(); ++i) {
      fs::path path = inbox->path_of(i);
      auto content = durable::read_file(path);
      auto size = size_of(*inbox, i);
      auto date = mtime_of(path);
      if (!content || !size || !date) continue;
      Flags flags = maildir::letters_to_flags(maildir::split_file_name(inbox->list.records[i].file_name).letters,
                                              inbox->keywords);
      auto delivered = deliver(*moved, std::move(*content), *size, flags, *date);
      if (!delivered) return delivered.error();
      std::error_code ignored;
      fs::remove(path, ignored);
    }
    (void)durable::fsync_dir(home / "new");
    (void)durable::fsync_dir(home / "cur");
    inbox->list.records.clear();
    inbox->in_new.clear();
    inbox->dates.clear();
    if (auto saved = save(*inbox); !saved) return saved;
    ++change_counter_;
    return {};
  }
  for (const auto& [old_name, new_name] : moves) {
    fs::path old_dir = home / *maildir::folder_dir_name(old_name);
    fs::path new_dir = home / *maildir::folder_dir_name(new_name);
    if (auto moved = durable::rename_durably(old_dir, new_dir); !moved) return moved;
  }
  auto subscriptions = read_subscriptions(home);
  if (!subscriptions) return subscriptions.error();
  std::set<std::string> renamed;
  bool subscriptions_changed = false;
  for (const std::string& name : *subscriptions) {
    if (is_within(name, source->name)) {
      renamed.insert(target->name + name.substr(source->name.size()));
      subscriptions_changed = true;
    } else {
      renamed.insert(name);
    }
  }
  if (subscriptions_changed) {
    if (auto written = write_subscriptions(home, {renamed.begin(), renamed.end()}); !written) return written;
  }
  ++change_counter_;
  return {};
}

Result<void> MaildirStore::set_subscribed(std::string_view user, std::string_view name, bool subscribed) {
  auto located = locate(user, name);
  if (!located) return located.error();
  const Location where = *located;
  auto subscriptions = read_subscriptions(where->home);
  if (!subscriptions) return subscriptions.error();
  std::set<std::string> names(subscriptions->begin(), subscriptions->end());
  bool changed = subscribed ? names.insert(where->name).second : names.erase(where->name) != 0;
  if (!changed) return {};
  if (auto written = write_subscriptions(where->home, {names.begin(), names.end()}); !written) return written;
  ++change_counter_;
  return {};
}

Result<MailboxStatus> MaildirStore::status(std::string_view user, std::string_view mailbox) const {
  auto opened = open_folder(user, mailbox);
  if (!opened) return opened.error();
  const Folder& folder = **opened;
  const std::size_t shown = shown_count(folder);
  MailboxStatus out;
  out.uid_validity = folder.list.uid_validity;
  out.uid_next = shown_below(folder);
  out.modseq = folder.list.modseq;
  out.messages = static_cast<std::uint32_t>(shown);
  for (std::size_t i = 0; i < shown; ++i) {
    std::string_view letters = maildir::split_file_name(folder.list.records[i].file_name).letters;
    if (letters.find('S') == std::string_view::npos) ++out.unseen;
  }
  return out;
}

Result<std::vector<MessageMeta>> MaildirStore::messages(std::string_view user, std::string_view mailbox) const {
  auto opened = open_folder(user, mailbox);
  if (!opened) return opened.error();
  Folder& folder = **opened;
  const std::size_t shown = shown_count(folder);
  std::vector<MessageMeta> out;
  out.reserve(shown);
  for (std::size_t i = 0; i < shown; ++i) {
    const maildir::UidRecord& record = folder.list.records[i];
    auto date = date_of(folder, i);
    auto size = size_of(folder, i);
    if (!date || !size) continue;  // removed by another program since the sync
    MessageMeta meta;
    meta.uid = record.uid;
    meta.flags = maildir::letters_to_flags(maildir::split_file_name(record.file_name).letters, folder.keywords);
    meta.internal_date_s = *date;
    meta.size = *size;
    out.push_back(std::move(meta));
  }
  return out;
}

Result<std::string> MaildirStore::read(std::string_view user, std::string_view mailbox, std::uint32_t uid) const {
  auto parsed = parse_user(user);
  if (!parsed) return parsed.error();
  auto name = canonical_mailbox_name(mailbox);
  if (!name) return name.error();
  // The index as it is, unchecked: a file name it knows holds that message, or is gone.
  if (auto it = folders_.find(folder_key(parsed->key, *name)); it != folders_.end()) {
    if (uid >= shown_below(it->second)) return not_found("no message with UID " + std::to_string(uid));
    if (auto index = it->second.index_of(uid)) {
      auto content = read_message_file(it->second.path_of(*index));
      if (content || content.error().category != ErrorCategory::not_found) return content;
    }
    it->second.trusted = false;
  }
  for (int attempt = 0;; ++attempt) {
    auto folder = open_folder(user, mailbox);
    if (!folder) return folder.error();
    auto index = uid < shown_below(**folder) ? (*folder)->index_of(uid) : std::nullopt;
    if (!index) return not_found("no message with UID " + std::to_string(uid));
    auto content = read_message_file((*folder)->path_of(*index));
    if (content) return content;
    // Renamed by another reader between the sync and the open: sync again.
    if (content.error().category != ErrorCategory::not_found || attempt == 1) return content.error();
    (*folder)->trusted = false;
  }
}

Result<std::uint32_t> MaildirStore::append(std::string_view user, std::string_view mailbox, std::string_view data,
                                           const Flags& flags, std::int64_t internal_date_s) {
  auto where = place_of(user, mailbox);
  if (!where) return where.error();
  const Place& at = **where;
  auto canonical = canonical_flags(flags);
  if (!canonical) return canonical.error();
  // locate() and open_folder()'s checks, with the Maildir's directories held
  // open: its path and its domain's walked once each, the rest relative to it.
  std::array<Stamp, 4> stamps;
  const bool domain_found = is_real_dir(at.domain.c_str());
  OpenMaildir* open = domain_found ? open_maildir(at, stamps) : nullptr;
  if (open == nullptr || (at.name != kInbox && !is_maildir(at.home_paths))) {
    if (!domain_found || !is_maildir(at.home_paths)) return not_found("no such user " + at.user_key);
    if (at.name != kInbox && !is_maildir(at.dir_paths)) {
      folders_.erase(at.key);
      return not_found("no such mailbox " + at.name);
    }
    // (A Maildir after all, that could not be opened: delivered by its paths.)
  }
  auto folder = open != nullptr ? folder_at(*where, open, &stamps) : folder_at(*where);
  if (!folder) return folder.error();
  std::size_t line_breaks = 0;
  std::string disk_bytes = maildir::lf_form(data, line_breaks);
  const std::uint64_t size = disk_bytes.size() + line_breaks;  // the CRLF form's octets (RFC822.SIZE)
  // check_quota may sync this folder again: the node (and so the pointer) stays, unless it fails.
  if (auto allowed = check_quota(at.user_key, at.home, size); !allowed) return allowed.error();
  return deliver(**folder, std::move(disk_bytes), size, *canonical, internal_date_s, open);
}

Result<void> MaildirStore::set_flags(std::string_view user, std::string_view mailbox, std::uint32_t uid,
                                     const Flags& flags) {
  auto canonical = canonical_flags(flags);
  if (!canonical) return canonical.error();
  auto opened = open_folder(user, mailbox);
  if (!opened) return opened.error();
  Folder& folder = **opened;
  auto index = uid < shown_below(folder) ? folder.index_of(uid) : std::nullopt;
  if (!index) return not_found("no message with UID " + std::to_string(uid));
  maildir::UidRecord& record = folder.list.records[*index];
  maildir::FileName parts = maildir::split_file_name(record.file_name);
  if (maildir::letters_to_flags(parts.letters, folder.keywords) == *canonical) return {};
  OnExit restamp{[&] { after_write(folder); }};
  std::vector<std::string> keywords = folder.keywords;
  auto letters = maildir::flags_to_letters(*canonical, keywords, parts.letters);
  if (!letters) return letters.error();
  if (keywords != folder.keywords) {
    const std::string keyword_lines = maildir::format_keywords(keywords);
    if (auto written = durable::replace_file(folder.place->dir, kKeywords, keyword_lines); !written) {
      return written;
    }
    folder.keywords = keywords;
  }
  std::string name = std::string(parts.base) + ":2," + *letters + std::string(parts.tail);
  fs::path from = folder.path_of(*index);
  fs::path to = folder.place->dir / "cur" / name;
  if (auto moved = durable::rename_durably(from, to); !moved) return moved;
  record.file_name = name;
  folder.in_new[*index] = false;
  if (auto saved = save(folder); !saved) return saved;
  ++change_counter_;
  return {};
}

Result<void> MaildirStore::expunge(std::string_view user, std::string_view mailbox,
                                   std::span<const std::uint32_t> uids) {
  auto opened = open_folder(user, mailbox);
  if (!opened) return opened.error();
  Folder& folder = **opened;
  std::vector<bool> gone(folder.list.records.size(), false);
  bool changed = false;
  OnExit restamp{[&] {
    if (changed) after_write(folder);
  }};
  const std::uint32_t shown_below_uid = shown_below(folder);
  for (std::uint32_t uid : uids) {
    auto index = uid < shown_below_uid ? folder.index_of(uid) : std::nullopt;
    if (!index || gone[*index]) continue;
    std::error_code ec;
    fs::remove(folder.path_of(*index), ec);
    if (ec) return make_error(ErrorCategory::io, "remove " + folder.path_of(*index).string() + ": " + ec.message());
    gone[*index] = true;
    changed = true;
  }
  if (!changed) return {};
  for (const char* sub : {"new", "cur"}) {
    if (auto synced = durable::fsync_dir(folder.place->dir / sub); !synced) return synced;
  }
  std::vector<maildir::UidRecord> kept;
  std::vector<bool> in_new;
  std::vector<std::int64_t> dates;
  for (std::size_t i = 0; i < gone.size(); ++i) {
    if (gone[i]) continue;
    kept.push_back(std::move(folder.list.records[i]));
    in_new.push_back(folder.in_new[i]);
    dates.push_back(folder.dates[i]);
  }
  folder.list.records = std::move(kept);
  folder.in_new = std::move(in_new);
  folder.dates = std::move(dates);
  if (auto saved = save(folder); !saved) return saved;
  ++change_counter_;
  return {};
}

Result<std::uint32_t> MaildirStore::copy(std::string_view user, std::string_view from, std::uint32_t uid,
                                         std::string_view to) {
  auto opened = open_folder(user, from);
  if (!opened) return opened.error();
  auto located_to = locate(user, to);
  if (!located_to) return located_to.error();
  const Location target_where = *located_to;
  Folder& source = **opened;
  auto index = uid < shown_below(source) ? source.index_of(uid) : std::nullopt;
  if (!index) return not_found("no message with UID " + std::to_string(uid));
  fs::path path = source.path_of(*index);
  auto content = durable::read_file(path);
  if (!content) return content.error();
  auto size = size_of(source, *index);
  if (!size) return size.error();
  auto date = mtime_of(path);
  if (!date) return not_found("message with UID " + std::to_string(uid) + " vanished");
  Flags flags = maildir::letters_to_flags(maildir::split_file_name(source.list.records[*index].file_name).letters,
                                          source.keywords);
  auto target = open_folder(user, to);
  if (!target) return target.error();
  if (auto allowed = check_quota(target_where->user_key, target_where->home, *size); !allowed) {
    return allowed.error();
  }
  return deliver(**target, std::move(*content), *size, flags, *date);
}

}  // namespace maillab::sim
