// Dead ChaosFS mounts: when the FUSE server process dies without unmounting (SIGKILL), the
// kernel aborts the connection and every access to the mountpoint fails with ENOTCONN
// ("Transport endpoint is not connected") until someone unmounts it. Three defences:
//   * the unmount guardian: a tiny process forked at mount time, in a session of its own (a
//     SIGKILL of the server's process group spares it), that waits on a pipe; if the server
//     dies without saying "clean", it lazily unmounts the dead mount (polling for up to a
//     minute while a /dev/fuse fd that lives on elsewhere keeps the connection open);
//   * ChaosFs::mount() replaces a dead ChaosFS mount found at its mountpoint;
//   * `syschaos fs recover --mountpoint DIR` does the same by hand.
// Only mounts of type fuse.syschaos whose connection is dead are ever unmounted.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>

#include "core/result.hpp"
#include "core/unique_fd.hpp"

namespace syschaos::fs {

inline constexpr const char* kChaosFsType = "fuse.syschaos";

struct MountEntry {
  std::string mount_point;
  std::string fs_type;
  std::string source;
};

// The topmost mount at exactly `path` in /proc/self/mountinfo (path as written there;
// octal escapes decoded), or nullopt.
Result<std::optional<MountEntry>> find_mount(const std::string& path);

// An absolute, symlink-free form of `path` that works even when `path` itself is a dead
// mount (its parent is resolved, the last component appended).
Result<std::string> resolve_mountpoint(const std::string& path);

enum class MountState { kNotMounted, kAlive, kDead, kOtherFs };
// kOtherFs: something that is not ChaosFS is mounted there.
Result<MountState> chaosfs_mount_state(const std::string& abs_path);

// Lazily unmounts a dead ChaosFS mount at abs_path (umount2 MNT_DETACH). Returns true if
// one was unmounted, false if there was none; an error if the mount is alive or not ours.
Result<bool> recover_dead_mount(const std::string& abs_path);

// The guardian. Call while the process is single-threaded, before mounting. The returned
// fd is the write end: write one byte 'c' to it after a clean unmount; if the process dies
// first, the guardian unmounts the dead mount and exits.
struct UnmountGuardian {
  UniqueFd write_end;
  pid_t pid = -1;
  void release_clean();  // the clean-unmount byte; the guardian exits
};
Result<UnmountGuardian> start_unmount_guardian(const std::string& abs_mountpoint);

}  // namespace syschaos::fs
