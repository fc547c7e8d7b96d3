// What a running `syschaos fs inject --container` did, on the host's disk
// (/run/syschaos/fs/<container-id>-<volume-hash>.json), so that another syschaos can tell that
// the volume is taken and `syschaos fs restore` can find the supervisor to stop. /run is a
// tmpfs: a reboot, which also ends every container, forgets it.
//
// Restore does not depend on it: the ChaosFS mounts are found in the container's mountinfo
// by their type (fuse.syschaos). The file adds who made them and the host-side leftovers a
// SIGKILL at the wrong moment could leave (the staging directory).
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "core/result.hpp"

namespace syschaos::fs {

inline constexpr const char* kContainerStateDir = "/run/syschaos/fs";

struct ContainerInjectionState {
  std::string container_id;
  std::string container_name;
  std::string volume;
  int volume_mnt_id = -1;   // the volume's own mount (under ChaosFS)
  int chaos_mnt_id = -1;    // ChaosFS's mount in the container, -1 until attached
  pid_t supervisor_pid = 0;  // serves ChaosFS and recovers
  pid_t cli_pid = 0;         // the foreground syschaos
  std::string control_socket;
  std::string stage_dir;     // host directory where ChaosFS is mounted before the move
};

// "<state dir>/<12-hex id>-<8-hex hash of the volume>" without extension.
std::string container_state_base(const std::string& container_id, const std::string& volume);

Result<void> write_state(const ContainerInjectionState& s);  // atomic (rename)
Result<std::optional<ContainerInjectionState>> read_state(const std::string& json_path);
// Every state file of one container.
std::vector<std::string> state_files_of(const std::string& container_id);
void remove_state(const ContainerInjectionState& s);

// True if pid runs and is a syschaos process (its /proc/PID/exe is the same file as ours).
bool is_live_syschaos(pid_t pid);

}  // namespace syschaos::fs
