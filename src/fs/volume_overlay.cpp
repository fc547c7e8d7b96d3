#include "fs/volume_overlay.hpp"

#include <fcntl.h>
#include <linux/mount.h>
#include <sched.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <thread>

namespace syschaos::fs {

// glibc's wrappers for the new mount API clash with <linux/mount.h>; the raw calls are
// simple enough.
Result<UniqueFd> clone_mount(const std::string& path) {
  int fd = static_cast<int>(::syscall(SYS_open_tree, AT_FDCWD, path.c_str(),
                                      OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC));
  if (fd < 0) return Error::sys("open_tree(OPEN_TREE_CLONE) " + path);
  return UniqueFd(fd);
}

Result<void> attach_mount(const UniqueFd& tree, const std::string& path) {
  if (::syscall(SYS_move_mount, tree.get(), "", AT_FDCWD, path.c_str(), MOVE_MOUNT_F_EMPTY_PATH) != 0)
    return Error::sys("move_mount onto " + path);
  return ok();
}

Result<void> detach_mount(const std::string& path) {
  constexpr int kMntDetach = 2, kUmountNoFollow = 8;  // <sys/mount.h>, which clashes too
  if (::syscall(SYS_umount2, path.c_str(), kMntDetach | kUmountNoFollow) != 0)
    return Error::sys("umount2(MNT_DETACH) " + path);
  return ok();
}

ino_t mount_namespace_inode(pid_t pid) {
  struct stat st {};
  if (::stat(fmt::format("/proc/{}/ns/mnt", pid).c_str(), &st) != 0) return 0;
  return st.st_ino;
}

Result<MountNamespace> MountNamespace::of_process(pid_t pid) {
  UniqueFd ns(::open(fmt::format("/proc/{}/ns/mnt", pid).c_str(), O_RDONLY | O_CLOEXEC));
  if (!ns) return Error::sys(fmt::format("open /proc/{}/ns/mnt", pid));
  UniqueFd root(::open(fmt::format("/proc/{}/root", pid).c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!root) return Error::sys(fmt::format("open /proc/{}/root", pid));
  struct stat st {};
  if (::fstat(ns.get(), &st) != 0) return Error::sys("fstat mount namespace");
  return MountNamespace(std::move(ns), std::move(root), st.st_ino);
}

Result<void> MountNamespace::run(const std::function<Result<void>()>& fn) const {
  Result<void> result = Error("namespace thread did not run");
  std::thread t([&] {
    // The thread's own fs attributes (root, cwd): setns(CLONE_NEWNS) refuses a thread that
    // shares them, and the chroot below must not move the rest of the process.
    if (::unshare(CLONE_FS) != 0) {
      result = Error::sys("unshare(CLONE_FS)");
      return;
    }
    if (::setns(ns_.get(), CLONE_NEWNS) != 0) {
      result = Error::sys("setns(CLONE_NEWNS)");
      return;
    }
    if (::fchdir(root_.get()) != 0 || ::chroot(".") != 0 || ::chdir("/") != 0) {
      result = Error::sys("chroot to the container's root");
      return;
    }
    result = fn();
  });
  t.join();
  return result;
}

}  // namespace syschaos::fs
