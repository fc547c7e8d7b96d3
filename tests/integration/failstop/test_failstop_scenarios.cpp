// FIST's scenarios on real processes: a CPU-time budget (the busy program is frozen within
// a small tolerance of it), probabilistic ticks (over many seeded victims the observed
// per-tick rate matches p), and a schedule file with two consecutive failures. The N-th
// call of a syscall is exact and has its own file: test_failstop_exact_trigger.cpp.
#include <fcntl.h>
#include <sys/mman.h>
#include <time.h>

#include "failstop_test_support.hpp"

namespace syschaos::testing {
namespace {

double cpu_seconds(pid_t pid) {
  clockid_t clock;
  timespec ts{};
  if (::clock_getcpuclockid(pid, &clock) != 0 || ::clock_gettime(clock, &ts) != 0) return -1;
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

nlohmann::json first_event(const std::string& path, const std::string& kind) {
  for (const auto& e : read_events(path))
    if (e.value("event", "") == kind) return e;
  return {};
}

TEST(FailstopScenarios, CpuBudgetFreezesWithinTolerance) {
  BackgroundProcess busy({prog("failstop_busy")});
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  std::string dir = temp_dir();
  double before = cpu_seconds(busy.pid());
  BackgroundProcess sc({bin(), "failstop", "freeze", "--pid", std::to_string(busy.pid()), "--after-cpu", "400ms",
                        "--for", "2s", "--events", dir + "/e.jsonl"});
  ASSERT_TRUE(wait_event(dir + "/e.jsonl", "fail")) << sc.err();
  double at_freeze = cpu_seconds(busy.pid());
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_DOUBLE_EQ(cpu_seconds(busy.pid()), at_freeze);  // frozen: no CPU at all
  // Budget counted from when syschaos armed it, which is after `before`: the CPU used since
  // `before` is the budget plus what ran before arming (syschaos's own start-up, < 0.3 s)
  // plus the overshoot. The event's own figure is exact: the budget plus the overshoot.
  double used = first_event(dir + "/e.jsonl", "fail").value("cpu_used_ns", 0.0) / 1e9;
  EXPECT_GE(used, 0.400);
  EXPECT_LE(used, 0.400 + 0.030) << "overshoot beyond 30 ms of CPU";
  EXPECT_GE(at_freeze - before, 0.400);
  EXPECT_LE(at_freeze - before, 0.400 + 0.030 + 0.5);
  EXPECT_EQ(sc.wait(), 0) << sc.err();
  // Thawed: burning again (within 5 s: on a loaded machine, under nice, it may get little CPU).
  EXPECT_TRUE(eventually([&] { return cpu_seconds(busy.pid()) > at_freeze + 0.05; }, std::chrono::seconds(5)));
}

// The same tolerance against the kernel's own accounting, not syschaos's figure: the busy
// program is held stopped while syschaos arms (so its CPU time at arming is known without
// asking syschaos), then let run; at the freeze, /proc says how much it burnt since.
TEST(FailstopScenarios, CpuBudgetMeasuredIndependently) {
  BackgroundProcess busy({prog("failstop_busy")});
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  ASSERT_EQ(::kill(busy.pid(), SIGSTOP), 0);
  std::string dir = temp_dir();
  BackgroundProcess sc({bin(), "failstop", "freeze", "--pid", std::to_string(busy.pid()), "--after-cpu", "400ms",
                        "--for", "1s", "--events", dir + "/e.jsonl"});
  ASSERT_TRUE(wait_event(dir + "/e.jsonl", "step")) << sc.err();  // armed
  double at_arm = cpu_seconds(busy.pid());
  ASSERT_EQ(::kill(busy.pid(), SIGCONT), 0);
  ASSERT_TRUE(wait_event(dir + "/e.jsonl", "fail")) << sc.err();
  double at_freeze = cpu_seconds(busy.pid());
  // /proc counts CPU time in clock ticks (10 ms): the budget, at most 30 ms of overshoot,
  // and one tick of rounding either way.
  EXPECT_GE(at_freeze - at_arm, 0.400 - 0.010);
  EXPECT_LE(at_freeze - at_arm, 0.400 + 0.030 + 0.010) << "overshoot beyond 30 ms of CPU";
  EXPECT_EQ(sc.wait(), 0) << sc.err();
}

// A pid target is the process and its children (docs/FAILSTOP.md): a shell whose child burns
// the CPU reaches its budget.
TEST(FailstopScenarios, CpuBudgetOfAPidCountsItsChildren) {
  BackgroundProcess shell({"/bin/sh", "-c", prog("failstop_busy") + "; exit 0"});
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  std::string dir = temp_dir();
  BackgroundProcess sc({bin(), "failstop", "freeze", "--pid", std::to_string(shell.pid()), "--after-cpu", "300ms",
                        "--for", "500ms", "--events", dir + "/e.jsonl"});
  ASSERT_TRUE(wait_event(dir + "/e.jsonl", "fail")) << sc.err();
  EXPECT_GE(first_event(dir + "/e.jsonl", "fail").value("cpu_used_ns", 0.0) / 1e9, 0.300);
  EXPECT_EQ(sc.wait(), 0) << sc.err();
  // The busy child first: it would outlive its shell.
  std::istringstream children(syschaos::testing::read_file(
      "/proc/" + std::to_string(shell.pid()) + "/task/" + std::to_string(shell.pid()) + "/children"));
  for (pid_t c; children >> c;) ::kill(c, SIGKILL);
  ::kill(shell.pid(), SIGKILL);
}

// A failure rate: each of 40 targets fails after its own exponential time of mean 1/R
// (R = 10/s), seeded. Each failure lands when its drawn time says, the times look
// exponential with that mean, and the same seed draws the same times.
TEST(FailstopScenarios, FailureRateGivesExponentialTimesOfMeanOneOverRate) {
  auto run = [&](uint64_t seed) {
    std::vector<std::unique_ptr<BackgroundProcess>> sleepers;
    std::string pids;
    for (int i = 0; i < 40; ++i) {
      sleepers.push_back(std::make_unique<BackgroundProcess>(std::vector<std::string>{"sleep", "60"}));
      pids += (i ? "," : "") + std::to_string(sleepers.back()->pid());
    }
    std::string dir = temp_dir();
    auto r = run_command({bin(), "failstop", "kill", "--pid", pids, "--signal", "TERM", "--rate", "10", "--seed",
                          std::to_string(seed), "--events", dir + "/e.jsonl"},
                         std::chrono::seconds(30));
    EXPECT_EQ(r.exit_code, 0) << r.err;
    double step_time = 0;
    std::vector<double> drawn;
    for (const auto& e : read_events(dir + "/e.jsonl")) {
      if (e.value("event", "") == "step") step_time = e.value("time", 0.0);
      if (e.value("event", "") != "fail") continue;
      double d = e.value("drawn_delay_s", -1.0);
      EXPECT_GE(d, 0.0);
      // It failed when its drawn time came (the loop wakes for the earliest deadline).
      EXPECT_NEAR(e.value("time", 0.0) - step_time, d, 0.05) << e.dump();
      drawn.push_back(d);
    }
    for (auto& sl : sleepers) EXPECT_EQ(sl->wait(std::chrono::seconds(5)), 128 + SIGTERM);
    return drawn;
  };
  auto a = run(7);
  ASSERT_EQ(a.size(), 40u);
  double mean = 0;
  for (double d : a) mean += d;
  mean /= static_cast<double>(a.size());
  // The mean of 40 exponentials of mean 0.1 s has a standard deviation of 0.016 s: +-0.05 is
  // a 3-sigma band. Exponential, not uniform or fixed: about 63% of them below the mean.
  EXPECT_NEAR(mean, 0.1, 0.05);
  size_t below = static_cast<size_t>(std::count_if(a.begin(), a.end(), [](double d) { return d < 0.1; }));
  EXPECT_GE(below, 18u);
  EXPECT_LE(below, 33u);
  auto b = run(7);
  std::sort(a.begin(), a.end());
  std::sort(b.begin(), b.end());
  EXPECT_EQ(a, b) << "the same seed drew other times";
}

TEST(FailstopScenarios, ProbabilisticTicksMatchP) {
  // 100 victims (sleep processes), each failing at its first successful tick of p = 0.2.
  // The maximum-likelihood estimate of p is victims / total ticks; its standard deviation
  // here is about 0.018, so +-0.05 is a ~3 sigma band. Seeds are fixed: the run repeats.
  const double p = 0.2;
  for (uint64_t seed : {1u, 2u, 3u}) {
    std::vector<std::unique_ptr<BackgroundProcess>> sleepers;
    std::string pids;
    for (int i = 0; i < 100; ++i) {
      sleepers.push_back(std::make_unique<BackgroundProcess>(std::vector<std::string>{"sleep", "60"}));
      pids += (i ? "," : "") + std::to_string(sleepers.back()->pid());
    }
    std::string dir = temp_dir();
    auto r = run_command({bin(), "failstop", "kill", "--pid", pids, "--signal", "TERM", "--every", "5ms", "--prob",
                          "0.2", "--seed", std::to_string(seed), "--events", dir + "/e.jsonl"},
                         std::chrono::seconds(30));
    ASSERT_EQ(r.exit_code, 0) << r.err;
    uint64_t ticks = 0, failed = 0;
    for (const auto& e : read_events(dir + "/e.jsonl"))
      if (e.value("event", "") == "fail") {
        ++failed;
        ticks += e.value("tick", 0);
      }
    ASSERT_EQ(failed, 100u);
    double estimate = static_cast<double>(failed) / static_cast<double>(ticks);
    EXPECT_NEAR(estimate, p, 0.05) << "seed " << seed;
    for (auto& s : sleepers) EXPECT_EQ(s->wait(std::chrono::seconds(5)), 128 + SIGTERM);
  }
}

TEST(FailstopScenarios, ScheduleTwoConsecutiveFailures) {
  // FIST's MPICH-V bug hunt: one replica fails, and a second one fails while the system
  // recovers from the first.
  BackgroundProcess a({"sleep", "300"}), b({"sleep", "300"});
  std::string dir = temp_dir();
  std::string file = dir + "/schedule.yaml";
  std::ofstream(file) << "seed: 7\n"
                         "targets:\n"
                         "  a: {pid: " << a.pid() << "}\n"
                         "  b: {pid: " << b.pid() << "}\n"
                         "steps:\n"
                         "  - kill: a\n"
                         "  - wait: 300ms\n"
                         "  - freeze: b\n"
                         "    for: 500ms\n";
  auto r = run_command({bin(), "failstop", "run", file, "--events", dir + "/e.jsonl"}, std::chrono::seconds(20));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(a.wait(std::chrono::seconds(2)), 128 + SIGKILL);
  std::vector<nlohmann::json> fails;
  double undo_t = -1;
  for (const auto& e : read_events(dir + "/e.jsonl")) {
    if (e.value("event", "") == "fail") fails.push_back(e);
    if (e.value("event", "") == "undo") undo_t = e.value("t", -1.0);
  }
  ASSERT_EQ(fails.size(), 2u);
  EXPECT_EQ(fails[0].value("mode", ""), "kill");
  EXPECT_EQ(fails[1].value("mode", ""), "freeze");
  EXPECT_GE(fails[1].value("t", 0.0) - fails[0].value("t", 0.0), 0.3);
  EXPECT_GE(undo_t - fails[1].value("t", 0.0), 0.5);
  EXPECT_TRUE(b.running());
  EXPECT_NE(process_state(b.pid()), 'T');
}

}  // namespace
}  // namespace syschaos::testing
