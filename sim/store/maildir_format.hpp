// The Maildir on-disk formats, pure (no file access), so that each is tested
// on its own.  What mutt and Dovecot read:
//
// Folder directories (Maildir++, as Dovecot's default LAYOUT=maildir++):
//   INBOX is the user's Maildir itself; "Archive/2026" is the directory
//   ".Archive.2026" beside INBOX's cur/ new/ tmp/.  Each part is stored in
//   modified UTF-7 (RFC 3501 §5.1.3; Dovecot keeps folder names in mUTF-7 on
//   disk), then a literal '.' is written "\2e" and a literal '\' "\5c", the
//   "\NN" hex escape of Dovecot's listescape plugin, so "v1.2" round-trips as
//   ".v1\2e2" (Dovecot reads it back as "v1.2" with listescape and separator
//   '/').  A directory name that does not encode a valid name canonically is
//   not a mailbox for us (decode then re-encode must give the same name).
//
// Message files (cr.yp.to/proto/maildir.html plus Dovecot's extensions):
//   "<base>[:2,<flags>[,<more>]]"; base is ours
//   "<internal_date_s>.M<uid>V<uidvalidity>.maillab,S=<octets on disk>,W=<RFC822.SIZE>".
//   Files hold LF line ends on disk (what mutt and Dovecot expect); read()
//   turns them back into CRLF, and W= records the CRLF size exactly.  Flag
//   letters in ASCII order: D \Draft, F \Flagged, R \Answered, S \Seen,
//   T \Deleted, and a..z the keywords listed in the folder's dovecot-keywords
//   file ("<index> <keyword>" lines: 0 is 'a').  Other letters (P "passed")
//   are kept as they are.
//
// dovecot-uidlist (Dovecot's version 3, courierimapuiddb-compatible v1 read too):
//   "3 V<uidvalidity> N<uidnext> [M<modseq>] [other header fields]" then one
//   "<uid> [<key><value> ...] :<last known filename>" line per message in
//   ascending UID order.  M is ours (Dovecot keeps unknown header fields);
//   W<vsize> caches RFC822.SIZE for files whose name carries no W=.  New
//   records are appended without touching the header, as Dovecot does: N is
//   then at most the next UID (the reader takes the larger), and each record
//   at or above the header's N counts as one more change for the modseq.  A
//   last line without its LF, or a line with NUL octets, is an append that a
//   crash cut short: it is skipped and `torn` says so (rewrite, never append
//   after it).
//
// subscriptions (Dovecot's version 2): "V\t2\n\n" then one line per
//   subscribed name, hierarchy parts separated by TAB, UTF-8.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "net/core/result.hpp"
#include "net/mail/mail_store.hpp"

namespace maillab::sim::maildir {

// Modified UTF-7 of RFC 3501 §5.1.3.  `utf8` must be valid UTF-8.
std::string mutf7_encode(std::string_view utf8);
// Strict: refuses bad base64, bad UTF-16, and non-canonical forms.
std::optional<std::string> mutf7_decode(std::string_view mutf7);

// ".Archive.2026" for "Archive/2026" (a canonical name other than INBOX), or
// invalid_argument when the directory name would exceed 255 octets.
Result<std::string> folder_dir_name(std::string_view canonical_name);
// The canonical mailbox name a directory entry stands for, if any.
std::optional<std::string> mailbox_name_of_dir(std::string_view dir_name);

// A message file name split into its parts.
struct FileName {
  std::string_view base;     // up to the ':' (the unique part plus ,S= ,W=)
  std::string_view letters;  // the flag letters after ":2,"
  std::string_view tail;     // after the letters: "" or ",<more>"
  bool has_info = false;     // ":2," present
};
FileName split_file_name(std::string_view name);
// The value of a ",<key>=<digits>" field in `base`, if any.
std::optional<std::uint64_t> base_field(std::string_view base, char key);

// Flags <-> letters.  `keywords` is the folder's dovecot-keywords list (index =
// letter - 'a'); flags_to_letters appends keywords it lacks, and fails with
// invalid_argument past 26 keywords.  Letters outside DFRST and a..z in
// `keep` are kept.
net::mail::Flags letters_to_flags(std::string_view letters, const std::vector<std::string>& keywords);
Result<std::string> flags_to_letters(const net::mail::Flags& flags, std::vector<std::string>& keywords,
                                     std::string_view keep);

struct UidRecord {
  std::uint32_t uid = 0;
  std::vector<std::string> fields;  // "<key><value>" tokens, e.g. "W2481"
  std::string file_name;            // last known name, with ":2,<flags>"
};

struct UidList {
  std::uint32_t uid_validity = 0;
  std::uint32_t uid_next = 1;
  std::uint64_t modseq = 1;
  std::vector<std::string> header_fields;  // fields we do not interpret, kept
  std::vector<UidRecord> records;          // ascending UID
  bool torn = false;                       // parse skipped an append cut short
};

Result<UidList> parse_uidlist(std::string_view text);
std::string format_uidlist(const UidList& list);
// The lines of records[first..] alone, to append to a file holding the ones before.
std::string format_uidlist_records(const UidList& list, std::size_t first);
std::optional<std::uint64_t> record_field(const UidRecord& record, char key);

std::vector<std::string> parse_keywords(std::string_view text);
std::string format_keywords(const std::vector<std::string>& keywords);

std::vector<std::string> parse_subscriptions(std::string_view text);
std::string format_subscriptions(const std::vector<std::string>& names);

// The unique base of a message we deliver.
std::string our_base_name(std::int64_t internal_date_s, std::uint32_t uid, std::uint32_t uid_validity,
                          std::uint64_t disk_octets, std::uint64_t size);

// CRLF text (normalised) -> the LF form stored on disk.
std::string crlf_to_lf(std::string_view crlf_text);
// Any text -> the LF form stored on disk, in one pass: crlf_to_lf(net::mail::normalize_crlf(text)),
// whose CRLF form (RFC822.SIZE) is the LF form's size plus `line_breaks`.
std::string lf_form(std::string_view text, std::size_t& line_breaks);

}  // namespace maillab::sim::maildir
