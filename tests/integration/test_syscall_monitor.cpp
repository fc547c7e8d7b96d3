// The eBPF syscall monitor against real processes: exact counts per (syscall, errno),
// latency buckets, children forked after the monitor started, processes outside the target
// set ignored, interval resets, no loss at a high call rate, the event stream, the cgroup
// filter, and the one-line error without privilege. Needs root.
#include <bpf/bpf.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fcntl.h>

#include <atomic>
#include <condition_variable>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include <fmt/format.h>

#include "core/syscall_table.hpp"
#include "observe/syscall_monitor.hpp"
#include "process_runner.hpp"
#include "target/cgroup_paths.hpp"

using namespace syschaos;
using namespace syschaos::testing;
using namespace std::chrono_literals;

namespace {

std::string workload() { return std::string(TESTPROGS_DIR) + "/syscall_workload"; }

int nr_of(const char* name) { return SyscallTable::native().number(name).value(); }

// The workload has blocked SIGUSR1 and waits for it in rt_sigtimedwait (sigwait). SigBlk
// of /proc/PID/status cannot tell: the kernel unblocks the awaited signals during the wait.
bool waits_for_go(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/syscall");
  long nr = -1;
  return (in >> nr) && nr == SYS_rt_sigtimedwait;
}

// Sums of several intervals, per syscall number.
struct Totals {
  std::map<int, SyscallStats> by_nr;
  uint64_t total_calls = 0, total_errors = 0, events_lost = 0;

  void add(const Interval& interval) {
    total_calls += interval.total_calls;
    total_errors += interval.total_errors;
    events_lost += interval.events_lost;
    for (const SyscallStats& s : interval.syscalls) {
      SyscallStats& t = by_nr[s.nr];
      t.nr = s.nr;
      t.name = s.name;
      t.calls += s.calls;
      t.errors += s.errors;
      t.latency_sum_ns += s.latency_sum_ns;
      for (int b = 0; b < kLatencyBuckets; ++b) t.latency_log2[b] += s.latency_log2[b];
      std::map<int, uint64_t> errnos(t.errnos.begin(), t.errnos.end());
      for (const auto& [err, count] : s.errnos) errnos[err] += count;
      t.errnos.assign(errnos.begin(), errnos.end());
    }
  }
  uint64_t calls(const char* name) const {
    auto it = by_nr.find(nr_of(name));
    return it == by_nr.end() ? 0 : it->second.calls;
  }
  SyscallStats stats(const char* name) const {
    auto it = by_nr.find(nr_of(name));
    return it == by_nr.end() ? SyscallStats{} : it->second;
  }
};

uint64_t histogram_total(const SyscallStats& s) {
  uint64_t n = 0;
  for (auto c : s.latency_log2) n += c;
  return n;
}

std::unique_ptr<SyscallMonitor> make_monitor(const SyscallMonitorOptions& options = {}) {
  auto monitor = SyscallMonitor::create(options);
  if (!monitor.ok()) ADD_FAILURE() << monitor.error().message();
  return monitor.ok() ? std::move(monitor.value()) : nullptr;
}

Interval collect_ok(SyscallMonitor& monitor) {
  auto interval = monitor.collect();
  EXPECT_TRUE(interval.ok()) << interval.error().message();
  return interval.ok() ? std::move(interval.value()) : Interval{};
}

void getppid_n(int n) {
  for (int i = 0; i < n; ++i) ::syscall(SYS_getppid);
}

// Where the whole cgroup v2 hierarchy is mounted (its root, not a namespace's view of a
// part of it); empty when there is none.
std::string cgroup_v2_root(const std::vector<CgroupMount>& mounts) {
  std::string root;
  for (const CgroupMount& m : mounts)
    if (m.v2 && m.root == "/") root = m.mount_point;  // the last one, as /proc lists them
  return root;
}

}  // namespace

