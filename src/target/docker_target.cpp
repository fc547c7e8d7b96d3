#include "target/docker_target.hpp"

#include <cerrno>

#include "target/proc_files.hpp"

namespace syschaos {

namespace {

// The hierarchies every Docker container has a cgroup of its own in, in the order tried.
constexpr std::string_view kContainerHierarchies[] = {kCgroupV2Hierarchy, "pids", "memory", "cpu"};

Result<std::string> cgroup_dir_of_container(const ContainerInfo& container) {
  auto proc_cgroup = read_text_file(fmt::format("/proc/{}/cgroup", container.pid));
  if (!proc_cgroup) return proc_cgroup.error();
  auto mounts = read_cgroup_mounts();
  if (!mounts) return mounts.error();
  auto dir = container_cgroup_dir(*proc_cgroup, *mounts, container.id);
  if (!dir) return dir.error().context(fmt::format("main process {}", container.pid));
  return dir;
}

bool vanished(const Error& error) {
  return error.sys_errno() == ENOENT || error.sys_errno() == ENODEV;
}

}  // namespace

Result<std::string> container_cgroup_dir(std::string_view proc_cgroup,
                                         const std::vector<CgroupMount>& mounts,
                                         std::string_view container_id) {
  if (container_id.empty()) return Error("empty container id");
  auto memberships = parse_proc_cgroup(proc_cgroup);
  if (!memberships) return memberships.error();
  for (std::string_view hierarchy : kContainerHierarchies) {
    for (const CgroupMembership& membership : *memberships) {
      if (!membership.in(hierarchy) || membership.path.find(container_id) == std::string::npos)
        continue;
      if (auto dir = cgroup_path_to_dir(mounts, hierarchy, membership.path)) return *dir;
    }
  }
  return Error(fmt::format(
      "cannot find the cgroup of container {}: no cgroup v2, pids, memory or cpu cgroup "
      "naming its id is visible through the cgroup mounts",
      container_id.substr(0, 12)));
}

Result<std::unique_ptr<DockerTarget>> DockerTarget::create(std::string_view name_or_id) {
  auto client = DockerClient::from_environment();
  if (!client) return client.error();
  return create(std::move(*client), name_or_id);
}

Result<std::unique_ptr<DockerTarget>> DockerTarget::create(DockerClient client,
                                                           std::string_view name_or_id) {
  auto container = client.inspect_container(name_or_id);
  if (!container) return container.error();
  // A paused container is "running" to Docker, but its processes are frozen; Status tells.
  if (container->status != "running")
    return Error(fmt::format("container {} is not running (status: {})", name_or_id,
                             container->status.empty() ? "unknown" : container->status));
  if (container->pid <= 0)
    return Error(fmt::format("container {} runs but Docker reports no main process", name_or_id));
  auto dir = cgroup_dir_of_container(*container);
  if (!dir) return dir.error().context(fmt::format("container {}", name_or_id));
  // Reading it now turns a wrong guess into an error here rather than in the engine.
  auto pids = read_cgroup_procs(*dir);
  if (!pids) return pids.error().context(fmt::format("container {}", name_or_id));
  return std::unique_ptr<DockerTarget>(
      new DockerTarget(std::move(client), std::move(*container), std::move(*dir)));
}

std::string DockerTarget::describe() const {
  return fmt::format("container {} ({})", container_.name, container_.short_id());
}

Result<std::vector<pid_t>> DockerTarget::processes() {
  auto pids = read_cgroup_procs(cgroup_dir_);
  if (pids && !pids->empty()) return pids;
  if (!pids && !vanished(pids.error())) return pids.error();

  // No process, or no cgroup any more: the container stopped, restarted or was removed,
  // and only Docker can say which.
  auto found = client_.find_container(container_.id);
  if (!found) return found.error();
  if (!*found) return Error(fmt::format("{} was removed", describe()));
  container_ = std::move(**found);
  if (container_.status != "running" || container_.pid <= 0) return std::vector<pid_t>{};

  // Running again after a restart: Docker may have made its cgroup anew.
  auto dir = cgroup_dir_of_container(container_);
  if (!dir) {
    // The new main process may already have exited again; that is a stopped container.
    if (vanished(dir.error()) || dir.error().sys_errno() == ESRCH) return std::vector<pid_t>{};
    return dir.error().context(describe());
  }
  cgroup_dir_ = std::move(*dir);
  pids = read_cgroup_procs(cgroup_dir_);
  if (!pids && vanished(pids.error())) return std::vector<pid_t>{};
  return pids;
}

}  // namespace syschaos
