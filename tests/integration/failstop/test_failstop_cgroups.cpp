// Freeze through each kind of cgroup (v1 freezer, v2, a transient v2 cgroup for a pid), and
// the safety net: SIGKILL of syschaos (its guard thaws), SIGKILL of both syschaos and its
// guard (`syschaos failstop restore` thaws), bad input (exit 2, nothing touched).
#include <sys/stat.h>

#include "failstop_test_support.hpp"

namespace syschaos::testing {
namespace {

const std::string kV1Freezer = "/sys/fs/cgroup/freezer";
const std::string kV2Root = "/sys/fs/cgroup/unified";

// A cgroup made for one test, holding one `sleep` process; removed at the end.
class TestCgroup {
 public:
  TestCgroup(const std::string& root, const std::string& name) : dir_(root + "/" + name) {
    ::mkdir(dir_.c_str(), 0755);
    sleeper_ = std::make_unique<BackgroundProcess>(std::vector<std::string>{"sleep", "300"});
    std::ofstream(dir_ + "/cgroup.procs") << sleeper_->pid();
  }
  ~TestCgroup() {
    sleeper_.reset();  // killed and reaped
    std::ofstream(dir_ + "/freezer.state") << "THAWED";
    std::ofstream(dir_ + "/cgroup.freeze") << "0";
    eventually([&] { return ::rmdir(dir_.c_str()) == 0 || errno == ENOENT; }, std::chrono::seconds(5));
  }
  const std::string& dir() const { return dir_; }
  pid_t pid() const { return sleeper_->pid(); }