TEST(SyscallMonitor, ExactCountsErrnosLatencyAndForkedChildButNotOtherProcesses) {
  auto monitor = make_monitor();
  ASSERT_TRUE(monitor);
  constexpr int kGetppid = 1000, kOpenat = 300, kRead = 200, kSleeps = 5, kChildGetppid = 700;

  // An untracked process hammering the same syscall the whole time.
  BackgroundProcess noise({workload(), "spin", "1", "1500", "nowait"});
  BackgroundProcess target({workload(), "calls", std::to_string(kGetppid), std::to_string(kOpenat),
                            std::to_string(kRead), std::to_string(kSleeps),
                            std::to_string(kChildGetppid)});
  ASSERT_TRUE(eventually([&] { return waits_for_go(target.pid()); }, 5s));
  ASSERT_TRUE(monitor->add_process(target.pid()).ok());
  EXPECT_EQ(monitor->tracked_processes(), 1u);
  Totals totals;
  totals.add(collect_ok(*monitor));  // empty or nearly: the target is still waiting
  target.signal(SIGUSR1);
  ASSERT_EQ(target.wait(10s), 0) << "the workload saw an unexpected result: " << target.err();
  totals.add(collect_ok(*monitor));
  ASSERT_EQ(noise.wait(10s), 0);
  EXPECT_GT(std::stoull(noise.out()), 100000u) << "the untracked process did not run alongside";

  // The parent's and the forked child's getppid calls, and no one else's.
  EXPECT_EQ(totals.calls("getppid"), uint64_t{kGetppid + kChildGetppid});
  EXPECT_EQ(totals.stats("getppid").errors, 0u);
  EXPECT_EQ(histogram_total(totals.stats("getppid")), uint64_t{kGetppid + kChildGetppid});

  SyscallStats openat = totals.stats("openat");
  EXPECT_EQ(openat.calls, uint64_t{kOpenat});
  EXPECT_EQ(openat.errors, uint64_t{kOpenat});
  EXPECT_EQ(openat.errnos, (std::vector<std::pair<int, uint64_t>>{{ENOENT, kOpenat}}));

  SyscallStats read = totals.stats("read");
  EXPECT_EQ(read.calls, uint64_t{kRead});
  EXPECT_EQ(read.errnos, (std::vector<std::pair<int, uint64_t>>{{EBADF, kRead}}));

  // 20 ms lies in bucket 24: [2^24, 2^25) ns = [16.8, 33.6) ms.
  SyscallStats sleep = totals.stats("nanosleep");
  EXPECT_EQ(sleep.calls, uint64_t{kSleeps});
  EXPECT_EQ(sleep.errors, 0u);
  EXPECT_EQ(sleep.latency_log2[24], uint64_t{kSleeps});
  EXPECT_GE(sleep.latency_sum_ns, uint64_t{kSleeps} * 20'000'000);
  EXPECT_LT(sleep.latency_sum_ns, uint64_t{kSleeps} << 25);

  // fork() is one clone seen twice: returning in the parent and in the child. (Which
  // clone the C library uses, and how it waits, is its business.)
  EXPECT_EQ(totals.calls("clone") + totals.calls("clone3") + totals.calls("fork"), 2u);
  EXPECT_EQ(totals.calls("wait4") + totals.calls("waitid"), 1u);

  uint64_t sum = 0, errors = 0;
  for (const auto& [nr, s] : totals.by_nr) {
    sum += s.calls;
    errors += s.errors;
    uint64_t errno_sum = 0;
    for (const auto& [err, count] : s.errnos) errno_sum += count;
    EXPECT_EQ(errno_sum, s.errors) << s.name;
  }
  EXPECT_EQ(totals.total_calls, sum);
  EXPECT_EQ(totals.total_errors, errors);
  EXPECT_EQ(monitor->last_diagnostics().missed_program_runs, 0u);
  // Both processes have exited, so the kernel took them out of the set.
  EXPECT_TRUE(eventually([&] { return monitor->tracked_processes() == 0; }, 2s));
}

TEST(SyscallMonitor, EachIntervalHoldsOnlyWhatHappenedSinceThePreviousCollect) {
  auto monitor = make_monitor();
  ASSERT_TRUE(monitor);
  ASSERT_TRUE(monitor->add_process(::getpid()).ok());
  collect_ok(*monitor);

  getppid_n(123);
  Interval first = collect_ok(*monitor);
  getppid_n(77);
  Interval second = collect_ok(*monitor);
  Interval third = collect_ok(*monitor);
  ASSERT_TRUE(monitor->remove_process(::getpid()).ok());

  auto getppid_calls = [](const Interval& interval) {
    Totals t;
    t.add(interval);
    return t.calls("getppid");
  };
  EXPECT_EQ(getppid_calls(first), 123u);
  EXPECT_EQ(getppid_calls(second), 77u);
  EXPECT_EQ(getppid_calls(third), 0u);
  EXPECT_EQ(second.index, first.index + 1);
  EXPECT_DOUBLE_EQ(second.start_unix, first.end_unix);
  EXPECT_GE(second.end_unix, second.start_unix);
  EXPECT_EQ(first.processes, 1u);
  EXPECT_TRUE(first.target_alive);
}

