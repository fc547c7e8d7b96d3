// Targets against real processes and real cgroups (root): a pid, a command to launch, a v2
// and a v1 cgroup with a child moved in, its child, and a process in a cgroup below.
#include <fcntl.h>
#include <fmt/ranges.h>
#include <gtest/gtest.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <future>
#include <thread>

#include "target/cgroup_paths.hpp"
#include "target/cgroup_target.hpp"
#include "target/launch_target.hpp"
#include "target/pid_target.hpp"
#include "target/proc_files.hpp"
#include "target/target.hpp"

namespace syschaos {
namespace {

using namespace std::chrono_literals;

// A forked child that is killed and reaped when the test ends, however it ends.
class Child {
 public:
  template <typename Main>
  explicit Child(Main&& child_main) {
    pid_ = ::fork();
    if (pid_ == 0) {
      child_main();
      ::_exit(0);
    }
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  ~Child() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      reap();
    }
  }
  pid_t pid() const { return pid_; }
  void kill_now() { ::kill(pid_, SIGKILL); }
  // Waits until the child has exited, leaving it a zombie (not reaped).
  void wait_exited_not_reaped() {
    siginfo_t info{};
    ASSERT_EQ(::waitid(P_PID, pid_, &info, WEXITED | WNOWAIT), 0);
  }
  void reap() {
    int status;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
  }

