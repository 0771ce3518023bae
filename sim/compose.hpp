// Messages the world writes: what an MUA composes (RFC 5322 header, RFC 2045
// MIME with attachments as multipart/mixed, base64) and the delivery status
// notification an MTA returns (RFC 3464: multipart/report; report-type=
// delivery-status, RFC 6522) with a human-readable part, the machine-readable
// message/delivery-status part and the original header (text/rfc822-headers).
//
// Bcc recipients appear in the envelope only, never in the header (RFC 5322
// §3.6.3): the lesson on envelope vs header depends on it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "net/core/result.hpp"
#include "sim/scenario.hpp"

namespace maillab::sim {

// CRLF line ends throughout.
std::string compose_message(const MessageSpec& spec, const std::string& message_id, std::int64_t date_s);

struct FailedRecipient {
  std::string address;
  std::string status;      // "5.1.1" (RFC 3463)
  std::string remote_mta;  // "" when it failed locally
  std::string diagnostic;  // "smtp; 550 5.1.1 <bob@x>: Recipient address rejected"
};

struct DsnInput {
  std::string reporting_mta;  // this host
  std::string original_envelope_sender;
  std::string original_message;  // the whole original, CRLF
  std::int64_t arrival_date_s = 0;
  std::int64_t now_s = 0;
  std::string message_id;  // of the DSN itself, with angle brackets
  std::vector<FailedRecipient> failed;
};

std::string compose_dsn(const DsnInput& input);

// The unfolded Subject: of a message ("" when none).
std::string subject_of(const std::string& message);
// The Message-ID without angle brackets ("" when none).
std::string message_id_of(const std::string& message);

// What the MTA does to every message, without parsing the whole header:
//   count_fields(raw, name) == Message::parse(raw).count(name) (the hop count
//   with "Received"); its fields go in with net::mail::with_field_prepended.
std::size_t count_fields(std::string_view raw, std::string_view name);

}  // namespace maillab::sim
