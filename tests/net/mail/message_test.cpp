#include <doctest/doctest.h>

#include <string>
#include <utility>
#include <vector>

#include "net/mail/message.hpp"

using namespace maillab::net::mail;

TEST_CASE("message: normalize_crlf turns bare CR, bare LF and CRLF into CRLF") {
  CHECK(normalize_crlf("") == "");
  CHECK(normalize_crlf("abc") == "abc");
  CHECK(normalize_crlf("a\r\nb\r\n") == "a\r\nb\r\n");
  CHECK(normalize_crlf("a\nb\n") == "a\r\nb\r\n");
  CHECK(normalize_crlf("a\rb\r") == "a\r\nb\r\n");
  CHECK(normalize_crlf("a\n\rb") == "a\r\n\r\nb");      // LF then CR: two line ends
  CHECK(normalize_crlf("a\r\r\nb") == "a\r\n\r\nb");    // bare CR then CRLF
  CHECK(normalize_crlf("\n.\n") == "\r\n.\r\n");        // smuggling shapes become plain lines
  CHECK(normalize_crlf(std::string("a\0b\n", 4)) == std::string("a\0b\r\n", 5));
}

namespace {

const std::string crlf_message =
    "Received: from a.test by b.test; Thu, 26 Nov 2026 19:47:16 +0000\r\n"
    "From: Alice <alice@lab.test>\r\n"
    "To: bob@lab.test,\r\n"
    "\tcarol@lab.test\r\n"
    "Subject:  Hello  there \r\n"
    "received: from c.test by a.test; Thu, 26 Nov 2026 19:47:10 +0000\r\n"
    "\r\n"
    "Body line 1\r\n"
    "X-Not-A-Header: in the body\r\n"
    "\r\n"
    "last\r\n";

}  // namespace

TEST_CASE("message: header fields keep their order, names and values") {
  auto m = Message::parse(crlf_message);
  REQUIRE(m.fields().size() == 5);
  CHECK(m.fields()[0].name == "Received");
  CHECK(m.fields()[1].name == "From");
  CHECK(m.fields()[1].value == "Alice <alice@lab.test>");
  CHECK(m.fields()[3].name == "Subject");
  CHECK(m.fields()[3].raw_value == "  Hello  there ");
  CHECK(m.fields()[3].value == "Hello  there");
  CHECK(m.fields()[4].name == "received");
  CHECK(m.body() == "Body line 1\r\nX-Not-A-Header: in the body\r\n\r\nlast\r\n");
  CHECK(m.has_body_separator());
  CHECK(m.line_end() == "\r\n");
}

TEST_CASE("message: a folded field keeps its folding raw and unfolds on request") {
  auto m = Message::parse(crlf_message);
  const HeaderField* to = m.first("to");
  REQUIRE(to != nullptr);
  CHECK(to->raw_value == " bob@lab.test,\r\n\tcarol@lab.test");
  CHECK(to->value == "bob@lab.test,\tcarol@lab.test");
  CHECK(to->text == "To: bob@lab.test,\r\n\tcarol@lab.test\r\n");
}

TEST_CASE("message: lookups are case-insensitive and see repeated fields") {
  auto m = Message::parse(crlf_message);
  CHECK(m.count("RECEIVED") == 2);
  auto received = m.all("Received");
  REQUIRE(received.size() == 2);
  CHECK(received[0]->value.find("from a.test") == 0);
  CHECK(received[1]->value.find("from c.test") == 0);
  CHECK(m.first("rEcEiVeD") == received[0]);
  CHECK(m.first("X-Not-A-Header") == nullptr);  // it is in the body
  CHECK(m.all("Cc").empty());
  CHECK(hop_count(m) == 2);
}

