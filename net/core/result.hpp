// Result<T>: the expected-style return of every fallible operation (scenario
// loading, stores, DNS, TLS set-up).  An Error carries a category, a message and,
// for files, where in the file it happened.  Misuse by our own code is a bug
// and is asserted instead.
#pragma once

#include <cassert>
#include <cstdint>
#include <string>
#include <utility>
#include <variant>

namespace maillab {

enum class ErrorCategory {
  invalid_argument,  // bad input from a user or a peer
  parse,             // a file or a wire format that does not parse
  not_found,
  exists,
  permission,
  quota,             // a mailbox or a disk is full
  io,                // the operating system refused
  protocol,
  tls,
  internal,
};

struct SourcePosition {
  std::string file;
  std::uint32_t line = 0;    // 1-based; 0 when unknown
  std::uint32_t column = 0;  // 1-based; 0 when unknown
};

struct Error {
  ErrorCategory category = ErrorCategory::internal;
  std::string message;
  SourcePosition where{};

  // "FILE:LINE:COL: message" when a position is known, else the message.
  [[nodiscard]] std::string to_string() const {
    if (where.file.empty()) return message;
    return where.file + ":" + std::to_string(where.line) + ":" + std::to_string(where.column) + ": " +
           message;
  }
};

inline Error make_error(ErrorCategory category, std::string message) {
  return Error{category, std::move(message), {}};
}

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : state_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit by design
  Result(Error error) : state_(std::in_place_index<1>, std::move(error)) {}  // NOLINT

  [[nodiscard]] bool ok() const { return state_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { assert(ok()); return std::get<0>(state_); }
  const T& value() const& { assert(ok()); return std::get<0>(state_); }
  // By value: `for (auto& x : f().value())` must not dangle.
  T value() && { assert(ok()); return std::get<0>(std::move(state_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  const Error& error() const { assert(!ok()); return std::get<1>(state_); }

 private:
  std::variant<T, Error> state_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)), ok_(false) {}  // NOLINT: implicit by design

  [[nodiscard]] bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const { assert(!ok_); return error_; }

 private:
  Error error_{};
  bool ok_ = true;
};

}  // namespace maillab
