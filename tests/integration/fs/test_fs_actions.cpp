// Each ChaosFS action and filter on its own, through a real mount, rules changed live over
// the control socket (the same server process all along).
#include <gtest/gtest.h>
#include <dirent.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>

#include <functional>
#include <map>

#include <algorithm>
#include <atomic>
#include <thread>

#include "chaos_mount.hpp"

namespace syschaos::fstest {
namespace {

class ChaosFsActions : public ::testing::Test {
 protected:
  void SetUp() override {
    cm_ = std::make_unique<ChaosMount>("actions");
    ASSERT_TRUE(cm_->ready());
    write_text(cm_->b("data.db"), std::string(8192, 'A'));
    write_text(cm_->b("other.txt"), "other");
    std::filesystem::create_directories(cm_->b("logs"));
    write_text(cm_->b("logs/app.log"), "log");
    pid_ = cm_->proc().pid();
  }
  void TearDown() override {
    // Rules came and went without remounting or restarting the server.
    if (cm_) EXPECT_EQ(cm_->proc().pid(), pid_);
    if (cm_) EXPECT_TRUE(cm_->proc().running());
  }
  std::unique_ptr<ChaosMount> cm_;
  pid_t pid_ = -1;
};

TEST_F(ChaosFsActions, FaultOnOpenWithPathGlob) {
  EXPECT_EQ(try_open(cm_->m("data.db")), 0);
  ASSERT_TRUE(cm_->replace("faults:\n  - methods: [open]\n    path: '*.db'\n    fault: EACCES\n"));
  EXPECT_EQ(try_open(cm_->m("data.db")), EACCES);
  EXPECT_EQ(try_open(cm_->m("other.txt")), 0);  // path filter
  EXPECT_EQ(try_open(cm_->m("logs/app.log")), 0);
  // An absolute glob names the path as the application sees it.
  ASSERT_TRUE(cm_->replace("faults:\n  - methods: [open]\n    path: '" + cm_->mnt() + "/logs/*'\n    fault: ENOENT\n"));
  EXPECT_EQ(try_open(cm_->m("logs/app.log")), ENOENT);
  EXPECT_EQ(try_open(cm_->m("data.db")), 0);
  ASSERT_TRUE(cm_->clear());
  EXPECT_EQ(try_open(cm_->m("logs/app.log")), 0);
}

TEST_F(ChaosFsActions, FaultOnWriteKeepsReadsWorking) {
  ASSERT_TRUE(cm_->replace("faults:\n  - methods: [write]\n    fault: ENOSPC\n"));
  int fd = ::open(cm_->m("data.db").c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  char buf[16];
  EXPECT_EQ(::pread(fd, buf, sizeof buf, 0), 16);  // methods filter: reads untouched
  errno = 0;
  EXPECT_EQ(::pwrite(fd, "x", 1, 0), -1);
  EXPECT_EQ(errno, ENOSPC);
  ::close(fd);
  EXPECT_EQ(read_text(cm_->b("data.db")), std::string(8192, 'A'));  // nothing written
}

TEST_F(ChaosFsActions, WeightedErrnosAreAllChosen) {
  ASSERT_TRUE(cm_->replace("faults:\n  - methods: [getxattr]\n    fault: {EIO: 1, ENOMEM: 1, EPERM: 2}\n"));
  std::map<int, int> seen;
  for (int i = 0; i < 400; ++i) {
    char v[8];
    if (::getxattr(cm_->m("other.txt").c_str(), "user.x", v, sizeof v) < 0) ++seen[errno];
  }
  EXPECT_EQ(seen.size(), 3u);
  EXPECT_GT(seen[EIO], 40);
  EXPECT_GT(seen[ENOMEM], 40);
  EXPECT_GT(seen[EPERM], seen[EIO]);  // weight 2 against 1
}

TEST_F(ChaosFsActions, FaultOnEveryNamedMethod) {
  struct Case {
    const char* method;
    std::function<int()> call;  // returns errno or 0
  };
  auto err = [](int r) { return r < 0 ? errno : 0; };
  std::vector<Case> cases = {
      {"mkdir", [&] { return err(::mkdir(cm_->m("newdir").c_str(), 0755)); }},
      {"create", [&] { return try_open(cm_->m("newfile"), O_WRONLY | O_CREAT); }},
      {"unlink", [&] { return err(::unlink(cm_->m("other.txt").c_str())); }},
      {"rename", [&] { return err(::rename(cm_->m("other.txt").c_str(), cm_->m("moved").c_str())); }},
      {"readdir", [&] {
         DIR* d = ::opendir(cm_->mnt().c_str());
         if (!d) return errno;
         errno = 0;
         while (::readdir(d)) {}
         int e = errno;
         ::closedir(d);
         return e;
       }},
      {"opendir", [&] { DIR* d = ::opendir(cm_->m("logs").c_str()); int e = d ? 0 : errno; if (d) ::closedir(d); return e; }},
      {"setxattr", [&] { return err(::setxattr(cm_->m("other.txt").c_str(), "user.a", "1", 1, 0)); }},
      {"fsync", [&] {
         int fd = ::open(cm_->m("other.txt").c_str(), O_WRONLY);
         int e = ::fsync(fd) < 0 ? errno : 0;
         ::close(fd);
         return e;
       }},
      {"flush", [&] {
         int fd = ::open(cm_->m("other.txt").c_str(), O_RDONLY);
         return err(::close(fd));
       }},
      {"symlink", [&] { return err(::symlink("x", cm_->m("sl").c_str())); }},
      {"link", [&] { return err(::link(cm_->m("other.txt").c_str(), cm_->m("hard").c_str())); }},
      {"statfs", [&] { struct statvfs sv; return err(::statvfs(cm_->mnt().c_str(), &sv)); }},
      {"fallocate", [&] {
         int fd = ::open(cm_->m("other.txt").c_str(), O_WRONLY);
         int r = ::fallocate(fd, 0, 0, 4096);
         int e = r < 0 ? errno : 0;
         ::close(fd);
         return e;
       }},
      {"setattr", [&] { return err(::chmod(cm_->m("other.txt").c_str(), 0600)); }},
  };
  for (auto& c : cases) {
    ASSERT_TRUE(cm_->replace(std::string("faults:\n  - methods: [") + c.method + "]\n    fault: EROFS\n"));
    EXPECT_EQ(c.call(), EROFS) << c.method;
    ASSERT_TRUE(cm_->clear());
  }
}

// The kernel forgets a file or directory handle whatever RELEASE's answer says: a fault
// (named, or from a rule without methods) or a delay on release must still free it, or the
// server leaks a descriptor per close(2).
TEST_F(ChaosFsActions, FaultsOnReleaseStillFreeTheHandles) {
  std::filesystem::create_directories(cm_->b("dir"));
  auto server_fds = [&] {
    size_t n = 0;
    for (auto& e : std::filesystem::directory_iterator("/proc/" + std::to_string(pid_) + "/fd")) (void)e, ++n;
    return n;
  };
  auto churn = [&] {
    for (int k = 0; k < 200; ++k) {
      int fd = ::open(cm_->m("other.txt").c_str(), O_RDONLY);
      if (fd >= 0) ::close(fd);
      DIR* d = ::opendir(cm_->m("dir").c_str());
      if (d) ::closedir(d);
    }
  };
  churn();  // warm: the kernel's inodes and the server's O_PATH fds exist from here on
  size_t before = server_fds();
  for (const char* rules : {"faults:\n  - methods: [release, releasedir]\n    fault: EIO\n",
                            "faults:\n  - methods: [release, releasedir]\n    latency: 1ms\n    fault: EIO\n"}) {
    ASSERT_TRUE(cm_->replace(rules));
    churn();
    ASSERT_TRUE(cm_->clear());
    EXPECT_TRUE(eventually([&] { return server_fds() <= before + 2; }, 5s))
        << "server holds " << server_fds() << " fds, " << before << " before, rules:\n" << rules;
  }
}

TEST_F(ChaosFsActions, LatencyBeforeTheOperation) {
  ASSERT_TRUE(cm_->replace("faults:\n  - methods: [open]\n    path: '*.db'\n    latency: 150ms\n"));
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(try_open(cm_->m("data.db")), 0);
  EXPECT_GE(ms_since(t0), 150.0);
  t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(try_open(cm_->m("other.txt")), 0);
  EXPECT_LT(ms_since(t0), 150.0);  // not delayed: path filter
  // Latency combined with a fault: the error arrives after the delay.
  ASSERT_TRUE(cm_->replace("faults:\n  - methods: [open]\n    latency: 100ms\n    fault: EIO\n"));
  t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(try_open(cm_->m("other.txt")), EIO);
  EXPECT_GE(ms_since(t0), 100.0);
}

TEST_F(ChaosFsActions, LatencyJitterStaysInItsRange) {
  ASSERT_TRUE(cm_->replace("faults:\n  - methods: [getxattr]\n    latency: {delay: 40ms, jitter: 30ms}\n"));
  double lo = 1e9, hi = 0;
  for (int i = 0; i < 30; ++i) {
    char v[4];
    auto t0 = std::chrono::steady_clock::now();
    (void)::getxattr(cm_->m("other.txt").c_str(), "user.none", v, sizeof v);
    double ms = ms_since(t0);
    lo = std::min(lo, ms);
    hi = std::max(hi, ms);
  }
  EXPECT_GE(lo, 10.0);
  EXPECT_GT(hi - lo, 15.0);  // really varies
}

TEST_F(ChaosFsActions, DelayedRequestsDoNotHoldWorkerThreads) {
  // One FUSE worker only: if a delayed request held it, 8 concurrent 300 ms opens would take
  // 2.4 s; replied from the timer, they overlap.
  ChaosMount one("onethread", {"--threads", "1"},
                 "faults:\n  - methods: [open]\n    path: 'slow*'\n    latency: 300ms\n");
  ASSERT_TRUE(one.ready());
  for (int i = 0; i < 8; ++i) write_text(one.b("slow" + std::to_string(i)), "s");
  write_text(one.b("fast"), "f");
  auto t0 = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  std::atomic<double> fast_ms{0};
  for (int i = 0; i < 8; ++i)
    threads.emplace_back([&, i] { ok += try_open(one.m("slow" + std::to_string(i))) == 0; });
  std::this_thread::sleep_for(50ms);
  auto f0 = std::chrono::steady_clock::now();
  EXPECT_EQ(try_open(one.m("fast")), 0);
  fast_ms = ms_since(f0);
  for (auto& t : threads) t.join();
  double total = ms_since(t0);
  EXPECT_EQ(ok.load(), 8);
  EXPECT_GE(total, 300.0);
  EXPECT_LT(total, 1200.0);
  EXPECT_LT(fast_ms.load(), 150.0);  // served while the 8 are waiting
}

TEST_F(ChaosFsActions, AttrOverride) {
  struct stat before;
  ASSERT_EQ(::stat(cm_->m("data.db").c_str(), &before), 0);
  ASSERT_TRUE(cm_->replace("faults:\n  - path: 'data.db'\n    attrOverride: {size: 12345, perm: 0o400, uid: 77, gid: 88,"
                           " nlink: 9, ino: 424242, blocks: 3, mtime: {sec: 1000, nsec: 5}, atime: 2000, ctime: 3000}\n"));
  struct stat st;
  ASSERT_EQ(::stat(cm_->m("data.db").c_str(), &st), 0);
  EXPECT_EQ(st.st_size, 12345);
  EXPECT_EQ(st.st_mode & 07777, 0400u);
  EXPECT_TRUE(S_ISREG(st.st_mode));
  EXPECT_EQ(st.st_uid, 77u);
  EXPECT_EQ(st.st_gid, 88u);
  EXPECT_EQ(st.st_nlink, 9u);
  EXPECT_EQ(st.st_ino, 424242u);
  EXPECT_EQ(st.st_blocks, 3);
  EXPECT_EQ(st.st_mtim.tv_sec, 1000);
  EXPECT_EQ(st.st_mtim.tv_nsec, 5);
  EXPECT_EQ(st.st_atim.tv_sec, 2000);
  EXPECT_EQ(st.st_ctim.tv_sec, 3000);
  // Other files and the backing file are untouched.
  struct stat other;
  ASSERT_EQ(::stat(cm_->m("other.txt").c_str(), &other), 0);
  EXPECT_EQ(other.st_size, 5);
  struct stat back;
  ASSERT_EQ(::stat(cm_->b("data.db").c_str(), &back), 0);
  EXPECT_EQ(back.st_size, 8192);
  // Removing the rule takes effect at once (no attribute caching while it was active).
  ASSERT_TRUE(cm_->clear());
  ASSERT_EQ(::stat(cm_->m("data.db").c_str(), &st), 0);
  EXPECT_EQ(st.st_size, 8192);
  EXPECT_EQ(st.st_ino, before.st_ino);
}

TEST_F(ChaosFsActions, AttrOverrideKindAndRdev) {
  ASSERT_TRUE(cm_->replace("faults:\n  - methods: [lookup, getattr]\n    path: 'logs'\n    attrOverride: {perm: 0o700}\n"));
  struct stat st;
  ASSERT_EQ(::stat(cm_->m("logs").c_str(), &st), 0);
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0700u);
  // A regular file reported as a directory: the kernel either refuses the inode it knew as
  // a file (EIO) or, on a fresh lookup, believes it (a directory that cannot be listed).
  ASSERT_EQ(::stat(cm_->m("other.txt").c_str(), &st), 0);
  ASSERT_TRUE(S_ISREG(st.st_mode));
  ASSERT_TRUE(cm_->replace("faults:\n  - path: 'other.txt'\n    attrOverride: {kind: dir}\n"));
  int r = ::stat(cm_->m("other.txt").c_str(), &st);
  EXPECT_TRUE(r != 0 || S_ISDIR(st.st_mode)) << std::oct << st.st_mode;
  ASSERT_TRUE(cm_->clear());
  ASSERT_EQ(::stat(cm_->m("other.txt").c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));
}

TEST_F(ChaosFsActions, MistakeOnReadCorruptsWhatTheApplicationSees) {
  ASSERT_TRUE(cm_->replace("faults:\n  - methods: [read]\n    path: '*.db'\n    mistake: {filling: zero, maxOccurrences: 3, maxLength: 10}\n"));
  std::string got = read_text(cm_->m("data.db"));
  ASSERT_EQ(got.size(), 8192u);
  size_t zeros = std::count(got.begin(), got.end(), '\0');
  EXPECT_GE(zeros, 1u);
  EXPECT_LE(zeros, 3u * 10u * 2u);  // at most 3 runs of 10 per read request (8 KiB may be 1-2 reads)
  EXPECT_EQ(read_text(cm_->b("data.db")), std::string(8192, 'A'));  // backing intact
  ASSERT_TRUE(cm_->clear());
  EXPECT_EQ(read_text(cm_->m("data.db")), std::string(8192, 'A'));  // reopened: fresh pages
}

TEST_F(ChaosFsActions, MistakeOnWriteCorruptsTheBackingFile) {
  ASSERT_TRUE(cm_->replace("faults:\n  - methods: [write]\n    mistake: {filling: random, maxOccurrences: 2, maxLength: 64}\n"));
  std::string payload(4096, 'B');
  int fd = ::open(cm_->m("w.bin").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  ASSERT_GE(fd, 0);
  EXPECT_EQ(::write(fd, payload.data(), payload.size()), 4096);  // reported as success
  ::close(fd);
  ASSERT_TRUE(cm_->clear());
  std::string back = read_text(cm_->b("w.bin"));
  ASSERT_EQ(back.size(), 4096u);
  size_t changed = 0;
  for (size_t i = 0; i < back.size(); ++i) changed += back[i] != 'B';
  EXPECT_GE(changed, 1u);
  EXPECT_LE(changed, 128u);
  auto list = cm_->rules({"list"});
  EXPECT_EQ(list.exit_code, 0);
}

TEST_F(ChaosFsActions, PercentFilter) {
  ASSERT_TRUE(cm_->replace("faults:\n  - methods: [open]\n    percent: 30\n    fault: EIO\n"));
  int failed = 0;
  for (int i = 0; i < 300; ++i) failed += try_open(cm_->m("other.txt")) == EIO;
  EXPECT_GT(failed, 50);
  EXPECT_LT(failed, 130);
  ASSERT_TRUE(cm_->replace("faults:\n  - methods: [open]\n    percent: 0\n    fault: EIO\n"));
  failed = 0;
  for (int i = 0; i < 100; ++i) failed += try_open(cm_->m("other.txt")) == EIO;
  EXPECT_EQ(failed, 0);
}

TEST_F(ChaosFsActions, TimeWindowFilter) {
  ASSERT_TRUE(cm_->replace("faults:\n  - methods: [open]\n    after: 400ms\n    duration: 600ms\n    fault: EIO\n"));
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(try_open(cm_->m("other.txt")), 0);  // before the window (< 400 ms)
  ASSERT_LT(ms_since(t0), 300.0);
  std::this_thread::sleep_for(std::chrono::milliseconds(static_cast<int>(550 - ms_since(t0))));
  EXPECT_EQ(try_open(cm_->m("other.txt")), EIO);  // inside
  std::this_thread::sleep_for(std::chrono::milliseconds(static_cast<int>(1200 - ms_since(t0))));
  EXPECT_EQ(try_open(cm_->m("other.txt")), 0);  // after
}

TEST_F(ChaosFsActions, SeveralRulesAtOnceAndLiveAddRemove) {
  std::string a = cm_->root() + "/a.yaml", b = cm_->root() + "/b.yaml";
  write_text(a, "faults:\n  - methods: [open]\n    path: '*.db'\n    fault: EIO\n");
  write_text(b, "faults:\n  - methods: [unlink]\n    fault: EBUSY\n");
  auto ra = cm_->rules({"add", a});
  auto rb = cm_->rules({"add", b});
  ASSERT_EQ(ra.exit_code, 0) << ra.err;
  ASSERT_EQ(rb.exit_code, 0) << rb.err;
  EXPECT_EQ(try_open(cm_->m("data.db")), EIO);
  EXPECT_EQ(::unlink(cm_->m("other.txt").c_str()), -1);
  EXPECT_EQ(errno, EBUSY);
  auto list = cm_->rules({"list"});
  EXPECT_NE(list.out.find("fault=EIO"), std::string::npos) << list.out;
  EXPECT_NE(list.out.find("fault=EBUSY"), std::string::npos) << list.out;
  // Remove the first by its id (printed by add).
  std::string id = ra.out.substr(0, ra.out.find('\n'));
  auto rm = cm_->rules({"remove", id});
  EXPECT_EQ(rm.exit_code, 0) << rm.err;
  EXPECT_EQ(try_open(cm_->m("data.db")), 0);
  EXPECT_EQ(::unlink(cm_->m("other.txt").c_str()), -1);
  // Bad input: exit 2, one line, rules unchanged.
  auto bad = cm_->rules({"remove", "999"});
  EXPECT_EQ(bad.exit_code, 2);
  std::string badfile = cm_->root() + "/bad.yaml";
  write_text(badfile, "faults:\n  - methods: [nosuchmethod]\n    fault: EIO\n");
  auto badadd = cm_->rules({"add", badfile});
  EXPECT_EQ(badadd.exit_code, 2);
  EXPECT_NE(badadd.err.find("nosuchmethod"), std::string::npos);
  EXPECT_EQ(::unlink(cm_->m("other.txt").c_str()), -1);  // EBUSY rule still there
  // Counters say what happened.
  auto json = cm_->rules({"--json", "list"});
  EXPECT_NE(json.out.find("\"failed\":3"), std::string::npos) << json.out;  // three unlinks
}

TEST(ChaosFsManifest, IOChaosManifestAtMount) {
  ChaosMount cm("iochaos", {},
                "apiVersion: chaos-mesh.org/v1alpha1\n"
                "kind: IOChaos\n"
                "metadata: {name: io-fault}\n"
                "spec:\n"
                "  action: fault\n"
                "  mode: one\n"
                "  containerNames: [db]\n"
                "  volumePath: /var/lib/data\n"
                "  path: '*.db'\n"
                "  methods: [open]\n"
                "  errno: 5\n"
                "  percent: 100\n"
                "---\n"
                "apiVersion: chaos-mesh.org/v1alpha1\n"
                "kind: IOChaos\n"
                "spec:\n"
                "  action: latency\n"
                "  volumePath: /var/lib/data\n"
                "  path: 'slow.txt'\n"
                "  delay: 120ms\n"
                "  methods: [read]\n");
  ASSERT_TRUE(cm.ready());
  write_text(cm.b("x.db"), "x");
  write_text(cm.b("slow.txt"), "slow");
  EXPECT_EQ(try_open(cm.m("x.db")), EIO);
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(read_text(cm.m("slow.txt")), "slow");
  EXPECT_GE(ms_since(t0), 120.0);
  auto list = cm.rules({"list"});
  EXPECT_NE(list.out.find("io-fault"), std::string::npos) << list.out;
}

TEST(ChaosFsCli, BadInputMountsNothing) {
  std::string root = make_temp_dir("badinput");
  std::filesystem::create_directories(root + "/b");
  std::filesystem::create_directories(root + "/m");
  write_text(root + "/bad.yaml", "faults:\n  - methods: [open]\n    percent: 150\n    fault: EIO\n");
  auto r = run_command({SYSCHAOS_BIN, "fs", "mount", "--backing", root + "/b", "--mountpoint", root + "/m",
                        "--faults", root + "/bad.yaml"}, 10s);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("percent"), std::string::npos) << r.err;
  EXPECT_FALSE(is_chaosfs_mounted(root + "/m"));
  auto r2 = run_command({SYSCHAOS_BIN, "fs", "mount", "--backing", root + "/nonexistent", "--mountpoint", root + "/m"}, 10s);
  EXPECT_EQ(r2.exit_code, 2);
  EXPECT_FALSE(is_chaosfs_mounted(root + "/m"));
  // One line, exit 2, for each of these mistakes.
  write_text(root + "/not-a-socket", "x");
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"fs", "mount", "--backing", root + "/b", "--mountpoint", root + "/missing"}, "--mountpoint"},
      {{"fs", "rules", "--control", root + "/missing.sock", "list"}, "--control"},
      {{"fs", "mount", "--backing", root + "/b", "--mountpoint", root + "/m", "--control", root + "/not-a-socket"},
       "not a socket"},
      {{"fs", "rules", "--control", root + "/not-a-socket", "list"}, "not a socket"},
      {{"fs", "restore", "--container", "whatever", "--volume", "relative/path"}, "absolute path"},
      {{"fs", "restore", "--container", "whatever", "--volume", "/"}, "absolute path"},
  };
  for (const auto& [args, what] : cases) {
    std::vector<std::string> argv = {SYSCHAOS_BIN};
    argv.insert(argv.end(), args.begin(), args.end());
    auto rc = run_command(argv, 10s);
    EXPECT_EQ(rc.exit_code, 2) << args[1] << " " << args[2] << ": " << rc.err;
    EXPECT_NE(rc.err.find(what), std::string::npos) << rc.err;
    EXPECT_EQ(std::count(rc.err.begin(), rc.err.end(), '\n'), 1) << rc.err;
  }
  EXPECT_FALSE(is_chaosfs_mounted(root + "/m"));
  std::filesystem::remove_all(root);
}

}  // namespace
}  // namespace syschaos::fstest

namespace syschaos::fstest {
namespace {

TEST(ChaosFsCli, ALiveControlSocketIsNotTakenOver) {
  ChaosMount first("ctl-first");
  ASSERT_TRUE(first.ready());
  std::string root = make_temp_dir("ctl-second");
  std::filesystem::create_directories(root + "/b");
  std::filesystem::create_directories(root + "/m");
  auto r = run_command({SYSCHAOS_BIN, "fs", "mount", "--backing", root + "/b", "--mountpoint", root + "/m",
                        "--control", first.root() + "/control.sock"},
                       10s);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("a server is listening there"), std::string::npos) << r.err;
  EXPECT_FALSE(is_chaosfs_mounted(root + "/m"));
  EXPECT_EQ(first.rules({"list"}).exit_code, 0);  // the first server still has its socket
  std::filesystem::remove_all(root);
}

}  // namespace
}  // namespace syschaos::fstest