TEST_CASE("message: an unmodified message serialises back byte for byte") {
  CHECK(Message::parse(crlf_message).serialize() == crlf_message);
  const std::string lf = "From: a@b.test\nSubject: x\n y\n\nbody\n";
  auto m = Message::parse(lf);
  CHECK(m.serialize() == lf);
  CHECK(m.line_end() == "\n");
  CHECK(m.first("Subject")->value == "x y");
  const std::string odd = "From x Mon\r\n  lead\r\nA:b\r\nBad Name: v\r\nC : d\r\n\r\n\r\n\r\nbody without end";
  CHECK(Message::parse(odd).serialize() == odd);
}

TEST_CASE("message: the header section ends at the first empty line only") {
  auto m = Message::parse("A: 1\r\n \r\nB: 2\r\n\r\nC: 3\r\n");
  REQUIRE(m.count("A") == 1);
  CHECK(m.first("A")->raw_value == " 1\r\n ");  // a whitespace-only line continues the field
  CHECK(m.first("B") != nullptr);
  CHECK(m.first("C") == nullptr);
  CHECK(m.body() == "C: 3\r\n");
}

TEST_CASE("message: a message with no body has no separator and round-trips") {
  auto m = Message::parse("Subject: only headers\r\n");
  CHECK_FALSE(m.has_body_separator());
  CHECK(m.body().empty());
  CHECK(m.first("Subject")->value == "only headers");
  CHECK(m.serialize() == "Subject: only headers\r\n");
  auto unterminated = Message::parse("Subject: no line end");
  CHECK(unterminated.first("Subject")->value == "no line end");
  CHECK(unterminated.serialize() == "Subject: no line end");
  auto empty = Message::parse("");
  CHECK(empty.fields().empty());
  CHECK(empty.serialize().empty());
}

TEST_CASE("message: a message that starts with an empty line has only a body") {
  auto m = Message::parse("\r\nFrom: not a header\r\n");
  CHECK(m.fields().empty());
  CHECK(m.has_body_separator());
  CHECK(m.body() == "From: not a header\r\n");
  CHECK(m.header_size() == 2);
}

TEST_CASE("message: lines that are not fields are kept but never looked up") {
  auto m = Message::parse(" leading continuation\r\nFrom alice@lab.test Thu Nov 26 2026\r\n"
                          "no colon here\r\nBad Name: v\r\n: empty name\r\nSubject : obs space\r\n\r\n");
  REQUIRE(m.fields().size() == 6);
  for (std::size_t i = 0; i < 5; ++i) {
    INFO("entry " << i);
    CHECK_FALSE(m.fields()[i].is_field());
  }
  CHECK(m.first("From") == nullptr);
  CHECK(m.first("Bad Name") == nullptr);
  CHECK(m.first("Subject")->value == "obs space");  // WSP before the colon (RFC 5322 §4.5)
  CHECK(m.first("Subject")->name == "Subject");
}

TEST_CASE("message: an empty field value is an empty string") {
  auto m = Message::parse("X-Empty:\r\nY:   \r\n\r\n");
  CHECK(m.first("X-Empty")->value.empty());
  CHECK(m.first("Y")->value.empty());
  CHECK(m.first("Y")->raw_value == "   ");
}

TEST_CASE("message: prepend puts a field first and keeps the rest byte-exact") {
  auto m = Message::parse(crlf_message);
  REQUIRE(m.prepend("Return-Path", "<alice@lab.test>"));
  CHECK(m.fields().front().name == "Return-Path");
  CHECK(m.fields().front().value == "<alice@lab.test>");
  CHECK(m.serialize() == "Return-Path: <alice@lab.test>\r\n" + crlf_message);
  CHECK(m.header_size() == crlf_message.find("\r\n\r\n") + 4 + 31);
}

TEST_CASE("message: added fields follow the message's own line ends") {
  auto m = Message::parse("A: 1\n\nbody\n");
  REQUIRE(m.prepend("Received", "from x\r\n\tby y"));
  REQUIRE(m.append("B", "2"));
  CHECK(m.serialize() == "Received: from x\n\tby y\nA: 1\nB: 2\n\nbody\n");
  CHECK(m.first("Received")->value == "from x\tby y");
}

