// Which cgroup a failure acts on for a target: the target's own cgroup when it has one (a
// container, a --cgroup), or a transient v2 cgroup that syschaos makes and moves the
// target's processes into (a --pid, whose cgroup holds other processes too).
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "core/result.hpp"
#include "failstop/cgroup_freezer.hpp"
#include "failstop/restore_state.hpp"
#include "target/target.hpp"

namespace syschaos::failstop {

enum class FreezerChoice { kAuto, kV1, kV2 };

Result<FreezerChoice> parse_freezer_choice(std::string_view text);  // auto | v1 | v2

// The directory of the v2 hierarchy's root ("/sys/fs/cgroup/unified" here).
Result<std::string> cgroup_v2_root();

// The cgroup of `hierarchy` ("cgroup2" or "freezer") that `pids` are in, when they are all in
// the same one, it is not a root, and every process in it (and below it) is one of `pids`:
// a cgroup that belongs to the target alone. Otherwise nullopt.
Result<std::optional<std::string>> own_cgroup(const std::vector<pid_t>& pids, std::string_view hierarchy);

// Where to freeze: an existing cgroup (`transient` false) or the v2 root under which a
// transient cgroup must be made (`transient` true, `dir` is the parent).
struct FreezePlace {
  std::string dir;
  FreezerKind kind = FreezerKind::kV2;
  bool transient = false;
};
// auto: the target's own v2 cgroup, else its own v1 freezer cgroup, else a transient v2
// cgroup. v2: own v2 cgroup or transient. v1: own v1 freezer cgroup, else an error.
Result<FreezePlace> choose_freeze_place(Target& target, const std::vector<pid_t>& pids, FreezerChoice choice);

// Makes `parent/name` and moves `pids` into it; the origins are recorded in `moved` (and
// must be saved by the caller before this is called: see Session).
Result<void> make_transient_cgroup(const MovedProcesses& moved, const std::vector<pid_t>& pids);
// The origins to record for `pids` (their current v2 cgroups) and the fallback (v2 root).
Result<MovedProcesses> plan_transient_cgroup(const std::string& v2_root, const std::string& name,
                                             const std::vector<pid_t>& pids);

}  // namespace syschaos::failstop