 private:
  pid_t pid_ = -1;
};

void sleep_forever() {
  for (;;) ::pause();
}

std::string error_of(const Result<std::unique_ptr<Target>>& result) {
  return result.ok() ? "(no error)" : result.error().message();
}

template <typename T>
std::string error_of(const Result<T>& result) {
  return result.ok() ? "(no error)" : result.error().message();
}

// ---- pid ---------------------------------------------------------------------------------

TEST(PidTarget, FollowsASleepingChildUntilItExits) {
  Child child(sleep_forever);
  auto target = PidTarget::create(child.pid());
  ASSERT_TRUE(target.ok()) << target.error().message();
  Target& as_target = **target;
  EXPECT_EQ(as_target.describe(), fmt::format("pid {}", child.pid()));
  EXPECT_FALSE(as_target.may_gain_processes());
  EXPECT_EQ(as_target.command(), nullptr);
  EXPECT_EQ(as_target.cgroup_dir(), std::nullopt);
  auto alive = as_target.processes();
  ASSERT_TRUE(alive.ok());
  EXPECT_EQ(*alive, std::vector<pid_t>{child.pid()});

  child.kill_now();
  child.wait_exited_not_reaped();
  auto zombie = as_target.processes();
  ASSERT_TRUE(zombie.ok());
  EXPECT_TRUE(zombie->empty());

  auto resolve_zombie = PidTarget::create(child.pid());
  ASSERT_FALSE(resolve_zombie.ok());
  EXPECT_EQ(resolve_zombie.error().message(),
            fmt::format("process {} is a zombie: it has exited and waits for its parent to reap it",
                        child.pid()));

  pid_t old_pid = child.pid();
  child.reap();
  auto reaped = as_target.processes();
  ASSERT_TRUE(reaped.ok());
  EXPECT_TRUE(reaped->empty());
  if (::kill(old_pid, 0) != 0) {  // unless the number was reused already
    EXPECT_EQ(error_of(PidTarget::create(old_pid)), fmt::format("no process with pid {}", old_pid));
  }
}

TEST(PidTarget, NonexistentPid) {
  auto pid_max_text = read_text_file("/proc/sys/kernel/pid_max");
  ASSERT_TRUE(pid_max_text.ok());
  pid_t pid = std::stoi(*pid_max_text) - 1;
  while (::kill(pid, 0) == 0 || errno != ESRCH) --pid;
  EXPECT_EQ(error_of(PidTarget::create(pid)), fmt::format("no process with pid {}", pid));
  EXPECT_EQ(error_of(PidTarget::create(0)), "invalid pid 0: must be a positive number");
  EXPECT_EQ(error_of(PidTarget::create(-3)), "invalid pid -3: must be a positive number");
}

TEST(PidTarget, AThreadIdIsNotAProcess) {
  std::promise<pid_t> tid;
  std::atomic<bool> done{false};
  std::thread thread([&] {
    tid.set_value(::gettid());
    while (!done) std::this_thread::sleep_for(1ms);
  });
  pid_t thread_id = tid.get_future().get();
  auto target = PidTarget::create(thread_id);
  done = true;
  thread.join();
  EXPECT_EQ(error_of(target), fmt::format("pid {} is a thread of process {}; give --pid {}",
                                          thread_id, ::getpid(), ::getpid()));
}

TEST(PidTarget, ALeaderThatExitedWhileThreadsRunIsAlive) {
  // The main thread ends alone; /proc shows the leader as a zombie, yet the process runs
  // on in its other thread. (A raw exit(2), because pthread_exit would unwind through
  // gtest's catch-all frames in this forked copy and abort the whole process.)
  Child child([] {
    pthread_t worker;
    pthread_create(
        &worker, nullptr,
        [](void*) -> void* {
          sleep_forever();
          return nullptr;
        },
        nullptr);
    ::syscall(SYS_exit, 0);
  });
  std::string state;
  for (int i = 0; i < 200 && state != "Z"; ++i) {
    std::this_thread::sleep_for(5ms);
    auto stat = read_text_file(fmt::format("/proc/{}/stat", child.pid()));
    ASSERT_TRUE(stat.ok());
    state = stat->substr(stat->rfind(')') + 2, 1);
  }
  ASSERT_EQ(state, "Z") << "the leader thread never exited";
  auto target = PidTarget::create(child.pid());
  ASSERT_TRUE(target.ok()) << target.error().message();
  EXPECT_EQ(*(*target)->processes(), std::vector<pid_t>{child.pid()});
}

// ---- launch ------------------------------------------------------------------------------

TEST(LaunchTarget, ResolvesLikeExecvp) {
  auto target = LaunchTarget::create({"sleep", "10"});
  ASSERT_TRUE(target.ok()) << target.error().message();
  EXPECT_TRUE((*target)->executable().ends_with("/sleep")) << (*target)->executable();
  ASSERT_NE((*target)->command(), nullptr);
  EXPECT_EQ(*(*target)->command(), (std::vector<std::string>{"sleep", "10"}));
  EXPECT_TRUE((*target)->processes()->empty());
  EXPECT_EQ((*target)->describe(), "command sleep 10");
}

TEST(LaunchTarget, ReportsWhatCannotRun) {
  EXPECT_EQ(error_of(LaunchTarget::create({})), "no command given to launch");
  EXPECT_EQ(error_of(LaunchTarget::create({"syschaos-no-such-command-xyz"})),
            "command not found: syschaos-no-such-command-xyz");
  EXPECT_EQ(error_of(LaunchTarget::create({"./syschaos-no-such-file"})),
            "command not found: ./syschaos-no-such-file: No such file or directory");
  EXPECT_EQ(error_of(LaunchTarget::create({"/tmp"})), "cannot execute /tmp: Is a directory");
}

class ExecutableDir : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/syschaos-launch-XXXXXX";
    ASSERT_NE(::mkdtemp(pattern), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string make_file(const std::string& name, mode_t mode) {
    std::string path = dir_ + "/" + name;
    std::ofstream(path) << "#!/bin/sh\nexit 0\n";
    ::chmod(path.c_str(), mode);
    return path;
  }
  std::string dir_;
};

TEST_F(ExecutableDir, SearchesEachPathEntryInOrder) {
  std::string tool = make_file("tool", 0755);
  auto found = find_executable("tool", "/nonexistent-dir:" + dir_ + ":/usr/bin");
  ASSERT_TRUE(found.ok()) << found.error().message();
  EXPECT_EQ(*found, tool);
  EXPECT_EQ(error_of(find_executable("tool", "/usr/bin:/bin")), "command not found: tool");
}

TEST_F(ExecutableDir, NotExecutableIsNotNotFound) {
  std::string data = make_file("data", 0644);
  EXPECT_EQ(error_of(find_executable("data", dir_)),
            fmt::format("cannot execute data (found {}): Permission denied", data));
  EXPECT_EQ(error_of(find_executable(data, "")),
            fmt::format("cannot execute {}: Permission denied", data));
  // execvp skips a non-executable match and keeps looking.
  std::string other_dir = dir_ + "/bin";
  std::filesystem::create_directory(other_dir);
  std::ofstream(other_dir + "/data") << "#!/bin/sh\n";
  ::chmod((other_dir + "/data").c_str(), 0755);
  EXPECT_EQ(*find_executable("data", dir_ + ":" + other_dir), other_dir + "/data");
}

// ---- the factory ---------------------------------------------------------------------------

TEST(ResolveTarget, ExactlyOneTarget) {
  const std::string want = "give exactly one target: --pid, --container, --cgroup or -- COMMAND";
  EXPECT_EQ(error_of(resolve_target(TargetSpec{})), want);
  TargetSpec two;
  two.pid = ::getpid();
  two.command = {"sleep", "1"};
  EXPECT_EQ(error_of(resolve_target(two)), want);
  TargetSpec three;
  three.cgroup = "x";
  three.container = "y";
  three.pid = 1;
  EXPECT_EQ(error_of(resolve_target(three)), want);
}

TEST(ResolveTarget, EachKindResolves) {
  TargetSpec pid;
  pid.pid = ::getpid();
  auto pid_target = resolve_target(pid);
  ASSERT_TRUE(pid_target.ok()) << pid_target.error().message();
  EXPECT_EQ((*pid_target)->describe(), fmt::format("pid {}", ::getpid()));

  TargetSpec command;
  command.command = {"true"};
  auto command_target = resolve_target(command);
  ASSERT_TRUE(command_target.ok()) << command_target.error().message();
  EXPECT_EQ((*command_target)->describe(), "command true");

  TargetSpec cgroup;
  cgroup.cgroup = "syschaos-no-such-cgroup";
  auto missing = resolve_target(cgroup);
  ASSERT_FALSE(missing.ok());
  EXPECT_TRUE(
      missing.error().message().starts_with("no such cgroup: syschaos-no-such-cgroup (looked in "))
      << missing.error().message();
}

// ---- cgroups -------------------------------------------------------------------------------

void write_file(const std::string& path, const std::string& text) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0) << "open " << path << ": " << std::strerror(errno);
  ssize_t written = ::write(fd, text.data(), text.size());
  int err = errno;
  ::close(fd);
  ASSERT_EQ(written, static_cast<ssize_t>(text.size()))
      << "write " << path << ": " << std::strerror(err);
}