TEST(SyscallMonitor, LosesNoCallAtTheHighestRate) {
  auto monitor = make_monitor();
  ASSERT_TRUE(monitor);
  BackgroundProcess spinner({workload(), "spin", "2", "2000"});
  ASSERT_TRUE(eventually([&] { return waits_for_go(spinner.pid()); }, 5s));
  ASSERT_TRUE(monitor->add_process(spinner.pid()).ok());
  Totals totals;
  auto started = std::chrono::steady_clock::now();
  spinner.signal(SIGUSR1);
  // Flip the epoch often (~100 times a second) while two threads call as fast as they can.
  while (spinner.running()) {
    std::this_thread::sleep_for(10ms);
    totals.add(collect_ok(*monitor));
  }
  double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  totals.add(collect_ok(*monitor));
  ASSERT_EQ(spinner.wait(1s), 0);
  uint64_t made = std::stoull(spinner.out());
  EXPECT_GT(made, 100'000u) << "too few calls to say anything about loss";
  EXPECT_EQ(totals.calls("getppid"), made);
  EXPECT_EQ(monitor->last_diagnostics().missed_program_runs, 0u);
  std::printf("[ rate     ] %.2f M getppid/s monitored, %llu calls, last grace period %lld us\n",
              static_cast<double>(made) / seconds / 1e6, static_cast<unsigned long long>(made),
              static_cast<long long>(monitor->last_diagnostics().grace_period.count()));
}

TEST(SyscallMonitor, RemovedAndUnknownProcessesAreNotCounted) {
  auto monitor = make_monitor();
  ASSERT_TRUE(monitor);
  ASSERT_TRUE(monitor->add_process(::getpid()).ok());
  ASSERT_TRUE(monitor->add_process(::getpid()).ok()) << "adding twice is no error";
  ASSERT_TRUE(monitor->remove_process(::getpid()).ok());
  ASSERT_TRUE(monitor->remove_process(::getpid()).ok()) << "removing twice is no error";
  collect_ok(*monitor);
  getppid_n(50);
  Totals t;
  t.add(collect_ok(*monitor));
  EXPECT_EQ(t.calls("getppid"), 0u);

  // A pid that names no process, and a thread that is not a group leader.
  auto none = monitor->add_process(0x3ffffff);
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.error().message(), "no process 67108863");
  pid_t tid = 0;
  std::thread thread([&] {
    tid = static_cast<pid_t>(::syscall(SYS_gettid));
    auto r = monitor->add_process(tid);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().message(),
              fmt::format("{} is a thread of process {}, not a process: pass its thread-group id",
                          tid, ::getpid()))
        << r.error().message();
  });
  thread.join();
  EXPECT_EQ(monitor->tracked_processes(), 0u);
}

TEST(SyscallMonitor, StreamsFailedAndSlowCalls) {
  SyscallMonitorOptions options;
  options.slow_call_threshold = 10ms;
  options.failed_call_events = true;
  auto monitor = make_monitor(options);
  ASSERT_TRUE(monitor);
  ASSERT_TRUE(monitor->add_process(::getpid()).ok());
  for (int i = 0; i < 3; ++i)
    ::syscall(SYS_openat, AT_FDCWD, "/nonexistent-syschaos-events/x", O_RDONLY);
  for (int i = 0; i < 2; ++i) {
    timespec ts{0, 20'000'000};
    ::syscall(SYS_nanosleep, &ts, nullptr);
  }
  ASSERT_TRUE(monitor->remove_process(::getpid()).ok());

  std::vector<SyscallEvent> events;
  auto until = std::chrono::steady_clock::now() + 2s;
  while (std::chrono::steady_clock::now() < until) {
    auto n = monitor->poll_events([&](const SyscallEvent& e) { events.push_back(e); }, 100ms);
    ASSERT_TRUE(n.ok()) << n.error().message();
    // The test process's other calls (bpf, membarrier) neither fail nor take 10 ms, so
    // these five are all there is.
    if (events.size() >= 5) break;
  }
  int failed = 0, slow = 0;
  const pid_t tid = static_cast<pid_t>(::syscall(SYS_gettid));
  char comm[32] = {};
  std::ifstream("/proc/self/comm").getline(comm, sizeof(comm));
  for (const SyscallEvent& e : events) {
    EXPECT_EQ(e.pid, ::getpid());
    EXPECT_EQ(e.tid, tid);
    EXPECT_EQ(e.comm, comm);
    EXPECT_NEAR(e.end_unix, static_cast<double>(::time(nullptr)), 5.0);
    if (e.failed) {
      ++failed;
      EXPECT_EQ(e.name, "openat");
      EXPECT_EQ(e.err, ENOENT);
      EXPECT_EQ(e.ret, -ENOENT);
      EXPECT_FALSE(e.slow);
    }
    if (e.slow) {
      ++slow;
      EXPECT_EQ(e.name, "nanosleep");
      ASSERT_TRUE(e.duration_ns.has_value());
      EXPECT_GE(*e.duration_ns, 20'000'000u);
    }
  }
  EXPECT_EQ(failed, 3);
  EXPECT_EQ(slow, 2);
  EXPECT_EQ(events.size(), 5u);
  EXPECT_EQ(collect_ok(*monitor).events_lost, 0u);
}

