// One-sentence explanations of protocol lines for the transcript's tooltips:
// what a command asks for or what a reply code means, with its RFC section,
// and the enhanced status code (RFC 3463) decoded.  Both languages.
#pragma once

#include <string>
#include <string_view>

#include "ui/model/i18n.hpp"

namespace maillab::ui {

struct Explanation {
  std::string text;  // empty when the line is not recognised
  std::string rfc;   // "RFC 5321 §4.1.1.2"
};

// proto: "smtp", "submission", "pop3", "imap", "dns"; dir: 'C' or 'S'.
Explanation explain_line(std::string_view proto, char dir, std::string_view line, Lang lang);

// "5.1.1" -> "Permanent failure: addressing - bad destination mailbox address".
std::string explain_enhanced_code(std::string_view code, Lang lang);

}  // namespace maillab::ui
