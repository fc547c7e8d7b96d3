// Runs one experiment of ChaosOrca's method on a service that is up and ready:
//
//   t=0            workloads start (HTTP load, user command), the monitor already runs
//   [0, B)         baseline: the steady state
//   [B, B+P)       perturbation: the ptrace engine attaches and injects the faults, then
//                  detaches (the target is untouched afterwards)
//   [B+P, B+P+R)   recovery
//
// while a CrashWatch follows the container and its processes. Then the observations are
// judged (verdict.hpp) and turned into an ExperimentResult with its per-second series; the
// per-experiment files (series.csv, series.jsonl, monitor.jsonl, requests.csv, command.log)
// are written to the experiment's folder.
#pragma once

#include <atomic>
#include <functional>
#include <string>

#include "core/result.hpp"
#include "experiment/experiment_result.hpp"
#include "experiment/experiment_spec.hpp"
#include "experiment/service_under_test.hpp"

namespace syschaos::experiment {

struct ExperimentRunOptions {
  std::string output_dir;                  // the campaign's folder
  uint64_t seed = 0;                       // this experiment's seed
  const std::atomic<bool>* stop = nullptr; // Ctrl-C: end early, keep what was observed
  // Progress within the experiment ("baseline", "perturbation", ...), for the status line.
  std::function<void(const std::string&)> on_phase;
};

// An error means the experiment could not run at all (the target vanished before it
// started, BPF could not load ...); everything that happens to the target while it runs is
// an observation, not an error.
Result<ExperimentResult> run_experiment(const ExperimentSpec& spec, const PlannedExperiment& planned,
                                        ServiceUnderTest& service, const ExperimentRunOptions& options);

// Now as ISO-8601 UTC ("2026-11-23T15:04:05Z"), for the started_at fields of results.json.
std::string iso_utc_now();

// The one-line effects for the summary table, from the verdict's evidence.
EffectSummary summarize_effects(const ExperimentObservations& observations, const Verdict& verdict);

}  // namespace syschaos::experiment
