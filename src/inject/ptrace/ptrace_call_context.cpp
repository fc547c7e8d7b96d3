#include "inject/ptrace/ptrace_call_context.hpp"

#include <fcntl.h>

#include "core/path_normalize.hpp"
#include "core/syscall_table.hpp"
#include "inject/ptrace/proc_inspect.hpp"
#include "inject/ptrace/tracee_memory.hpp"

namespace syschaos::ptrace_engine {

const std::vector<std::string>& PtraceCallContext::paths() {
  if (paths_done_) return paths_;
  paths_done_ = true;
  const SyscallArgs& spec = SyscallTable::native().args(stop_.nr);
  for (const auto& p : spec.paths) {
    if (p.path < 0) continue;
    // A path we cannot read (bad pointer, process gone) matches no glob: the kernel would
    // fail such a call with EFAULT anyway.
    auto raw = read_string(tid_, stop_.args[p.path]);
    if (!raw) continue;
    int dirfd = p.dirfd >= 0 ? static_cast<int>(stop_.args[p.dirfd]) : AT_FDCWD;
    if (!raw->empty() && raw->front() == '/') {
      paths_.push_back(join_and_normalize("/", *raw));
      continue;
    }
    // Relative, or empty with AT_EMPTY_PATH (then the dirfd itself is the object).
    auto base = base_directory(tgid_, tid_, dirfd == AT_FDCWD ? -1 : dirfd);
    if (!base) continue;
    paths_.push_back(join_and_normalize(*base, *raw));
  }
  return paths_;
}

FdKind PtraceCallContext::fd_kind(int fd) { return ptrace_engine::fd_kind(tgid_, fd); }

const std::string& PtraceCallContext::comm() {
  if (comm_.empty()) comm_ = thread_comm(tgid_, tid_);
  return comm_;
}

}  // namespace syschaos::ptrace_engine
