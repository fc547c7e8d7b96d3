// A stopped tracee's system-call state: read it with PTRACE_GET_SYSCALL_INFO (the same on
// every architecture), change it through the architecture's registers. Only x86-64 is
// wired up; a port adds the register offsets below and nothing else.
#pragma once

#include <sys/types.h>

#include <cstdint>

#include "core/result.hpp"

namespace syschaos::ptrace_engine {

struct SyscallStop {
  enum class Kind : uint8_t { none, entry, exit, seccomp } kind = Kind::none;
  bool native_arch = true;  // false for a 32-bit (compat) call on a 64-bit kernel
  int nr = -1;              // entry only
  uint64_t args[6] = {};    // entry only
  int64_t rval = 0;         // exit only
  bool is_error = false;    // exit only
};

Result<SyscallStop> read_syscall_stop(pid_t tid);
// At syscall entry: replace the call's number (-1 makes the kernel skip it with ENOSYS).
Result<void> set_syscall_nr(pid_t tid, long nr);
// At syscall exit: the value the program sees (-errno for an error).
Result<void> set_return_value(pid_t tid, int64_t value);

}  // namespace syschaos::ptrace_engine
