// Fuzzes IMAP command framing and parsing: the reader with literal verdicts
// taken from the input, then parse_command on every framed command.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "net/imap/imap_parser.hpp"
#include "net/imap/imap_sequence.hpp"

using namespace maillab::net::imap;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  ParserLimits limits;
  limits.line_bytes_max = 1024;
  limits.command_bytes_max = 4096;
  limits.depth_max = 6;
  limits.args_max = 256;
  CommandReader reader(limits);
  std::string_view input(reinterpret_cast<const char*>(data), size);
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
            if (auto set = SequenceSet::parse(arg.text)) {
              auto resolved = set->resolve(100);
              (void)contains(resolved, 50);
            }
          }
        }
      }
    }
  }
  return 0;
}