void on_sigusr2(int) {}

TEST(SyscallMonitor, SignalReturnsAndRestartedCallsKeepTheirNames) {
  struct sigaction sa {};
  sa.sa_handler = on_sigusr2;
  sa.sa_flags = SA_RESTART;
  struct sigaction old {};
  ASSERT_EQ(::sigaction(SIGUSR2, &sa, &old), 0);
  int pipe_fds[2];
  ASSERT_EQ(::pipe(pipe_fds), 0);

  auto monitor = make_monitor();
  ASSERT_TRUE(monitor);
  ASSERT_TRUE(monitor->add_process(::getpid()).ok());
  collect_ok(*monitor);
  // rt_sigreturn sets orig_ax to -1 before its sys_exit: the number seen at entry must win.
  for (int i = 0; i < 10; ++i) ::syscall(SYS_tgkill, ::getpid(), ::syscall(SYS_gettid), SIGUSR2);
  // A read blocked when a SA_RESTART handler runs leaves with ERESTARTSYS (512) and starts
  // again: two reads at the kernel boundary, one of them failed.
  std::atomic<pid_t> reader_tid{0};
  std::thread reader([&] {
    reader_tid = static_cast<pid_t>(::syscall(SYS_gettid));
    char c;
    EXPECT_EQ(::syscall(SYS_read, pipe_fds[0], &c, 1), 1);
  });
  ASSERT_TRUE(eventually(
      [&] {
        std::ifstream in(fmt::format("/proc/{}/task/{}/syscall", ::getpid(), reader_tid.load()));
        long nr = -1;
        return reader_tid != 0 && (in >> nr) && nr == SYS_read;
      },
      5s));
  ::syscall(SYS_tgkill, ::getpid(), reader_tid.load(), SIGUSR2);
  std::this_thread::sleep_for(50ms);
  ASSERT_EQ(::write(pipe_fds[1], "x", 1), 1);
  reader.join();
  Totals t;
  t.add(collect_ok(*monitor));
  ASSERT_TRUE(monitor->remove_process(::getpid()).ok());
  ::sigaction(SIGUSR2, &old, nullptr);
  ::close(pipe_fds[0]);
  ::close(pipe_fds[1]);

  EXPECT_EQ(t.calls("rt_sigreturn"), 11u);
  EXPECT_EQ(t.calls("tgkill"), 11u);
  EXPECT_EQ(monitor->last_diagnostics().unknown_syscall_calls, 0u);
  // (The test's own reads of /proc count too; only the failed one is known exactly.)
  SyscallStats read = t.stats("read");
  EXPECT_GE(read.calls, 2u);
  EXPECT_EQ(read.errors, 1u);
  EXPECT_EQ(read.errnos, (std::vector<std::pair<int, uint64_t>>{{512 /* ERESTARTSYS */, 1}}));
}

