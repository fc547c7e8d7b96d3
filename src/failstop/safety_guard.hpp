// SafetyGuard: a small process that puts the target back if syschaos dies without doing it
// itself (SIGKILL, a crash, the OOM killer).
//
// BPF programs need no guard — their links are owned by syschaos's file descriptors and the
// kernel detaches them when syschaos dies. A frozen cgroup, or processes moved into a
// transient cgroup, stay that way until someone writes to cgroupfs. The guard is that
// someone: syschaos forks and execs `syschaos failstop restore --guard-fd 3 --state FILE`
// before it changes anything; the guard blocks reading a socket whose other end only syschaos
// holds. The guard first writes one byte back on it; start() waits for that byte (with a
// timeout) and fails without it, so a guard that could not exec never goes unnoticed and
// nothing is injected unguarded. A normal stop restores first and then dismisses the guard with one byte; any other
// end of syschaos closes the pipe (EOF), and the guard restores from the state file.
//
// The N-th-syscall trigger stops its victims with SIGSTOP from the kernel at the hit; the
// processes it may have stopped are listed in `<owner>.stops` next to the state file
// (trigger_stops.hpp). On EOF the guard also sends SIGCONT to those that are stopped, after
// the thaw, so a SIGKILL of syschaos right after a hit leaves the target running.
//
// The guard runs in its own process group and ignores SIGINT/SIGTERM/SIGHUP, so a Ctrl-C
// or a `kill` aimed at syschaos does not take it down too. If the guard itself is killed as
// well, `syschaos failstop restore` (or the next `syschaos failstop` run) does the same.
#pragma once

#include <sys/types.h>

#include <string>

#include "core/result.hpp"
#include "core/unique_fd.hpp"

namespace syschaos::failstop {

class SafetyGuard {
 public:
  // Starts `exe failstop restore --guard-fd 3 --state state_path` and waits until it
  // acknowledges; an error (the guard killed and reaped) if it does not. `exe` is the
  // syschaos binary (/proc/self/exe when syschaos itself calls this).
  static Result<SafetyGuard> start(const std::string& exe, const std::string& state_path);
  SafetyGuard(SafetyGuard&&) = default;
  SafetyGuard& operator=(SafetyGuard&&) = default;
  // Without dismiss(), the guard sees EOF and restores: the safe default.
  ~SafetyGuard() = default;

  pid_t pid() const { return pid_; }
  // Tells the guard that everything is restored, and reaps it. A guard that died already is
  // an error (never SIGPIPE).
  Result<void> dismiss();

 private:
  SafetyGuard(pid_t pid, UniqueFd pipe) : pid_(pid), pipe_(std::move(pipe)) {}
  pid_t pid_ = -1;
  UniqueFd pipe_;  // syschaos's end of the socket pair
};

// The guard's side, run by `syschaos failstop restore --guard-fd FD --state FILE`:
// acknowledges on FD, then waits for the dismissal byte or EOF; on EOF restores the state file (if any) and removes it,
// then continues the processes of the trigger's stops file (if any) and removes it.
// Returns a one-line outcome for the log.
Result<std::string> run_guard(int fd, const std::string& state_path);

}  // namespace syschaos::failstop
