// RestoreState: everything a failure changed that must be put back for the target to work
// again — frozen cgroups to thaw, processes moved into a transient cgroup to move home —
// written to a file under /run/syschaos/failstop/ BEFORE each change is made. Whoever
// restores (syschaos itself on a normal stop, its guard process when syschaos is killed,
// `syschaos failstop restore`, or the next `syschaos failstop` start) reads the same file.
//
// BPF programs (blackhole, omission, duplication) are not recorded: they are attached
// through BPF links owned by syschaos's file descriptors, which the kernel detaches when the
// process dies, however it dies.
#pragma once

#include <sys/types.h>

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"
#include "failstop/cgroup_freezer.hpp"

namespace syschaos::failstop {

struct FrozenCgroup {
  std::string dir;
  FreezerKind kind = FreezerKind::kV2;
};

// Processes syschaos moved into a v2 cgroup of its own (a pid target shares its cgroup with
// other processes, so it gets one for the time of the failure).
struct MovedProcesses {
  std::string transient_dir;              // the cgroup syschaos made; removed on restore
  std::map<pid_t, std::string> origins;   // each moved process's v2 cgroup before the move
  std::string fallback_dir;               // for processes born inside the transient cgroup
};

struct RestoreState {
  pid_t owner = 0;                        // the syschaos process that made the changes
  unsigned long long owner_start = 0;     // its start time (/proc/PID/stat field 22)
  std::vector<FrozenCgroup> frozen;
  std::vector<MovedProcesses> moved;

  bool empty() const { return frozen.empty() && moved.empty(); }
};

std::string to_json(const RestoreState& state);
Result<RestoreState> restore_state_from_json(std::string_view text);

// Where state files live; SYSCHAOS_FAILSTOP_STATE_DIR overrides it (tests).
std::string state_dir();
std::string state_file_for(pid_t owner);
// Paths of the files in state_dir() whose names end with `suffix` (".json", ".stops");
// none when the directory does not exist.
std::vector<std::string> state_files(std::string_view suffix);

// Writes the file atomically (temporary file + rename): a reader never sees half of it.
Result<void> save_state(const std::string& path, const RestoreState& state);
Result<RestoreState> load_state(const std::string& path);

// Puts everything back: thaws every frozen cgroup, moves every process out of each
// transient cgroup to its origin, removes the transient cgroups. Tries every step even when
// one fails; the error lists the failures.
Result<void> restore(const RestoreState& state);

// Start time of a process (field 22 of /proc/PID/stat), 0 when it does not exist.
unsigned long long process_start_time(pid_t pid);

// True when the state file's owner is no longer the process that wrote it.
bool owner_gone(const RestoreState& state);

struct StaleRestore {
  std::string path;
  RestoreState state;
  Result<void> outcome;
};
// Restores (and removes) every state file whose owner has gone. With `even_live_owners`,
// every file (for `syschaos failstop restore --force`).
std::vector<StaleRestore> restore_stale_states(bool even_live_owners = false);

}  // namespace syschaos::failstop
