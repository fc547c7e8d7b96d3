// A volume of a running container, as `syschaos fs inject` needs it: which mount it is,
// whether ChaosFS can be put over it, and the processes that may hold files on it.
// Every reason to refuse is found here, before anything is touched.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "core/result.hpp"
#include "fs/fs_fault_rule.hpp"
#include "fs/volume_mountinfo.hpp"
#include "fs/volume_overlay.hpp"

namespace syschaos::fs {

struct ContainerRef {
  std::string id;    // full id
  std::string name;
  pid_t main_pid = 0;      // in the host's PID namespace
  std::string cgroup_dir;  // every process of the container is in it
  std::string short_id() const { return id.substr(0, 12); }
};

class ContainerVolume {
 public:
  // Checks the volume path inside the container. Refuses, with the reason: a relative path
  // or "/", a path that is not a directory, a volume already under ChaosFS, a mount with
  // shared propagation (the ChaosFS mount would appear in the peer namespaces, e.g. on the
  // host). A directory that is not a mount point is accepted: ChaosFS covers it all the same,
  // and files are told apart by path on the root file system's mount.
  static Result<ContainerVolume> open(const ContainerRef& container, const std::string& volume);

  const ContainerRef& container() const { return container_; }
  const std::string& path() const { return path_; }  // normalised, no trailing '/'
  int mount_id() const { return mount_id_; }  // the mount the volume's files are on now
  bool is_mount_point() const { return is_mount_point_; }
  bool read_only() const { return read_only_; }
  // The rest of the volume's mount attributes that ChaosFS's mount over it takes over.
  bool nosuid() const { return nosuid_; }
  bool nodev() const { return nodev_; }
  bool noexec() const { return noexec_; }
  const MountNamespace& ns() const { return ns_; }

  // The container's processes that share its mount namespace (the others, e.g. a process
  // that unshared its own, cannot see this mount; they are listed by skipped_processes()).
  std::vector<pid_t> processes() const;
  std::vector<pid_t> skipped_processes() const;

  // "/usr/share/nginx/html (mount point, ext4)" for messages.
  std::string describe() const;

 private:
  ContainerVolume(ContainerRef c, std::string path, MountNamespace ns)
      : container_(std::move(c)), path_(std::move(path)), ns_(std::move(ns)) {}
  ContainerRef container_;
  std::string path_;
  MountNamespace ns_;
  int mount_id_ = -1;
  bool is_mount_point_ = false;
  bool read_only_ = false;
  bool nosuid_ = false, nodev_ = false, noexec_ = false;
  std::string fs_type_;
};

// ChaosFS sees paths relative to the file system it serves, and in container mode that file
// system is mounted by syschaos in a place of its own before it moves into the container.
// Absolute globs ("/var/lib/data/**/*.db", as IOChaos writes them) are therefore rewritten
// relative to the volume ("**/*.db"); an absolute glob that does not start with the volume
// path could never match and is an error naming the rule.
Result<std::vector<FsFaultRule>> rules_for_volume(std::vector<FsFaultRule> rules, const std::string& volume);

// Chaos Mesh's volumePath / containerNames carried by IOChaos rules: the one volume and the
// one container they name (several different ones are refused: run one injection each).
struct ManifestTarget {
  std::optional<std::string> volume;
  std::optional<std::string> container;
};
Result<ManifestTarget> manifest_target(const std::vector<FsFaultRule>& rules);

}  // namespace syschaos::fs
