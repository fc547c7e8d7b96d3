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
};

// One hypothesis threshold evaluated per phase.
struct ThresholdCheck {
  Threshold threshold;
  std::optional<double> bound;          // the absolute bound after applying "x baseline"
  std::optional<double> perturbation, recovery;  // metric values
  bool holds_in_perturbation = true;
  bool holds_in_recovery = true;
  std::string note;
};

struct Verdict {
  VerdictKind kind = VerdictKind::ok;
  std::string summary;                  // one sentence: why this verdict
  std::vector<ThresholdCheck> checks;
  std::vector<Evidence> evidence;
};

struct VerdictOptions {
  double alpha = 0.01;                  // significance level
  // Differences smaller than these are not "degraded" even when significant (very long
  // runs make tiny differences significant).
  double min_latency_effect = 0.147;    // |Cliff's delta|: "small" by Romano et al.
  double min_rate_difference = 0.005;   // success-rate difference (absolute)
};

Verdict judge(const Hypothesis& hypothesis, const ExperimentObservations& observations,
              const VerdictOptions& options = {});

}  // namespace syschaos::experiment
