#include "net/io/limits.hpp"

#include <algorithm>
#include <utility>

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

}  // namespace maillab::net::io
