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

// A message of up to 12 random pieces: header names, separators, line ends, bodies.
std::string random_message(maillab::sim::Prng& prng, const std::vector<std::string>& pieces) {
  std::string message;
  const auto count = prng.below(13);
  for (std::uint64_t i = 0; i < count; ++i) message += pieces[prng.below(pieces.size())];
  return message;
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
    const std::string message = random_message(prng, pieces);
    INFO(message);
    CHECK(message_id_of(message) == by_full_parse(message));
  }
}

TEST_CASE("compose: count_fields and with_field_prepended read and write what parse, count, prepend and serialize do") {
  using maillab::sim::count_fields;
  using maillab::net::mail::with_field_prepended;
  const std::string crlf = "Received: from a\r\n\tby b\r\nreceived : x\r\n Received: folded\r\nSubject: s\r\n\r\nReceived: body\r\n";
  CHECK(count_fields(crlf, "Received") == 2);
  CHECK(count_fields(crlf, "SUBJECT") == 1);
  CHECK(count_fields(crlf, "Body") == 0);
  CHECK(count_fields("", "Received") == 0);
  CHECK(count_fields(" Received: x\r\nReceived: y", "received") == 1);
  CHECK(count_fields("ReceivedX: y\r\nReceived-By: z\r\n", "Received") == 0);

  auto prepended = with_field_prepended(crlf, "Delivered-To", "bob@lab.test");
  REQUIRE(prepended.ok());
  CHECK(*prepended == "Delivered-To: bob@lab.test\r\n" + crlf);
  auto bare_lf = with_field_prepended("Subject: s\n\nbody\n", "Received", "from a\r\n\tby b");
  REQUIRE(bare_lf.ok());
  CHECK(*bare_lf == "Received: from a\n\tby b\nSubject: s\n\nbody\n");  // the message's own line end
  CHECK_FALSE(with_field_prepended(crlf, "Bad Name", "x").ok());
  CHECK_FALSE(with_field_prepended(crlf, "X-Injected", "a\r\nBcc: eve@evil.test").ok());
}

TEST_CASE("compose: count_fields and with_field_prepended agree with a full parse on 5,000 random messages") {
  maillab::sim::Prng prng(11);
  const std::vector<std::string> pieces{"Received:",  "received :", "Received", "ReceivedX:", " ",      "\t",
                                        "from a",     "x",          "\r\n",     "\n",         "\r",     ":",
                                        "Subject: s", "\r\n\r\n",   "\n\n",     " by b ",     "Bad Name:"};
  const std::vector<std::string> values{"", "from a", "from a\r\n\tby b", "a\nb", "<bob@lab.test>", "a\r\n b", "a\r"};
  for (int round = 0; round < 5000; ++round) {
    std::string raw;
    const auto count = prng.below(13);
    for (std::uint64_t i = 0; i < count; ++i) raw += pieces[prng.below(pieces.size())];
    const std::string& value = values[prng.below(values.size())];
    const std::string name = prng.below(4) == 0 ? "Bad Name" : "Received";
    INFO(raw);
    INFO(value);
    auto parsed = maillab::net::mail::Message::parse(raw);
    CHECK(maillab::sim::count_fields(raw, "Received") == parsed.count("Received"));
    auto expected = parsed.prepend(name, value);
    auto fast = maillab::net::mail::with_field_prepended(raw, name, value);
    REQUIRE(fast.ok() == expected.ok());
    if (fast.ok()) CHECK(*fast == parsed.serialize());
  }
}

TEST_CASE("compose: subject_of reads the header's Subject, unfolded, never one in the body") {
  using maillab::sim::subject_of;
  CHECK(subject_of("From: a@b.test\r\nSubject: hello\r\n there\r\n\r\nbody\r\n") == "hello there");
  CHECK(subject_of("From: a@b.test\r\n\r\nSubject: not this\r\n").empty());
  CHECK(subject_of("\r\nSubject: not this either\r\n").empty());
  CHECK(subject_of("subject : last line, no line end") == "last line, no line end");
  CHECK(subject_of("").empty());
}

TEST_CASE("compose: subject_of reads what a full Message::parse reads, on 5,000 random messages") {
  maillab::sim::Prng prng(13);
  const std::vector<std::string> pieces{"Subject:", "subject :", "Subject", "SubjectX:", " ",    "\t",
                                        "hi",       "x",         "\r\n",     "\n",         "\r",   ":",
                                        "From: f",  "\r\n\r\n",  "\n\n",     " there ",   "body"};
  for (int round = 0; round < 5000; ++round) {
    const std::string message = random_message(prng, pieces);
    INFO(message);
    const auto parsed = maillab::net::mail::Message::parse(message);
    const auto* field = parsed.first("Subject");
    CHECK(maillab::sim::subject_of(message) == (field ? field->value : std::string()));
  }
}
