#include "net/imap/imap_search.hpp"

#include <algorithm>
#include <array>

#include "net/imap/imap_format.hpp"
#include "net/imap/imap_message.hpp"
#include "net/mail/message.hpp"

namespace maillab::net::imap {
namespace {

using Op = SearchKey::Op;

class SearchParser {
 public:
  explicit SearchParser(const std::vector<Value>& args) : args_(args) {}

  std::variant<SearchKey, SearchError> run(std::size_t first) {
    pos_ = first;
    if (pos_ < args_.size() && iequals(args_[pos_].text, "CHARSET") && args_[pos_].is_atom()) {
      if (pos_ + 1 >= args_.size()) return SearchError{"Missing charset", false};
      auto cs = args_[pos_ + 1].text;
      if (!iequals(cs, "UTF-8") && !iequals(cs, "US-ASCII")) return SearchError{"Unsupported charset", true};
      pos_ += 2;
    }
    SearchKey all;
    all.op = Op::all_of;
    if (pos_ >= args_.size()) return SearchError{"Missing search criteria", false};
    while (pos_ < args_.size()) {
      auto k = key(args_, pos_, 0);
      if (!k) return SearchError{error_, false};
      all.kids.push_back(std::move(*k));
    }
    return all;
  }

 private:
  std::optional<SearchKey> fail(std::string m) {
    error_ = std::move(m);
    return std::nullopt;
  }

  std::optional<std::string> string_arg(const std::vector<Value>& list, std::size_t& i) {
    if (i >= list.size() || list[i].is_list()) return std::nullopt;
    return list[i++].text;
  }

