// CgroupTarget: `--cgroup PATH`, every process in a cgroup (v1 or v2) and in the cgroups
// below it, including processes that join later.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"
#include "target/target.hpp"

namespace syschaos {

class CgroupTarget final : public Target {
 public:
  // `spec` is a cgroup directory ("/sys/fs/cgroup/pids/web") or a path inside the
  // hierarchies ("docker/<id>", "/system.slice/x.scope"), looked up under every cgroup mount
  // (see cgroup_dir_candidates). Error: "no such cgroup: X (looked in ...)".
  static Result<std::unique_ptr<CgroupTarget>> create(std::string_view spec);

  std::string describe() const override;  // "cgroup /sys/fs/cgroup/pids/web"
  // The cgroup's processes and its descendants'. An error once the cgroup has been removed.
  Result<std::vector<pid_t>> processes() override;
  bool may_gain_processes() const override { return true; }
  std::optional<std::string> cgroup_dir() const override { return dir_; }

 private:
  explicit CgroupTarget(std::string dir) : dir_(std::move(dir)) {}

  std::string dir_;
};

}  // namespace syschaos
