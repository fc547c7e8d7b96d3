#include "fs/mount_recovery.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/magic.h>

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <vector>

namespace syschaos::fs {

namespace {

// mountinfo escapes ' ', '\t', '\n' and '\\' as \ooo.
std::string unescape(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size()) {
      int v = 0;
      bool okd = true;
      for (int k = 1; k <= 3; ++k) {
        char c = s[i + k];
        if (c < '0' || c > '7') { okd = false; break; }
        v = v * 8 + (c - '0');
      }
      if (okd) {
        out += static_cast<char>(v);
        i += 3;
        continue;
      }
    }
    out += s[i];
  }
  return out;
}

}  // namespace

Result<std::optional<MountEntry>> find_mount(const std::string& path) {
  std::ifstream in("/proc/self/mountinfo");
  if (!in) return Error::sys("open /proc/self/mountinfo");
  std::optional<MountEntry> found;
  std::string line;
  while (std::getline(in, line)) {
    // id parent major:minor root mount_point options [optional...] - fstype source super
    std::istringstream ss(line);
    std::vector<std::string> f;
    std::string w;
    while (ss >> w) f.push_back(w);
    if (f.size() < 7) continue;
    size_t dash = 6;
    while (dash < f.size() && f[dash] != "-") ++dash;
    if (dash + 2 >= f.size()) continue;
    std::string mp = unescape(f[4]);
    if (mp != path) continue;
    // Later lines are mounted on top of earlier ones: keep the last.
    found = MountEntry{mp, f[dash + 1], unescape(f[dash + 2])};
  }
  return found;
}

Result<std::string> resolve_mountpoint(const std::string& path) {
  if (path.empty()) return Error("empty mountpoint");
  std::string p = path;
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  char buf[PATH_MAX];
  if (::realpath(p.c_str(), buf)) return std::string(buf);
  if (errno != ENOTCONN) return Error::sys(fmt::format("realpath {}", path));
  // The last component is a dead mount: resolve the parent, append the name.
  auto slash = p.rfind('/');
  std::string parent = slash == std::string::npos ? "." : (slash == 0 ? "/" : p.substr(0, slash));
  std::string name = slash == std::string::npos ? p : p.substr(slash + 1);
  if (!::realpath(parent.c_str(), buf)) return Error::sys(fmt::format("realpath {}", parent));
  std::string out = buf;
  return out == "/" ? "/" + name : out + "/" + name;
}

Result<MountState> chaosfs_mount_state(const std::string& abs_path) {
  auto m = find_mount(abs_path);
  if (!m) return m.error();
  if (!*m) return MountState::kNotMounted;
  if ((*m)->fs_type != kChaosFsType) return MountState::kOtherFs;
  // statfs, not stat: the kernel answers stat from its attribute cache for up to a second
  // after the server died, while STATFS is never cached and reaches the connection.
  struct statfs sf;
  if (::statfs(abs_path.c_str(), &sf) != 0 && errno == ENOTCONN) return MountState::kDead;
  return MountState::kAlive;
}

Result<bool> recover_dead_mount(const std::string& abs_path) {
  auto state = chaosfs_mount_state(abs_path);
  if (!state) return state.error();
  switch (*state) {
    case MountState::kNotMounted:
      return false;
    case MountState::kOtherFs:
      return Error(fmt::format("{} is a mount of another file system, not ChaosFS", abs_path));
    case MountState::kAlive:
      return Error(fmt::format("{} is a live ChaosFS mount (stop its server to unmount it)", abs_path));
    case MountState::kDead:
      break;
  }
  if (::umount2(abs_path.c_str(), MNT_DETACH) != 0)
    return Error::sys(fmt::format("umount2 {} (MNT_DETACH)", abs_path));
  return true;
}

void UnmountGuardian::release_clean() {
  if (write_end.valid()) {
    char c = 'c';
    ssize_t n = ::write(write_end.get(), &c, 1);
    (void)n;
    write_end.reset();
  }
  if (pid > 0) {
    ::waitpid(pid, nullptr, 0);
    pid = -1;
  }
}

