#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "net/mail/message.hpp"
#include "sim/store/mailbox_name.hpp"
#include "sim/store/maildir_format.hpp"

using namespace maillab;
using namespace maillab::sim;
using namespace maillab::sim::maildir;
using net::mail::Flags;

TEST_CASE("mailbox name: valid names are kept and INBOX is canonicalised") {
  CHECK(canonical_mailbox_name("inbox").value() == "INBOX");
  CHECK(canonical_mailbox_name("InBoX/Lists").value() == "INBOX/Lists");
  CHECK(canonical_mailbox_name("Inboxes").value() == "Inboxes");
  CHECK(canonical_mailbox_name("Archive/2026").value() == "Archive/2026");
  CHECK(canonical_mailbox_name("Entwürfe").value() == "Entwürfe");
  CHECK(canonical_mailbox_name("a.b/c~d/.hidden").value() == "a.b/c~d/.hidden");
  CHECK(canonical_mailbox_name("😀").value() == "😀");
  CHECK(canonical_mailbox_name(std::string(255, 'x')).ok());
  CHECK_FALSE(canonical_mailbox_name(std::string(256, 'x')).ok());
}

TEST_CASE("mailbox name: users are strict addresses, domain lower-cased") {
  auto user = parse_user("Alice.B+tag@Lab.TEST");
  REQUIRE(user.ok());
  CHECK(user->key == "Alice.B+tag@lab.test");
  CHECK(user->local_part == "Alice.B+tag");
  CHECK(user->domain == "lab.test");
  CHECK_FALSE(parse_user(std::string(65, 'a') + "@lab.test").ok());
  CHECK(parse_user(std::string(64, 'a') + "@lab.test").ok());
  CHECK_FALSE(parse_user("a@" + std::string(64, 'b') + ".test").ok());
  CHECK_FALSE(parse_user("a@lab.test.").ok());
  CHECK_FALSE(parse_user("a@b@lab.test").ok());
  CHECK_FALSE(parse_user("\xc3\xa9@lab.test").ok());
}

TEST_CASE("maildir format: modified UTF-7 round-trips and refuses non-canonical forms") {
  CHECK(mutf7_encode("Entwürfe") == "Entw&APw-rfe");
  CHECK(mutf7_encode("A&B") == "A&-B");
  CHECK(mutf7_encode("日本語") == "&ZeVnLIqe-");
  CHECK(mutf7_encode("😀") == "&2D3eAA-");
  for (const char* text : {"Entwürfe", "A&B", "日本語", "😀 x 😀", "plain", "~/x"}) {
    CHECK(mutf7_decode(mutf7_encode(text)).value() == text);
  }
  CHECK_FALSE(mutf7_decode("&AGEAYgBj-").has_value());  // "abc" encoded: not canonical
  CHECK_FALSE(mutf7_decode("&AC4ALg-").has_value());    // ".." encoded
  CHECK_FALSE(mutf7_decode("&Jjo!").has_value());       // bad base64, no end
  CHECK_FALSE(mutf7_decode("&Jjo!-").has_value());
  CHECK_FALSE(mutf7_decode("&2D0-").has_value());       // lone high surrogate
  CHECK_FALSE(mutf7_decode("&APw-&APw-").has_value());  // two adjacent runs
  CHECK_FALSE(mutf7_decode("&APx-").has_value());       // non-zero padding bits
  CHECK_FALSE(mutf7_decode("a\tb").has_value());
}

TEST_CASE("maildir format: folder directories are Maildir++ with '.' escaped as \\2e") {
  CHECK(folder_dir_name("Sent").value() == ".Sent");
  CHECK(folder_dir_name("Archive/2026").value() == ".Archive.2026");
  CHECK(folder_dir_name("v1.2 notes").value() == ".v1\\2e2 notes");
  CHECK(folder_dir_name("back\\slash").value() == ".back\\5cslash");
  CHECK(folder_dir_name("Entwürfe/Alt").value() == ".Entw&APw-rfe.Alt");
  CHECK(folder_dir_name("INBOX/Sub").value() == ".INBOX.Sub");
  CHECK(folder_dir_name(std::string(254, 'x')).ok());
  CHECK(folder_dir_name(std::string(255, 'x')).error().category == ErrorCategory::invalid_argument);
  for (const char* name : {"Sent", "Archive/2026", "v1.2 notes", "back\\slash", "Entwürfe/Alt", "INBOX/Sub", ".x"}) {
    CHECK(mailbox_name_of_dir(folder_dir_name(name).value()).value() == name);
  }
  for (const char* dir : {".", "..", "..maillab-new", ".INBOX", ".inbox", ".a..b", ".a.", ".cur", ".x.tmp", ".\\2E",
                          ".\\41", ".a\\2", ".&AGEAYgBj-", ".%", "Sent", ".Inbox.Sub", ".~root"}) {
    CHECK_FALSE_MESSAGE(mailbox_name_of_dir(dir).has_value(), dir);
  }
}

