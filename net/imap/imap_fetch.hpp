// FETCH data items (RFC 3501 §6.4.5) parsed from the command's argument: a
// single item, a parenthesised list, or the macros ALL, FAST and FULL.
//
//   BODY[<section>]<<origin.count>>, BODY.PEEK[...]: section = part numbers
//   ("1.2") optionally followed by HEADER, HEADER.FIELDS (list),
//   HEADER.FIELDS.NOT (list), TEXT or MIME (MIME only after a part number).
// Partial ranges are parsed with overflow checks (catalogue row 42).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "net/imap/imap_parser.hpp"

namespace maillab::net::imap {

struct FetchItem {
  enum class Kind : std::uint8_t {
    uid, flags, internal_date, rfc822_size, envelope, body_structure, body, section, rfc822, rfc822_header,
    rfc822_text
  };
  Kind kind = Kind::uid;
  bool peek = false;
  std::vector<std::uint32_t> part;
  std::string text_spec;              // "", HEADER, HEADER.FIELDS, HEADER.FIELDS.NOT, TEXT, MIME
  std::vector<std::string> fields;    // upper-cased
  std::optional<std::uint32_t> origin;
  std::uint32_t count = 0;
  std::string label;                  // as the response names it: BODY[1.HEADER]<0>
};

// nullopt with a reason when the argument is not valid fetch-att syntax.
std::variant<std::vector<FetchItem>, std::string> parse_fetch_items(const Value& arg);

}  // namespace maillab::net::imap
