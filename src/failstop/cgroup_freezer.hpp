// CgroupFreezer: stops and resumes every task of one cgroup at once, through the kernel's
// freezer — cgroup v2's cgroup.freeze or cgroup v1's freezer.state. Frozen tasks keep their
// sockets open and the kernel keeps ACKing what is already in flight, but the application
// sends nothing and answers nothing: to a peer it is a process that stopped executing.
#pragma once

#include <chrono>
#include <string>

#include "core/result.hpp"

namespace syschaos::failstop {

enum class FreezerKind { kV2, kV1 };

class CgroupFreezer {
 public:
  // `dir` is a v2 cgroup directory (has cgroup.freeze) or a directory of the v1 freezer
  // hierarchy (has freezer.state). Error when it is neither, or is a root cgroup (the
  // kernel cannot freeze a root cgroup, and freezing everything is never what is meant).
  static Result<CgroupFreezer> open(const std::string& dir);
  // With a kind given explicitly (the state file records it).
  CgroupFreezer(std::string dir, FreezerKind kind) : dir_(std::move(dir)), kind_(kind) {}

  const std::string& dir() const { return dir_; }
  FreezerKind kind() const { return kind_; }

  // Asks the kernel to freeze and waits (up to `timeout`) until every task is frozen.
  Result<void> freeze(std::chrono::milliseconds timeout = std::chrono::seconds(5));
  // Thaws; idempotent; a cgroup that has gone (ENOENT/ENODEV) counts as thawed.
  Result<void> thaw();
  // True when the kernel reports the cgroup completely frozen.
  Result<bool> frozen() const;

 private:
  std::string dir_;
  FreezerKind kind_;
};

// Writes `value` to a cgroup control file (a single write, as the kernel wants).
Result<void> write_cgroup_file(const std::string& path, std::string_view value);

}  // namespace syschaos::failstop
