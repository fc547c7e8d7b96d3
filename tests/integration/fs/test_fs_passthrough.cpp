// ChaosFS without faults behaves as the backing file system: the POSIX behaviour program
// prints the same transcript on a native directory and through ChaosFS, fio's verifying
// workloads find no corruption, and what the application wrote is in the backing directory.
// Each of these runs twice: files served by ChaosFS, and with --passthrough (kernel FUSE
// passthrough for files no rule touches, which is then every file).
#include <gtest/gtest.h>

#include <sstream>

#include "chaos_mount.hpp"

namespace syschaos::fstest {
namespace {

std::vector<std::string> lines(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  std::string l;
  while (std::getline(in, l)) out.push_back(l);
  return out;
}

// The extra `fs mount` arguments of each run.
class ChaosFsModes : public ::testing::TestWithParam<std::vector<std::string>> {};

INSTANTIATE_TEST_SUITE_P(ServedAndKernelPassthrough, ChaosFsModes,
                         ::testing::Values(std::vector<std::string>{},
                                           std::vector<std::string>{"--passthrough"}),
                         [](const auto& info) { return info.param.empty() ? "Served" : "KernelPassthrough"; });

TEST_P(ChaosFsModes, PosixBehaviourMatchesNativeDirectory) {
  ChaosMount cm("posix", GetParam());
  ASSERT_TRUE(cm.ready());
  std::string native = make_temp_dir("native");
  auto ref = run_command({std::string(TESTPROGS_DIR) + "/fs_posix_check", native}, 120s);
  auto got = run_command({std::string(TESTPROGS_DIR) + "/fs_posix_check", cm.mnt()}, 120s);
  std::filesystem::remove_all(native);
  ASSERT_EQ(ref.exit_code, 0) << ref.err;
  ASSERT_EQ(got.exit_code, 0) << got.err;
  auto a = lines(ref.out), b = lines(got.out);
  ASSERT_GT(a.size(), 100u);
  EXPECT_EQ(a.back(), "done");
  size_t differences = 0;
  for (size_t i = 0; i < std::max(a.size(), b.size()); ++i) {
    std::string x = i < a.size() ? a[i] : "<none>", y = i < b.size() ? b[i] : "<none>";
    if (x != y) {
      ++differences;
      ADD_FAILURE() << "line " << i + 1 << ": native '" << x << "' vs ChaosFS '" << y << "'";
    }
  }
  EXPECT_EQ(differences, 0u);
}

TEST_P(ChaosFsModes, FioVerifyBufferedAndDirect) {
  ChaosMount cm("fio", GetParam());
  ASSERT_TRUE(cm.ready());
  // Random writes then a verifying read pass (crc32c per block), two jobs at once.
  auto buffered = run_command({"fio", "--name=buffered", "--directory=" + cm.mnt(), "--size=48m",
                               "--bs=4k,64k", "--rw=randwrite", "--verify=crc32c", "--verify_fatal=1",
                               "--numjobs=2", "--ioengine=psync", "--do_verify=1", "--group_reporting"},
                              300s);
  EXPECT_EQ(buffered.exit_code, 0) << buffered.out << buffered.err;
  EXPECT_NE(buffered.out.find("err= 0"), std::string::npos) << buffered.out;
  // O_DIRECT, async, mixed reads and writes with md5 verification.
  auto direct = run_command({"fio", "--name=direct", "--directory=" + cm.mnt(), "--size=32m", "--bs=16k",
                             "--rw=randrw", "--verify=md5", "--direct=1", "--ioengine=libaio",
                             "--iodepth=8", "--verify_fatal=1"},
                            300s);
  EXPECT_EQ(direct.exit_code, 0) << direct.out << direct.err;
  EXPECT_NE(direct.out.find("err= 0"), std::string::npos) << direct.out;
  // Sequential write + verify of a file larger than one request (1 MiB blocks, 8 jobs' worth).
  auto seq = run_command({"fio", "--name=seq", "--directory=" + cm.mnt(), "--size=64m", "--bs=1m",
                          "--rw=write", "--verify=sha256", "--verify_fatal=1", "--ioengine=psync"},
                         300s);
  EXPECT_EQ(seq.exit_code, 0) << seq.out << seq.err;
}

TEST_P(ChaosFsModes, EveryAcknowledgedWriteIsInTheBackingDirectory) {
  ChaosMount cm("ack", GetParam());
  ASSERT_TRUE(cm.ready());
  std::string expected;
  int fd = ::open(cm.m("log").c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  ASSERT_GE(fd, 0);
  for (int i = 0; i < 2000; ++i) {
    std::string line = "record " + std::to_string(i) + "\n";
    ASSERT_EQ(::write(fd, line.data(), line.size()), static_cast<ssize_t>(line.size()));
    expected += line;
    if (i % 500 == 0) {
      // Visible in the backing file at once: no writeback cache holds it back.
      EXPECT_EQ(read_text(cm.b("log")), expected);
    }
  }
  ASSERT_EQ(::fsync(fd), 0);
  ::close(fd);
  EXPECT_EQ(read_text(cm.b("log")), expected);
  // And the other way: files made in the backing directory appear in the mount.
  write_text(cm.b("from-backing"), "hello");
  EXPECT_EQ(read_text(cm.m("from-backing")), "hello");
}

TEST(ChaosFsPassthrough, FilesKeepTheCallersOwnership) {
  ChaosMount cm("owner");
  ASSERT_TRUE(cm.ready());
  ::chmod(cm.root().c_str(), 0755);  // mkdtemp made it 0700
  ::chmod(cm.mnt().c_str(), 0777);
  // A child with another uid creates a file: it is owned by that uid in the backing dir.
  pid_t pid = ::fork();
  if (pid == 0) {
    if (::setgid(4321) != 0 || ::setuid(1234) != 0) _exit(3);
    int fd = ::open((cm.mnt() + "/mine").c_str(), O_WRONLY | O_CREAT, 0600);
    _exit(fd >= 0 ? 0 : 4);
  }
  int st = 0;
  ::waitpid(pid, &st, 0);
  ASSERT_TRUE(WIFEXITED(st));
  ASSERT_EQ(WEXITSTATUS(st), 0);
  struct stat s;
  ASSERT_EQ(::stat(cm.b("mine").c_str(), &s), 0);
  EXPECT_EQ(s.st_uid, 1234u);
  EXPECT_EQ(s.st_gid, 4321u);
  // default_permissions: another user cannot read it through the mount.
  pid = ::fork();
  if (pid == 0) {
    if (::setgid(999) != 0 || ::setuid(999) != 0) _exit(3);
    int fd = ::open((cm.mnt() + "/mine").c_str(), O_RDONLY);
    _exit(fd < 0 && errno == EACCES ? 0 : 5);
  }
  ::waitpid(pid, &st, 0);
  EXPECT_EQ(WEXITSTATUS(st), 0);
}

}  // namespace
}  // namespace syschaos::fstest
