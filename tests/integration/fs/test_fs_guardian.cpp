// The unmount guardian of a standalone ChaosFS mount, in the ways a SIGKILL really happens:
// to the whole process group (a shell's job kill, `timeout -s KILL`, an experiment stopping
// its service), with requests in flight and the mountpoint busy, and with the /dev/fuse fd
// living on in another process for a while. Each time the mount must end up removed, never
// left failing with ENOTCONN.
#include <dirent.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <gtest/gtest.h>

#include "chaos_mount.hpp"

namespace syschaos::fstest {
namespace {

int stat_errno(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 ? 0 : errno;
}

// A child process that runs `body` and exits with its return value; killed and reaped by
// the destructor if still running.
class Child {
 public:
  explicit Child(const std::function<int()>& body) {
    pid_ = ::fork();
    if (pid_ == 0) ::_exit(body());
  }
  ~Child() {
    if (pid_ > 0 && !reaped_) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  // The exit code once it has exited within `timeout`, -1 otherwise.
  int wait(std::chrono::milliseconds timeout) {
    int code = -1;
    eventually([&] {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) != pid_) return false;
      reaped_ = true;
      code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      return true;
    }, timeout);
    return code;
  }
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  bool reaped_ = false;
};

// The fd numbers of /dev/fuse in process pid.
std::vector<int> fuse_fds_of(pid_t pid) {
  std::vector<int> fds;
  std::string dir = "/proc/" + std::to_string(pid) + "/fd";
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    std::error_code ec;
    if (std::filesystem::read_symlink(e.path(), ec) == "/dev/fuse") fds.push_back(std::stoi(e.path().filename()));
  }
  return fds;
}

TEST(ChaosFsGuardian, UnmountsAfterSigkillOfTheWholeProcessGroup) {
  // ChaosMount's server leads a process group of its own, the guardian is its child: on
  // the old code `kill -9 -PGID` killed both and left the dead mount.
  ChaosMount cm("pgkill");
  ASSERT_TRUE(cm.ready());
  write_text(cm.b("f"), "x");
  EXPECT_EQ(read_text(cm.m("f")), "x");
  ASSERT_EQ(::kill(-cm.proc().pid(), SIGKILL), 0);
  cm.proc().wait(10s);
  EXPECT_TRUE(eventually([&] { return !is_chaosfs_mounted(cm.mnt()); }, 10s));
  EXPECT_EQ(stat_errno(cm.mnt()), 0);
  EXPECT_EQ(read_text(cm.b("f")), "x");
}

TEST(ChaosFsGuardian, UnmountsPromptlyWithRequestsInFlightAndABusyMountpoint) {
  // A read held in the server by a 30 s latency rule when the server dies, and a process
  // whose working directory is the mountpoint (a plain umount would say EBUSY). The kernel
  // aborts the connection as the server's fds close, which ends the request in flight: the
  // guardian sees ENOTCONN at once, far inside its first seconds.
  ChaosMount cm("inflight", {}, "faults:\n  - methods: [read]\n    path: 'slow'\n    latency: 30s\n");
  ASSERT_TRUE(cm.ready());
  write_text(cm.b("slow"), "data");
  const std::string slow = cm.m("slow");
  Child reader([&] {
    int fd = ::open(slow.c_str(), O_RDONLY);
    if (fd < 0) return 10;
    char buf[16];
    ssize_t n = ::read(fd, buf, sizeof buf);
    return n >= 0 ? 0 : (errno == ENOTCONN || errno == ECONNABORTED ? 1 : 2);
  });
  const std::string mnt = cm.mnt();
  Child dweller([&] {
    if (::chdir(mnt.c_str()) != 0) return 10;
    ::pause();
    return 0;
  });
  // The read is in the server, waiting for its latency.
  ASSERT_EQ(reader.wait(500ms), -1) << "the read was not held";
  EXPECT_EQ(::umount2(cm.mnt().c_str(), 0), -1);
  EXPECT_EQ(errno, EBUSY);

  auto t0 = std::chrono::steady_clock::now();
  cm.proc().signal(SIGKILL);
  EXPECT_TRUE(eventually([&] { return !is_chaosfs_mounted(cm.mnt()); }, 4s))
      << "still mounted " << ms_since(t0) << " ms after the SIGKILL";
  // The request in flight ended with the connection's abort, not with its 30 s latency.
  EXPECT_EQ(reader.wait(4s), 1);
  EXPECT_EQ(stat_errno(cm.mnt()), 0);
  EXPECT_EQ(read_text(cm.b("slow")), "data");
}

TEST(ChaosFsGuardian, WaitsWhileAnotherProcessHoldsTheFuseDevice) {
  // A copy of the server's /dev/fuse fd in another process keeps the connection open after
  // the server's death: the mount hangs (nobody answers) instead of failing, until that copy
  // closes. The guardian must still be there then and unmount.
  ChaosMount cm("holder");
  ASSERT_TRUE(cm.ready());
  pid_t server = cm.proc().pid();
  auto fds = fuse_fds_of(server);
  ASSERT_FALSE(fds.empty());
  const int remote_fd = fds.front();
  int ready_pipe[2];
  ASSERT_EQ(::pipe(ready_pipe), 0);
  Child holder([&] {
    int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, server, 0));
    int copy = pidfd < 0 ? -1 : static_cast<int>(::syscall(SYS_pidfd_getfd, pidfd, remote_fd, 0));
    char c = copy >= 0 ? 'y' : 'n';
    (void)!::write(ready_pipe[1], &c, 1);
    if (copy < 0) return 10;
    // Longer than the old guardian's 5 s of polling: its statfs waited in the kernel meanwhile.
    struct timespec ts {6, 0};  // the connection outlives the server by 6 s
    ::nanosleep(&ts, nullptr);
    return 0;  // exit closes the copy: the kernel aborts the connection now
  });
  ::close(ready_pipe[1]);
  char c = 0;
  ASSERT_EQ(::read(ready_pipe[0], &c, 1), 1);
  ::close(ready_pipe[0]);
  ASSERT_EQ(c, 'y') << "pidfd_getfd of the server's /dev/fuse fd failed";

  cm.proc().signal(SIGKILL);
  cm.proc().wait(10s);
  // Still mounted while the copy lives (the connection is alive, only unanswered).
  std::this_thread::sleep_for(1s);
  EXPECT_TRUE(is_chaosfs_mounted(cm.mnt()));
  EXPECT_EQ(holder.wait(10s), 0);
  EXPECT_TRUE(eventually([&] { return !is_chaosfs_mounted(cm.mnt()); }, 10s));
  EXPECT_EQ(stat_errno(cm.mnt()), 0);
}

}  // namespace
}  // namespace syschaos::fstest
