#include "sim/store/delivery_log.hpp"

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/uio.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <cassert>
#include <cerrno>
#include <charconv>
#include <optional>
#include <utility>

#include "sim/store/durable_file.hpp"

namespace maillab::sim {

namespace fs = std::filesystem;

namespace {

constexpr std::uint32_t kHeaderMagic = 0x48444c4d;  // "MLDH" read as little-endian bytes
constexpr std::uint32_t kRecordMagic = 0x52444c4d;  // "MLDR"
constexpr std::uint32_t kVersion = 1;
constexpr std::array<std::uint64_t, 2> kSlotOffsets{0, 512};
constexpr std::size_t kHeaderSize = 4 + 4 + 8 + 4 + 4 + 8 + 8 + 4;
constexpr std::size_t kRecordHead = 4 + 4 + 8 + 4 + 4;  // magic, epoch, sequence, length, crc
constexpr std::uint64_t kCapacityMin = DeliveryLog::kRecordsStart + 64 * 1024;
constexpr std::string_view kVoidPrefix = "maillab-void ";  // a spool entry starts "maillab-spool 1"

void put32(std::string& out, std::uint32_t value) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((value >> (8 * i)) & 0xff));
}
void put64(std::string& out, std::uint64_t value) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((value >> (8 * i)) & 0xff));
}
std::uint64_t get(std::string_view bytes, std::size_t at, int size) {
  std::uint64_t value = 0;
  for (int i = size - 1; i >= 0; --i) value = (value << 8) | static_cast<unsigned char>(bytes[at + i]);
  return value;
}
// CRC-32 of `bytes`, continuing from `crc` (the CRC of what came before).
std::uint32_t crc_of(std::string_view bytes, std::uint32_t crc = 0) {
  // zlib's crc32 takes a uInt length; a record is far below 4 GiB.
  return static_cast<std::uint32_t>(
      ::crc32(crc, reinterpret_cast<const Bytef*>(bytes.data()), static_cast<uInt>(bytes.size())));
}

Result<void> write_all(int fd, std::string_view bytes, std::uint64_t offset, const fs::path& path) {
  while (!bytes.empty()) {
    const ssize_t n = ::pwrite(fd, bytes.data(), bytes.size(), static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      return durable::errno_error("write", path, errno);
    }
    bytes.remove_prefix(static_cast<std::size_t>(n));
    offset += static_cast<std::uint64_t>(n);
  }
  return {};
}

// One record, head and payload, with one system call (the rest, after a short write, part by part).
Result<void> write_record(int fd, std::string_view head, std::string_view payload, std::uint64_t offset,
                          const fs::path& path) {
  std::array<iovec, 2> parts{iovec{const_cast<char*>(head.data()), head.size()},
                             iovec{const_cast<char*>(payload.data()), payload.size()}};
  ssize_t n = 0;
  do {
    n = ::pwritev(fd, parts.data(), static_cast<int>(parts.size()), static_cast<off_t>(offset));
  } while (n < 0 && errno == EINTR);
  if (n < 0) return durable::errno_error("write", path, errno);
  const auto done = static_cast<std::size_t>(n);
  if (done < head.size()) {
    if (auto written = write_all(fd, head.substr(done), offset + done, path); !written) return written;
    return write_all(fd, payload, offset + head.size(), path);
  }
  const std::size_t into_payload = done - head.size();
  return write_all(fd, payload.substr(into_payload), offset + done, path);
}

std::string format_header(std::uint64_t counter, std::uint32_t epoch, DeliveryLogPosition checkpoint) {
  std::string out;
  put32(out, kHeaderMagic);
  put32(out, kVersion);
  put64(out, counter);
  put32(out, epoch);
  put32(out, 0);
  put64(out, checkpoint.offset);
  put64(out, checkpoint.sequence);
  put32(out, crc_of(out));
  return out;
}

}  // namespace

DeliveryLog::DeliveryLog(fs::path path, int fd, std::uint64_t capacity, Header header)
    : path_(std::move(path)), fd_(fd), capacity_(capacity), header_(header), epoch_(header.epoch) {}

DeliveryLog::DeliveryLog(DeliveryLog&& other) noexcept
    : path_(std::move(other.path_)),
      fd_(std::exchange(other.fd_, -1)),
      capacity_(other.capacity_),
      header_(other.header_),
      epoch_(other.epoch_),
      started_(other.started_),
      tail_(other.tail_),
      next_sequence_(other.next_sequence_),
      live_(std::move(other.live_)) {}

DeliveryLog::~DeliveryLog() {
  if (fd_ >= 0) ::close(fd_);
}

