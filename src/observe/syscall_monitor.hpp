// SyscallMonitor: per-syscall counts, errors by errno and log2 latency histograms for a
// set of target processes, measured in the kernel by BPF programs (bpf/syscall_monitor.bpf.c)
// and read one interval at a time. Nothing runs in user space per call, so no count is lost
// however high the call rate; only the optional per-call event stream can drop events,
// and then says how many. How it works and its limits: docs/OBSERVE_SYSCALLS.md.
//
// Targets are thread-group ids (every thread of a process counts) in the initial pid
// namespace. Children that a target forks after add_process() become targets in the kernel,
// before they run; targets leave the set when their last thread exits. Optionally, calls
// from a cgroup v2 also count, whether or not their process is in the set.
//
// Thread safety: collect() and poll_events() may run concurrently on two threads; the other
// methods may be called from any thread at any time.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/duration.hpp"
#include "core/result.hpp"
#include "observe/metrics.hpp"

namespace syschaos {

struct SyscallMonitorOptions {
  // Calls that take at least this long become events (poll_events); zero = none.
  Nanos slow_call_threshold{0};
  // Failed calls (those returning -errno) become events.
  bool failed_call_events = false;
  // Size of the event ring buffer in bytes: a power of two and a multiple of the page size.
  // Only allocated when events are asked for.
  uint32_t event_buffer_bytes = 1u << 20;
  // Capacity of the in-kernel process set; forks beyond it are not followed (and counted
  // in SyscallMonitorDiagnostics::untracked_forks).
  uint32_t max_processes = 8192;

  bool events_enabled() const { return slow_call_threshold.count() > 0 || failed_call_events; }
};

// One call from the event stream: slower than the threshold, or failed.
struct SyscallEvent {
  pid_t pid = 0;  // thread-group id
  pid_t tid = 0;
  int nr = -1;
  std::string name;
  int64_t ret = 0;
  int err = 0;  // the errno when the call failed, else 0
  // Unknown for a call that began before its process became a target.
  std::optional<uint64_t> duration_ns;
  double end_unix = 0;  // wall clock when the call returned, seconds
  std::string comm;     // the thread's name
  bool slow = false;    // duration >= the slow-call threshold
  bool failed = false;
};

// What the last interval could not attribute in full. All zero in normal operation;
// nothing here means a call went uncounted except unknown_syscall_calls and compat_calls
// (counted only here) and untracked_forks (processes never followed).
struct SyscallMonitorDiagnostics {
  // Calls whose number is outside 0..511: -1 when a tracer skipped the call (ptrace
  // injection), x32 calls. Not part of Interval totals.
  uint64_t unknown_syscall_calls = 0;
  uint64_t unknown_syscall_errors = 0;
  // 32-bit (ia32) calls of targets: numbered by another table, so left out of the counts.
  uint64_t compat_calls = 0;
  // Calls counted without a latency: they began before their process became a target,
  // or seccomp refused them before sys_enter.
  uint64_t untimed_calls = 0;
  // Failed calls whose errno did not fit the errno map (listed as kUnrecordedErrno).
  uint64_t unrecorded_errnos = 0;
  // Children of targets not added because the process set was full.
  uint64_t untracked_forks = 0;
  // Events dropped because the ring buffer was full (also Interval::events_lost).
  uint64_t events_lost = 0;
  // Program runs the kernel skipped since creation (recursion on one CPU); 0 expected.
  uint64_t missed_program_runs = 0;
  // How long the last collect() waited for in-flight BPF programs (an RCU grace period).
  std::chrono::microseconds grace_period{0};
};

class SyscallMonitor {
 public:
  // Loads and attaches the BPF programs. Errors are one line that says what is missing:
  // privilege (root or CAP_BPF+CAP_PERFMON), kernel BTF, the tracepoints.
  static Result<std::unique_ptr<SyscallMonitor>> create(const SyscallMonitorOptions& options = {});
  // Detaches the programs and frees the maps.
  ~SyscallMonitor();
  SyscallMonitor(const SyscallMonitor&) = delete;
  SyscallMonitor& operator=(const SyscallMonitor&) = delete;

  // Makes a process (a thread-group id) a target: adds it to the kernel's set, then marks
  // each of its threads (a BPF task iterator over that process; threads created later are
  // marked when they are forked). Every call that exits after it returns is counted.
  // Adding a target again is no error. Fails when the pid is not a running process or is a
  // thread other than its group's leader, or the kernel has no memory for a thread's mark.
  Result<void> add_process(pid_t tgid);
  // Stops counting a process: takes it out of the set and unmarks its threads; no call that
  // exits after it returns is counted. Removing a non-target is no error.
  Result<void> remove_process(pid_t tgid);

  // Calls made from the cgroup v2 with this id count too (exactly that cgroup). 0 clears.
  // Setting a filter attaches a second pair of programs (only then does any call pay for
  // evaluating a filter); calls of processes in the set are counted exactly once either way.
  Result<void> set_cgroup_filter(uint64_t cgroup_id);
  // Calls made from this cgroup v2 directory or any cgroup below it count too.
  Result<void> set_cgroup_filter_path(const std::string& v2_dir);
  // Detaches the filter's programs (a call of a cgroup-only thread in flight is then not
  // counted) and frees what they stored: one pass over every thread of the machine.
  Result<void> clear_cgroup_filter();

  // Ends the current interval: reads and resets the kernel's counters and returns what
  // happened since the previous collect() (or since create()). Takes about one RCU grace
  // period (milliseconds) to be sure no program still writes into the half it reads.
  // Interval::resources is left empty; `processes` is the number of targets now.
  Result<Interval> collect();
  // What the last collect() could not attribute.
  SyscallMonitorDiagnostics last_diagnostics() const;

  // Delivers pending events to `on_event`, waiting up to `timeout` for the first one.
  // Returns how many were delivered. An error when no events were asked for.
  Result<size_t> poll_events(const std::function<void(const SyscallEvent&)>& on_event,
                             std::chrono::milliseconds timeout);
  // An fd that polls readable when events are pending (for an event loop); -1 when off.
  int events_fd() const;

  // Targets in the kernel's set now (forked children included, exited ones gone).
  size_t tracked_processes() const;
  std::vector<pid_t> tracked_pids() const;

 private:
  struct Impl;
  explicit SyscallMonitor(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The id of a cgroup v2 directory (what bpf_get_current_cgroup_id() reports for its
// members). Fails for a path that is not a cgroup v2 directory.
Result<uint64_t> cgroup_v2_id(const std::string& dir);

}  // namespace syschaos
