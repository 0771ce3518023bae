// Fixtures that let one test suite run against every MailStore implementation
// (TEST_CASE_TEMPLATE over the fixture types), plus a scratch directory and a
// directory held open.
#pragma once

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>

#include "net/mail/mail_store.hpp"
#include "sim/store/durable_file.hpp"
#include "sim/store/maildir_store.hpp"
#include "sim/store/memory_store.hpp"

namespace maillab::sim::testing {

// A fresh directory under $TMPDIR (or /tmp), removed with everything in it.
class ScratchDir {
 public:
  ScratchDir() {
    const char* base = std::getenv("TMPDIR");
    std::string pattern = std::string(base != nullptr && *base != '\0' ? base : "/tmp") + "/maillab-store-XXXXXX";
    char* made = mkdtemp(pattern.data());
    REQUIRE(made != nullptr);
    path_ = made;
  }
  ~ScratchDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// A directory made and held open, as the Maildir store holds tmp/ and new/.
struct OpenedDir {
  explicit OpenedDir(const std::filesystem::path& dir) : path(dir.string()) {
    std::filesystem::create_directories(dir);
    fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    REQUIRE(fd >= 0);
  }
  ~OpenedDir() { ::close(fd); }
  OpenedDir(const OpenedDir&) = delete;
  OpenedDir& operator=(const OpenedDir&) = delete;
  durable::DirAt at() const { return {fd, path}; }
  std::string path;
  int fd = -1;
};

struct MemoryFixture {
  MemoryStore impl;
  net::mail::MailStore& store() { return impl; }
};

struct MaildirFixture {
  ScratchDir dir;
  std::unique_ptr<MaildirStore> impl;
  MaildirFixture() {
    auto opened = MaildirStore::open(dir.path());
    REQUIRE(opened.ok());
    impl = std::move(opened).value();
  }
  net::mail::MailStore& store() { return *impl; }
};

}  // namespace maillab::sim::testing
