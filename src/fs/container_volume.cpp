#include "fs/container_volume.hpp"

#include <sys/stat.h>

#include <set>
#include <sstream>

#include "fs/mount_recovery.hpp"
#include "target/cgroup_paths.hpp"

namespace syschaos::fs {

namespace {

Result<std::string> normalise_volume(const std::string& v) {
  if (v.empty() || v[0] != '/') return Error(fmt::format("--volume {}: give the absolute path inside the container", v));
  std::string out;
  size_t i = 0;
  while (i < v.size()) {
    while (i < v.size() && v[i] == '/') ++i;
    size_t j = v.find('/', i);
    if (j == std::string::npos) j = v.size();
    std::string part = v.substr(i, j - i);
    i = j;
    if (part.empty() || part == ".") continue;
    if (part == "..") return Error(fmt::format("--volume {}: '..' is not allowed", v));
    out += "/" + part;
  }
  if (out.empty()) return Error("--volume /: the container's root file system cannot be covered; give a volume below it");
  return out;
}

}  // namespace

Result<ContainerVolume> ContainerVolume::open(const ContainerRef& container, const std::string& volume) {
  auto path = normalise_volume(volume);
  if (!path) return path.error();
  auto ns = MountNamespace::of_process(container.main_pid);
  if (!ns) return ns.error().context(fmt::format("container {}", container.name));
  ContainerVolume v(container, *path, std::move(*ns));

  std::string host_view = fmt::format("/proc/{}/root{}", container.main_pid, *path);
  struct stat st {};
  if (::stat(host_view.c_str(), &st) != 0)
    return Error(fmt::format("--volume {}: no such directory in container {} ({})", *path, container.name,
                             std::strerror(errno)));
  if (!S_ISDIR(st.st_mode)) return Error(fmt::format("--volume {}: not a directory in container {}", *path, container.name));
  auto id = mount_id_of(host_view);
  if (!id) return id.error();
  v.mount_id_ = *id;

  auto mounts = read_mountinfo(container.main_pid);
  if (!mounts) return mounts.error();
  auto top = topmost_mount_at(*mounts, *path);
  if (top && top->fs_type == kChaosFsType)
    return Error(fmt::format("--volume {}: ChaosFS is already mounted there in container {} (another "
                             "'syschaos fs inject', or a leftover: 'syschaos fs restore --container {}')",
                             *path, container.name, container.name));
  const MountInfoEntry* entry = mount_by_id(*mounts, *id);
  if (!entry) return Error(fmt::format("--volume {}: its mount {} is not in the container's mountinfo", *path, *id));
  if (entry->shared())
    return Error(fmt::format("--volume {}: the mount has shared propagation ({}), so ChaosFS would also appear "
                             "in its peer namespaces (perhaps the host); mount the volume private or slave",
                             *path, entry->propagation));
  v.is_mount_point_ = entry->mount_point == *path;
  v.read_only_ = entry->read_only();
  std::stringstream opts(entry->options);
  for (std::string o; std::getline(opts, o, ',');) {
    v.nosuid_ |= o == "nosuid";
    v.nodev_ |= o == "nodev";
    v.noexec_ |= o == "noexec";
  }
  v.fs_type_ = entry->fs_type;
  return v;
}

std::vector<pid_t> ContainerVolume::processes() const {
  std::vector<pid_t> out;
  auto pids = read_cgroup_procs(container_.cgroup_dir);
  if (!pids) return out;
  for (pid_t p : *pids)
    if (mount_namespace_inode(p) == ns_.inode()) out.push_back(p);
  return out;
}

std::vector<pid_t> ContainerVolume::skipped_processes() const {
  std::vector<pid_t> out;
  auto pids = read_cgroup_procs(container_.cgroup_dir);
  if (!pids) return out;
  for (pid_t p : *pids) {
    ino_t ino = mount_namespace_inode(p);
    if (ino != 0 && ino != ns_.inode()) out.push_back(p);
  }
  return out;
}

std::string ContainerVolume::describe() const {
  return fmt::format("{} ({}, {}{})", path_, is_mount_point_ ? "mount point" : "directory of its parent mount",
                     fs_type_, read_only_ ? ", read-only" : "");
}

Result<std::vector<FsFaultRule>> rules_for_volume(std::vector<FsFaultRule> rules, const std::string& volume) {
  for (size_t k = 0; k < rules.size(); ++k) {
    for (auto& g : rules[k].paths) {
      if (g.empty() || g[0] != '/') continue;
      if (g.starts_with(volume + "/") && g.size() > volume.size() + 1) {
        g = g.substr(volume.size() + 1);
        continue;
      }
      return Error(fmt::format("rule {}: path '{}' is absolute but does not start with the volume {}/; "
                               "write it under the volume or relative to it", k + 1, g, volume));
    }
  }
  return rules;
}

Result<ManifestTarget> manifest_target(const std::vector<FsFaultRule>& rules) {
  std::set<std::string> volumes, containers;
  for (const auto& r : rules) {
    if (!r.volume_path.empty()) volumes.insert(r.volume_path);
    for (const auto& c : r.container_names) containers.insert(c);
  }
  if (volumes.size() > 1)
    return Error(fmt::format("the manifests name {} different volumePaths; one 'syschaos fs inject' covers one "
                             "volume: run one per volume", volumes.size()));
  if (containers.size() > 1)
    return Error(fmt::format("the manifests name {} containers; one 'syschaos fs inject' covers one container: "
                             "run one per container", containers.size()));
  ManifestTarget t;
  if (!volumes.empty()) t.volume = *volumes.begin();
  if (!containers.empty()) t.container = *containers.begin();
  return t;
}

}  // namespace syschaos::fs
