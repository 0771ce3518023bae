// Internet messages (RFC 5322) as the MTA, the stores and the IMAP engine see them.
//
// Line endings: on the wire and in the stores a message uses CRLF (RFC 5322 §2.1,
// RFC 5321 §2.3.8); normalize_crlf() turns every bare CR, bare LF and CRLF into
// CRLF so that no bare CR or LF ever leaves the server (catalogue row 6).
#pragma once

#include <string>
#include <string_view>

namespace maillab::net::mail {

// Every CRLF, bare CR and bare LF becomes CRLF ("a\rb\nc\r\n" -> "a\r\nb\r\nc\r\n").
std::string normalize_crlf(std::string_view text);

}  // namespace maillab::net::mail
