// SyscallTrigger: the user-space half of bpf/failstop_syscalls.bpf.c. Each victim (index)
// watches one syscall number and a threshold. The call that reaches it makes the kernel
// SIGSTOP the victim's processes at once and report the hit; whoever drains the hit must
// apply the failure and then let the processes go on (SIGCONT), or they stay stopped.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "core/result.hpp"

namespace syschaos::failstop {

struct SyscallHit {
  uint32_t victim = 0;
  pid_t tgid = 0, tid = 0;     // the process and thread that made the N-th call
  uint64_t count = 0;          // == the threshold
  int stop_error = 0;          // SIGSTOP of the hitting process from the kernel: 0 or -errno
  uint32_t others_stopped = 0; // other processes of the victim stopped from the kernel
  uint32_t others_missed = 0;  // ... and those it could not signal (user space must)
};

class SyscallTrigger {
 public:
  static Result<std::unique_ptr<SyscallTrigger>> load();
  ~SyscallTrigger();

  // Starts counting `nr` for `victim`'s processes (and the children they fork from now on).
  Result<void> watch(uint32_t victim, const std::vector<pid_t>& tgids, int nr, uint64_t threshold);
  // An fd that becomes readable when a hit is waiting (for poll).
  int fd() const;
  // Hands the waiting hits to `on_hit`; never blocks.
  Result<void> drain(const std::function<void(const SyscallHit&)>& on_hit);
  // Calls counted for `victim` since watch() (the kernel keeps counting after the hit).
  // A failed lookup is an error, not 0: 0 would read as "no hit", and the caller would
  // then leave a victim the kernel stopped without continuing it.
  Result<uint64_t> count(uint32_t victim) const;
  // The processes the kernel counts for `victim` — and stops at the hit: those given to
  // watch() and the children forked since (some may be gone).
  std::vector<pid_t> members(uint32_t victim) const;
  // Detaches the programs: from here no call is counted and no process is stopped.
  void detach();

 private:
  struct Impl;
  explicit SyscallTrigger(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace syschaos::failstop