TEST_CASE("maildir format: file names split into base, flag letters and Dovecot's tail") {
  FileName plain = split_file_name("1700000000.M1V1.maillab,S=10,W=12");
  CHECK(plain.base == "1700000000.M1V1.maillab,S=10,W=12");
  CHECK_FALSE(plain.has_info);
  FileName flagged = split_file_name("123.M2V1.host,S=5:2,FRS,extra");
  CHECK(flagged.base == "123.M2V1.host,S=5");
  CHECK(flagged.has_info);
  CHECK(flagged.letters == "FRS");
  CHECK(flagged.tail == ",extra");
  CHECK(base_field(plain.base, 'S').value() == 10);
  CHECK(base_field(plain.base, 'W').value() == 12);
  CHECK_FALSE(base_field("123.host", 'W').has_value());
  CHECK_FALSE(base_field("123.host,W=x", 'W').has_value());
}

TEST_CASE("maildir format: flags become sorted letters, keywords take a..z from dovecot-keywords") {
  std::vector<std::string> keywords = {"$Junk"};
  auto letters = flags_to_letters({"$Work", "\\Seen", "\\Draft", "$Junk", "\\Answered", "\\Flagged", "\\Deleted"},
                                  keywords, "P");
  REQUIRE(letters.ok());
  CHECK(*letters == "DFPRSTab");
  CHECK(keywords == std::vector<std::string>{"$Junk", "$Work"});
  CHECK(letters_to_flags(*letters, keywords) ==
        Flags{"$Junk", "$Work", "\\Answered", "\\Deleted", "\\Draft", "\\Flagged", "\\Seen"});
  CHECK(letters_to_flags("Sz", keywords) == Flags{"\\Seen"});
  std::vector<std::string> full;
  for (int i = 0; i < 26; ++i) full.push_back("k" + std::to_string(i));
  auto too_many = flags_to_letters({"k27"}, full, "");
  REQUIRE_FALSE(too_many.ok());
  CHECK(too_many.error().category == ErrorCategory::invalid_argument);
  CHECK(flags_to_letters({"k3"}, full, "").value() == "d");
}

TEST_CASE("maildir format: dovecot-uidlist v3 round-trips and keeps unknown fields") {
  std::string text =
      "3 V1275660208 N25022 G3085f01b7f11094c501100008c4a11c1\n"
      "25006 :1276528487.M364837P9451.kurkku,S=1355,W=1394:2,\n"
      "25017 W2481 :1276533073.M242911P3632.kurkku:2,F\n";
  auto list = parse_uidlist(text);
  REQUIRE(list.ok());
  CHECK(list->uid_validity == 1275660208);
  CHECK(list->uid_next == 25022);
  CHECK(list->header_fields == std::vector<std::string>{"G3085f01b7f11094c501100008c4a11c1"});
  REQUIRE(list->records.size() == 2);
  CHECK(list->records[0].uid == 25006);
  CHECK(list->records[0].file_name == "1276528487.M364837P9451.kurkku,S=1355,W=1394:2,");
  CHECK(record_field(list->records[1], 'W').value() == 2481);
  list->modseq = 7;
  auto again = parse_uidlist(format_uidlist(*list));
  REQUIRE(again.ok());
  CHECK(again->modseq == 7);
  CHECK(format_uidlist(*again) == format_uidlist(*list));
  CHECK(format_uidlist(*list).rfind("3 V1275660208 N25022 M7 G3085", 0) == 0);
}

TEST_CASE("maildir format: records appended after the header raise UIDNEXT and count as changes") {
  auto list = parse_uidlist("3 V9 N3 M4\n1 :a\n2 :b\n");
  REQUIRE(list.ok());
  list->records.push_back({3, {"W12"}, "c"});
  list->records.push_back({4, {}, "d:2,S"});
  CHECK(format_uidlist_records(*list, 2) == "3 W12 :c\n4 :d:2,S\n");
  auto appended = parse_uidlist("3 V9 N3 M4\n1 :a\n2 :b\n" + format_uidlist_records(*list, 2));
  REQUIRE(appended.ok());
  CHECK(appended->uid_next == 5);
  CHECK(appended->modseq == 6);  // M4 and two appended records
  CHECK_FALSE(appended->torn);
  CHECK(format_uidlist_records(*appended, 0) == format_uidlist_records(*list, 0));
}

