// Fuzzes IMAP command handling end to end: the command reader and parser on
// their own (literal verdicts taken from the input), then the whole server
// engine over a MemoryStore holding a multipart message, logged in and with
// INBOX selected, fed the input in small chunks.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "net/core/credentials.hpp"
#include "net/imap/imap_parser.hpp"
#include "net/imap/imap_sequence.hpp"
#include "net/imap/imap_server.hpp"
#include "sim/store/memory_store.hpp"

using namespace maillab;
using namespace maillab::net::imap;

namespace {

class OneUser final : public net::CredentialChecker {
 public:
  bool verify_password(std::string_view user, std::string_view password) const override {
    return user == "alice@lab.test" && password == "pw";
  }
  std::optional<std::string> shared_secret(std::string_view) const override { return std::nullopt; }
};

void fuzz_reader(std::string_view input) {
  ParserLimits limits;
  limits.line_bytes_max = 1024;
  limits.command_bytes_max = 4096;
  limits.depth_max = 6;
  limits.args_max = 256;
  CommandReader reader(limits);
  std::size_t verdicts = 0;
  for (std::size_t chunk = 0; chunk < input.size(); chunk += 7) {
    reader.push(input.substr(chunk, 7));
    while (true) {
      auto out = reader.next();
      if (std::holds_alternative<std::monostate>(out)) break;
      if (auto* lit = std::get_if<LiteralAnnounced>(&out)) {
        if (lit->size <= 512 && (++verdicts % 3) != 0) reader.accept_literal();
        else reader.reject_literal();
      } else if (auto* ready = std::get_if<CommandReady>(&out)) {
        auto parsed = parse_command(ready->command, limits);
        if (auto* cmd = std::get_if<Command>(&parsed)) {
          for (const auto& arg : cmd->args) {
            if (auto set = SequenceSet::parse(arg.text)) (void)contains(set->resolve(100), 50);
          }
        }
      }
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  fuzz_reader(input);

  sim::MemoryStore store;
  OneUser users;
  (void)store.ensure_user("alice@lab.test");
  (void)store.append("alice@lab.test", "INBOX",
                     "From: a@lab.test\r\nSubject: s\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
                     "--b\r\nContent-Type: text/plain\r\n\r\nhello\r\n--b\r\nContent-Type: message/rfc822\r\n\r\n"
                     "Subject: inner\r\n\r\nbody\r\n--b--\r\n",
                     {}, 0);
  (void)store.append("alice@lab.test", "INBOX", "Subject: two\r\n\r\nx\r\n", {"\\Seen"}, 0);
  ServerConfig cfg;
  cfg.allow_cleartext_auth = true;
  cfg.auth_failure_delay = Duration{0};
  cfg.limits.line_bytes_max = 4096;
  cfg.limits.command_bytes_max = 8192;
  cfg.append_bytes_max = 8192;
  Instant now{};
  ImapServer server(cfg, users, store, now);
  server.handle_bytes(now, "a LOGIN alice@lab.test pw\r\nb SELECT INBOX\r\n");
  for (std::size_t chunk = 0; chunk < input.size() && !server.closed(); chunk += 64) {
    server.handle_bytes(now, input.substr(chunk, 64));
    server.handle_store_changed(now);
    (void)server.poll_transmit();
    while (server.poll_event()) {
    }
  }
  server.handle_close(now);
  return 0;
}
