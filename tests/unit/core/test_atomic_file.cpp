// write_file_atomically: the new content and mode land at the path, no temporary file is left,
// and a failed write leaves the old file as it was and removes its temporary.
#include <dirent.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/atomic_file.hpp"

using namespace syschaos;

namespace {

class AtomicFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/syschaos-atomic-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // The names in the test directory, to see that no temporary file is left behind.
  std::vector<std::string> entries() const {
    std::vector<std::string> names;
    for (const auto& e : std::filesystem::directory_iterator(dir_)) names.push_back(e.path().filename());
    std::sort(names.begin(), names.end());
    return names;
  }

  static mode_t mode_of(const std::string& path) {
    struct stat st {};
    EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
    return st.st_mode & 07777;
  }

  std::string dir_;
};

TEST_F(AtomicFileTest, WritesContentAndModeAndLeavesNoTemporary) {
  const mode_t mask = ::umask(022);
  const std::string path = dir_ + "/state.json";
  ASSERT_TRUE(write_file_atomically(path, "first\n", {.sync = FileSync::kDurable, .mode = 0600}));
  auto text = read_whole_file(path);
  ASSERT_TRUE(text) << text.error().message();
  EXPECT_EQ(*text, "first\n");
  EXPECT_EQ(mode_of(path), 0600u);

  // Replacing: the new content and the new file's mode, still one entry in the folder.
  std::string big(300000, 'x');  // larger than a page-sized buffer: the whole of it lands
  ASSERT_TRUE(write_file_atomically(path, big, {.sync = FileSync::kProcessCrashOnly, .mode = 0640}));
  EXPECT_EQ(*read_whole_file(path), big);
  EXPECT_EQ(mode_of(path), 0640u);
  EXPECT_EQ(entries(), std::vector<std::string>{"state.json"});

  // An empty content is a valid (empty) file, not an error.
  ASSERT_TRUE(write_file_atomically(path, ""));
  EXPECT_EQ(*read_whole_file(path), "");
  EXPECT_EQ(mode_of(path), 0644u);  // the default mode
  ::umask(mask);
}

TEST_F(AtomicFileTest, DirectoryInTheWayFailsAndRemovesTheTemporary) {
  // The rename cannot replace a (non-empty) directory: the call fails naming the rename, the
  // directory and its content are untouched, and the temporary is gone.
  const std::string path = dir_ + "/results.json";
  ASSERT_EQ(::mkdir(path.c_str(), 0700), 0);
  ASSERT_TRUE(write_file_atomically(path + "/inside", "kept"));
  auto r = write_file_atomically(path, "new");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("rename"), std::string::npos) << r.error().message();
  EXPECT_EQ(entries(), std::vector<std::string>{"results.json"});
  EXPECT_EQ(*read_whole_file(path + "/inside"), "kept");
}

TEST_F(AtomicFileTest, FailedWriteKeepsTheOldFileAndRemovesTheTemporary) {
  const std::string path = dir_ + "/report.html";
  ASSERT_TRUE(write_file_atomically(path, "old content"));
  // A file size limit makes write(2) fail with EFBIG half-way (SIGXFSZ ignored so that it
  // returns the error instead of killing the test).
  struct rlimit saved {};
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &saved), 0);
  struct sigaction ignore {}, old_action {};
  ignore.sa_handler = SIG_IGN;
  ASSERT_EQ(::sigaction(SIGXFSZ, &ignore, &old_action), 0);
  struct rlimit small = saved;
  small.rlim_cur = 4096;
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &small), 0);
  auto r = write_file_atomically(path, std::string(100000, 'n'));
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &saved), 0);
  ASSERT_EQ(::sigaction(SIGXFSZ, &old_action, nullptr), 0);

  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("write"), std::string::npos) << r.error().message();
  EXPECT_EQ(*read_whole_file(path), "old content");
  EXPECT_EQ(entries(), std::vector<std::string>{"report.html"});
}

TEST_F(AtomicFileTest, MissingFolderIsAnErrorNamingTheTemporary) {
  auto r = write_file_atomically(dir_ + "/no/such/dir/file", "x");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("open " + dir_ + "/no/such/dir/file.tmp."), std::string::npos)
      << r.error().message();
  EXPECT_TRUE(entries().empty());
}

TEST_F(AtomicFileTest, ReadWholeFileOfAMissingFileIsAnError) {
  auto r = read_whole_file(dir_ + "/absent");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("open"), std::string::npos);
}

}  // namespace
