#include "net/dns/dns_message.hpp"

#include <cassert>
#include <cstddef>
#include <functional>
#include <algorithm>
#include <map>
#include <utility>
#include <vector>
#include <string_view>

namespace maillab::net::dns {

namespace {

constexpr std::size_t header_size = 12;
constexpr std::size_t label_octets_max = 63;    // RFC 1035 §2.3.4
constexpr std::size_t name_octets_max = 255;    // RFC 1035 §2.3.4, on the wire
constexpr std::size_t pointer_offset_max = 0x3fff;
constexpr int pointer_hops_max = 127;

Error parse_error(std::string message) { return make_error(ErrorCategory::parse, "DNS: " + std::move(message)); }

char ascii_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

// ---- decoding -------------------------------------------------------------

class Reader {
 public:
  explicit Reader(std::span<const std::uint8_t> bytes) : bytes_(bytes) {}

  [[nodiscard]] std::size_t position() const { return pos_; }
  [[nodiscard]] std::size_t remaining() const { return bytes_.size() - pos_; }

  Result<std::uint16_t> u16(const char* what) {
    if (remaining() < 2) return truncated(what);
    auto value = static_cast<std::uint16_t>((bytes_[pos_] << 8) | bytes_[pos_ + 1]);
    pos_ += 2;
    return value;
  }

  Result<std::uint32_t> u32(const char* what) {
    if (remaining() < 4) return truncated(what);
    std::uint32_t value = (std::uint32_t{bytes_[pos_]} << 24) | (std::uint32_t{bytes_[pos_ + 1]} << 16) |
                          (std::uint32_t{bytes_[pos_ + 2]} << 8) | std::uint32_t{bytes_[pos_ + 3]};
    pos_ += 4;
    return value;
  }

  // A domain name at the current position (RFC 1035 §3.1, §4.1.4).  Returns it
  // dotted and lower-case; `wire` (if given) receives it uncompressed.
  Result<std::string> name(std::vector<std::uint8_t>* wire = nullptr) {
    std::string dotted;
    std::size_t cursor = pos_;
    std::size_t resume = 0;  // where the stream goes on after the first pointer
    std::size_t pointer_limit = cursor;
    std::size_t wire_octets = 1;  // the root label
    int hops = 0;
    while (true) {
      if (cursor >= bytes_.size()) return truncated("a name");
      std::uint8_t length = bytes_[cursor];
      if ((length & 0xc0) == 0xc0) {
        if (cursor + 1 >= bytes_.size()) return truncated("a compression pointer");
        std::size_t target = (std::size_t{length & 0x3fu} << 8) | bytes_[cursor + 1];
        if (hops == 0) resume = cursor + 2;
        if (++hops > pointer_hops_max) return parse_error("too many compression pointers in a name");
        pointer_limit = std::min(pointer_limit, cursor);
        if (target >= pointer_limit) {
          return parse_error("compression pointer at offset " + std::to_string(cursor) + " to offset " +
                             std::to_string(target) + " does not point backwards (RFC 1035 §4.1.4)");
        }
        if (target < header_size) {
          return parse_error("compression pointer at offset " + std::to_string(cursor) + " into the header");
        }
        pointer_limit = target;
        cursor = target;
        continue;
      }
      if ((length & 0xc0) != 0) {
        return parse_error("label length " + std::to_string(length) + " at offset " + std::to_string(cursor) +
                           " exceeds 63 octets (RFC 1035 §2.3.4; types 01 and 10 are reserved)");
      }
      if (length == 0) {
        ++cursor;
        break;
      }
      // (length <= 63 holds here: the two top bits are clear.)
      wire_octets += 1 + std::size_t{length};
      if (wire_octets > name_octets_max) {
        return parse_error("name longer than 255 octets (RFC 1035 §2.3.4)");
      }
      if (cursor + 1 + length > bytes_.size()) return truncated("a label");
      if (!dotted.empty()) dotted += '.';
      if (wire != nullptr) wire->push_back(length);
      for (std::size_t i = 0; i < length; ++i) {
        char c = ascii_lower(static_cast<char>(bytes_[cursor + 1 + i]));
        if (c == '.') return parse_error("label with a '.' in it at offset " + std::to_string(cursor));
        dotted += c;
        if (wire != nullptr) wire->push_back(static_cast<std::uint8_t>(c));
      }
      cursor += 1 + length;
    }
    if (wire != nullptr) wire->push_back(0);
    pos_ = hops > 0 ? resume : cursor;
    return dotted;
  }

