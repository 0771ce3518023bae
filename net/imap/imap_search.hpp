// SEARCH criteria (RFC 3501 §6.4.4) as a tree, parsed from command arguments
// and evaluated per message.
//
// Every RFC 3501 key is supported: ALL, ANSWERED, BCC, BEFORE, BODY, CC,
// DELETED, DRAFT, FLAGGED, FROM, HEADER, KEYWORD, LARGER, NEW, NOT, OLD, ON, OR,
// RECENT, SEEN, SENTBEFORE, SENTON, SENTSINCE, SINCE, SMALLER, SUBJECT, TEXT,
// TO, UID, UNANSWERED, UNDELETED, UNDRAFT, UNFLAGGED, UNKEYWORD, UNSEEN, a
// sequence set and parenthesised lists.  NOT and OR chains and lists are
// bounded by kSearchDepthMax (catalogue row 38).  String matching is a
// case-insensitive substring match (ASCII case folding, a Boyer-Moore-Horspool
// scan); header keys match the decoded (RFC 2047) value, BODY and TEXT the raw
// octets, which need no MIME parse.  This server keeps no \Recent state, so
// RECENT and NEW match nothing and OLD matches everything.  CHARSET accepts
// UTF-8 and US-ASCII, anything else is NO [BADCHARSET].
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "net/imap/imap_parser.hpp"
#include "net/imap/imap_sequence.hpp"
#include "net/mail/mail_store.hpp"

namespace maillab::net::imap {

inline constexpr std::size_t kSearchDepthMax = 32;

class ParsedMessage;

struct SearchKey {
  enum class Op : std::uint8_t {
    all, none, all_of, any_of, negate, seq, uid, flag, header, body, text,
    before, on, since, sent_before, sent_on, sent_since, larger, smaller
  };
  Op op = Op::all;
  std::vector<SearchKey> kids;
  std::string a, b;  // flag / header field and value / search text
  std::int64_t n = 0;
  std::optional<SequenceSet> set;
};

struct SearchError {
  std::string message;
  bool bad_charset = false;
};

std::variant<SearchKey, SearchError> parse_search(const std::vector<Value>& args, std::size_t first);

struct SearchSubject {
  std::uint32_t seq = 0;
  const mail::MessageMeta* meta = nullptr;
  std::uint32_t max_seq = 0;
  std::uint32_t max_uid = 0;
  std::function<const ParsedMessage*()> message;  // lazily read and parsed; null if unreadable
  // The raw octets alone (BODY and TEXT need no MIME parse); when unset, message()->raw().
  std::function<const std::string*()> raw;
};

bool search_matches(const SearchKey& key, const SearchSubject& subject);
// True when the key needs the message text (so callers can skip reading it).
bool search_needs_message(const SearchKey& key);

}  // namespace maillab::net::imap
