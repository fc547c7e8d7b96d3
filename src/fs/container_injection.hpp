// `syschaos fs inject --container`: ChaosFS over a running container's volume, and back.
//
// Two processes. The foreground syschaos (the CLI) checks everything, creates the control
// socket on the host and forks the *supervisor*, which does the work and outlives it if
// need be:
//   1. open the volume's directory through /proc/<main pid>/root (ChaosFS's backing fd:
//      the volume itself, reached below anything mounted over it later);
//   2. mount ChaosFS, with no rules yet, on a staging directory of the host
//      (/run/syschaos/fs/<key>.stage), clone that mount into a detached tree, remove the
//      host mount and the directory at once;
//   3. attach the tree over the volume inside the container's mount namespace;
//   4. re-point every process of the container (fds, cwd, mappings) to ChaosFS, one process
//      stopped at a time, and report each one's stop time;
//   5. install the rules; tell the CLI "ready";
//   6. wait for: the CLI's "stop" (Ctrl-C, SIGTERM, --duration), the CLI's death (pidfd:
//      a SIGKILLed syschaos), a signal to the supervisor itself, or ChaosFS unmounted from
//      outside (`syschaos fs restore`);
//   7. recover: clear the rules (nothing delayed or failed any more), lazily unmount ChaosFS
//      in the container (new opens reach the volume at once), re-point every process back,
//      stop the FUSE server once nothing uses it, remove the state file and the socket.
// If the supervisor itself is killed, the CLI notices (waitpid) and recovers the same way.
// If both are killed, a restore guardian (forked by the supervisor into a session of its
// own, holding nothing but pidfds of the two and a pipe) runs `syschaos fs restore` for the
// volume; if it is killed too, `syschaos fs restore --container NAME` does it by hand.
#pragma once

#include <sys/types.h>

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"
#include "fs/container_repoint.hpp"
#include "fs/container_volume.hpp"
#include "fs/fs_fault_rule.hpp"

namespace syschaos::fs {

// Every message of the container mode: one "syschaos: ..." line on stderr (unless quiet)
// and, with an events file, one JSON line per re-pointed process (phase, pid, comm,
// stop_ms, threads, fds, cwd, mappings, left) — the stop-time log.
class RepointLog {
 public:
  RepointLog(bool quiet, std::string events_path) : quiet_(quiet), events_path_(std::move(events_path)) {}
  void message(const std::string& text) const;  // printed even when quiet if it is a warning
  void warn(const std::string& text) const;
  void process(std::string_view phase, const RepointOutcome& o) const;

 private:
  bool quiet_;
  std::string events_path_;
};

struct ContainerInjectionSettings {
  ContainerRef container;
  std::string volume;               // as checked by ContainerVolume::open
  std::vector<FsFaultRule> rules;   // already rewritten by rules_for_volume
  uint64_t seed = 0;
  std::string control_path;         // host path of the control socket (for messages, removal)
  bool passthrough = false;         // ChaosFsOptions::passthrough
};

// The supervisor's life (steps 1-7). control_fd: the listening socket (taken over). stop_fd:
// readable = stop (a byte, or EOF). ready_fd: gets one byte once the faults are armed.
// Returns the process's exit code (0 = recovered cleanly).
int run_injection_supervisor(const ContainerInjectionSettings& settings, pid_t cli_pid, int control_fd,
                             int stop_fd, int ready_fd, const RepointLog& log);

// Step 7 for a ChaosFS mount whose server may be alive or dead: lazily unmount it if it is
// still on top of `volume`, then move every process holding files on it back to the
// volume. Idempotent. A process holding a file lock on it: with a live server
// (LockedFiles::kKeepProcess, and locked_inodes: the files whose flock the server holds on
// their behalf) it stays whole on the detached ChaosFS, whose server must then keep serving
// until its files are closed; with a dead server (kMove) it moves, locks or not.
Result<void> take_chaosfs_off(const MountNamespace& ns, pid_t main_pid,
                              const std::function<std::vector<pid_t>()>& processes,
                              const std::string& volume, int chaos_mnt_id, const RepointLog& log,
                              LockedFiles locked, std::vector<uint64_t> locked_inodes = {});

// `syschaos fs restore`: asks a live supervisor to recover (SIGTERM, waits up to 20 s), then
// takes off every ChaosFS mount left in the container (only the one at `volume` if given)
// and cleans the host side (staging mount and directory, socket, state file). Returns how
// many ChaosFS mounts it removed itself.
Result<int> restore_container(const ContainerRef& container, const std::optional<std::string>& volume,
                              const RepointLog& log);

}  // namespace syschaos::fs