  Result<std::array<std::uint8_t, 4>> ipv4() {
    if (remaining() < 4) return truncated("an A record");
    std::array<std::uint8_t, 4> out{bytes_[pos_], bytes_[pos_ + 1], bytes_[pos_ + 2], bytes_[pos_ + 3]};
    pos_ += 4;
    return out;
  }

  std::vector<std::uint8_t> take(std::size_t count) {
    assert(count <= remaining());
    std::vector<std::uint8_t> out(bytes_.begin() + static_cast<std::ptrdiff_t>(pos_),
                                  bytes_.begin() + static_cast<std::ptrdiff_t>(pos_ + count));
    pos_ += count;
    return out;
  }

 private:
  Error truncated(const char* what) const {
    return parse_error(std::string("message truncated in ") + what + " at offset " + std::to_string(pos_));
  }

  std::span<const std::uint8_t> bytes_;
  std::size_t pos_ = 0;
};

Result<Question> read_question(Reader& in) {
  Question question;
  auto name = in.name();
  if (!name) return name.error();
  question.name = std::move(*name);
  auto type = in.u16("a question");
  if (!type) return type.error();
  auto klass = in.u16("a question");
  if (!klass) return klass.error();
  question.type = static_cast<RecordType>(*type);
  question.dns_class = *klass;
  return question;
}

Result<Record> read_record(Reader& in) {
  Record record;
  auto name = in.name();
  if (!name) return name.error();
  record.name = std::move(*name);
  auto type = in.u16("a record");
  if (!type) return type.error();
  auto klass = in.u16("a record");
  if (!klass) return klass.error();
  auto ttl = in.u32("a record");
  if (!ttl) return ttl.error();
  auto rdlength = in.u16("a record");
  if (!rdlength) return rdlength.error();
  record.type = static_cast<RecordType>(*type);
  record.dns_class = *klass;
  record.ttl_s = *ttl;
  if (in.remaining() < *rdlength) return parse_error("RDATA runs past the end of the message");
  std::size_t rdata_end = in.position() + *rdlength;
  auto length_mismatch = [&]() {
    return parse_error(type_name(record.type) + " RDATA of " + std::to_string(*rdlength) +
                       " octets does not match its contents");
  };

  switch (record.type) {
    case RecordType::a: {
      if (*rdlength != 4) return length_mismatch();
      auto address = in.ipv4();
      if (!address) return address.error();
      record.ipv4 = *address;
      break;
    }
    case RecordType::mx: {
      auto preference = in.u16("MX RDATA");
      if (!preference) return preference.error();
      auto exchange = in.name();
      if (!exchange) return exchange.error();
      record.preference = *preference;
      record.exchange = std::move(*exchange);
      break;
    }
    case RecordType::ns:
    case RecordType::cname:
    case RecordType::ptr: {
      auto target = in.name(&record.rdata);
      if (!target) return target.error();
      break;
    }
    case RecordType::soa: {
      for (int i = 0; i < 2; ++i) {  // MNAME, RNAME
        auto soa_name = in.name(&record.rdata);
        if (!soa_name) return soa_name.error();
      }
      if (in.position() + 20 != rdata_end) return length_mismatch();
      auto numbers = in.take(20);  // SERIAL REFRESH RETRY EXPIRE MINIMUM
      record.rdata.insert(record.rdata.end(), numbers.begin(), numbers.end());
      break;
    }
    default:
      record.rdata = in.take(*rdlength);
      break;
  }
  if (in.position() != rdata_end) return length_mismatch();
  return record;
}

// ---- encoding -------------------------------------------------------------

class Writer {
 public:
  // A UDP message fits in 512 octets (RFC 1035 §4.2.1): one allocation.
  Writer() { out_.reserve(512); }
  void u16(std::uint16_t value) {
    out_.push_back(static_cast<std::uint8_t>(value >> 8));
    out_.push_back(static_cast<std::uint8_t>(value));
  }
  void u32(std::uint32_t value) {
    u16(static_cast<std::uint16_t>(value >> 16));
    u16(static_cast<std::uint16_t>(value));
  }
  void bytes(std::span<const std::uint8_t> data) { out_.insert(out_.end(), data.begin(), data.end()); }

