// The experiment spec: what `syschaos run SPEC.yaml` reads. One file describes the target,
// the workload, the phases, the hypothesis and either a list of experiments or a campaign
// matrix (syscalls × errors × delays, as ChaosOrca's 9 × 6 × 3). Parsing checks everything
// up front — every fault parses, every hypothesis metric exists, every URL is loopback — so
// a campaign never stops half way on a typo. Format and examples: docs/EXPERIMENTS.md.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/duration.hpp"
#include "core/result.hpp"
#include "experiment/http_workload.hpp"
#include "experiment/hypothesis.hpp"

namespace syschaos::experiment {

// How the target is brought back to a clean state between experiments.
enum class RestartPolicy {
  never,    // never restart (a crashed target stays down: later experiments fail to start)
  on_crash, // only when the previous experiment left it dead or broken (the default)
  always,   // before every experiment but the first
};

struct TargetSection {
  std::optional<std::string> container;        // Docker container name or id
  std::optional<pid_t> pid;                    // a running process (and its children)
  std::vector<std::string> command;            // a service syschaos starts (and restarts) itself
  RestartPolicy restart = RestartPolicy::on_crash;
  std::string restart_command;                 // sh -c; default: `docker restart` / relaunch
  std::string ready_url;                       // must answer 2xx/3xx before the experiment starts
  Nanos ready_timeout = std::chrono::seconds(30);
  std::string describe() const;
};

struct WorkloadSection {
  std::optional<HttpWorkloadSpec> http;
  std::string command;                         // sh -c, run for the length of the experiment
};

struct PhaseDurations {
  Nanos baseline = std::chrono::seconds(20);
  Nanos perturbation = std::chrono::seconds(20);
  Nanos recovery = std::chrono::seconds(20);
};

// One experiment to run: the faults of its perturbation (strace syntax, as `inject --fault`).
struct PlannedExperiment {
  std::string id;                   // unique, file-name safe: "openat-ENOENT", "read-EIO-delay-1s"
  std::string name;                 // "openat: ENOENT"
  std::vector<std::string> faults;  // empty: a control experiment (nothing injected)
  // Position in the campaign grid (matrix campaigns only).
  std::optional<std::string> grid_row, grid_column;
};

struct ExperimentSpec {
  std::string name;
  std::string source_path;          // where it was read from
  TargetSection target;
  WorkloadSection workload;
  PhaseDurations phases;
  Hypothesis hypothesis;
  bool monitor = true;              // the eBPF syscall monitor
  Nanos monitor_interval = std::chrono::seconds(1);
  std::optional<uint64_t> seed;     // for prob= and weighted errors; default: random, recorded
  std::string output;               // output folder (relative to the spec's folder)
  std::vector<PlannedExperiment> experiments;  // expanded from `experiments:` and/or `campaign:`
  // Matrix axes, for the report's grid.
  std::vector<std::string> grid_rows, grid_columns;
  // A stable digest of everything that defines the results (not the output folder): a
  // resumed campaign must be the same campaign.
  std::string fingerprint;
};

// Parses and validates. `origin` names the text in messages (the file name).
Result<ExperimentSpec> parse_experiment_spec(const std::string& yaml_text, const std::string& origin);
Result<ExperimentSpec> load_experiment_spec(const std::string& path);

// "openat:error=ENOENT:delay_enter=1s" -> "openat-ENOENT-delay-1s": a file-name safe id.
std::string experiment_id_from(const std::string& text);

}  // namespace syschaos::experiment