TEST_CASE("maildir format: an append cut short by a crash is skipped, and marked torn") {
  // The last line lost its LF (the write stopped in it) ...
  auto cut = parse_uidlist("3 V9 N3\n1 :a\n2 :b\n3 :c-par");
  REQUIRE(cut.ok());
  CHECK(cut->records.size() == 2);
  CHECK(cut->uid_next == 3);
  CHECK(cut->torn);
  // ... or the file grew but its new block was never written (NUL octets).
  auto zeros = parse_uidlist(std::string("3 V9 N3\n1 :a\n") + std::string(9, '\0'));
  REQUIRE(zeros.ok());
  CHECK(zeros->records.size() == 1);
  CHECK(zeros->torn);
  auto zero_line = parse_uidlist(std::string("3 V9 N3\n1 :a\n") + std::string(4, '\0') + "\n3 :c\n");
  REQUIRE(zero_line.ok());
  CHECK(zero_line->records.size() == 2);
  CHECK(zero_line->torn);
  CHECK_FALSE(parse_uidlist("3 V9 N3\n1 :a\n").value().torn);
  CHECK(parse_uidlist("3 V9 N3").value().records.empty());  // a header alone is not an append
}

TEST_CASE("maildir format: a courier-style v1 uid list is read, broken ones are refused") {
  auto v1 = parse_uidlist("1 42 10\n3 123.host:2,S\n7 456.host\n");
  REQUIRE(v1.ok());
  CHECK(v1->uid_validity == 42);
  CHECK(v1->records.size() == 2);
  CHECK(v1->records[1].file_name == "456.host");
  CHECK(parse_uidlist("3 V5 N3\n4 :a\n").value().uid_next == 5);  // next raised past the last UID
  for (const char* bad : {"", "garbage\n", "3 V0 N1\n", "3 N5\n", "3 V1 N5\n2 :a\n1 :b\n", "3 V1 N5\nx :a\n",
                          "3 V1 N5\n1 W3\n", "3 V1 N5\n1 :a/b\n", "2 V1 N1\n", "3 V1 N5 Mx\n"}) {
    CHECK_FALSE_MESSAGE(parse_uidlist(bad).ok(), bad);
  }
}

TEST_CASE("maildir format: keywords and subscriptions files") {
  auto keywords = parse_keywords("0 $Junk\n3 $Label1\nbad line\n30 far\n");
  CHECK(keywords == std::vector<std::string>{"$Junk", "", "", "$Label1"});
  CHECK(format_keywords(keywords) == "0 $Junk\n3 $Label1\n");
  std::string subscriptions = format_subscriptions({"Archive/2026", "INBOX", "Sent"});
  CHECK(subscriptions == "V\t2\n\nArchive\t2026\nINBOX\nSent\n");
  CHECK(parse_subscriptions(subscriptions) == std::vector<std::string>{"Archive/2026", "INBOX", "Sent"});
  CHECK(parse_subscriptions("inbox\nLists/dev\n../x\n") == std::vector<std::string>{"INBOX", "Lists/dev"});
}

TEST_CASE("maildir format: our unique names carry date, UID, UIDVALIDITY and both sizes") {
  CHECK(our_base_name(1700000000, 7, 3, 100, 104) == "1700000000.M7V3.maillab,S=100,W=104");
  CHECK(crlf_to_lf("a\r\nb\r\n\r\nc") == "a\nb\n\nc");
  CHECK(crlf_to_lf("lone\rcr\r\r\nend\r") == "lone\rcr\r\nend\r");  // only CRLF pairs lose their CR
  CHECK(crlf_to_lf("") == "");
  CHECK(crlf_to_lf("\r\n") == "\n");
}

TEST_CASE("maildir format: lf_form is crlf_to_lf of normalize_crlf, and counts the line breaks of the CRLF form") {
  std::uint64_t state = 20261127;
  const char alphabet[] = {'a', 'b', '\r', '\n', ' ', '.'};
  for (int round = 0; round < 3000; ++round) {
    std::string text;
    const std::size_t length = static_cast<std::size_t>(round % 40);
    for (std::size_t i = 0; i < length; ++i) {
      state = state * 6364136223846793005ULL + 1442695040888963407ULL;
      text += alphabet[(state >> 33) % sizeof alphabet];
    }
    CAPTURE(text);
    const std::string crlf = net::mail::normalize_crlf(text);
    std::size_t line_breaks = 99;
    const std::string lf = lf_form(text, line_breaks);
    CHECK(lf == crlf_to_lf(crlf));
    CHECK(lf.size() + line_breaks == crlf.size());
  }
}
