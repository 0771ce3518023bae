#include "net/smtp/smtp_command.hpp"

#include <array>
#include <utility>

namespace maillab::net::smtp {

namespace {

char upper(char c) { return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c; }

struct VerbName {
  std::string_view name;
  Verb verb;
};

constexpr std::array verb_names{
    VerbName{"EHLO", Verb::ehlo}, VerbName{"HELO", Verb::helo},         VerbName{"MAIL", Verb::mail},
    VerbName{"RCPT", Verb::rcpt}, VerbName{"DATA", Verb::data},         VerbName{"BDAT", Verb::bdat},
    VerbName{"RSET", Verb::rset}, VerbName{"NOOP", Verb::noop},         VerbName{"QUIT", Verb::quit},
    VerbName{"VRFY", Verb::vrfy}, VerbName{"EXPN", Verb::expn},         VerbName{"HELP", Verb::help},
    VerbName{"AUTH", Verb::auth}, VerbName{"STARTTLS", Verb::starttls}, VerbName{"TURN", Verb::turn},
    VerbName{"ETRN", Verb::etrn},
};

Error syntax_error(std::string message) { return make_error(ErrorCategory::parse, std::move(message)); }

bool is_keyword_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
}

// esmtp-value = 1*(%d33-60 / %d62-126), RFC 5321 §4.1.2 (RFC 6531 §3.3 widens it to UTF-8).
bool is_value_char(char c) {
  const auto u = static_cast<unsigned char>(c);
  return (u >= 33 && u <= 126 && u != '=') || u >= 0x80;
}

}  // namespace

bool verb_iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (upper(a[i]) != upper(b[i])) return false;
  }
  return true;
}

CommandLine split_command(std::string_view line) {
  CommandLine command;
  const auto space = line.find(' ');
  command.verb_text = line.substr(0, space);
  if (space != std::string_view::npos) {
    command.has_argument = true;
    command.argument = line.substr(space + 1);
  }
  for (const auto& entry : verb_names) {
    if (verb_iequals(entry.name, command.verb_text)) {
      command.verb = entry.verb;
      break;
    }
  }
  return command;
}

Result<PathArgument> parse_path_argument(std::string_view argument, std::string_view prefix) {
  if (argument.size() < prefix.size() || !verb_iequals(argument.substr(0, prefix.size()), prefix)) {
    return syntax_error("expected " + std::string(prefix));
  }
  std::string_view rest = argument.substr(prefix.size());
  while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
  if (rest.empty() || rest.front() != '<') return syntax_error("expected '<' to open the path");

  std::size_t end = 1;
  bool quoted = false;
  for (; end < rest.size(); ++end) {
    const char c = rest[end];
    if (quoted) {
      if (c == '\\') {
        ++end;  // quoted-pairSMTP: the next octet is literal
      } else if (c == '"') {
        quoted = false;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == '>') {
      break;
    } else if (c == '<') {
      return syntax_error("'<' inside the path");
    }
  }
  if (end >= rest.size()) return syntax_error("missing '>' to close the path");

  PathArgument parsed;
  parsed.path = std::string(rest.substr(0, end + 1));
  rest.remove_prefix(end + 1);
  if (!rest.empty() && rest.front() != ' ') return syntax_error("expected a space after the path");

  while (!rest.empty()) {
    while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
    if (rest.empty()) break;
    const auto token_end = rest.find(' ');
    const std::string_view token = rest.substr(0, token_end);
    rest = token_end == std::string_view::npos ? std::string_view{} : rest.substr(token_end);
    const auto equals = token.find('=');
    const std::string_view keyword = token.substr(0, equals);
    if (keyword.empty() || !is_keyword_char(keyword.front())) return syntax_error("bad parameter keyword");
    for (char c : keyword) {
      if (!is_keyword_char(c)) return syntax_error("bad parameter keyword");
    }
    EsmtpParameter parameter;
    for (char c : keyword) parameter.keyword.push_back(upper(c));
    if (equals != std::string_view::npos) {
      const std::string_view value = token.substr(equals + 1);
      if (value.empty()) return syntax_error("empty parameter value");
      for (char c : value) {
        if (!is_value_char(c)) return syntax_error("bad parameter value");
      }
      parameter.value = std::string(value);
    }
    parsed.parameters.push_back(std::move(parameter));
  }
  return parsed;
}

std::optional<std::uint64_t> parse_size_value(std::string_view text) {
  if (text.empty() || text.size() > 20) return std::nullopt;
  std::uint64_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    const auto digit = static_cast<std::uint64_t>(c - '0');
    if (value > (UINT64_MAX - digit) / 10) return std::nullopt;
    value = value * 10 + digit;
  }
  return value;
}

}  // namespace maillab::net::smtp
