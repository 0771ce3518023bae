#include "sim/store/durable_file.hpp"

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

namespace maillab::sim::durable {
namespace {

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  // Closes now, reporting the error close() gives (it can carry a deferred write error).
  int close() {
    int result = ::close(fd_);
    fd_ = -1;
    return result;
  }

 private:
  int fd_;
};

Result<void> write_all(int fd, std::string_view content, const std::string& path) {
  while (!content.empty()) {
    ssize_t written = ::write(fd, content.data(), content.size());
    if (written < 0) {
      if (errno == EINTR) continue;
      return errno_error("write", path, errno);
    }
    content.remove_prefix(static_cast<std::size_t>(written));
  }
  return {};
}

// rename(2) that never replaces an existing `to`: one renameat2(RENAME_NOREPLACE),
// or link + unlink where the file system lacks the flag (EINVAL) or the kernel
// the call (ENOSYS).  -1 with errno set when nothing was moved.
int rename_no_replace(int from_dir, const char* from, int to_dir, const char* to) {
  if (::renameat2(from_dir, from, to_dir, to, RENAME_NOREPLACE) == 0) return 0;
  if (errno != EINVAL && errno != ENOSYS) return -1;
  if (::linkat(from_dir, from, to_dir, to, 0) != 0) return -1;
  ::unlinkat(from_dir, from, 0);
  return 0;
}

// The directory part of a path made by joining, as std::filesystem::path::parent_path gives it.
std::string parent_of(const std::string& path) {
  const std::size_t slash = path.rfind('/');
  if (slash == std::string::npos) return {};
  return path.substr(0, slash == 0 ? 1 : slash);
}

}  // namespace

Error errno_error(std::string_view operation, const std::filesystem::path& path, int error_number) {
  ErrorCategory category = error_number == ENOENT   ? ErrorCategory::not_found
                           : error_number == EEXIST ? ErrorCategory::exists
                                                    : ErrorCategory::io;
  std::string message = std::string(operation) + " " + path.string() + ": " + std::strerror(error_number);
  if (error_number == ENOSPC || error_number == EDQUOT) message += " (disk full)";
  return make_error(category, std::move(message));
}

Result<std::string> read_file(const std::filesystem::path& path) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (fd.get() < 0) return errno_error("open", path, errno);
  std::string content;
  char buffer[65536];
  while (true) {
    ssize_t got = ::read(fd.get(), buffer, sizeof buffer);
    if (got < 0) {
      if (errno == EINTR) continue;
      return errno_error("read", path, errno);
    }
    if (got == 0) break;
    content.append(buffer, static_cast<std::size_t>(got));
  }
  return content;
}

Result<void> fsync_dir(const std::filesystem::path& dir) {
  Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (fd.get() < 0) return errno_error("open", dir, errno);
  if (::fsync(fd.get()) != 0) return errno_error("fsync", dir, errno);
  return {};
}

std::optional<Identity> identity_at(int dir_fd, const char* name) {
  struct statx found {};
  const int empty = name[0] == '\0' ? AT_EMPTY_PATH : 0;
  if (::statx(dir_fd, name, AT_SYMLINK_NOFOLLOW | empty, STATX_TYPE | STATX_INO | STATX_SIZE, &found) != 0) {
    return std::nullopt;
  }
  Identity out;
  out.dev = makedev(found.stx_dev_major, found.stx_dev_minor);  // as st_dev
  out.ino = found.stx_ino;
  out.size = found.stx_size;
  out.is_dir = S_ISDIR(found.stx_mode);
  return out;
}

