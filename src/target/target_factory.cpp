// resolve_target: the one place that turns the command line's target options into a Target.
#include <memory>

#include "target/cgroup_target.hpp"
#include "target/docker_target.hpp"
#include "target/launch_target.hpp"
#include "target/pid_target.hpp"
#include "target/target.hpp"

namespace syschaos {

namespace {

template <typename Concrete>
Result<std::unique_ptr<Target>> as_target(Result<std::unique_ptr<Concrete>> resolved) {
  if (!resolved) return resolved.error();
  return std::unique_ptr<Target>(std::move(*resolved));
}

}  // namespace

Result<std::unique_ptr<Target>> resolve_target(const TargetSpec& spec) {
  int given = int(spec.pid.has_value()) + int(spec.container.has_value()) +
              int(spec.cgroup.has_value()) + int(!spec.command.empty());
  if (given != 1)
    return Error("give exactly one target: --pid, --container, --cgroup or -- COMMAND");
  if (spec.pid) return as_target(PidTarget::create(*spec.pid));
  if (spec.container) return as_target(DockerTarget::create(*spec.container));
  if (spec.cgroup) return as_target(CgroupTarget::create(*spec.cgroup));
  return as_target(LaunchTarget::create(spec.command));
}

}  // namespace syschaos
