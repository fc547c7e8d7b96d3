// A ChaosFS mount never stays broken: SIGTERM/SIGINT unmount cleanly; after SIGKILL the
// unmount guardian removes the dead mount; without the guardian, `syschaos fs recover`
// or the next `fs mount` on the same mountpoint does.
#include <gtest/gtest.h>

#include "chaos_mount.hpp"

namespace syschaos::fstest {
namespace {

int stat_errno(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 ? 0 : errno;
}

TEST(ChaosFsRecovery, SigtermAndSigintUnmountCleanly) {
  for (int sig : {SIGTERM, SIGINT}) {
    ChaosMount cm("term");
    ASSERT_TRUE(cm.ready());
    // A delayed request in flight is answered, not dropped, when the server stops.
    ASSERT_TRUE(cm.replace("faults:\n  - methods: [open]\n    latency: 2s\n"));
    write_text(cm.b("f"), "x");
    std::thread opener([&] { EXPECT_EQ(try_open(cm.m("f")), 0); });
    std::this_thread::sleep_for(200ms);
    cm.proc().signal(sig);
    EXPECT_EQ(cm.proc().wait(10s), 0) << cm.proc().err();
    opener.join();
    EXPECT_FALSE(is_chaosfs_mounted(cm.mnt()));
    EXPECT_EQ(stat_errno(cm.mnt()), 0);
    EXPECT_NE(cm.proc().err().find("unmounted"), std::string::npos);
    // The control socket file is gone too.
    EXPECT_NE(::access((cm.root() + "/control.sock").c_str(), F_OK), 0);
  }
}

TEST(ChaosFsRecovery, GuardianUnmountsAfterSigkill) {
  ChaosMount cm("kill");
  ASSERT_TRUE(cm.ready());
  write_text(cm.b("f"), "x");
  EXPECT_EQ(read_text(cm.m("f")), "x");
  cm.proc().signal(SIGKILL);
  cm.proc().wait(10s);
  // Without help the mountpoint would fail with ENOTCONN forever.
  EXPECT_TRUE(eventually([&] { return !is_chaosfs_mounted(cm.mnt()); }, 10s));
  EXPECT_EQ(stat_errno(cm.mnt()), 0);
  // The backing data is intact, and a new mount on the same mountpoint works.
  EXPECT_EQ(read_text(cm.b("f")), "x");
}

TEST(ChaosFsRecovery, RecoverCommandAndRemountAfterSigkillWithoutGuardian) {
  ChaosMount cm("noguard", {"--no-unmount-guardian"});
  ASSERT_TRUE(cm.ready());
  write_text(cm.b("f"), "data");
  cm.proc().signal(SIGKILL);
  cm.proc().wait(10s);
  ASSERT_TRUE(eventually([&] { return stat_errno(cm.mnt()) == ENOTCONN; }, 5s));
  EXPECT_TRUE(is_chaosfs_mounted(cm.mnt()));
  auto r = run_command({SYSCHAOS_BIN, "fs", "recover", "--mountpoint", cm.mnt()}, 10s);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_FALSE(is_chaosfs_mounted(cm.mnt()));
  EXPECT_EQ(stat_errno(cm.mnt()), 0);
  // Nothing to do the second time.
  r = run_command({SYSCHAOS_BIN, "fs", "recover", "--mountpoint", cm.mnt()}, 10s);
  EXPECT_EQ(r.exit_code, 0) << r.err;

  // Again dead; this time the next mount finds and replaces the dead mount by itself.
  {
    ChaosMount second("noguard2", {"--no-unmount-guardian"});
    ASSERT_TRUE(second.ready());
    second.proc().signal(SIGKILL);
    second.proc().wait(10s);
    ASSERT_TRUE(eventually([&] { return stat_errno(second.mnt()) == ENOTCONN; }, 5s));
    BackgroundProcess again({SYSCHAOS_BIN, "fs", "mount", "--backing", second.backing(), "--mountpoint",
                             second.mnt()});
    EXPECT_TRUE(eventually([&] { return is_chaosfs_mounted(second.mnt()) && stat_errno(second.mnt()) == 0; }, 10s));
    write_text(second.m("new"), "through the new mount");
    EXPECT_EQ(read_text(second.b("new")), "through the new mount");
    again.signal(SIGTERM);
    EXPECT_EQ(again.wait(10s), 0);
    EXPECT_FALSE(is_chaosfs_mounted(second.mnt()));
  }
}

TEST(ChaosFsRecovery, RecoverRefusesLiveAndForeignMounts) {
  ChaosMount cm("live");
  ASSERT_TRUE(cm.ready());
  auto r = run_command({SYSCHAOS_BIN, "fs", "recover", "--mountpoint", cm.mnt()}, 10s);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("live"), std::string::npos) << r.err;
  EXPECT_TRUE(is_chaosfs_mounted(cm.mnt()));
  EXPECT_EQ(stat_errno(cm.mnt()), 0);
  r = run_command({SYSCHAOS_BIN, "fs", "recover", "--mountpoint", "/proc"}, 10s);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(stat_errno("/proc/self"), 0);
}

}  // namespace
}  // namespace syschaos::fstest