std::uint64_t DeliveryLog::capacity_for(const fs::path& dir, std::uint64_t wanted) {
  std::uint64_t capacity = wanted;
  struct statvfs fs_info {};
  if (::statvfs(dir.c_str(), &fs_info) == 0)
    capacity = std::min<std::uint64_t>(capacity, std::uint64_t{fs_info.f_bavail} * fs_info.f_frsize / 8);
  struct rlimit file_size {};
  if (::getrlimit(RLIMIT_FSIZE, &file_size) == 0 && file_size.rlim_cur != RLIM_INFINITY)
    capacity = std::min<std::uint64_t>(capacity, file_size.rlim_cur / 2);
  return std::max(capacity, kCapacityMin);
}

Result<DeliveryLog> DeliveryLog::open(const fs::path& path, std::uint64_t capacity) {
  int fd = ::open(path.c_str(), O_RDWR | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0 && errno != ENOENT) return durable::errno_error("open", path, errno);
  if (fd < 0) {
    // Made whole under a temporary name, then renamed: a file at `path` always
    // had its header and its zeroed blocks on disk.
    capacity = std::max(capacity, kCapacityMin);
    const fs::path made = path.string() + ".new";
    ::unlink(made.c_str());
    fd = ::open(made.c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) return durable::errno_error("open", made, errno);
    auto fail = [&](Error error) -> Result<DeliveryLog> {
      ::close(fd);
      ::unlink(made.c_str());
      return error;
    };
    const std::string zeros(std::size_t{1} << 20, '\0');
    for (std::uint64_t at = 0; at < capacity; at += zeros.size()) {
      const auto n = std::min<std::uint64_t>(zeros.size(), capacity - at);
      if (auto written = write_all(fd, std::string_view(zeros).substr(0, n), at, made); !written)
        return fail(written.error());
    }
    const std::string first = format_header(1, 1, {kRecordsStart, 1});
    if (auto written = write_all(fd, first, kSlotOffsets[1], made); !written) return fail(written.error());
    if (::fsync(fd) != 0) return fail(durable::errno_error("fsync", made, errno));
    if (::rename(made.c_str(), path.c_str()) != 0) return fail(durable::errno_error("rename", path, errno));
    if (auto synced = durable::fsync_dir(path.parent_path()); !synced) {
      ::close(fd);
      return synced.error();
    }
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int error_number = errno;
    ::close(fd);
    return durable::errno_error("fstat", path, error_number);
  }
  const auto size = static_cast<std::uint64_t>(st.st_size);
  std::optional<Header> newest;
  std::array<char, kHeaderSize> slot{};
  for (const auto offset : kSlotOffsets) {
    if (::pread(fd, slot.data(), slot.size(), static_cast<off_t>(offset)) != static_cast<ssize_t>(slot.size())) continue;
    const std::string_view bytes(slot.data(), slot.size());
    if (get(bytes, 0, 4) != kHeaderMagic || get(bytes, 4, 4) != kVersion) continue;
    if (crc_of(bytes.substr(0, kHeaderSize - 4)) != get(bytes, kHeaderSize - 4, 4)) continue;
    Header header;
    header.counter = get(bytes, 8, 8);
    header.epoch = static_cast<std::uint32_t>(get(bytes, 16, 4));
    header.checkpoint = {get(bytes, 24, 8), get(bytes, 32, 8)};
    if (header.checkpoint.offset < kRecordsStart || header.checkpoint.offset > size) continue;
    if (!newest || header.counter > newest->counter) newest = header;
  }
  if (!newest || size < kCapacityMin) {
    ::close(fd);
    return make_error(ErrorCategory::parse, path.string() + ": not a delivery log, or both of its headers are damaged");
  }
  return DeliveryLog(path, fd, size, *newest);
}

