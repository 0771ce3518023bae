// Resource limits of the lab server that span connections: how many
// connections are open (in total and per client address), and the penalty a
// client address has earned by failing to log in.
//
// Theory of operation.
//   ConnectionLimiter  try_acquire(address) hands out a Ticket while the total
//                      and the address's count are below their caps; the
//                      Ticket gives the slot back when it is destroyed, so a
//                      slot never outlives its connection.  Over a cap the
//                      listener answers with the protocol's refusal (SMTP
//                      421 4.7.0, RFC 5321 §3.8; POP3 -ERR [SYS/TEMP], RFC 3206;
//                      IMAP * BYE, RFC 3501 §7.1.5) and closes (catalogue row 19).
//   AuthPenalty        record_failure(address, now) returns how long the
//                      answer to a failed login must wait: 2 s, doubling per
//                      failure from that address, at most 15 s (Dovecot
//                      auth-penalty.h: AUTH_PENALTY_INIT_SECS 2, max 15).  A
//                      success clears the address; an address with no failure
//                      for an hour starts again from 2 s.  The driver holds the
//                      reply and reads no more input meanwhile, on a timer, so
//                      the event loop never blocks (catalogue rows 22, 46).
//   UserSessionLimiter the authenticated IMAP sessions of each user across
//                      connections, for the IMAP engine's UserSessions hook:
//                      one more login than allowed gets "NO [LIMIT]" (RFC 9051
//                      §7.1; catalogue row 43, Dovecot
//                      mail_max_userip_connections 10).
//   StorageCheckedPolicy  an SMTP policy in front of the lab's: MAIL FROM gets
//                      452 4.3.1 (RFC 3463 X.3.1) while the state directory's
//                      file system has less free space than 1.5 times the
//                      message size limit (catalogue row 17, Postfix
//                      queue_minfree).  Free space is read (statvfs) at each
//                      MAIL FROM, so it recovers as soon as space is back.
// Defaults are the lab column of the security catalogue §3; the scenario's
// [limits] table (scenarios/README.md) sets them for `maillab serve`.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "net/core/time.hpp"
#include "net/imap/imap_server.hpp"
#include "net/smtp/smtp_policy.hpp"

namespace maillab::net::io {

struct ConnectionCaps {
  std::size_t total_max = 1000;      // Dovecot default_client_limit
  std::size_t per_address_max = 10;  // Dovecot mail_max_userip_connections; lab default
};

class ConnectionLimiter {
 public:
  class Ticket {
   public:
    Ticket() = default;
    Ticket(Ticket&& other) noexcept;
    Ticket& operator=(Ticket&& other) noexcept;
    Ticket(const Ticket&) = delete;
    Ticket& operator=(const Ticket&) = delete;
    ~Ticket();
    [[nodiscard]] bool valid() const { return owner_ != nullptr; }

   private:
    friend class ConnectionLimiter;
    Ticket(ConnectionLimiter* owner, std::string address) : owner_(owner), address_(std::move(address)) {}
    void release();
    ConnectionLimiter* owner_ = nullptr;
    std::string address_;
  };

  explicit ConnectionLimiter(ConnectionCaps caps) : caps_(caps) {}
  // An invalid Ticket when a cap is reached.
  Ticket try_acquire(std::string_view address);
  [[nodiscard]] std::size_t open_total() const { return total_; }
  [[nodiscard]] std::size_t open_from(std::string_view address) const;

 private:
  void release(const std::string& address);
  ConnectionCaps caps_;
  std::size_t total_ = 0;
  std::map<std::string, std::size_t, std::less<>> per_address_;
};

struct PenaltyPolicy {
  Duration initial{std::chrono::seconds(2)};
  Duration maximum{std::chrono::seconds(15)};
  Duration forget_after{std::chrono::hours(1)};
};

class AuthPenalty {
 public:
  explicit AuthPenalty(PenaltyPolicy policy = {}) : policy_(policy) {}
  // The delay the reply to this failure must wait.
  Duration record_failure(std::string_view address, Instant now);
  void record_success(std::string_view address);
  [[nodiscard]] std::uint32_t failures(std::string_view address, Instant now) const;
  [[nodiscard]] std::size_t tracked_addresses() const { return entries_.size(); }

 private:
  struct Entry {
    std::uint32_t failures = 0;
    Instant last{};
  };
  void expire(Instant now);
  PenaltyPolicy policy_;
  std::map<std::string, Entry, std::less<>> entries_;
};

class UserSessionLimiter final : public imap::UserSessions {
 public:
  explicit UserSessionLimiter(std::size_t per_user_max) : per_user_max_(per_user_max) {}
  bool try_open(std::string_view user) override;
  void close(std::string_view user) override;
  [[nodiscard]] std::size_t open_for(std::string_view user) const;

 private:
  std::size_t per_user_max_;
  std::map<std::string, std::size_t, std::less<>> open_;  // by the lower-cased login
};

// Bytes free for an unprivileged writer; nullopt when unknown.
using FreeSpaceProbe = std::function<std::optional<std::uint64_t>()>;
// statvfs(dir): f_bavail * f_frsize.
FreeSpaceProbe free_space_of(std::filesystem::path dir);

class StorageCheckedPolicy final : public smtp::ForwardingPolicy {
 public:
  StorageCheckedPolicy(smtp::Policy& base, std::uint64_t message_bytes_max, FreeSpaceProbe free_bytes)
      : ForwardingPolicy(base), message_bytes_max_(message_bytes_max), free_bytes_(std::move(free_bytes)) {}

  std::optional<smtp::Reply> inject(smtp::PolicyStage stage, const smtp::SessionInfo& session,
                                    std::string_view argument) override;
  // Free space is below 1.5 x the message size limit (unknown counts as enough).
  [[nodiscard]] bool storage_low() const;

 private:
  std::uint64_t message_bytes_max_;
  FreeSpaceProbe free_bytes_;
};

}  // namespace maillab::net::io
