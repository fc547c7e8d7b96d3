// The N-th-syscall trigger is exact: the kernel stops the victim (SIGSTOP from
// bpf/failstop_syscalls.bpf.c) as its N-th call enters, so the failure lands on a process
// that has made exactly N calls and has run no instruction after the N-th. The workload
// (programs/failstop_exact.c) counts, per process, the getppid calls it has begun (before
// the call) and those that returned to it (after): stopped right after its N-th call it
// shows begun = N, returned = N - 1. Also: a freeze leaves the target frozen, not stopped,
// and thaws it; a SIGKILL of syschaos after the hit leaves it running.
#include <fcntl.h>
#include <sys/stat.h>

#include <array>
#include <sstream>

#include "failstop_test_support.hpp"

namespace syschaos::testing {
namespace {

// The workload's counters, read while it is stopped or frozen.
struct Counters {
  std::array<uint64_t, 12> v{};
  uint64_t begun(int process = 0) const { return v[2 * process]; }
  uint64_t returned(int process = 0) const { return v[2 * process + 1]; }
  uint64_t interrupted_sleeps(int process = 0) const { return v[8 + process]; }
};

Counters read_counters(const std::string& path) {
  Counters c;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    if (::pread(fd, c.v.data(), sizeof(c.v), 0) != static_cast<ssize_t>(sizeof(c.v))) c.v.fill(0);
    ::close(fd);
  }
  return c;
}

nlohmann::json first_event(const std::string& path, const std::string& kind) {
  for (const auto& e : read_events(path))
    if (e.is_object() && e.value("event", "") == kind) return e;
  return {};
}

std::vector<pid_t> children_of(pid_t pid) {
  std::vector<pid_t> out;
  std::istringstream in(read_file("/proc/" + std::to_string(pid) + "/task/" + std::to_string(pid) + "/children"));
  for (pid_t child; in >> child;) out.push_back(child);
  return out;
}

// One workload and the paths of its counter and go files.
struct Workload {
  std::string dir = temp_dir();
  std::string counters = dir + "/counters", go = dir + "/go", events = dir + "/events.jsonl";
  std::unique_ptr<BackgroundProcess> proc;
  std::vector<pid_t> children;

  explicit Workload(const std::string& pace, int workers = 1, const std::string& kind = "processes") {
    proc = std::make_unique<BackgroundProcess>(
        std::vector<std::string>{prog("failstop_exact"), counters, go, pace, std::to_string(workers), kind});
    size_t expected_children = kind == "processes" ? size_t(workers - 1) : 0;
    eventually([&] { return path_exists(counters) && children_of(proc->pid()).size() == expected_children; },
               std::chrono::seconds(10));
    children = children_of(proc->pid());
  }
  ~Workload() {
    for (pid_t c : children) ::kill(c, SIGKILL);
  }
  pid_t pid() const { return proc->pid(); }
  Counters now() const { return read_counters(counters); }
  void start() const { std::ofstream(go).put('x'); }
  // True when the workload makes calls again (calls returned beyond `than`).
  bool runs_past(uint64_t than, int process = 0) const {
    return eventually([&] { return now().returned(process) > than; }, std::chrono::seconds(10));
  }
};

std::vector<std::string> failstop(const std::string& mode, pid_t pid, const std::string& spec,
                                  const std::string& events, std::vector<std::string> more = {}) {
  std::vector<std::string> argv = {bin(),           "failstop", mode, "--pid", std::to_string(pid),
                                   "--after-syscall", spec,      "--events", events};
  argv.insert(argv.end(), more.begin(), more.end());
  return argv;
}

// One `syschaos failstop` run against a workload: the steps every test goes through.
class FailstopRun {
 public:
  FailstopRun(Workload& w, const std::vector<std::string>& argv) : w_(w), sc_(argv) {}
  BackgroundProcess& syschaos() { return sc_; }

