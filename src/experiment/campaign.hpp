// A campaign: every experiment of a spec, one after the other, on one service. Between
// experiments the service is restarted when the spec asks (always, or after a crash) so one
// experiment cannot poison the next. After each experiment the output folder is brought up
// to date (results.json, state.json, report.html), so an interrupted or killed campaign
// keeps what it did, and running it again continues where it stopped: the state file
// records the spec's fingerprint, the seed and the finished experiments.
#pragma once

#include <atomic>
#include <functional>
#include <string>
#include <vector>

#include "core/result.hpp"
#include "experiment/experiment_result.hpp"
#include "experiment/experiment_spec.hpp"

namespace syschaos::experiment {

struct CampaignOptions {
  std::string output_dir;               // where results go (resolved by the caller)
  bool fresh = false;                   // discard an earlier run's results in output_dir
  std::vector<std::string> only;        // run just these experiment ids (empty: all)
  const std::atomic<bool>* stop = nullptr;
  // One line of progress ("[3/24] openat: ENOENT — perturbation — ETA 12m30s"), replaced in
  // place on a terminal; and lines that stay (an experiment's verdict, a restart).
  std::function<void(const std::string&)> on_status;
  std::function<void(const std::string&)> on_line;
};

struct CampaignOutcome {
  CampaignResult result;
  std::string report_path;
  std::string results_path;
  size_t ran_now = 0;        // experiments run by this invocation
  size_t resumed = 0;        // finished experiments taken over from an earlier run
  bool interrupted = false;
};

Result<CampaignOutcome> run_campaign(const ExperimentSpec& spec, const CampaignOptions& options);

// ChaosOrca's summary table: perturbation | HTTP effect | syscall effect | verdict.
std::string summary_table(const CampaignResult& campaign);

// Re-renders report.html from an output folder's results.json.
Result<std::string> rerender_report(const std::string& output_dir);

// "1h02m", "12m30s", "45s".
std::string format_eta(double seconds);

}  // namespace syschaos::experiment
