#include "ui/model/explain.hpp"

#include <array>
#include <cctype>
#include <string>

namespace maillab::ui {
namespace {

struct Entry {
  std::string_view key;
  std::string_view en;
  std::string_view id;
  std::string_view rfc;
};

constexpr std::array smtp_commands{
    Entry{"EHLO", "The client greets the server and asks which ESMTP extensions it offers.",
          "Klien menyapa server dan menanyakan ekstensi ESMTP yang tersedia.", "RFC 5321 §4.1.1.1"},
    Entry{"HELO", "The client greets the server the old way, without extensions.",
          "Klien menyapa server dengan cara lama, tanpa ekstensi.", "RFC 5321 §4.1.1.1"},
    Entry{"MAIL", "Starts a mail transaction and gives the envelope sender (the bounce address).",
          "Memulai transaksi surat dan menyebut pengirim amplop (alamat pantulan).", "RFC 5321 §4.1.1.2"},
    Entry{"RCPT", "Names one envelope recipient; repeated once per recipient.",
          "Menyebut satu penerima amplop; diulang untuk setiap penerima.", "RFC 5321 §4.1.1.3"},
    Entry{"DATA", "Asks to send the message itself (headers and body), ended by a line with a single dot.",
          "Meminta izin mengirim isi pesan (header dan badan), diakhiri baris berisi satu titik.", "RFC 5321 §4.1.1.4"},
    Entry{"BDAT", "Sends one chunk of the message with its exact size (CHUNKING).",
          "Mengirim satu potongan pesan dengan ukuran pastinya (CHUNKING).", "RFC 3030 §2"},
    Entry{"RSET", "Aborts the current transaction; the connection stays open.",
          "Membatalkan transaksi saat ini; koneksi tetap terbuka.", "RFC 5321 §4.1.1.5"},
    Entry{"VRFY", "Asks whether a mailbox exists; lab servers answer 252 and reveal nothing.",
          "Menanyakan apakah kotak surat ada; server menjawab 252 tanpa membocorkan apa pun.", "RFC 5321 §4.1.1.6"},
    Entry{"NOOP", "Does nothing; keeps the connection alive.", "Tidak melakukan apa-apa; menjaga koneksi tetap hidup.",
          "RFC 5321 §4.1.1.9"},
    Entry{"QUIT", "Ends the session politely.", "Mengakhiri sesi dengan sopan.", "RFC 5321 §4.1.1.10"},
    Entry{"HELP", "Asks the server for help text.", "Meminta teks bantuan dari server.", "RFC 5321 §4.1.1.8"},
    Entry{"STARTTLS", "Switches this connection to TLS: from here on the lines are encrypted.",
          "Mengalihkan koneksi ini ke TLS: mulai sini baris-baris dienkripsi.", "RFC 3207 §4"},
    Entry{"AUTH", "Logs in with a SASL mechanism (PLAIN or LOGIN) so the server lets this user send.",
          "Masuk dengan mekanisme SASL (PLAIN atau LOGIN) agar server mengizinkan pengguna ini mengirim.",
          "RFC 4954 §4"},
};

constexpr std::array smtp_replies{
    Entry{"211", "System status.", "Status sistem.", "RFC 5321 §4.2.2"},
    Entry{"214", "Help message.", "Pesan bantuan.", "RFC 5321 §4.2.2"},
    Entry{"220", "The server is ready (greeting), or ready to start TLS.",
          "Server siap (salam pembuka), atau siap memulai TLS.", "RFC 5321 §4.2.2"},
    Entry{"221", "The server closes the connection.", "Server menutup koneksi.", "RFC 5321 §4.2.2"},
    Entry{"235", "Authentication succeeded.", "Autentikasi berhasil.", "RFC 4954 §6"},
    Entry{"250", "OK: the requested action was completed.", "OK: tindakan yang diminta selesai.",
          "RFC 5321 §4.2.2"},
    Entry{"251", "User not local; the server will forward.", "Pengguna bukan lokal; server akan meneruskan.",
          "RFC 5321 §4.2.2"},
    Entry{"252", "Cannot verify the user, but will accept the message.",
          "Tidak dapat memverifikasi pengguna, tetapi pesan akan diterima.", "RFC 5321 §4.2.2"},
    Entry{"334", "Authentication challenge: the client must answer in base64.",
          "Tantangan autentikasi: klien harus menjawab dalam base64.", "RFC 4954 §4"},
    Entry{"354", "Go ahead: send the message, end it with <CRLF>.<CRLF>.",
          "Silakan: kirim pesannya, akhiri dengan <CRLF>.<CRLF>.", "RFC 5321 §4.2.2"},
    Entry{"421", "Service not available: the server is closing the connection; try again later.",
          "Layanan tidak tersedia: server menutup koneksi; coba lagi nanti.", "RFC 5321 §4.2.2"},
    Entry{"450", "Mailbox unavailable for now: try again later.",
          "Kotak surat sementara tidak tersedia: coba lagi nanti.", "RFC 5321 §4.2.2"},
    Entry{"451", "Local error or greylisting: try again later; the sender keeps the message queued.",
          "Kesalahan lokal atau greylisting: coba lagi nanti; pengirim menyimpan pesan di antrean.",
          "RFC 5321 §4.2.2"},
    Entry{"452", "Insufficient storage or too many recipients: try again later.",
          "Penyimpanan tidak cukup atau terlalu banyak penerima: coba lagi nanti.", "RFC 5321 §4.2.2"},
    Entry{"500", "Syntax error: command unrecognised or line too long.",
          "Kesalahan sintaks: perintah tidak dikenal atau baris terlalu panjang.", "RFC 5321 §4.2.2"},
    Entry{"501", "Syntax error in the parameters.", "Kesalahan sintaks pada parameter.", "RFC 5321 §4.2.2"},
    Entry{"502", "Command not implemented.", "Perintah tidak diimplementasikan.", "RFC 5321 §4.2.2"},
    Entry{"503", "Bad sequence of commands (for example RCPT before MAIL).",
          "Urutan perintah salah (misalnya RCPT sebelum MAIL).", "RFC 5321 §4.2.2"},
    Entry{"504", "Parameter not implemented.", "Parameter tidak diimplementasikan.", "RFC 5321 §4.2.2"},
    Entry{"530", "Authentication required before sending.", "Autentikasi diperlukan sebelum mengirim.",
          "RFC 4954 §6"},
    Entry{"535", "Authentication failed: wrong user name or password.",
          "Autentikasi gagal: nama pengguna atau kata sandi salah.", "RFC 4954 §6"},
    Entry{"538", "Encryption (TLS) required for this authentication.",
          "Enkripsi (TLS) diperlukan untuk autentikasi ini.", "RFC 4954 §6"},
    Entry{"550", "Permanent failure: mailbox unavailable (for example unknown user); the sender gets a bounce.",
          "Gagal permanen: kotak surat tidak tersedia (misalnya pengguna tidak dikenal); pengirim menerima pantulan.",
          "RFC 5321 §4.2.2"},
    Entry{"551", "User not local.", "Pengguna bukan lokal.", "RFC 5321 §4.2.2"},
    Entry{"552", "Message too big or mailbox full.", "Pesan terlalu besar atau kotak surat penuh.",
          "RFC 5321 §4.2.2"},
    Entry{"553", "Mailbox name not allowed (for example a sender you do not own).",
          "Nama kotak surat tidak diizinkan (misalnya pengirim yang bukan milik Anda).", "RFC 5321 §4.2.2"},
    Entry{"554", "Transaction failed (for example relay access denied).",
          "Transaksi gagal (misalnya relay ditolak).", "RFC 5321 §4.2.2"},
};

constexpr std::array pop3_commands{
    Entry{"USER", "Gives the user name (the password follows with PASS).",
          "Memberikan nama pengguna (kata sandi menyusul dengan PASS).", "RFC 1939 §7"},
    Entry{"PASS", "Gives the password in clear; only safe inside TLS.",
          "Memberikan kata sandi terbuka; hanya aman di dalam TLS.", "RFC 1939 §7"},
    Entry{"APOP", "Logs in with an MD5 digest of the greeting's timestamp and the secret: no password on the wire.",
          "Masuk dengan digest MD5 dari cap waktu salam dan rahasia: tanpa kata sandi di jalur.", "RFC 1939 §7"},
    Entry{"AUTH", "Logs in with a SASL mechanism.", "Masuk dengan mekanisme SASL.", "RFC 5034 §4"},
    Entry{"STLS", "Switches this connection to TLS.", "Mengalihkan koneksi ini ke TLS.", "RFC 2595 §4"},
    Entry{"CAPA", "Asks which capabilities the server has.", "Menanyakan kemampuan server.", "RFC 2449 §5"},
    Entry{"STAT", "Asks how many messages there are and their total size.",
          "Menanyakan jumlah pesan dan ukuran totalnya.", "RFC 1939 §5"},
    Entry{"LIST", "Lists the messages with their sizes.", "Mendaftar pesan beserta ukurannya.", "RFC 1939 §5"},
    Entry{"RETR", "Downloads one whole message.", "Mengunduh satu pesan utuh.", "RFC 1939 §5"},
    Entry{"TOP", "Downloads the headers and the first lines of a message.",
          "Mengunduh header dan beberapa baris pertama pesan.", "RFC 1939 §7"},
    Entry{"DELE", "Marks a message for deletion; it is removed only at QUIT.",
          "Menandai pesan untuk dihapus; baru dihapus saat QUIT.", "RFC 1939 §5"},
    Entry{"RSET", "Unmarks every message marked for deletion.", "Membatalkan semua tanda hapus.", "RFC 1939 §5"},
    Entry{"NOOP", "Does nothing.", "Tidak melakukan apa-apa.", "RFC 1939 §5"},
    Entry{"UIDL", "Lists the messages' unique ids, so a client knows which it already has.",
          "Mendaftar id unik pesan, agar klien tahu mana yang sudah dimiliki.", "RFC 1939 §7"},
    Entry{"QUIT", "Ends the session; marked messages are deleted now (UPDATE state).",
          "Mengakhiri sesi; pesan bertanda dihapus sekarang (status UPDATE).", "RFC 1939 §6"},
};

constexpr std::array imap_commands{
    Entry{"CAPABILITY", "Asks which capabilities the server has.", "Menanyakan kemampuan server.", "RFC 3501 §6.1.1"},
    Entry{"NOOP", "Does nothing, but lets the server report new mail.",
          "Tidak melakukan apa-apa, tetapi server dapat melaporkan surat baru.", "RFC 3501 §6.1.2"},
    Entry{"LOGOUT", "Ends the session.", "Mengakhiri sesi.", "RFC 3501 §6.1.3"},
    Entry{"STARTTLS", "Switches this connection to TLS.", "Mengalihkan koneksi ini ke TLS.", "RFC 3501 §6.2.1"},
    Entry{"LOGIN", "Logs in with user name and password.", "Masuk dengan nama pengguna dan kata sandi.",
          "RFC 3501 §6.2.3"},
    Entry{"AUTHENTICATE", "Logs in with a SASL mechanism.", "Masuk dengan mekanisme SASL.", "RFC 3501 §6.2.2"},
    Entry{"SELECT", "Opens a mailbox for reading and writing; mail stays on the server.",
          "Membuka kotak surat untuk dibaca dan ditulis; surat tetap di server.", "RFC 3501 §6.3.1"},
    Entry{"EXAMINE", "Opens a mailbox read-only.", "Membuka kotak surat hanya-baca.", "RFC 3501 §6.3.2"},
    Entry{"CREATE", "Creates a folder on the server.", "Membuat folder di server.", "RFC 3501 §6.3.3"},
    Entry{"DELETE", "Deletes a folder.", "Menghapus folder.", "RFC 3501 §6.3.4"},
    Entry{"RENAME", "Renames a folder.", "Mengganti nama folder.", "RFC 3501 §6.3.5"},
    Entry{"SUBSCRIBE", "Adds a folder to the subscribed list.", "Menambah folder ke daftar langganan.",
          "RFC 3501 §6.3.6"},
    Entry{"UNSUBSCRIBE", "Removes a folder from the subscribed list.", "Menghapus folder dari daftar langganan.",
          "RFC 3501 §6.3.7"},
    Entry{"LIST", "Lists the folders.", "Mendaftar folder.", "RFC 3501 §6.3.8"},
    Entry{"LSUB", "Lists the subscribed folders.", "Mendaftar folder yang dilanggan.", "RFC 3501 §6.3.9"},
    Entry{"STATUS", "Asks a folder's counters without opening it.", "Menanyakan penghitung folder tanpa membukanya.",
          "RFC 3501 §6.3.10"},
    Entry{"APPEND", "Uploads a message into a folder (for example Sent).",
          "Mengunggah pesan ke folder (misalnya Sent).", "RFC 3501 §6.3.11"},
    Entry{"CHECK", "Asks for a checkpoint of the mailbox.", "Meminta titik periksa kotak surat.", "RFC 3501 §6.4.1"},
    Entry{"CLOSE", "Closes the mailbox and removes messages flagged \\Deleted.",
          "Menutup kotak surat dan menghapus pesan bertanda \\Deleted.", "RFC 3501 §6.4.2"},
    Entry{"UNSELECT", "Closes the mailbox without removing anything.", "Menutup kotak surat tanpa menghapus apa pun.",
          "RFC 3691 §2"},
    Entry{"EXPUNGE", "Removes the messages flagged \\Deleted.", "Menghapus pesan bertanda \\Deleted.",
          "RFC 3501 §6.4.3"},
    Entry{"SEARCH", "Finds messages matching criteria.", "Mencari pesan yang cocok dengan kriteria.",
          "RFC 3501 §6.4.4"},
    Entry{"FETCH", "Reads parts of messages (flags, headers, body).",
          "Membaca bagian pesan (tanda, header, badan).", "RFC 3501 §6.4.5"},
    Entry{"STORE", "Changes message flags (for example \\Seen).", "Mengubah tanda pesan (misalnya \\Seen).",
          "RFC 3501 §6.4.6"},
    Entry{"COPY", "Copies messages to another folder.", "Menyalin pesan ke folder lain.", "RFC 3501 §6.4.7"},
    Entry{"MOVE", "Moves messages to another folder.", "Memindahkan pesan ke folder lain.", "RFC 6851 §3"},
    Entry{"UID", "The same command, but numbered by permanent UIDs instead of positions.",
          "Perintah yang sama, tetapi memakai UID permanen, bukan nomor urut.", "RFC 3501 §6.4.8"},
    Entry{"IDLE", "Waits for the server to push news (new mail) without polling.",
          "Menunggu server mengabarkan surat baru tanpa bertanya berulang.", "RFC 2177 §3"},
    Entry{"ENABLE", "Turns on extensions for this session.", "Mengaktifkan ekstensi untuk sesi ini.",
          "RFC 5161 §3.1"},
    Entry{"NAMESPACE", "Asks how folder names are organised.", "Menanyakan susunan nama folder.", "RFC 2342 §5"},
    Entry{"ID", "Client and server tell each other their names and versions.",
          "Klien dan server saling memberi tahu nama dan versinya.", "RFC 2971 §3.1"},
};

std::string upper_word(std::string_view line) {
  std::string word;
  for (char c : line) {
    if (c == ' ' || c == ':') break;
    word += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  return word;
}

template <typename Table>
const Entry* find(const Table& table, std::string_view key) {
  for (const auto& entry : table) {
    if (entry.key == key) return &entry;
  }
  return nullptr;
}

Explanation from(const Entry* entry, Lang lang) {
  if (entry == nullptr) return {};
  return {std::string(lang == Lang::id ? entry->id : entry->en), std::string(entry->rfc)};
}

bool looks_like_enhanced(std::string_view s) {
  // class.subject.detail, e.g. 2.1.0 / 5.7.1 / 4.4.2
  if (s.size() < 5 || (s[0] != '2' && s[0] != '4' && s[0] != '5') || s[1] != '.') return false;
  std::size_t dots = 0;
  for (char c : s) {
    if (c == '.') ++dots;
    else if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  }
  return dots == 2 && s.back() != '.';
}

struct Detail {
  std::string_view code;  // "subject.detail"
  std::string_view en;
  std::string_view id;
};

constexpr std::array enhanced_details{
    Detail{"0.0", "other or undefined status", "status lain atau tidak terdefinisi"},
    Detail{"1.0", "other address status", "status alamat lain"},
    Detail{"1.1", "bad destination mailbox address (unknown user)",
           "alamat kotak surat tujuan salah (pengguna tidak dikenal)"},
    Detail{"1.2", "bad destination system address", "alamat sistem tujuan salah"},
    Detail{"1.3", "bad destination mailbox address syntax", "sintaks alamat kotak surat tujuan salah"},
    Detail{"1.5", "destination address valid", "alamat tujuan valid"},
    Detail{"1.7", "bad sender's mailbox address syntax", "sintaks alamat pengirim salah"},
    Detail{"1.8", "bad sender's system address", "alamat sistem pengirim salah"},
    Detail{"1.10", "recipient address has a null MX", "alamat penerima memiliki null MX"},
    Detail{"2.0", "other or undefined mailbox status", "status kotak surat lain"},
    Detail{"2.1", "mailbox disabled", "kotak surat dinonaktifkan"},
    Detail{"2.2", "mailbox full", "kotak surat penuh"},
    Detail{"3.0", "other or undefined mail system status", "status sistem surat lain"},
    Detail{"3.1", "mail system full (disk)", "sistem surat penuh (disk)"},
    Detail{"3.4", "message too big for system", "pesan terlalu besar untuk sistem"},
    Detail{"4.1", "no answer from host", "tidak ada jawaban dari host"},
    Detail{"4.2", "bad connection", "koneksi buruk"},
    Detail{"4.4", "unable to route", "tidak dapat merutekan"},
    Detail{"4.6", "routing loop detected", "perulangan rute terdeteksi"},
    Detail{"4.7", "delivery time expired", "waktu pengiriman habis"},
    Detail{"5.0", "other or undefined protocol status", "status protokol lain"},
    Detail{"5.1", "invalid command", "perintah tidak valid"},
    Detail{"5.2", "syntax error", "kesalahan sintaks"},
    Detail{"5.3", "too many recipients", "terlalu banyak penerima"},
    Detail{"5.4", "invalid command arguments", "argumen perintah tidak valid"},
    Detail{"5.5", "wrong protocol version", "versi protokol salah"},
    Detail{"5.6", "line too long or authentication exchange line too long",
           "baris terlalu panjang"},
    Detail{"6.0", "other or undefined media error", "kesalahan media lain"},
    Detail{"7.0", "other or undefined security status (e.g. authentication required)",
           "status keamanan lain (misalnya perlu autentikasi)"},
    Detail{"7.1", "delivery not authorized, message refused (e.g. relay denied)",
           "pengiriman tidak diizinkan, pesan ditolak (misalnya relay ditolak)"},
    Detail{"7.8", "authentication credentials invalid", "kredensial autentikasi tidak valid"},
    Detail{"7.11", "encryption required", "enkripsi diperlukan"},
};

}  // namespace

std::string explain_enhanced_code(std::string_view code, Lang lang) {
  if (!looks_like_enhanced(code)) return {};
  std::string out;
  switch (code[0]) {
    case '2': out = lang == Lang::id ? "Berhasil" : "Success"; break;
    case '4': out = lang == Lang::id ? "Gagal sementara (coba lagi)" : "Transient failure (retry)"; break;
    default: out = lang == Lang::id ? "Gagal permanen" : "Permanent failure"; break;
  }
  const auto rest = code.substr(2);
  for (const auto& detail : enhanced_details) {
    if (detail.code == rest) {
      out += ": ";
      out += lang == Lang::id ? detail.id : detail.en;
      return out + " (RFC 3463)";
    }
  }
  return out + " (RFC 3463)";
}

Explanation explain_line(std::string_view proto, char dir, std::string_view line, Lang lang) {
  if (proto == "smtp" || proto == "submission" || proto == "lmtp") {
    if (dir == 'C') return from(find(smtp_commands, upper_word(line)), lang);
    if (line.size() >= 3) {
      auto result = from(find(smtp_replies, line.substr(0, 3)), lang);
      if (line.size() > 4) {
        auto rest = line.substr(4);
        const auto enhanced = rest.substr(0, rest.find(' '));
        const auto decoded = explain_enhanced_code(enhanced, lang);
        if (!decoded.empty()) result.text += " " + decoded + ".";
      }
      return result;
    }
    return {};
  }
  if (proto == "pop3") {
    if (dir == 'C') return from(find(pop3_commands, upper_word(line)), lang);
    if (line.starts_with("+OK")) {
      return {lang == Lang::id ? "Berhasil." : "Success.", "RFC 1939 §3"};
    }
    if (line.starts_with("-ERR")) {
      return {lang == Lang::id ? "Gagal; alasannya menyusul." : "Failure; the reason follows.", "RFC 1939 §3"};
    }
    return {};
  }
  if (proto == "imap") {
    // Client lines carry a tag first: "a1 SELECT INBOX".
    if (dir == 'C') {
      const auto space = line.find(' ');
      if (space == std::string_view::npos) return from(find(imap_commands, upper_word(line)), lang);
      return from(find(imap_commands, upper_word(line.substr(space + 1))), lang);
    }
    const auto space = line.find(' ');
    if (space == std::string_view::npos) return {};
    const auto status = upper_word(line.substr(space + 1));
    if (status == "OK") return {lang == Lang::id ? "Perintah berhasil." : "The command succeeded.", "RFC 3501 §7.1.1"};
    if (status == "NO") return {lang == Lang::id ? "Perintah gagal." : "The command failed.", "RFC 3501 §7.1.2"};
    if (status == "BAD") {
      return {lang == Lang::id ? "Perintah salah bentuk atau tidak dikenal." : "The command was malformed or unknown.",
              "RFC 3501 §7.1.3"};
    }
    if (status == "BYE") return {lang == Lang::id ? "Server menutup sesi." : "The server is closing the session.",
                                 "RFC 3501 §7.1.5"};
    if (line.find("EXISTS") != std::string_view::npos) {
      return {lang == Lang::id ? "Jumlah pesan di kotak surat (ada surat baru bila bertambah)."
                               : "The number of messages in the mailbox (new mail when it grows).",
              "RFC 3501 §7.3.1"};
    }
    return {};
  }
  if (proto == "dns") {
    return {lang == Lang::id ? "Pencarian DNS: rekaman MX menunjuk server surat domain, A memberi alamat IP-nya."
                             : "DNS lookup: MX records name a domain's mail servers, A gives their IP address.",
            "RFC 5321 §5.1"};
  }
  return {};
}

}  // namespace maillab::ui
