#include "target/cgroup_target.hpp"

#include <cerrno>

#include "target/cgroup_paths.hpp"

namespace syschaos {

Result<std::unique_ptr<CgroupTarget>> CgroupTarget::create(std::string_view spec) {
  auto dir = find_cgroup_dir(spec);
  if (!dir) return dir.error();
  return std::unique_ptr<CgroupTarget>(new CgroupTarget(std::move(*dir)));
}

std::string CgroupTarget::describe() const { return fmt::format("cgroup {}", dir_); }

Result<std::vector<pid_t>> CgroupTarget::processes() {
  auto pids = read_cgroup_procs(dir_);
  if (!pids) {
    int err = pids.error().sys_errno();
    if (err == ENOENT || err == ENODEV)
      return Error(fmt::format("cgroup {} was removed", dir_), err);
    return pids.error();
  }
  return pids;
}

}  // namespace syschaos
