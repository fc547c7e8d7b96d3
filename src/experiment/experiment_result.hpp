// The outcome of one experiment and of a campaign: what results.json holds (to_json /
// from_json, schema in docs/EXPERIMENTS.md) and what report.html shows.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "core/result.hpp"
#include "experiment/hypothesis.hpp"
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

// The version of results.json's layout this code writes and reads (top-level
// "schema_version"); bumped when a field changes meaning or goes away.
inline constexpr int kResultsSchemaVersion = 1;

// ADL serialisation (nlohmann::json) of every type results.json holds. from_json throws
// nlohmann::json::exception on a missing required field or a wrong type; absent optional
// fields take their defaults. NaN and infinities are written as null (JSON has no NaN):
// optionals read null back as empty, plain numbers read it back as NaN.
void to_json(nlohmann::json& out, const ExperimentResult& result);
void from_json(const nlohmann::json& in, ExperimentResult& result);
void to_json(nlohmann::json& out, const CampaignResult& result);
void from_json(const nlohmann::json& in, CampaignResult& result);
void to_json(nlohmann::json& out, const EffectSummary& effects);
void from_json(const nlohmann::json& in, EffectSummary& effects);
void to_json(nlohmann::json& out, const CampaignGrid& grid);
void from_json(const nlohmann::json& in, CampaignGrid& grid);
void to_json(nlohmann::json& out, const Verdict& verdict);
void from_json(const nlohmann::json& in, Verdict& verdict);
void to_json(nlohmann::json& out, const Evidence& evidence);
void from_json(const nlohmann::json& in, Evidence& evidence);
void to_json(nlohmann::json& out, const ThresholdCheck& check);
void from_json(const nlohmann::json& in, ThresholdCheck& check);
void to_json(nlohmann::json& out, const Threshold& threshold);
void from_json(const nlohmann::json& in, Threshold& threshold);
void to_json(nlohmann::json& out, const PhaseWindow& window);
void from_json(const nlohmann::json& in, PhaseWindow& window);
void to_json(nlohmann::json& out, const SeriesPoint& point);
void from_json(const nlohmann::json& in, SeriesPoint& point);
void to_json(nlohmann::json& out, const SyscallPoint& point);
void from_json(const nlohmann::json& in, SyscallPoint& point);
void to_json(nlohmann::json& out, const ExperimentSeries& series);
void from_json(const nlohmann::json& in, ExperimentSeries& series);
void to_json(nlohmann::json& out, const CrashEvent& crash);
void from_json(const nlohmann::json& in, CrashEvent& crash);
void to_json(nlohmann::json& out, const CommandOutcome& command);
void from_json(const nlohmann::json& in, CommandOutcome& command);

// results.json as text (pretty-printed, with "schema_version"), and back. The parser checks
// the schema version and says which field is wrong.
std::string results_json_text(const CampaignResult& campaign);
Result<CampaignResult> parse_results_json(const std::string& text);

// Writes results.json atomically (a temporary file in the same folder, then rename), so an
// interrupted campaign never leaves a half-written file behind.
Result<void> write_results_json(const std::string& path, const CampaignResult& campaign);
// Reads and checks results.json; errors name the file.
Result<CampaignResult> read_results_json(const std::string& path);

// The per-experiment series as JSON Lines: one SeriesPoint object per line, in the same
// form as in results.json.
std::string series_to_jsonl(const ExperimentSeries& series);

}  // namespace syschaos::experiment
