// `fs mount --passthrough`: files no rule touches when they are opened are read and written
// by the kernel straight from the backing file (FUSE passthrough, Linux 6.9+); the rest go
// through ChaosFS. What a user can observe, and what each test checks:
//   * an open passthrough file does not see read rules added after its open (a read of
//     bytes never read before succeeds), until every descriptor of it is closed; the one
//     who adds the rule is told so;
//   * a file a rule touches at open is served by ChaosFS, and opens of one file in both
//     modes never fail (the kernel refuses mixed modes with EIO: ChaosFS must not send them);
//   * writes, O_APPEND, mmap, truncate and fsync reach the backing file; rules on other
//     methods (fsync) still apply to passthrough files;
//   * a backing file the kernel will not stack on (overlayfs) is served by ChaosFS.
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/mount.h>

#include <random>

#include "chaos_mount.hpp"

namespace syschaos::fstest {
namespace {

constexpr size_t kFileSize = 1 << 20;

std::string random_bytes(size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng());
  return s;
}

// pread of n bytes at off: the bytes, or the errno as "errno N".
std::string pread_or_errno(int fd, size_t n, off_t off) {
  std::string buf(n, '\0');
  ssize_t r = ::pread(fd, buf.data(), n, off);
  if (r < 0) return "errno " + std::to_string(errno);
  buf.resize(static_cast<size_t>(r));
  return buf;
}

// Whether a read failed with this errno (failure messages do not print the bytes).
::testing::AssertionResult read_failed_with(const std::string& got, int err) {
  if (got == "errno " + std::to_string(err)) return ::testing::AssertionSuccess();
  if (got.rfind("errno ", 0) == 0) return ::testing::AssertionFailure() << "the read failed otherwise: " << got;
  return ::testing::AssertionFailure() << "the read succeeded (" << got.size() << " bytes)";
}

// Whether a read gave exactly these bytes (failure messages name the error, not the bytes).
::testing::AssertionResult read_gave(const std::string& got, const std::string& want) {
  if (got == want) return ::testing::AssertionSuccess();
  if (got.rfind("errno ", 0) == 0) return ::testing::AssertionFailure() << "the read failed: " << got;
  return ::testing::AssertionFailure() << "the read gave " << got.size() << " other bytes";
}

const std::string kReadEio = "faults:\n  - methods: [read]\n    fault: EIO\n";

// Bytes at this offset were never read (nor read ahead: the kernel reads ahead at most
// 128 KiB after a 4 KiB read at 0), so reading them needs the backing file.
constexpr off_t kFar = 900 * 1024;

TEST(ChaosFsKernelPassthrough, AnOpenFileBypassesRulesAddedAfterItsOpenUntilReopened) {
  for (bool passthrough : {false, true}) {
    SCOPED_TRACE(passthrough ? "--passthrough" : "served by ChaosFS");
    ChaosMount cm(passthrough ? "kpt-open" : "kpt-served",
                  passthrough ? std::vector<std::string>{"--passthrough"} : std::vector<std::string>{});
    ASSERT_TRUE(cm.ready());
    std::string data = random_bytes(kFileSize, 1);
    write_text(cm.b("data"), data);
    int fd = ::open(cm.m("data").c_str(), O_RDONLY);
    ASSERT_GE(fd, 0);
    ASSERT_TRUE(read_gave(pread_or_errno(fd, 4096, 0), data.substr(0, 4096)));

    std::string path = cm.root() + "/eio.yaml";
    write_text(path, kReadEio);
    auto r = cm.rules({"replace", path});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    if (!passthrough) {
      // The control: through ChaosFS, the new rule reaches the open file's next READ.
      EXPECT_EQ(r.err.find("passthrough"), std::string::npos) << r.err;
      EXPECT_TRUE(read_failed_with(pread_or_errno(fd, 4096, kFar), EIO));
      ::close(fd);
      continue;
    }
    // Told to the one who added the rule, with the file.
    EXPECT_NE(r.err.find("1 file(s) open in kernel passthrough mode (first: /data)"), std::string::npos) << r.err;
    EXPECT_TRUE(read_gave(pread_or_errno(fd, 4096, kFar), data.substr(kFar, 4096)));
    // A second open while the first is held is in passthrough too (the kernel requires one
    // mode per file), whatever the rules say.
    int fd2 = ::open(cm.m("data").c_str(), O_RDONLY);
    ASSERT_GE(fd2, 0);
    EXPECT_TRUE(read_gave(pread_or_errno(fd2, 4096, kFar + 8192), data.substr(kFar + 8192, 4096)));
    ::close(fd);
    ::close(fd2);
    // Every descriptor closed: the next open is decided by the rules again, once the
    // kernel's RELEASE (sent after close(2) has returned) has reached ChaosFS; until then an
    // open is still a passthrough one. Tried for a bounded time.
    bool served = false;
    for (int attempt = 0; attempt < 50 && !served; ++attempt) {
      if (attempt > 0) std::this_thread::sleep_for(100ms);
      int fd3 = ::open(cm.m("data").c_str(), O_RDONLY);
      ASSERT_GE(fd3, 0);
      served = read_failed_with(pread_or_errno(fd3, 4096, kFar + 16384 + 4096 * attempt), EIO);
      ::close(fd3);
    }
    EXPECT_TRUE(served) << "after every descriptor was closed, opens kept bypassing the new rule";
  }
}

TEST(ChaosFsKernelPassthrough, FilesARuleTouchesAreServedAndMixedOpensNeverFail) {
  ChaosMount cm("kpt-mixed", {"--passthrough"},
                "faults:\n  - methods: [read]\n    path: slow/*\n    fault: EIO\n");
  ASSERT_TRUE(cm.ready());
  std::filesystem::create_directories(cm.b("slow"));
  std::filesystem::create_directories(cm.b("fast"));
  std::string data = random_bytes(kFileSize, 2);
  write_text(cm.b("slow/x"), data);
  write_text(cm.b("fast/y"), data);
  int fy = ::open(cm.m("fast/y").c_str(), O_RDONLY);
  ASSERT_GE(fy, 0);
  EXPECT_TRUE(read_gave(pread_or_errno(fy, 4096, 0), data.substr(0, 4096)));
  ::close(fy);

  // /slow/x is opened while the rule acts on it: served, the rule answers.
  int held = ::open(cm.m("slow/x").c_str(), O_RDONLY);
  ASSERT_GE(held, 0);
  EXPECT_TRUE(read_failed_with(pread_or_errno(held, 4096, 0), EIO));
  // Rule gone while that open is held: a new open must still be in the served mode (a
  // passthrough reply would make the kernel fail this open with EIO), and reads work.
  ASSERT_TRUE(cm.clear());
  int second = ::open(cm.m("slow/x").c_str(), O_RDWR);
  ASSERT_GE(second, 0) << "errno " << errno;
  EXPECT_TRUE(read_gave(pread_or_errno(second, 4096, kFar), data.substr(kFar, 4096)));
  ::close(second);
  ::close(held);

  // All closed: now the file has no rule, so its next open is a passthrough one: a rule
  // added after it does not reach it (and a third open while it is held works too). The
  // kernel sends RELEASE after close(2) has returned, so ChaosFS may count the served opens
  // a moment longer (and serve an open meanwhile, which is always allowed): tried until the
  // open is a passthrough one, for a bounded time.
  bool bypassed = false;
  for (int attempt = 0; attempt < 50 && !bypassed; ++attempt) {
    if (attempt > 0) {
      ASSERT_TRUE(cm.clear());
      std::this_thread::sleep_for(100ms);
    }
    int fresh = ::open(cm.m("slow/x").c_str(), O_RDONLY);
    ASSERT_GE(fresh, 0);
    ASSERT_TRUE(cm.replace("faults:\n  - methods: [read]\n    path: slow/*\n    fault: EIO\n"));
    off_t at = kFar + 4096 * attempt;
    bypassed = read_gave(pread_or_errno(fresh, 4096, at), data.substr(static_cast<size_t>(at), 4096));
    if (bypassed) {
      int third = ::open(cm.m("slow/x").c_str(), O_RDONLY);
      EXPECT_GE(third, 0) << "errno " << errno;
      if (third >= 0) ::close(third);
    }
    ::close(fresh);
  }
  EXPECT_TRUE(bypassed) << "the file never went to passthrough once its served opens were closed";
}

TEST(ChaosFsKernelPassthrough, WritesAppendsMappingsAndFsyncReachTheBackingFile) {
  ChaosMount cm("kpt-write", {"--passthrough"}, "faults:\n  - methods: [fsync]\n    path: synced-fails\n    fault: EIO\n");
  ASSERT_TRUE(cm.ready());
  // write + pwrite + O_APPEND.
  int fd = ::open(cm.m("f").c_str(), O_RDWR | O_CREAT | O_TRUNC, 0644);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::write(fd, "hello world", 11), 11);
  ASSERT_EQ(::pwrite(fd, "W", 1, 6), 1);
  EXPECT_EQ(read_text(cm.b("f")), "hello World");
  int ap = ::open(cm.m("f").c_str(), O_WRONLY | O_APPEND);
  ASSERT_GE(ap, 0);
  ASSERT_EQ(::write(ap, "!", 1), 1);
  ::close(ap);
  EXPECT_EQ(read_text(cm.b("f")), "hello World!");
  // A shared mapping, written and synced, then a truncate.
  ASSERT_EQ(::ftruncate(fd, 8192), 0);
  void* p = ::mmap(nullptr, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  ASSERT_NE(p, MAP_FAILED);
  std::memcpy(static_cast<char*>(p) + 4096, "mapped", 6);
  ASSERT_EQ(::msync(p, 8192, MS_SYNC), 0);
  ::munmap(p, 8192);
  ASSERT_EQ(::fsync(fd), 0);
  std::string back = read_text(cm.b("f"));
  ASSERT_EQ(back.size(), 8192u);
  EXPECT_EQ(back.substr(0, 12), "hello World!");
  EXPECT_EQ(back.substr(4096, 6), "mapped");
  ASSERT_EQ(::ftruncate(fd, 5), 0);
  ::close(fd);
  EXPECT_EQ(read_text(cm.b("f")), "hello");
  struct stat st;
  ASSERT_EQ(::stat(cm.m("f").c_str(), &st), 0);
  EXPECT_EQ(st.st_size, 5);

  // fsync is not a data method: a file with an fsync rule is still a passthrough file, and
  // the rule still answers its fsync.
  int sf = ::open(cm.m("synced-fails").c_str(), O_RDWR | O_CREAT, 0644);
  ASSERT_GE(sf, 0);
  ASSERT_EQ(::write(sf, "data", 4), 4);
  EXPECT_EQ(::fsync(sf), -1);
  EXPECT_EQ(errno, EIO);
  ::close(sf);
  EXPECT_EQ(read_text(cm.b("synced-fails")), "data");
}

TEST(ChaosFsKernelPassthrough, ABackingFileOnOverlayfsIsServedByChaosFs) {
  // The kernel refuses a passthrough backing file on a stacked file system deeper than the
  // depth ChaosFS announces (ELOOP): such files must go through ChaosFS, and rules added
  // after their open reach their next READ.
  std::string root = make_temp_dir("kpt-overlay");
  for (const char* d : {"lower", "upper", "work", "merged", "mnt"}) std::filesystem::create_directories(root + "/" + d);
  std::string data = random_bytes(kFileSize, 3);
  write_text(root + "/lower/data", data);
  std::string opts = "lowerdir=" + root + "/lower,upperdir=" + root + "/upper,workdir=" + root + "/work";
  if (::mount("overlay", (root + "/merged").c_str(), "overlay", 0, opts.c_str()) != 0) {
    std::filesystem::remove_all(root);
    GTEST_SKIP() << "no overlayfs here: " << std::strerror(errno);
  }
  {
    std::string control = root + "/ctl.sock";
    BackgroundProcess server({SYSCHAOS_BIN, "fs", "mount", "--backing", root + "/merged", "--mountpoint",
                              root + "/mnt", "--control", control, "--passthrough"});
    ASSERT_TRUE(eventually([&] { return is_chaosfs_mounted(root + "/mnt") && ::access(control.c_str(), F_OK) == 0; },
                           10s));
    int fd = ::open((root + "/mnt/data").c_str(), O_RDONLY);
    ASSERT_GE(fd, 0);
    EXPECT_TRUE(read_gave(pread_or_errno(fd, 4096, 0), data.substr(0, 4096)));
    write_text(root + "/eio.yaml", kReadEio);
    auto r = run_command({SYSCHAOS_BIN, "fs", "rules", "--control", control, "replace", root + "/eio.yaml"}, 20s);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_TRUE(read_failed_with(pread_or_errno(fd, 4096, kFar), EIO));
    ::close(fd);
    server.signal(SIGTERM);
    EXPECT_EQ(server.wait(10s), 0) << server.err();
  }
  if (is_chaosfs_mounted(root + "/mnt")) ::umount2((root + "/mnt").c_str(), MNT_DETACH);
  ::umount2((root + "/merged").c_str(), MNT_DETACH);
  std::filesystem::remove_all(root);
}

}  // namespace
}  // namespace syschaos::fstest
