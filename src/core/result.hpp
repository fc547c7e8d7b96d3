// Result<T>: a value or an Error, which callers must look at ([[nodiscard]]).
// Errors that come from a system call keep the operation and errno (seastar's habit),
// so a message always says what failed and why, never a bare -1.
#pragma once

#include <cerrno>
#include <cstring>
#include <string>
#include <utility>
#include <variant>

#include <fmt/format.h>

namespace syschaos {

class Error {
 public:
  Error() = default;
  explicit Error(std::string message, int sys_errno = 0)
      : message_(std::move(message)), errno_(sys_errno) {}

  // An error from a failed system call or libc function: "operation: strerror(errno)".
  static Error sys(std::string_view operation, int err = errno) {
    return Error(fmt::format("{}: {}", operation, std::strerror(err)), err);
  }

  const std::string& message() const { return message_; }
  int sys_errno() const { return errno_; }

  // Prefixes context, e.g. Error("bad value").context("rule 2") -> "rule 2: bad value".
  Error context(std::string_view what) const {
    return Error(fmt::format("{}: {}", what, message_), errno_);
  }

 private:
  std::string message_;
  int errno_ = 0;
};

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit on purpose
  Result(Error error) : v_(std::move(error)) {}  // NOLINT

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const Error& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)), ok_(false) {}  // NOLINT
  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const { return error_; }

 private:
  Error error_;
  bool ok_ = true;
};

inline Result<void> ok() { return {}; }

}  // namespace syschaos

// Propagates an error from an expression returning Result<...>.
#define SYSCHAOS_TRY(expr)                          \
  do {                                              \
    auto&& syschaos_try_r_ = (expr);                \
    if (!syschaos_try_r_.ok()) return syschaos_try_r_.error(); \
  } while (0)
