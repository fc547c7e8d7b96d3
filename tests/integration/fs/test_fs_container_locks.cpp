// File locks and the re-pointing of the container mode (src/fs/container_repoint.hpp): a
// process holding a lock on the volume is refused before it is stopped (LockedFiles::kRefuse,
// what `fs inject` does); one holding a lock on the mount it would move back from is kept
// whole (kKeepProcess, the recovery from a live ChaosFS), or moved, lock or not (kMove, a dead
// ChaosFS). Real locks, taken by tests/integration/programs/fs_lock_probe.c; a bind mount of
// the directory stands in for ChaosFS (the test is about the moves, not the file system).
//
// The test runs in a mount namespace of its own, so nothing it mounts is seen by the host.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <memory>
#include <string>
#include <thread>

#include "fs/container_repoint.hpp"
#include "fs/volume_mountinfo.hpp"
#include "process_runner.hpp"

using namespace syschaos;
using namespace syschaos::fs;
using syschaos::testing::BackgroundProcess;
using syschaos::testing::eventually;
using syschaos::testing::read_file;

namespace {

std::string probe() { return std::string(TESTPROGS_DIR) + "/fs_lock_probe"; }

// "conflict" or "acquired" for a new process trying the same lock.
std::string try_lock(const std::string& file, const std::string& kind) {
  auto r = syschaos::testing::run_command({probe(), "try", file, kind});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return r.out.substr(0, r.out.find('\n'));
}

// The mount id and the fdinfo of the holder's fd of `name` (the probe opens one file only).
struct HolderFd {
  int mnt_id = -1;
  bool lock_line = false;
};
HolderFd holder_fd(pid_t pid, const std::string& name) {
  for (int fd = 0; fd < 64; ++fd) {
    std::string link = fmt::format("/proc/{}/fd/{}", pid, fd);
    char buf[4096];
    ssize_t n = ::readlink(link.c_str(), buf, sizeof buf);
    if (n <= 0 || std::string(buf, static_cast<size_t>(n)).find(name) == std::string::npos) continue;
    auto id = mount_id_of(link);
    std::string info = read_file(fmt::format("/proc/{}/fdinfo/{}", pid, fd));
    return HolderFd{id ? *id : -1, info.find("\nlock:") != std::string::npos};
  }
  return {};
}

class ContainerLocks : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ASSERT_EQ(::geteuid(), 0u) << "needs root";
    ASSERT_EQ(::unshare(CLONE_NEWNS), 0) << strerror(errno);
    ASSERT_EQ(::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr), 0) << strerror(errno);
  }
  void SetUp() override {
    char tmpl[] = "/tmp/fs-locks.XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    std::ofstream(dir_ + "/a.db") << "a";
    // The directory becomes a mount point of its own: the "volume".
    ASSERT_EQ(::mount(dir_.c_str(), dir_.c_str(), nullptr, MS_BIND, nullptr), 0) << strerror(errno);
    auto id = mount_id_of(dir_);
    ASSERT_TRUE(static_cast<bool>(id));
    volume_id_ = *id;
  }
  void TearDown() override {
    holder_.reset();
    while (::umount2(dir_.c_str(), MNT_DETACH) == 0) {
    }
    ::unlink((dir_ + "/a.db").c_str());
    ::rmdir(dir_.c_str());
  }
  // A process holding the lock on dir_/a.db, through whatever is mounted at dir_ now.
  void hold(const std::string& kind) {
    holder_ = std::make_unique<BackgroundProcess>(std::vector<std::string>{probe(), "hold", dir_ + "/a.db", kind});
    ASSERT_TRUE(eventually([&] { return holder_->out().find("locked") != std::string::npos; }, std::chrono::seconds(5)))
        << holder_->err();
  }
  // Another mount of the directory over it (ChaosFS's stand-in); returns its id.
  int mount_over() {
    EXPECT_EQ(::mount(dir_.c_str(), dir_.c_str(), nullptr, MS_BIND, nullptr), 0) << strerror(errno);
    auto id = mount_id_of(dir_);
    EXPECT_TRUE(static_cast<bool>(id));
    return id ? *id : -1;
  }

  std::string dir_;
  int volume_id_ = -1;
  std::unique_ptr<BackgroundProcess> holder_;
};

class ContainerLocksKind : public ContainerLocks, public ::testing::WithParamInterface<const char*> {};

TEST_P(ContainerLocksKind, AHolderOnTheVolumeIsRefusedUntouchedAndKeepsItsLock) {
  std::string kind = GetParam();
  hold(kind);
  RepointSpec onto{volume_id_, dir_, false};  // LockedFiles::kRefuse by default
  auto lock = held_lock(holder_->pid(), onto);
  ASSERT_TRUE(lock.has_value());
  EXPECT_NE(lock->find(dir_ + "/a.db"), std::string::npos) << *lock;
  EXPECT_NE(lock->find(kind == "flock" ? "FLOCK WRITE lock" : "POSIX WRITE lock"), std::string::npos) << *lock;
  auto why = repoint_refusal(holder_->pid(), onto);
  ASSERT_TRUE(why.has_value());
  EXPECT_NE(why->find(fmt::format("pid {} (fs_lock_probe) holds a file lock on the volume: {}/a.db", holder_->pid(), dir_)),
            std::string::npos)
      << *why;

  int over = mount_over();
  auto moved = repoint_process(holder_->pid(), onto);
  ASSERT_FALSE(static_cast<bool>(moved));
  EXPECT_EQ(moved.error().sys_errno(), ENOLCK) << moved.error().message();
  EXPECT_EQ(syschaos::testing::tracer_pid(holder_->pid()), 0);
  auto fd = holder_fd(holder_->pid(), "a.db");
  EXPECT_EQ(fd.mnt_id, volume_id_) << "moved although refused (ChaosFS's stand-in is mount " << over << ")";
  EXPECT_TRUE(fd.lock_line);
  EXPECT_EQ(try_lock(dir_ + "/a.db", kind), "conflict");
}

