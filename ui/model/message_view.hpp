// The message inspector's model: the SMTP envelope beside the headers, the
// Received: chain as it grew hop by hop, the MIME tree and the raw source,
// all taken from the trace (envelope lines, and the message source that
// delivery and queue events carry in their "data" field).
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "ui/model/trace.hpp"

namespace maillab::ui {

struct MimeNode {
  int depth = 0;
  std::string content_type;  // "multipart/mixed", "text/plain; charset=utf-8"
  std::string filename;
  std::size_t size = 0;      // octets of the part, headers included
};

struct MessageView {
  std::string msg;
  std::string mail_from;
  std::vector<std::string> rcpt_to;
  std::vector<std::pair<std::string, std::string>> headers;  // unfolded
  std::vector<std::string> received;  // newest first, as in the message
  std::vector<MimeNode> mime;
  std::string raw;
};

// What is known about a message by the cursor: the latest source seen.
MessageView message_view(const Trace& trace, const std::string& msg, std::size_t cursor);
// The same, walking only `events_of_msg` (the sorted indexes of the events that
// carry the Message-ID, Lesson::events_by_message) instead of the whole trace.
MessageView message_view(const Trace& trace, const std::string& msg, std::size_t cursor,
                         const std::vector<std::size_t>& events_of_msg);

// The MIME tree of a raw message (GMime).
std::vector<MimeNode> mime_outline(const std::string& raw);

}  // namespace maillab::ui
