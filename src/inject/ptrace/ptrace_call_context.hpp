// The CallContext of a tracee stopped at syscall entry: arguments from the stop, paths read
// from its memory and resolved against its dirfd or working directory, fd kinds and the
// thread name from /proc, each looked up only if a rule asks.
#pragma once

#include "core/fault_evaluator.hpp"
#include "inject/ptrace/syscall_regs.hpp"

namespace syschaos::ptrace_engine {

class PtraceCallContext final : public CallContext {
 public:
  // comm_cache is the thread's cached name, refreshed here when empty.
  PtraceCallContext(pid_t tgid, pid_t tid, const SyscallStop& stop, std::string& comm_cache)
      : tgid_(tgid), tid_(tid), stop_(stop), comm_(comm_cache) {}

  pid_t tgid() const override { return tgid_; }
  pid_t tid() const override { return tid_; }
  int nr() const override { return stop_.nr; }
  uint64_t arg(int index) const override { return stop_.args[index]; }
  const std::vector<std::string>& paths() override;
  FdKind fd_kind(int fd) override;
  const std::string& comm() override;

  bool paths_resolved() const { return paths_done_; }

 private:
  pid_t tgid_, tid_;
  const SyscallStop& stop_;
  std::string& comm_;
  std::vector<std::string> paths_;
  bool paths_done_ = false;
};

}  // namespace syschaos::ptrace_engine
