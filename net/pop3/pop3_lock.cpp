#include "net/pop3/pop3_lock.hpp"

namespace maillab::net::pop3 {

bool MaildropLocks::try_lock(std::string_view user) {
  return locked_.emplace(user).second;
}

void MaildropLocks::unlock(std::string_view user) {
  const auto it = locked_.find(user);
  if (it != locked_.end()) locked_.erase(it);
}

bool MaildropLocks::is_locked(std::string_view user) const {
  return locked_.find(user) != locked_.end();
}

}  // namespace maillab::net::pop3
