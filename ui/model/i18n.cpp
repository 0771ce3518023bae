#include "ui/model/i18n.hpp"

#include <array>
#include <cstddef>

namespace maillab::ui {
namespace {

struct Row {
  Text key;
  std::string_view en;
  std::string_view id;
};

// One row per label, in the order of the enum (checked by a test).
constexpr std::array<Row, static_cast<std::size_t>(Text::count_)> table{{
    {Text::app_title, "maillab studio", "maillab studio"},
    {Text::menu_lessons, "Lessons", "Pelajaran"},
    {Text::menu_open, "Open scenario...", "Buka skenario..."},
    {Text::menu_view, "View", "Tampilan"},
    {Text::menu_language, "Language", "Bahasa"},
    {Text::menu_presenter, "Presenter mode", "Mode presentasi"},
    {Text::menu_quit, "Quit", "Keluar"},
    {Text::panel_topology, "Topology", "Topologi"},
    {Text::panel_transcript, "Transcript", "Transkrip"},
    {Text::panel_timeline, "Timeline", "Linimasa"},
    {Text::panel_sequence, "Sequence diagram", "Diagram urutan"},
    {Text::panel_message, "Message inspector", "Pemeriksa pesan"},
    {Text::panel_dns, "DNS", "DNS"},
    {Text::panel_queues, "Queues", "Antrean"},
    {Text::panel_mailboxes, "Mailboxes", "Kotak surat"},
    {Text::panel_routes, "Routes", "Rute"},
    {Text::panel_lessons, "Lessons", "Pelajaran"},
    {Text::play, "Play", "Putar"},
    {Text::pause, "Pause", "Jeda"},
    {Text::step_line, "Step line", "Maju satu baris"},
    {Text::step_hop, "Step hop", "Maju satu lompatan"},
    {Text::step_back, "Step back", "Mundur satu langkah"},
    {Text::speed, "Speed", "Kecepatan"},
    {Text::time_label, "Time", "Waktu"},
    {Text::role_mua, "Mail client (MUA)", "Klien surel (MUA)"},
    {Text::role_submission, "Submission server (MTA)", "Server pengiriman (MTA)"},
    {Text::role_mx, "Mail exchanger (MX)", "Penukar surat (MX)"},
    {Text::role_mda, "Delivery agent (MDA)", "Agen pengantar (MDA)"},
    {Text::role_dns, "DNS server", "Server DNS"},
    {Text::role_pop3, "POP3 server", "Server POP3"},
    {Text::role_imap, "IMAP server", "Server IMAP"},
    {Text::role_mta, "Mail transfer agent (MTA)", "Agen transfer surat (MTA)"},
    {Text::host_down, "down", "mati"},
    {Text::queued_retry_at, "queued, next try at", "dalam antrean, coba lagi pada"},
    {Text::queue_empty, "queue empty", "antrean kosong"},
    {Text::mailbox_empty, "mailbox empty", "kotak surat kosong"},
    {Text::no_selection, "Nothing selected", "Belum ada yang dipilih"},
    {Text::envelope, "Envelope (SMTP)", "Amplop (SMTP)"},
    {Text::headers, "Headers", "Header"},
    {Text::received_chain, "Received: chain", "Rantai Received:"},
    {Text::mime_tree, "MIME structure", "Struktur MIME"},
    {Text::raw_source, "Raw source", "Sumber mentah"},
    {Text::mail_from, "MAIL FROM (envelope sender)", "MAIL FROM (pengirim amplop)"},
    {Text::rcpt_to, "RCPT TO (envelope recipients)", "RCPT TO (penerima amplop)"},
    {Text::client_line, "client", "klien"},
    {Text::server_line, "server", "server"},
    {Text::encrypted_line, "encrypted (TLS), shown in clear", "terenkripsi (TLS), ditampilkan terbuka"},
    {Text::dns_zone, "Zone", "Zona"},
    {Text::dns_answers, "Answers so far", "Jawaban sejauh ini"},
    {Text::route_summary, "Route", "Rute"},
    {Text::delivered, "delivered", "terkirim"},
    {Text::bounced, "bounced", "dipantulkan"},
    {Text::in_queue, "waiting in queue", "menunggu di antrean"},
    {Text::in_flight, "in flight", "sedang dikirim"},
    {Text::lesson_errors, "Scenario errors", "Kesalahan skenario"},
    {Text::open_file, "Open", "Buka"},
    {Text::live_mode, "Live", "Langsung"},
    {Text::presenter_mode, "Presenter", "Presentasi"},
    {Text::all_connections, "All connections", "Semua koneksi"},
    {Text::message_label, "Message", "Pesan"},
    {Text::filter_label, "Filter", "Saring"},
    {Text::hosts_label, "hosts", "host"},
    {Text::file_browser, "Open a scenario file", "Buka berkas skenario"},
    {Text::parent_directory, "Up one folder", "Naik satu folder"},
    {Text::toml_only, "Scenario files (.toml) and folders", "Berkas skenario (.toml) dan folder"},
    {Text::cannot_list, "Cannot list this folder", "Folder ini tidak dapat dibaca"},
    {Text::live_sessions, "Live sessions", "Sesi langsung"},
    {Text::live_hold, "Hold replies", "Tahan balasan"},
    {Text::live_step, "Step: release one reply line", "Langkah: lepaskan satu baris balasan"},
    {Text::live_held_replies, "reply lines held", "baris balasan ditahan"},
    {Text::live_waiting, "Waiting for clients to connect...", "Menunggu klien terhubung..."},
    {Text::live_release, "Release: let it run", "Lepaskan: biarkan berjalan"},
    {Text::live_follow, "Follow now", "Ikuti saat ini"},
    {Text::live_error, "The lab server could not start", "Server lab tidak dapat dijalankan"},
    {Text::live_listening, "Listening on", "Mendengarkan di"},
    {Text::live_held_hint, "the client waits for each line; its timeout is minutes (SMTP: RFC 5321 4.5.3.2)",
     "klien menunggu setiap baris; batas waktunya beberapa menit (SMTP: RFC 5321 4.5.3.2)"},
    {Text::live_so_far, "so far: sessions / deliveries", "sejauh ini: sesi / pengantaran"},
    {Text::live_hold_new, "Hold each new session from its greeting", "Tahan setiap sesi baru sejak salamnya"},
}};

constexpr bool table_is_in_enum_order() {
  for (std::size_t i = 0; i < table.size(); ++i) {
    if (static_cast<std::size_t>(table[i].key) != i) return false;
  }
  return true;
}
static_assert(table_is_in_enum_order(), "i18n table rows must follow the Text enum order");

}  // namespace

std::string_view tr(Lang lang, Text text) {
  const auto& row = table[static_cast<std::size_t>(text)];
  return lang == Lang::id ? row.id : row.en;
}

std::optional<Lang> parse_lang(std::string_view code) {
  if (code.size() >= 2) {
    const auto prefix = code.substr(0, 2);
    if (prefix == "en" || prefix == "C" || prefix == "C.") return Lang::en;
    if (prefix == "id" || prefix == "in") return Lang::id;
  }
  if (code == "C" || code == "POSIX") return Lang::en;
  return std::nullopt;
}

std::string_view lang_code(Lang lang) { return lang == Lang::id ? "id" : "en"; }

}  // namespace maillab::ui
