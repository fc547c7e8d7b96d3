// System-call names, numbers, strace's classes (%file, %net, ...) and where each call keeps
// its path and fd arguments, for the architecture syschaos was built for. Numbers come from
// libseccomp, so the table follows the kernel headers libseccomp was built with.
#pragma once

#include <bitset>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"

namespace syschaos {

constexpr int kMaxSyscallNr = 1024;
using SyscallSet = std::bitset<kMaxSyscallNr>;

// Which arguments of a call name a file, relative to which directory fd, and which one is
// the file descriptor the call works on. -1 means "none"; a path with dirfd_arg -1 is
// resolved against the calling process's working directory.
struct SyscallArgs {
  struct PathArg {
    int8_t path = -1;
    int8_t dirfd = -1;
  };
  PathArg paths[2];
  int8_t fd = -1;
  bool has_path() const { return paths[0].path >= 0; }
};

class SyscallTable {
 public:
  // The table for the native architecture, built once.
  static const SyscallTable& native();

  std::optional<int> number(std::string_view name) const;
  // "openat"; for a number with no name, "syscall_<nr>".
  std::string name(int nr) const;
  const SyscallArgs& args(int nr) const;
  int max_nr() const { return static_cast<int>(names_.size()) - 1; }

  // strace's set syntax: "openat,read", "%file", "%%stat", "/^open", "!read,write", "all",
  // "?maybe_missing". Unknown names and classes are errors.
  Result<SyscallSet> parse_set(std::string_view spec) const;

  // Names of the classes accepted by parse_set, for help texts.
  static std::vector<std::string> class_names();

 private:
  SyscallTable();
  std::vector<std::string> names_;  // indexed by number; empty = no syscall there
  std::vector<SyscallArgs> args_;
};

}  // namespace syschaos
