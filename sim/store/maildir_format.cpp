#include "sim/store/maildir_format.hpp"

#include <algorithm>
#include <charconv>
#include <cstring>

#include "net/core/decimal.hpp"
#include "net/core/line_break.hpp"
#include "sim/store/mailbox_name.hpp"
#include "sim/store/store_flags.hpp"

namespace maillab::sim::maildir {
namespace {

constexpr std::string_view kBase64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";
constexpr std::size_t kDirNameOctetsMax = 255;
constexpr std::size_t kKeywordLettersMax = 26;

struct LetterFlag {
  char letter;
  std::string_view flag;
};
constexpr LetterFlag kLetterFlags[] = {
    {'D', kFlagDraft}, {'F', kFlagFlagged}, {'R', kFlagAnswered}, {'S', kFlagSeen}, {'T', kFlagDeleted}};

void append_utf8(std::string& out, std::uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

// `utf8` is valid (the caller validated it); returns the next code point.
std::uint32_t next_code_point(std::string_view utf8, std::size_t& i) {
  auto b = [&](std::size_t k) { return static_cast<std::uint32_t>(static_cast<std::uint8_t>(utf8[k])); };
  std::uint32_t lead = b(i);
  std::size_t length = lead < 0x80 ? 1 : (lead & 0xE0) == 0xC0 ? 2 : (lead & 0xF0) == 0xE0 ? 3 : 4;
  std::uint32_t cp = length == 1 ? lead : length == 2 ? lead & 0x1F : length == 3 ? lead & 0x0F : lead & 0x07;
  for (std::size_t k = 1; k < length && i + k < utf8.size(); ++k) cp = (cp << 6) | (b(i + k) & 0x3F);
  i += length;
  return cp;
}

void flush_base64(std::string& out, std::vector<std::uint8_t>& bytes) {
  if (bytes.empty()) return;
  out.push_back('&');
  std::uint32_t bits = 0;
  int count = 0;
  for (std::uint8_t byte : bytes) {
    bits = (bits << 8) | byte;
    count += 8;
    while (count >= 6) {
      count -= 6;
      out.push_back(kBase64[(bits >> count) & 0x3F]);
    }
  }
  if (count > 0) out.push_back(kBase64[(bits << (6 - count)) & 0x3F]);
  out.push_back('-');
  bytes.clear();
}

std::vector<std::string_view> split(std::string_view text, char separator) {
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  while (true) {
    std::size_t at = text.find(separator, start);
    parts.push_back(text.substr(start, at == std::string_view::npos ? text.npos : at - start));
    if (at == std::string_view::npos) return parts;
    start = at + 1;
  }
}

template <typename T>
std::optional<T> parse_number(std::string_view digits) {
  T value{};
  if (digits.empty() || digits.front() < '0' || digits.front() > '9') return std::nullopt;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (ec != std::errc{} || end != digits.data() + digits.size()) return std::nullopt;
  return value;
}

Error parse_error(std::string message) { return make_error(ErrorCategory::parse, std::move(message)); }

std::string escape_part(std::string_view encoded) {
  std::string out;
  for (char c : encoded) {
    if (c == '.') {
      out += "\\2e";
    } else if (c == '\\') {
      out += "\\5c";
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::optional<std::string> unescape_part(std::string_view part) {
  std::string out;
  for (std::size_t i = 0; i < part.size(); ++i) {
    if (part[i] != '\\') {
      out.push_back(part[i]);
      continue;
    }
    if (i + 2 >= part.size()) return std::nullopt;
    unsigned value = 0;
    auto [end, ec] = std::from_chars(part.data() + i + 1, part.data() + i + 3, value, 16);
    if (ec != std::errc{} || end != part.data() + i + 3) return std::nullopt;
    out.push_back(static_cast<char>(value));
    i += 2;
  }
  return out;
}

}  // namespace

std::string mutf7_encode(std::string_view utf8) {
  std::string out;
  std::vector<std::uint8_t> pending;
  for (std::size_t i = 0; i < utf8.size();) {
    std::uint32_t cp = next_code_point(utf8, i);
    if (cp >= 0x20 && cp <= 0x7E) {
      flush_base64(out, pending);
      out += cp == '&' ? std::string("&-") : std::string(1, static_cast<char>(cp));
      continue;
    }
    auto push_unit = [&](std::uint32_t unit) {
      pending.push_back(static_cast<std::uint8_t>(unit >> 8));
      pending.push_back(static_cast<std::uint8_t>(unit & 0xFF));
    };
    if (cp >= 0x10000) {
      cp -= 0x10000;
      push_unit(0xD800 | (cp >> 10));
      push_unit(0xDC00 | (cp & 0x3FF));
    } else {
      push_unit(cp);
    }
  }
  flush_base64(out, pending);
  return out;
}

std::optional<std::string> mutf7_decode(std::string_view mutf7) {
  std::string out;
  for (std::size_t i = 0; i < mutf7.size();) {
    char c = mutf7[i];
    if (c < 0x20 || c > 0x7E) return std::nullopt;
    if (c != '&') {
      out.push_back(c);
      ++i;
      continue;
    }
    std::size_t end = mutf7.find('-', i + 1);
    if (end == std::string_view::npos) return std::nullopt;
    std::string_view run = mutf7.substr(i + 1, end - i - 1);
    i = end + 1;
    if (run.empty()) {
      out.push_back('&');
      continue;
    }
    std::vector<std::uint8_t> bytes;
    std::uint32_t bits = 0;
    int count = 0;
    for (char b : run) {
      std::size_t value = kBase64.find(b);
      if (value == std::string_view::npos) return std::nullopt;
      bits = (bits << 6) | static_cast<std::uint32_t>(value);
      count += 6;
      if (count >= 8) {
        count -= 8;
        bytes.push_back(static_cast<std::uint8_t>((bits >> count) & 0xFF));
      }
    }
    if (bytes.size() % 2 != 0) return std::nullopt;
    for (std::size_t k = 0; k < bytes.size(); k += 2) {
      std::uint32_t unit = (std::uint32_t{bytes[k]} << 8) | bytes[k + 1];
      if (unit >= 0xD800 && unit <= 0xDBFF) {
        if (k + 3 >= bytes.size()) return std::nullopt;
        std::uint32_t low = (std::uint32_t{bytes[k + 2]} << 8) | bytes[k + 3];
        if (low < 0xDC00 || low > 0xDFFF) return std::nullopt;
        append_utf8(out, 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00));
        k += 2;
      } else if (unit >= 0xDC00 && unit <= 0xDFFF) {
        return std::nullopt;
      } else {
        append_utf8(out, unit);
      }
    }
  }
  // Canonical form only (RFC 3501 §5.1.3: no encoded printable ASCII, no
  // adjacent runs, zero padding bits): the decoding must encode back to the input.
  if (mutf7_encode(out) != mutf7) return std::nullopt;
  return out;
}

Result<std::string> folder_dir_name(std::string_view canonical_name) {
  std::string out;
  for (std::string_view part : split(canonical_name, '/')) {
    out.push_back('.');
    out += escape_part(mutf7_encode(part));
  }
  if (out.size() > kDirNameOctetsMax) {
    return make_error(ErrorCategory::invalid_argument, "mailbox name too long for a Maildir folder");
  }
  return out;
}

std::optional<std::string> mailbox_name_of_dir(std::string_view dir_name) {
  if (dir_name.size() < 2 || dir_name.front() != '.') return std::nullopt;
  std::string name;
  bool first = true;
  for (std::string_view part : split(dir_name.substr(1), '.')) {
    auto unescaped = unescape_part(part);
    if (!unescaped) return std::nullopt;
    auto decoded = mutf7_decode(*unescaped);
    if (!decoded) return std::nullopt;
    if (!first) name.push_back('/');
    first = false;
    name += *decoded;
  }
  auto canonical = canonical_mailbox_name(name);
  if (!canonical || *canonical != name || name == kInbox) return std::nullopt;
  auto again = folder_dir_name(name);
  if (!again || *again != dir_name) return std::nullopt;
  return name;
}

FileName split_file_name(std::string_view name) {
  FileName out;
  std::size_t colon = name.find(':');
  out.base = name.substr(0, colon);
  if (colon == std::string_view::npos || name.substr(colon + 1, 2) != "2,") return out;
  out.has_info = true;
  std::string_view info = name.substr(colon + 3);
  std::size_t comma = info.find(',');
  out.letters = info.substr(0, comma);
  if (comma != std::string_view::npos) out.tail = info.substr(comma);
  return out;
}

std::optional<std::uint64_t> base_field(std::string_view base, char key) {
  const char marker[] = {',', key, '=', '\0'};
  std::size_t at = base.find(marker);
  if (at == std::string_view::npos) return std::nullopt;
  std::string_view rest = base.substr(at + 3);
  return parse_number<std::uint64_t>(rest.substr(0, rest.find(',')));
}

net::mail::Flags letters_to_flags(std::string_view letters, const std::vector<std::string>& keywords) {
  net::mail::Flags flags;
  for (char letter : letters) {
    for (const LetterFlag& known : kLetterFlags) {
      if (known.letter == letter) flags.emplace_back(known.flag);
    }
    if (letter >= 'a' && letter <= 'z') {
      auto index = static_cast<std::size_t>(letter - 'a');
      if (index < keywords.size() && !keywords[index].empty()) flags.push_back(keywords[index]);
    }
  }
  std::sort(flags.begin(), flags.end());
  flags.erase(std::unique(flags.begin(), flags.end()), flags.end());
  return flags;
}

Result<std::string> flags_to_letters(const net::mail::Flags& flags, std::vector<std::string>& keywords,
                                     std::string_view keep) {
  std::string letters;
  for (char letter : keep) {
    bool ours = (letter >= 'a' && letter <= 'z') ||
                std::any_of(std::begin(kLetterFlags), std::end(kLetterFlags),
                            [&](const LetterFlag& known) { return known.letter == letter; });
    if (!ours && letter > ' ' && letter < 0x7F) letters.push_back(letter);
  }
  for (const std::string& flag : flags) {
    auto system = std::find_if(std::begin(kLetterFlags), std::end(kLetterFlags),
                               [&](const LetterFlag& known) { return known.flag == flag; });
    if (system != std::end(kLetterFlags)) {
      letters.push_back(system->letter);
      continue;
    }
    auto slot = std::find(keywords.begin(), keywords.end(), flag);
    if (slot == keywords.end()) slot = std::find(keywords.begin(), keywords.end(), std::string());
    if (slot == keywords.end()) {
      if (keywords.size() >= kKeywordLettersMax) {
        return make_error(ErrorCategory::invalid_argument,
                          "more than 26 keywords in one mailbox (Maildir file names carry a..z)");
      }
      slot = keywords.insert(keywords.end(), flag);
    } else {
      *slot = flag;
    }
    letters.push_back(static_cast<char>('a' + (slot - keywords.begin())));
  }
  std::sort(letters.begin(), letters.end());
  letters.erase(std::unique(letters.begin(), letters.end()), letters.end());
  return letters;
}

Result<UidList> parse_uidlist(std::string_view text) {
  std::vector<std::string_view> lines = split(text, '\n');
  bool torn = false;
  if (!lines.empty() && lines.back().empty()) {
    lines.pop_back();
  } else if (lines.size() > 1) {
    lines.pop_back();  // no LF: an append cut short
    torn = true;
  }
  if (lines.empty()) return parse_error("uidlist is empty");
  std::string_view header = lines.front();
  if (header.size() < 2 || header[1] != ' ' || (header[0] != '1' && header[0] != '3')) {
    return parse_error("uidlist header has an unknown version");
  }
  UidList list;
  bool version3 = header[0] == '3';
  std::optional<std::uint32_t> validity;
  std::optional<std::uint32_t> next;
  if (version3) {
    for (std::string_view field : split(header.substr(2), ' ')) {
      if (field.empty()) continue;
      std::string_view value = field.substr(1);
      if (field[0] == 'V') {
        validity = parse_number<std::uint32_t>(value);
      } else if (field[0] == 'N') {
        next = parse_number<std::uint32_t>(value);
      } else if (field[0] == 'M') {
        auto modseq = parse_number<std::uint64_t>(value);
        if (!modseq) return parse_error("uidlist header has a bad M field");
        list.modseq = *modseq;
      } else {
        list.header_fields.emplace_back(field);
      }
    }
  } else {
    std::vector<std::string_view> fields = split(header.substr(2), ' ');
    if (fields.size() < 2) return parse_error("uidlist v1 header needs UIDVALIDITY and UIDNEXT");
    validity = parse_number<std::uint32_t>(fields[0]);
    next = parse_number<std::uint32_t>(fields[1]);
  }
  if (!validity || *validity == 0 || !next || *next == 0) return parse_error("uidlist header is broken");
  list.uid_validity = *validity;
  list.uid_next = *next;
  list.torn = torn;
  for (std::size_t i = 1; i < lines.size(); ++i) {
    std::string_view line = lines[i];
    if (line.find('\0') != std::string_view::npos) {
      list.torn = true;  // an appended block the crash left unwritten
      continue;
    }
    std::size_t space = line.find(' ');
    auto uid = parse_number<std::uint32_t>(line.substr(0, space));
    if (!uid || *uid == 0 || *uid == UINT32_MAX || space == std::string_view::npos) {
      return parse_error("uidlist line " + std::to_string(i + 1) + " has no UID");
    }
    if (!list.records.empty() && *uid <= list.records.back().uid) {
      return parse_error("uidlist UIDs are not ascending at line " + std::to_string(i + 1));
    }
    UidRecord record;
    record.uid = *uid;
    std::string_view rest = line.substr(space + 1);
    if (version3) {
      while (!rest.empty() && rest.front() != ':') {
        std::size_t end = rest.find(' ');
        std::string_view field = rest.substr(0, end);
        if (!field.empty()) record.fields.emplace_back(field);
        rest = end == std::string_view::npos ? std::string_view{} : rest.substr(end + 1);
      }
      if (rest.empty()) return parse_error("uidlist line " + std::to_string(i + 1) + " has no file name");
      rest.remove_prefix(1);
    }
    if (rest.empty() || rest.find('/') != std::string_view::npos) {
      return parse_error("uidlist line " + std::to_string(i + 1) + " has a bad file name");
    }
    record.file_name = std::string(rest);
    if (record.uid >= *next) ++list.modseq;  // appended after the header was written
    list.records.push_back(std::move(record));
  }
  if (!list.records.empty() && list.uid_next <= list.records.back().uid) list.uid_next = list.records.back().uid + 1;
  return list;
}

std::string format_uidlist(const UidList& list) {
  std::string out = "3 V" + std::to_string(list.uid_validity) + " N" + std::to_string(list.uid_next) + " M" +
                    std::to_string(list.modseq);
  for (const std::string& field : list.header_fields) out += " " + field;
  out.push_back('\n');
  return out + format_uidlist_records(list, 0);
}

std::string format_uidlist_records(const UidList& list, std::size_t first) {
  std::string out;
  for (std::size_t i = first; i < list.records.size(); ++i) {
    const UidRecord& record = list.records[i];
    out += std::to_string(record.uid);
    for (const std::string& field : record.fields) out += " " + field;
    out += " :" + record.file_name + "\n";
  }
  return out;
}

std::optional<std::uint64_t> record_field(const UidRecord& record, char key) {
  for (const std::string& field : record.fields) {
    if (!field.empty() && field.front() == key) return parse_number<std::uint64_t>(std::string_view(field).substr(1));
  }
  return std::nullopt;
}

std::vector<std::string> parse_keywords(std::string_view text) {
  std::vector<std::string> keywords;
  for (std::string_view line : split(text, '\n')) {
    std::size_t space = line.find(' ');
    if (space == std::string_view::npos) continue;
    auto index = parse_number<std::size_t>(line.substr(0, space));
    std::string_view keyword = line.substr(space + 1);
    if (!index || *index >= kKeywordLettersMax || keyword.empty()) continue;
    if (keywords.size() <= *index) keywords.resize(*index + 1);
    keywords[*index] = std::string(keyword);
  }
  return keywords;
}

std::string format_keywords(const std::vector<std::string>& keywords) {
  std::string out;
  for (std::size_t i = 0; i < keywords.size(); ++i) {
    if (!keywords[i].empty()) out += std::to_string(i) + " " + keywords[i] + "\n";
  }
  return out;
}

std::vector<std::string> parse_subscriptions(std::string_view text) {
  constexpr std::string_view kVersion2 = "V\t2\n\n";
  bool version2 = text.substr(0, kVersion2.size()) == kVersion2;
  if (version2) text.remove_prefix(kVersion2.size());
  std::vector<std::string> names;
  for (std::string_view line : split(text, '\n')) {
    if (line.empty() || line.find('\x01') != std::string_view::npos) continue;
    std::string name(line);
    if (version2) std::replace(name.begin(), name.end(), '\t', '/');
    auto canonical = canonical_mailbox_name(name);
    if (canonical) names.push_back(std::move(*canonical));
  }
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  return names;
}

std::string format_subscriptions(const std::vector<std::string>& names) {
  std::string out = "V\t2\n\n";
  for (std::string name : names) {
    std::replace(name.begin(), name.end(), '/', '\t');
    out += name + "\n";
  }
  return out;
}

std::string our_base_name(std::int64_t internal_date_s, std::uint32_t uid, std::uint32_t uid_validity,
                          std::uint64_t disk_octets, std::uint64_t size) {
  // Written into one string (this runs for every delivery): <date>.M<uid>V<uidvalidity>.maillab,S=<octets>,W=<size>
  std::string out;
  out.reserve(96);
  net::append_decimal(out, internal_date_s);
  out += ".M";
  net::append_decimal(out, uid);
  out += 'V';
  net::append_decimal(out, uid_validity);
  out += ".maillab,S=";
  net::append_decimal(out, disk_octets);
  out += ",W=";
  net::append_decimal(out, size);
  return out;
}

std::string crlf_to_lf(std::string_view crlf_text) {
  std::string out;
  out.reserve(crlf_text.size());
  // Whole runs up to each CR (net/core/line_break.hpp): a byte at a time was 12% of a 100 KiB delivery.
  std::size_t from = 0;
  while (from < crlf_text.size()) {
    const auto* cr = static_cast<const char*>(std::memchr(crlf_text.data() + from, '\r', crlf_text.size() - from));
    const std::size_t at = cr == nullptr ? crlf_text.size() : static_cast<std::size_t>(cr - crlf_text.data());
    out.append(crlf_text, from, at - from);
    if (at == crlf_text.size()) break;
    if (at + 1 < crlf_text.size() && crlf_text[at + 1] == '\n') {
      out.push_back('\n');
      from = at + 2;
    } else {
      out.push_back('\r');  // a lone CR stays
      from = at + 1;
    }
  }
  return out;
}

std::string lf_form(std::string_view text, std::size_t& line_breaks) {
  // normalize_crlf makes every CR, LF and CRLF a CRLF, and crlf_to_lf then makes each an LF.
  std::string out;
  out.reserve(text.size());
  line_breaks = 0;
  std::size_t at = 0;
  while (at < text.size()) {
    const std::size_t brk = net::next_line_break(text, at);
    out.append(text, at, brk - at);
    if (brk == text.size()) break;
    out += '\n';
    ++line_breaks;
    at = net::after_line_break(text, brk);
  }
  return out;
}

}  // namespace maillab::sim::maildir
