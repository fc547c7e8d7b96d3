// ResourceSampler: the target's resource usage (CPU, memory, block IO, tasks, network), one
// ResourceStats per call, from the target's cgroup files (v1 or v2) and its network namespace;
// for a target without a cgroup of its own, summed from /proc/PID of its process tree.
//
//   auto source = resource_source_for(target);          // or ResourceSource::for_processes
//   auto sampler = ResourceSampler::create(*source);     // reads a baseline
//   ... each interval: auto stats = (*sampler)->sample();
//
// What each field means for each source, and which are missing where, is documented in
// docs/OBSERVE_OUTPUT.md ("resources").
#pragma once

#include <sys/types.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/result.hpp"
#include "observe/metrics.hpp"
#include "target/target.hpp"

namespace syschaos {

// The cgroup directories that hold a target's counters. A v2 directory offers what the v2
// hierarchy has controllers for; on a hybrid host (v1 controllers, v2 for bookkeeping) the v1
// directories supply the rest.
struct CgroupDirs {
  std::optional<std::string> v2;
  std::optional<std::string> cpuacct;  // v1; may be the co-mounted cpu,cpuacct hierarchy
  std::optional<std::string> memory;   // v1
  std::optional<std::string> blkio;    // v1
  std::optional<std::string> pids;     // v1

  bool empty() const { return !v2 && !cpuacct && !memory && !blkio && !pids; }
};

// Where the sampler reads. Either cgroup mode (`cgroup` not empty: its processes are the
// target, wherever they came from) or process mode (`process_roots`: these processes and every
// descendant, including orphans once seen).
struct ResourceSource {
  CgroupDirs cgroup;
  // The directory whose processes are the target in cgroup mode (one of `cgroup`'s); the
  // network namespace is read through one of them.
  std::string process_dir;
  std::vector<pid_t> process_roots;
  // Why a controller has no directory (e.g. "memory: the target's processes are in the v1
  // memory cgroup /, which holds other processes too"); shown by describe().
  std::vector<std::string> notes;

  // Process mode for `roots` (e.g. a launched command's pid).
  static ResourceSource for_processes(std::vector<pid_t> roots);
};

// The source for a cgroup directory (v1 or v2), with the matching directories of the other
// controllers: the same cgroup path in their hierarchy (Docker, systemd and libcgroup lay
// hierarchies out alike), or else the cgroup the target's processes are in there; either only
// when it holds exactly the target's processes, so nothing is ever attributed from a cgroup
// that also holds others (such as a hierarchy's root). Errors: the directory is not inside a
// cgroup mount, or it has gone.
Result<ResourceSource> resource_source_for_cgroup(const std::string& dir);

// The source for a resolved target: its cgroup when it has one (container, --cgroup), else
// process mode for its processes now (--pid). A target with no process yet (a command not
// launched) is an error: launch it first and use ResourceSource::for_processes.
Result<ResourceSource> resource_source_for(Target& target);

class ResourceSampler {
 public:
  // Checks the source (directories exist, processes run), decides which file supplies each
  // resource, and reads a baseline, so that the first sample() already has cpu_cores.
  static Result<std::unique_ptr<ResourceSampler>> create(const ResourceSource& source);
  ~ResourceSampler();
  ResourceSampler(const ResourceSampler&) = delete;
  ResourceSampler& operator=(const ResourceSampler&) = delete;

  // The target's usage now. cpu_cores covers the time since the previous sample (or create).
  // A resource whose file cannot be read is left unset for this sample; a cgroup directory
  // that has gone is an error with errno ENOENT ("cgroup DIR was removed"), as is a process
  // tree whose processes have all exited (ESRCH), so the caller can end or re-resolve the
  // target (a restarted container gets a new cgroup).
  Result<ResourceStats> sample();

  // "cgroup v1", "cgroup v2", "cgroup v2+v1" or "processes" (ResourceStats::source).
  const std::string& source_kind() const;
  // One line for a status message: "cgroup v2+v1 /sys/fs/cgroup/unified/docker/3f2a..." or
  // "/proc of pid 1234 and its descendants (no cgroup of its own)".
  std::string summary() const;
  // Multi-line, for `syschaos monitor -v` and logs: which file supplies each resource, which
  // resources are unavailable and why, and whose network namespace is read.
  std::string describe() const;

 private:
  struct State;
  explicit ResourceSampler(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace syschaos