TEST_CASE("message: a field appended after an unterminated last line gets its own line") {
  auto m = Message::parse("Subject: hi");
  REQUIRE(m.append("Date", "Thu, 1 Jan 1970 00:00:00 +0000"));
  CHECK(m.serialize() == "Subject: hi\r\nDate: Thu, 1 Jan 1970 00:00:00 +0000\r\n");
  CHECK(m.first("Subject")->value == "hi");
}

TEST_CASE("message: header injection through an added value is refused") {
  auto m = Message::parse(crlf_message);
  CHECK_FALSE(m.prepend("X", "a\r\nBcc: evil@x.test"));
  CHECK_FALSE(m.prepend("X", "a\nBcc: evil@x.test"));
  CHECK_FALSE(m.prepend("X", "a\rb"));
  CHECK_FALSE(m.prepend("X", std::string("a\0b", 3)));
  CHECK_FALSE(m.prepend("X", "a\r\n"));       // a line end must be followed by WSP
  CHECK_FALSE(m.append("X", "a\r\n\r\n b"));  // an empty line would end the header section
  auto r = m.prepend("X", "a\r\nBcc: evil@x.test");
  REQUIRE_FALSE(r);
  CHECK(r.error().message.find("header injection") != std::string::npos);
  CHECK(m.serialize() == crlf_message);  // nothing was added
}

TEST_CASE("message: invalid field names are refused") {
  Message m = Message::parse("");
  CHECK_FALSE(m.prepend("", "v"));
  CHECK_FALSE(m.prepend("A:B", "v"));
  CHECK_FALSE(m.prepend("A B", "v"));
  CHECK_FALSE(m.prepend("A\r\nB", "v"));
  CHECK(m.fields().empty());
}

TEST_CASE("message: remove_all drops every field of a name, case-insensitively") {
  auto m = Message::parse("Return-Path: <a@b>\r\nX: 1\r\nreturn-path: <c@d>\r\n\r\nb");
  CHECK(m.remove_all("RETURN-PATH") == 2);
  CHECK(m.serialize() == "X: 1\r\n\r\nb");
  CHECK(m.remove_all("Return-Path") == 0);
}

TEST_CASE("message: hop count is the number of Received fields") {
  std::string raw;
  for (int i = 0; i < 51; ++i) raw += "Received: from h" + std::to_string(i) + ".test by x.test; date\r\n";
  raw += "\r\nbody";
  auto m = Message::parse(raw);
  CHECK(hop_count(m) == 51);
  CHECK(hop_count(Message::parse("Subject: x\r\n\r\nReceived: in body\r\n")) == 0);
}

TEST_CASE("date: format_rfc5322_date writes UTC in RFC 5322 form") {
  CHECK(format_rfc5322_date(0) == "Thu, 1 Jan 1970 00:00:00 +0000");
  CHECK(format_rfc5322_date(1795722436) == "Thu, 26 Nov 2026 19:47:16 +0000");
  CHECK(format_rfc5322_date(951825600) == "Tue, 29 Feb 2000 12:00:00 +0000");
  CHECK(format_rfc5322_date(-1) == "Wed, 31 Dec 1969 23:59:59 +0000");
  CHECK(format_rfc5322_date(INT64_MAX) == "Fri, 31 Dec 9999 23:59:59 +0000");
  CHECK(format_rfc5322_date(INT64_MIN) == "Sat, 1 Jan 0000 00:00:00 +0000");
}

TEST_CASE("date: formatted dates parse back to the same second") {
  const std::int64_t samples[] = {0, 1, -1, 59, 86399, 86400, 951825600, 1795722436, 4102444799, -2208988800};
  for (auto t : samples) {
    auto parsed = parse_rfc5322_date(format_rfc5322_date(t));
    REQUIRE_MESSAGE(parsed, format_rfc5322_date(t));
    CHECK(*parsed == t);
  }
}

