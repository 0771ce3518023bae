#include "ui/model/message_view.hpp"

#include <algorithm>
#include <cctype>
#include <memory>

#include <gmime/gmime.h>

#include "net/mail/message.hpp"

namespace maillab::ui {
namespace {

bool starts_with_nocase(std::string_view text, std::string_view prefix) {
  if (text.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    if (std::toupper(static_cast<unsigned char>(text[i])) != prefix[i]) return false;
  }
  return true;
}

std::string path_argument(std::string_view line) {
  const auto open = line.find('<');
  const auto close = line.find('>', open == std::string_view::npos ? 0 : open);
  if (open == std::string_view::npos || close == std::string_view::npos) return std::string(line);
  return std::string(line.substr(open, close - open + 1));
}

struct GObjectRelease {
  void operator()(void* object) const { g_object_unref(object); }
};

void walk(GMimeObject* part, int depth, std::vector<MimeNode>& out) {
  if (part == nullptr || out.size() >= 1000 || depth > 50) return;
  MimeNode node;
  node.depth = depth;
  if (GMimeContentType* type = g_mime_object_get_content_type(part)) {
    char* text = g_mime_content_type_get_mime_type(type);
    node.content_type = text ? text : "";
    g_free(text);
  }
  if (GMIME_IS_PART(part)) {
    const char* filename = g_mime_part_get_filename(GMIME_PART(part));
    if (filename) node.filename = filename;
  }
  char* text = g_mime_object_to_string(part, nullptr);
  if (text) {
    node.size = std::char_traits<char>::length(text);
    g_free(text);
  }
  out.push_back(node);
  if (GMIME_IS_MULTIPART(part)) {
    auto* multipart = GMIME_MULTIPART(part);
    const int count = g_mime_multipart_get_count(multipart);
    for (int i = 0; i < count; ++i) walk(g_mime_multipart_get_part(multipart, i), depth + 1, out);
  } else if (GMIME_IS_MESSAGE_PART(part)) {
    GMimeMessage* inner = g_mime_message_part_get_message(GMIME_MESSAGE_PART(part));
    if (inner) walk(g_mime_message_get_mime_part(inner), depth + 1, out);
  }
}

}  // namespace

std::vector<MimeNode> mime_outline(const std::string& raw) {
  static const bool initialised = [] {
    g_mime_init();
    return true;
  }();
  (void)initialised;
  std::vector<MimeNode> out;
  std::unique_ptr<GMimeStream, GObjectRelease> stream(g_mime_stream_mem_new_with_buffer(raw.data(), raw.size()));
  std::unique_ptr<GMimeParser, GObjectRelease> parser(g_mime_parser_new_with_stream(stream.get()));
  GMimeMessage* message = g_mime_parser_construct_message(parser.get(), nullptr);
  if (message == nullptr) return out;
  std::unique_ptr<GMimeMessage, GObjectRelease> owner(message);
  walk(g_mime_message_get_mime_part(message), 0, out);
  return out;
}

namespace {

void read_event(MessageView& view, const TraceEvent& event) {
  if (event.kind == EventKind::line && event.dir == 'C') {
    if (starts_with_nocase(event.text, "MAIL FROM:") && view.mail_from.empty()) {
      view.mail_from = path_argument(event.text);
    } else if (starts_with_nocase(event.text, "RCPT TO:")) {
      auto rcpt = path_argument(event.text);
      if (std::find(view.rcpt_to.begin(), view.rcpt_to.end(), rcpt) == view.rcpt_to.end()) view.rcpt_to.push_back(rcpt);
    }
  }
  if (const auto data = event.extra.find("data"); data != event.extra.end() && data->is_string()) {
    view.raw = data->get<std::string>();
  }
}

void read_source(MessageView& view) {
  if (!view.raw.empty()) {
    const auto parsed = net::mail::Message::parse(view.raw);
    for (const auto& field : parsed.fields()) {
      if (!field.is_field()) continue;
      view.headers.emplace_back(field.name, field.value);
    }
    for (const auto* received : parsed.all("Received")) view.received.push_back(received->value);
    view.mime = mime_outline(view.raw);
  }
}

}  // namespace

MessageView message_view(const Trace& trace, const std::string& msg, std::size_t cursor) {
  MessageView view;
  view.msg = msg;
  cursor = std::min(cursor, trace.events.size());
  for (std::size_t i = 0; i < cursor; ++i) {
    if (trace.events[i].msg == msg) read_event(view, trace.events[i]);
  }
  read_source(view);
  return view;
}

MessageView message_view(const Trace& trace, const std::string& msg, std::size_t cursor,
                         const std::vector<std::size_t>& events_of_msg) {
  MessageView view;
  view.msg = msg;
  for (const auto i : events_of_msg) {
    if (i >= cursor || i >= trace.events.size()) break;
    read_event(view, trace.events[i]);
  }
  read_source(view);
  return view;
}

}  // namespace maillab::ui
