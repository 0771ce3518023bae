// SMTP replies (RFC 5321 §4.2) with enhanced status codes (RFC 2034, RFC 3463).
//
// Theory of operation.  A Reply is what a server says and what a client reads
// back: a three-digit code, an optional enhanced code ("2.1.0") and one or more
// text lines.  to_wire() formats it the way RFC 5321 §4.2.1 wants multi-line
// replies: every line but the last is "250-...", the last "250 ...", and with
// ENHANCEDSTATUSCODES (RFC 2034 §4) the enhanced code repeats on every line.
// The EHLO reply (keywords, not prose) carries no enhanced code.
//
// The `replies` namespace is the catalogue the server engine answers from: one
// named function per reply, each with the RFC section that defines its codes,
// so a code is chosen in exactly one place.  The client engine parses replies
// with its own parser into the same struct.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace maillab::net::smtp {

struct Reply {
  int code = 0;          // 200..599 (RFC 5321 §4.2)
  std::string enhanced;  // "2.1.0" (RFC 3463 class.subject.detail), or empty
  std::vector<std::string> lines;

  // "250-first\r\n250 last\r\n"; a reply without text is "250 <enhanced>\r\n".
  [[nodiscard]] std::string to_wire() const;
  // The text lines joined with "\n", without codes (for bounces and logs).
  [[nodiscard]] std::string text() const;
  // The first line as it appears on the wire, without CRLF ("250 2.1.0 Ok").
  [[nodiscard]] std::string first_wire_line() const;

  [[nodiscard]] int code_class() const { return code / 100; }
  [[nodiscard]] bool is_positive() const { return code >= 200 && code < 400; }  // 2xx, 3xx
  [[nodiscard]] bool is_intermediate() const { return code >= 300 && code < 400; }
  [[nodiscard]] bool is_transient() const { return code >= 400 && code < 500; }
  [[nodiscard]] bool is_permanent() const { return code >= 500 && code < 600; }

  friend bool operator==(const Reply&, const Reply&) = default;
};

Reply make_reply(int code, std::string_view enhanced, std::string_view text);

// The catalogue.  Texts follow Postfix where it has an established wording.
namespace replies {

// --- positive ------------------------------------------------------------
Reply greeting(std::string_view host);                  // 220, RFC 5321 §4.2.2, §3.1
Reply closing(std::string_view host);                   // 221 2.0.0, §4.1.1.10
Reply ok();                                             // 250 2.0.0, §4.1.1.5 RSET
Reply sender_ok();                                      // 250 2.1.0, RFC 3463 §3.2 X.1.0
Reply recipient_ok();                                   // 250 2.1.5, RFC 3463 X.1.5
Reply queued(std::string_view queue_id);                // 250 2.0.0 Ok: queued as ID
Reply chunk_ok(std::size_t octets);                     // 250 2.0.0, RFC 3030 §2
Reply helo(std::string_view host, std::string_view client_name);  // 250, RFC 5321 §4.1.1.1
Reply ehlo(std::string_view host, std::string_view client_name,
           std::vector<std::string> keywords);          // 250 multi-line, §4.1.1.1
Reply vrfy_cannot_verify();                             // 252 2.5.2, §3.5.3, RFC 3463 X.5.2
Reply help();                                           // 214 2.0.0, §4.1.1.8
Reply start_mail_input();                               // 354, §4.1.1.4
Reply ready_to_start_tls();                             // 220 2.0.0, RFC 3207 §4
Reply auth_ok();                                        // 235 2.7.0, RFC 4954 §6
Reply auth_challenge(std::string_view base64_text);     // 334, RFC 4954 §4

// --- transient (4xx) ------------------------------------------------------
Reply service_closing(std::string_view host, std::string_view why);  // 421 4.3.2, §3.8
Reply timeout(std::string_view host);                   // 421 4.4.2, §4.5.3.2, RFC 3463 X.4.2
Reply too_many_errors(std::string_view host);           // 421 4.7.0, RFC 3463 X.7.0
Reply local_error();                                    // 451 4.3.0, §4.2.3, RFC 3463 X.3.0
Reply insufficient_storage();                           // 452 4.3.1, RFC 3463 X.3.1
Reply too_many_recipients();                            // 452 4.5.3, §4.5.3.1.10
Reply greylisted();                                     // 451 4.7.1, RFC 6647 §2.1

// --- permanent (5xx) -------------------------------------------------------
Reply command_unrecognized();                           // 500 5.5.2, §4.2.4
Reply command_too_long();                               // 500 5.5.2, §4.5.3.1.4
Reply nul_in_command();                                 // 500 5.5.2, §2.3.8 / §4.1.1
Reply text_line_too_long();                             // 500 5.5.6, §4.5.3.1.6
Reply auth_line_too_long();                             // 500 5.5.6, RFC 4954 §4
Reply syntax(std::string_view what);                    // 501 5.5.4, §4.2.2, RFC 3463 X.5.4
Reply auth_cancelled();                                 // 501 5.7.0, RFC 4954 §4
Reply auth_bad_base64();                                // 501 5.5.2, RFC 4954 §4
Reply not_implemented();                                // 502 5.5.1, §4.2.4
Reply bad_sequence(std::string_view what);              // 503 5.5.1, §4.1.4
Reply mechanism_unsupported();                          // 504 5.5.4, RFC 4954 §4
Reply auth_required();                                  // 530 5.7.0, RFC 4954 §6
Reply auth_failed();                                    // 535 5.7.8, RFC 4954 §6
Reply encryption_required();                            // 538 5.7.11, RFC 4954 §6
Reply unknown_user(std::string_view path);              // 550 5.1.1, RFC 3463 X.1.1
Reply bare_newline();                                   // 550 5.5.2, §2.3.8, §4.1.1.4
Reply message_too_big();                                // 552 5.3.4, RFC 1870 §6
Reply sender_not_owned(std::string_view path, std::string_view user);  // 553 5.7.1, RFC 4954 §6
Reply bad_address(std::string_view why);                // 553 5.1.3, RFC 3463 X.1.3
Reply relay_denied(std::string_view path);              // 554 5.7.1, §3.6.2
Reply tls_already_active();                             // 554 5.5.1, RFC 3207 §4
Reply transaction_failed(std::string_view why);         // 554 5.0.0, §4.2.2
Reply utf8_not_allowed();                               // 553 5.6.7, RFC 6531 §3.7.4.1 / RFC 6533

}  // namespace replies

}  // namespace maillab::net::smtp
