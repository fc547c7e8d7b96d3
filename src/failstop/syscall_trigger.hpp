// SyscallTrigger: the user-space half of bpf/failstop_syscalls.bpf.c. Each victim (index)
// watches one syscall number and a threshold; the kernel reports the call that reaches it.
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
  pid_t tgid = 0, tid = 0;
  uint64_t count = 0;
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
  uint64_t count(uint32_t victim) const;

 private:
  struct Impl;
  explicit SyscallTrigger(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace syschaos::failstop
