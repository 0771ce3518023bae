// The maildrop lock registry (RFC 1939 §4, RFC 2449 §8.1.2 [IN-USE]).
//
// Theory of operation.  RFC 1939 has the server take an exclusive lock on the
// maildrop when a session enters TRANSACTION, so that two sessions never see
// different message numbers for the same mail.  The driver owns one registry
// and hands it to every POP3 server engine it creates; an engine takes the lock
// after a successful login and gives it back on QUIT, on close, on autologout
// and in its destructor, so a lock never outlives its session (the in-memory
// answer to Dovecot's stale-lock recovery).  A second session for the same
// user gets "-ERR [IN-USE] Mailbox is locked by another POP3 session." and
// stays in AUTHORIZATION.  IMAP sessions do not take this lock.
#pragma once

#include <cstddef>
#include <functional>
#include <set>
#include <string>
#include <string_view>

namespace maillab::net::pop3 {

class MaildropLocks {
 public:
  // true when the lock was free and is now held.
  bool try_lock(std::string_view user);
  void unlock(std::string_view user);
  [[nodiscard]] bool is_locked(std::string_view user) const;
  [[nodiscard]] std::size_t held() const { return locked_.size(); }

 private:
  std::set<std::string, std::less<>> locked_;
};

}  // namespace maillab::net::pop3
