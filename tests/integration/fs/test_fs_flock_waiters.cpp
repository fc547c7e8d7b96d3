// flock(2) callers waiting for another process's lock must not take FUSE workers away: with
// as many waiters as workers the whole mount would hang, the LOCK_UN that ends the wait
// included. And a server stopped while callers wait must still stop.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "chaos_mount.hpp"

namespace syschaos::fstest {
namespace {

// A child process running fn; its exit code, or -1 if it did not exit within the timeout
// (then it is killed).
class Child {
 public:
  template <typename Fn>
  explicit Child(Fn fn) {
    pid_ = ::fork();
    if (pid_ == 0) _exit(fn());
  }
  ~Child() {
    // Bounded: a child stuck in a request of a hung mount dies only when the server does
    // (ChaosMount's destructor kills it); the test must fail, not hang.
    if (pid_ > 0 && !reaped_) {
      ::kill(pid_, SIGKILL);
      wait(2s);
    }
  }
  int wait(std::chrono::milliseconds timeout) {
    auto until = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < until) {
      int st = 0;
      pid_t r = ::waitpid(pid_, &st, WNOHANG);
      if (r == pid_) {
        reaped_ = true;
        return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
      }
      std::this_thread::sleep_for(10ms);
    }
    return -1;
  }

 private:
  pid_t pid_ = -1;
  bool reaped_ = false;
};

// Holds LOCK_EX on path until a byte arrives on release_fd; 0 on success.
int hold_lock(const std::string& path, int ready_fd, int release_fd) {
  int fd = ::open(path.c_str(), O_RDWR);
  if (fd < 0 || ::flock(fd, LOCK_EX) != 0) return 3;
  char c = 'r';
  if (::write(ready_fd, &c, 1) != 1) return 4;
  if (::read(release_fd, &c, 1) != 1) return 5;
  return ::flock(fd, LOCK_UN) == 0 ? 0 : 6;
}

// Waits for LOCK_EX on path; 0 once it had it.
int wait_for_lock(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDWR);
  if (fd < 0) return 3;
  if (::flock(fd, LOCK_EX) != 0) return 10 + errno;
  ::flock(fd, LOCK_UN);
  return 0;
}

// A process holding LOCK_EX on `path` until release(), and `waiters` processes waiting for it.
class HeldLockWithWaiters {
 public:
  HeldLockWithWaiters(const std::string& path, int waiters) {
    if (::pipe(ready_) != 0 || ::pipe(release_) != 0) return;
    holder_ = std::make_unique<Child>([&] { return hold_lock(path, ready_[1], release_[0]); });
    char c;
    if (::read(ready_[0], &c, 1) != 1) return;
    for (int k = 0; k < waiters; ++k) waiters_.push_back(std::make_unique<Child>([&] { return wait_for_lock(path); }));
    std::this_thread::sleep_for(500ms);  // they are now waiting for the lock
    held_ = true;
  }
  ~HeldLockWithWaiters() {
    for (int fd : {ready_[0], ready_[1], release_[0], release_[1]})
      if (fd >= 0) ::close(fd);
  }
  bool held() const { return held_; }
  bool release() { return ::write(release_[1], "u", 1) == 1; }
  Child& holder() { return *holder_; }
  std::vector<std::unique_ptr<Child>>& waiters() { return waiters_; }

 private:
  int ready_[2] = {-1, -1}, release_[2] = {-1, -1};
  bool held_ = false;
  std::unique_ptr<Child> holder_;
  std::vector<std::unique_ptr<Child>> waiters_;
};

TEST(ChaosFsFlock, WaitersDoNotTakeTheWorkersAndAllGetTheLockInTurn) {
  ChaosMount cm("flock", {"--threads", "2"});
  ASSERT_TRUE(cm.ready());
  write_text(cm.b("lock"), "");
  HeldLockWithWaiters lock(cm.m("lock"), 4);  // more waiters than FUSE workers
  ASSERT_TRUE(lock.held());
  // The mount still serves: a stat and a read answer at once (in a child: a hung mount
  // must fail the test, not hang it).
  Child prober([&] {
    struct stat st;
    if (::stat(cm.m("lock").c_str(), &st) != 0) return 3;
    write_text(cm.m("other"), "x");
    return read_text(cm.m("other")) == "x" ? 0 : 4;
  });
  EXPECT_EQ(prober.wait(10s), 0) << "the mount stopped serving while flock callers waited";
  // The holder's LOCK_UN is served, and every waiter gets the lock in turn.
  ASSERT_TRUE(lock.release());
  EXPECT_EQ(lock.holder().wait(10s), 0);
  for (auto& w : lock.waiters()) EXPECT_EQ(w->wait(10s), 0);
}

TEST(ChaosFsFlock, AServerStoppedWhileCallersWaitStopsAndUnmounts) {
  ChaosMount cm("flock-stop", {"--threads", "2"});
  ASSERT_TRUE(cm.ready());
  write_text(cm.b("lock"), "");
  HeldLockWithWaiters lock(cm.m("lock"), 3);
  ASSERT_TRUE(lock.held());
  cm.proc().signal(SIGTERM);
  EXPECT_EQ(cm.proc().wait(15s), 0) << cm.proc().err();
  EXPECT_FALSE(is_chaosfs_mounted(cm.mnt()));
  // The waiters were answered (EINTR, or the connection went away): none is left hanging.
  for (auto& w : lock.waiters()) EXPECT_NE(w->wait(10s), -1);
  ASSERT_TRUE(lock.release());
  lock.holder().wait(5s);
}

}  // namespace
}  // namespace syschaos::fstest
