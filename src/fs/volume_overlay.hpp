// Putting a mount over a container's volume and taking it away again, from the host.
//
// Chaos Mesh moves the volume aside (mount --move /data /data__chaosfs__) and mounts its
// FUSE file system on the freed path, which needs a writable parent directory and leaves the
// hidden directory behind when anything goes wrong. syschaos does not move the volume: it
// keeps a directory fd on it (the FUSE server's backing directory) and mounts ChaosFS *over*
// it. The volume stays mounted underneath, untouched; removing ChaosFS (a lazy unmount) is
// the whole undo, there is nothing to move back and no directory to delete, and it works on
// a read-only root file system.
//
// The FUSE mount is made in syschaos's own mount namespace (where /dev/fuse exists), cloned
// into a detached tree (open_tree OPEN_TREE_CLONE), the host mount removed at once, and the
// tree attached in the container's namespace (move_mount) by a thread that entered it.
#pragma once

#include <sys/types.h>

#include <functional>
#include <string>

#include "core/result.hpp"
#include "core/unique_fd.hpp"

namespace syschaos::fs {

// A detached copy of the mount at path (open_tree OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC).
Result<UniqueFd> clone_mount(const std::string& path);
// Attaches a detached tree on top of path, in the calling thread's mount namespace.
Result<void> attach_mount(const UniqueFd& tree, const std::string& path);
// Lazily detaches the topmost mount at path (umount2 MNT_DETACH).
Result<void> detach_mount(const std::string& path);

// A process's mount namespace and root directory. run() does work "inside the container"
// from a multi-threaded process: a short-lived thread unshares its fs attributes, enters the
// namespace (setns CLONE_NEWNS is per thread once fs is unshared) and chroots to the
// process's root, so paths resolve exactly as the container's processes see them.
class MountNamespace {
 public:
  static Result<MountNamespace> of_process(pid_t pid);
  Result<void> run(const std::function<Result<void>()>& fn) const;
  // The namespace's inode number (to tell whether two processes share it).
  ino_t inode() const { return inode_; }

 private:
  MountNamespace(UniqueFd ns, UniqueFd root, ino_t inode)
      : ns_(std::move(ns)), root_(std::move(root)), inode_(inode) {}
  UniqueFd ns_;
  UniqueFd root_;
  ino_t inode_ = 0;
};

// The mount namespace inode of a process (stat /proc/PID/ns/mnt), 0 if unreadable.
ino_t mount_namespace_inode(pid_t pid);

}  // namespace syschaos::fs
