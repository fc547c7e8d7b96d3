// TraceSession: one run of the ptrace engine, on the tracer thread. It attaches (or
// launches), then loops: reap tracee stops with waitpid(WNOHANG), act on each, release
// held threads whose delay is over, and sleep in sigtimedwait until the next tracee stop,
// timer, poll or stop signal. SIGCHLD stays blocked, so no wake-up can be lost between
// the last waitpid and the sleep.
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <chrono>
#include <queue>
#include <unordered_map>
#include <vector>

#include "inject/engine.hpp"
#include "inject/ptrace/syscall_regs.hpp"

namespace syschaos::ptrace_engine {

struct ThreadState {
  pid_t tid = 0;
  pid_t tgid = 0;
  bool in_syscall = false;     // between entry and exit stop
  bool before_exec = false;    // a launched command still in syschaos's own start-up code
  enum class Hold : uint8_t { none, entry, exit } hold = Hold::none;
  uint64_t hold_generation = 0;

  // Work decided at entry, finished at entry's end or at exit.
  bool replace_call = false;   // skip the real call; its result is exit_value
  long replace_nr = -1;
  int entry_signal = 0;
  bool owes_exit = false;      // something to do at the exit stop
  int64_t exit_value = 0;
  Nanos exit_delay{0};
  const std::vector<Poke>* poke_exit = nullptr;
  uint64_t args[6] = {};

  std::string comm;            // cached thread name; emptied on exec and prctl
};

class TraceSession {
 public:
  TraceSession(Target& target, FaultEvaluator& faults, const EngineOptions& options,
               const sigset_t& wait_set);
  Result<EngineReport> run();

 private:
  using Clock = SteadyClock;

  Result<void> start();
  Result<void> launch(const std::vector<std::string>& argv);
  // Seizes every thread of tgid. strict: a failure is an error rather than a warning.
  Result<void> attach_process(pid_t tgid, bool strict);
  void poll_target();

  void handle_status(pid_t tid, int status);
  void on_syscall_stop(ThreadState& t);
  void on_entry(ThreadState& t, const SyscallStop& stop);
  void finish_entry(ThreadState& t);
  void on_exit(ThreadState& t);
  void on_new_tracee(pid_t tid);
  void on_thread_gone(pid_t tid);
  ThreadState& track(pid_t tid, pid_t tgid);

  void hold(ThreadState& t, ThreadState::Hold kind, Nanos delay);
  void release_due_holds(Clock::time_point now);
  void restart(pid_t tid, int sig = 0);

  void detach_all();
  bool finished() const;
  void warn(const std::string& message);

  Target& target_;
  FaultEvaluator& faults_;
  const EngineOptions& options_;
  sigset_t wait_set_;

  std::unordered_map<pid_t, ThreadState> threads_;
  std::unordered_map<pid_t, int> process_threads_;  // tgid -> live traced threads
  struct Timer {
    Clock::time_point due;
    pid_t tid;
    uint64_t generation;
    bool operator>(const Timer& o) const { return due > o.due; }
  };
  std::priority_queue<Timer, std::vector<Timer>, std::greater<Timer>> timers_;
  uint64_t next_generation_ = 1;

  Clock::time_point armed_at_{};
  std::optional<Clock::time_point> deadline_;
  Clock::time_point next_poll_{};
  pid_t launched_pid_ = 0;
  bool stopping_ = false;
  bool target_gone_ = false;
  EngineReport report_;
};

}  // namespace syschaos::ptrace_engine
