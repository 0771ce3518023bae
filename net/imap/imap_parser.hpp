// IMAP command framing and parsing (RFC 3501 §2.2, §4, §9; LITERAL+/LITERAL-,
// RFC 7888).
//
// Two layers.  CommandReader frames bytes into commands: a command is a line,
// and when a line ends in a literal announcement "{n}" or "{n+}" it continues
// with exactly n octets and then another line.  At each announcement the reader
// stops and reports it (LiteralAnnounced); the server decides — before anything
// is allocated and before "+" is sent for a synchronising literal — whether to
// accept it (accept_literal) or refuse it (reject_literal).  A refused
// synchronising literal drops the command: the client sends no octets (RFC 3501
// §7.5).  A refused non-synchronising literal leaves the reader dead, because
// its octets are already on the way and must never be read as commands
// (catalogue row 35); the server says BYE.  In raw-line mode (AUTHENTICATE
// responses, IDLE's DONE) lines are handed over as they are.
//
// parse_command turns a framed command into tag, verb and a tree of values
// (atoms, strings, lists), enforcing the nesting depth and argument limits
// (catalogue rows 36-38).  An atom may carry a bracketed part with spaces, as
// in BODY.PEEK[HEADER.FIELDS (From To)]<0.100>, which stays one atom.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "net/core/result.hpp"

namespace maillab::net::imap {

struct ParserLimits {
  std::size_t line_bytes_max = 64 * 1024;          // one line (RFC 7162 §4: at least 8192)
  std::size_t command_bytes_max = 64 * 1024;       // lines + literals, APPEND data aside
  std::size_t literals_max = 64;                   // literals in one command
  std::size_t nonsync_literal_bytes_max = 4096;    // {n+} under LITERAL- (RFC 7888 §5)
  std::size_t depth_max = 8;                       // nested parenthesised lists
  std::size_t args_max = 1024;                     // values in one command, all levels
};

// A command as framed: lines[0] {lit 0} lines[1] {lit 1} ... lines[k].  Every
// line but the last ends in its literal's announcement.
struct RawCommand {
  std::vector<std::string> lines;
  std::vector<std::string> literals;
  [[nodiscard]] std::size_t bytes() const;
};

struct LiteralAnnounced {
  std::uint64_t size = 0;  // UINT64_MAX when the digits overflow
  bool synchronising = true;
  const RawCommand* so_far = nullptr;  // valid until the next call on the reader
};
struct CommandReady {
  RawCommand command;
};
struct RawLine {
  std::string text;
};
// The reader cannot go on (a line over the limit, or a refused {n+}): say BYE.
struct ReaderFailed {
  std::string reason;
};

using ReaderOutput = std::variant<std::monostate, LiteralAnnounced, CommandReady, RawLine, ReaderFailed>;

class CommandReader {
 public:
  explicit CommandReader(ParserLimits limits = {}) : limits_(limits) {}

  void push(std::string_view bytes);
  // The next framed unit; monostate when more bytes are needed (or while a
  // literal announcement waits for its verdict).
  ReaderOutput next();

  void accept_literal();
  // Synchronising: the command is dropped and reading resumes at the next line.
  // Non-synchronising: the reader fails for good.
  void reject_literal();

  void set_raw_lines(bool raw) { raw_ = raw; }
  void set_line_bytes_max(std::size_t n) { limits_.line_bytes_max = n; }
  // STARTTLS: plaintext pipelined behind the command is thrown away.
  void discard_buffered() { buffer_.clear(); pos_ = 0; }
  [[nodiscard]] bool failed() const { return failed_; }
  [[nodiscard]] std::size_t literal_bytes_pending() const { return literal_left_; }

 private:
  enum class Mode : std::uint8_t { line, literal, awaiting_verdict };

  void compact();

  ParserLimits limits_;
  std::string buffer_;
  std::size_t pos_ = 0;
  Mode mode_ = Mode::line;
  RawCommand current_;
  std::uint64_t announced_ = 0;
  bool announced_sync_ = true;
  std::size_t literal_left_ = 0;
  bool raw_ = false;
  bool failed_ = false;
};

// A trailing "{n}" / "{n+}" on a line: the size (UINT64_MAX on overflow) and
// whether it synchronises.  nullopt when the line does not end in one.
struct LiteralSpec {
  std::uint64_t size = 0;
  bool synchronising = true;
  std::size_t offset = 0;  // where '{' is
};
std::optional<LiteralSpec> trailing_literal(std::string_view line);

struct Value {
  enum class Kind : std::uint8_t { atom, string, list };
  Kind kind = Kind::atom;
  std::string text;          // atom or string contents
  std::vector<Value> items;  // list members
  bool literal = false;      // the string came as a literal

  [[nodiscard]] bool is_atom() const { return kind == Kind::atom; }
  [[nodiscard]] bool is_list() const { return kind == Kind::list; }
  [[nodiscard]] bool is_nil() const;
  // atom or string (astring, RFC 3501 §9)
  [[nodiscard]] std::optional<std::string> astring() const;
};

struct Command {
  std::string tag;
  std::string verb;  // upper-cased
  std::vector<Value> args;
};

// parse_command errors carry the tag (when one was read) so the reply can be
// "tag BAD ..." rather than "* BAD ...".
struct ParseError {
  std::string tag;
  std::string message;
};

std::variant<Command, ParseError> parse_command(const RawCommand& raw, const ParserLimits& limits);

// The values from `offset` in the first line on, for responses ("* 3 FETCH (...)")
// where there is no tag and verb to read first.
std::variant<std::vector<Value>, ParseError> parse_values(const RawCommand& raw, std::size_t offset,
                                                          const ParserLimits& limits);

// The verb of a partly framed command (for literal decisions), upper-cased.
std::string peek_verb(const RawCommand& raw);

// A string as the shortest valid IMAP string: an atom-safe quoted string or a
// literal "{n}\r\n..." for anything with CR, LF, NUL, 8-bit or over 1 KiB.
std::string imap_string(std::string_view s);
std::string imap_nstring(const std::optional<std::string>& s);
std::string upper_ascii(std::string_view s);
bool iequals(std::string_view a, std::string_view b);

}  // namespace maillab::net::imap