TEST_CASE("date: zones shift the time to UTC") {
  CHECK(*parse_rfc5322_date("Thu, 26 Nov 2026 20:47:16 +0100") == 1795722436);
  CHECK(*parse_rfc5322_date("Thu, 26 Nov 2026 11:47:16 -0800") == 1795722436);
  CHECK(*parse_rfc5322_date("Fri, 27 Nov 2026 01:17:16 +0530") == 1795722436);
  CHECK(*parse_rfc5322_date("Thu, 26 Nov 2026 11:47:16 PST") == 1795722436);
  CHECK(*parse_rfc5322_date("Thu, 26 Nov 2026 14:47:16 EST") == 1795722436);
  CHECK(*parse_rfc5322_date("Thu, 26 Nov 2026 19:47:16 GMT") == 1795722436);
  CHECK(*parse_rfc5322_date("Thu, 26 Nov 2026 19:47:16 UT") == 1795722436);
  CHECK(*parse_rfc5322_date("Thu, 26 Nov 2026 19:47:16 Z") == 1795722436);  // military: +0000
}

TEST_CASE("date: obsolete and lenient forms are understood") {
  CHECK(*parse_rfc5322_date("26 Nov 2026 19:47:16 +0000") == 1795722436);                  // no weekday
  CHECK(*parse_rfc5322_date("Thu, 26 Nov 2026 19:47:16 +0000 (UTC)") == 1795722436);       // comment
  CHECK(*parse_rfc5322_date("(x (nested)) thu , 26 nov 2026 19:47:16 +0000") == 1795722436);
  CHECK(*parse_rfc5322_date("Thu, 26 Nov 26 19:47:16 +0000") == 1795722436);               // 2-digit year
  CHECK(*parse_rfc5322_date("Thu, 26 Nov 126 19:47:00 +0000") == 1795722420);              // 3-digit year: 1900+
  CHECK(*parse_rfc5322_date("Thu, 26 Nov 2026 19:47 +0000") == 1795722420);                // no seconds
  CHECK(*parse_rfc5322_date("Thu, 26 Nov 2026 19 : 47 : 16 +0000") == 1795722436);         // obs spaces
  CHECK(*parse_rfc5322_date("Thu, 26 Nov 2026 19:47:16") == 1795722436);                   // no zone
  CHECK(*parse_rfc5322_date("Thu,\r\n 26 Nov 2026\t19:47:16 +0000") == 1795722436);        // folded
  CHECK(*parse_rfc5322_date("Thu, 26 Nov 1999 19:47:16 +0000") == 943645636);
  CHECK(*parse_rfc5322_date("1 Jan 50 00:00:00 +0000") == -631152000);                     // 50 -> 1950
}

TEST_CASE("date: malformed dates are refused with a reason") {
  auto refused = [](std::string_view text, std::string_view needle) {
    auto r = parse_rfc5322_date(text);
    REQUIRE_FALSE_MESSAGE(r, text);
    INFO(r.error().message);
    CHECK(r.error().message.find(needle) != std::string::npos);
  };
  refused("", "date needs");
  refused("Thu, 26 Foo 2026 19:47:16 +0000", "unknown month");
  refused("Thx, 26 Nov 2026 19:47:16 +0000", "unknown day of week");
  refused("Thu, 30 Feb 2026 19:47:16 +0000", "does not exist");
  refused("Thu, 0 Nov 2026 19:47:16 +0000", "does not exist");
  refused("Thu, 123 Nov 2026 19:47:16 +0000", "invalid day");
  refused("Thu, 26 Nov 20266 19:47:16 +0000", "invalid year");
  refused("Thu, 26 Nov 2026 24:00:00 +0000", "out of range");
  refused("Thu, 26 Nov 2026 19:60:00 +0000", "out of range");
  refused("Thu, 26 Nov 2026 19:47:16:01 +0000", "invalid time");
  refused("Thu, 26 Nov 2026 19 +0000", "invalid time");
  refused("Thu, 26 Nov 2026", "no time of day");
  refused("26 Nov", "date needs");
  refused("Thu, 26 Nov 2026 +0000", "invalid time");
  refused("Thu, 26 Nov 2026 19:47:16 +0060", "zone minutes");
  refused("Thu, 26 Nov 2026 19:47:16 +00", "invalid zone");
  refused("Thu, 26 Nov 2026 19:47:16 +0000 extra", "unexpected 'extra'");
  refused("Thu, 26 Nov 2026 19:47:16 +0000 (open", "unterminated comment");
  refused("Thu, 26 Nov 2026 19:47:16 +0000)", "unbalanced ')'");
}

