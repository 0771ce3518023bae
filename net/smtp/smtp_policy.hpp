// What the SMTP server engine asks the world (sim/ or the lab server).
//
// Theory of operation.  The engine knows the protocol and nothing about users
// or domains: whether AUTH may be offered on this connection, whether a login
// holds, whether a logged-in user may use a sender address, whether a
// recipient is local or may be relayed to, all come from this interface.  A
// last hook, inject(), lets the simulator answer a command with a reply of its
// choosing at a given stage (greylisting 451 4.7.1, a full disk 452 4.3.1, a
// 554 banner at connect) so that fault lessons need no special engine code.
//
// Relay tricks (catalogue row 2) never reach check_recipient(): the engine
// itself refuses local parts carrying '@', '%' or '!' (sender-specified
// routing) with 554 5.7.1.  A source route ("<@relay:b@other.test>") is
// ignored as RFC 5321 §3.6.1 and Appendix C allow: the policy judges the final
// mailbox only, so "<@lab.test:b@other.test>" is other.test's, not lab.test's.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "net/core/credentials.hpp"
#include "net/mail/address.hpp"
#include "net/smtp/smtp_reply.hpp"

namespace maillab::net::smtp {

// What the policy may see of the session when it decides.
struct SessionInfo {
  std::string_view client_address;      // the peer, as the driver named it ("192.0.2.7")
  std::string_view helo_name;           // empty before EHLO/HELO
  std::string_view authenticated_user;  // empty unless AUTH succeeded
  bool tls_active = false;
  bool submission = false;  // RFC 6409 port: AUTH is required before MAIL
};

enum class AuthOffer : std::uint8_t {
  offered,       // advertise AUTH PLAIN LOGIN and accept it
  requires_tls,  // not before TLS: 538 5.7.11 (RFC 4954 §6), not advertised
  disabled,      // no AUTH on this service: 503 5.5.1, not advertised
};

enum class RecipientVerdict : std::uint8_t {
  accept,        // 250 2.1.5
  unknown_user,  // 550 5.1.1 (a local domain, no such mailbox: RFC 3463 X.1.1)
  relay_denied,  // 554 5.7.1 (not ours and this client may not relay: RFC 5321 §3.6.2)
};

// Where inject() is asked, before the engine's own answer.
enum class PolicyStage : std::uint8_t { connect, ehlo, mail, rcpt, data };

class Policy {
 public:
  virtual ~Policy() = default;

  virtual AuthOffer auth_offer(const SessionInfo& session) const = 0;
  virtual const CredentialChecker& credentials() const = 0;
  // MAIL FROM by an authenticated user: may `user` send as `sender`?  (553 5.7.1)
  virtual bool sender_allowed(std::string_view user, const mail::Address& sender) const = 0;
  virtual RecipientVerdict check_recipient(const SessionInfo& session, const mail::Address& recipient) const = 0;

  // A reply to give instead of the engine's own at `stage` (nullopt: carry on).
  // `argument` is the command's argument (the EHLO name, the path), empty at
  // connect and DATA.  At connect, a 4xx closes the session; a 5xx is the
  // RFC 5321 §3.1 "554 instead of 220": commands then get 503 until QUIT.
  virtual std::optional<Reply> inject(PolicyStage /*stage*/, const SessionInfo& /*session*/,
                                      std::string_view /*argument*/) {
    return std::nullopt;
  }
};

// A policy in front of another: every call goes to `base` unless a subclass
// overrides it (the server's per-connection and storage checks each change one
// thing and keep the rest).
class ForwardingPolicy : public Policy {
 public:
  explicit ForwardingPolicy(Policy& base) : base_(base) {}

  AuthOffer auth_offer(const SessionInfo& session) const override { return base_.auth_offer(session); }
  const CredentialChecker& credentials() const override { return base_.credentials(); }
  bool sender_allowed(std::string_view user, const mail::Address& sender) const override {
    return base_.sender_allowed(user, sender);
  }
  RecipientVerdict check_recipient(const SessionInfo& session, const mail::Address& recipient) const override {
    return base_.check_recipient(session, recipient);
  }
  std::optional<Reply> inject(PolicyStage stage, const SessionInfo& session, std::string_view argument) override {
    return base_.inject(stage, session, argument);
  }

 private:
  Policy& base_;
};

}  // namespace maillab::net::smtp
