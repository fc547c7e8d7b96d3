// The failstop model without a kernel: target selection, triggers (including the
// probabilistic ones over many seeds), schedule files, /proc/net parsing, the state file.
#include <gtest/gtest.h>

#include <cmath>
#include <numeric>
#include <set>

#include "failstop/net_filter.hpp"
#include "failstop/restore_state.hpp"
#include "failstop/schedule.hpp"
#include "failstop/socket_endpoints.hpp"
#include "failstop/target_selection.hpp"
#include "failstop/trigger.hpp"

namespace syschaos::failstop {
namespace {

TEST(FailstopSelection, ParsesEveryMode) {
  EXPECT_EQ(parse_selection("all")->kind, Selection::Kind::kAll);
  EXPECT_EQ(parse_selection("one")->kind, Selection::Kind::kOne);
  EXPECT_EQ(parse_selection("3")->value, 3);
  EXPECT_EQ(parse_selection("25%")->kind, Selection::Kind::kPercent);
  EXPECT_EQ(parse_selection("random:50%")->kind, Selection::Kind::kRandomPercent);
  for (const char* bad : {"", "0", "-1", "two", "0%", "150%", "random:", "random:abc%", "3.5"})
    EXPECT_FALSE(parse_selection(bad).ok()) << bad;
}

TEST(FailstopSelection, ChoosesTheRightNumberReproducibly) {
  Rng rng(5);
  EXPECT_EQ(select_targets(10, *parse_selection("all"), rng)->size(), 10u);
  EXPECT_EQ(select_targets(10, *parse_selection("one"), rng)->size(), 1u);
  EXPECT_EQ(select_targets(10, *parse_selection("4"), rng)->size(), 4u);
  EXPECT_EQ(select_targets(10, *parse_selection("30%"), rng)->size(), 3u);
  EXPECT_EQ(select_targets(3, *parse_selection("10%"), rng)->size(), 1u);  // at least one
  EXPECT_FALSE(select_targets(2, *parse_selection("3"), rng).ok());
  for (int i = 0; i < 100; ++i) {
    auto n = select_targets(10, *parse_selection("random:50%"), rng)->size();
    EXPECT_GE(n, 1u);
    EXPECT_LE(n, 5u);
  }
  Rng a(42), b(42);
  EXPECT_EQ(*select_targets(20, *parse_selection("5"), a), *select_targets(20, *parse_selection("5"), b));
}

TEST(FailstopSelection, OneIsUniform) {
  Rng rng(9);
  std::vector<int> hits(4, 0);
  for (int i = 0; i < 8000; ++i) ++hits[select_targets(4, *parse_selection("one"), rng)->at(0)];
  for (int h : hits) EXPECT_NEAR(h / 8000.0, 0.25, 0.03);
}

TEST(FailstopTrigger, ParsesAndRejects) {
  EXPECT_EQ(trigger_after("2s")->delay, std::chrono::seconds(2));
  EXPECT_EQ(trigger_after_cpu("500ms")->cpu, std::chrono::milliseconds(500));
  auto s = trigger_after_syscall("write:100");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->count, 100u);
  EXPECT_GE(s->syscall_nr, 0);
  EXPECT_DOUBLE_EQ(trigger_tick("10ms", "25%")->prob, 0.25);
  EXPECT_DOUBLE_EQ(trigger_rate("0.5")->rate, 0.5);
  EXPECT_FALSE(trigger_after_cpu("0").ok());
  EXPECT_FALSE(trigger_after_syscall("write").ok());
  EXPECT_FALSE(trigger_after_syscall("nosuch:1").ok());
  EXPECT_FALSE(trigger_after_syscall("write:0").ok());
  EXPECT_FALSE(trigger_tick("10ms", "1.5").ok());
  EXPECT_FALSE(trigger_tick("0", "0.5").ok());
  EXPECT_FALSE(trigger_rate("-1").ok());
}

TEST(FailstopTrigger, TickSuccessRateMatchesPOverManySeeds) {
  // Over 20000 seeded runs the fraction of ticks that fail matches p (standard deviation
  // about 0.002 for the MLE here: +-0.01 is 5 sigma).
  for (double p : {0.05, 0.3, 0.9}) {
    uint64_t ticks = 0, runs = 0;
    for (uint64_t seed = 0; seed < 20000; ++seed) {
      Rng rng(seed);
      uint64_t t = first_success_tick(rng, p, 1'000'000);
      ASSERT_GT(t, 0u);
      ticks += t;
      ++runs;
    }
    EXPECT_NEAR(static_cast<double>(runs) / static_cast<double>(ticks), p, 0.01) << p;
  }
  Rng rng(1);
  EXPECT_EQ(first_success_tick(rng, 0.0, 1000), 0u);
}

TEST(FailstopTrigger, ExponentialDelaysHaveMeanOneOverRate) {
  Rng rng(3);
  double sum = 0;
  const int n = 50000;
  for (int i = 0; i < n; ++i) sum += std::chrono::duration<double>(exponential_delay(rng, 2.0)).count();
  EXPECT_NEAR(sum / n, 0.5, 0.01);
}

TEST(FailstopSchedule, ParsesFistsTwoConsecutiveFailures) {
  auto s = parse_schedule(R"(
seed: 42
targets:
  a: {container: replica-a}
  b: {pid: 4242}
  c: {cgroup: /sys/fs/cgroup/unified/replica-c}
steps:
  - crash: a
  - wait: 2s
  - freeze: [b, c]
    select: one
    after_cpu: 500ms
    for: 10s
  - kill: b
    signal: TERM
    every: 100ms
    prob: 0.1
)");
  ASSERT_TRUE(s.ok()) << s.error().message();
  EXPECT_EQ(*s->seed, 42u);
  ASSERT_EQ(s->targets.size(), 3u);
  EXPECT_EQ(*s->targets[1].second.pid, 4242);
  ASSERT_EQ(s->steps.size(), 4u);
  EXPECT_EQ(s->steps[0].failure.mode, Mode::kCrash);
  EXPECT_EQ(s->steps[1].action, Step::Action::kWait);
  EXPECT_EQ(s->steps[1].wait, std::chrono::seconds(2));
  EXPECT_EQ(s->steps[2].targets, (std::vector<std::string>{"b", "c"}));
  EXPECT_EQ(s->steps[2].trigger.kind, Trigger::Kind::kAfterCpu);
  EXPECT_EQ(*s->steps[2].hold, std::chrono::seconds(10));
  EXPECT_EQ(s->steps[3].failure.signal, SIGTERM);
  EXPECT_EQ(s->steps[3].trigger.kind, Trigger::Kind::kTick);
}

TEST(FailstopSchedule, RejectsMistakesWithTheStepNumber) {
  const char* head = "targets:\n  a: {pid: 1}\nsteps:\n";
  for (const char* bad : {"  - crash: nobody\n", "  - crash: a\n    for: 1s\n    wait: 1s\n", "  - kill: a\n    for: 1s\n",
                          "  - freeze: a\n    every: 1s\n", "  - freeze: a\n    after: 1s\n    rate: 2\n",
                          "  - freeze: a\n    colour: red\n", "  - {}\n"}) {
    auto s = parse_schedule(std::string(head) + bad);
    ASSERT_FALSE(s.ok()) << bad;
    EXPECT_NE(s.error().message().find("step 1"), std::string::npos) << s.error().message();
  }
  EXPECT_FALSE(parse_schedule("steps:\n  - wait: 1s\n").ok());
  EXPECT_FALSE(parse_schedule("targets:\n  a: {vm: x}\nsteps:\n  - kill: a\n").ok());
  EXPECT_FALSE(parse_schedule(": : :").ok());
}

// Caught when the file is read, not when the step comes up after earlier steps have acted.
TEST(FailstopSchedule, RejectsSelectBeyondTheStepsTargetsAndSignalOutsideKill) {
  const char* head = "targets:\n  a: {pid: 10}\n  b: {pid: 11}\nsteps:\n  - kill: a\n";
  struct Case {
    const char* step;
    const char* says;
  };
  for (const Case& c : {Case{"  - freeze: [a, b]\n    select: 3\n", "select 3 but the step names only 2"},
                        Case{"  - crash: b\n    select: 2\n", "select 2 but the step names only 1"},
                        Case{"  - freeze: a\n    signal: TERM\n", "only a kill step sends a signal"},
                        Case{"  - crash: a\n    signal: KILL\n", "only a kill step sends a signal"},
                        Case{"  - wait: 1s\n    signal: KILL\n", "only a kill step sends a signal"}}) {
    auto s = parse_schedule(std::string(head) + c.step);
    ASSERT_FALSE(s.ok()) << c.step;
    EXPECT_NE(s.error().message().find("step 2"), std::string::npos) << s.error().message();
    EXPECT_NE(s.error().message().find(c.says), std::string::npos) << s.error().message();
  }
  // What stays accepted: select up to the step's own targets, signal on a kill.
  auto s = parse_schedule(std::string(head) + "  - freeze: [a, b]\n    select: 2\n  - kill: b\n    signal: TERM\n");
  ASSERT_TRUE(s.ok()) << s.error().message();
  EXPECT_EQ(s->steps[2].failure.signal, SIGTERM);
}

TEST(FailstopEndpoints, ParsesProcNetTcpAndTcp6) {
  const char* tcp =
      "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
      "   0: 0100007F:18EB 00000000:0000 0A 00000000:00000000 00:00000000 00000000   100        0 34567 1 0 100 0 0 10 0\n"
      "   1: 0100007F:18EB 0100007F:C8A2 01 00000000:00000000 00:00000000 00000000   100        0 34599 1 0 20 4 30 10 -1\n";
  auto rows = parse_proc_net(tcp, 4, 6);
  ASSERT_TRUE(rows.ok()) << rows.error().message();
  ASSERT_EQ(rows->size(), 2u);
  EXPECT_EQ((*rows)[0].local.to_string(), "tcp 127.0.0.1:6379");
  EXPECT_EQ((*rows)[0].state, 10u);
  EXPECT_EQ((*rows)[1].remote.port, 0xC8A2);
  EXPECT_EQ((*rows)[1].inode, 34599u);
  const char* tcp6 =
      "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
      "   0: 00000000000000000000000001000000:18EB 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 777 1 0 100 0 0 10 0\n";
  auto rows6 = parse_proc_net(tcp6, 6, 6);
  ASSERT_TRUE(rows6.ok());
  EXPECT_EQ((*rows6)[0].local.to_string(), "tcp6 [::1]:6379");
  EXPECT_FALSE(parse_proc_net("header\n  0: zz:zz\n", 4, 6).ok());
}

TEST(FailstopState, JsonRoundTrip) {
  RestoreState s;
  s.owner = 123;
  s.owner_start = 456;
  s.frozen.push_back({"/sys/fs/cgroup/freezer/x", FreezerKind::kV1});
  s.moved.push_back({"/sys/fs/cgroup/unified/t", {{10, "/sys/fs/cgroup/unified"}}, "/sys/fs/cgroup/unified"});
  auto back = restore_state_from_json(to_json(s));
  ASSERT_TRUE(back.ok()) << back.error().message();
  EXPECT_EQ(back->owner, 123);
  EXPECT_EQ(back->frozen[0].kind, FreezerKind::kV1);
  EXPECT_EQ(back->moved[0].origins.at(10), "/sys/fs/cgroup/unified");
  EXPECT_FALSE(restore_state_from_json("{}").ok());
  EXPECT_FALSE(restore_state_from_json(R"({"owner":1,"frozen":[{"dir":"x","kind":"v3"}],"moved":[]})").ok());
}

TEST(FailstopNetFilter, DropThresholdScales) {
  EXPECT_EQ(drop_threshold(0), 0u);
  EXPECT_EQ(drop_threshold(1), UINT32_MAX);
  EXPECT_NEAR(drop_threshold(0.3) / 4294967296.0, 0.3, 1e-9);
}

}  // namespace
}  // namespace syschaos::failstop

namespace syschaos::failstop {
namespace {

// The example schedules in docs/ are what users copy: they must parse as documented.
TEST(FailstopExamples, TheDocumentedSchedulesParse) {
  auto two = load_schedule(std::string(PROJECT_SOURCE_DIR) + "/docs/examples/failstop-two-failures.yaml");
  ASSERT_TRUE(two.ok()) << two.error().message();
  EXPECT_EQ(two->seed, std::optional<uint64_t>(42));
  EXPECT_EQ(two->targets.size(), 3u);
  ASSERT_EQ(two->steps.size(), 3u);
  auto budget = load_schedule(std::string(PROJECT_SOURCE_DIR) + "/docs/examples/failstop-cpu-budget.yaml");
  ASSERT_TRUE(budget.ok()) << budget.error().message();
  EXPECT_EQ(budget->steps.size(), 2u);
}

}  // namespace
}  // namespace syschaos::failstop
