// A Target is what the user pointed syschaos at, resolved to processes: a pid, a command
// to launch, a Docker container or a cgroup. Engines ask it for the current process set
// and, for targets that can gain processes from outside the traced tree (docker exec,
// anything moved into a cgroup), ask again from time to time.
#pragma once

#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/result.hpp"

namespace syschaos {

class Target {
 public:
  virtual ~Target() = default;
  // For messages: "pid 1234", "container web (3f2a9c1b7d0e)", "cgroup /sys/fs/cgroup/...".
  virtual std::string describe() const = 0;
  // Thread-group ids of the target's processes now. Empty when nothing runs any more.
  // An error means the target cannot be read at all (e.g. the container was removed).
  virtual Result<std::vector<pid_t>> processes() = 0;
  // True when processes may join from outside the process tree the engine follows
  // (a container's `docker exec`, any process moved into the cgroup).
  virtual bool may_gain_processes() const { return false; }
  // For launch mode: the command to start. Null for targets that already run.
  virtual const std::vector<std::string>* command() const { return nullptr; }
  // The target's cgroup, where it has one of its own (absolute path under /sys/fs/cgroup).
  virtual std::optional<std::string> cgroup_dir() const { return std::nullopt; }
};

// What the user asked for on the command line; exactly one is set.
struct TargetSpec {
  std::optional<pid_t> pid;
  std::optional<std::string> container;  // name or id
  std::optional<std::string> cgroup;     // a cgroup directory, v1 or v2
  std::vector<std::string> command;      // launch mode
};

// Resolves and checks the target (the pid exists, the container runs, the cgroup exists).
// Errors are one clear line for the user.
Result<std::unique_ptr<Target>> resolve_target(const TargetSpec& spec);

}  // namespace syschaos