Result<std::vector<SpoolEntry>> DeliveryLog::recover() const {
  auto bytes = durable::read_file(path_);
  if (!bytes) return bytes.error();
  const std::string_view log = bytes.value();
  // The record at `offset` if it is whole, of this epoch and the expected sequence number.
  auto record_at = [&](std::uint64_t offset, std::uint64_t sequence) -> std::optional<std::string_view> {
    if (offset < kRecordsStart || offset + kRecordHead > log.size()) return std::nullopt;
    if (get(log, offset, 4) != kRecordMagic || get(log, offset + 4, 4) != header_.epoch) return std::nullopt;
    if (get(log, offset + 8, 8) != sequence) return std::nullopt;
    const std::uint64_t length = get(log, offset + 16, 4);
    if (length > log.size() - offset - kRecordHead) return std::nullopt;
    const std::uint32_t crc = crc_of(log.substr(offset + kRecordHead, length), crc_of(log.substr(offset + 4, 16)));
    if (crc != get(log, offset + 20, 4)) return std::nullopt;
    return log.substr(offset, kRecordHead + length);
  };
  std::vector<std::pair<std::uint64_t, SpoolEntry>> entries;  // by sequence number
  DeliveryLogPosition at = header_.checkpoint;
  bool wrapped = false;
  while (true) {
    auto record = record_at(at.offset, at.sequence);
    if (!record && !wrapped && at.offset != kRecordsStart) {
      record = record_at(kRecordsStart, at.sequence);
      if (record) {
        wrapped = true;
        at.offset = kRecordsStart;
      }
    }
    if (!record) break;
    const std::string_view payload = record->substr(kRecordHead);
    auto bad = [&](const std::string& why) {
      return make_error(ErrorCategory::parse, path_.string() + ": record " + std::to_string(at.sequence) + " at " +
                                                  std::to_string(at.offset) + ": " + why);
    };
    if (payload.starts_with(kVoidPrefix)) {
      std::uint64_t voided = 0;
      const std::string_view number = payload.substr(kVoidPrefix.size());
      const auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), voided);
      if (ec != std::errc{} || std::string_view(end, number.data() + number.size()) != "\n") return bad("a bad void record");
      std::erase_if(entries, [&](const auto& logged) { return logged.first == voided; });
    } else {
      auto entry = parse_spool_entry(payload);
      if (!entry) return bad(entry.error().message);
      entries.emplace_back(at.sequence, std::move(entry).value());
    }
    at = {at.offset + record->size(), at.sequence + 1};
  }
  std::vector<SpoolEntry> out;
  out.reserve(entries.size());
  for (auto& [sequence, entry] : entries) out.push_back(std::move(entry));
  return out;
}

Result<void> DeliveryLog::restart() {
  Header next;
  next.counter = header_.counter + 1;
  next.epoch = header_.epoch + 1;
  next.checkpoint = {kRecordsStart, 1};
  if (auto written = write_header(next); !written) return written;
  epoch_ = next.epoch;
  started_ = true;
  tail_ = kRecordsStart;
  next_sequence_ = 1;
  live_.clear();
  return {};
}

Result<std::uint64_t> DeliveryLog::append(const SpoolEntry& entry) {
  if (entry.data.size() + kRecordHead >= capacity_ - kRecordsStart)
    return make_error(ErrorCategory::exists, path_.string() + ": a message of " + std::to_string(entry.data.size()) +
                                                 " octets does not fit in the log");
  return append_payload(format_spool_entry(entry));
}

Result<std::uint64_t> DeliveryLog::void_record(std::uint64_t sequence) {
  return append_payload(std::string(kVoidPrefix) + std::to_string(sequence) + "\n");
}

Result<std::uint64_t> DeliveryLog::append_payload(const std::string& payload) {
  assert(started_ && "restart() before the first append");
  std::string head;
  put32(head, kRecordMagic);
  put32(head, epoch_);
  put64(head, next_sequence_);
  put32(head, static_cast<std::uint32_t>(payload.size()));
  // The CRC covers epoch, sequence, length and payload.
  put32(head, crc_of(payload, crc_of(std::string_view(head).substr(4, 16))));

  const std::uint64_t size = head.size() + payload.size();
  std::optional<std::uint64_t> at;
  if (live_.empty()) {
    if (tail_ + size <= capacity_) at = tail_;
    else if (kRecordsStart + size <= capacity_) at = kRecordsStart;
  } else if (const std::uint64_t oldest = live_.front().offset; oldest < tail_) {
    if (tail_ + size <= capacity_) at = tail_;
    else if (kRecordsStart + size < oldest) at = kRecordsStart;
  } else if (tail_ + size < oldest) {  // wrapped: the free space lies between the tail and the oldest
    at = tail_;
  }
  if (!at) return make_error(ErrorCategory::exists, path_.string() + ": no room for a record of " +
                                                        std::to_string(size) + " octets until some are retired");
  if (auto written = write_record(fd_, head, payload, *at, path_); !written) return written.error();
  live_.push_back({next_sequence_, *at});
  tail_ = *at + size;
  return next_sequence_++;
}

void DeliveryLog::retired(DeliveryLogPosition upto) {
  while (!live_.empty() && live_.front().sequence < upto.sequence) live_.pop_front();
}

Result<void> DeliveryLog::sync() const {
  if (::fdatasync(fd_) != 0) return durable::errno_error("fdatasync", path_, errno);
  return {};
}

Result<void> DeliveryLog::checkpoint(DeliveryLogPosition upto) {
  if (upto == header_.checkpoint) return {};
  Header next = header_;
  ++next.counter;
  next.checkpoint = upto;
  return write_header(next);
}

Result<void> DeliveryLog::write_header(const Header& header) {
  const std::string bytes = format_header(header.counter, header.epoch, header.checkpoint);
  if (auto written = write_all(fd_, bytes, kSlotOffsets[header.counter % 2], path_); !written) return written;
  if (auto synced = sync(); !synced) return synced;
  header_ = header;
  return {};
}

}  // namespace maillab::sim
