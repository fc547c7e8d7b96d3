// The outcome of one experiment and of a campaign: what results.json holds (to_json /
// from_json, schema in docs/EXPERIMENTS.md) and what report.html shows.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "experiment/observations.hpp"
#include "experiment/series.hpp"
#include "experiment/verdict.hpp"

namespace syschaos::experiment {

// Headline effects for the summary table (ChaosOrca's "HTTP effect | syscall effect").
struct EffectSummary {
  std::string http;     // e.g. "success 100% → 62%, p99 4 ms → 1.2 s"
  std::string syscall;  // e.g. "read: 1,204 EIO injected; openat errors ×40"
};

struct ExperimentResult {
  std::string id;            // unique within the campaign, file-name safe ("openat-ENOENT")
  std::string name;          // human title
  std::vector<std::string> faults;  // fault specs as given to the engine (strace syntax)
  std::string target;        // "container nginx", "pid 1234", "command ./server"
  std::vector<PhaseWindow> phases;
  Verdict verdict;
  EffectSummary effects;
  ExperimentSeries series;
  std::optional<CommandOutcome> command;
  std::vector<CrashEvent> crashes;
  uint64_t faults_injected = 0;
  uint64_t requests = 0;     // total HTTP requests made
  std::string series_file;   // relative path of the per-experiment CSV inside the output folder
  std::string started_at;    // ISO-8601 UTC
  double duration_s = 0;
  bool interrupted = false;  // stopped by Ctrl-C: partial
};

// A campaign's matrix axes, for the overview grid (empty for a plain list of experiments).
struct CampaignGrid {
  std::vector<std::string> syscalls;  // rows
  std::vector<std::string> columns;   // "ENOENT", "EIO", "delay 1s", "EIO + delay 1s" ...
  // cell (row, column) → experiment id ("" when absent)
  std::vector<std::vector<std::string>> cells;
};

struct CampaignResult {
  std::string name;
  std::string started_at;
  std::string syschaos_version;
  std::vector<ExperimentResult> experiments;
  CampaignGrid grid;
  bool complete = false;     // every planned experiment ran
};

void to_json(nlohmann::json& out, const ExperimentResult& result);
void from_json(const nlohmann::json& in, ExperimentResult& result);
void to_json(nlohmann::json& out, const CampaignResult& result);
void from_json(const nlohmann::json& in, CampaignResult& result);

}  // namespace syschaos::experiment