namespace {

ReceivedInfo sample_received() {
  ReceivedInfo info;
  info.helo = "pc.lab.test";
  info.client_host = "pc.lab.test";
  info.client_ip = "192.0.2.7";
  info.by_host = "mx.lab.test";
  info.protocol = ReceivedProtocol::esmtps;
  info.id = "1A2B3C";
  info.for_recipient = "bob@lab.test";
  info.date_s = 1795722436;
  return info;
}

void check_line_lengths(const std::string& field) {
  std::size_t start = 0;
  while (true) {
    std::size_t end = field.find("\r\n", start);
    std::string line = field.substr(start, end == std::string::npos ? std::string::npos : end - start);
    INFO("line: " << line);
    CHECK(line.size() <= 78);
    if (end == std::string::npos) break;
    start = end + 2;
  }
}

}  // namespace

TEST_CASE("received: the RFC 5321 §4.4 trace line is folded under 78 characters") {
  auto v = format_received(sample_received());
  REQUIRE(v);
  CHECK(*v ==
        "from pc.lab.test (pc.lab.test [192.0.2.7]) by mx.lab.test\r\n"
        "\twith ESMTPS id 1A2B3C for <bob@lab.test>; Thu, 26 Nov 2026 19:47:16 +0000");
  check_line_lengths("Received: " + *v);
}

TEST_CASE("received: long names fold at token boundaries and every line stays short") {
  auto info = sample_received();
  info.helo = std::string(40, 'h') + ".lab.test";
  info.client_host = std::string(30, 'c') + ".lab.test";
  info.by_host = std::string(50, 'b') + ".lab.test";
  info.for_recipient = std::string(40, 'r') + "@lab.test";
  auto v = format_received(info);
  REQUIRE(v);
  check_line_lengths("Received: " + *v);
  CHECK(v->find("\r\n\tby " + info.by_host) != std::string::npos);
  auto m = Message::parse("");
  REQUIRE(m.prepend("Received", *v));
  const std::string& value = m.first("Received")->value;
  CHECK(value.find("from " + info.helo) == 0);
  CHECK(value.find("(" + info.client_host + " [192.0.2.7])") != std::string::npos);
  CHECK(value.substr(value.rfind(';') + 2) == "Thu, 26 Nov 2026 19:47:16 +0000");
}

TEST_CASE("received: optional parts are left out and IPv6 gets its tag") {
  ReceivedInfo info;
  info.helo = "[192.0.2.9]";
  info.by_host = "mx.lab.test";
  info.protocol = ReceivedProtocol::smtp;
  info.date_s = 0;
  CHECK(*format_received(info) == "from [192.0.2.9] by mx.lab.test with SMTP;\r\n\tThu, 1 Jan 1970 00:00:00 +0000");
  info.client_ip = "2001:db8::1";
  info.protocol = ReceivedProtocol::lmtp;
  CHECK(format_received(info)->find("from [192.0.2.9] ([IPv6:2001:db8::1]) by mx.lab.test with LMTP;") == 0);
  info.client_ip = "IPv6:2001:db8::1";
  CHECK(format_received(info)->find("([IPv6:2001:db8::1])") != std::string::npos);
  info.client_host = "unknown";
  info.client_ip = "192.0.2.9";
  CHECK(format_received(info)->find("(unknown [192.0.2.9])") != std::string::npos);
}