TEST(SyscallMonitor, ThirtyTwoBitCallsAreSetApartNotMisnamed) {
  auto monitor = make_monitor();
  ASSERT_TRUE(monitor);
  BackgroundProcess target({workload(), "compat", "25"});
  ASSERT_TRUE(eventually([&] { return waits_for_go(target.pid()); }, 5s));
  ASSERT_TRUE(monitor->add_process(target.pid()).ok());
  collect_ok(*monitor);
  target.signal(SIGUSR1);
  int status = target.wait(10s);
  // Without ia32 emulation int 0x80 fails (77) or faults (SIGSEGV, as in PVM guests).
  if (status == 77 || status == 128 + SIGSEGV)
    GTEST_SKIP() << "this kernel takes no 32-bit system calls (no ia32 emulation)";
  ASSERT_EQ(status, 0);
  Totals t;
  t.add(collect_ok(*monitor));
  EXPECT_EQ(monitor->last_diagnostics().compat_calls, 25u);
  // ia32 getppid is 64, which is semget on x86-64.
  EXPECT_EQ(t.calls("semget"), 0u);
  EXPECT_EQ(t.calls("getppid"), 0u);
}

// Ids of the BPF programs loaded in the kernel with this name, by anyone.
std::set<uint32_t> loaded_programs_named(const char* name) {
  std::set<uint32_t> ids;
  for (uint32_t id = 0; bpf_prog_get_next_id(id, &id) == 0;) {
    int fd = bpf_prog_get_fd_by_id(id);
    if (fd < 0) continue;
    bpf_prog_info info{};
    uint32_t len = sizeof(info);
    if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0 && std::strcmp(info.name, name) == 0)
      ids.insert(id);
    ::close(fd);
  }
  return ids;
}

TEST(SyscallMonitor, DestroyingTheMonitorUnloadsEverything) {
  const std::set<uint32_t> before = loaded_programs_named("sm_sys_exit");
  std::set<uint32_t> ours;
  {
    auto monitor = make_monitor();
    ASSERT_TRUE(monitor);
    for (uint32_t id : loaded_programs_named("sm_sys_exit"))
      if (!before.count(id)) ours.insert(id);
    ASSERT_EQ(ours.size(), 1u);
  }
  // The kernel frees a program an RCU grace period after its last reference goes.
  EXPECT_TRUE(eventually(
      [&] { return loaded_programs_named("sm_sys_exit").count(*ours.begin()) == 0; }, 2s));
}

TEST(SyscallMonitor, EventsOffMeansPollIsAnError) {
  auto monitor = make_monitor();
  ASSERT_TRUE(monitor);
  EXPECT_EQ(monitor->events_fd(), -1);
  auto r = monitor->poll_events([](const SyscallEvent&) {}, 1ms);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("event stream is off"), std::string::npos);

  SyscallMonitorOptions bad;
  bad.failed_call_events = true;
  bad.event_buffer_bytes = 10000;
  auto refused = SyscallMonitor::create(bad);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message().find("power of two"), std::string::npos);
}

TEST(SyscallMonitor, CgroupFilterCountsCallsFromTheCgroupAndBelow) {
  auto mounts = read_cgroup_mounts();
  ASSERT_TRUE(mounts.ok());
  const std::string v2 = cgroup_v2_root(*mounts);
  if (v2.empty()) GTEST_SKIP() << "no cgroup v2 hierarchy mounted";
  const std::string cg = v2 + "/syschaos-sm-" + std::to_string(::getpid());
  const std::string child_cg = cg + "/inner";
  ASSERT_EQ(::mkdir(cg.c_str(), 0755), 0) << std::strerror(errno);
  ASSERT_EQ(::mkdir(child_cg.c_str(), 0755), 0) << std::strerror(errno);

  auto monitor = make_monitor();
  ASSERT_TRUE(monitor);
  {
    // One process in the cgroup itself, one in a cgroup below it, one outside.
    BackgroundProcess a({workload(), "calls", "100", "0", "0", "0", "50"});
    BackgroundProcess b({workload(), "calls", "30", "0", "0", "0", "0"});
    BackgroundProcess outside({workload(), "calls", "1000", "0", "0", "0", "0"});
    for (auto* p : {&a, &b, &outside})
      ASSERT_TRUE(eventually([&] { return waits_for_go(p->pid()); }, 5s));
    std::ofstream(cg + "/cgroup.procs") << a.pid() << std::endl;
    std::ofstream(child_cg + "/cgroup.procs") << b.pid() << std::endl;
    ASSERT_TRUE(monitor->set_cgroup_filter_path(cg).ok());
    collect_ok(*monitor);
    for (auto* p : {&a, &b, &outside}) p->signal(SIGUSR1);
    for (auto* p : {&a, &b, &outside}) ASSERT_EQ(p->wait(10s), 0);
    Totals t;
    t.add(collect_ok(*monitor));
    EXPECT_EQ(t.calls("getppid"), 180u) << "a + its child + b, not the process outside";
    EXPECT_EQ(monitor->tracked_processes(), 0u) << "cgroup members are not added to the set";
  }
  {
    // By id: exactly that cgroup, not the ones below.
    auto id = cgroup_v2_id(cg);
    ASSERT_TRUE(id.ok()) << id.error().message();
    ASSERT_TRUE(monitor->set_cgroup_filter(*id).ok());
    BackgroundProcess a({workload(), "calls", "40", "0", "0", "0", "0"});
    BackgroundProcess b({workload(), "calls", "30", "0", "0", "0", "0"});
    for (auto* p : {&a, &b}) ASSERT_TRUE(eventually([&] { return waits_for_go(p->pid()); }, 5s));
    std::ofstream(cg + "/cgroup.procs") << a.pid() << std::endl;
    std::ofstream(child_cg + "/cgroup.procs") << b.pid() << std::endl;
    collect_ok(*monitor);
    for (auto* p : {&a, &b}) p->signal(SIGUSR1);
    for (auto* p : {&a, &b}) ASSERT_EQ(p->wait(10s), 0);
    Totals t;
    t.add(collect_ok(*monitor));
    EXPECT_EQ(t.calls("getppid"), 40u);
  }
  ASSERT_TRUE(monitor->clear_cgroup_filter().ok());
  EXPECT_TRUE(eventually([&] { return ::rmdir(child_cg.c_str()) == 0; }, 2s));
  EXPECT_TRUE(eventually([&] { return ::rmdir(cg.c_str()) == 0; }, 2s));
  auto not_v2 = monitor->set_cgroup_filter_path("/tmp");
  ASSERT_FALSE(not_v2.ok());
  EXPECT_NE(not_v2.error().message().find("not a cgroup v2 directory"), std::string::npos);
}

