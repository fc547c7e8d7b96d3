// A process's view of its mounts (/proc/PID/mountinfo) and the mount ids of the files it
// uses, which is how the container mode tells "on the volume" from "elsewhere": two files
// are on the same mount exactly when statx(STATX_MNT_ID) gives the same id, whatever path
// the process or syschaos sees them under.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "core/result.hpp"

namespace syschaos::fs {

struct MountInfoEntry {
  int id = -1;
  int parent = -1;
  std::string root;         // the directory of the file system mounted here ("/" or a subdir)
  std::string mount_point;  // as the process sees it, octal escapes decoded
  std::string options;      // per-mount options ("rw,nosuid,...")
  std::string propagation;  // optional fields: "shared:5 master:1", empty for private
  std::string fs_type;
  std::string source;
  bool read_only() const;
  bool shared() const { return propagation.find("shared:") != std::string::npos; }
};

// Parses the text of a mountinfo file; bad lines are an error naming the line.
Result<std::vector<MountInfoEntry>> parse_mountinfo(const std::string& text);
Result<std::vector<MountInfoEntry>> read_mountinfo(pid_t pid);

// The mount id of the file a path names (statx STATX_MNT_ID; follows /proc magic links, so
// "/proc/PID/fd/3", "/proc/PID/cwd", "/proc/PID/map_files/..." all work).
Result<int> mount_id_of(const std::string& path);

// The topmost mount whose mount point is exactly `path`, or nullopt.
std::optional<MountInfoEntry> topmost_mount_at(const std::vector<MountInfoEntry>& mounts,
                                               const std::string& path);
const MountInfoEntry* mount_by_id(const std::vector<MountInfoEntry>& mounts, int id);

}  // namespace syschaos::fs