  // RFC 1035 §4.1.4: every suffix already in the message becomes a pointer.
  void name(std::string_view dotted) {
    assert(is_valid_name(dotted));
    while (!dotted.empty()) {
      auto it = std::find_if(offsets_.begin(), offsets_.end(), [&](const auto& known) { return known.first == dotted; });
      if (it != offsets_.end()) {
        u16(static_cast<std::uint16_t>(0xc000 | it->second));
        return;
      }
      if (out_.size() <= pointer_offset_max) offsets_.emplace_back(dotted, static_cast<std::uint16_t>(out_.size()));
      std::size_t dot = dotted.find('.');
      std::string_view label = dotted.substr(0, dot);
      out_.push_back(static_cast<std::uint8_t>(label.size()));
      for (char c : label) out_.push_back(static_cast<std::uint8_t>(c));
      dotted = dot == std::string_view::npos ? std::string_view() : dotted.substr(dot + 1);
    }
    out_.push_back(0);
  }

  void record(const Record& record) {
    name(record.name);
    u16(static_cast<std::uint16_t>(record.type));
    u16(record.dns_class);
    u32(record.ttl_s);
    std::size_t length_at = out_.size();
    u16(0);
    switch (record.type) {
      case RecordType::a: bytes(record.ipv4); break;
      case RecordType::mx:
        u16(record.preference);
        name(record.exchange);
        break;
      default: bytes(record.rdata); break;
    }
    std::size_t rdlength = out_.size() - length_at - 2;
    assert(rdlength <= 0xffff);
    out_[length_at] = static_cast<std::uint8_t>(rdlength >> 8);
    out_[length_at + 1] = static_cast<std::uint8_t>(rdlength);
  }

  std::vector<std::uint8_t> take() { return std::move(out_); }

