// Freeze through each kind of cgroup (v1 freezer, v2, a transient v2 cgroup for a pid), and
// the safety net: SIGKILL of syschaos (its guard thaws), SIGKILL of both syschaos and its
// guard (`syschaos failstop restore` thaws), bad input (exit 2, nothing touched).
#include <fcntl.h>
#include <sys/stat.h>

#include <cstdio>

#include "failstop/safety_guard.hpp"
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

std::string first_fail_cgroup(const std::string& events) {
  for (const auto& e : read_events(events))
    if (e.value("event", "") == "fail") return e.value("cgroup", "");
  return {};
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

// A pid target lives in a transient cgroup while frozen: a SIGKILL of syschaos must leave it
// running, back in its own cgroup, with the transient one gone.
TEST(FailstopCgroups, GuardSendsAFrozenPidHomeWhenSyschaosIsKilled) {
  BackgroundProcess sleeper({"sleep", "300"});
  std::string home = v2_cgroup_of(sleeper.pid());
  std::string dir = temp_dir();
  BackgroundProcess sc({bin(), "failstop", "freeze", "--pid", std::to_string(sleeper.pid()), "--events", dir + "/e.jsonl"});
  ASSERT_TRUE(wait_event(dir + "/e.jsonl", "fail")) << sc.err();
  std::string transient = first_fail_cgroup(dir + "/e.jsonl");
  ASSERT_TRUE(v2_frozen(transient));
  sc.signal(SIGKILL);
  sc.wait();
  EXPECT_TRUE(eventually([&] { return v2_cgroup_of(sleeper.pid()) == home; }, std::chrono::seconds(5)));
  EXPECT_TRUE(eventually([&] { return !path_exists(transient); }, std::chrono::seconds(5)));
  EXPECT_NE(process_state(sleeper.pid()), 'D');
  ::kill(sleeper.pid(), SIGKILL);
}

// With the guard killed too, the next freeze/crash/kill run restores the leftovers first.
TEST(FailstopCgroups, TheNextRunRestoresWhatAKilledRunLeft) {
  TestCgroup left(kV2Root, name("left"));
  TestCgroup next(kV2Root, name("next"));
  std::string dir = temp_dir();
  BackgroundProcess sc({bin(), "failstop", "freeze", "--cgroup", left.dir(), "--events", dir + "/e.jsonl"});
  ASSERT_TRUE(wait_event(dir + "/e.jsonl", "fail")) << sc.err();
  std::string err = sc.err();
  size_t at = err.find("guard pid ");
  ASSERT_NE(at, std::string::npos) << err;
  ::kill(std::stoi(err.substr(at + 10)), SIGKILL);
  sc.signal(SIGKILL);
  sc.wait();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  ASSERT_TRUE(v2_frozen(left.dir()));  // nobody left to thaw it
  auto r = run_command({bin(), "failstop", "freeze", "--cgroup", next.dir(), "--for", "200ms", "--events",
                        dir + "/next.jsonl"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_FALSE(v2_frozen(left.dir())) << r.err;
  EXPECT_NE(r.err.find("restored what an earlier run left"), std::string::npos) << r.err;
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

// The process state letter of /proc/PID/stat ('S' sleeping, 'T' stopped, ...).
char proc_state(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(in, line);
  auto close = line.rfind(')');
  return close == std::string::npos || close + 2 >= line.size() ? '?' : line[close + 2];
}

std::string run_text(const std::string& cmd) {
  std::string out;
  if (std::FILE* f = ::popen(cmd.c_str(), "r")) {
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
    ::pclose(f);
  }
  return out;
}

// Every case names a real, eligible target (a sleep of this test), so only the mistake
// itself can make syschaos refuse: each must be one line naming that mistake, exit 2, and
// leave the target as it was (running, same cgroup, no BPF program on its cgroup).
TEST(FailstopCgroups, BadInputIsOneLineAndExit2) {
  // Its own v2 cgroup: the BPF programs on it can only come from these runs.
  TestCgroup cg(kV2Root, name("badinput"));
  BackgroundProcess other({"sleep", "300"});
  std::string pid = std::to_string(cg.pid());
  std::string two = pid + "," + std::to_string(other.pid());
  std::string dir = temp_dir();
  std::string sched_select = dir + "/select.yaml", sched_signal = dir + "/signal.yaml";
  // Step 1 would kill the sleeper: the bad step 2 must be refused before it can happen.
  std::ofstream(sched_select) << "targets:\n  a: {pid: " << pid << "}\nsteps:\n  - kill: a\n  - freeze: a\n    select: 3\n";
  std::ofstream(sched_signal) << "targets:\n  a: {pid: " << pid << "}\nsteps:\n  - kill: a\n  - crash: a\n    signal: TERM\n";
  std::string cgroup_before = v2_cgroup_of(cg.pid());
  ASSERT_NE(cgroup_before.find("badinput"), std::string::npos) << cgroup_before;
  std::string bpf_before = run_text("bpftool cgroup show " + kV2Root + cgroup_before + " 2>&1");
  struct Case {
    std::vector<std::string> argv;
    std::string says;
  };
  for (const Case& c : std::vector<Case>{
           {{bin(), "failstop", "freeze"}, "give at least one target"},
           {{bin(), "failstop", "freeze", "--pid", "999999999"}, "999999999"},
           {{bin(), "failstop", "freeze", "--pid", "1"}, "init"},
           {{bin(), "failstop", "freeze", "--pid", pid, "--after", "1s", "--rate", "2"}, "at most one of"},
           {{bin(), "failstop", "freeze", "--pid", pid, "--every", "10ms"}, "--every and --prob go together"},
           {{bin(), "failstop", "freeze", "--pid", pid, "--select", "3"}, "--select 3 but only 1 target"},
           {{bin(), "failstop", "kill", "--pid", pid, "--signal", "NOPE"}, "NOPE"},
           {{bin(), "failstop", "kill", "--pid", pid, "--for", "1s"}, "--for"},  // a kill has no --for
           {{bin(), "failstop", "crash", "--pid", pid, "--after-syscall", "nosuchcall:3"}, "unknown syscall 'nosuchcall'"},
           {{bin(), "failstop", "crash", "--pid", pid, "--after-syscall", "write:0"}, "whole number >= 1"},
           {{bin(), "failstop", "freeze", "--pid", pid, "--freezer", "v3"}, "--freezer"},
           {{bin(), "failstop", "run", "/nonexistent.yaml"}, "/nonexistent.yaml"},
           {{bin(), "failstop", "run", sched_select}, "select 3 but the step names only 1"},
           {{bin(), "failstop", "run", sched_signal}, "only a kill step sends a signal"},
           {{bin(), "failstop", "omit", "--pid", pid, "--drop", "150%"}, "--drop"},
           {{bin(), "failstop", "omit", "--pid", pid, "--drop", "10%", "--direction", "x"}, "--direction must be"},
           {{bin(), "failstop", "omit", "--pid", pid, "--drop", "10%", "--ports", "0"}, "--ports: 0"},
           {{bin(), "failstop", "omit", "--pid", two, "--drop", "10%"}, "exactly one target"},
           {{bin(), "failstop", "duplicate", "--pid", pid, "--fraction", "-1"}, "--fraction"},
           {{bin(), "failstop", "duplicate", "--pid", two, "--fraction", "10%"}, "exactly one target"},
           {{bin(), "failstop", "duplicate", "--pid", pid, "--fraction", "10%", "--interface", "nosuchif0"}, "nosuchif0"},
       }) {
    std::string shown;
    for (size_t i = 1; i < c.argv.size(); ++i) shown += c.argv[i] + " ";
    auto r = run_command(c.argv);
    EXPECT_EQ(r.exit_code, 2) << shown << ": " << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << shown << ": " << r.err;
    EXPECT_NE(r.err.find(c.says), std::string::npos) << shown << ": wanted '" << c.says << "' in: " << r.err;
    // Nothing happened to the target.
    EXPECT_EQ(::kill(cg.pid(), 0), 0) << shown;
    EXPECT_EQ(proc_state(cg.pid()), 'S') << shown;
    EXPECT_EQ(v2_cgroup_of(cg.pid()), cgroup_before) << shown;
    EXPECT_EQ(run_text("bpftool cgroup show " + kV2Root + cgroup_before + " 2>&1"), bpf_before) << shown;
  }
}

// The guard acknowledges that it runs: start() returns only then. The read end of the
// guard's socket is fd 3 here (the lowest free fd), the case where dup2(3, 3) would have
// left close-on-exec set and the guard would have had no fd to read.
TEST(FailstopGuard, StartsOnlyWithTheGuardsAcknowledgement) {
  std::string state = temp_dir() + "/guard-test.json";
  int saved = ::fcntl(3, F_GETFD) >= 0 ? ::fcntl(3, F_DUPFD_CLOEXEC, 10) : -1;
  if (saved >= 0) ::close(3);
  {
    auto guard = failstop::SafetyGuard::start(bin(), state);
    ASSERT_TRUE(guard.ok()) << guard.error().message();
    EXPECT_GT(guard->pid(), 0);
    EXPECT_EQ(::kill(guard->pid(), 0), 0);
    auto d = guard->dismiss();
    EXPECT_TRUE(d.ok()) << d.error().message();
  }
  if (saved >= 0) {
    ::dup3(saved, 3, O_CLOEXEC);
    ::close(saved);
  }
}

// A guard that cannot start is an error, not an unguarded run: an executable that does not
// exist (exec fails, the child exits 127), and one that runs but is not syschaos (never
// acknowledges).
TEST(FailstopGuard, AGuardThatDoesNotStartIsAnError) {
  std::string state = temp_dir() + "/guard-test.json";
  for (const std::string& exe : {std::string("/nonexistent/syschaos"), std::string("/bin/true")}) {
    auto guard = failstop::SafetyGuard::start(exe, state);
    ASSERT_FALSE(guard.ok()) << exe;
    EXPECT_NE(guard.error().message().find("refusing to inject without it"), std::string::npos)
        << guard.error().message();
  }
}

// dismiss() on a guard that died already: an error, and syschaos lives (before, the write
// raised SIGPIPE and ended syschaos with 141 — here it would end this test program).
TEST(FailstopGuard, DismissingADeadGuardIsAnErrorNotSigpipe) {
  std::string state = temp_dir() + "/guard-test.json";
  auto guard = failstop::SafetyGuard::start(bin(), state);
  ASSERT_TRUE(guard.ok()) << guard.error().message();
  ASSERT_EQ(::kill(guard->pid(), SIGKILL), 0);
  // Wait until it is a zombie, so its end of the socket is closed.
  eventually([&] { return proc_state(guard->pid()) == 'Z'; }, std::chrono::seconds(5));
  auto d = guard->dismiss();
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.error().message().find("safety guard gone"), std::string::npos) << d.error().message();
}

}  // namespace
}  // namespace syschaos::testing
