#include "net/imap/imap_message.hpp"

#include <gmime/gmime.h>

#include <algorithm>

#include "net/imap/imap_parser.hpp"

namespace maillab::net::imap {
namespace {

void ensure_gmime() {
  static const bool initialised = [] {
    g_mime_init();
    return true;
  }();
  (void)initialised;
}

std::string trim_unfold(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\r' || c == '\n') continue;
    out.push_back(c == '\t' ? ' ' : c);
  }
  auto b = out.find_first_not_of(' ');
  if (b == std::string::npos) return {};
  auto e = out.find_last_not_of(' ');
  return out.substr(b, e - b + 1);
}

// Splits a part at its first empty line ("\r\n\r\n" or "\n\n", whichever
// comes first; the scan stops there).  An empty header (the part starts with
// CRLF) keeps that CRLF as its header.
std::pair<std::string_view, std::string_view> split_header_body(std::string_view raw) {
  if (raw.substr(0, 2) == "\r\n") return {raw.substr(0, 2), raw.substr(2)};
  if (raw.substr(0, 1) == "\n") return {raw.substr(0, 1), raw.substr(1)};
  for (auto nl = raw.find('\n'); nl != std::string_view::npos; nl = raw.find('\n', nl + 1)) {
    if (nl + 1 < raw.size() && raw[nl + 1] == '\n') return {raw.substr(0, nl + 2), raw.substr(nl + 2)};
    if (nl >= 1 && raw[nl - 1] == '\r' && nl + 2 < raw.size() && raw[nl + 1] == '\r' && raw[nl + 2] == '\n') {
      return {raw.substr(0, nl + 3), raw.substr(nl + 3)};
    }
  }
  return {raw, raw.substr(raw.size())};
}

// The parts between "--boundary" delimiter lines (RFC 2046 §5.1.1); the CRLF
// before a delimiter belongs to the delimiter.
std::vector<std::string_view> split_multipart(std::string_view body, std::string_view boundary) {
  struct Delim {
    std::size_t start, end;
    bool close;
  };
  std::vector<Delim> delims;
  std::string dash = "--" + std::string(boundary);
  std::size_t line = 0;
  while (line <= body.size()) {
    auto nl = body.find('\n', line);
    std::size_t line_end = nl == std::string_view::npos ? body.size() : nl + 1;
    auto text = body.substr(line, line_end - line);
    if (text.substr(0, dash.size()) == dash) {
      auto rest = text.substr(dash.size());
      bool close = rest.substr(0, 2) == "--";
      if (close) rest.remove_prefix(2);
      bool only_space = std::all_of(rest.begin(), rest.end(),
                                    [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; });
      if (only_space) {
        delims.push_back({line, line_end, close});
        if (close) break;
      }
    }
    if (nl == std::string_view::npos) break;
    line = line_end;
  }
  std::vector<std::string_view> parts;
  for (std::size_t i = 0; i < delims.size(); ++i) {
    if (delims[i].close) break;
    std::size_t from = delims[i].end;
    std::size_t to = body.size();
    if (i + 1 < delims.size()) {
      to = delims[i + 1].start;
      if (to >= from + 2 && body.substr(to - 2, 2) == "\r\n") to -= 2;
      else if (to >= from + 1 && body[to - 1] == '\n') to -= 1;
    }
    parts.push_back(body.substr(from, std::max(to, from) - from));
  }
  return parts;
}

std::size_t count_lines(std::string_view body) {
  auto n = static_cast<std::size_t>(std::count(body.begin(), body.end(), '\n'));
  if (!body.empty() && body.back() != '\n') ++n;
  return n;
}

struct GObjectDeleter {
  void operator()(void* p) const { g_object_unref(p); }
};
using ObjectPtr = std::unique_ptr<GMimeObject, GObjectDeleter>;

ObjectPtr parse_header_block(std::string_view header) {
  ensure_gmime();
  std::string block(header);
  if (block.empty() || block.back() != '\n') block += "\r\n\r\n";
  GMimeStream* stream = g_mime_stream_mem_new_with_buffer(block.data(), block.size());
  GMimeParser* parser = g_mime_parser_new_with_stream(stream);
  GMimeObject* obj = g_mime_parser_construct_part(parser, nullptr);
  g_object_unref(parser);
  g_object_unref(stream);
  return ObjectPtr(obj);
}

std::optional<std::string> raw_header(GMimeObject* obj, const char* name) {
  if (obj == nullptr) return std::nullopt;
  GMimeHeaderList* list = g_mime_object_get_header_list(obj);
  GMimeHeader* h = g_mime_header_list_get_header(list, name);
  if (h == nullptr) return std::nullopt;
  const char* raw = g_mime_header_get_raw_value(h);
  if (raw == nullptr) return std::string{};
  return trim_unfold(raw);
}

Params param_list(GMimeParamList* list) {
  Params out;
  if (list == nullptr) return out;
  int n = g_mime_param_list_length(list);
  for (int i = 0; i < n; ++i) {
    GMimeParam* p = g_mime_param_list_get_parameter_at(list, i);
    const char* name = g_mime_param_get_name(p);
    const char* value = g_mime_param_get_value(p);
    out.emplace_back(upper_ascii(name ? name : ""), value ? value : "");
  }
  return out;
}

std::string encode_name(const char* name) {
  std::string_view n(name);
  bool ascii = std::all_of(n.begin(), n.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; });
  if (ascii) return std::string(n);
  char* encoded = g_mime_utils_header_encode_phrase(nullptr, name, "utf-8");
  std::string out = encoded ? encoded : "";
  g_free(encoded);
  return out;
}

