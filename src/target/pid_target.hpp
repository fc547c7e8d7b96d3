// PidTarget: `--pid N`, one process that already runs.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "core/result.hpp"
#include "core/unique_fd.hpp"
#include "target/target.hpp"

namespace syschaos {

class PidTarget final : public Target {
 public:
  // Checks that `pid` is a live process (not a zombie) and a thread-group leader, and pins
  // it with a pidfd so that a later reuse of the number is never mistaken for it.
  // Errors: "no process with pid N", "process N is a zombie ...", "pid N is a thread of ...".
  static Result<std::unique_ptr<PidTarget>> create(pid_t pid);

  std::string describe() const override;
  // {pid} while the process lives; empty once it has exited (zombie or reaped).
  Result<std::vector<pid_t>> processes() override;

  pid_t pid() const { return pid_; }

 private:
  PidTarget(pid_t pid, UniqueFd pidfd, unsigned long long start_time)
      : pid_(pid), pidfd_(std::move(pidfd)), start_time_(start_time) {}

  bool exited() const;

  pid_t pid_;
  UniqueFd pidfd_;                 // invalid on kernels before 5.3 (no pidfd_open)
  unsigned long long start_time_;  // identifies the process when there is no pidfd
};

}  // namespace syschaos
