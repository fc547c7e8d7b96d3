// The failstop library API: apply a fail-stop failure to a resolved Target, and undo it.
// `syschaos failstop` is built on it; experiments use it as a perturbation.
//
//   auto session = failstop::Session::open({});          // restores leftovers, starts the guard
//   auto id = (*session)->fail(target, {.mode = failstop::Mode::kFreeze});
//   ...                                                   // the target is frozen
//   (*session)->undo(*id);                                // thawed
//   (*session)->close();                                  // anything left is undone
//
// Modes:
//   kFreeze  the target's processes stop at once (cgroup freezer); sockets stay open, peers
//            see nothing. undo() thaws.
//   kCrash   fail-stop: freeze, blackhole every endpoint of the target's sockets (cgroup BPF),
//            SIGKILL, so that the FIN/RST the kernel sends for the dead sockets never reaches
//            a peer. undo() lifts the blackhole ("the host is back"). See docs/FAILSTOP.md.
//   kKill    an ordinary kill(2) with a chosen signal, for comparison; nothing to undo.
//
// Safety: every cgroup change is recorded in a state file before it is made, and a guard
// process restores it if the process that owns the Session dies (SafetyGuard). BPF
// programs are attached through links that die with the process.
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/result.hpp"
#include "failstop/restore_state.hpp"
#include "failstop/safety_guard.hpp"
#include "failstop/target_cgroups.hpp"
#include "target/target.hpp"

namespace syschaos::failstop {

class Blackhole;

enum class Mode { kFreeze, kCrash, kKill };
Result<Mode> parse_mode(std::string_view text);  // freeze | crash | kill
std::string_view mode_name(Mode mode);

struct FailureOptions {
  Mode mode = Mode::kFreeze;
  int signal = SIGKILL;                       // kKill only
  FreezerChoice freezer = FreezerChoice::kAuto;
};

// What a failure did, for logs and reports.
struct FailureRecord {
  Mode mode = Mode::kFreeze;
  std::string target;                         // Target::describe()
  std::vector<pid_t> pids;                    // the processes it hit
  std::string cgroup;                         // the cgroup frozen (freeze, crash)
  bool transient_cgroup = false;              // made by syschaos for this failure
  size_t blackholed_endpoints = 0;            // crash: endpoints whose packets are dropped
  std::chrono::system_clock::time_point at;   // when it took effect
  bool undone = false;
};

struct SessionOptions {
  // The syschaos binary, exec'd as the safety guard. Empty: no guard (tests of the library
  // that run without the binary; a killed process then leaves its state file for
  // `syschaos failstop restore`).
  std::string guard_exe = "/proc/self/exe";
};

using FailureId = size_t;

// `pids` and every process descending from them (/proc/PID/task/TID/children), sorted.
std::vector<pid_t> with_descendants(const std::vector<pid_t>& pids);

class Session {
 public:
  // Restores the state files of earlier runs whose owner died, then starts the guard.
  static Result<std::unique_ptr<Session>> open(const SessionOptions& options);
  ~Session();

  // Applies one failure. The target must have at least one process. Refuses a target that
  // contains syschaos itself.
  Result<FailureId> fail(Target& target, const FailureOptions& options);
  // Undoes one failure (thaw; lift the blackhole). Idempotent.
  Result<void> undo(FailureId id);
  // Undoes everything not undone yet, removes the state file, dismisses the guard.
  Result<void> close();

  const FailureRecord& record(FailureId id) const;
  size_t failures() const;
  pid_t guard_pid() const { return guard_ ? guard_->pid() : -1; }
  const std::string& state_path() const { return state_path_; }
  // Earlier runs' state restored by open(), for the log.
  const std::vector<StaleRestore>& restored_at_open() const { return restored_at_open_; }

 private:
  struct Applied;
  Session() = default;
  Result<void> save();
  Result<void> freeze(Target& target, const std::vector<pid_t>& pids, FreezerChoice choice, Applied& applied);
  Result<void> crash(Target& target, const std::vector<pid_t>& pids, FreezerChoice choice, Applied& applied);
  Result<void> thaw(Applied& applied);

  RestoreState state_;
  std::string state_path_;
  std::optional<SafetyGuard> guard_;
  std::vector<std::unique_ptr<Applied>> applied_;
  std::vector<StaleRestore> restored_at_open_;
  bool closed_ = false;
};

}  // namespace syschaos::failstop
