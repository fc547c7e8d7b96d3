// Cgroup hierarchies as this process sees them: which cgroup (v1 or v2) file systems are
// mounted where (/proc/self/mountinfo), which cgroup a process is in (/proc/PID/cgroup), and
// the directory that shows that cgroup. Nothing here assumes /sys/fs/cgroup: hosts mount
// cgroups in different places (hybrid layouts, containers, bind mounts).
//
// The parsing functions take text, so they are tested without a kernel; the read_* and
// find_* functions add the file system.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"

namespace syschaos {

// Names the v2 (unified) hierarchy where functions take a hierarchy; any other value names
// the v1 hierarchy that carries that controller ("pids", "memory", "cpu", "name=systemd").
// No v1 controller can be called "cgroup2", so the two never clash.
inline constexpr std::string_view kCgroupV2Hierarchy = "cgroup2";

// One mount of a cgroup file system.
struct CgroupMount {
  std::string mount_point;               // e.g. "/sys/fs/cgroup/pids"
  std::string root;                      // the hierarchy path shown there: "/" unless the
                                         // mount is a bind mount or made in a cgroup namespace
  bool v2 = false;                       // cgroup2 (unified) rather than cgroup (v1)
  std::vector<std::string> controllers;  // v1 only: "cpu", "cpuacct", "name=systemd", ...

  bool carries(std::string_view hierarchy) const;
};

// The cgroup and cgroup2 mounts in mountinfo text (the format of /proc/PID/mountinfo),
// in the order listed.
std::vector<CgroupMount> parse_cgroup_mounts(std::string_view mountinfo);
// Same, from /proc/self/mountinfo.
Result<std::vector<CgroupMount>> read_cgroup_mounts();

// One line of /proc/PID/cgroup: "4:memory:/docker/3f2a..." or "0::/system.slice/x.scope".
struct CgroupMembership {
  unsigned hierarchy_id = 0;
  std::vector<std::string> controllers;  // empty for v2
  std::string path;                      // relative to the reader's cgroup namespace root

  bool v2() const { return hierarchy_id == 0 && controllers.empty(); }
  bool in(std::string_view hierarchy) const;
};

Result<std::vector<CgroupMembership>> parse_proc_cgroup(std::string_view text);
Result<std::vector<CgroupMembership>> read_proc_cgroup(pid_t pid);

// The directory showing cgroup `path` of `hierarchy` through one of `mounts`, or nullopt when
// no mount of that hierarchy shows it (e.g. every mount's root lies elsewhere).
std::optional<std::string> cgroup_path_to_dir(const std::vector<CgroupMount>& mounts,
                                              std::string_view hierarchy, std::string_view path);

// The directory of the cgroup that `proc_cgroup` (the text of /proc/PID/cgroup) gives for
// `hierarchy`, via `mounts`. Does not check that the directory exists.
Result<std::string> cgroup_dir_from(std::string_view proc_cgroup,
                                    const std::vector<CgroupMount>& mounts,
                                    std::string_view hierarchy);
// Same for a live process, from /proc/PID/cgroup and /proc/self/mountinfo.
Result<std::string> cgroup_dir_of_pid(pid_t pid, std::string_view hierarchy);

// The directories a user's --cgroup value may mean, most preferred first, without looking
// at the file system. An absolute path inside a cgroup mount means just itself. Anything
// else ("docker/<id>", "/docker/<id>", "system.slice/x.scope") is a path inside the
// hierarchies, tried under the v2 mount first, then under the v1 mounts (pids, memory, cpu
// first, as every process is in those; named hierarchies such as name=systemd last).
std::vector<std::string> cgroup_dir_candidates(std::string_view spec,
                                               const std::vector<CgroupMount>& mounts);

// Resolves a --cgroup value to an existing cgroup directory (one with a cgroup.procs file).
// Error: "no such cgroup: X (looked in A, B)".
Result<std::string> find_cgroup_dir(std::string_view spec);

// Process ids in the text of a cgroup.procs file, one per line.
Result<std::vector<pid_t>> parse_pid_list(std::string_view text);

// The processes in the cgroup at `dir` and, when include_descendants, in every cgroup below
// it; sorted, without duplicates. Cgroups below that vanish while being read are skipped;
// when `dir` itself has gone the error keeps ENOENT (or ENODEV) as its errno.
Result<std::vector<pid_t>> read_cgroup_procs(const std::string& dir,
                                             bool include_descendants = true);

}  // namespace syschaos