  // Armed (its first "step" event), then the workload let go.
  ::testing::AssertionResult start() {
    if (!wait_event(w_.events, "step")) return ::testing::AssertionFailure() << "not armed: " << sc_.err();
    w_.start();
    return ::testing::AssertionSuccess();
  }
  // The same with syschaos stopped (SIGSTOP) over the hit: the kernel's stop of the workload
  // is all that happens, and the test decides what syschaos goes through next.
  ::testing::AssertionResult start_and_hold_with_syschaos_stopped() {
    if (!wait_event(w_.events, "step")) return ::testing::AssertionFailure() << "not armed: " << sc_.err();
    sc_.signal(SIGSTOP);
    w_.start();
    if (!eventually([&] { return process_state(w_.pid()) == 'T'; }, std::chrono::seconds(20)))
      return ::testing::AssertionFailure() << "the kernel did not stop the workload: State " << process_state(w_.pid());
    return ::testing::AssertionSuccess();
  }
  // The failure happened (its "fail" event).
  ::testing::AssertionResult failed() {
    if (wait_event(w_.events, "fail", 1, std::chrono::seconds(60))) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << "no failure: " << sc_.err();
  }

 private:
  Workload& w_;
  BackgroundProcess sc_;
};

// Held right after its N-th call: N calls begun, N - 1 returned.
void expect_held_at(const Counters& at, uint64_t n) {
  EXPECT_EQ(at.begun(), n) << "calls begun by the workload";
  EXPECT_EQ(at.returned(), n - 1) << "the workload ran on after its N-th call";
}

// Not left stopped: calls return again beyond n, and the state is not T.
void expect_runs_again(const Workload& w, uint64_t n, const std::string& otherwise) {
  EXPECT_TRUE(w.runs_past(n)) << otherwise;
  EXPECT_NE(process_state(w.pid()), 'T');
}

bool cgroup_frozen(const std::string& v2_path) {
  std::string events = read_file("/sys/fs/cgroup/unified" + v2_path + "/cgroup.events");
  return events.find("frozen 1") != std::string::npos;
}

// Freeze at the N-th getppid: the workload has begun exactly N calls and got N - 1 back;
// it is frozen (State S, the cgroup frozen), not stopped (T); it makes no call while frozen,
// and goes on after --for.
void freeze_exactly_at(uint64_t n, const std::string& pace) {
  Workload w(pace);
  FailstopRun run(w, failstop("freeze", w.pid(), "getppid:" + std::to_string(n), w.events, {"--for", "3s"}));
  ASSERT_TRUE(run.start());
  ASSERT_TRUE(run.failed());
  Counters at = w.now();
  auto fail = first_event(w.events, "fail");
  EXPECT_EQ(fail.value("count", 0ULL), n);
  EXPECT_EQ(fail.value("count_at_failure", 0ULL), n) << "calls counted between the hit and the freeze";
  EXPECT_EQ(fail.value("stopped_in_kernel", 0), 1);
  expect_held_at(at, n);
  // Frozen, not stopped: the kernel's SIGSTOP was followed by the freeze, then SIGCONT.
  EXPECT_TRUE(eventually([&] { return process_state(w.pid()) == 'S'; }, std::chrono::seconds(2)))
      << "State " << process_state(w.pid());
  std::string cgroup = v2_cgroup_of(w.pid());
  EXPECT_NE(cgroup.find("syschaos-failstop-"), std::string::npos) << cgroup;
  EXPECT_TRUE(cgroup_frozen(cgroup)) << cgroup;
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  Counters later = w.now();
  EXPECT_EQ(count_events(w.events, "undo"), 0u) << "the machine is too slow for this test's 3 s freeze";
  EXPECT_EQ(later.begun(), n);
  EXPECT_EQ(later.returned(), n - 1);
  EXPECT_EQ(run.syschaos().wait(), 0) << run.syschaos().err();
  // Thawed: the N-th call's return is seen, and the calls go on.
  expect_runs_again(w, n, "not thawed");
  EXPECT_EQ(v2_cgroup_of(w.pid()).find("syschaos-failstop-"), std::string::npos);
}

TEST(FailstopExactTrigger, FreezeAtCall300Paced) { freeze_exactly_at(300, "paced"); }
TEST(FailstopExactTrigger, FreezeAtFirstCall) { freeze_exactly_at(1, "paced"); }
TEST(FailstopExactTrigger, FreezeAtCall100000TightLoop) { freeze_exactly_at(100000, "tight"); }

// The same through a cgroup of the target's own (`--cgroup`): the v2 freezer, and the v1
// freezer (what `docker pause` uses), where a frozen task shows State D, not S.
void freeze_cgroup_exactly_at_300(const std::string& root, const std::string& freezer_file,
                                  const std::string& frozen_word, char frozen_state) {
  Workload w("paced");
  std::string dir = root + "/syschaos-failstop-test-exact-" + std::to_string(::getpid());
  ASSERT_EQ(::mkdir(dir.c_str(), 0755), 0) << dir;
  std::ofstream(dir + "/cgroup.procs") << w.pid();
  FailstopRun run(w, {bin(), "failstop", "freeze", "--cgroup", dir, "--after-syscall", "getppid:300", "--for", "3s",
              "--events", w.events});
  // No ASSERT before the cleanup below: the test's cgroup must go whatever happened.
  if (auto started = run.start(); !started) {
    ADD_FAILURE() << started.message();
  } else if (auto failed = run.failed(); !failed) {
    ADD_FAILURE() << failed.message();
  } else {
    Counters at = w.now();
    expect_held_at(at, 300);
    EXPECT_TRUE(eventually([&] { return process_state(w.pid()) == frozen_state; }, std::chrono::seconds(2)))
        << "State " << process_state(w.pid());
    EXPECT_NE(read_file(dir + "/" + freezer_file).find(frozen_word), std::string::npos);
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    EXPECT_EQ(w.now().v, at.v) << "calls while frozen";
    EXPECT_EQ(run.syschaos().wait(), 0) << run.syschaos().err();
    expect_runs_again(w, 300, "not thawed");
  }
  run.syschaos().signal(SIGKILL);
  w.proc.reset();  // killed and reaped: the cgroup can go
  if (freezer_file == "freezer.state")
    std::ofstream(dir + "/freezer.state") << "THAWED";
  else
    std::ofstream(dir + "/cgroup.freeze") << "0";
  eventually([&] { return ::rmdir(dir.c_str()) == 0 || errno == ENOENT; }, std::chrono::seconds(5));
}

TEST(FailstopExactTrigger, FreezeOwnV2CgroupAtCall300) {
  freeze_cgroup_exactly_at_300("/sys/fs/cgroup/unified", "cgroup.events", "frozen 1", 'S');
}
TEST(FailstopExactTrigger, FreezeV1FreezerCgroupAtCall300) {
  freeze_cgroup_exactly_at_300("/sys/fs/cgroup/freezer", "freezer.state", "FROZEN", 'D');
}

TEST(FailstopExactTrigger, CrashAtCall300) {
  Workload w("paced");
  FailstopRun run(w, failstop("crash", w.pid(), "getppid:300", w.events, {"--for", "500ms"}));
  ASSERT_TRUE(run.start());
  EXPECT_EQ(w.proc->wait(std::chrono::seconds(30)), 128 + SIGKILL);
  expect_held_at(w.now(), 300);
  EXPECT_EQ(run.syschaos().wait(), 0) << run.syschaos().err();
}

TEST(FailstopExactTrigger, KillTermAtCall300TightLoop) {
  // The stop comes first, then SIGTERM, then SIGCONT: the pending SIGTERM is acted on
  // before the workload runs another instruction.
  Workload w("tight");
  FailstopRun run(w, failstop("kill", w.pid(), "getppid:300", w.events, {"--signal", "TERM"}));
  ASSERT_TRUE(run.start());
  EXPECT_EQ(w.proc->wait(std::chrono::seconds(30)), 128 + SIGTERM);
  expect_held_at(w.now(), 300);
  EXPECT_EQ(run.syschaos().wait(), 0) << run.syschaos().err();
}

// A victim of two workers: two processes (the workload and the child it forked before
// arming) or two threads. The call that reaches N stops both from the kernel. A call the
// other worker had already begun may still complete (it is counted: at most one per other
// thread); nothing runs after that.
void two_workers_stopped_at(const std::string& kind) {
  Workload w("paced", 2, kind);
  ASSERT_EQ(w.children.size(), kind == "processes" ? 1u : 0u);
  FailstopRun run(w, failstop("freeze", w.pid(), "getppid:300", w.events, {"--for", "3s"}));
  ASSERT_TRUE(run.start());
  ASSERT_TRUE(run.failed());
  Counters at = w.now();
  auto fail = first_event(w.events, "fail");
  EXPECT_EQ(fail.value("stopped_in_kernel", 0), kind == "processes" ? 2 : 1);
  uint64_t counted = fail.value("count_at_failure", 0ULL);
  // The worker that made the N-th call: the main thread of the first process is worker 0.
  int hitter = fail.value(kind == "processes" ? "hit_pid" : "hit_tid", 0) == w.pid() ? 0 : 1;
  EXPECT_EQ(at.begun(hitter), at.returned(hitter) + 1) << "the hitting worker ran on after its call";
  uint64_t begun = at.begun(0) + at.begun(1), returned = at.returned(0) + at.returned(1);
  EXPECT_GE(counted, 300u);
  EXPECT_LE(counted, 301u);
  EXPECT_LE(returned, counted);
  EXPECT_LE(counted, begun);
  std::printf("%s: counted %llu, worker 0 begun %llu returned %llu, worker 1 begun %llu returned %llu\n",
              kind.c_str(), (unsigned long long)counted, (unsigned long long)at.begun(0),
              (unsigned long long)at.returned(0), (unsigned long long)at.begun(1), (unsigned long long)at.returned(1));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  Counters later = w.now();
  EXPECT_EQ(later.v, at.v) << "a worker ran while frozen";
  EXPECT_EQ(run.syschaos().wait(), 0) << run.syschaos().err();
  EXPECT_TRUE(w.runs_past(at.returned(0), 0));
  EXPECT_TRUE(w.runs_past(at.returned(1), 1));
}

TEST(FailstopExactTrigger, TwoProcessesBothStoppedFromTheKernel) { two_workers_stopped_at("processes"); }
TEST(FailstopExactTrigger, TwoThreadsBothStopped) { two_workers_stopped_at("threads"); }

// SIGKILL of syschaos between the kernel's stop and anything syschaos does about it: the
// guard continues the target. syschaos is itself stopped before the hit, so the kernel's
// SIGSTOP is all that happens — this also shows that the stop is the kernel's.
TEST(FailstopExactTrigger, SigkillOfSyschaosAfterTheHitLeavesTargetRunning) {
  Workload w("paced");
  FailstopRun run(w, failstop("freeze", w.pid(), "getppid:300", w.events, {"--for", "10s"}));
  ASSERT_TRUE(run.start_and_hold_with_syschaos_stopped());
  Counters at = w.now();
  expect_held_at(at, 300);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(w.now().v, at.v) << "stopped, yet calling";
  EXPECT_EQ(count_events(w.events, "fail"), 0u);
  run.syschaos().signal(SIGKILL);
  EXPECT_EQ(run.syschaos().wait(), 128 + SIGKILL);
  expect_runs_again(w, 300, "left stopped after syschaos died");
}

// A call that waits: the stop interrupts the 300th sleep before it waits, and the kernel
// restarts it after the freeze (restart_syscall): the workload never sees EINTR.
TEST(FailstopExactTrigger, WaitingCallIsRestartedNotFailed) {
  Workload w("paced");
  FailstopRun run(w, failstop("freeze", w.pid(), "clock_nanosleep:300", w.events, {"--for", "2s"}));
  ASSERT_TRUE(run.start());
  ASSERT_TRUE(run.failed());
  Counters at = w.now();
  EXPECT_EQ(first_event(w.events, "fail").value("count_at_failure", 0ULL), 300u);
  // Each iteration is getppid then the sleep: held in its 300th sleep.
  EXPECT_EQ(at.begun(), 300u);
  EXPECT_EQ(at.returned(), 300u);
  EXPECT_EQ(run.syschaos().wait(), 0) << run.syschaos().err();
  EXPECT_TRUE(w.runs_past(300));
  EXPECT_EQ(w.now().interrupted_sleeps(), 0u) << "a sleep failed with EINTR after the stop";
}

// Ctrl-C between the kernel's stop and syschaos's failure: the run ends without a failure
// and continues the target. syschaos is stopped over the hit, then gets SIGINT and SIGCONT:
// it sees the stop request before the hit.
TEST(FailstopExactTrigger, InterruptedBeforeTheFailureContinuesTarget) {
  Workload w("paced");
  FailstopRun run(w, failstop("freeze", w.pid(), "getppid:300", w.events, {"--for", "10s"}));
  ASSERT_TRUE(run.start_and_hold_with_syschaos_stopped());
  run.syschaos().signal(SIGINT);
  run.syschaos().signal(SIGCONT);
  EXPECT_EQ(run.syschaos().wait(), 0) << run.syschaos().err();
  EXPECT_EQ(count_events(w.events, "fail"), 0u);
  EXPECT_EQ(first_event(w.events, "end").value("reason", ""), "signal");
  expect_runs_again(w, 300, "left stopped by an interrupted run");
}

// Both syschaos and its guard SIGKILLed after the hit: the target stays stopped until
// `syschaos failstop restore` (or the next failstop run) continues it.
TEST(FailstopExactTrigger, RestoreContinuesWhenGuardIsKilledToo) {
  Workload w("paced");
  FailstopRun run(w, failstop("freeze", w.pid(), "getppid:300", w.events, {"--for", "10s"}));
  ASSERT_TRUE(run.start_and_hold_with_syschaos_stopped());
  // Armed, so the guard's pid is on syschaos's stderr.
  std::string err = run.syschaos().err();
  size_t at = err.find("guard pid ");
  ASSERT_NE(at, std::string::npos) << err;
  pid_t guard = std::atoi(err.c_str() + at + 10);
  ASSERT_GT(guard, 1);
  ::kill(guard, SIGKILL);
  run.syschaos().signal(SIGKILL);
  EXPECT_EQ(run.syschaos().wait(), 128 + SIGKILL);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(process_state(w.pid()), 'T') << "continued by whom?";
  EXPECT_EQ(w.now().returned(), 299u);
  auto r = run_command({bin(), "failstop", "restore"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("continued 1 process(es) stopped by its syscall trigger"), std::string::npos) << r.out;
  expect_runs_again(w, 300, "still stopped after failstop restore");
}

// The same without stopping syschaos: SIGKILL as soon as the workload has begun its N-th
// call, while syschaos is freezing it (or has just done so).
TEST(FailstopExactTrigger, SigkillOfSyschaosRightAfterTheHitLeavesTargetRunning) {
  Workload w("paced");
  FailstopRun run(w, failstop("freeze", w.pid(), "getppid:300", w.events, {"--for", "10s"}));
  ASSERT_TRUE(run.start());
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (w.now().begun() < 300 && std::chrono::steady_clock::now() < deadline) {
  }
  uint64_t at_kill = w.now().begun();
  run.syschaos().signal(SIGKILL);
  EXPECT_EQ(run.syschaos().wait(), 128 + SIGKILL);
  EXPECT_EQ(at_kill, 300u) << "not held at its 300th call";
  expect_runs_again(w, 300, "left stopped or frozen after syschaos died");
  EXPECT_EQ(v2_cgroup_of(w.pid()).find("syschaos-failstop-"), std::string::npos);
}

}  // namespace
}  // namespace syschaos::testing
