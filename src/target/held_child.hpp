// HeldChild: a launched command that waits, forked but not yet exec'd, until it is
// released. The ptrace engine seizes it and the monitor adds it to the kernel's process set
// in that gap, so the command's very first system call (its execve) is already watched.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "core/result.hpp"
#include "core/unique_fd.hpp"

namespace syschaos {

class HeldChild {
 public:
  // Forks; the child resets its signal mask (the parent may block signals it waits for)
  // and blocks reading a pipe until release(), then execvp(argv).
  static Result<HeldChild> spawn(const std::vector<std::string>& argv);
  HeldChild(HeldChild&&) = default;
  HeldChild& operator=(HeldChild&&) = default;
  // A child never released is killed and reaped: a failed set-up leaves nothing behind.
  ~HeldChild();

  pid_t pid() const { return pid_; }
  // Lets the child exec. After this the caller owns the child (and must reap it).
  Result<void> release();

 private:
  HeldChild(pid_t pid, UniqueFd go) : pid_(pid), go_(std::move(go)) {}
  pid_t pid_ = -1;
  UniqueFd go_;  // write end; the child execs when a byte arrives
};

}  // namespace syschaos
