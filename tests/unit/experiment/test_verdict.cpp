// The verdict on synthetic experiments: every kind reachable, thresholds (absolute and
// relative) and the statistics behind "degraded" right, and the edge cases (no HTTP workload,
// empty phases, no requests, only failures, all-tied latencies).
#include <gtest/gtest.h>

#include <cerrno>
#include <csignal>

#include "experiment/statistics.hpp"
#include "experiment/verdict.hpp"
#include "synthetic_observations.hpp"

namespace syschaos::experiment {
namespace {

using testing::add_requests;
using testing::add_samples;
using testing::healthy;
using testing::RequestShape;
using testing::spread;
using testing::syscall_stats;
using testing::with_phases;

Hypothesis hypothesis(const std::vector<std::string>& texts) {
  auto h = parse_hypothesis(texts);
  EXPECT_TRUE(h) << (h ? "" : h.error().message());
  return h ? *h : Hypothesis{};
}

const Evidence* find(const Verdict& v, std::string_view metric) {
  for (const auto& e : v.evidence)
    if (e.metric == metric) return &e;
  return nullptr;
}

bool contains(const std::string& text, std::string_view part) {
  return text.find(part) != std::string::npos;
}

// 10 s baseline, 10 s perturbation, 10 s recovery, 20 requests/s; `perturbation` and
// `recovery` shape the requests of those phases.
ExperimentObservations http_experiment(std::function<RequestShape(int)> perturbation,
                                       std::function<RequestShape(int)> recovery = healthy) {
  auto o = with_phases(10, 10, 10);
  add_requests(o, 0, 10, 20, healthy);
  add_requests(o, 10, 20, 20, std::move(perturbation));
  add_requests(o, 20, 30, 20, std::move(recovery));
  return o;
}

const auto kServiceHypothesis =
    std::vector<std::string>{"process.alive", "http.success_rate >= 0.99",
                             "http.latency_p99 <= 5x baseline"};

TEST(Verdict, Names) {
  EXPECT_STREQ(verdict_name(VerdictKind::ok), "ok");
  EXPECT_STREQ(verdict_name(VerdictKind::degraded), "degraded");
  EXPECT_STREQ(verdict_name(VerdictKind::outage), "outage");
  EXPECT_STREQ(verdict_name(VerdictKind::crash), "crash");
  EXPECT_STREQ(verdict_name(VerdictKind::no_recovery), "no-recovery");
  EXPECT_STREQ(phase_name(Phase::perturbation), "perturbation");
  EXPECT_STREQ(request_error_name(RequestError::timeout), "timeout");
}

TEST(Verdict, OkWhenNothingChanges) {
  auto o = http_experiment(healthy);
  auto v = judge(hypothesis(kServiceHypothesis), o);
  EXPECT_EQ(v.kind, VerdictKind::ok) << v.summary;
  EXPECT_TRUE(contains(v.summary, "ok: the hypothesis holds (3 thresholds)")) << v.summary;
  ASSERT_EQ(v.checks.size(), 3u);
  for (const auto& c : v.checks) {
    EXPECT_TRUE(c.holds_in_perturbation) << c.threshold.text << " " << c.note;
    EXPECT_TRUE(c.holds_in_recovery) << c.threshold.text << " " << c.note;
  }
  auto* success = find(v, "http.success_rate");
  ASSERT_TRUE(success);
  EXPECT_EQ(success->test, "Fisher's exact test");  // no failure at all: expected counts 0
  EXPECT_DOUBLE_EQ(*success->p_value, 1.0);
  EXPECT_DOUBLE_EQ(*success->effect_size, 0.0);
  auto* latency = find(v, "http.latency_p50");
  ASSERT_TRUE(latency);
  EXPECT_EQ(latency->test, "Mann-Whitney U on per-second mean latencies");
  EXPECT_FALSE(latency->significant);
  EXPECT_LT(std::fabs(*latency->effect_size), 0.147);
  auto* rate = find(v, "http.request_rate");
  ASSERT_TRUE(rate);
  EXPECT_EQ(rate->test, "Welch's t-test");
  EXPECT_FALSE(rate->significant);
  EXPECT_TRUE(v.warnings.empty());
}

TEST(Verdict, DegradedWhenSlowerButWithinTheHypothesis) {
  // 1.5–2.5 ms before, 3–4 ms under the fault: p99 rises ~1.6×, within "5x baseline".
  auto o = http_experiment([](int i) { return RequestShape{0.003 + 0.001 * spread(i), 200}; });
  auto v = judge(hypothesis(kServiceHypothesis), o);
  EXPECT_EQ(v.kind, VerdictKind::degraded) << v.summary;
  auto* latency = find(v, "http.latency_p50");
  ASSERT_TRUE(latency);
  EXPECT_TRUE(latency->significant);
  EXPECT_DOUBLE_EQ(*latency->effect_size, 1.0);  // every perturbed request slower than all
  // Every perturbed second slower than every baseline second: exact two-sided p of
  // Mann-Whitney with 10 vs 10 = 2 / C(20, 10) = 2 / 184756.
  EXPECT_NEAR(*latency->p_value, 2.0 / 184756, 1e-15);
  EXPECT_TRUE(contains(latency->note, "slower")) << latency->note;
  EXPECT_TRUE(contains(v.summary, "degraded: the hypothesis holds, but one metric differs"))
      << v.summary;
  EXPECT_TRUE(contains(v.summary, "Cliff's δ +1.00")) << v.summary;
  // Recovery values are reported from the judged part of the recovery phase.
  ASSERT_TRUE(v.recovery_window_start_s);
  EXPECT_DOUBLE_EQ(*v.recovery_window_start_s, 25.0);
  EXPECT_LT(*latency->recovery, 0.0026);
}

// What a real control experiment (nothing injected) looks like: the baseline starts with two
// warm-up seconds that are slower, and futex fails in bursts. Per request and per error these
// are "significant" (the p-values below); per second, as the verdict tests, they are not.
TEST(Verdict, NoisySteadyStateIsNotDegraded) {
  auto o = with_phases(10, 10, 10);
  add_requests(o, 0, 30, 30, [](int i) {
    auto r = healthy(i);
    if (i < 60) r.latency_s *= 1.8;  // warm-up: the first 2 s
    return r;
  });
  // futex errors per second: bursts in the baseline, a few scattered ones later
  const int futex_errors[30] = {0, 40, 12, 0, 0, 0, 0, 3, 0, 0,  //
                                2, 3, 1, 0, 3, 0, 1, 0, 2, 1,   //
                                0, 4, 0, 1, 0, 0, 2, 0, 0, 1};
  add_samples(o, 0, 30, [&](int i, Interval& iv) {
    iv.syscalls.push_back(
        syscall_stats("futex", 500, static_cast<uint64_t>(futex_errors[i]), EAGAIN));
  });
  auto v = judge(hypothesis(kServiceHypothesis), o);
  EXPECT_EQ(v.kind, VerdictKind::ok) << v.summary;
  auto* latency = find(v, "http.latency_p50");
  ASSERT_TRUE(latency);
  EXPECT_FALSE(latency->significant);
  EXPECT_GT(*latency->p_value, 0.01);
  EXPECT_TRUE(contains(latency->note, "per request it would be p = ")) << latency->note;
  auto* futex = find(v, "syscall.errors_per_second{futex}");
  ASSERT_TRUE(futex);
  EXPECT_FALSE(futex->significant);
  EXPECT_GT(*futex->p_value, 0.01);
  // The naive tests would have said otherwise.
  std::vector<double> base, pert;
  for (const auto& r : o.requests) {
    if (r.start_s < 10) base.push_back(r.latency_s);
    else if (r.start_s < 20) pert.push_back(r.latency_s);
  }
  EXPECT_LT(mann_whitney_u(pert, base)->p_value, 0.01);               // per request
  EXPECT_LT(compare_poisson_rates(13, 10, 55, 10)->p_value, 0.01);  // the summed futex counts
}

TEST(Verdict, SmallSignificantDifferencesAreNotDegraded) {
  // 1 failure in 2000 under the fault (0.05 points) is below min_rate_difference, and a
  // latency shift of 1% is a negligible Cliff's delta, even with many requests.
  auto o = with_phases(100, 100, 0);
  add_requests(o, 0, 100, 20, healthy);
  add_requests(o, 100, 200, 20, [](int i) {
    auto r = healthy(i);
    r.latency_s *= 1.01;
    if (i == 7) r.status = 500;
    return r;
  });
  auto v = judge(hypothesis({"http.success_rate >= 99%"}), o);
  EXPECT_EQ(v.kind, VerdictKind::ok) << v.summary;
  EXPECT_FALSE(find(v, "http.success_rate")->significant);
  EXPECT_FALSE(find(v, "http.latency_p50")->significant);
}

TEST(Verdict, OutageWhenAThresholdBreaksAndRecovers) {
  // 60% success under the fault.
  auto o = http_experiment([](int i) { return RequestShape{0.002, i % 5 < 3 ? 200 : 500}; });
  auto v = judge(hypothesis(kServiceHypothesis), o);
  EXPECT_EQ(v.kind, VerdictKind::outage) << v.summary;
  const auto& check = v.checks[1];
  EXPECT_FALSE(check.holds_in_perturbation);
  EXPECT_TRUE(check.holds_in_recovery);
  EXPECT_DOUBLE_EQ(*check.perturbation, 0.6);
  EXPECT_DOUBLE_EQ(*check.recovery, 1.0);
  EXPECT_DOUBLE_EQ(*check.bound, 0.99);
  EXPECT_TRUE(contains(v.summary, "'http.success_rate >= 0.99' (60.0% >= 99.0% fails)"))
      << v.summary;
  EXPECT_TRUE(contains(v.summary, "holds again in the last 5 s of the recovery phase"))
      << v.summary;
  auto* success = find(v, "http.success_rate");
  EXPECT_EQ(success->test, "two-proportion z-test");
  EXPECT_TRUE(success->significant);
  EXPECT_DOUBLE_EQ(*success->effect_size, -0.4);
  EXPECT_LT(*success->effect_ci_high, -0.3);
  EXPECT_GT(*success->effect_ci_low, -0.5);
  EXPECT_TRUE(contains(success->note, "200/200")) << success->note;
  EXPECT_TRUE(contains(success->note, "120/200")) << success->note;
}

TEST(Verdict, NoRecoveryWhenStillBrokenAtTheEnd) {
  auto broken = [](int i) { return RequestShape{0.002, i % 5 < 3 ? 200 : 500}; };
  auto o = http_experiment(broken, broken);
  auto v = judge(hypothesis(kServiceHypothesis), o);
  EXPECT_EQ(v.kind, VerdictKind::no_recovery) << v.summary;
  EXPECT_FALSE(v.checks[1].holds_in_recovery);
  EXPECT_TRUE(contains(v.summary, "still broken in the last 5 s of the recovery phase"))
      << v.summary;
}

TEST(Verdict, RecoveringEarlyInTheRecoveryPhaseIsNotNoRecovery) {
  // Broken for the first 3 s of recovery (60 requests), fine afterwards: the judged window is
  // the last half, so this is an outage that recovered.
  auto o = http_experiment([](int) { return RequestShape{0.002, 503}; },
                           [](int i) { return i < 60 ? RequestShape{0.002, 503} : healthy(i); });
  auto v = judge(hypothesis(kServiceHypothesis), o);
  EXPECT_EQ(v.kind, VerdictKind::outage) << v.summary;
  // Judging the whole recovery phase instead calls it no-recovery.
  VerdictOptions whole;
  whole.recovery_judged_fraction = 1.0;
  EXPECT_EQ(judge(hypothesis(kServiceHypothesis), o, whole).kind, VerdictKind::no_recovery);
}

// Seen on a real run (read delayed 50 ms, 30 requests/s, 6 s phases): the last 3 s of the
// recovery held 90 requests, two of them slow (41 and 52 ms), so their p99 broke
// "p99 <= 3x baseline" although the service was back to normal. A threshold broken there only
// counts when the window also differs from the baseline.
TEST(Verdict, OneSlowRequestInTheRecoveryWindowIsNotNoRecovery) {
  auto slow = [](int i) { return RequestShape{0.1 + 0.01 * spread(i), 200}; };
  auto o = http_experiment(slow, [](int i) {
    auto r = healthy(i);
    if (i == 150 || i == 170) r.latency_s = 0.05;  // in the judged last 5 s
    return r;
  });
  auto v = judge(hypothesis({"http.latency_p99 <= 3x baseline"}), o);
  EXPECT_EQ(v.kind, VerdictKind::outage) << v.summary;
  const auto& c = v.checks[0];
  EXPECT_FALSE(c.holds_in_recovery);  // literally past the bound ...
  EXPECT_FALSE(c.recovery_differs_from_baseline);  // ... but not different from the baseline
  ASSERT_TRUE(c.recovery_p_value);
  EXPECT_GT(*c.recovery_p_value, 0.01);
  EXPECT_TRUE(contains(c.note, "counted as recovered")) << c.note;
  EXPECT_TRUE(contains(v.summary, "no longer differs significantly from the baseline")) << v.summary;

  // Still slow at the end: no-recovery, and the test agrees.
  auto stuck = http_experiment(slow, [](int i) { return RequestShape{0.03 + 0.01 * spread(i), 200}; });
  v = judge(hypothesis({"http.latency_p99 <= 3x baseline"}), stuck);
  EXPECT_EQ(v.kind, VerdictKind::no_recovery) << v.summary;
  EXPECT_TRUE(v.checks[0].recovery_differs_from_baseline);
  EXPECT_LT(*v.checks[0].recovery_p_value, 1e-10);

  // One failed request in the last 5 s against "success >= 99.5%": 99.0%, but Fisher's test
  // sees no difference from a perfect baseline.
  auto one_failure = http_experiment([](int) { return RequestShape{0.002, 500}; },
                                     [](int i) { return i == 160 ? RequestShape{0.002, 500} : healthy(i); });
  v = judge(hypothesis({"http.success_rate >= 99.5%"}), one_failure);
  EXPECT_EQ(v.kind, VerdictKind::outage) << v.summary;
  EXPECT_FALSE(v.checks[0].holds_in_recovery);
  EXPECT_FALSE(v.checks[0].recovery_differs_from_baseline);
  EXPECT_NEAR(*v.checks[0].recovery_p_value, 1.0 / 3, 1e-9);  // Fisher: 1/100 vs 0/200 failures
}

TEST(Verdict, BreakingOnlyAfterTheFaultIsNoRecovery) {
  auto o = http_experiment(healthy, [](int i) { return RequestShape{0.002, i % 2 ? 200 : 500}; });
  auto v = judge(hypothesis(kServiceHypothesis), o);
  EXPECT_EQ(v.kind, VerdictKind::no_recovery) << v.summary;
  EXPECT_TRUE(contains(v.summary, "held during the perturbation but breaks")) << v.summary;
}

TEST(Verdict, CrashComesFirst) {
  auto o = http_experiment(healthy);
  o.crashes.push_back({.at_s = 14.2, .what = "container nginx exited with status 137",
                       .exit_code = 137, .oom_killed = true, .restarted = true});
  auto v = judge(hypothesis({"http.success_rate >= 0.5"}), o);
  EXPECT_EQ(v.kind, VerdictKind::crash);
  EXPECT_TRUE(contains(v.summary, "crash: container nginx exited with status 137 at t = 14.2 s "
                                  "(perturbation, killed by the OOM killer, restarted)"))
      << v.summary;
  // Evidence is still there for the report.
  EXPECT_TRUE(find(v, "http.success_rate"));
}

TEST(Verdict, CrashFromLivenessAndCommandSignals) {
  auto dead = with_phases(5, 5, 5);
  dead.target_alive_at_end = false;
  EXPECT_EQ(judge({}, dead).kind, VerdictKind::crash);

  auto seen = with_phases(5, 5, 0);
  add_samples(seen, 0, 10, [](int i, Interval& iv) { iv.target_alive = i < 7; });
  auto v = judge({}, seen);
  EXPECT_EQ(v.kind, VerdictKind::crash);
  EXPECT_TRUE(contains(v.summary, "the target was gone at t = 8.0 s (perturbation)")) << v.summary;

  // A sample taken after the last phase (the runner stopping the target) is not a crash.
  auto after = with_phases(5, 5, 0);
  add_samples(after, 0, 11, [](int i, Interval& iv) { iv.target_alive = i < 10; });
  EXPECT_EQ(judge({}, after).kind, VerdictKind::ok);

  auto segv = with_phases(5, 5, 0);
  segv.command = CommandOutcome{.command = "curl -o /dev/null http://127.0.0.1/big",
                                .signal = SIGSEGV, .start_s = 0, .end_s = 7};
  // The command workload is the load, not the target: its death is no crash of the target,
  // but it breaks a hypothesis that asks for it.
  v = judge({}, segv);
  EXPECT_NE(v.kind, VerdictKind::crash) << v.summary;
  EXPECT_EQ(judge(hypothesis({"command.ok"}), segv).kind, VerdictKind::outage);

  // Stopped by syschaos at the end with SIGTERM, as planned: not a crash.
  auto stopped = with_phases(5, 5, 0);
  stopped.command = CommandOutcome{.command = "wrk", .signal = SIGTERM, .start_s = 0,
                                   .end_s = 10, .stopped = true};
  EXPECT_EQ(judge(hypothesis({"command.ok"}), stopped).kind, VerdictKind::ok);
}

TEST(Verdict, RelativeThresholdUsesTheBaselineValue) {
  // p99 2.5 ms in the baseline; 6–7 ms under the fault breaks "<= 2x baseline".
  auto o = http_experiment([](int i) { return RequestShape{0.006 + 0.001 * spread(i), 200}; });
  auto v = judge(hypothesis({"http.latency_p99 <= 2x baseline"}), o);
  EXPECT_EQ(v.kind, VerdictKind::outage) << v.summary;
  const auto& c = v.checks[0];
  ASSERT_TRUE(c.baseline && c.bound);
  EXPECT_DOUBLE_EQ(*c.bound, 2 * *c.baseline);
  EXPECT_GT(*c.baseline, 0.0024);
  EXPECT_LT(*c.baseline, 0.0025);
  EXPECT_TRUE(contains(c.note, "× baseline")) << c.note;
  // 3x holds.
  EXPECT_EQ(judge(hypothesis({"http.latency_p99 <= 3x baseline"}), o).kind, VerdictKind::degraded);
  // 200 requests: the p99 rests on the 2 slowest, which the note and a warning say.
  EXPECT_TRUE(contains(c.note, "over 200 requests this quantile rests on the 2 slowest")) << c.note;
  ASSERT_EQ(v.warnings.size(), 1u);
  EXPECT_TRUE(contains(v.warnings[0], "broke on a quantile of 200 requests")) << v.warnings[0];
}

TEST(Verdict, RelativeCountThresholdScalesWithTheWindow) {
  // 10 s baseline, 20 s perturbation, 10 s recovery; read fails 5 times a second throughout.
  auto o = with_phases(10, 20, 10);
  add_samples(o, 0, 40, [](int, Interval& iv) {
    iv.syscalls.push_back(syscall_stats("read", 100, 5, EAGAIN));
  });
  auto v = judge(hypothesis({"syscall.errors{read} <= 1.2x baseline"}), o);
  EXPECT_EQ(v.kind, VerdictKind::ok) << v.summary;
  const auto& c = v.checks[0];
  EXPECT_DOUBLE_EQ(*c.baseline, 50);
  EXPECT_DOUBLE_EQ(*c.perturbation, 100);
  EXPECT_DOUBLE_EQ(*c.bound, 1.2 * 50 * 2);     // scaled to 20 s
  EXPECT_DOUBLE_EQ(*c.recovery, 25);            // the last 5 s
  EXPECT_DOUBLE_EQ(*c.recovery_bound, 1.2 * 50 * 0.5);
  EXPECT_TRUE(c.holds_in_perturbation && c.holds_in_recovery);
  EXPECT_TRUE(contains(c.note, "scaled to the window's length")) << c.note;
}

TEST(Verdict, WithoutHttpFromSyscallsAndResources) {
  // A service with no HTTP workload: read gets EIO injected (expected), and as a side effect
  // futex starts failing with ETIMEDOUT 20 times a second.
  auto o = with_phases(10, 10, 10);
  o.perturbed_syscalls = {"read"};
  add_samples(o, 0, 30, [](int i, Interval& iv) {
    bool perturbed = i >= 10 && i < 20;
    iv.syscalls.push_back(syscall_stats("read", 200, perturbed ? 50 : 0, EIO));
    iv.syscalls.push_back(syscall_stats("futex", 300, perturbed ? 20 : 0, ETIMEDOUT));
    iv.syscalls.push_back(syscall_stats("openat", 20, 1, ENOENT));
    iv.resources.cpu_cores = 0.2 + 0.01 * spread(i);
    iv.resources.memory_bytes = 50'000'000 + static_cast<uint64_t>(1000 * spread(i));
  });
  auto v = judge(hypothesis({"process.alive", "syscall.error_rate{openat} <= 10%"}), o);
  EXPECT_EQ(v.kind, VerdictKind::degraded) << v.summary;
  auto* futex = find(v, "syscall.errors_per_second{futex}");
  ASSERT_TRUE(futex);
  EXPECT_TRUE(futex->significant);
  EXPECT_FALSE(futex->expected);
  EXPECT_DOUBLE_EQ(*futex->baseline, 0);
  EXPECT_DOUBLE_EQ(*futex->perturbation, 20);
  EXPECT_DOUBLE_EQ(*futex->recovery, 0);
  EXPECT_NEAR(*futex->effect_size, (200.5 / 10) / (0.5 / 10), 1e-9);
  EXPECT_TRUE(contains(futex->test, "Bonferroni-adjusted over 3 syscalls")) << futex->test;
  auto* read = find(v, "syscall.errors_per_second{read}");
  ASSERT_TRUE(read);
  EXPECT_TRUE(read->significant);
  EXPECT_TRUE(read->expected);
  EXPECT_TRUE(contains(read->note, "EIO ×500")) << read->note;
  auto* openat = find(v, "syscall.errors_per_second{openat}");
  ASSERT_TRUE(openat);
  EXPECT_FALSE(openat->significant);
  EXPECT_DOUBLE_EQ(*openat->p_value, 1.0);
  // The summary names the side effect, not the injected errors.
  EXPECT_TRUE(contains(v.summary, "futex errors 0.0/s → 20.0/s")) << v.summary;
  EXPECT_FALSE(contains(v.summary, "read errors")) << v.summary;
  EXPECT_FALSE(find(v, "resource.cpu_cores")->significant);
  EXPECT_FALSE(find(v, "syscall.rate")->significant);

  // Only the injected syscall changes: ok.
  auto quiet = with_phases(10, 10, 10);
  quiet.perturbed_syscalls = {"read"};
  add_samples(quiet, 0, 30, [](int i, Interval& iv) {
    iv.syscalls.push_back(syscall_stats("read", 200, i >= 10 && i < 20 ? 50 : 0, EIO));
  });
  v = judge(hypothesis({"process.alive"}), quiet);
  EXPECT_EQ(v.kind, VerdictKind::ok) << v.summary;
}

TEST(Verdict, ResourceAndActivityChanges) {
  auto o = with_phases(10, 10, 0);
  add_samples(o, 0, 20, [](int i, Interval& iv) {
    bool perturbed = i >= 10;
    uint64_t calls = perturbed ? 400 + i : 1000 + i;  // activity falls by ~60%
    iv.syscalls.push_back(syscall_stats("epoll_wait", calls));
    iv.resources.cpu_cores = (perturbed ? 0.6 : 0.2) + 0.02 * spread(i);
  });
  auto v = judge(hypothesis({"process.alive"}), o);
  EXPECT_EQ(v.kind, VerdictKind::degraded) << v.summary;
  auto* cpu = find(v, "resource.cpu_cores");
  ASSERT_TRUE(cpu);
  EXPECT_TRUE(cpu->significant);
  EXPECT_EQ(cpu->test, "Welch's t-test");
  EXPECT_NEAR(*cpu->effect_size, 2.0, 0.1);  // +200%
  auto* rate = find(v, "syscall.rate");
  ASSERT_TRUE(rate);
  EXPECT_TRUE(rate->significant);
  EXPECT_NEAR(*rate->effect_size, (414.5 - 1004.5) / 1004.5, 1e-9);  // means of 400+i, 1000+i
}

TEST(Verdict, CommandWorkload) {
  auto o = with_phases(5, 5, 5);
  o.command = CommandOutcome{.command = "./replay.sh", .exit_code = 1, .start_s = 0, .end_s = 15};
  // Not in the hypothesis: a failed command is a difference (degraded) ...
  auto v = judge(hypothesis({"process.alive"}), o);
  EXPECT_EQ(v.kind, VerdictKind::degraded) << v.summary;
  EXPECT_TRUE(contains(v.summary, "the command workload exited with status 1")) << v.summary;
  // ... in the hypothesis it is an outage; a single outcome for the whole run is not
  // re-judged in the recovery phase.
  v = judge(hypothesis({"command.ok"}), o);
  EXPECT_EQ(v.kind, VerdictKind::outage) << v.summary;
  EXPECT_TRUE(v.checks[0].holds_in_recovery);
  EXPECT_TRUE(contains(v.checks[0].note, "not re-evaluated")) << v.checks[0].note;
  o.command->exit_code = 0;
  EXPECT_EQ(judge(hypothesis({"command.ok", "command.exit_code == 0"}), o).kind, VerdictKind::ok);
}

TEST(Verdict, EdgeCases) {
  // No perturbation phase: nothing was tested.
  auto only_baseline = with_phases(10, 0, 0);
  add_requests(only_baseline, 0, 10, 10, healthy);
  auto v = judge(hypothesis(kServiceHypothesis), only_baseline);
  EXPECT_EQ(v.kind, VerdictKind::ok);
  EXPECT_TRUE(contains(v.summary, "inconclusive")) << v.summary;

  // Requests stop during the perturbation: no data is not evidence of health.
  auto silent = with_phases(10, 10, 10);
  add_requests(silent, 0, 10, 10, healthy);
  add_requests(silent, 20, 30, 10, healthy);
  v = judge(hypothesis({"http.success_rate >= 0.99"}), silent);
  EXPECT_EQ(v.kind, VerdictKind::outage) << v.summary;
  EXPECT_TRUE(contains(v.checks[0].note, "no data")) << v.checks[0].note;
  EXPECT_TRUE(contains(find(v, "http.success_rate")->note, "no test")) << v.summary;

  // Every request fails under the fault.
  auto all_fail = http_experiment([](int) { return RequestShape{2.0, 0, RequestError::timeout}; });
  v = judge(hypothesis({"http.success_rate >= 0.99", "http.timeouts <= 0"}), all_fail);
  EXPECT_EQ(v.kind, VerdictKind::outage) << v.summary;
  EXPECT_DOUBLE_EQ(*find(v, "http.success_rate")->effect_size, -1.0);
  EXPECT_DOUBLE_EQ(*v.checks[1].perturbation, 200);

  // All latencies identical in both phases (ties everywhere): no difference.
  auto ties = http_experiment([](int) { return RequestShape{0.002, 200}; });
  for (auto& r : ties.requests) r.latency_s = 0.002;
  v = judge(hypothesis({"http.latency_p99 <= 2x baseline"}), ties);
  EXPECT_EQ(v.kind, VerdictKind::ok) << v.summary;
  EXPECT_DOUBLE_EQ(*find(v, "http.latency_p50")->p_value, 1.0);

  // Relative threshold without a baseline phase.
  auto no_baseline = with_phases(0, 10, 0);
  add_requests(no_baseline, 0, 10, 10, healthy);
  v = judge(hypothesis({"http.latency_p99 <= 2x baseline"}), no_baseline);
  EXPECT_EQ(v.kind, VerdictKind::outage);
  EXPECT_TRUE(contains(v.checks[0].note, "no baseline phase")) << v.checks[0].note;

  // A threshold on HTTP without any HTTP workload.
  v = judge(hypothesis({"http.success_rate >= 0.99"}), with_phases(5, 5, 0));
  EXPECT_TRUE(contains(v.checks[0].note, "made no HTTP requests")) << v.checks[0].note;

  // Empty observations entirely.
  v = judge({}, ExperimentObservations{});
  EXPECT_EQ(v.kind, VerdictKind::ok);
  EXPECT_TRUE(v.evidence.empty());
}

TEST(Verdict, WarnsWhenPhasesAreTooShortForTheLatencyTest) {
  // 4 s phases: the most extreme 4-vs-4 arrangement has p = 2 / C(8, 4) = 0.0286 > 0.01, so
  // even a tenfold slowdown cannot be "degraded" by the latency test; the verdict says so.
  auto o = with_phases(4, 4, 0);
  add_requests(o, 0, 4, 20, healthy);
  add_requests(o, 4, 8, 20, [](int i) { return RequestShape{0.02 + 0.001 * spread(i), 200}; });
  auto v = judge(hypothesis({"process.alive"}), o);
  auto* latency = find(v, "http.latency_p50");
  ASSERT_TRUE(latency);
  EXPECT_NEAR(*latency->p_value, 2.0 / 70, 1e-12);
  EXPECT_FALSE(latency->significant);
  ASSERT_EQ(v.warnings.size(), 1u);
  EXPECT_TRUE(contains(v.warnings[0], "with 4 vs 4 seconds the latency test cannot reach alpha"))
      << v.warnings[0];
  // 5 s phases can: 2 / C(10, 5) = 0.0079.
  auto longer = with_phases(5, 5, 0);
  add_requests(longer, 0, 5, 20, healthy);
  add_requests(longer, 5, 10, 20, [](int i) { return RequestShape{0.02 + 0.001 * spread(i), 200}; });
  v = judge(hypothesis({"process.alive"}), longer);
  EXPECT_EQ(v.kind, VerdictKind::degraded) << v.summary;
  EXPECT_TRUE(v.warnings.empty());
}

TEST(Verdict, WarnsWhenTheBaselineAlreadyBreaksTheHypothesis) {
  auto o = http_experiment(healthy);
  auto v = judge(hypothesis({"http.latency_p50 <= 1ms"}), o);
  ASSERT_EQ(v.warnings.size(), 1u);
  EXPECT_TRUE(contains(v.warnings[0], "already fails in the baseline")) << v.warnings[0];
  EXPECT_FALSE(v.checks[0].holds_in_baseline);
  EXPECT_TRUE(contains(v.summary, "the baseline already fails part of the hypothesis"));
}

TEST(Verdict, DescribesTailLatencyAndFormatsForATerminal) {
  auto o = http_experiment([](int i) { return RequestShape{0.002, i % 5 < 3 ? 200 : 500}; });
  auto v = judge(hypothesis(kServiceHypothesis), o);
  auto* p99 = find(v, "http.latency_p99");
  ASSERT_TRUE(p99);
  EXPECT_TRUE(p99->test.empty());  // described, not tested
  EXPECT_FALSE(p99->significant);
  EXPECT_NEAR(*p99->baseline, 0.0015 + 0.001 * 0.99, 1e-4);
  EXPECT_DOUBLE_EQ(*p99->perturbation, 0.002);

  std::string text = format_verdict(v);
  EXPECT_EQ(text.rfind("verdict: outage\n  outage: ", 0), 0u) << text;
  EXPECT_TRUE(contains(text, "    BROKEN  http.success_rate >= 0.99: 100.0% | 60.0% | 100.0%"))
      << text;
  EXPECT_TRUE(contains(text, "    holds   process.alive: yes | yes | yes")) << text;
  EXPECT_TRUE(contains(text, "(bound ")) << text;
  EXPECT_TRUE(contains(text, "    * http.success_rate: two-proportion z-test, p = ")) << text;
  EXPECT_TRUE(contains(text, "difference of proportions (perturbation − baseline) = -0.4 [95% CI"))
      << text;
  EXPECT_TRUE(contains(text, "    - http.latency_p99: no test")) << text;
}

TEST(Verdict, Deterministic) {
  auto o = http_experiment([](int i) { return RequestShape{0.002 + 0.003 * spread(i), 200}; });
  auto a = judge(hypothesis(kServiceHypothesis), o), b = judge(hypothesis(kServiceHypothesis), o);
  EXPECT_EQ(a.summary, b.summary);
  ASSERT_EQ(a.evidence.size(), b.evidence.size());
  for (size_t i = 0; i < a.evidence.size(); ++i) EXPECT_EQ(a.evidence[i].note, b.evidence[i].note);
}

}  // namespace
}  // namespace syschaos::experiment