// A test cgroup with a child cgroup "sub" below; removed (after its processes are killed) at
// the end of the test.
class TestCgroup {
 public:
  explicit TestCgroup(std::string dir) : dir_(std::move(dir)) {
    made_ = ::mkdir(dir_.c_str(), 0755) == 0 && ::mkdir((dir_ + "/sub").c_str(), 0755) == 0;
  }
  ~TestCgroup() {
    for (int i = 0; i < 100; ++i) {
      auto pids = read_cgroup_procs(dir_);
      if (!pids.ok() || pids->empty()) break;
      for (pid_t pid : *pids) ::kill(pid, SIGKILL);
      std::this_thread::sleep_for(10ms);
    }
    ::rmdir((dir_ + "/sub").c_str());
    ::rmdir(dir_.c_str());
  }
  bool made() const { return made_; }
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
  bool made_ = false;
};

std::optional<std::string> mount_of(std::string_view hierarchy) {
  auto mounts = read_cgroup_mounts();
  if (!mounts.ok()) return std::nullopt;
  for (const CgroupMount& mount : *mounts)
    if (mount.carries(hierarchy) && mount.root == "/") return mount.mount_point;
  return std::nullopt;
}

// Puts a child in `cgroup`, lets it fork a grandchild there, puts another child in
// cgroup/sub, and checks that a CgroupTarget resolved from `spec` lists all three.
void check_cgroup_target(const TestCgroup& cgroup, const std::string& spec) {
  int go[2], report[2];
  ASSERT_EQ(::pipe(go), 0);
  ASSERT_EQ(::pipe(report), 0);
  Child parent_in_cgroup([&] {
    char byte;
    if (::read(go[0], &byte, 1) != 1) ::_exit(1);
    pid_t grandchild = ::fork();
    if (grandchild == 0) sleep_forever();
    (void)!::write(report[1], &grandchild, sizeof grandchild);
    int status;
    ::waitpid(grandchild, &status, 0);  // ends when the test kills the grandchild
    ::_exit(0);
  });
  ::close(go[0]);
  ::close(report[1]);
  write_file(cgroup.dir() + "/cgroup.procs", std::to_string(parent_in_cgroup.pid()));
  ASSERT_EQ(::write(go[1], "g", 1), 1);
  ::close(go[1]);
  pid_t grandchild = 0;
  ASSERT_EQ(::read(report[0], &grandchild, sizeof grandchild),
            static_cast<ssize_t>(sizeof grandchild));
  ::close(report[0]);

  Child in_sub(sleep_forever);
  write_file(cgroup.dir() + "/sub/cgroup.procs", std::to_string(in_sub.pid()));

  auto target = CgroupTarget::create(spec);
  ASSERT_TRUE(target.ok()) << target.error().message();
  EXPECT_EQ((*target)->cgroup_dir(), cgroup.dir());
  EXPECT_EQ((*target)->describe(), "cgroup " + cgroup.dir());
  EXPECT_TRUE((*target)->may_gain_processes());
  auto pids = (*target)->processes();
  ASSERT_TRUE(pids.ok()) << pids.error().message();
  std::vector<pid_t> expected = {parent_in_cgroup.pid(), grandchild, in_sub.pid()};
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(*pids, expected);

  // Once they are gone the target is empty; once the cgroup is gone it is an error.
  ::kill(grandchild, SIGKILL);
  parent_in_cgroup.reap();
  in_sub.kill_now();
  in_sub.reap();
  auto empty = (*target)->processes();
  ASSERT_TRUE(empty.ok()) << empty.error().message();
  EXPECT_TRUE(empty->empty()) << fmt::format("{}", fmt::join(*empty, ","));
  ASSERT_EQ(::rmdir((cgroup.dir() + "/sub").c_str()), 0);
  ASSERT_EQ(::rmdir(cgroup.dir().c_str()), 0);
  EXPECT_EQ(error_of((*target)->processes()), fmt::format("cgroup {} was removed", cgroup.dir()));
}

