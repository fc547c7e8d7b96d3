// Injection into every process of a cgroup, including processes that join after syschaos
// started (as `docker exec` processes join a container's cgroup).
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <regex>
#include <thread>

#include "process_runner.hpp"

using namespace syschaos::testing;
using namespace std::chrono_literals;

namespace {

long failures(const std::string& status_file) {
  std::smatch m;
  std::string text = read_file(status_file);
  return std::regex_search(text, m, std::regex("fail=(\\d+)")) ? std::stol(m[1]) : -1;
}

bool join_cgroup(const std::string& dir, pid_t pid) {
  std::ofstream procs(dir + "/cgroup.procs");
  procs << pid << std::endl;
  return static_cast<bool>(procs);
}

}  // namespace

TEST(InjectCgroup, FollowsProcessesThatJoinLater) {
  const std::string root = "/sys/fs/cgroup/unified";
  struct stat st {};
  if (::stat((root + "/cgroup.procs").c_str(), &st) != 0) GTEST_SKIP() << "no cgroup v2 hierarchy at " << root;
  const std::string cg = root + "/syschaos-it-" + std::to_string(::getpid());
  ASSERT_EQ(::mkdir(cg.c_str(), 0755), 0);
  char tmpl[] = "/tmp/syschaos-cg-XXXXXX";
  std::string dir = ::mkdtemp(tmpl);
  std::string data = dir + "/data.txt";
  std::ofstream(data) << "x\n";
  {
    BackgroundProcess a({std::string(TESTPROGS_DIR) + "/probe_loop", data, dir + "/a.txt"});
    ASSERT_TRUE(join_cgroup(cg, a.pid()));
    BackgroundProcess chaos({SYSCHAOS_BIN, "inject", "--cgroup", cg, "--fault", "openat:error=EIO:path=" + data});
    EXPECT_TRUE(eventually([&] { return failures(dir + "/a.txt") > 5; }, 5s)) << chaos.err();

    BackgroundProcess b({std::string(TESTPROGS_DIR) + "/probe_loop", data, dir + "/b.txt"});
    ASSERT_TRUE(eventually([&] { return failures(dir + "/b.txt") == 0; }, 5s));
    ASSERT_TRUE(join_cgroup(cg, b.pid()));
    EXPECT_TRUE(eventually([&] { return failures(dir + "/b.txt") > 5; }, 5s)) << "a process that joined later was not injected";

    chaos.signal(SIGINT);
    EXPECT_EQ(chaos.wait(10s), 0) << chaos.err();
    EXPECT_NE(chaos.err().find("2 process(es)"), std::string::npos) << chaos.err();
    long fa = failures(dir + "/a.txt"), fb = failures(dir + "/b.txt");
    std::this_thread::sleep_for(300ms);
    EXPECT_EQ(failures(dir + "/a.txt"), fa);
    EXPECT_EQ(failures(dir + "/b.txt"), fb);
    EXPECT_EQ(tracer_pid(a.pid()), 0);
    EXPECT_EQ(tracer_pid(b.pid()), 0);
    // Move them out so the cgroup can be removed.
    join_cgroup(root, a.pid());
    join_cgroup(root, b.pid());
  }
  EXPECT_EQ(::rmdir(cg.c_str()), 0);
  std::system(("rm -rf " + dir).c_str());
}