TEST(SyscallMonitor, WithoutPrivilegeTheErrorIsOneClearLine) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::close(fds[0]);
    // Leaving uid 0 drops every capability.
    if (::setresgid(65534, 65534, 65534) != 0 || ::setresuid(65534, 65534, 65534) != 0) _exit(2);
    auto monitor = SyscallMonitor::create();
    std::string message = monitor.ok() ? "created" : monitor.error().message();
    (void)!::write(fds[1], message.data(), message.size());
    _exit(0);
  }
  ::close(fds[1]);
  std::string message;
  char buf[512];
  for (ssize_t n; (n = ::read(fds[0], buf, sizeof(buf))) > 0;) message.append(buf, n);
  ::close(fds[0]);
  int status = 0;
  ::waitpid(child, &status, 0);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_EQ(message.rfind("loading BPF programs needs root or CAP_BPF+CAP_PERFMON: ", 0), 0u)
      << message;
  EXPECT_EQ(message.find('\n'), std::string::npos) << message;
}

// The target check reads a mark in task-local storage: threads must carry it whether they
// existed before add_process (the iterator marks them) or are created afterwards
// (sm_process_fork marks them before they run).
TEST(SyscallMonitor, ThreadsCreatedBeforeAndAfterAddProcessAreCounted) {
  auto monitor = make_monitor();
  ASSERT_TRUE(monitor);
  std::mutex mutex;
  std::condition_variable cv;
  bool go = false;
  // Exists before the process becomes a target; waits (in futex) until after.
  std::thread before([&] {
    std::unique_lock lock(mutex);
    cv.wait(lock, [&] { return go; });
    lock.unlock();
    getppid_n(300);
  });
  ASSERT_TRUE(monitor->add_process(::getpid()).ok());
  collect_ok(*monitor);
  {
    std::lock_guard lock(mutex);
    go = true;
  }
  cv.notify_all();
  std::thread after([] { getppid_n(200); });
  std::thread after_nested([] {
    std::thread inner([] { getppid_n(40); });
    getppid_n(60);
    inner.join();
  });
  getppid_n(7);
  before.join();
  after.join();
  after_nested.join();
  Totals t;
  t.add(collect_ok(*monitor));
  ASSERT_TRUE(monitor->remove_process(::getpid()).ok());
  EXPECT_EQ(t.calls("getppid"), 607u);
  EXPECT_EQ(histogram_total(t.stats("getppid")), 607u) << "every call's start was seen";
  EXPECT_EQ(monitor->last_diagnostics().missed_program_runs, 0u);
}

