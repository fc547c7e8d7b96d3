// Hand-built experiment results for the results.json and report.html tests: plausible
// series (a request rate around 200/s, latencies of a few ms, syscalls by the thousand) that
// change during the perturbation the way each verdict says, so the charts have something to
// show. Deterministic: the "noise" is a fixed function of the second.
#pragma once

#include <cmath>
#include <string>
#include <vector>

#include "experiment/experiment_result.hpp"

namespace syschaos::experiment::testing {

struct SampleOptions {
  double phase_s = 20;       // length of each of the three phases
  bool http = true;          // an HTTP workload ran
  bool monitor = true;       // the syscall monitor ran
  bool command = false;      // a command workload ran
};

inline double wobble(int second, int salt) {
  return std::sin(second * 0.7 + salt) * 0.5 + std::sin(second * 2.3 + salt * 3) * 0.3;
}

inline ExperimentResult sample_experiment(const std::string& syscall, const std::string& error,
                                          VerdictKind kind, const SampleOptions& options = {}) {
  ExperimentResult r;
  r.id = syscall + "-" + error;
  r.name = syscall + " fails with " + error;
  r.faults = {syscall + ":error=" + error};
  r.target = "container nginx-demo";
  const double p = options.phase_s;
  r.phases = {{Phase::baseline, 0, p}, {Phase::perturbation, p, 2 * p}, {Phase::recovery, 2 * p, 3 * p}};
  r.started_at = "2026-11-23T13:00:00Z";
  r.duration_s = 3 * p;
  r.series_file = "series/" + r.id + ".csv";
  r.verdict.kind = kind;

  const bool hurt = kind != VerdictKind::ok;
  const bool outage = kind == VerdictKind::outage || kind == VerdictKind::no_recovery ||
                      kind == VerdictKind::crash;
  const double crash_at = p + p / 3;
  r.series.top_syscall_names = {syscall, "epoll_wait", "sendfile", "writev", "close"};
  if (syscall == "epoll_wait") r.series.top_syscall_names[1] = "accept4";
  uint64_t total_requests = 0;
  for (int s = 0; s < static_cast<int>(3 * p); ++s) {
    SeriesPoint pt;
    pt.t_s = s;
    pt.phase = s < p ? Phase::baseline : s < 2 * p ? Phase::perturbation : Phase::recovery;
    const bool in_perturbation = pt.phase == Phase::perturbation;
    const bool broken = outage && (in_perturbation || (kind == VerdictKind::no_recovery &&
                                                       pt.phase == Phase::recovery));
    const bool dead = kind == VerdictKind::crash && s >= crash_at;
    if (options.http) {
      double rate = dead ? 0 : 200 + 6 * wobble(s, 1);
      pt.request_rate = rate;
      double success = dead ? 0.0 : broken ? 0.35 + 0.1 * wobble(s, 2) : hurt && in_perturbation ? 0.97 : 1.0;
      if (rate > 0) pt.success_rate = success;
      pt.request_errors = static_cast<uint64_t>(std::llround(rate * (1 - success)));
      if (rate > 0) {
        double base = 1.8 + 0.3 * wobble(s, 3);
        double factor = broken ? 400 : hurt && in_perturbation ? 3 : 1;
        pt.latency_p50_ms = base * factor;
        pt.latency_p90_ms = base * 2.1 * factor;
        pt.latency_p99_ms = base * 4.5 * factor * (broken ? 1.3 : 1);
      }
      total_requests += static_cast<uint64_t>(rate);
    }
    if (options.monitor) {
      uint64_t total = 0, errors = 0;
      for (size_t i = 0; i < r.series.top_syscall_names.size(); ++i) {
        SyscallPoint sp;
        sp.name = r.series.top_syscall_names[i];
        sp.calls = dead ? 0 : static_cast<uint64_t>(1200 / (i + 1) * (1 + 0.1 * wobble(s, int(i))));
        if (i == 0 && in_perturbation && !dead) sp.errors = hurt ? sp.calls / 2 : sp.calls / 40;
        total += sp.calls;
        errors += sp.errors;
        pt.top_syscalls.push_back(sp);
      }
      pt.syscalls_total = total + 300;
      pt.syscall_errors_total = errors + 2;
      pt.cpu_cores = dead ? 0 : 0.18 + 0.05 * wobble(s, 5) + (broken ? 0.2 : 0);
      pt.memory_bytes = dead ? 0 : static_cast<uint64_t>((24 + 0.5 * wobble(s, 6)) * 1024 * 1024);
    }
    pt.target_alive = !dead;
    r.series.points.push_back(pt);
  }
  r.requests = total_requests;
  r.faults_injected = hurt ? 12345 : 210;
  if (kind == VerdictKind::crash)
    r.crashes.push_back({crash_at, "process 4242 (nginx) killed by SIGSEGV", std::nullopt, 11,
                         false, false});
  if (options.command) {
    CommandOutcome c;
    c.command = "redis-benchmark -q -n 1000";
    c.exit_code = hurt ? 1 : 0;
    c.start_s = 0;
    c.end_s = 3 * p;
    c.output_tail = hurt ? "Error: Connection reset by peer\nSET: 0.00 requests per second"
                         : "SET: 51234.12 requests per second";
    r.command = c;
  }

  const char* verdict_words[] = {"ok", "degraded", "outage", "crash", "no-recovery"};
  r.verdict.summary = std::string("sample verdict ") + verdict_words[static_cast<int>(kind)] +
                      " for " + r.id;
  Evidence success;
  success.metric = "http.success_rate";
  success.baseline = 1.0;
  success.perturbation = outage ? 0.35 : hurt ? 0.97 : 1.0;
  success.recovery = kind == VerdictKind::no_recovery ? 0.35 : 1.0;
  success.test = "two-proportion z-test";
  success.p_value = hurt ? 1e-12 : 0.8;
  success.effect_size = hurt ? -0.65 : 0.0;
  success.effect_name = "difference of proportions";
  success.significant = hurt;
  success.note = hurt ? "fewer requests succeed" : "no change";
  Evidence latency;
  latency.metric = "http.latency_p99";
  latency.baseline = 0.0081;  // seconds, the catalog's unit for latencies
  latency.perturbation = outage ? 4.2 : hurt ? 0.0243 : 0.008;
  latency.recovery = 0.0082;
  latency.test = "Mann-Whitney U";
  latency.p_value = hurt ? 3.2e-9 : 0.41;
  latency.effect_size = hurt ? 0.93 : 0.02;
  latency.effect_name = "Cliff's delta";
  latency.significant = hurt;
  latency.effect_ci_low = latency.effect_size.value() - 0.05;
  latency.effect_ci_high = latency.effect_size.value() + 0.04;
  Evidence errors;
  errors.metric = "syscall.errors_per_second{" + syscall + "}";
  errors.baseline = 0;
  errors.perturbation = hurt ? 600 : 30;
  errors.recovery = 0;
  errors.test = "Poisson rate test";
  errors.p_value = 1e-30;
  errors.effect_size = hurt ? 600 : 30;
  errors.effect_name = "difference of rates (/s)";
  errors.significant = true;
  errors.expected = true;
  errors.note = "errors of the syscall being injected into";
  r.verdict.evidence = {success, latency, errors};
  r.verdict.recovery_window_start_s = 2 * p + p / 2;
  ThresholdCheck check;
  check.threshold = {"http.success_rate >= 0.99", "http.success_rate",
                     Comparison::greater_equal, 0.99, false};
  check.bound = 0.99;
  check.perturbation = success.perturbation;
  check.recovery = success.recovery;
  check.holds_in_perturbation = !outage;
  check.holds_in_recovery = kind != VerdictKind::no_recovery;
  r.verdict.checks = {check};
  r.effects.http = outage ? "success 100% → 35%, p99 8 ms → 4.2 s"
                          : hurt ? "success 100% → 97%, p99 8 ms → 24 ms" : "no significant change";
  r.effects.syscall = syscall + ": " + std::to_string(r.faults_injected) + " " + error + " injected";
  return r;
}

// ChaosOrca's matrix shape: syscalls × errors, with verdicts spread over the grid.
inline CampaignResult sample_campaign(const std::vector<std::string>& syscalls,
                                      const std::vector<std::string>& errors,
                                      const SampleOptions& options = {}) {
  CampaignResult c;
  c.name = "nginx-demo syscall campaign";
  c.started_at = "2026-11-23T13:00:00Z";
  c.syschaos_version = "0.1.0";
  c.complete = true;
  c.grid.syscalls = syscalls;
  c.grid.columns = errors;
  int k = 0;
  for (const auto& sc : syscalls) {
    c.grid.cells.emplace_back();
    for (const auto& e : errors) {
      auto kind = static_cast<VerdictKind>(k++ % 5);
      SampleOptions o = options;
      o.command = options.command && k % 2 == 0;
      c.experiments.push_back(sample_experiment(sc, e, kind, o));
      c.grid.cells.back().push_back(c.experiments.back().id);
    }
  }
  return c;
}

}  // namespace syschaos::experiment::testing