void append_address_list(std::string& out, InternetAddressList* list);

void append_address(std::string& out, InternetAddress* ia) {
  if (INTERNET_ADDRESS_IS_GROUP(ia)) {
    const char* name = internet_address_get_name(ia);
    out += "(NIL NIL " + imap_string(name ? encode_name(name) : "") + " NIL)";
    append_address_list(out, internet_address_group_get_members(INTERNET_ADDRESS_GROUP(ia)));
    out += "(NIL NIL NIL NIL)";
    return;
  }
  const char* name = internet_address_get_name(ia);
  const char* addr = internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(ia));
  std::string_view a = addr ? addr : "";
  auto at = a.rfind('@');
  out += "(";
  out += (name && *name) ? imap_string(encode_name(name)) : "NIL";
  out += " NIL ";
  out += imap_string(at == std::string_view::npos ? a : a.substr(0, at));
  out += " ";
  out += at == std::string_view::npos ? "NIL" : imap_string(a.substr(at + 1));
  out += ")";
}

void append_address_list(std::string& out, InternetAddressList* list) {
  if (list == nullptr) return;
  int n = internet_address_list_length(list);
  for (int i = 0; i < n; ++i) append_address(out, internet_address_list_get_address(list, i));
}

std::string addresses(GMimeObject* obj, const char* name) {
  auto raw = raw_header(obj, name);
  if (!raw || raw->empty()) return "NIL";
  InternetAddressList* list = internet_address_list_parse(nullptr, raw->c_str());
  if (list == nullptr) return "NIL";
  std::string inner;
  append_address_list(inner, list);
  g_object_unref(list);
  return inner.empty() ? "NIL" : "(" + inner + ")";
}

std::string build_envelope(GMimeObject* obj) {
  auto nstr = [&](const char* name) { return imap_nstring(raw_header(obj, name)); };
  std::string from = addresses(obj, "From");
  std::string sender = addresses(obj, "Sender");
  std::string reply_to = addresses(obj, "Reply-To");
  return "(" + nstr("Date") + " " + nstr("Subject") + " " + from + " " + (sender == "NIL" ? from : sender) + " " +
         (reply_to == "NIL" ? from : reply_to) + " " + addresses(obj, "To") + " " + addresses(obj, "Cc") + " " +
         addresses(obj, "Bcc") + " " + nstr("In-Reply-To") + " " + nstr("Message-ID") + ")";
}

// The part's body runs on to `end` (a later byte of the same message): what
// follows it in its multipart once kMimePartsMax is reached.
void extend_body(MimeNode& node, const char* end) {
  const char* begin = node.header.data() + node.header.size();
  node.body = std::string_view(begin, static_cast<std::size_t>(end - begin));
}

