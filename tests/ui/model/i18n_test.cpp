#include <doctest/doctest.h>

#include <set>
#include <string>

#include "ui/model/explain.hpp"
#include "ui/model/i18n.hpp"

using namespace maillab::ui;

TEST_CASE("i18n: every label exists in both languages and most differ") {
  std::size_t translated = 0;
  for (int i = 0; i < static_cast<int>(Text::count_); ++i) {
    const auto text = static_cast<Text>(i);
    CHECK_FALSE(tr(Lang::en, text).empty());
    CHECK_FALSE(tr(Lang::id, text).empty());
    if (tr(Lang::en, text) != tr(Lang::id, text)) ++translated;
  }
  // Names such as "DNS" stay the same; everything else is translated.
  CHECK(translated + 6 >= static_cast<std::size_t>(Text::count_));
  CHECK(tr(Lang::id, Text::panel_mailboxes) == "Kotak surat");
}

TEST_CASE("i18n: language codes and locales are understood") {
  CHECK(parse_lang("id") == Lang::id);
  CHECK(parse_lang("id_ID.UTF-8") == Lang::id);
  CHECK(parse_lang("en_GB.UTF-8") == Lang::en);
  CHECK(parse_lang("C") == Lang::en);
  CHECK_FALSE(parse_lang("fr_FR.UTF-8").has_value());
  CHECK(lang_code(Lang::id) == "id");
}

TEST_CASE("explain: SMTP commands and replies carry their RFC section") {
  auto mail = explain_line("smtp", 'C', "MAIL FROM:<alice@lab.test>", Lang::en);
  CHECK(mail.rfc == "RFC 5321 §4.1.1.2");
  CHECK(mail.text.find("envelope sender") != std::string::npos);

  auto unknown_user = explain_line("smtp", 'S', "550 5.1.1 <x@lab.test>: Recipient address rejected", Lang::en);
  CHECK(unknown_user.rfc == "RFC 5321 §4.2.2");
  CHECK(unknown_user.text.find("Permanent failure: bad destination mailbox address") != std::string::npos);

  auto id = explain_line("submission", 'C', "starttls", Lang::id);
  CHECK(id.rfc == "RFC 3207 §4");
  CHECK(id.text.find("TLS") != std::string::npos);
}

TEST_CASE("explain: enhanced status codes are decoded by class and detail") {
  CHECK(explain_enhanced_code("4.7.1", Lang::en).starts_with("Transient failure (retry): delivery not authorized"));
  CHECK(explain_enhanced_code("5.7.8", Lang::id).find("kredensial") != std::string::npos);
  CHECK(explain_enhanced_code("2.0.0", Lang::en).starts_with("Success"));
  CHECK(explain_enhanced_code("250", Lang::en).empty());
  CHECK(explain_enhanced_code("9.9.9", Lang::en).empty());
}

TEST_CASE("explain: POP3 and IMAP lines, with IMAP tags skipped") {
  CHECK(explain_line("pop3", 'C', "DELE 1", Lang::en).text.find("QUIT") != std::string::npos);
  CHECK(explain_line("imap", 'C', "a3 UID FETCH 1:* (FLAGS)", Lang::en).rfc == "RFC 3501 §6.4.8");
  CHECK(explain_line("imap", 'S', "a3 NO [TRYCREATE] no such mailbox", Lang::en).rfc == "RFC 3501 §7.1.2");
  CHECK(explain_line("imap", 'S', "* 3 EXISTS", Lang::en).rfc == "RFC 3501 §7.3.1");
  CHECK(explain_line("imap", 'C', "a1 XYZZY", Lang::en).text.empty());
}
