// The studio's languages: English and Bahasa Indonesia, switchable at run time.
// Every label the studio shows comes from one translation table (i18n.cpp);
// no user-visible string is scattered in the panels.
#pragma once

#include <optional>
#include <string_view>

namespace maillab::ui {

enum class Lang : unsigned char { en, id };

enum class Text : unsigned short {
  app_title,
  menu_lessons, menu_open, menu_view, menu_language, menu_presenter, menu_quit,
  panel_topology, panel_transcript, panel_timeline, panel_sequence, panel_message,
  panel_dns, panel_queues, panel_mailboxes, panel_routes, panel_lessons,
  play, pause, step_line, step_hop, step_back, speed, time_label,
  role_mua, role_submission, role_mx, role_mda, role_dns, role_pop3, role_imap, role_mta,
  host_down, queued_retry_at, queue_empty, mailbox_empty, no_selection,
  envelope, headers, received_chain, mime_tree, raw_source,
  mail_from, rcpt_to, client_line, server_line, encrypted_line,
  dns_zone, dns_answers, route_summary, delivered, bounced, in_queue, in_flight,
  lesson_errors, open_file, live_mode, presenter_mode, all_connections,
  message_label, filter_label,
  hosts_label, file_browser, parent_directory, toml_only, cannot_list,
  live_sessions, live_hold, live_step, live_held_replies, live_waiting,
  live_release, live_follow, live_error, live_listening, live_held_hint, live_so_far,
  live_hold_new,
  count_  // count_ must stay last
};

std::string_view tr(Lang lang, Text text);

// "en" / "id"; also accepts locale strings such as "id_ID.UTF-8".
std::optional<Lang> parse_lang(std::string_view code);
std::string_view lang_code(Lang lang);

}  // namespace maillab::ui