// `budget`: how many more nodes may be made (kMimePartsMax in all); `opaque`:
// this node's header is read but its body is not split (a cap was reached).
void fill_node(MimeNode& node, std::string_view raw, std::size_t depth, bool digest_parent, bool message_root,
               std::size_t& budget, bool opaque = false) {
  auto [header, body] = split_header_body(raw);
  node.header = header;
  node.body = body;
  auto obj = parse_header_block(header);
  GMimeObject* o = obj.get();
  bool has_type = o && raw_header(o, "Content-Type").has_value();
  if (o && has_type) {
    GMimeContentType* ct = g_mime_object_get_content_type(o);
    const char* t = g_mime_content_type_get_media_type(ct);
    const char* s = g_mime_content_type_get_media_subtype(ct);
    node.type = t ? t : "text";
    node.subtype = s ? s : "plain";
    node.params = param_list(g_mime_content_type_get_parameters(ct));
    bool has_charset = std::any_of(node.params.begin(), node.params.end(),
                                   [](const auto& kv) { return kv.first == "CHARSET"; });
    if (iequals(node.type, "text") && !has_charset) node.params.insert(node.params.begin(), {"CHARSET", "us-ascii"});
  } else if (digest_parent) {
    node.type = "message";
    node.subtype = "rfc822";
  } else {
    node.params = {{"CHARSET", "us-ascii"}};
  }
  node.id = raw_header(o, "Content-ID");
  node.description = raw_header(o, "Content-Description");
  node.md5 = raw_header(o, "Content-MD5");
  node.language = raw_header(o, "Content-Language");
  node.location = raw_header(o, "Content-Location");
  if (auto enc = raw_header(o, "Content-Transfer-Encoding"); enc && !enc->empty()) node.encoding = upper_ascii(*enc);
  if (o && raw_header(o, "Content-Disposition")) {
    GMimeContentDisposition* d = g_mime_object_get_content_disposition(o);
    if (d != nullptr && g_mime_content_disposition_get_disposition(d) != nullptr) {
      node.disposition = upper_ascii(g_mime_content_disposition_get_disposition(d));
      node.disposition_params = param_list(g_mime_content_disposition_get_parameters(d));
    }
  }
  if (message_root) node.envelope = build_envelope(o);
  if (iequals(node.type, "message") && iequals(node.subtype, "rfc822")) {
    // BODYSTRUCTURE must give an embedded message its ENVELOPE and body
    // (RFC 3501 §7.4.2): beyond a cap it is made, but opaque and not counted.
    const bool capped = opaque || depth >= kMimeDepthMax || budget == 0;
    if (!capped) --budget;
    node.message = std::make_unique<MimeNode>();
    fill_node(*node.message, body, depth + 1, false, true, budget, capped);
    return;
  }
  if (opaque || depth >= kMimeDepthMax || !node.is_multipart()) return;
  std::string boundary;
  for (const auto& [k, v] : node.params) {
    if (k == "BOUNDARY") boundary = v;
  }
  if (boundary.empty()) return;
  const bool digest = iequals(node.subtype, "digest");
  const auto pieces = split_multipart(body, boundary);
  for (const auto piece : pieces) {
    if (budget == 0) {
      // Catalogue row 32: no more parts; the rest of this multipart's parts stay bytes of its last.
      if (!node.parts.empty()) extend_body(node.parts.back(), pieces.back().data() + pieces.back().size());
      break;
    }
    --budget;
    node.parts.emplace_back();
    fill_node(node.parts.back(), piece, depth + 1, digest, false, budget);
  }
}

std::string params_text(const Params& params) {
  if (params.empty()) return "NIL";
  std::string out = "(";
  for (std::size_t i = 0; i < params.size(); ++i) {
    if (i) out += " ";
    out += imap_string(params[i].first) + " " + imap_string(params[i].second);
  }
  return out + ")";
}

std::string disposition_text(const MimeNode& n) {
  if (!n.disposition) return "NIL";
  return "(" + imap_string(*n.disposition) + " " + params_text(n.disposition_params) + ")";
}

std::string structure(const MimeNode& n, bool ext) {
  if (n.is_multipart()) {
    std::string out = "(";
    if (n.parts.empty()) {
      out += "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"us-ascii\") NIL NIL \"7BIT\" 0 0)";
    }
    for (const auto& p : n.parts) out += structure(p, ext);
    out += " " + imap_string(upper_ascii(n.subtype));
    if (ext) {
      Params params;
      for (const auto& kv : n.params) params.push_back(kv);
      out += " " + params_text(params) + " " + disposition_text(n) + " " + imap_nstring(n.language) + " " +
             imap_nstring(n.location);
    }
    return out + ")";
  }
  std::string out = "(" + imap_string(upper_ascii(n.type)) + " " + imap_string(upper_ascii(n.subtype)) + " " +
                    params_text(n.params) + " " + imap_nstring(n.id) + " " + imap_nstring(n.description) + " " +
                    imap_string(n.encoding) + " " + std::to_string(n.body.size());
  if (n.is_message()) {
    out += " " + n.message->envelope + " " + structure(*n.message, ext) + " " + std::to_string(count_lines(n.body));
  } else if (iequals(n.type, "text")) {
    out += " " + std::to_string(count_lines(n.body));
  }
  if (ext) {
    out += " " + imap_nstring(n.md5) + " " + disposition_text(n) + " " + imap_nstring(n.language) + " " +
           imap_nstring(n.location);
  }
  return out + ")";
}