Result<UnmountGuardian> start_unmount_guardian(const std::string& abs_mountpoint) {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) return Error::sys("pipe2");
  UniqueFd rd(p[0]), wr(p[1]);
  // Everything the child needs is prepared before fork: after fork it only makes system
  // calls (the parent may have other threads holding malloc's lock).
  std::string mp = abs_mountpoint;
  const char* mpc = mp.c_str();
  pid_t pid = ::fork();
  if (pid < 0) return Error::sys("fork (unmount guardian)");
  if (pid == 0) {
    int r = rd.get();
    // Hold nothing of the parent's: no FUSE fd (none is open yet), no sockets, no write end.
    if (r > 3) ::syscall(SYS_close_range, 3u, static_cast<unsigned>(r - 1), 0u);
    ::syscall(SYS_close_range, static_cast<unsigned>(r + 1), ~0u, 0u);
    // A session of its own: `kill -9 -PGID` (a shell's job kill, `timeout -s KILL`, an
    // experiment stopping its service's group) must not take the guardian down with the
    // server it guards, or the dead mount it exists for stays behind. A cgroup-wide kill
    // (systemd, cgroup.kill) still reaches it: `syschaos fs recover` is for that case.
    ::setsid();
    ::signal(SIGINT, SIG_IGN);   // a terminal's signals no longer reach it (other session);
    ::signal(SIGTERM, SIG_IGN);  // a direct SIGTERM/SIGHUP must not either: the server
    ::signal(SIGHUP, SIG_IGN);   // handles those and tells us "clean"
    ::prctl(PR_SET_NAME, "chaosfs-guard", 0, 0, 0);
    char c = 0;
    ssize_t n;
    do {
      n = ::read(r, &c, 1);
    } while (n < 0 && errno == EINTR);
    if (n == 1 && c == 'c') ::_exit(0);
    // The server died without unmounting. Our end of the pipe and its /dev/fuse fds close in
    // the same teardown of its fd table (both are O_CLOEXEC, so every holder of one holds the
    // other), and the kernel aborts the connection as the last /dev/fuse fd goes: normally
    // the first statfs already fails with ENOTCONN, requests in flight included (the abort
    // ends them). The patience is for a /dev/fuse fd that lives on elsewhere (passed to or
    // inherited by another process): statfs then waits in the kernel like any access to the
    // mount until that fd closes, and the abort wakes it with ECONNABORTED; or it answers,
    // if that process serves the mount. So: poll with backoff for up to a minute, unmount
    // (lazily: a busy mount cannot refuse that) on ENOTCONN, retry a failed umount2, stop
    // early once there is no FUSE mount there any more (`fs recover` was faster). A live
    // mount found there (served by that other process, or a new `fs mount` that replaced
    // the dead one) answers statfs and is never unmounted.
    constexpr long kPatienceMs = 60'000;
    long waited_ms = 0;
    long step_ms = 10;
    for (;;) {
      struct statfs sf;  // never answered from a cache (see chaosfs_mount_state)
      if (::statfs(mpc, &sf) != 0) {
        if (errno == ENOTCONN && ::umount2(mpc, MNT_DETACH) == 0) ::_exit(0);
      } else if (sf.f_type != FUSE_SUPER_MAGIC) {
        ::_exit(0);  // no FUSE mount at the mountpoint any more
      }
      if (waited_ms >= kPatienceMs) ::_exit(1);
      struct timespec ts{step_ms / 1000, (step_ms % 1000) * 1000 * 1000};
      ::nanosleep(&ts, nullptr);
      waited_ms += step_ms;
      step_ms = std::min(step_ms * 2, 1000L);
    }
  }
  UnmountGuardian g;
  g.write_end = std::move(wr);
  g.pid = pid;
  return g;
}

}  // namespace syschaos::fs
