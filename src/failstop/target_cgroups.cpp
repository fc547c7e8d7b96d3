#include "failstop/target_cgroups.hpp"

#include <sys/stat.h>

#include <algorithm>

#include "target/cgroup_paths.hpp"

namespace syschaos::failstop {

Result<FreezerChoice> parse_freezer_choice(std::string_view text) {
  if (text == "auto") return FreezerChoice::kAuto;
  if (text == "v1") return FreezerChoice::kV1;
  if (text == "v2") return FreezerChoice::kV2;
  return Error(fmt::format("freezer must be auto, v1 or v2, not '{}'", text));
}

Result<std::string> cgroup_v2_root() {
  auto mounts = read_cgroup_mounts();
  if (!mounts) return mounts.error();
  for (const CgroupMount& m : *mounts)
    if (m.v2 && m.root == "/") return m.mount_point;
  return Error("no cgroup v2 hierarchy is mounted (looked in /proc/self/mountinfo)");
}

Result<std::optional<std::string>> own_cgroup(const std::vector<pid_t>& pids, std::string_view hierarchy) {
  if (pids.empty()) return std::optional<std::string>();
  std::optional<std::string> common;
  for (pid_t pid : pids) {
    auto dir = cgroup_dir_of_pid(pid, hierarchy);
    if (!dir) {
      // A process in no such hierarchy (no freezer mounted): nothing of its own there.
      if (dir.error().sys_errno() == 0) return std::optional<std::string>();
      return dir.error();
    }
    if (common && *common != *dir) return std::optional<std::string>();
    common = *dir;
  }
  auto mounts = read_cgroup_mounts();
  if (!mounts) return mounts.error();
  for (const CgroupMount& m : *mounts)
    if (m.carries(hierarchy) && m.mount_point == *common) return std::optional<std::string>();  // a root
  auto members = read_cgroup_procs(*common, true);
  if (!members) return members.error();
  for (pid_t member : *members)
    if (std::find(pids.begin(), pids.end(), member) == pids.end()) return std::optional<std::string>();
  return common;
}

Result<FreezePlace> choose_freeze_place(Target& target, const std::vector<pid_t>& pids, FreezerChoice choice) {
  if (pids.empty()) return Error(fmt::format("{} has no running process", target.describe()));
  // A --cgroup target names its cgroup; take it as given when it can freeze.
  if (auto dir = target.cgroup_dir(); dir && choice == FreezerChoice::kAuto) {
    if (auto freezer = CgroupFreezer::open(*dir)) return FreezePlace{*dir, freezer->kind(), false};
  }
  if (choice != FreezerChoice::kV1) {
    auto v2 = own_cgroup(pids, kCgroupV2Hierarchy);
    if (!v2) return v2.error();
    if (*v2) return FreezePlace{**v2, FreezerKind::kV2, false};
  }
  if (choice != FreezerChoice::kV2) {
    auto v1 = own_cgroup(pids, "freezer");
    if (!v1) return v1.error();
    if (*v1) return FreezePlace{**v1, FreezerKind::kV1, false};
    if (choice == FreezerChoice::kV1)
      return Error(fmt::format("{} has no v1 freezer cgroup of its own (its processes share one with "
                               "others); use --freezer v2 or auto",
                               target.describe()));
  }
  auto root = cgroup_v2_root();
  if (!root) return root.error();
  return FreezePlace{*root, FreezerKind::kV2, true};
}

Result<MovedProcesses> plan_transient_cgroup(const std::string& v2_root, const std::string& name,
                                             const std::vector<pid_t>& pids) {
  MovedProcesses moved;
  moved.transient_dir = v2_root + "/" + name;
  moved.fallback_dir = v2_root;
  for (pid_t pid : pids) {
    auto dir = cgroup_dir_of_pid(pid, kCgroupV2Hierarchy);
    if (!dir) return dir.error();
    moved.origins[pid] = *dir;
  }
  return moved;
}

Result<void> make_transient_cgroup(const MovedProcesses& moved, const std::vector<pid_t>& pids) {
  if (::mkdir(moved.transient_dir.c_str(), 0755) != 0 && errno != EEXIST)
    return Error::sys("mkdir " + moved.transient_dir);
  for (pid_t pid : pids) {
    auto r = write_cgroup_file(moved.transient_dir + "/cgroup.procs", std::to_string(pid));
    if (!r && r.error().sys_errno() != ESRCH) return r.error();
  }
  return ok();
}

}  // namespace syschaos::failstop
