// The on-disk mail queue: staging and group commit, updates, removal, and
// recovery after a crash (tmp/ leftovers, truncated and foreign files).
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

#include "sim/store/durable_file.hpp"
#include "sim/store/spool.hpp"
#include "store_fixtures.hpp"

using namespace maillab;
using namespace maillab::sim;
using namespace maillab::sim::testing;
namespace fs = std::filesystem;

namespace {

std::vector<std::string> files_in(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir)) names.push_back(entry.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

void spill(const fs::path& path, std::string_view content) {
  std::ofstream out(path, std::ios::binary);
  out << content;
}

SpoolEntry sample(std::string id, std::string data = "Subject: hi\r\nMessage-ID: <m1@lab.test>\r\n\r\nhello\r\n") {
  SpoolEntry entry;
  entry.id = std::move(id);
  entry.sender = "alice@lab.test";
  entry.recipients = {"carol@school.test", "dave@school.test"};
  entry.arrival = Instant{1764198071000000};
  entry.attempts = 0;
  entry.message_id = find_message_id(data);
  entry.attributes = {{"helo", "pc1.lab.test"}, {"client-address", "127.0.0.1"}};
  entry.data = std::move(data);
  return entry;
}

Spool open_spool(const fs::path& dir) {
  auto spool = Spool::open(dir);
  REQUIRE(spool.ok());
  return std::move(spool).value();
}

void commit_one(const Spool& spool, const SpoolEntry& entry) {
  auto staged = spool.stage(entry);
  REQUIRE(staged.ok());
  std::vector<StagedEntry> batch;
  batch.push_back(std::move(staged).value());
  REQUIRE(spool.commit(batch).ok());
}

// A small deterministic generator (splitmix64) for the round-trip test.
struct Octets {
  std::uint64_t state;
  std::uint64_t next() {
    std::uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  std::string text(std::size_t max) {
    static constexpr char odd[] = "%\r\n\0 \t@<>\"\\:.\x7f\xff\xc3\xa9";  // with a NUL
    std::string out;
    const std::size_t size = next() % (max + 1);
    for (std::size_t i = 0; i < size; ++i) {
      const std::uint64_t pick = next();
      out += (pick & 1) != 0 ? odd[(pick >> 1) % (sizeof odd - 1)] : static_cast<char>(pick >> 8);
    }
    return out;
  }
};

}  // namespace

TEST_CASE("spool: a staged entry is in .tmp/ only; after commit it is in the queue and loads back byte for byte") {
  ScratchDir dir;
  Spool spool = open_spool(dir.path() / "spool");
  const SpoolEntry entry = sample("A1.1");
  auto staged = spool.stage(entry);
  REQUIRE(staged.ok());
  CHECK(files_in(spool.tmp_dir()) == std::vector<std::string>{"A1.1"});
  CHECK(files_in(spool.dir()) == std::vector<std::string>{".damaged", ".tmp"});
  std::vector<StagedEntry> batch;
  batch.push_back(std::move(staged).value());
  REQUIRE(spool.commit(batch).ok());
  CHECK(batch[0].fd() < 0);
  CHECK(files_in(spool.tmp_dir()).empty());
  CHECK(files_in(spool.dir()) == std::vector<std::string>{".damaged", ".tmp", "A1.1"});
  auto loaded = spool.load("A1.1");
  REQUIRE(loaded.ok());
  CHECK(*loaded == entry);
  CHECK(loaded->message_id == "<m1@lab.test>");
}

TEST_CASE("spool: the entry file starts with the documented header") {
  SpoolEntry entry = sample("B2.7");
  entry.sender.clear();  // <>
  entry.attempts = 3;
  const std::string bytes = format_spool_entry(entry);
  CHECK(bytes.rfind("maillab-spool 1\nid B2.7\narrival-us 1764198071000000\nattempts 3\nsender\n"
                    "message-id <m1@lab.test>\nattr helo pc1.lab.test\nattr client-address 127.0.0.1\n"
                    "recipient carol@school.test\nrecipient dave@school.test\nsize " +
                        std::to_string(entry.data.size()) + "\n\n",
                    0) == 0);
  auto parsed = parse_spool_entry(bytes);
  REQUIRE(parsed.ok());
  CHECK(parsed->sender.empty());
  CHECK(parsed->attribute("helo") == "pc1.lab.test");
  CHECK(parsed->attribute("auth-user").empty());
  CHECK(*parsed == entry);
}

TEST_CASE("spool: one commit makes a whole batch durable, in arrival order on recovery") {
  ScratchDir dir;
  Spool spool = open_spool(dir.path());
  std::vector<StagedEntry> batch;
  for (int i = 0; i < 20; ++i) {
    SpoolEntry entry = sample("C." + std::to_string(i));
    entry.arrival = Instant{1000 - i};
    auto staged = spool.stage(entry);
    REQUIRE(staged.ok());
    batch.push_back(std::move(staged).value());
  }
  REQUIRE(spool.commit(batch).ok());
  CHECK(files_in(spool.dir()).size() == 22);
  auto recovered = spool.recover();
  REQUIRE(recovered.ok());
  REQUIRE(recovered->entries.size() == 20);
  CHECK(recovered->entries.front().id == "C.19");
  CHECK(recovered->entries.back().id == "C.0");
  CHECK(recovered->damaged.empty());
}

TEST_CASE("spool: update replaces pending recipients and attempts and keeps the data") {
  ScratchDir dir;
  Spool spool = open_spool(dir.path());
  const SpoolEntry entry = sample("D.1");
  commit_one(spool, entry);
  REQUIRE(spool.update("D.1", {"dave@school.test"}, 2).ok());
  auto loaded = spool.load("D.1");
  REQUIRE(loaded.ok());
  CHECK(loaded->recipients == std::vector<std::string>{"dave@school.test"});
  CHECK(loaded->attempts == 2);
  CHECK(loaded->data == entry.data);
  CHECK(files_in(spool.tmp_dir()).empty());
  CHECK(spool.update("D.1", {}, 3).error().category == ErrorCategory::invalid_argument);
  CHECK(spool.update("nope", {"x@y"}, 1).error().category == ErrorCategory::not_found);
}

TEST_CASE("spool: remove deletes entries and a missing one is not an error") {
  ScratchDir dir;
  Spool spool = open_spool(dir.path());
  commit_one(spool, sample("E.1"));
  commit_one(spool, sample("E.2"));
  const std::vector<std::string> ids{"E.1", "E.9"};
  CHECK(spool.remove(ids).ok());
  CHECK(files_in(spool.dir()) == std::vector<std::string>{".damaged", ".tmp", "E.2"});
  const std::vector<std::string> bad{"../E.2"};
  CHECK(spool.remove(bad).error().category == ErrorCategory::invalid_argument);
  CHECK(files_in(spool.dir()) == std::vector<std::string>{".damaged", ".tmp", "E.2"});
}

TEST_CASE("spool: ids that could leave the directory, bad attribute names and entries without recipients are refused") {
  ScratchDir dir;
  Spool spool = open_spool(dir.path());
  for (const char* id : {"", "../x", "a/b", ".hidden", "-x", "a b", "a+update"}) {
    CAPTURE(id);
    auto staged = spool.stage(sample(id));
    REQUIRE_FALSE(staged.ok());
    CHECK(staged.error().category == ErrorCategory::invalid_argument);
  }
  SpoolEntry nobody = sample("F.1");
  nobody.recipients.clear();
  CHECK(spool.stage(nobody).error().category == ErrorCategory::invalid_argument);
  CHECK(spool.stage(sample(std::string(65, 'a'))).error().category == ErrorCategory::invalid_argument);
  SpoolEntry bad_attribute = sample("F.2");
  bad_attribute.attributes.emplace_back("Has Space", "x");
  CHECK(spool.stage(bad_attribute).error().category == ErrorCategory::invalid_argument);
  CHECK(files_in(spool.tmp_dir()).empty());
}

TEST_CASE("spool: make_id never returns an id that is staged or queued") {
  ScratchDir dir;
  Spool spool = open_spool(dir.path());
  const std::string first = spool.make_id(Instant{0x1234});
  CHECK(first == "1234.1");
  commit_one(spool, sample("1234.2"));
  auto staged = spool.stage(sample("1234.3"));
  REQUIRE(staged.ok());
  CHECK(spool.make_id(Instant{0x1234}) == "1234.4");
  CHECK(spool.stage(sample("1234.2")).error().category == ErrorCategory::exists);
  spool.discard(std::move(staged).value());
  CHECK(files_in(spool.tmp_dir()).empty());
}

TEST_CASE("spool: after recovery make_id looks at the disk only for stamps up to those of ids it has seen") {
  ScratchDir dir;
  const fs::path root = dir.path() / "spool";
  {
    Spool earlier = open_spool(root);
    commit_one(earlier, sample("1234.1"));  // a previous process's entries
    commit_one(earlier, sample("1240.3"));
  }
  Spool spool = open_spool(root);
  REQUIRE(spool.recover().ok());
  CHECK(spool.make_id(Instant{0x1234}) == "1234.2");  // 1234.1 is queued
  CHECK(spool.make_id(Instant{0x1240}) == "1240.4");  // 1240.3 is queued
  CHECK(spool.make_id(Instant{0x1241}) == "1241.5");
  auto staged = spool.stage(sample("1250.6"));  // an id it did not make (as the delivery log's are)
  REQUIRE(staged.ok());
  CHECK(spool.make_id(Instant{0x1250}) == "1250.7");
  spool.discard(std::move(staged).value());
}

TEST_CASE("spool: recovery after a crash discards .tmp/, keeps complete entries and moves damaged files aside") {
  ScratchDir dir;
  const fs::path root = dir.path() / "spool";
  {
    Spool spool = open_spool(root);
    commit_one(spool, sample("G.1"));
    commit_one(spool, sample("G.2"));
    commit_one(spool, sample("G.3"));
    // The crash: one message staged but never committed (never acknowledged),
    // an update half-written, one entry cut short, one file that is not ours.
    auto staged = spool.stage(sample("G.4"));
    REQUIRE(staged.ok());
    StagedEntry dropped = std::move(staged).value();
    dropped.close_fd();
    spill(root / ".tmp" / "G.1+update", "maillab-spool 1\nid G.1\n");
    const std::string whole = durable::read_file(root / "G.2").value();
    spill(root / "G.2", whole.substr(0, whole.size() - 3));
    spill(root / "G.3", "");
    spill(root / "notes.txt~", "my notes");
    fs::create_symlink(root / "G.1", root / "G.5");
  }
  Spool spool = open_spool(root);
  auto recovered = spool.recover();
  REQUIRE(recovered.ok());
  CHECK(recovered->tmp_discarded == 2);
  REQUIRE(recovered->entries.size() == 1);
  CHECK(recovered->entries[0] == sample("G.1"));
  REQUIRE(recovered->damaged.size() == 4);
  CHECK(recovered->damaged[0].name == "G.2");
  CHECK(recovered->damaged[0].reason.find("truncated") != std::string::npos);
  CHECK(recovered->damaged[1].name == "G.3");
  CHECK(recovered->damaged[2].name == "G.5");  // a symbolic link is not followed
  CHECK(recovered->damaged[3].name == "notes.txt~");
  CHECK(recovered->damaged[3].reason == "not a queue id");
  CHECK(files_in(root / ".tmp").empty());
  CHECK(files_in(root) == std::vector<std::string>{".damaged", ".tmp", "G.1"});
  CHECK(files_in(root / ".damaged") == std::vector<std::string>{"G.2", "G.3", "G.5", "notes.txt~"});
  CHECK(durable::read_file(root / ".damaged" / "notes.txt~").value() == "my notes");

  // A second start finds the same queue and nothing to report; a damaged
  // file with a name already in .damaged/ gets a new name, not a replacement.
  spill(root / "G.2", "garbage");
  auto again = spool.recover();
  REQUIRE(again.ok());
  CHECK(again->tmp_discarded == 0);
  CHECK(again->entries.size() == 1);
  REQUIRE(again->damaged.size() == 1);
  CHECK(again->damaged[0].moved_to.filename() == "G.2.1");
  CHECK(fs::exists(root / ".damaged" / "G.2"));
}

TEST_CASE("spool: every truncation of an entry and every appended octet is detected") {
  const std::string bytes = format_spool_entry(sample("H.1"));
  for (std::size_t size = 0; size < bytes.size(); ++size) {
    CAPTURE(size);
    CHECK_FALSE(parse_spool_entry(std::string_view(bytes).substr(0, size)).ok());
  }
  CHECK_FALSE(parse_spool_entry(bytes + "x").ok());
  CHECK(parse_spool_entry(bytes).ok());
  std::string bad_escape = format_spool_entry(sample("H.1"));
  bad_escape.replace(bad_escape.find("sender alice"), 12, "sender %4Glice");
  CHECK_FALSE(parse_spool_entry(bad_escape).ok());
}

TEST_CASE("spool: odd envelopes and data survive a round trip, in memory and on disk") {
  ScratchDir dir;
  Spool spool = open_spool(dir.path());
  Octets octets{20261126};
  std::vector<SpoolEntry> written;
  std::vector<StagedEntry> batch;
  for (int i = 0; i < 2000; ++i) {
    SpoolEntry entry;
    entry.id = "R." + std::to_string(i);
    entry.sender = octets.text(40);
    const std::size_t recipients = 1 + octets.next() % 5;
    for (std::size_t r = 0; r < recipients; ++r) entry.recipients.push_back(octets.text(40));
    entry.arrival = Instant{static_cast<std::int64_t>(octets.next())};
    entry.attempts = static_cast<std::uint32_t>(octets.next());
    entry.message_id = octets.text(30);
    for (std::uint64_t a = octets.next() % 3; a > 0; --a)
      entry.attributes.emplace_back("a-" + std::to_string(octets.next() % 10), octets.text(20));
    entry.data = octets.text(i % 10 == 0 ? 5000 : 300);
    CAPTURE(i);
    auto parsed = parse_spool_entry(format_spool_entry(entry));
    REQUIRE(parsed.ok());
    CHECK(*parsed == entry);
    if (i % 40 == 0) {
      auto staged = spool.stage(entry);
      REQUIRE(staged.ok());
      batch.push_back(std::move(staged).value());
      written.push_back(entry);
    }
  }
  REQUIRE(spool.commit(batch).ok());
  for (const auto& entry : written) CHECK(spool.load(entry.id).value() == entry);
}

TEST_CASE("spool: a write error leaves nothing behind") {
  ScratchDir dir;
  Spool spool = open_spool(dir.path());
  struct rlimit saved {};
  REQUIRE(::getrlimit(RLIMIT_FSIZE, &saved) == 0);
  auto previous = ::signal(SIGXFSZ, SIG_IGN);
  struct rlimit small = saved;
  small.rlim_cur = 64 * 1024;
  REQUIRE(::setrlimit(RLIMIT_FSIZE, &small) == 0);
  auto failed = spool.stage(sample("I.1", std::string(256 * 1024, 'x')));
  ::setrlimit(RLIMIT_FSIZE, &saved);
  ::signal(SIGXFSZ, previous);
  REQUIRE_FALSE(failed.ok());
  CHECK(failed.error().category == ErrorCategory::io);
  CHECK(files_in(spool.tmp_dir()).empty());
  CHECK(files_in(spool.dir()) == std::vector<std::string>{".damaged", ".tmp"});
}

TEST_CASE("spool: a failed commit removes every file of the batch and nothing else") {
  ScratchDir dir;
  Spool spool = open_spool(dir.path());
  std::vector<StagedEntry> batch;
  for (const char* id : {"J.1", "J.2", "J.3"}) {
    auto staged = spool.stage(sample(id));
    REQUIRE(staged.ok());
    batch.push_back(std::move(staged).value());
  }
  // Someone else's file appears under J.2's name before the commit: the
  // rename must not replace it, and the batch fails as a whole.
  spill(spool.dir() / "J.2", "not ours");
  auto committed = spool.commit(batch);
  REQUIRE_FALSE(committed.ok());
  CHECK(committed.error().category == ErrorCategory::exists);
  CHECK(files_in(spool.dir()) == std::vector<std::string>{".damaged", ".tmp", "J.2"});
  CHECK(durable::read_file(spool.dir() / "J.2").value() == "not ours");
  CHECK(files_in(spool.tmp_dir()).empty());
}

TEST_CASE("spool: the Message-ID is found whatever its case, folded, and never in the body") {
  CHECK(find_message_id("From: a\r\nmessage-ID:   <x@y>  \r\n\r\nbody") == "<x@y>");
  CHECK(find_message_id("Message-Id:\r\n <folded@y>\r\nSubject: s\r\n\r\n") == "<folded@y>");
  CHECK(find_message_id("Subject: s\r\n\r\nMessage-ID: <body@y>\r\n").empty());
  CHECK(find_message_id("Subject: s\n\n").empty());
}