// remove_process unmarks every thread of the process, the ones that exist included, and
// threads it creates afterwards are not marked.
TEST(SyscallMonitor, ARemovedProcessStopsBeingCountedInAllItsThreads) {
  auto monitor = make_monitor();
  ASSERT_TRUE(monitor);
  ASSERT_TRUE(monitor->add_process(::getpid()).ok());
  std::atomic<int> phase{0};
  auto wait_for_phase = [&](int p) {
    while (phase.load() != p) std::this_thread::sleep_for(1ms);
  };
  // Marked while the process was a target, alive across the removal, calling on both sides.
  std::thread busy([&] {
    getppid_n(1000);
    phase = 1;
    wait_for_phase(2);
    getppid_n(1000);
    phase = 3;
  });
  wait_for_phase(1);
  ASSERT_TRUE(monitor->remove_process(::getpid()).ok());
  Totals while_target;
  while_target.add(collect_ok(*monitor));
  phase = 2;
  wait_for_phase(3);
  busy.join();
  std::thread late([] { getppid_n(100); });
  late.join();
  getppid_n(100);
  Totals after;
  after.add(collect_ok(*monitor));
  EXPECT_EQ(while_target.calls("getppid"), 1000u);
  EXPECT_EQ(after.calls("getppid"), 0u);
  EXPECT_EQ(after.total_calls, 0u) << "no call of any thread after remove_process returned";
  EXPECT_EQ(monitor->tracked_processes(), 0u);
}

// The cgroup filter attaches a second pair of programs next to the ones that count the
// set; a thread counts in exactly one of them (by its SM_VIA_SET mark), so setting and
// clearing the filter while a target in the set AND in the cgroup calls as fast as it can
// neither loses nor doubles a single call. A process only in the cgroup counts exactly
// while the filter is set.
TEST(SyscallMonitor, SettingAndClearingTheCgroupFilterNeitherLosesNorDoublesACall) {
  auto mounts = read_cgroup_mounts();
  ASSERT_TRUE(mounts.ok());
  const std::string v2 = cgroup_v2_root(*mounts);
  if (v2.empty()) GTEST_SKIP() << "no cgroup v2 hierarchy mounted";
  const std::string cg = v2 + "/syschaos-sm-swap-" + std::to_string(::getpid());
  ASSERT_EQ(::mkdir(cg.c_str(), 0755), 0) << std::strerror(errno);

  auto monitor = make_monitor();
  ASSERT_TRUE(monitor);
  {
    BackgroundProcess spinner({workload(), "spin", "2", "2000"});
    BackgroundProcess member({workload(), "calls", "500", "0", "0", "0", "0"});
    for (auto* p : {&spinner, &member})
      ASSERT_TRUE(eventually([&] { return waits_for_go(p->pid()); }, 5s));
    std::ofstream(cg + "/cgroup.procs") << spinner.pid() << std::endl;
    std::ofstream(cg + "/cgroup.procs") << member.pid() << std::endl;
    ASSERT_TRUE(monitor->add_process(spinner.pid()).ok());
    Totals totals;
    totals.add(collect_ok(*monitor));
    spinner.signal(SIGUSR1);
    int toggles = 0;
    bool member_started = false;
    while (spinner.running()) {
      ASSERT_TRUE(monitor->set_cgroup_filter_path(cg).ok());
      if (!member_started && toggles >= 3) {
        // Its whole life (after go) lies inside this set period.
        member.signal(SIGUSR1);
        ASSERT_EQ(member.wait(10s), 0);
        member_started = true;
      }
      std::this_thread::sleep_for(5ms);
      ASSERT_TRUE(monitor->clear_cgroup_filter().ok());
      std::this_thread::sleep_for(5ms);
      totals.add(collect_ok(*monitor));
      ++toggles;
    }
    ASSERT_EQ(spinner.wait(1s), 0);
    totals.add(collect_ok(*monitor));
    EXPECT_GE(toggles, 8) << "too few swaps to say anything";
    ASSERT_TRUE(member_started);
    uint64_t made = std::stoull(spinner.out());
    EXPECT_GT(made, 10'000u);
    EXPECT_EQ(totals.calls("getppid"), made + 500) << "spinner exactly, plus the member's 500";
    EXPECT_EQ(monitor->last_diagnostics().missed_program_runs, 0u);
  }
  EXPECT_TRUE(eventually([&] { return ::rmdir(cg.c_str()) == 0; }, 2s));
}
