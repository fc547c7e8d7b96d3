// TriggerStops: the processes the N-th-syscall trigger may stop from the kernel
// (bpf/failstop_syscalls.bpf.c sends them SIGSTOP at the N-th call), so that nobody leaves
// them stopped. A SIGSTOPped process stays stopped until someone sends SIGCONT; if syschaos
// dies between the kernel's stop and its own SIGCONT (SIGKILL right after the hit), its
// guard must send it. The list lives in a file next to the Session's state file
// (`<dir>/<owner>.stops`: the state file's readers only look at `*.json`), written before
// the trigger is armed and again, with the exact members, as soon as a hit is seen.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "core/result.hpp"

namespace syschaos::failstop {

struct StoppableProcess {
  pid_t pid = 0;
  unsigned long long start = 0;  // /proc/PID/stat start time: the same process, not a reused pid
};

// `<dir>/<owner>.stops` for the state file `<dir>/<owner>.json`.
std::string trigger_stops_path(const std::string& state_path);

// Records `pids` (with their start times; gone ones are left out). Atomic (rename).
Result<void> save_trigger_stops(const std::string& path, const std::vector<pid_t>& pids);
Result<std::vector<StoppableProcess>> load_trigger_stops(const std::string& path);

// True when `pid` is in a job-control stop ('T') or has a stop signal pending for the whole
// process (the kernel's SIGSTOP is not acted on yet).
bool stopped_or_stopping(pid_t pid);

// Sends SIGCONT to every recorded process that is still the one recorded, and to every
// descendant of those (children forked after the record), when it is stopped or about to
// stop: a running process is not signalled (SIGCONT would run its handler, if any).
// Returns how many were continued.
size_t continue_recorded(const std::vector<StoppableProcess>& processes);

// For `syschaos failstop restore` when the guard died too: continues the processes of every
// `*.stops` file in state_dir() whose owner is gone (all with `even_live_owners`), and
// removes the files. Returns one line per file.
std::vector<std::string> continue_stale_trigger_stops(bool even_live_owners = false);

}  // namespace syschaos::failstop
