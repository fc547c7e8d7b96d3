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
    ::signal(SIGINT, SIG_IGN);  // Ctrl-C reaches the whole process group; the server
    ::signal(SIGTERM, SIG_IGN);  // handles it and tells us "clean"
    ::signal(SIGHUP, SIG_IGN);
    ::prctl(PR_SET_NAME, "chaosfs-guard", 0, 0, 0);
    char c = 0;
    ssize_t n;
    do {
      n = ::read(r, &c, 1);
    } while (n < 0 && errno == EINTR);
    if (n == 1 && c == 'c') ::_exit(0);
    // The server died without unmounting. The kernel aborts the connection once the last
    // /dev/fuse fd closes, which may take a moment while the dying process is torn down.
    for (int i = 0; i < 50; ++i) {
      struct statfs sf;  // never answered from a cache (see chaosfs_mount_state)
      if (::statfs(mpc, &sf) != 0 && errno == ENOTCONN) {
        ::umount2(mpc, MNT_DETACH);
        ::_exit(0);
      }
      struct timespec ts{0, 100 * 1000 * 1000};
      ::nanosleep(&ts, nullptr);
    }
    ::_exit(0);
  }
  UnmountGuardian g;
  g.write_end = std::move(wr);
  g.pid = pid;
  return g;
}

}  // namespace syschaos::fs
