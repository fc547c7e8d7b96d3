// The automated verdict: compares the perturbation and recovery phases with the baseline,
// with a stated statistical test per metric, and checks the hypothesis.
//
//   crash        a target process or the container died (or restarted) during the experiment
//   outage       a threshold of the hypothesis is broken during the perturbation
//   no-recovery  outage, and still broken during the recovery phase
//   degraded     hypothesis holds, but some metric differs significantly from the baseline
//   ok           hypothesis holds and nothing differs significantly
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "experiment/hypothesis.hpp"
#include "experiment/observations.hpp"

namespace syschaos::experiment {

enum class VerdictKind { ok, degraded, outage, crash, no_recovery };

const char* verdict_name(VerdictKind kind);  // "ok", "degraded", "outage", "crash", "no-recovery"

// One metric compared across phases.
struct Evidence {
  std::string metric;          // e.g. "http.latency_p99"
  std::optional<double> baseline, perturbation, recovery;  // metric value per phase
  std::string test;            // "Mann-Whitney U", "two-proportion z-test", ... ("" if none)
  std::optional<double> p_value;       // perturbation vs baseline
  std::optional<double> effect_size;   // e.g. Cliff's delta, difference of proportions
  std::string effect_name;     // what effect_size is
  bool significant = false;    // p_value < alpha and |effect| above the noise floor
  std::string note;            // one human sentence
  // Added by the verdict's implementation:
  std::optional<double> effect_ci_low, effect_ci_high;  // 95% CI of effect_size, when known
  // The difference is the fault itself (errors of a syscall the experiment injects into), so
  // it is shown but does not make the experiment "degraded".
  bool expected = false;
};

// One hypothesis threshold evaluated per phase.
struct ThresholdCheck {
  Threshold threshold;
  std::optional<double> bound;          // the absolute bound after applying "x baseline"
  std::optional<double> perturbation, recovery;  // metric values
  bool holds_in_perturbation = true;
  bool holds_in_recovery = true;
  std::string note;
  // Added by the verdict's implementation:
  std::optional<double> baseline;        // metric value in the baseline
  bool holds_in_baseline = true;         // false: the steady state itself breaks the hypothesis
  // For a count compared with "Nx baseline" the bound scales with the window's length, so
  // the recovery window (the later part of the recovery phase) has its own bound.
  std::optional<double> recovery_bound;
  // "Still broken" is a claim about persistence, so a threshold broken in the recovery window
  // only counts (no-recovery) when that window also differs significantly from the baseline
  // on the metric (HTTP metrics; see docs/EXPERIMENTS.md): a p99 over the last few seconds
  // can exceed its bound on one slow request. false: broken, but not significantly different
  // — counted as recovered, and the note says why.
  bool recovery_differs_from_baseline = true;
  std::optional<double> recovery_p_value;  // that test's p-value, when one was run
};

struct Verdict {
  VerdictKind kind = VerdictKind::ok;
  std::string summary;                  // one sentence: why this verdict
  std::vector<ThresholdCheck> checks;
  std::vector<Evidence> evidence;
  // Added by the verdict's implementation:
  std::vector<std::string> warnings;     // e.g. "the baseline already breaks ..."
  // The recovery values come from [recovery_window_start_s, recovery end): the later part of
  // the recovery phase (VerdictOptions::recovery_judged_fraction).
  std::optional<double> recovery_window_start_s;
};

struct VerdictOptions {
  double alpha = 0.01;                  // significance level
  // Differences smaller than these are not "degraded" even when significant (very long
  // runs make tiny differences significant).
  double min_latency_effect = 0.147;    // |Cliff's delta|: "small" by Romano et al.
  double min_rate_difference = 0.005;   // success-rate difference (absolute)
  // Added by the verdict's implementation:
  // Only the last part of the recovery phase decides "no-recovery", so that a service which
  // recovers a few seconds after the fault is lifted is not called broken.
  double recovery_judged_fraction = 0.5;
  // Per-second rates (HTTP throughput, syscall rate): |relative change| of the mean.
  double min_relative_change = 0.10;
  // Syscall errors per second: the rate ratio must be at least this (or at most its inverse)
  // and the rates differ by at least min_error_rate_difference per second.
  double min_error_rate_ratio = 2.0;
  double min_error_rate_difference = 0.5;
  // Resources: both an absolute and a relative floor.
  double min_cpu_change_cores = 0.05;
  double min_memory_change_bytes = 8.0 * 1024 * 1024;
  double min_resource_relative_change = 0.25;
  size_t max_syscall_evidence = 10;     // syscalls listed in the evidence (most changed first)
};

Verdict judge(const Hypothesis& hypothesis, const ExperimentObservations& observations,
              const VerdictOptions& options = {});

// The verdict for a terminal, several lines: the label and summary, every threshold check
// (values per phase, bound), every piece of evidence (test, p-value, effect size and its
// note; "*" marks a significant difference, "~" an expected one, "-" none) and the warnings.
std::string format_verdict(const Verdict& verdict);

}  // namespace syschaos::experiment