std::string_view field_name(std::string_view line) {
  auto colon = line.find(':');
  if (colon == std::string_view::npos) return {};
  auto name = line.substr(0, colon);
  while (!name.empty() && (name.back() == ' ' || name.back() == '\t')) name.remove_suffix(1);
  return name;
}

}  // namespace

std::pair<std::string_view, std::string_view> split_message(std::string_view raw) { return split_header_body(raw); }

bool MimeNode::is_multipart() const { return iequals(type, "multipart"); }

std::string filter_header(std::string_view header, const std::vector<std::string>& fields, bool negate) {
  std::string out;
  bool keep = false;
  std::size_t pos = 0;
  while (pos < header.size()) {
    auto nl = header.find('\n', pos);
    std::size_t end = nl == std::string_view::npos ? header.size() : nl + 1;
    auto line = header.substr(pos, end - pos);
    pos = end;
    if (line == "\r\n" || line == "\n") break;
    if (line[0] == ' ' || line[0] == '\t') {
      if (keep) out += line;
      continue;
    }
    auto name = field_name(line);
    bool listed = std::any_of(fields.begin(), fields.end(), [&](const std::string& f) { return iequals(f, name); });
    keep = !name.empty() && (listed != negate);
    if (keep) out += line;
  }
  return out + "\r\n";
}

ParsedMessage::ParsedMessage(std::string raw) : raw_(std::move(raw)), root_(std::make_unique<MimeNode>()) {
  std::size_t budget = kMimePartsMax - 1;  // the root is the first
  fill_node(*root_, raw_, 0, false, true, budget);
}

std::string ParsedMessage::body_structure(bool extensible) const { return structure(*root_, extensible); }

std::vector<std::string> ParsedMessage::header_values(std::string_view name) const {
  std::vector<std::string> out;
  auto obj = parse_header_block(root_->header);
  if (!obj) return out;
  GMimeHeaderList* list = g_mime_object_get_header_list(obj.get());
  int n = g_mime_header_list_get_count(list);
  for (int i = 0; i < n; ++i) {
    GMimeHeader* h = g_mime_header_list_get_header_at(list, i);
    const char* hname = g_mime_header_get_name(h);
    if (hname == nullptr || !iequals(hname, name)) continue;
    const char* raw = g_mime_header_get_raw_value(h);
    char* decoded = g_mime_utils_header_decode_text(nullptr, raw ? raw : "");
    out.push_back(trim_unfold(decoded ? decoded : ""));
    g_free(decoded);
  }
  return out;
}

std::optional<std::string> ParsedMessage::section(const std::vector<std::uint32_t>& part, std::string_view text_spec,
                                                  const std::vector<std::string>& fields) const {
  const MimeNode* node = root_.get();
  bool message_like = true;  // node's children are its (embedded) message's parts
  for (auto p : part) {
    if (p == 0) return std::nullopt;
    const MimeNode* container = node;
    if (message_like && node != root_.get()) container = node->message.get();
    if (container->is_multipart()) {
      if (p > container->parts.size()) return std::nullopt;
      node = &container->parts[p - 1];
      message_like = node->is_message();
    } else if (message_like && p == 1) {
      node = container;
      message_like = false;
    } else {
      return std::nullopt;
    }
  }
  const MimeNode* message = nullptr;
  if (part.empty()) message = root_.get();
  else if (message_like) message = node->message.get();
  if (text_spec.empty()) {
    if (part.empty()) return raw_;
    return std::string(node->body);
  }
  if (text_spec == "MIME") {
    if (part.empty()) return std::nullopt;
    return std::string(node->header);
  }
  if (message == nullptr) return std::nullopt;
  if (text_spec == "HEADER") return std::string(message->header);
  if (text_spec == "TEXT") return std::string(message->body);
  if (text_spec == "HEADER.FIELDS") return filter_header(message->header, fields, false);
  if (text_spec == "HEADER.FIELDS.NOT") return filter_header(message->header, fields, true);
  return std::nullopt;
}

}  // namespace maillab::net::imap