 private:
  std::string dir_;
  std::unique_ptr<BackgroundProcess> sleeper_;
};

std::string name(const std::string& what) { return "syschaos-failstop-test-" + what + "-" + std::to_string(::getpid()); }

std::string trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

bool v2_frozen(const std::string& dir) { return read_file(dir + "/cgroup.events").find("frozen 1") != std::string::npos; }

TEST(FailstopCgroups, FreezesAV1FreezerCgroupAndThaws) {
  ASSERT_TRUE(path_exists(kV1Freezer + "/freezer.self_freezing") || path_exists(kV1Freezer + "/cgroup.procs"));
  TestCgroup cg(kV1Freezer, name("v1"));
  std::string dir = temp_dir();
  BackgroundProcess sc({bin(), "failstop", "freeze", "--cgroup", cg.dir(), "--for", "1500ms", "--events", dir + "/e.jsonl"});
  ASSERT_TRUE(wait_event(dir + "/e.jsonl", "fail")) << sc.err();
  EXPECT_EQ(trimmed(read_file(cg.dir() + "/freezer.state")), "FROZEN");
  EXPECT_EQ(sc.wait(), 0) << sc.err();
  EXPECT_EQ(trimmed(read_file(cg.dir() + "/freezer.state")), "THAWED");
}

TEST(FailstopCgroups, FreezesAV2CgroupAndThaws) {
  TestCgroup cg(kV2Root, name("v2"));
  std::string dir = temp_dir();
  BackgroundProcess sc({bin(), "failstop", "freeze", "--cgroup", cg.dir(), "--for", "1500ms", "--events", dir + "/e.jsonl"});
  ASSERT_TRUE(wait_event(dir + "/e.jsonl", "fail")) << sc.err();
  EXPECT_TRUE(v2_frozen(cg.dir()));
  EXPECT_EQ(sc.wait(), 0) << sc.err();
  EXPECT_FALSE(v2_frozen(cg.dir()));
}

TEST(FailstopCgroups, PidTargetGetsATransientCgroupAndGoesHome) {
  BackgroundProcess shell({"sh", "-c", "sleep 300 & sleep 300 & wait"});
  ASSERT_TRUE(eventually([&] { return read_file("/proc/" + std::to_string(shell.pid()) + "/task/" +
                                                std::to_string(shell.pid()) + "/children")
                                          .find(' ') != std::string::npos; },
                         std::chrono::seconds(5)));
  std::string home = v2_cgroup_of(shell.pid());
  std::string dir = temp_dir();
  BackgroundProcess sc({bin(), "failstop", "freeze", "--pid", std::to_string(shell.pid()), "--for", "1s", "--events", dir + "/e.jsonl"});
  ASSERT_TRUE(wait_event(dir + "/e.jsonl", "fail")) << sc.err();
  auto events = read_events(dir + "/e.jsonl");
  nlohmann::json fail;
  for (const auto& e : events)
    if (e.value("event", "") == "fail") fail = e;
  EXPECT_TRUE(fail.value("transient_cgroup", false));
  EXPECT_EQ(fail["pids"].size(), 3u);  // the shell and the two children it forked
  std::string transient = fail.value("cgroup", "");
  EXPECT_TRUE(v2_frozen(transient));
  EXPECT_EQ(sc.wait(), 0) << sc.err();
  EXPECT_EQ(v2_cgroup_of(shell.pid()), home);
  EXPECT_FALSE(path_exists(transient));
  EXPECT_NE(process_state(shell.pid()), 'D');
  // The shell's children outlive it when it is killed: end them too.
  for (pid_t pid : fail["pids"].get<std::vector<pid_t>>())
    if (pid != shell.pid()) ::kill(pid, SIGKILL);
}

TEST(FailstopCgroups, GuardThawsWhenSyschaosIsKilled) {
  TestCgroup cg(kV2Root, name("guard"));
  std::string dir = temp_dir();
  BackgroundProcess sc({bin(), "failstop", "freeze", "--cgroup", cg.dir(), "--events", dir + "/e.jsonl"});
  ASSERT_TRUE(wait_event(dir + "/e.jsonl", "fail")) << sc.err();
  ASSERT_TRUE(v2_frozen(cg.dir()));
  sc.signal(SIGKILL);
  sc.wait();
  EXPECT_TRUE(eventually([&] { return !v2_frozen(cg.dir()); }, std::chrono::seconds(5)));
  // The guard removes the state file right after restoring.
  EXPECT_TRUE(eventually([&] { return !path_exists("/run/syschaos/failstop/" + std::to_string(sc.pid()) + ".json"); },
                         std::chrono::seconds(5)));
}

TEST(FailstopCgroups, RestoreCommandThawsWhenGuardIsKilledToo) {
  TestCgroup cg(kV2Root, name("restore"));
  std::string dir = temp_dir();
  BackgroundProcess sc({bin(), "failstop", "freeze", "--cgroup", cg.dir(), "--events", dir + "/e.jsonl"});
  ASSERT_TRUE(wait_event(dir + "/e.jsonl", "fail")) << sc.err();
  // The guard's pid is in syschaos's first line: "... guard pid N".
  std::string err = sc.err();
  size_t at = err.find("guard pid ");
  ASSERT_NE(at, std::string::npos) << err;
  pid_t guard = std::stoi(err.substr(at + 10));
  ::kill(guard, SIGKILL);
  sc.signal(SIGKILL);
  sc.wait();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  ASSERT_TRUE(v2_frozen(cg.dir()));  // nobody left to thaw it
  auto r = run_command({bin(), "failstop", "restore"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("restored"), std::string::npos) << r.out;
  EXPECT_FALSE(v2_frozen(cg.dir()));
}

TEST(FailstopCgroups, BadInputIsOneLineAndExit2) {
  for (const auto& argv : std::vector<std::vector<std::string>>{
           {bin(), "failstop", "freeze"},
           {bin(), "failstop", "freeze", "--pid", "999999999"},
           {bin(), "failstop", "freeze", "--pid", "1", "--after", "1s", "--rate", "2"},
           {bin(), "failstop", "freeze", "--pid", "1", "--every", "10ms"},
           {bin(), "failstop", "freeze", "--pid", "1", "--select", "3"},
           {bin(), "failstop", "kill", "--pid", "1", "--signal", "NOPE"},
           {bin(), "failstop", "crash", "--pid", "1", "--after-syscall", "nosuchcall:3"},
           {bin(), "failstop", "run", "/nonexistent.yaml"},
           {bin(), "failstop", "freeze", "--pid", "1"},  // the host's init: refused up front
       }) {
    auto r = run_command(argv);
    EXPECT_EQ(r.exit_code, 2) << argv.back() << ": " << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  }
}

}  // namespace
}  // namespace syschaos::testing
