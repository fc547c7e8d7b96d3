#include "failstop/cgroup_freezer.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <thread>

#include "core/unique_fd.hpp"
#include "target/proc_files.hpp"

namespace syschaos::failstop {

namespace {

bool file_exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

// "frozen 1" in cgroup.events (v2), "FROZEN" in freezer.state (v1).
Result<bool> read_frozen(const std::string& dir, FreezerKind kind) {
  if (kind == FreezerKind::kV2) {
    auto text = read_text_file(dir + "/cgroup.events");
    if (!text) return text.error();
    return text->find("frozen 1") != std::string::npos;
  }
  auto text = read_text_file(dir + "/freezer.state");
  if (!text) return text.error();
  return text->starts_with("FROZEN");
}

bool vanished(int err) { return err == ENOENT || err == ENODEV; }

}  // namespace

Result<void> write_cgroup_file(const std::string& path, std::string_view value) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd) return Error::sys("open " + path);
  ssize_t n = ::write(fd.get(), value.data(), value.size());
  if (n < 0) return Error::sys(fmt::format("write '{}' to {}", value, path));
  if (static_cast<size_t>(n) != value.size())
    return Error(fmt::format("short write of '{}' to {}", value, path));
  return ok();
}

Result<CgroupFreezer> CgroupFreezer::open(const std::string& dir) {
  if (file_exists(dir + "/cgroup.freeze")) return CgroupFreezer(dir, FreezerKind::kV2);
  if (file_exists(dir + "/freezer.state")) return CgroupFreezer(dir, FreezerKind::kV1);
  if (file_exists(dir + "/cgroup.procs")) {
    // Root cgroups have neither file: v2's root has no cgroup.freeze, v1's root freezer has
    // no freezer.state. Other v1 hierarchies (memory, pids) cannot freeze at all.
    if (file_exists(dir + "/cgroup.subtree_control") || file_exists(dir + "/freezer.self_freezing") ||
        file_exists(dir + "/release_agent"))
      return Error(fmt::format("{} is a root cgroup: syschaos never freezes a whole hierarchy", dir));
    return Error(fmt::format("{} is in a cgroup v1 hierarchy without the freezer controller", dir));
  }
  return Error(fmt::format("{} is not a cgroup directory", dir));
}

Result<void> CgroupFreezer::freeze(std::chrono::milliseconds timeout) {
  if (kind_ == FreezerKind::kV2)
    SYSCHAOS_TRY(write_cgroup_file(dir_ + "/cgroup.freeze", "1"));
  else
    SYSCHAOS_TRY(write_cgroup_file(dir_ + "/freezer.state", "FROZEN"));
  // Freezing is asynchronous: tasks stop at their next return to user space (or inside
  // an interruptible sleep). The cgroup reports "frozen" once all have.
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto f = read_frozen(dir_, kind_);
    if (!f) return f.error();
    if (*f) return ok();
    if (std::chrono::steady_clock::now() > deadline)
      return Error(fmt::format("{}: not all tasks froze within {} ms", dir_, timeout.count()));
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

Result<void> CgroupFreezer::thaw() {
  auto r = kind_ == FreezerKind::kV2 ? write_cgroup_file(dir_ + "/cgroup.freeze", "0")
                                     : write_cgroup_file(dir_ + "/freezer.state", "THAWED");
  if (!r && vanished(r.error().sys_errno())) return ok();
  return r;
}

Result<bool> CgroupFreezer::frozen() const { return read_frozen(dir_, kind_); }

}  // namespace syschaos::failstop
