#include "net/io/limits.hpp"

#include <algorithm>
#include <cctype>
#include <memory>
#include <utility>

#include <fcntl.h>
#include <sys/statvfs.h>
#include <unistd.h>

namespace maillab::net::io {

ConnectionLimiter::Ticket::Ticket(Ticket&& other) noexcept
    : owner_(std::exchange(other.owner_, nullptr)), address_(std::move(other.address_)) {}

ConnectionLimiter::Ticket& ConnectionLimiter::Ticket::operator=(Ticket&& other) noexcept {
  if (this != &other) {
    release();
    owner_ = std::exchange(other.owner_, nullptr);
    address_ = std::move(other.address_);
  }
  return *this;
}

ConnectionLimiter::Ticket::~Ticket() { release(); }

void ConnectionLimiter::Ticket::release() {
  if (owner_ == nullptr) return;
  owner_->release(address_);
  owner_ = nullptr;
}

ConnectionLimiter::Ticket ConnectionLimiter::try_acquire(std::string_view address) {
  if (total_ >= caps_.total_max || open_from(address) >= caps_.per_address_max) return Ticket{};
  ++total_;
  auto it = per_address_.find(address);
  if (it == per_address_.end()) it = per_address_.emplace(std::string(address), 0).first;
  ++it->second;
  return Ticket{this, std::string(address)};
}

std::size_t ConnectionLimiter::open_from(std::string_view address) const {
  auto it = per_address_.find(address);
  return it == per_address_.end() ? 0 : it->second;
}

void ConnectionLimiter::release(const std::string& address) {
  --total_;
  auto it = per_address_.find(address);
  if (--it->second == 0) per_address_.erase(it);
}

Duration AuthPenalty::record_failure(std::string_view address, Instant now) {
  expire(now);
  auto it = entries_.find(address);
  if (it == entries_.end()) it = entries_.emplace(std::string(address), Entry{}).first;
  Entry& entry = it->second;
  entry.failures = std::min<std::uint32_t>(entry.failures + 1, 31);
  entry.last = now;
  Duration delay = policy_.initial;
  for (std::uint32_t i = 1; i < entry.failures && delay < policy_.maximum; ++i) delay *= 2;
  return std::min(delay, policy_.maximum);
}

void AuthPenalty::record_success(std::string_view address) {
  auto it = entries_.find(address);
  if (it != entries_.end()) entries_.erase(it);
}

std::uint32_t AuthPenalty::failures(std::string_view address, Instant now) const {
  auto it = entries_.find(address);
  if (it == entries_.end() || now - it->second.last >= policy_.forget_after) return 0;
  return it->second.failures;
}

void AuthPenalty::expire(Instant now) {
  std::erase_if(entries_, [&](const auto& item) { return now - item.second.last >= policy_.forget_after; });
}

namespace {
std::string login_key(std::string_view user) {
  std::string key(user);
  for (char& c : key) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return key;
}
}  // namespace

bool UserSessionLimiter::try_open(std::string_view user) {
  std::string key = login_key(user);
  auto it = open_.find(key);
  if (it == open_.end()) it = open_.emplace(std::move(key), 0).first;
  if (it->second >= per_user_max_) return false;
  ++it->second;
  return true;
}

void UserSessionLimiter::close(std::string_view user) {
  auto it = open_.find(login_key(user));
  if (it == open_.end()) return;
  if (--it->second == 0) open_.erase(it);
}

std::size_t UserSessionLimiter::open_for(std::string_view user) const {
  auto it = open_.find(login_key(user));
  return it == open_.end() ? 0 : it->second;
}

FreeSpaceProbe free_space_of(std::filesystem::path dir) {
  // Asked at every MAIL FROM: through a descriptor held open, not a walk of the
  // path each time.  A directory that cannot be opened is looked up by its path.
  struct Held {
    int fd = -1;
    ~Held() {
      if (fd >= 0) ::close(fd);
    }
  };
  auto held = std::make_shared<Held>();
  held->fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  return [dir = std::move(dir), held = std::move(held)]() -> std::optional<std::uint64_t> {
    struct statvfs info {};
    const int status = held->fd >= 0 ? ::fstatvfs(held->fd, &info) : ::statvfs(dir.c_str(), &info);
    if (status != 0) return std::nullopt;
    return static_cast<std::uint64_t>(info.f_bavail) * static_cast<std::uint64_t>(info.f_frsize);
  };
}

bool StorageCheckedPolicy::storage_low() const {
  const auto free_bytes = free_bytes_ ? free_bytes_() : std::nullopt;
  const std::uint64_t half = (message_bytes_max_ + 1) / 2;  // free < 1.5 x limit <=> free < limit + ceil(limit / 2)
  const std::uint64_t needed = message_bytes_max_ > UINT64_MAX - half ? UINT64_MAX : message_bytes_max_ + half;
  return free_bytes && *free_bytes < needed;
}

std::optional<smtp::Reply> StorageCheckedPolicy::inject(smtp::PolicyStage stage, const smtp::SessionInfo& session,
                                                        std::string_view argument) {
  if (stage == smtp::PolicyStage::mail && storage_low()) return smtp::replies::insufficient_storage();  // 452 4.3.1
  return ForwardingPolicy::inject(stage, session, argument);
}

}  // namespace maillab::net::io