  std::optional<SearchKey> key(const std::vector<Value>& list, std::size_t& i, std::size_t depth) {
    if (depth > kSearchDepthMax) return fail("Search criteria too deeply nested");
    if (i >= list.size()) return fail("Missing search key");
    const Value& v = list[i++];
    SearchKey k;
    if (v.is_list()) {
      k.op = Op::all_of;
      if (v.items.empty()) return fail("Empty search list");
      std::size_t j = 0;
      while (j < v.items.size()) {
        auto sub = key(v.items, j, depth + 1);
        if (!sub) return std::nullopt;
        k.kids.push_back(std::move(*sub));
      }
      return k;
    }
    if (v.kind == Value::Kind::string) return fail("Unexpected string in search criteria");
    std::string w = upper_ascii(v.text);
    auto flag = [&](const char* f, bool set) {
      SearchKey fk;
      fk.op = Op::flag;
      fk.a = f;
      if (set) return fk;
      SearchKey neg;
      neg.op = Op::negate;
      neg.kids.push_back(std::move(fk));
      return neg;
    };
    if (w == "ALL" || w == "OLD") { k.op = Op::all; return k; }
    if (w == "NEW" || w == "RECENT") { k.op = Op::none; return k; }
    if (w == "ANSWERED") return flag("\\Answered", true);
    if (w == "DELETED") return flag("\\Deleted", true);
    if (w == "DRAFT") return flag("\\Draft", true);
    if (w == "FLAGGED") return flag("\\Flagged", true);
    if (w == "SEEN") return flag("\\Seen", true);
    if (w == "UNANSWERED") return flag("\\Answered", false);
    if (w == "UNDELETED") return flag("\\Deleted", false);
    if (w == "UNDRAFT") return flag("\\Draft", false);
    if (w == "UNFLAGGED") return flag("\\Flagged", false);
    if (w == "UNSEEN") return flag("\\Seen", false);
    if (w == "KEYWORD" || w == "UNKEYWORD") {
      auto kw = string_arg(list, i);
      if (!kw) return fail("Missing keyword");
      auto canon = canonical_flag(*kw);
      if (!canon) return fail("Invalid keyword");
      SearchKey fk = flag("", true);
      fk.a = *canon;
      if (w == "KEYWORD") return fk;
      k.op = Op::negate;
      k.kids.push_back(std::move(fk));
      return k;
    }
    if (w == "NOT") {
      auto sub = key(list, i, depth + 1);
      if (!sub) return std::nullopt;
      k.op = Op::negate;
      k.kids.push_back(std::move(*sub));
      return k;
    }
    if (w == "OR") {
      auto x = key(list, i, depth + 1);
      if (!x) return std::nullopt;
      auto y = key(list, i, depth + 1);
      if (!y) return std::nullopt;
      k.op = Op::any_of;
      k.kids.push_back(std::move(*x));
      k.kids.push_back(std::move(*y));
      return k;
    }
    struct Header { const char* key; const char* field; };
    static constexpr Header kHeaders[] = {{"FROM", "From"}, {"TO", "To"}, {"CC", "Cc"}, {"BCC", "Bcc"},
                                          {"SUBJECT", "Subject"}};
    for (auto h : kHeaders) {
      if (w == h.key) {
        auto s = string_arg(list, i);
        if (!s) return fail("Missing search string");
        k.op = Op::header;
        k.a = h.field;
        k.b = *s;
        return k;
      }
    }
    if (w == "HEADER") {
      auto field = string_arg(list, i);
      auto s = field ? string_arg(list, i) : std::nullopt;
      if (!s) return fail("HEADER needs a field and a string");
      k.op = Op::header;
      k.a = *field;
      k.b = *s;
      return k;
    }
    if (w == "BODY" || w == "TEXT") {
      auto s = string_arg(list, i);
      if (!s) return fail("Missing search string");
      k.op = w == "BODY" ? Op::body : Op::text;
      k.b = *s;
      return k;
    }
    struct DateKey { const char* key; Op op; };
    static constexpr DateKey kDates[] = {{"BEFORE", Op::before},          {"ON", Op::on},
                                         {"SINCE", Op::since},            {"SENTBEFORE", Op::sent_before},
                                         {"SENTON", Op::sent_on},         {"SENTSINCE", Op::sent_since}};
    for (auto d : kDates) {
      if (w == d.key) {
        auto s = string_arg(list, i);
        auto day = s ? parse_search_date(*s) : std::nullopt;
        if (!day) return fail("Invalid date");
        k.op = d.op;
        k.n = *day;
        return k;
      }
    }
    if (w == "LARGER" || w == "SMALLER") {
      auto s = string_arg(list, i);
      if (!s || s->empty() || s->size() > 19 ||
          !std::all_of(s->begin(), s->end(), [](char c) { return c >= '0' && c <= '9'; })) {
        return fail("Invalid size");
      }
      k.op = w == "LARGER" ? Op::larger : Op::smaller;
      k.n = std::stoll(*s);
      return k;
    }
    if (w == "UID") {
      auto s = string_arg(list, i);
      auto set = s ? SequenceSet::parse(*s) : std::nullopt;
      if (!set) return fail("Invalid UID set");
      k.op = Op::uid;
      k.set = std::move(set);
      return k;
    }
    if (auto set = SequenceSet::parse(v.text)) {
      k.op = Op::seq;
      k.set = std::move(set);
      return k;
    }
    return fail("Unknown search key " + v.text);
  }