 private:
  std::vector<std::uint8_t> out_;
  // Views of the encoded message's names (which outlive the writer) and where
  // each suffix starts: a message has a handful, a list beats a tree of nodes.
  std::vector<std::pair<std::string_view, std::uint16_t>> offsets_;
};

std::uint16_t count(std::size_t size) {
  assert(size <= 0xffff);
  return static_cast<std::uint16_t>(size);
}

std::string ipv4_text(const std::array<std::uint8_t, 4>& ip) {
  return std::to_string(ip[0]) + "." + std::to_string(ip[1]) + "." + std::to_string(ip[2]) + "." +
         std::to_string(ip[3]);
}

// Names inside opaque RDATA are stored uncompressed; read them back for display.
std::string wire_name_text(const std::vector<std::uint8_t>& wire, std::size_t& pos) {
  std::string out;
  while (pos < wire.size() && wire[pos] != 0) {
    std::size_t length = wire[pos];
    if (!out.empty()) out += '.';
    for (std::size_t i = 1; i <= length && pos + i < wire.size(); ++i) out += static_cast<char>(wire[pos + i]);
    pos += length + 1;
  }
  ++pos;
  return out.empty() ? "." : out;
}

}  // namespace

bool is_valid_name(std::string_view name) {
  if (name.empty()) return true;  // the root
  std::size_t wire_octets = 1;
  std::size_t label = 0;
  for (std::size_t i = 0; i <= name.size(); ++i) {
    if (i == name.size() || name[i] == '.') {
      if (label == 0 || label > label_octets_max) return false;
      wire_octets += 1 + label;
      label = 0;
    } else {
      ++label;
    }
  }
  return wire_octets <= name_octets_max;
}

std::vector<std::uint8_t> encode(const Message& message) {
  Writer out;
  out.u16(message.id);
  std::uint16_t flags = 0;
  if (message.is_response) flags |= 0x8000;
  flags = static_cast<std::uint16_t>(flags | ((message.opcode & 0x0fu) << 11));
  if (message.authoritative) flags |= 0x0400;
  if (message.truncated) flags |= 0x0200;
  if (message.recursion_desired) flags |= 0x0100;
  if (message.recursion_available) flags |= 0x0080;
  if (message.authentic_data) flags |= 0x0020;
  if (message.checking_disabled) flags |= 0x0010;
  flags = static_cast<std::uint16_t>(flags | (static_cast<std::uint8_t>(message.rcode) & 0x0fu));
  out.u16(flags);
  out.u16(count(message.questions.size()));
  out.u16(count(message.answers.size()));
  out.u16(count(message.authority.size()));
  out.u16(count(message.additional.size()));
  for (const auto& question : message.questions) {
    out.name(question.name);
    out.u16(static_cast<std::uint16_t>(question.type));
    out.u16(question.dns_class);
  }
  for (const auto& record : message.answers) out.record(record);
  for (const auto& record : message.authority) out.record(record);
  for (const auto& record : message.additional) out.record(record);
  return out.take();
}

Result<Message> decode(std::span<const std::uint8_t> bytes) {
  if (bytes.size() < header_size) {
    return parse_error("message truncated in the header (" + std::to_string(bytes.size()) + " of 12 octets)");
  }
  Reader in(bytes);
  Message message;
  message.id = *in.u16("the header");
  std::uint16_t flags = *in.u16("the header");
  message.is_response = (flags & 0x8000) != 0;
  message.opcode = static_cast<std::uint8_t>((flags >> 11) & 0x0f);
  message.authoritative = (flags & 0x0400) != 0;
  message.truncated = (flags & 0x0200) != 0;
  message.recursion_desired = (flags & 0x0100) != 0;
  message.recursion_available = (flags & 0x0080) != 0;
  message.authentic_data = (flags & 0x0020) != 0;
  message.checking_disabled = (flags & 0x0010) != 0;
  message.rcode = static_cast<Rcode>(flags & 0x0f);
  std::uint16_t question_count = *in.u16("the header");
  std::uint16_t answer_count = *in.u16("the header");
  std::uint16_t authority_count = *in.u16("the header");
  std::uint16_t additional_count = *in.u16("the header");

  // Each question takes at least 5 octets and each record 11: a count that
  // cannot fit is refused before anything is allocated for it.
  std::size_t least = std::size_t{question_count} * 5 +
                      (std::size_t{answer_count} + authority_count + additional_count) * 11;
  if (least > in.remaining()) {
    return parse_error("section counts (" + std::to_string(question_count) + "/" + std::to_string(answer_count) +
                       "/" + std::to_string(authority_count) + "/" + std::to_string(additional_count) +
                       ") need more than the " + std::to_string(in.remaining()) + " octets left");
  }
  for (std::uint16_t i = 0; i < question_count; ++i) {
    auto question = read_question(in);
    if (!question) return question.error();
    message.questions.push_back(std::move(*question));
  }
  for (auto [section, n] : {std::pair{&message.answers, answer_count}, std::pair{&message.authority, authority_count},
                            std::pair{&message.additional, additional_count}}) {
    for (std::uint16_t i = 0; i < n; ++i) {
      auto record = read_record(in);
      if (!record) return record.error();
      section->push_back(std::move(*record));
    }
  }
  return message;
}

std::string type_name(RecordType type) {
  switch (type) {
    case RecordType::a: return "A";
    case RecordType::ns: return "NS";
    case RecordType::cname: return "CNAME";
    case RecordType::soa: return "SOA";
    case RecordType::ptr: return "PTR";
    case RecordType::mx: return "MX";
    case RecordType::txt: return "TXT";
    case RecordType::aaaa: return "AAAA";
    case RecordType::opt: return "OPT";
  }
  return "TYPE" + std::to_string(static_cast<std::uint16_t>(type));
}

std::string describe(const Record& record) {
  switch (record.type) {
    case RecordType::a: return "A " + ipv4_text(record.ipv4);
    case RecordType::mx:
      return "MX " + std::to_string(record.preference) + " " + (record.exchange.empty() ? "." : record.exchange);
    case RecordType::ns:
    case RecordType::cname:
    case RecordType::ptr: {
      std::size_t pos = 0;
      return type_name(record.type) + " " + wire_name_text(record.rdata, pos);
    }
    case RecordType::soa: {
      std::size_t pos = 0;
      std::string mname = wire_name_text(record.rdata, pos);
      std::string rname = wire_name_text(record.rdata, pos);
      std::string out = "SOA " + mname + " " + rname;
      if (pos + 4 <= record.rdata.size()) {
        std::uint32_t serial = (std::uint32_t{record.rdata[pos]} << 24) | (std::uint32_t{record.rdata[pos + 1]} << 16) |
                               (std::uint32_t{record.rdata[pos + 2]} << 8) | std::uint32_t{record.rdata[pos + 3]};
        out += " " + std::to_string(serial);
      }
      return out;
    }
    case RecordType::opt: return "OPT udp=" + std::to_string(record.dns_class);
    default: break;
  }
  return type_name(record.type) + " (" + std::to_string(record.rdata.size()) + " octets)";
}

}  // namespace maillab::net::dns