TEST_CASE("received: every protocol keyword is spelled as its RFC says") {
  CHECK(to_string(ReceivedProtocol::smtp) == "SMTP");
  CHECK(to_string(ReceivedProtocol::esmtp) == "ESMTP");
  CHECK(to_string(ReceivedProtocol::esmtpa) == "ESMTPA");
  CHECK(to_string(ReceivedProtocol::esmtps) == "ESMTPS");
  CHECK(to_string(ReceivedProtocol::esmtpsa) == "ESMTPSA");
  CHECK(to_string(ReceivedProtocol::lmtp) == "LMTP");
  CHECK(to_string(ReceivedProtocol::lmtpa) == "LMTPA");
  CHECK(to_string(ReceivedProtocol::lmtps) == "LMTPS");
  CHECK(to_string(ReceivedProtocol::lmtpsa) == "LMTPSA");
  CHECK(to_string(ReceivedProtocol::utf8smtp) == "UTF8SMTP");
  CHECK(to_string(ReceivedProtocol::utf8smtpa) == "UTF8SMTPA");
  CHECK(to_string(ReceivedProtocol::utf8smtps) == "UTF8SMTPS");
  CHECK(to_string(ReceivedProtocol::utf8smtpsa) == "UTF8SMTPSA");
}

TEST_CASE("received: CR, LF and NUL in any value are refused (catalogue row 25)") {
  const std::string bad[] = {"a\rb", "a\nb", std::string("a\0b", 3), "a\r\nX-Injected: 1", "a\x01"};
  for (const auto& b : bad) {
    for (int which = 0; which < 6; ++which) {
      auto info = sample_received();
      std::string* fields[] = {&info.helo, &info.client_host, &info.client_ip,
                               &info.by_host, &info.id, &info.for_recipient};
      *fields[which] = b;
      auto r = format_received(info);
      REQUIRE_FALSE(r);
      CHECK(r.error().message.find("header injection") != std::string::npos);
    }
  }
}

TEST_CASE("received: token values with spaces, parentheses or ';' and empty names are refused") {
  auto info = sample_received();
  info.helo = "evil (fake) host";
  CHECK_FALSE(format_received(info));
  info = sample_received();
  info.id = "a;b";
  CHECK_FALSE(format_received(info));
  info = sample_received();
  info.helo.clear();
  CHECK(format_received(info).error().message == "HELO name is empty");
  info = sample_received();
  info.by_host.clear();
  CHECK_FALSE(format_received(info));
  info = sample_received();
  info.for_recipient = "\"a b;c\"@lab.test";  // a quoted local part is fine in the for clause
  CHECK(format_received(info));
}

TEST_CASE("received: add_received prepends the trace field") {
  auto m = Message::parse(crlf_message);
  REQUIRE(add_received(m, sample_received()));
  CHECK(hop_count(m) == 3);
  CHECK(m.fields().front().value.find("from pc.lab.test") == 0);
  auto serialized = m.serialize();
  CHECK(serialized.substr(serialized.size() - crlf_message.size()) == crlf_message);
  auto bad = sample_received();
  bad.helo = "x\r\nBcc: y";
  CHECK_FALSE(add_received(m, bad));
  CHECK(hop_count(m) == 3);
}

TEST_CASE("message-id and date: both are added at the end of the header section when missing") {
  auto m = Message::parse("From: a@lab.test\r\n\r\nhi\r\n");
  REQUIRE(ensure_message_id_and_date(m, "20261126.1A2B", "lab.test", 1795722436));
  CHECK(m.serialize() ==
        "From: a@lab.test\r\nMessage-ID: <20261126.1A2B@lab.test>\r\n"
        "Date: Thu, 26 Nov 2026 19:47:16 +0000\r\n\r\nhi\r\n");
  auto again = m.serialize();
  REQUIRE(ensure_message_id_and_date(m, "other", "lab.test", 0));
  CHECK(m.serialize() == again);  // idempotent
}

