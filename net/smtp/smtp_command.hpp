// SMTP command lines as a server reads them (RFC 5321 §4.1).
//
// Theory of operation.  A command line (without its CRLF) is split into a verb
// (case-insensitive, §2.4) and the rest.  MAIL and RCPT arguments are split
// into the path ("<...>", scanned with quoted strings and backslash escapes in
// mind so that a '>' inside quotes does not end it) and the ESMTP parameters
// (§4.1.2 Mail-parameters: esmtp-keyword ["=" esmtp-value]).  The path itself
// is parsed by net/mail/address.hpp; this file only frames it.  Nothing here
// knows about session state: that is smtp_server's command table.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "net/core/result.hpp"

namespace maillab::net::smtp {

enum class Verb : std::uint8_t {
  ehlo, helo, mail, rcpt, data, bdat, rset, noop, quit, vrfy, expn, help, starttls, auth,
  turn, etrn,  // recognised but not implemented (502, RFC 5321 §4.2.4)
  unknown,
};

struct CommandLine {
  Verb verb = Verb::unknown;
  std::string_view verb_text;  // as the client wrote it
  std::string_view argument;   // after the first space; may be empty
  bool has_argument = false;   // a space followed the verb
};

CommandLine split_command(std::string_view line);

struct EsmtpParameter {
  std::string keyword;               // upper-cased
  std::optional<std::string> value;  // as written
};

struct PathArgument {
  std::string path;  // "<...>" including the brackets
  std::vector<EsmtpParameter> parameters;
};

// `argument` is what follows "MAIL " or "RCPT "; `prefix` is "FROM:" or "TO:"
// (case-insensitive).  Spaces after the colon are tolerated, as most servers
// do; a path without angle brackets is not.
Result<PathArgument> parse_path_argument(std::string_view argument, std::string_view prefix);

// RFC 1870 §3 size-value = 1*20DIGIT; nullopt for anything else or > 2^64-1.
std::optional<std::uint64_t> parse_size_value(std::string_view text);

bool verb_iequals(std::string_view a, std::string_view b);

}  // namespace maillab::net::smtp
