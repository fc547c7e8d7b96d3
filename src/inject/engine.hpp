// The Engine interface: every injection mechanism (ptrace, seccomp, bpf, the fake engine of
// the unit tests) arms a rule set on a target, reports hits, disarms, and says what it can
// do on this kernel. Callers pick an engine by capability, never by its name.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/duration.hpp"
#include "core/fault_evaluator.hpp"
#include "core/result.hpp"
#include "target/target.hpp"

namespace syschaos {

// One matched call, for --events and for observers.
struct InjectionEvent {
  Nanos since_arm{0};     // time from arming
  double unix_time = 0;   // wall clock, seconds
  pid_t pid = 0;          // thread group
  pid_t tid = 0;
  int nr = -1;
  std::string syscall;
  std::vector<std::string> paths;  // decoded path arguments, when the call has any
  std::optional<int> fd;           // the fd argument, when the call has one
  int rule = -1;
  std::string action;              // "error=ENOENT", "delay_enter=1s", ...
  int err = 0;                     // the errno injected, 0 for none
  bool injected = true;            // false with --dry-run
  bool replaced = false;           // the real call was skipped (error= or retval=)
  int64_t result = 0;              // what the program saw instead, when replaced
};

class EventSink {
 public:
  virtual ~EventSink() = default;
  virtual void on_event(const InjectionEvent& event) = 0;
};

struct EngineCapabilities {
  bool attach_running = false;     // can act on processes that already run
  bool follows_forks = false;
  bool errors = false, retval = false, signals = false, delays = false, pokes = false;
  bool path_filter = false, fd_filter = false, comm_filter = false;
  std::string limits;              // one line on what it costs or cannot do
};

struct EngineOptions {
  std::optional<Nanos> duration;   // stop after this long; none = until interrupted or exit
  bool dry_run = false;            // match and count, change nothing
  EventSink* events = nullptr;
  // Signals that ask the engine to stop and detach (SIGINT, SIGTERM, SIGHUP by default).
  std::vector<int> stop_signals;
  // Set to true from any thread to make the engine detach and return (reason interrupted);
  // how a caller that handles signals itself (an experiment) ends a perturbation early.
  const std::atomic<bool>* stop_requested = nullptr;
};

enum class EndReason { duration, interrupted, target_exited };
std::string_view end_reason_name(EndReason reason);

struct EngineReport {
  EndReason reason = EndReason::target_exited;
  int stop_signal = 0;                // the signal that interrupted, if any
  std::optional<int> launched_status; // launch mode: the command's wait status
  uint64_t processes_seen = 0;        // processes (thread groups) ever attached
  uint64_t threads_seen = 0;
  uint64_t syscalls_seen = 0;         // syscall entries observed
  std::vector<RuleStats> rule_stats;
};

class Engine {
 public:
  virtual ~Engine() = default;
  virtual std::string_view name() const = 0;
  virtual EngineCapabilities capabilities() const = 0;
  // Arms the evaluator's rules on the target, runs until the duration ends, a stop signal
  // arrives or the target exits, then disarms leaving the target running untouched.
  virtual Result<EngineReport> run(Target& target, FaultEvaluator& faults,
                                   const EngineOptions& options) = 0;
};

}  // namespace syschaos