namespace {

// Creates `name` in the directory `dir_fd` (AT_FDCWD: `name` is the path),
// writes `content` and sets the modification time; the file stays open.  On
// failure the file is removed.  `path` names it in errors.
Result<int> create_and_write_at(int dir_fd, const char* name, const std::string& path, std::string_view content,
                                std::optional<std::int64_t> mtime_s) {
  const int fd = ::openat(dir_fd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return errno_error("create", path, errno);
  auto fail = [&](Error error) -> Result<int> {
    ::close(fd);
    ::unlinkat(dir_fd, name, 0);
    return error;
  };
  if (auto written = write_all(fd, content, path); !written) return fail(written.error());
  if (mtime_s) {
    struct timespec times[2];
    times[0].tv_sec = 0;
    times[0].tv_nsec = UTIME_OMIT;
    times[1].tv_sec = static_cast<time_t>(*mtime_s);
    times[1].tv_nsec = 0;
    if (::futimens(fd, times) != 0) return fail(errno_error("futimens", path, errno));
  }
  return fd;
}

Result<int> create_and_write(const std::string& path, std::string_view content,
                             std::optional<std::int64_t> mtime_s) {
  return create_and_write_at(AT_FDCWD, path.c_str(), path, content, mtime_s);
}

// Opens `path` for appending and writes `content` at its end, if it is still
// `expected_size` long; the file stays open.
// `name` is relative to `dir_fd` (AT_FDCWD: name is path).  `after` (when
// given) gets the file's identity with the size the append gave it.
Result<int> open_and_append(int dir_fd, const char* name, const std::string& path, std::string_view content,
                            std::uint64_t expected_size, Identity* after = nullptr) {
  const int fd = ::openat(dir_fd, name, O_WRONLY | O_APPEND | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return errno_error("open", path, errno);
  const auto found = identity_at(fd, "");
  if (!found) {
    const int error_number = errno;
    ::close(fd);
    return errno_error("statx", path, error_number);
  }
  if (found->size != expected_size) {
    ::close(fd);
    return make_error(ErrorCategory::exists, path + " changed under us (" + std::to_string(found->size) +
                                                 " octets, " + std::to_string(expected_size) + " expected)");
  }
  if (auto written = write_all(fd, content, path); !written) {
    (void)::ftruncate(fd, static_cast<off_t>(expected_size));
    ::close(fd);
    return written.error();
  }
  if (after != nullptr) {
    *after = *found;
    after->size = expected_size + content.size();  // all of it, appended (O_APPEND)
  }
  return fd;
}

}  // namespace

Result<void> append_to_file(const std::string& path, std::string_view content, std::uint64_t expected_size) {
  auto opened = open_and_append(AT_FDCWD, path.c_str(), path, content, expected_size);
  if (!opened) return opened.error();
  Fd fd(*opened);
  if (::fdatasync(fd.get()) != 0) {
    const int error_number = errno;
    (void)::ftruncate(fd.get(), static_cast<off_t>(expected_size));
    return errno_error("fdatasync", path, error_number);
  }
  if (fd.close() != 0) return errno_error("close", path, errno);
  return {};
}

Result<void> append_to_file_deferred(const std::string& path, std::string_view content,
                                     std::uint64_t expected_size, SyncLedger& ledger) {
  auto opened = open_and_append(AT_FDCWD, path.c_str(), path, content, expected_size);
  if (!opened) return opened.error();
  ledger.add_file(*opened, path);
  return {};
}

namespace {

Result<void> write_new_file_in(int dir_fd, const char* name, const std::string& path, std::string_view content,
                               std::optional<std::int64_t> mtime_s) {
  auto created = create_and_write_at(dir_fd, name, path, content, mtime_s);
  if (!created) return created.error();
  Fd fd(*created);
  if (::fsync(fd.get()) != 0) {
    const int error_number = errno;
    fd.close();
    ::unlinkat(dir_fd, name, 0);
    return errno_error("fsync", path, error_number);
  }
  if (fd.close() != 0) {
    int error_number = errno;
    ::unlinkat(dir_fd, name, 0);
    return errno_error("close", path, error_number);
  }
  return {};
}

// A descriptor of `dir`'s own (close-on-exec), for a ledger that outlives the caller's.
Result<int> duplicate(DirAt dir) {
  const int copy = ::fcntl(dir.fd, F_DUPFD_CLOEXEC, 0);
  if (copy < 0) return errno_error("dup", dir.path, errno);
  return copy;
}

std::string path_in(const DirAt& dir, std::string_view name) {
  std::string path;
  path.reserve(dir.path.size() + 1 + name.size());
  path += dir.path;
  path += '/';
  path += name;
  return path;
}

}  // namespace

Result<void> append_to_file_at_deferred(DirAt dir, std::string_view name, std::string_view content,
                                        std::uint64_t expected_size, SyncLedger& ledger, Identity& after) {
  std::string path = path_in(dir, name);
  auto opened = open_and_append(dir.fd, path.c_str() + dir.path.size() + 1, path, content, expected_size, &after);
  if (!opened) return opened.error();
  ledger.add_file(*opened, std::move(path));
  return {};
}

Result<void> write_new_file(const std::string& path, std::string_view content,
                            std::optional<std::int64_t> mtime_s) {
  return write_new_file_in(AT_FDCWD, path.c_str(), path, content, mtime_s);
}

Result<void> write_new_file_at(DirAt dir, std::string_view name, std::string_view content,
                               std::optional<std::int64_t> mtime_s) {
  const std::string path = path_in(dir, name);
  return write_new_file_in(dir.fd, path.c_str() + dir.path.size() + 1, path, content, mtime_s);
}

Result<void> write_new_file_at_deferred(DirAt dir, std::string_view name, std::string_view content,
                                        std::optional<std::int64_t> mtime_s, SyncLedger& ledger) {
  std::string path = path_in(dir, name);
  auto created = create_and_write_at(dir.fd, path.c_str() + dir.path.size() + 1, path, content, mtime_s);
  if (!created) return created.error();
  ledger.add_new_file(*created, std::move(path));
  return {};
}

Result<void> write_new_file_deferred(const std::string& path, std::string_view content,
                                     std::optional<std::int64_t> mtime_s, SyncLedger& ledger) {
  auto created = create_and_write(path, content, mtime_s);
  if (!created) return created.error();
  ledger.add_new_file(*created, path);
  return {};
}

Result<void> replace_file_deferred(const std::filesystem::path& dir, std::string_view name, std::string_view content,
                                   SyncLedger& ledger) {
  std::filesystem::path target = dir / std::string(name);
  std::filesystem::path temporary = dir / (std::string(name) + ".lock");
  ::unlink(temporary.c_str());  // a stale lock left by a crash
  auto created = create_and_write(temporary, content, std::nullopt);
  if (!created) return created.error();
  if (::rename(temporary.c_str(), target.c_str()) != 0) {
    int error_number = errno;
    ::close(*created);
    ::unlink(temporary.c_str());
    return errno_error("rename", temporary, error_number);
  }
  ledger.add_file(*created, target);
  return ledger.add_dir(dir);
}

Result<void> link_into_place_deferred(const std::string& from, const std::string& to, SyncLedger& ledger) {
  if (auto dir = ledger.add_dir(parent_of(to)); !dir) return dir;
  if (rename_no_replace(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str()) != 0) return errno_error("rename", to, errno);
  return {};
}

Result<void> replace_file(const std::filesystem::path& dir, std::string_view name, std::string_view content) {
  std::filesystem::path target = dir / std::string(name);
  std::filesystem::path temporary = dir / (std::string(name) + ".lock");
  ::unlink(temporary.c_str());  // a stale lock left by a crash
  if (auto written = write_new_file(temporary, content); !written) return written;
  if (::rename(temporary.c_str(), target.c_str()) != 0) {
    int error_number = errno;
    ::unlink(temporary.c_str());
    return errno_error("rename", temporary, error_number);
  }
  return fsync_dir(dir);
}

Result<void> link_into_place(const std::string& from, const std::string& to) {
  if (rename_no_replace(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str()) != 0) return errno_error("rename", to, errno);
  if (auto synced = fsync_dir(parent_of(to)); !synced) {
    ::unlink(to.c_str());
    return synced;
  }
  return {};
}

Result<void> link_into_place_at(DirAt from_dir, const std::string& from, DirAt to_dir, const std::string& to) {
  if (rename_no_replace(from_dir.fd, from.c_str(), to_dir.fd, to.c_str()) != 0) {
    return errno_error("rename", path_in(to_dir, to), errno);
  }
  if (::fsync(to_dir.fd) != 0) {
    const int error_number = errno;
    ::unlinkat(to_dir.fd, to.c_str(), 0);
    return errno_error("fsync", to_dir.path, error_number);
  }
  return {};
}

Result<void> link_into_place_at_deferred(DirAt from_dir, const std::string& from, DirAt to_dir,
                                         const std::string& to, SyncLedger& ledger) {
  if (auto dir = ledger.add_dir(to_dir.path, to_dir.fd); !dir) return dir;
  if (rename_no_replace(from_dir.fd, from.c_str(), to_dir.fd, to.c_str()) != 0) {
    return errno_error("rename", path_in(to_dir, to), errno);
  }
  return {};
}

Result<void> rename_durably(const std::filesystem::path& from, const std::filesystem::path& to) {
  if (::rename(from.c_str(), to.c_str()) != 0) return errno_error("rename", from, errno);
  if (auto synced = fsync_dir(to.parent_path()); !synced) return synced;
  if (from.parent_path() != to.parent_path()) return fsync_dir(from.parent_path());
  return {};
}

Result<void> make_dir(const std::filesystem::path& dir) {
  if (::mkdir(dir.c_str(), 0700) != 0) return errno_error("mkdir", dir, errno);
  return {};
}

SyncLedger::SyncLedger(SyncLedger&& other) noexcept
    : files_(std::exchange(other.files_, {})),
      new_files_(std::exchange(other.new_files_, {})),
      dirs_(std::exchange(other.dirs_, {})),
      on_synced_(std::exchange(other.on_synced_, {})),
      unwritten_(std::exchange(other.unwritten_, {})) {}

SyncLedger& SyncLedger::operator=(SyncLedger&& other) noexcept {
  if (this != &other) {
    close_all();
    files_ = std::exchange(other.files_, {});
    new_files_ = std::exchange(other.new_files_, {});
    dirs_ = std::exchange(other.dirs_, {});
    on_synced_ = std::exchange(other.on_synced_, {});
    unwritten_ = std::exchange(other.unwritten_, {});
  }
  return *this;
}

SyncLedger::~SyncLedger() { close_all(); }

void SyncLedger::close_all() {
  for (auto& entry : files_) ::close(entry.fd);
  for (auto& entry : new_files_) ::close(entry.fd);
  for (auto& entry : dirs_) ::close(entry.fd);
  files_.clear();
  new_files_.clear();
  dirs_.clear();
  unwritten_.clear();
}

SyncLedger::HeldDir::~HeldDir() { ::close(fd); }

Result<std::shared_ptr<const SyncLedger::HeldDir>> SyncLedger::hold(DirAt dir,
                                                                    const std::shared_ptr<const HeldDir>& last) {
  if (last != nullptr && last->path == dir.path) return last;
  auto copy = duplicate(dir);
  if (!copy) return copy.error();
  return std::shared_ptr<const HeldDir>(std::make_shared<HeldDir>(dir.path, *copy));
}

Result<void> SyncLedger::add_unwritten(DirAt tmp, DirAt into, std::string name, std::string content,
                                       std::int64_t mtime_s) {
  if (auto dir = add_dir(into.path, into.fd); !dir) return dir;
  const Unwritten* last = unwritten_.empty() ? nullptr : &unwritten_.back();
  auto tmp_held = hold(tmp, last != nullptr ? last->tmp : nullptr);
  if (!tmp_held) return tmp_held.error();
  auto into_held = hold(into, last != nullptr ? last->into : nullptr);
  if (!into_held) return into_held.error();
  unwritten_.push_back(
      {std::move(tmp_held).value(), std::move(into_held).value(), std::move(name), std::move(content), mtime_s});
  return {};
}

Result<void> SyncLedger::write(const Unwritten& file) {
  const DirAt tmp{file.tmp->fd, file.tmp->path};
  const DirAt into{file.into->fd, file.into->path};
  auto written = write_new_file_at_deferred(tmp, file.name, file.content, file.mtime_s, *this);
  if (!written && written.error().category == ErrorCategory::exists) {
    ::unlinkat(tmp.fd, file.name.c_str(), 0);  // a leftover of an earlier failed attempt at this very name
    written = write_new_file_at_deferred(tmp, file.name, file.content, file.mtime_s, *this);
  }
  if (!written) return written;
  if (auto linked = link_into_place_at_deferred(tmp, file.name, into, file.name, *this); !linked) {
    ::unlinkat(tmp.fd, file.name.c_str(), 0);
    ::close(new_files_.back().fd);  // (recorded just now by write_new_file_at_deferred)
    new_files_.pop_back();
    return linked;
  }
  return {};
}

Result<void> SyncLedger::write_unwritten() {
  auto deleted = [](const HeldDir& dir) {
    struct stat st {};
    return ::fstat(dir.fd, &st) == 0 && st.st_nlink == 0;
  };
  Result<void> result;
  std::vector<Unwritten> failed;
  for (auto& file : std::exchange(unwritten_, {})) {
    auto written = write(file);
    if (written || deleted(*file.tmp) || deleted(*file.into)) continue;
    if (result) result = written;
    failed.push_back(std::move(file));
  }
  unwritten_ = std::move(failed);
  return result;
}

SyncLedger SyncLedger::take_unwritten() {
  SyncLedger carried;
  carried.unwritten_ = std::exchange(unwritten_, {});
  return carried;
}

void SyncLedger::add_file(int fd, std::string path) {
  for (auto& entry : files_) {
    if (entry.path == path) {
      ::close(std::exchange(entry.fd, fd));
      return;
    }
  }
  files_.push_back({std::move(path), fd});
}

void SyncLedger::add_new_file(int fd, std::string path) { new_files_.push_back({std::move(path), fd}); }

bool SyncLedger::holds_dir(const std::string& dir) const {
  return std::any_of(dirs_.begin(), dirs_.end(), [&](const Entry& entry) { return entry.path == dir; });
}

Result<void> SyncLedger::add_dir(const std::string& dir) {
  if (holds_dir(dir)) return {};
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return errno_error("open", dir, errno);
  dirs_.push_back({dir, fd});
  return {};
}

Result<void> SyncLedger::add_dir(const std::string& dir, int fd) {
  if (holds_dir(dir)) return {};
  auto copy = duplicate({fd, dir});
  if (!copy) return copy.error();
  dirs_.push_back({dir, *copy});
  return {};
}

void SyncLedger::merge(SyncLedger&& other) {
  for (auto& entry : other.files_) add_file(std::exchange(entry.fd, -1), std::move(entry.path));
  if (new_files_.empty()) {
    new_files_ = std::move(other.new_files_);
  } else {
    for (auto& entry : other.new_files_) new_files_.push_back({std::move(entry.path), std::exchange(entry.fd, -1)});
  }
  for (auto& entry : other.dirs_) {
    const bool known = std::any_of(dirs_.begin(), dirs_.end(), [&](const Entry& mine) { return mine.path == entry.path; });
    if (known) ::close(entry.fd);
    else dirs_.push_back({entry.path, entry.fd});
    entry.fd = -1;
  }
  other.files_.clear();
  other.new_files_.clear();
  other.dirs_.clear();
  for (auto& action : other.on_synced_) on_synced_.push_back(std::move(action));
  other.on_synced_.clear();
  for (auto& file : other.unwritten_) unwritten_.push_back(std::move(file));
  other.unwritten_.clear();
}

void SyncLedger::start_writeback() const {
  for (const auto* list : {&new_files_, &files_}) {
    for (const auto& entry : *list) ::sync_file_range(entry.fd, 0, 0, SYNC_FILE_RANGE_WRITE);
  }
}

Result<void> SyncLedger::sync(SyncMode mode) {
  Result<void> result = write_unwritten();
  auto note = [&](std::string_view operation, const Entry& entry) {
    if (result) result = errno_error(operation, entry.path, errno);
  };
  if (mode == SyncMode::syncfs) {
    const Entry* any = !dirs_.empty()        ? &dirs_.front()
                       : !files_.empty()     ? &files_.front()
                       : !new_files_.empty() ? &new_files_.front()
                                             : nullptr;
    if (any != nullptr && ::syncfs(any->fd) != 0) note("syncfs", *any);
  } else {
    // Write-back of every file first, so that the fdatasyncs below find their
    // data on its way and share the journal commits (Linux).
    start_writeback();
    for (const auto* list : {&new_files_, &files_}) {
      for (const auto& entry : *list) {
        if (::fdatasync(entry.fd) != 0) note("fdatasync", entry);
      }
    }
    for (const auto& entry : dirs_) {
      if (::fsync(entry.fd) != 0) note("fsync", entry);
    }
  }
  close_all();
  return result;
}

}  // namespace maillab::sim::durable
