#include <doctest/doctest.h>

#include <string>

#include "sim/scenario.hpp"

using namespace maillab;
using namespace maillab::sim;
using namespace std::chrono_literals;

namespace {

// The first error of a scenario, as `maillab check` prints it.
std::string first_error(const std::string& text) {
  auto load = load_scenario(text, "t.toml");
  REQUIRE_FALSE(load.errors.empty());
  return load.errors.front().to_string();
}

const std::string base = R"(title = "t"
description = "d"
[[domain]]
name = "lab.test"
[[user]]
address = "alice@lab.test"
password = "a"
)";

}  // namespace

TEST_CASE("scenario: durations parse in ms, s, m, h, d and compound forms, and format back") {
  CHECK(parse_duration("90s") == Duration{90'000'000});
  CHECK(parse_duration("1h30m") == Duration{5'400'000'000});
  CHECK(parse_duration("250ms") == Duration{250'000});
  CHECK(parse_duration("2d") == Duration{172'800'000'000});
  CHECK_FALSE(parse_duration("10"));
  CHECK_FALSE(parse_duration("10 m"));
  CHECK_FALSE(parse_duration("m"));
  CHECK_FALSE(parse_duration("5y"));
  CHECK(format_duration(Duration{5'400'000'000}) == "1h30m");
  CHECK(format_duration(Duration{250'000}) == "250ms");
  CHECK(format_duration(Duration{0}) == "0s");
}

TEST_CASE("scenario: a minimal scenario gets its implicit MX host, DNS server and MUA") {
  auto load = load_scenario(base, "t.toml");
  REQUIRE(load.errors.empty());
  const Scenario& s = *load.scenario;
  REQUIRE(s.domains.size() == 1);
  CHECK(s.domains[0].mx.size() == 1);
  CHECK(s.domains[0].mx[0].host == "mail.lab.test");
  CHECK(s.domains[0].mailbox_host == "mail.lab.test");
  REQUIRE(s.find_host("mail.lab.test"));
  CHECK(s.find_host("mail.lab.test")->kind == HostKind::mta);
  REQUIRE(s.find_host("dns.lab"));
  CHECK(s.find_host("dns.lab")->address == Ipv4{192, 0, 2, 53});
  REQUIRE(s.find_mua("alice"));
  CHECK(s.find_mua("alice")->host == "alice-pc");
  CHECK(s.find_mua("alice")->server == "mail.lab.test");
}

TEST_CASE("scenario: MX records are sorted by preference and an empty list means no MX") {
  auto load = load_scenario(R"(title = "t"
description = "d"
[[domain]]
name = "school.test"
mx = [ { host = "mx2.school.test", preference = 20 }, { host = "mx1.school.test", preference = 10 } ]
[[domain]]
name = "small.test"
mx = []
[[domain]]
name = "nomail.test"
null_mx = true
)", "t.toml");
  REQUIRE(load.errors.empty());
  const auto* school = load.scenario->find_domain("school.test");
  CHECK(school->mx[0].host == "mx1.school.test");
  CHECK(school->mailbox_host == "mx1.school.test");
  const auto* small = load.scenario->find_domain("small.test");
  CHECK(small->mx.empty());
  CHECK(small->mailbox_host == "small.test");
  CHECK(load.scenario->find_domain("nomail.test")->null_mx);
}

TEST_CASE("scenario error: a TOML syntax error is reported at its line and column") {
  CHECK(first_error("title = \"t\"\ndescription = \n") .rfind("t.toml:2:", 0) == 0);
}

TEST_CASE("scenario error: an unknown key names the key and where it is") {
  CHECK(first_error(base + "[[host]]\nname = \"x.lab.test\"\ncolour = \"red\"\n") ==
        "t.toml:10:1: unknown key 'colour' in [[host]] (known: name, address, kind, open_relay)");
}

TEST_CASE("scenario error: a wrong type is reported at the value") {
  CHECK(first_error(base + "[[message]]\nat = 10\nfrom = \"alice@lab.test\"\nto = \"alice@lab.test\"\nsubject = \"s\"\n") ==
        "t.toml:9:6: 'at' must be a duration string like \"90s\", \"10m\" or \"1h30m\"");
}

TEST_CASE("scenario error: a malformed duration is reported at the value") {
  CHECK(first_error("until = \"ten minutes\"\n" + base).find("t.toml:1:9: 'ten minutes' is not a duration") == 0);
}

TEST_CASE("scenario error: an unknown host in a fault is reported where it is named") {
  CHECK(first_error(base + "[[fault]]\nkind = \"host_down\"\nhost = \"mx9.lab.test\"\n") ==
        "t.toml:10:8: unknown host 'mx9.lab.test'");
}

TEST_CASE("scenario error: an unknown user in an expectation is reported") {
  CHECK(first_error(base + "[[expect]]\nkind = \"mailbox\"\nuser = \"carol@lab.test\"\ncount = 1\n") ==
        "t.toml:10:8: unknown user 'carol@lab.test'");
}

TEST_CASE("scenario error: a user in an undeclared domain is reported") {
  CHECK(first_error(base + "[[user]]\naddress = \"bob@nowhere.test\"\npassword = \"b\"\n") ==
        "t.toml:9:11: unknown domain 'nowhere.test': add a [[domain]] with name = \"nowhere.test\"");
}

TEST_CASE("scenario error: a fault that ends before it starts is an impossible time") {
  CHECK(first_error(base + "[[fault]]\nkind = \"host_down\"\nhost = \"mail.lab.test\"\nat = \"10m\"\nuntil = \"5m\"\n") ==
        "t.toml:12:9: the fault ends (until = 5m) before it starts (at = 10m)");
}

TEST_CASE("scenario error: a message after the end of the run is an impossible time") {
  CHECK(first_error("until = \"1h\"\n" + base + "[[message]]\nat = \"2h\"\nfrom = \"alice@lab.test\"\nto = \"alice@lab.test\"\nsubject = \"s\"\n") ==
        "t.toml:10:6: 'at' = 2h is after the end of the run (until = 1h)");
}

TEST_CASE("scenario error: a malformed address is reported with the parser's reason") {
  CHECK(first_error(base + "[[user]]\naddress = \"bob\"\npassword = \"b\"\n").rfind("t.toml:9:11: 'bob' is not a mail address", 0) == 0);
}

TEST_CASE("scenario error: a missing required key is reported at its table") {
  CHECK(first_error("title = \"t\"\n[[domain]]\nname = \"lab.test\"\n") == "t.toml:1:1: the scenario needs 'description'");
}

TEST_CASE("scenario error: a sender with no account and no MUA is reported") {
  CHECK(first_error(base + "[[message]]\nat = \"1m\"\nfrom = \"eve@else.test\"\nto = \"alice@lab.test\"\nsubject = \"s\"\n") ==
        "t.toml:10:8: nobody sends as 'eve@else.test': add a [[user]] for it or name a [[mua]] with mua = ...");
}

TEST_CASE("scenario error: every error is reported, not only the first") {
  auto load = load_scenario(base + "[[fault]]\nkind = \"meteor\"\n[[expect]]\nkind = \"mailbox\"\nuser = \"x@lab.test\"\ncount = 1\n",
                            "t.toml");
  REQUIRE(load.errors.size() == 2);
  CHECK(load.errors[0].where.line == 9);
  CHECK(load.errors[1].where.line == 12);
}

TEST_CASE("scenario: fetch = \"imap\" is accepted and an IMAP client keeps mail on the server") {
  auto load = load_scenario(base + "[[mua]]\nuser = \"alice@lab.test\"\nfetch = \"imap\"\nfetch_at = [\"5m\"]\n", "t.toml");
  REQUIRE(load.errors.empty());
  const auto* mua = load.scenario->find_mua("alice");
  REQUIRE(mua);
  CHECK(mua->fetch == FetchProtocol::imap);
  CHECK(mua->keep);
  CHECK(mua->fetch_server == "mail.lab.test");
}

TEST_CASE("scenario error: keep = false with fetch = \"imap\" is refused at the value") {
  CHECK(first_error(base + "[[mua]]\nuser = \"alice@lab.test\"\nfetch = \"imap\"\nkeep = false\n") ==
        "t.toml:11:8: an IMAP client leaves mail on the server: 'keep = false' is for fetch = \"pop3\"");
}

TEST_CASE("scenario: title_id and description_id carry the lesson in Bahasa Indonesia") {
  auto load = load_scenario("title_id = \"Dasar\"\ndescription_id = \"Alice mengirim email.\"\n" + base, "t.toml");
  REQUIRE(load.errors.empty());
  CHECK(load.scenario->title_id == "Dasar");
  CHECK(load.scenario->description_id == "Alice mengirim email.");
  CHECK(load.scenario->title == "t");
  auto without = load_scenario(base, "t.toml");
  REQUIRE(without.scenario);
  CHECK(without.scenario->title_id.empty());
  CHECK(without.scenario->description_id.empty());
}

TEST_CASE("scenario error: an empty or non-string title_id is reported at the value") {
  CHECK(first_error("title_id = \"\"\n" + base) == "t.toml:1:12: 'title_id' is empty: leave it out instead");
  CHECK(first_error("description_id = 3\n" + base) == "t.toml:1:18: 'description_id' must be a string");
}
