#include "inject/ptrace/syscall_regs.hpp"

#include <linux/audit.h>
#include <sys/ptrace.h>
#include <sys/user.h>

#include <cstddef>

namespace syschaos::ptrace_engine {

#if !defined(__x86_64__)
#error "the ptrace engine knows only x86-64 registers so far: add this architecture's offsets"
#endif

namespace {
constexpr size_t kOrigRaxOffset = offsetof(struct user, regs.orig_rax);
constexpr size_t kRaxOffset = offsetof(struct user, regs.rax);
constexpr uint32_t kNativeArch = AUDIT_ARCH_X86_64;
}  // namespace

Result<SyscallStop> read_syscall_stop(pid_t tid) {
  struct __ptrace_syscall_info info {};
  long n = ::ptrace(static_cast<__ptrace_request>(PTRACE_GET_SYSCALL_INFO), tid,
                    reinterpret_cast<void*>(sizeof(info)), &info);
  if (n < 0) return Error::sys(fmt::format("ptrace(PTRACE_GET_SYSCALL_INFO, {})", tid));
  SyscallStop stop;
  stop.native_arch = info.arch == kNativeArch;
  switch (info.op) {
    case PTRACE_SYSCALL_INFO_ENTRY:
      stop.kind = SyscallStop::Kind::entry;
      stop.nr = static_cast<int>(info.entry.nr);
      for (int i = 0; i < 6; ++i) stop.args[i] = info.entry.args[i];
      break;
    case PTRACE_SYSCALL_INFO_EXIT:
      stop.kind = SyscallStop::Kind::exit;
      stop.rval = info.exit.rval;
      stop.is_error = info.exit.is_error;
      break;
    case PTRACE_SYSCALL_INFO_SECCOMP:
      stop.kind = SyscallStop::Kind::seccomp;
      stop.nr = static_cast<int>(info.seccomp.nr);
      for (int i = 0; i < 6; ++i) stop.args[i] = info.seccomp.args[i];
      break;
    default:
      break;
  }
  return stop;
}

Result<void> set_syscall_nr(pid_t tid, long nr) {
  if (::ptrace(PTRACE_POKEUSER, tid, reinterpret_cast<void*>(kOrigRaxOffset), reinterpret_cast<void*>(nr)) < 0)
    return Error::sys(fmt::format("ptrace(PTRACE_POKEUSER orig_rax, {})", tid));
  return ok();
}

Result<void> set_return_value(pid_t tid, int64_t value) {
  if (::ptrace(PTRACE_POKEUSER, tid, reinterpret_cast<void*>(kRaxOffset), reinterpret_cast<void*>(value)) < 0)
    return Error::sys(fmt::format("ptrace(PTRACE_POKEUSER rax, {})", tid));
  return ok();
}

}  // namespace syschaos::ptrace_engine