TEST_P(ContainerLocksKind, AHolderIsKeptWholeOnALiveMountAndMovedFromADeadOne) {
  std::string kind = GetParam();
  int over = mount_over();
  hold(kind);  // its lock is taken through the mount over the volume
  ASSERT_EQ(holder_fd(holder_->pid(), "a.db").mnt_id, over);
  ASSERT_EQ(::umount2(dir_.c_str(), MNT_DETACH), 0) << strerror(errno);  // as at the recovery

  RepointSpec back{over, dir_, true, LockedFiles::kKeepProcess};
  EXPECT_TRUE(holds_files_on(holder_->pid(), back));
  EXPECT_EQ(repoint_refusal(holder_->pid(), back), std::nullopt);  // only kRefuse refuses
  auto kept = repoint_process(holder_->pid(), back);
  ASSERT_TRUE(static_cast<bool>(kept)) << kept.error().message();
  EXPECT_FALSE(kept->stopped);
  EXPECT_NE(kept->kept.find("a.db"), std::string::npos) << kept->kept;
  EXPECT_NE(describe(*kept).find("stays on ChaosFS"), std::string::npos) << describe(*kept);
  auto fd = holder_fd(holder_->pid(), "a.db");
  EXPECT_EQ(fd.mnt_id, over);
  EXPECT_TRUE(fd.lock_line);

  // The server is dead: the lock protects nothing any more, the file moves.
  back.locked = LockedFiles::kMove;
  auto moved = repoint_process(holder_->pid(), back);
  ASSERT_TRUE(static_cast<bool>(moved)) << moved.error().message();
  EXPECT_EQ(moved->fds, 1) << describe(*moved);
  EXPECT_TRUE(moved->left.empty()) << describe(*moved);
  fd = holder_fd(holder_->pid(), "a.db");
  EXPECT_EQ(fd.mnt_id, volume_id_);
  EXPECT_FALSE(fd.lock_line);  // the new open file holds no lock, as documented
  EXPECT_FALSE(holds_files_on(holder_->pid(), back));
  EXPECT_EQ(syschaos::testing::tracer_pid(holder_->pid()), 0);
}

INSTANTIATE_TEST_SUITE_P(FcntlAndFlock, ContainerLocksKind, ::testing::Values("fcntl", "flock"));

// The up-front check of `fs inject`: a lock held throughout the grace refuses, one that goes
// within it (a transaction's) does not.
TEST_F(ContainerLocks, OnlyALockHeldThroughoutTheGraceRefuses) {
  hold("fcntl");
  RepointSpec onto{volume_id_, dir_, false};
  pid_t pid = holder_->pid();
  auto procs = [&] { return std::vector<pid_t>{pid}; };
  auto t0 = std::chrono::steady_clock::now();
  auto why = refusal_among(procs, onto, std::chrono::milliseconds(300));
  ASSERT_TRUE(why.has_value());
  EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(300));
  EXPECT_NE(why->find("holds a file lock on the volume"), std::string::npos) << *why;

  // The holder goes 200 ms into a 2 s grace: no refusal, and no wait for the rest of it.
  std::thread ender([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    holder_->signal(SIGKILL);
    holder_->wait();
  });
  t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(refusal_among(procs, onto, std::chrono::milliseconds(2000)), std::nullopt);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(1500));
  ender.join();
}

// A flock ChaosFS forwards is held by its server on the backing file: the process only has
// the file open. Its inode in locked_inodes makes it a lock holder all the same.
TEST_F(ContainerLocks, AFileInLockedInodesKeepsItsProcess) {
  int over = mount_over();
  BackgroundProcess reader({"/bin/sh", "-c", fmt::format("exec sleep 1000 < {}/a.db", dir_)});
  ASSERT_TRUE(eventually([&] { return holder_fd(reader.pid(), "a.db").mnt_id == over; }, std::chrono::seconds(5)));
  ASSERT_EQ(::umount2(dir_.c_str(), MNT_DETACH), 0) << strerror(errno);
  struct stat st {};
  ASSERT_EQ(::stat((dir_ + "/a.db").c_str(), &st), 0);

  RepointSpec back{over, dir_, true, LockedFiles::kKeepProcess, {static_cast<uint64_t>(st.st_ino)}};
  auto lock = held_lock(reader.pid(), back);
  ASSERT_TRUE(lock.has_value());
  EXPECT_NE(lock->find("lock held through ChaosFS"), std::string::npos) << *lock;
  auto kept = repoint_process(reader.pid(), back);
  ASSERT_TRUE(static_cast<bool>(kept)) << kept.error().message();
  EXPECT_FALSE(kept->kept.empty());
  EXPECT_EQ(holder_fd(reader.pid(), "a.db").mnt_id, over);

  back.locked_inodes.clear();  // no lock anywhere: an ordinary move
  auto moved = repoint_process(reader.pid(), back);
  ASSERT_TRUE(static_cast<bool>(moved)) << moved.error().message();
  EXPECT_TRUE(moved->kept.empty());
  EXPECT_EQ(moved->fds, 1) << describe(*moved);
  EXPECT_EQ(holder_fd(reader.pid(), "a.db").mnt_id, volume_id_);
}

}  // namespace