TEST(CgroupTarget, V2CgroupByNameAndByPath) {
  auto v2 = mount_of(kCgroupV2Hierarchy);
  if (!v2) GTEST_SKIP() << "no cgroup2 mount";
  std::string name = fmt::format("syschaos-test-{}", ::getpid());
  {
    TestCgroup cgroup(*v2 + "/" + name);
    ASSERT_TRUE(cgroup.made()) << "mkdir " << cgroup.dir() << ": " << std::strerror(errno);
    check_cgroup_target(cgroup, name);  // looked up under the mounts, v2 first
  }
  {
    TestCgroup cgroup(*v2 + "/" + name);
    ASSERT_TRUE(cgroup.made());
    check_cgroup_target(cgroup, cgroup.dir() + "/");
  }
}

TEST(CgroupTarget, V1PidsCgroupByHierarchyPath) {
  auto pids_mount = mount_of("pids");
  if (!pids_mount) GTEST_SKIP() << "no cgroup v1 pids hierarchy";
  std::string name = fmt::format("syschaos-test-v1-{}", ::getpid());
  TestCgroup cgroup(*pids_mount + "/" + name);
  ASSERT_TRUE(cgroup.made()) << "mkdir " << cgroup.dir() << ": " << std::strerror(errno);
  check_cgroup_target(cgroup, "/" + name);  // no such v2 cgroup, so the pids one is found
}

TEST(CgroupTarget, MissingCgroupSaysWhereItLooked) {
  auto target = CgroupTarget::create("docker/syschaos-none");
  ASSERT_FALSE(target.ok());
  const std::string& message = target.error().message();
  EXPECT_TRUE(message.starts_with("no such cgroup: docker/syschaos-none (looked in ")) << message;
  if (auto pids_mount = mount_of("pids")) {
    EXPECT_NE(message.find(*pids_mount + "/docker/syschaos-none"), std::string::npos) << message;
  }
  EXPECT_EQ(error_of(CgroupTarget::create("")), "empty cgroup path");
}

TEST(CgroupPaths, OwnCgroupDirectoryHoldsThisProcess) {
  for (std::string_view hierarchy : {kCgroupV2Hierarchy, std::string_view("pids")}) {
    if (!mount_of(hierarchy)) continue;
    auto dir = cgroup_dir_of_pid(::getpid(), hierarchy);
    ASSERT_TRUE(dir.ok()) << dir.error().message();
    auto pids = read_cgroup_procs(*dir, false);
    ASSERT_TRUE(pids.ok()) << pids.error().message();
    EXPECT_NE(std::find(pids->begin(), pids->end(), ::getpid()), pids->end()) << *dir;
  }
}

}  // namespace
}  // namespace syschaos
