// What the FUSE kernel module may cache, and when ChaosFS makes it forget: pages kept across
// opens only while the backing file is unchanged and no rule cares about its reads or
// writes; a rule added live reaches reads of pages already cached; a corrupted read is not
// served again from memory; lookup rules changed live do not rename open files to
// "(deleted)"; absolute globs name the path the application sees.
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <algorithm>
#include <thread>

#include <nlohmann/json.hpp>

#include "chaos_mount.hpp"
#include "fs/chaos_fs.hpp"
#include "fs/fs_fault_rule.hpp"

namespace syschaos::fstest {
namespace {

constexpr size_t kFileSize = 64 * 1024;

std::string pattern(char seed) {
  std::string s(kFileSize, '\0');
  for (size_t k = 0; k < s.size(); ++k) s[k] = static_cast<char>(seed + static_cast<char>(k % 23));
  return s;
}

// How many of the file's pages are in the page cache of the file system that `path` is on.
size_t resident_pages(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) return 0;
  struct stat st;
  ::fstat(fd, &st);
  size_t len = static_cast<size_t>(st.st_size);
  void* p = ::mmap(nullptr, len, PROT_READ, MAP_SHARED, fd, 0);
  ::close(fd);
  if (p == MAP_FAILED) return 0;
  long page = ::sysconf(_SC_PAGESIZE);
  std::vector<unsigned char> vec((len + static_cast<size_t>(page) - 1) / static_cast<size_t>(page));
  size_t n = 0;
  if (::mincore(p, len, vec.data()) == 0)
    n = static_cast<size_t>(std::count_if(vec.begin(), vec.end(), [](unsigned char c) { return c & 1; }));
  ::munmap(p, len);
  return n;
}

std::string pread_all(int fd, size_t size, off_t off = 0) {
  std::string buf(size, '\0');
  ssize_t n = ::pread(fd, buf.data(), size, off);
  if (n < 0) return "errno:" + std::to_string(errno);
  buf.resize(static_cast<size_t>(n));
  return buf;
}

class ChaosFsKernelCache : public ::testing::Test {
 protected:
  void SetUp() override {
    cm_ = std::make_unique<ChaosMount>("cache");
    ASSERT_TRUE(cm_->ready());
    write_text(cm_->b("data.bin"), pattern('a'));
  }
  std::unique_ptr<ChaosMount> cm_;
};

TEST_F(ChaosFsKernelCache, PagesStayCachedAcrossOpensWhileNothingChanged) {
  ASSERT_EQ(read_text(cm_->m("data.bin")), pattern('a'));
  // The second open keeps the pages the first one read (auto_cache: same mtime and size).
  EXPECT_EQ(resident_pages(cm_->m("data.bin")), kFileSize / 4096);
  EXPECT_EQ(read_text(cm_->m("data.bin")), pattern('a'));
}

TEST_F(ChaosFsKernelCache, ABackingFileChangedBehindChaosFsIsReadAfresh) {
  ASSERT_EQ(read_text(cm_->m("data.bin")), pattern('a'));
  // Same size, new content and a new mtime, written natively (another process on the host,
  // or another container sharing the volume).
  write_text(cm_->b("data.bin"), pattern('k'));
  struct timespec times[2] = {{0, UTIME_OMIT}, {::time(nullptr) + 5, 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, cm_->b("data.bin").c_str(), times, 0), 0);
  EXPECT_EQ(read_text(cm_->m("data.bin")), pattern('k'));
}

TEST_F(ChaosFsKernelCache, ARuleAddedLiveReachesTheNextOpenNotPagesAnOpenFileHolds) {
  int fd = ::open(cm_->m("data.bin").c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(pread_all(fd, kFileSize), pattern('a'));
  // A mapping of the same file, as a program that mmaps its data would hold.
  void* map = ::mmap(nullptr, kFileSize, PROT_READ, MAP_SHARED, fd, 0);
  ASSERT_NE(map, MAP_FAILED);
  ASSERT_EQ(std::string(static_cast<const char*>(map), kFileSize), pattern('a'));
  ASSERT_TRUE(cm_->replace("faults:\n  - methods: [read]\n    path: '*.bin'\n    fault: EIO\n"));
  // Pages already in memory keep serving, as above a disk that starts failing: the mapping
  // does not turn into a SIGBUS, the open file reads what it read.
  EXPECT_EQ(std::string(static_cast<const char*>(map), kFileSize), pattern('a'));
  EXPECT_EQ(pread_all(fd, 4096), pattern('a').substr(0, 4096));
  // A new open starts from the rules: its reads are READs, and fail.
  int fd2 = ::open(cm_->m("data.bin").c_str(), O_RDONLY);
  ASSERT_GE(fd2, 0);
  EXPECT_EQ(pread_all(fd2, 4096), "errno:" + std::to_string(EIO));
  ASSERT_TRUE(cm_->clear());
  EXPECT_EQ(pread_all(fd2, kFileSize), pattern('a'));
  ::close(fd2);
  ::munmap(map, kFileSize);
  ::close(fd);
}

TEST_F(ChaosFsKernelCache, ACorruptedReadIsDecidedAgainNotServedFromMemory) {
  ASSERT_TRUE(cm_->replace(
      "faults:\n  - methods: [read]\n    path: '*.bin'\n"
      "    mistake: {filling: zero, maxOccurrences: 1, maxLength: 16}\n"));
  int fd = ::open(cm_->m("data.bin").c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  // The whole file each time: a READ covers what readahead asked for, and its corrupted run
  // may land anywhere in it. Every READ is corrupted at a random place, so two reads of the
  // same bytes that are both READs differ; two identical ones came from the page cache.
  std::vector<std::string> seen;
  for (int k = 0; k < 3; ++k) {
    seen.push_back(pread_all(fd, kFileSize));
    ASSERT_EQ(seen.back().size(), kFileSize);
    EXPECT_NE(seen.back(), pattern('a'));
    // The pages are dropped right after the reply, from another thread: give it a moment.
    std::this_thread::sleep_for(50ms);
  }
  ::close(fd);
  EXPECT_NE(seen[0], seen[1]);
  EXPECT_NE(seen[1], seen[2]);
}

TEST_F(ChaosFsKernelCache, CleanPagesOfAWatchedFileServeItsOpenButNotTheNextOne) {
  // Like a disk under a page cache: a READ that succeeded is not asked again in this open;
  // the next open of the file starts from the rules again.
  ASSERT_TRUE(cm_->replace("faults:\n  - methods: [read]\n    path: '*.bin'\n    latency: 1ms\n"));
  // READs the rule has seen so far (its "matched" counter).
  auto reads = [&]() -> uint64_t {
    auto l = cm_->rules({"--json", "list"});
    auto j = nlohmann::json::parse(l.out, nullptr, false);
    if (j.is_discarded() || !j.contains("rules") || j["rules"].empty()) return 0;
    return j["rules"][0]["counters"]["matched"].get<uint64_t>();
  };
  int fd = ::open(cm_->m("data.bin").c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(pread_all(fd, kFileSize), pattern('a'));
  uint64_t after_first = reads();
  ASSERT_GT(after_first, 0u);
  ASSERT_EQ(pread_all(fd, kFileSize), pattern('a'));
  EXPECT_EQ(reads(), after_first);
  ::close(fd);
  ASSERT_EQ(read_text(cm_->m("data.bin")), pattern('a'));
  EXPECT_GT(reads(), after_first);
}

TEST_F(ChaosFsKernelCache, LookupRulesChangedLiveLeaveOpenFilesTheirNames) {
  write_text(cm_->b("other.txt"), "other");
  struct stat st;
  ASSERT_EQ(::stat(cm_->m("other.txt").c_str(), &st), 0);  // entry now cached by the kernel
  int fd = ::open(cm_->m("data.bin").c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  auto link = [&] { return std::filesystem::read_symlink("/proc/self/fd/" + std::to_string(fd)).string(); };
  ASSERT_EQ(link(), cm_->m("data.bin"));
  ASSERT_TRUE(cm_->replace("faults:\n  - methods: [lookup]\n    path: 'other.txt'\n    fault: ENOENT\n"));
  // The cached entry expired at once: the rule applies to the very next stat.
  EXPECT_NE(::stat(cm_->m("other.txt").c_str(), &st), 0);
  EXPECT_EQ(errno, ENOENT);
  // ... and the open file was not unhashed: its name is intact (not "... (deleted)").
  EXPECT_EQ(link(), cm_->m("data.bin"));
  ASSERT_TRUE(cm_->clear());
  EXPECT_EQ(::stat(cm_->m("other.txt").c_str(), &st), 0);
  EXPECT_EQ(link(), cm_->m("data.bin"));
  EXPECT_EQ(pread_all(fd, 10), pattern('a').substr(0, 10));
  ::close(fd);
}

// In a container, ChaosFS is mounted on a host staging directory and the application sees it
// at the volume's path: absolute globs, given at mount or live, name the volume's path.
TEST(ChaosFsAppMountpoint, AbsoluteGlobsNameThePathTheApplicationSees) {
  std::string root = make_temp_dir("appmp");
  std::filesystem::create_directories(root + "/backing/html");
  std::filesystem::create_directories(root + "/stage");
  write_text(root + "/backing/html/index.html", "hello");
  write_text(root + "/backing/other.txt", "other");
  fs::ChaosFsOptions o;
  o.backing_path = root + "/backing";
  o.mountpoint = root + "/stage";
  o.app_mountpoint = "/usr/share/nginx";
  o.unmount_guardian = false;
  auto rules = fs::parse_fs_rules("faults:\n  - methods: [open]\n    path: /usr/share/nginx/html/*\n    fault: EACCES\n");
  ASSERT_TRUE(rules.ok()) << rules.error().message();
  o.rules = *rules;
  auto fs = fs::ChaosFs::mount(o);
  ASSERT_TRUE(fs.ok()) << fs.error().message();
  std::thread server([&] { (void)(*fs)->run(); });
  EXPECT_EQ(try_open(root + "/stage/html/index.html"), EACCES);
  EXPECT_EQ(try_open(root + "/stage/other.txt"), 0);
  // Live: a glob naming the staging directory matches nothing; the application's path does.
  auto live = fs::parse_fs_rules("faults:\n  - methods: [open]\n    path: " + root + "/stage/other.txt\n    fault: EIO\n");
  ASSERT_TRUE(live.ok());
  (*fs)->set_rules(*live);
  EXPECT_EQ(try_open(root + "/stage/other.txt"), 0);
  live = fs::parse_fs_rules("faults:\n  - methods: [open]\n    path: /usr/share/nginx/other.txt\n    fault: EIO\n");
  ASSERT_TRUE(live.ok());
  (*fs)->set_rules(*live);
  EXPECT_EQ(try_open(root + "/stage/other.txt"), EIO);
  EXPECT_EQ(try_open(root + "/stage/html/index.html"), 0);
  (*fs)->stop();
  server.join();
  fs->reset();
  EXPECT_FALSE(is_chaosfs_mounted(root + "/stage"));
  std::error_code ec;
  std::filesystem::remove_all(root, ec);
}

}  // namespace
}  // namespace syschaos::fstest

namespace syschaos::fstest {
namespace {

// Container mode arms its rules after moving the processes' files onto ChaosFS, then drops
// what they read meanwhile: from then on a file a rule acts on is read through the rules.
TEST(ChaosFsDropPages, PagesOfFilesRulesReadAreDroppedOnRequest) {
  std::string root = make_temp_dir("drop");
  std::filesystem::create_directories(root + "/backing");
  std::filesystem::create_directories(root + "/mnt");
  write_text(root + "/backing/held.bin", pattern('a'));
  write_text(root + "/backing/other.txt", pattern('b'));
  fs::ChaosFsOptions o;
  o.backing_path = root + "/backing";
  o.mountpoint = root + "/mnt";
  o.unmount_guardian = false;
  auto fs = fs::ChaosFs::mount(o);
  ASSERT_TRUE(fs.ok()) << fs.error().message();
  std::thread server([&] { (void)(*fs)->run(); });
  int held = ::open((root + "/mnt/held.bin").c_str(), O_RDONLY);
  int other = ::open((root + "/mnt/other.txt").c_str(), O_RDONLY);
  ASSERT_GE(held, 0);
  ASSERT_GE(other, 0);
  ASSERT_EQ(pread_all(held, kFileSize), pattern('a'));
  ASSERT_EQ(pread_all(other, kFileSize), pattern('b'));
  auto rules = fs::parse_fs_rules("faults:\n  - methods: [read]\n    path: '*.bin'\n    fault: EIO\n");
  ASSERT_TRUE(rules.ok());
  (*fs)->set_rules(*rules);
  EXPECT_EQ(pread_all(held, 4096), pattern('a').substr(0, 4096));  // cached pages kept
  (*fs)->drop_pages_rules_read();
  EXPECT_EQ(pread_all(held, 4096), "errno:" + std::to_string(EIO));
  EXPECT_EQ(resident_pages(root + "/mnt/other.txt"), kFileSize / 4096);  // no rule: kept
  EXPECT_EQ(pread_all(other, kFileSize), pattern('b'));
  ::close(held);
  ::close(other);
  (*fs)->stop();
  server.join();
  fs->reset();
  std::error_code ec;
  std::filesystem::remove_all(root, ec);
}

}  // namespace
}  // namespace syschaos::fstest
