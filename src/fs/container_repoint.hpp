// Re-pointing a running process from one mount of a volume to another: its open files, its
// working directory and its file-backed memory mappings, without restarting it.
//
// Mounting ChaosFS over a volume changes only what a path means from then on; files the
// process already has open stay on the mount below, out of the faults' reach (and, at
// recovery, would stay on ChaosFS). So, for each process, with every thread held in a ptrace
// stop (StoppedProcess), syschaos makes the process itself run:
//   fd:      openat(path, same flags) -> lseek(same offset) -> dup3(new, fd) -> close(new)
//   cwd:     openat(path, O_PATH | O_DIRECTORY) -> fchdir(new) in EACH thread whose working
//            directory is on the mount -> close(new). A working directory belongs to a
//            thread's fs_struct, shared by threads created with CLONE_FS (pthreads) and
//            private to a thread that called unshare(CLONE_FS) or was cloned without it:
//            only the thread itself can change it, so the fchdir runs in that thread
//            (StoppedProcess::syscall_in_thread); threads sharing the fs_struct follow.
//   mapping: openat(path) -> mmap(same address, length, protection, MAP_FIXED, same offset)
//            -> close
// Fds are per fd table: a thread that called unshare(CLONE_FILES) or was cloned without
// CLONE_FILES has its own (/proc/PID/task/TID/fd), and only a thread using a table can
// change it, so each table's calls run in one of its threads (kcmp tells tables apart).
// The path is re-resolved inside the process (its root, its mount namespace), so it lands on
// whatever is mounted at the volume now. What cannot be moved is left alone and reported:
// deleted files, private mappings holding copied-on-write pages (remapping would lose them).
//
// File locks (flock, POSIX fcntl, OFD; the "lock:" lines of /proc/PID/fdinfo) cannot move:
// the new open file would not hold the lock, and closing the old one drops every POSIX lock
// the process holds on that file. Nor are they shared between the two mounts: ChaosFS keeps
// POSIX locks in the kernel, on its own inode, so a process left on one mount and one on
// the other would no longer exclude each other (and a MAP_SHARED page of one is not the
// other's page either) — a WAL database loses commits that way. Hence RepointSpec::locked:
// moving onto ChaosFS refuses a lock holder; moving back from a live ChaosFS leaves such a
// process whole where it is; moving back from a dead ChaosFS moves everything.
//
// Refused (repoint_refusal): a thread whose root (chroot) is in the volume — mounting over a
// directory does not change a root already set to it, and the thread could not even name
// the new mount from inside its root — and a process holding files on the volume whose root
// is not its mount namespace's root (paths from /proc are namespace paths; the process would
// resolve them below its chroot).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/result.hpp"

namespace syschaos::fs {

// What to do with a process holding a file lock on the from-mount (see the top).
enum class LockedFiles {
  kRefuse,       // onto ChaosFS: repoint_refusal names it; repoint_process fails with ENOLCK
  kKeepProcess,  // back from a live ChaosFS: nothing of it moves (RepointOutcome::kept)
  kMove,         // back from a dead ChaosFS: its locks protect nothing any more, all moves
};

struct RepointSpec {
  int from_mnt_id = -1;  // files on this mount are moved
  std::string volume;    // the volume's path as the process sees it (absolute, no trailing /)
  // How /proc names files of the from-mount. Attached (still in the mount tree, perhaps
  // covered by another mount): by their full path, which must lie under `volume`. Detached
  // (lazily unmounted): relative to that mount's root, which was mounted at `volume`.
  bool from_detached = false;
  LockedFiles locked = LockedFiles::kRefuse;
  // Inode numbers of files of the from-mount locked on the processes' behalf by someone
  // else: ChaosFS forwards flock to its backing file, so that lock is its server's and shows
  // in no fdinfo of the process. A process with such a file open counts as a lock holder.
  std::vector<uint64_t> locked_inodes;
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
  bool cwd = false;      // the process's working directory (its main thread's)
  int thread_cwds = 0;   // working directories of threads with an fs_struct of their own
  std::vector<std::string> left;  // what stayed on the old mount, and why
  std::string kept;  // LockedFiles::kKeepProcess: nothing moved, the lock that kept it
  size_t moved() const { return static_cast<size_t>(fds + mappings + thread_cwds + (cwd ? 1 : 0)); }
};

// Cheap check without stopping the process: any fd (of any fd table), a thread's cwd or
// root, or a mapping on the mount?
// A process that holds nothing there cannot come to hold anything there later except by
// being handed an fd, so it needs no stop at all.
bool holds_files_on(pid_t pid, const RepointSpec& spec);

// Why pid cannot be re-pointed (see the top: a chroot, or with LockedFiles::kRefuse a file
// lock), or nullopt. Cheap, nothing is stopped: meant to be asked for every process of the
// container before anything is mounted, so that such a target is refused up front.
std::optional<std::string> repoint_refusal(pid_t pid, const RepointSpec& spec);

// How long a file lock may be held before it counts: a transaction's lock (a one-shot
// sqlite3, a rollback-journal commit) comes and goes within milliseconds, an open WAL
// connection's stays. The up-front check and the move wait this long for a lock to go.
inline constexpr std::chrono::milliseconds kLockGrace{2000};

// The up-front check of every process of `processes` (asked again while waiting):
// repoint_refusal, except that a process's file lock refuses only if it is held throughout
// lock_grace (polled every 20 ms; a process that exits is fine).
std::optional<std::string> refusal_among(const std::function<std::vector<pid_t>()>& processes,
                                         const RepointSpec& spec, std::chrono::milliseconds lock_grace = kLockGrace);

// The first file lock pid holds on a file of the mount (under the volume), in any of its fd
// tables, or in spec.locked_inodes: "/data/db.sqlite (fd 3, POSIX WRITE lock)"; nullopt if
// none.
std::optional<std::string> held_lock(pid_t pid, const RepointSpec& spec);

// Stops pid, moves everything it holds on spec.from_mnt_id (see above), releases it.
// An Error means the process could not be stopped (gone, traced by someone else) or is
// refused (a chroot: EOPNOTSUPP, checked before stopping; a file lock with kRefuse: ENOLCK,
// checked before stopping and again once stopped, when it can no longer take one); partial
// moves are reported in `left`, never an error. With kKeepProcess a lock holder comes back
// untouched with `kept` set.
Result<RepointOutcome> repoint_process(pid_t pid, const RepointSpec& spec);

// "pid 1234 (nginx): stopped 0.41 ms (2 threads, in-syscall); moved 3 fd(s), cwd, 1 thread
// cwd(s), 1 mapping(s)"
std::string describe(const RepointOutcome& o);

}  // namespace syschaos::fs
