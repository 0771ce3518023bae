// A stored message as IMAP FETCH sees it (RFC 3501 §6.4.5, §7.4.2): the MIME
// tree with the exact raw bytes of every part, ENVELOPE, BODY/BODYSTRUCTURE and
// BODY[section] extraction.
//
// Theory of operation.  GMime 3 parses every part's header block (content type,
// RFC 2231 parameters, disposition, addresses, encoded words); the raw bytes of
// each part are located by splitting at the first empty line and at the
// multipart boundary GMime read from the Content-Type.  Sizes and line counts in
// BODYSTRUCTURE come from those raw bytes, so they match BODY[n] byte for byte.
// Part numbering follows RFC 3501 §6.4.5: a non-multipart message has one part,
// "1"; a message/rfc822 part's children are its embedded message's parts, and
// its HEADER/TEXT are the embedded message's.
//
// MIME bombs (catalogue rows 32, 38).  Nesting deeper than kMimeDepthMax is an
// opaque leaf: the multipart at that depth is not split (BODYSTRUCTURE shows it
// with one placeholder text part, BODY[n] returns its raw bytes).  At most
// kMimePartsMax parts are made in all, depth first as a streaming parser meets
// them (Dovecot's message-parser: max_total_mime_parts 10000): once they are
// used up, whatever follows in a multipart is opaque bytes at the end of its
// last part, so BODY[] and the last part still hold every byte.  An embedded
// message/rfc822 beyond either cap keeps its header (ENVELOPE) but is not
// split further.  Each level scans only its own part's bytes, so the work is
// at most kMimeDepthMax passes over the message: linear in its size.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace maillab::net::imap {

inline constexpr std::size_t kMimeDepthMax = 16;      // Dovecot allows 100; real mail nests a handful
inline constexpr std::size_t kMimePartsMax = 10'000;  // every node of the tree, the root included

using Params = std::vector<std::pair<std::string, std::string>>;

struct MimeNode {
  std::string_view header;  // raw header block, including the empty line that ends it
  std::string_view body;    // raw body
  std::string type = "text";
  std::string subtype = "plain";
  Params params;
  std::optional<std::string> id, description, md5, language, location;
  std::string encoding = "7BIT";
  std::optional<std::string> disposition;
  Params disposition_params;
  std::vector<MimeNode> parts;               // multipart children
  std::unique_ptr<MimeNode> message;         // message/rfc822: the embedded message
  std::string envelope;                      // message/rfc822 and the root: ENVELOPE

  [[nodiscard]] bool is_multipart() const;
  [[nodiscard]] bool is_message() const { return message != nullptr; }
};

class ParsedMessage {
 public:
  explicit ParsedMessage(std::string raw);

  [[nodiscard]] const std::string& raw() const { return raw_; }
  [[nodiscard]] const MimeNode& root() const { return *root_; }
  [[nodiscard]] std::string envelope() const { return root_->envelope; }
  // BODYSTRUCTURE when extensible, BODY otherwise.
  [[nodiscard]] std::string body_structure(bool extensible) const;
  // The header value(s) of `name` in the root header, decoded (RFC 2047) and
  // unfolded; empty when absent.
  [[nodiscard]] std::vector<std::string> header_values(std::string_view name) const;

  // BODY[section] without the partial: nullopt for a section that does not
  // exist (an empty string is returned then, RFC 3501 §6.4.5 allows either).
  [[nodiscard]] std::optional<std::string> section(const std::vector<std::uint32_t>& part,
                                                   std::string_view text_spec,
                                                   const std::vector<std::string>& fields) const;

 private:
  std::string raw_;
  std::unique_ptr<MimeNode> root_;
};

// A message's header block (up to and including the empty line that ends it)
// and body: what BODY[HEADER] and BODY[TEXT] return, without parsing MIME.
std::pair<std::string_view, std::string_view> split_message(std::string_view raw);

// Header lines of `header` whose names are (or, with `negate`, are not) in
// `fields`, folded lines kept whole, followed by the empty line.
std::string filter_header(std::string_view header, const std::vector<std::string>& fields, bool negate);

}  // namespace maillab::net::imap