  const std::vector<Value>& args_;
  std::size_t pos_ = 0;
  std::string error_;
};

char fold(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

char unfold(char c) { return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c; }

// Case-insensitive (ASCII) substring search: Boyer-Moore-Horspool on folded octets.
bool icontains(std::string_view hay, std::string_view needle) {
  const std::size_t n = needle.size();
  if (n == 0) return true;
  if (n > hay.size()) return false;
  std::string folded(needle);
  for (char& c : folded) c = fold(c);
  std::array<std::size_t, 256> skip{};
  skip.fill(n);
  for (std::size_t i = 0; i + 1 < n; ++i) {
    skip[static_cast<unsigned char>(folded[i])] = n - 1 - i;
    skip[static_cast<unsigned char>(unfold(folded[i]))] = n - 1 - i;
  }
  const char last = folded[n - 1];
  for (std::size_t pos = 0; pos + n <= hay.size();) {
    const char tail = hay[pos + n - 1];
    if (fold(tail) == last) {
      std::size_t i = 0;
      while (i + 1 < n && fold(hay[pos + i]) == folded[i]) ++i;
      if (i + 1 >= n) return true;
    }
    pos += skip[static_cast<unsigned char>(tail)];
  }
  return false;
}

const std::string* raw_of(const SearchSubject& s) {
  if (s.raw) return s.raw();
  const ParsedMessage* m = s.message ? s.message() : nullptr;
  return m == nullptr ? nullptr : &m->raw();
}

std::int64_t day_of(std::int64_t unix_s) { return unix_s >= 0 ? unix_s / 86400 : (unix_s - 86399) / 86400; }

std::optional<std::int64_t> sent_day(const SearchSubject& s) {
  const ParsedMessage* m = s.message ? s.message() : nullptr;
  if (m == nullptr) return std::nullopt;
  auto dates = m->header_values("Date");
  if (dates.empty()) return std::nullopt;
  auto t = mail::parse_rfc5322_date(dates.front());
  if (!t) return std::nullopt;
  return day_of(*t);
}

}  // namespace

std::variant<SearchKey, SearchError> parse_search(const std::vector<Value>& args, std::size_t first) {
  return SearchParser(args).run(first);
}

bool search_needs_message(const SearchKey& key) {
  switch (key.op) {
    case Op::header: case Op::body: case Op::text: case Op::sent_before: case Op::sent_on: case Op::sent_since:
      return true;
    default:
      return std::any_of(key.kids.begin(), key.kids.end(), [](const SearchKey& k) { return search_needs_message(k); });
  }
}

bool search_matches(const SearchKey& key, const SearchSubject& s) {
  const auto& meta = *s.meta;
  switch (key.op) {
    case Op::all: return true;
    case Op::none: return false;
    case Op::all_of:
      return std::all_of(key.kids.begin(), key.kids.end(), [&](const SearchKey& k) { return search_matches(k, s); });
    case Op::any_of:
      return std::any_of(key.kids.begin(), key.kids.end(), [&](const SearchKey& k) { return search_matches(k, s); });
    case Op::negate: return !search_matches(key.kids[0], s);
    case Op::seq: return contains(key.set->resolve(s.max_seq), s.seq);
    case Op::uid: return contains(key.set->resolve(s.max_uid), meta.uid);
    case Op::flag:
      return std::any_of(meta.flags.begin(), meta.flags.end(), [&](const std::string& f) { return iequals(f, key.a); });
    case Op::larger: return meta.size > static_cast<std::uint64_t>(key.n);
    case Op::smaller: return meta.size < static_cast<std::uint64_t>(key.n);
    case Op::before: return day_of(meta.internal_date_s) < key.n;
    case Op::on: return day_of(meta.internal_date_s) == key.n;
    case Op::since: return day_of(meta.internal_date_s) >= key.n;
    case Op::sent_before: { auto d = sent_day(s); return d && *d < key.n; }
    case Op::sent_on: { auto d = sent_day(s); return d && *d == key.n; }
    case Op::sent_since: { auto d = sent_day(s); return d && *d >= key.n; }
    case Op::header: {
      const ParsedMessage* m = s.message ? s.message() : nullptr;
      if (m == nullptr) return false;
      auto values = m->header_values(key.a);
      return std::any_of(values.begin(), values.end(), [&](const std::string& v) { return icontains(v, key.b); });
    }
    case Op::body: {
      const std::string* raw = raw_of(s);
      return raw != nullptr && icontains(split_message(*raw).second, key.b);
    }
    case Op::text: {
      const std::string* raw = raw_of(s);
      return raw != nullptr && icontains(*raw, key.b);
    }
  }
  return false;
}

}  // namespace maillab::net::imap