TEST_CASE("message-id and date: present fields are kept, missing ones added") {
  auto with_id = Message::parse("message-id: <x@y>\r\n\r\n");
  REQUIRE(ensure_message_id_and_date(with_id, "n", "lab.test", 0));
  CHECK(with_id.count("Message-ID") == 1);
  CHECK(with_id.first("Message-ID")->value == "<x@y>");
  CHECK(with_id.first("Date")->value == "Thu, 1 Jan 1970 00:00:00 +0000");
  auto with_date = Message::parse("DATE: whenever\r\n\r\n");
  REQUIRE(ensure_message_id_and_date(with_date, "n", "[192.0.2.1]", 0));
  CHECK(with_date.count("Date") == 1);
  CHECK(with_date.first("Message-ID")->value == "<n@[192.0.2.1]>");
}

TEST_CASE("message-id and date: invalid id parts are refused and change nothing") {
  auto m = Message::parse("From: a@lab.test\r\n\r\n");
  CHECK_FALSE(ensure_message_id_and_date(m, "", "lab.test", 0));
  CHECK_FALSE(ensure_message_id_and_date(m, "a b", "lab.test", 0));
  CHECK_FALSE(ensure_message_id_and_date(m, "a..b", "lab.test", 0));
  CHECK_FALSE(ensure_message_id_and_date(m, "a>\r\nBcc: x", "lab.test", 0));
  CHECK_FALSE(ensure_message_id_and_date(m, "a", "lab..test", 0));
  CHECK_FALSE(ensure_message_id_and_date(m, "a", "", 0));
  CHECK_FALSE(ensure_message_id_and_date(m, "a", "[a]b]", 0));
  CHECK(m.serialize() == "From: a@lab.test\r\n\r\n");
}

TEST_CASE("message: a trailing bare CR on an unterminated last line stays content when a field is appended") {
  // Found by fuzz_message: appending "\n" to a lone "\r" made an empty line, which
  // moved the appended Message-ID into the body on re-parse.
  auto m = Message::parse("D\nX: a\r");
  REQUIRE(ensure_message_id_and_date(m, "id", "lab.test", 0));
  auto reparsed = Message::parse(m.serialize());
  CHECK(reparsed.first("Message-ID") != nullptr);
  CHECK(reparsed.first("X")->value == "a\r");
  CHECK_FALSE(reparsed.has_body_separator());
  auto lone_cr = Message::parse("A: 1\n\r");
  REQUIRE(lone_cr.append("B", "2"));
  CHECK(lone_cr.serialize() == "A: 1\n\r\r\nB: 2\n");
  CHECK(Message::parse(lone_cr.serialize()).first("B") != nullptr);
}

TEST_CASE("message: with_field_prepended gives parse + prepend + serialize's bytes and refusals") {
  using maillab::net::mail::with_field_prepended;
  const std::vector<std::string> raws{"",
                                      "Subject: s\r\n\r\nbody\r\n",
                                      "Subject: s\n\nbody\n",
                                      "\r\nbody only\r\n",
                                      "\n",
                                      " folded first\r\nSubject: s\r\n",
                                      "no line end at all",
                                      "a\rb\nc\r\n"};
  const std::vector<std::string> names{"Received", "Delivered-To", "Bad Name", "", "X:Y"};
  const std::vector<std::string> values{"",          "from a",         "from a\r\n\tby b", "a\nb",
                                        "a\r\n b",   "a\r",            "a\r\nBcc: x",      std::string("a\0b", 3),
                                        "<b@lab.test>"};
  int refused = 0;
  for (const auto& raw : raws) {
    for (const auto& name : names) {
      for (const auto& value : values) {
        CAPTURE(raw);
        CAPTURE(name);
        CAPTURE(value);
        auto parsed = Message::parse(raw);
        auto expected = parsed.prepend(name, value);
        auto fast = with_field_prepended(raw, name, value);
        REQUIRE(fast.ok() == expected.ok());
        if (fast.ok()) {
          CHECK(*fast == parsed.serialize());
        } else {
          ++refused;
          CHECK(fast.error().message == expected.error().message);
        }
      }
    }
  }
  CHECK(refused > 0);
  CHECK(*with_field_prepended("Subject: s\n\nb\n", "Received", "from a\r\n\tby b") ==
        "Received: from a\n\tby b\nSubject: s\n\nb\n");
}

