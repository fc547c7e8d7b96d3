// Re-pointing a running process from one mount of a volume to another: its open files, its
// working directory and its file-backed memory mappings, without restarting it.
//
// Mounting ChaosFS over a volume changes only what a path means from then on; files the
// process already has open stay on the mount below, out of the faults' reach (and, at
// recovery, would stay on ChaosFS). So, for each process, with every thread held in a ptrace
// stop (StoppedProcess), syschaos makes the process itself run:
//   fd:      openat(path, same flags) -> lseek(same offset) -> dup3(new, fd) -> close(new)
//   cwd:     chdir(path)
//   mapping: openat(path) -> mmap(same address, length, protection, MAP_FIXED, same offset)
//            -> close
// The path is re-resolved inside the process (its root, its mount namespace), so it lands on
// whatever is mounted at the volume now. What cannot be moved is left alone and reported:
// deleted files, private mappings holding copied-on-write pages (remapping would lose them),
// files locked with flock/fcntl (the new open file would not hold the lock).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

#include "core/result.hpp"

namespace syschaos::fs {

struct RepointSpec {
  int from_mnt_id = -1;  // files on this mount are moved
  std::string volume;    // the volume's path as the process sees it (absolute, no trailing /)
  // How /proc names files of the from-mount. Attached (still in the mount tree, perhaps
  // covered by another mount): by their full path, which must lie under `volume`. Detached
  // (lazily unmounted): relative to that mount's root, which was mounted at `volume`.
  bool from_detached = false;
};

struct RepointOutcome {
  pid_t pid = 0;
  std::string comm;
  bool stopped = false;  // false: it held nothing on the mount and was not touched
  size_t threads = 0;
  std::chrono::nanoseconds stop_time{0};  // every thread held, first interrupt to detach
  std::string executor_mode;
  int fds = 0;
  int mappings = 0;
  bool cwd = false;
  std::vector<std::string> left;  // what stayed on the old mount, and why
  size_t moved() const { return static_cast<size_t>(fds + mappings + (cwd ? 1 : 0)); }
};

// Cheap check without stopping the process: any fd, the cwd or a mapping on the mount?
// A process that holds nothing there cannot come to hold anything there later except by
// being handed an fd, so it needs no stop at all.
bool holds_files_on(pid_t pid, const RepointSpec& spec);

// Stops pid, moves everything it holds on spec.from_mnt_id (see above), releases it.
// An Error means the process could not be stopped (gone, traced by someone else); partial
// moves are reported in `left`, never an error.
Result<RepointOutcome> repoint_process(pid_t pid, const RepointSpec& spec);

// "pid 1234 (nginx): stopped 0.41 ms (2 threads, in-syscall); moved 3 fd(s), cwd, 1 mapping"
std::string describe(const RepointOutcome& o);

}  // namespace syschaos::fs
