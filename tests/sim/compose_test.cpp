#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "net/mail/message.hpp"
#include "sim/compose.hpp"
#include "sim/random.hpp"

using maillab::sim::message_id_of;

namespace {

// What message_id_of read before it stopped parsing every field.
std::string by_full_parse(const std::string& message) {
  const auto parsed = maillab::net::mail::Message::parse(message);
  const auto* field = parsed.first("Message-ID");
  if (!field) return {};
  std::string id = field->value;
  if (id.size() >= 2 && id.front() == '<' && id.back() == '>') id = id.substr(1, id.size() - 2);
  return id;
}

}  // namespace

TEST_CASE("compose: message_id_of takes the first Message-ID field, unfolded, without its brackets") {
  CHECK(message_id_of("From: a@b.test\r\nMessage-ID: <1@lab.test>\r\n\r\nbody\r\n") == "1@lab.test");
  CHECK(message_id_of("message-id:\r\n <2@lab.test> \r\nMessage-ID: <3@lab.test>\r\n\r\n") == "2@lab.test");
  CHECK(message_id_of("Message-ID  : <4@lab.test>\n\n") == "4@lab.test");
  CHECK(message_id_of("Message-IDs: <5@lab.test>\r\n\r\n").empty());
  CHECK(message_id_of("Subject: x\r\n\r\nMessage-ID: <6@lab.test>\r\n").empty());
  CHECK(message_id_of("Subject: x\r\n Message-ID: <7@lab.test>\r\n\r\n").empty());
  CHECK(message_id_of("Message-ID: <8@lab.test>") == "8@lab.test");
  CHECK(message_id_of("").empty());
}

TEST_CASE("compose: message_id_of reads what a full Message::parse reads, on 5,000 random headers") {
  maillab::sim::Prng prng(7);
  const std::vector<std::string> pieces{"Message-ID:", "message-id :", "Message-Id", "Message-IDX:", " ", "\t",
                                        "<a@b>",       "x",           "\r\n",       "\n",           "\r", ":",
                                        "Subject: s",  "\r\n\r\n",    "\n\n",       " <c@d> ",      "Message-ID"};
  for (int round = 0; round < 5000; ++round) {
    std::string message;
    const auto count = prng.below(13);
    for (std::uint64_t i = 0; i < count; ++i) message += pieces[prng.below(pieces.size())];
    INFO(message);
    CHECK(message_id_of(message) == by_full_parse(message));
  }
}
