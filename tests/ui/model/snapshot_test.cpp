#include <doctest/doctest.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "ui/model/message_view.hpp"
#include "ui/model/snapshot.hpp"

using namespace maillab::ui;

namespace {

Trace load_sample() {
  std::ifstream in(std::string(MAILLAB_TEST_DIR) + "/sample_trace.jsonl");
  std::ostringstream text;
  text << in.rdbuf();
  auto trace = parse_trace(text.str());
  REQUIRE(trace.ok());
  return std::move(trace).value();
}

const HostView& find_host(const Snapshot& snap, const std::string& name) {
  auto it = std::find_if(snap.hosts.begin(), snap.hosts.end(), [&](const HostView& h) { return h.name == name; });
  REQUIRE(it != snap.hosts.end());
  return *it;
}

}  // namespace

TEST_CASE("snapshot: roles come from who talks which protocol to whom") {
  const auto trace = load_sample();
  const auto snap = snapshot_at(trace, 0);
  CHECK(find_host(snap, "alice-pc").roles == std::set<Role>{Role::mua});
  CHECK(find_host(snap, "smtp.lab.test").roles == std::set<Role>{Role::submission});
  CHECK(find_host(snap, "dns.lab").roles == std::set<Role>{Role::dns});
  CHECK(find_host(snap, "mx1.school.test").roles == std::set<Role>{Role::mx, Role::store});
  // A mailbox is not a host.
  CHECK(std::none_of(snap.hosts.begin(), snap.hosts.end(), [](const HostView& h) { return h.name == "bob@school.test"; }));
}

TEST_CASE("snapshot: at each moment the open links, queue and mailbox are what the trace says") {
  const auto trace = load_sample();

  auto early = snapshot_at(trace, trace.index_at(0.035));
  REQUIRE(early.open_links.size() == 1);
  CHECK(early.open_links[0].proto == "submission");
  CHECK(trace.events[early.open_links[0].last_event].text == "MAIL FROM:<alice@lab.test>");
  CHECK(early.queues.empty());
  CHECK(early.mailboxes.empty());

  auto queued = snapshot_at(trace, trace.index_at(0.075));
  REQUIRE(queued.queues.count("smtp.lab.test") == 1);
  CHECK(queued.queues.at("smtp.lab.test").front().msg == "m1@lab.test");
  CHECK(queued.dns_events.size() == 2);
  CHECK(queued.messages.at("m1@lab.test").queued);

  auto done = snapshot_at(trace, trace.events.size());
  CHECK(done.queues.empty());
  REQUIRE(done.mailboxes.count("bob@school.test") == 1);
  CHECK(done.mailboxes.at("bob@school.test") == std::vector<std::string>{"m1@lab.test"});
  CHECK(done.messages.at("m1@lab.test").delivered);
  CHECK(done.messages.at("m1@lab.test").route.back().what == "delivered to bob@school.test");

  // Rewinding is recomputing: the earlier snapshot is unchanged by the later one.
  CHECK(snapshot_at(trace, trace.index_at(0.035)).open_links.size() == 1);
}

TEST_CASE("snapshot: a host taken down by a fault is greyed until it comes back") {
  auto trace = parse_trace(
      R"({"t":0,"kind":"connect","src":"a","dst":"mx1","proto":"smtp"})" "\n"
      R"({"t":1,"kind":"fault","src":"mx1","text":"host down","action":"down"})" "\n"
      R"({"t":2,"kind":"fault","src":"mx1","text":"host up","action":"up"})" "\n");
  REQUIRE(trace.ok());
  CHECK_FALSE(find_host(snapshot_at(*trace, 1), "mx1").down);
  CHECK(find_host(snapshot_at(*trace, 2), "mx1").down);
  CHECK_FALSE(find_host(snapshot_at(*trace, 3), "mx1").down);
}

TEST_CASE("message view: the envelope comes from the lines, headers and MIME from the source") {
  auto trace = parse_trace(
      R"({"t":0,"kind":"line","src":"pc","dst":"mta","proto":"submission","dir":"C","text":"MAIL FROM:<alice@lab.test> SIZE=10","msg":"m1"})" "\n"
      R"({"t":1,"kind":"line","src":"pc","dst":"mta","proto":"submission","dir":"C","text":"RCPT TO:<bob@school.test>","msg":"m1"})" "\n"
      R"({"t":2,"kind":"line","src":"pc","dst":"mta","proto":"submission","dir":"C","text":"RCPT TO:<carol@school.test>","msg":"m1"})" "\n"
      R"({"t":3,"kind":"deliver","src":"mx","dst":"bob@school.test","msg":"m1","data":"Received: from mta by mx; Mon, 2 Mar 2026 08:00:01 +0000\r\nReceived: from pc by mta; Mon, 2 Mar 2026 08:00:00 +0000\r\nFrom: alice@lab.test\r\nTo: bob@school.test\r\nSubject: hi\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nhello\r\n--b\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=notes.pdf\r\n\r\nJVBERi0=\r\n--b--\r\n"})" "\n");
  REQUIRE(trace.ok());
  auto before = message_view(*trace, "m1", 2);
  CHECK(before.mail_from == "<alice@lab.test>");
  CHECK(before.rcpt_to == std::vector<std::string>{"<bob@school.test>"});
  CHECK(before.raw.empty());

  auto after = message_view(*trace, "m1", 4);
  CHECK(after.rcpt_to.size() == 2);
  REQUIRE(after.received.size() == 2);
  CHECK(after.received[0].starts_with("from mta by mx"));
  REQUIRE(after.mime.size() == 3);
  CHECK(after.mime[0].content_type == "multipart/mixed");
  CHECK(after.mime[1].depth == 1);
  CHECK(after.mime[2].content_type == "application/pdf");
  CHECK(after.mime[2].filename == "notes.pdf");
}

TEST_CASE("snapshot: a late dequeue at the previous hop leaves the next hop's queue alone") {
  auto trace = parse_trace(
      R"({"t":1,"kind":"queue","src":"mta","msg":"m1","action":"enqueue"})" "\n"
      R"({"t":2,"kind":"queue","src":"mx2","msg":"m1","action":"enqueue","next_retry":300})" "\n"
      R"({"t":2.1,"kind":"queue","src":"mta","msg":"m1","action":"dequeue"})" "\n");
  REQUIRE(trace.ok());
  const auto snap = snapshot_at(*trace, 3);
  CHECK(snap.queues.count("mta") == 0);
  REQUIRE(snap.queues.count("mx2") == 1);
  CHECK(snap.queues.at("mx2").front().next_try_s == 300);
}
