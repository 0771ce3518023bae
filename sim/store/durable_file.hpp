// Durable file operations for the Maildir store (POSIX): every write that
// must survive a crash is written, fsync'd, renamed or linked into place and
// its directory fsync'd before the call returns (qmail's maildir(5) delivery,
// security catalogue rows 54 and 57).  Nothing here follows a symbolic link
// (catalogue row 47): files are opened with O_NOFOLLOW.
//
// Errors: ENOENT is not_found, EEXIST exists, everything else (ENOSPC, EDQUOT,
// EIO, EFBIG ...) io, with the path and strerror in the message.  A failed
// write removes what it had written.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "net/core/result.hpp"

namespace maillab::sim::durable {

Error errno_error(std::string_view operation, const std::filesystem::path& path, int error_number);

// The whole file; not_found when it does not exist, io when it is a symlink.
Result<std::string> read_file(const std::filesystem::path& path);

Result<void> fsync_dir(const std::filesystem::path& dir);

// Creates `path` (which must not exist), writes `content`, sets the
// modification time when given, fsyncs and closes it.  On failure the file
// is removed.
Result<void> write_new_file(const std::filesystem::path& path, std::string_view content,
                            std::optional<std::int64_t> mtime_s = std::nullopt);

// Replaces dir/name atomically: writes dir/name.lock, fsyncs it, renames it
// over dir/name and fsyncs dir (the lock name is Dovecot's dotlock for its
// own files, so a Dovecot reading the same tree sees a writer at work).
Result<void> replace_file(const std::filesystem::path& dir, std::string_view name, std::string_view content);

// link(from, to) then unlink(from), then fsync to's directory; on failure
// neither a partial `to` nor (if the link failed) a changed `from` is left.
Result<void> link_into_place(const std::filesystem::path& from, const std::filesystem::path& to);

// rename(from, to) then fsync both directories.
Result<void> rename_durably(const std::filesystem::path& from, const std::filesystem::path& to);

// mkdir with mode 0700; exists when it is already there.
Result<void> make_dir(const std::filesystem::path& dir);

}  // namespace maillab::sim::durable
