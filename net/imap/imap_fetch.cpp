#include "net/imap/imap_fetch.hpp"

#include "net/imap/imap_sequence.hpp"

namespace maillab::net::imap {
namespace {

// "BODY[...]<o.n>" / "BODY.PEEK[...]" after the prefix up to and including '['.
std::optional<FetchItem> parse_section(std::string_view rest, bool peek) {
  auto close = rest.find(']');
  if (close == std::string_view::npos) return std::nullopt;
  std::string_view sec = rest.substr(0, close);
  std::string_view tail = rest.substr(close + 1);
  FetchItem item;
  item.kind = FetchItem::Kind::section;
  item.peek = peek;
  while (!sec.empty() && sec[0] >= '0' && sec[0] <= '9') {
    auto dot = sec.find('.');
    auto num = parse_u32(sec.substr(0, dot));
    if (!num || *num == 0) return std::nullopt;
    item.part.push_back(*num);
    if (dot == std::string_view::npos) {
      sec = {};
      break;
    }
    sec.remove_prefix(dot + 1);
    if (sec.empty()) return std::nullopt;
  }
  std::string spec = upper_ascii(sec);
  std::string field_text;
  if (spec.rfind("HEADER.FIELDS", 0) == 0) {
    auto paren = spec.find(" (");
    if (paren == std::string::npos || spec.back() != ')') return std::nullopt;
    std::string kind = spec.substr(0, paren);
    if (kind != "HEADER.FIELDS" && kind != "HEADER.FIELDS.NOT") return std::nullopt;
    std::string_view list = std::string_view(spec).substr(paren + 2, spec.size() - paren - 3);
    while (!list.empty()) {
      auto sp = list.find(' ');
      auto f = list.substr(0, sp);
      if (f.empty()) return std::nullopt;
      if (f.front() == '"' && f.size() >= 2 && f.back() == '"') f = f.substr(1, f.size() - 2);
      for (char c : f) {
        if (static_cast<unsigned char>(c) <= 0x20 || c == ':' || c == '(' || c == ')') return std::nullopt;
      }
      item.fields.emplace_back(f);
      if (sp == std::string_view::npos) break;
      list.remove_prefix(sp + 1);
    }
    if (item.fields.empty()) return std::nullopt;
    item.text_spec = kind;
    field_text = " (";
    for (std::size_t i = 0; i < item.fields.size(); ++i) field_text += (i ? " " : "") + item.fields[i];
    field_text += ")";
  } else if (spec == "HEADER" || spec == "TEXT" || spec.empty()) {
    item.text_spec = spec;
  } else if (spec == "MIME" && !item.part.empty()) {
    item.text_spec = spec;
  } else {
    return std::nullopt;
  }
  if (!tail.empty()) {
    if (tail.front() != '<' || tail.back() != '>') return std::nullopt;
    auto inner = tail.substr(1, tail.size() - 2);
    auto dot = inner.find('.');
    if (dot == std::string_view::npos) return std::nullopt;
    auto o = parse_u32(inner.substr(0, dot));
    auto n = parse_u32(inner.substr(dot + 1));
    if (!o || !n || *n == 0) return std::nullopt;
    item.origin = *o;
    item.count = *n;
  }
  std::string label = "BODY[";
  for (std::size_t i = 0; i < item.part.size(); ++i) label += (i ? "." : "") + std::to_string(item.part[i]);
  if (!item.part.empty() && !item.text_spec.empty()) label += ".";
  label += item.text_spec + field_text + "]";
  if (item.origin) label += "<" + std::to_string(*item.origin) + ">";
  item.label = label;
  return item;
}

std::optional<FetchItem> parse_one(std::string_view text) {
  std::string up = upper_ascii(text);
  FetchItem item;
  using K = FetchItem::Kind;
  struct Simple { const char* name; K kind; };
  static constexpr Simple kSimple[] = {{"UID", K::uid},
                                       {"FLAGS", K::flags},
                                       {"INTERNALDATE", K::internal_date},
                                       {"RFC822.SIZE", K::rfc822_size},
                                       {"ENVELOPE", K::envelope},
                                       {"BODYSTRUCTURE", K::body_structure},
                                       {"BODY", K::body},
                                       {"RFC822", K::rfc822},
                                       {"RFC822.HEADER", K::rfc822_header},
                                       {"RFC822.TEXT", K::rfc822_text}};
  for (auto s : kSimple) {
    if (up == s.name) {
      item.kind = s.kind;
      item.label = s.name;
      return item;
    }
  }
  if (up.rfind("BODY.PEEK[", 0) == 0) return parse_section(std::string_view(text).substr(10), true);
  if (up.rfind("BODY[", 0) == 0) return parse_section(std::string_view(text).substr(5), false);
  return std::nullopt;
}

}  // namespace

std::variant<std::vector<FetchItem>, std::string> parse_fetch_items(const Value& arg) {
  std::vector<FetchItem> items;
  std::vector<std::string> names;
  if (arg.is_list()) {
    if (arg.items.empty()) return std::string("Empty fetch list");
    for (const auto& v : arg.items) {
      if (!v.is_atom()) return std::string("Invalid fetch item");
      names.push_back(v.text);
    }
  } else if (arg.is_atom()) {
    std::string up = upper_ascii(arg.text);
    if (up == "ALL") names = {"FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE"};
    else if (up == "FAST") names = {"FLAGS", "INTERNALDATE", "RFC822.SIZE"};
    else if (up == "FULL") names = {"FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE", "BODY"};
    else names = {arg.text};
  } else {
    return std::string("Invalid fetch item");
  }
  for (const auto& n : names) {
    auto item = parse_one(n);
    if (!item) return "Invalid fetch item " + n;
    items.push_back(std::move(*item));
  }
  return items;
}

}  // namespace maillab::net::imap