TEST_CASE("message: with_fields_prepended gives with_field_prepended's bytes, bottom field first, refused fields left out") {
  using maillab::net::mail::with_field_prepended;
  using maillab::net::mail::with_fields_prepended;
  const std::vector<std::string> raws{"", "Subject: s\r\n\r\nbody\r\n", "Subject: s\n\nbody\n", "\n",
                                      "no line end at all", "a\rb\nc\r\n"};
  const std::vector<std::pair<std::string, std::string>> fields{
      {"Return-Path", "<a@lab.test>"}, {"Delivered-To", "b@lab.test"}, {"Bad Name", "x"},
      {"X", "a\r"},                    {"X", "a\r\nBcc: x"},           {"Received", "from a\r\n\tby b"},
      {"X", ""}};
  for (const auto& raw : raws) {
    for (const auto& [top_name, top_value] : fields) {
      for (const auto& [below_name, below_value] : fields) {
        CAPTURE(raw);
        CAPTURE(top_name);
        CAPTURE(top_value);
        CAPTURE(below_name);
        CAPTURE(below_value);
        std::string expected = raw;
        if (auto with = with_field_prepended(expected, below_name, below_value)) expected = std::move(with).value();
        if (auto with = with_field_prepended(expected, top_name, top_value)) expected = std::move(with).value();
        CHECK(with_fields_prepended(raw, {{top_name, top_value}, {below_name, below_value}}) == expected);
      }
    }
  }
  CHECK(with_fields_prepended("S: s\n", {{"Y", "b"}, {"Bad Name", "x"}, {"X", "from a\r\n\tby b"}}) ==
        "Y: b\nX: from a\n\tby b\nS: s\n");
  CHECK(with_fields_prepended("S: s\r\n\r\nb\r\n", {{"Return-Path", "<a@x>"}, {"Delivered-To", "b@x"}}) ==
        "Return-Path: <a@x>\r\nDelivered-To: b@x\r\nS: s\r\n\r\nb\r\n");
  CHECK(with_fields_prepended("S: s\n", {}) == "S: s\n");
}

TEST_CASE("message: field_value and is_field_named read one field as Message::parse, first() and count() do") {
  using maillab::net::mail::field_value;
  const std::vector<std::string> texts{"Message-ID: <1@lab.test>\r\n",
                                       "message-id:\r\n <2@lab.test> \r\n\t(c)\r\n",
                                       "Message-ID  : <3@lab.test>\n",
                                       "Message-IDs: <4@lab.test>\r\n",
                                       "Message-ID <5@lab.test>\r\n",
                                       " Message-ID: <6@lab.test>\r\n",
                                       "Message-ID:\r\n",
                                       "Message-ID:",
                                       "Message-ID: \t \r\n",
                                       "Message-ID: a\rb \r\n",
                                       "Message-ID\r\n : <7@lab.test>\r\n",
                                       "Subject:  two  words \r\n",
                                       "Bad Name: x\r\n",
                                       ""};
  int found = 0;
  for (const auto& text : texts) {
    for (const char* name : {"Message-ID", "MESSAGE-id", "Subject", "Message"}) {
      CAPTURE(text);
      CAPTURE(name);
      const auto parsed = Message::parse(text);
      const auto* field = parsed.first(name);
      const auto value = field_value(text, name);
      REQUIRE(value.has_value() == (field != nullptr));
      CHECK(maillab::net::mail::is_field_named(text, name) == (parsed.count(name) == 1));
      if (field) {
        CHECK(*value == field->value);
        ++found;
      }
    }
  }
  CHECK(found == 15);
  CHECK(*field_value("message-id:\r\n <2@lab.test> \r\n\t(c)\r\n", "Message-ID") == "<2@lab.test> \t(c)");
}
