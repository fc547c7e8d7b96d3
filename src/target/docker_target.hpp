// DockerTarget: `--container NAME|ID`, every process of a running Docker container, found
// through the container's cgroup so that processes started later (`docker exec`) count too.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"
#include "target/cgroup_paths.hpp"
#include "target/docker_client.hpp"
#include "target/target.hpp"

namespace syschaos {

class DockerTarget final : public Target {
 public:
  // Asks Docker (from_environment) for the container and finds its cgroup from its main
  // process. Errors: "no such container: X", "container X is not running (status: exited)",
  // "Docker is not reachable at ...".
  static Result<std::unique_ptr<DockerTarget>> create(std::string_view name_or_id);
  static Result<std::unique_ptr<DockerTarget>> create(DockerClient client,
                                                      std::string_view name_or_id);

  std::string describe() const override;  // "container web (3f2a9c1b7d0e)"
  // The processes in the container's cgroup. Empty while the container is stopped; an
  // error once it has been removed (or Docker cannot be asked).
  Result<std::vector<pid_t>> processes() override;
  bool may_gain_processes() const override { return true; }
  std::optional<std::string> cgroup_dir() const override { return cgroup_dir_; }

  // The container as Docker last described it.
  const ContainerInfo& container() const { return container_; }

 private:
  DockerTarget(DockerClient client, ContainerInfo container, std::string cgroup_dir)
      : client_(std::move(client)),
        container_(std::move(container)),
        cgroup_dir_(std::move(cgroup_dir)) {}

  DockerClient client_;
  ContainerInfo container_;
  std::string cgroup_dir_;
};

// The container's cgroup directory, from its main process's /proc/PID/cgroup text: the first
// of the cgroup v2, v1 pids, v1 memory and v1 cpu hierarchies whose path names the container
// id. Requiring the id keeps a hybrid host's v2 entry, which holds dockerd and every other
// container, from being mistaken for the container's own cgroup.
Result<std::string> container_cgroup_dir(std::string_view proc_cgroup,
                                         const std::vector<CgroupMount>& mounts,
                                         std::string_view container_id);

}  // namespace syschaos
