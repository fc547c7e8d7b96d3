#include "experiment/campaign.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <filesystem>
#include <random>

#include "core/atomic_file.hpp"
#include "experiment/experiment_runner.hpp"
#include "experiment/report_html.hpp"
#include "experiment/service_under_test.hpp"

namespace syschaos::experiment {

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr const char* kStateFile = "state.json";
constexpr const char* kResultsFile = "results.json";
constexpr const char* kReportFile = "report.html";

struct CampaignState {
  std::string fingerprint;
  uint64_t seed = 0;
  std::vector<std::string> finished;  // experiment ids, in the order they finished
};

std::string state_json(const CampaignState& s) {
  nlohmann::json j;
  j["schema_version"] = 1;
  j["fingerprint"] = s.fingerprint;
  j["seed"] = s.seed;
  j["finished"] = s.finished;
  return j.dump(2) + "\n";
}

Result<CampaignState> read_state(const std::string& path) {
  auto text = read_whole_file(path);
  if (!text) return text.error();
  auto j = nlohmann::json::parse(*text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return Error(fmt::format("{} is not a syschaos state file", path));
  try {
    CampaignState s;
    s.fingerprint = j.at("fingerprint").get<std::string>();
    s.seed = j.at("seed").get<uint64_t>();
    s.finished = j.at("finished").get<std::vector<std::string>>();
    return s;
  } catch (const nlohmann::json::exception& e) {
    return Error(fmt::format("{} is not a syschaos state file: {}", path, e.what()));
  }
}

// Each experiment gets its own seed derived from the campaign's, so a resumed or a single
// (--only) experiment injects exactly as it would have in the full run (splitmix64).
uint64_t experiment_seed(uint64_t campaign_seed, size_t index) {
  uint64_t z = campaign_seed + 0x9E3779B97F4A7C15ULL * (index + 1);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

CampaignGrid grid_of(const ExperimentSpec& spec, const std::vector<ExperimentResult>& done) {
  CampaignGrid grid;
  if (spec.grid_rows.empty()) return grid;
  grid.syscalls = spec.grid_rows;
  grid.columns = spec.grid_columns;
  grid.cells.assign(grid.syscalls.size(), std::vector<std::string>(grid.columns.size()));
  for (const auto& planned : spec.experiments) {
    if (!planned.grid_row || !planned.grid_column) continue;
    bool ran = std::any_of(done.begin(), done.end(), [&](const auto& r) { return r.id == planned.id; });
    if (!ran) continue;
    auto row = std::find(grid.syscalls.begin(), grid.syscalls.end(), *planned.grid_row) - grid.syscalls.begin();
    auto col = std::find(grid.columns.begin(), grid.columns.end(), *planned.grid_column) - grid.columns.begin();
    if (row < static_cast<long>(grid.syscalls.size()) && col < static_cast<long>(grid.columns.size()))
      grid.cells[row][col] = planned.id;
  }
  return grid;
}

// Results in the spec's order, whatever order they finished in.
void order_like_spec(const ExperimentSpec& spec, std::vector<ExperimentResult>& results) {
  auto rank = [&](const ExperimentResult& r) {
    for (size_t i = 0; i < spec.experiments.size(); ++i)
      if (spec.experiments[i].id == r.id) return i;
    return spec.experiments.size();
  };
  std::stable_sort(results.begin(), results.end(), [&](const auto& a, const auto& b) { return rank(a) < rank(b); });
}

}  // namespace

std::string format_eta(double seconds) {
  long s = std::max(0L, std::lround(seconds));
  if (s >= 3600) return fmt::format("{}h{:02}m", s / 3600, (s % 3600) / 60);
  if (s >= 60) return fmt::format("{}m{:02}s", s / 60, s % 60);
  return fmt::format("{}s", s);
}

std::string summary_table(const CampaignResult& campaign) {
  std::vector<std::array<std::string, 4>> rows;
  rows.push_back({"perturbation", "HTTP effect", "syscall effect", "verdict"});
  for (const auto& r : campaign.experiments) {
    std::string verdict = verdict_name(r.verdict.kind);
    if (r.interrupted) verdict += " (interrupted)";
    rows.push_back({r.name, r.effects.http.empty() ? "-" : r.effects.http,
                    r.effects.syscall.empty() ? "-" : r.effects.syscall, verdict});
  }
  // Column widths in characters (UTF-8 continuation bytes do not take a column).
  auto width = [](const std::string& s) {
    return static_cast<size_t>(std::count_if(s.begin(), s.end(), [](char c) { return (c & 0xC0) != 0x80; }));
  };
  std::array<size_t, 4> w{};
  for (const auto& row : rows)
    for (size_t i = 0; i < 4; ++i) w[i] = std::max(w[i], std::min<size_t>(width(row[i]), 60));
  std::string out;
  for (size_t n = 0; n < rows.size(); ++n) {
    for (size_t i = 0; i < 4; ++i) {
      std::string cell = rows[n][i];
      out += cell;
      if (i < 3) out += std::string(w[i] > width(cell) ? w[i] - width(cell) : 0, ' ') + " | ";
    }
    out += "\n";
    if (n == 0) {
      for (size_t i = 0; i < 4; ++i) out += std::string(w[i], '-') + (i < 3 ? "-|-" : "");
      out += "\n";
    }
  }
  return out;
}

Result<std::string> rerender_report(const std::string& output_dir) {
  auto campaign = read_results_json(output_dir + "/" + kResultsFile);
  if (!campaign) return campaign.error();
  std::string path = output_dir + "/" + kReportFile;
  SYSCHAOS_TRY(write_file_atomically(path, render_report_html(*campaign)));
  return path;
}

Result<CampaignOutcome> run_campaign(const ExperimentSpec& spec, const CampaignOptions& options) {
  CampaignOutcome outcome;
  const std::string dir = options.output_dir;
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Error(fmt::format("create output folder {}: {}", dir, ec.message()));
  const std::string state_path = dir + "/" + kStateFile;
  const std::string results_path = dir + "/" + kResultsFile;
  const std::string report_path = dir + "/" + kReportFile;
  outcome.results_path = results_path;
  outcome.report_path = report_path;

  for (const auto& id : options.only) {
    bool known = std::any_of(spec.experiments.begin(), spec.experiments.end(), [&](const auto& e) { return e.id == id; });
    if (!known) return Error(fmt::format("--only: no experiment '{}' in {} (see syschaos run --list)", id, spec.source_path));
  }

  // Resume, or start afresh.
  CampaignState state;
  CampaignResult campaign;
  if (!options.fresh && fs::exists(state_path)) {
    auto previous = read_state(state_path);
    if (!previous) return previous.error();
    if (previous->fingerprint != spec.fingerprint)
      return Error(fmt::format("{} holds the results of a different spec (the spec changed since): use --fresh to "
                               "start over there, or another --output",
                               dir));
    state = *previous;
    if (fs::exists(results_path)) {
      auto earlier = read_results_json(results_path);
      if (!earlier) return earlier.error().context("resuming");
      campaign = std::move(*earlier);
    }
    // Only finished experiments carry over; an interrupted one runs again.
    std::erase_if(campaign.experiments, [&](const ExperimentResult& r) {
      return std::find(state.finished.begin(), state.finished.end(), r.id) == state.finished.end();
    });
    outcome.resumed = campaign.experiments.size();
  } else {
    if (options.fresh) {
      for (const char* f : {kStateFile, kResultsFile, kReportFile}) fs::remove(dir + "/" + f, ec);
      fs::remove_all(dir + "/experiments", ec);
    }
    state.fingerprint = spec.fingerprint;
    state.seed = spec.seed ? *spec.seed : (static_cast<uint64_t>(std::random_device{}()) << 32 | std::random_device{}());
    campaign.started_at = iso_utc_now();
  }
  campaign.name = spec.name;
  campaign.syschaos_version = "0.1.0";

  std::vector<size_t> todo;
  for (size_t i = 0; i < spec.experiments.size(); ++i) {
    const auto& e = spec.experiments[i];
    if (!options.only.empty() && std::find(options.only.begin(), options.only.end(), e.id) == options.only.end()) continue;
    if (std::find(state.finished.begin(), state.finished.end(), e.id) != state.finished.end()) continue;
    todo.push_back(i);
  }

  auto save = [&]() -> Result<void> {
    order_like_spec(spec, campaign.experiments);
    campaign.grid = grid_of(spec, campaign.experiments);
    campaign.complete = state.finished.size() == spec.experiments.size();
    SYSCHAOS_TRY(write_file_atomically(results_path, results_json_text(campaign)));
    SYSCHAOS_TRY(write_file_atomically(state_path, state_json(state)));
    SYSCHAOS_TRY(write_file_atomically(report_path, render_report_html(campaign)));
    return ok();
  };
  SYSCHAOS_TRY(save());
  auto line = [&](const std::string& s) {
    if (options.on_line) options.on_line(s);
  };
  auto status = [&](const std::string& s) {
    if (options.on_status) options.on_status(s);
  };

  if (todo.empty()) {
    outcome.result = campaign;
    return outcome;
  }

  std::string ready_url = spec.target.ready_url;
  if (ready_url.empty() && spec.workload.http) ready_url = spec.workload.http->urls.front();
  auto service = ServiceUnderTest::create(spec.target, ready_url, dir + "/service.log");
  if (!service) return service.error();
  const std::atomic<bool> never{false};
  const std::atomic<bool>& stop = options.stop ? *options.stop : never;
  SYSCHAOS_TRY((*service)->start());
  if (auto r = (*service)->wait_ready(stop); !r) {
    if (!stop.load()) return r.error();
    outcome.interrupted = true;  // Ctrl-C while waiting for the target: nothing ran yet
    outcome.result = campaign;
    return outcome;
  }

  const double planned_s = std::chrono::duration<double>(spec.phases.baseline + spec.phases.perturbation +
                                                         spec.phases.recovery).count();
  double spent_s = 0;
  size_t done_now = 0;
  bool previous_broke = false;
  for (size_t n = 0; n < todo.size(); ++n) {
    if (stop.load()) {
      outcome.interrupted = true;
      break;
    }
    const auto& planned = spec.experiments[todo[n]];
    const auto started = Clock::now();
    std::string prefix = fmt::format("[{}/{}] {}", n + 1, todo.size(), planned.name);

    // A clean service for every experiment that needs one.
    bool restart = false;
    switch (spec.target.restart) {
      case RestartPolicy::always: restart = done_now > 0; break;
      case RestartPolicy::on_crash: restart = previous_broke || !(*service)->healthy(); break;
      case RestartPolicy::never: break;
    }
    if (restart) {
      status(prefix + " — restarting the target");
      auto r = (*service)->restart(stop);
      if (!r) {
        if (stop.load()) {
          outcome.interrupted = true;
          break;
        }
        return r.error().context("restarting the target before " + planned.id);
      }
      line(fmt::format("{}: restarted {}", planned.id, spec.target.describe()));
    } else if (!(*service)->healthy()) {
      return Error(fmt::format("{} is down before experiment {} and target.restart is never: stopping the campaign",
                               spec.target.describe(), planned.id));
    } else if (auto r = (*service)->wait_ready(stop); !r) {
      if (stop.load()) {
        outcome.interrupted = true;
        break;
      }
      return r.error();
    }

    ExperimentRunOptions ro;
    ro.output_dir = dir;
    ro.seed = experiment_seed(state.seed, todo[n]);
    ro.stop = &stop;
    double per_experiment = done_now ? spent_s / done_now : planned_s + 2;
    double eta = per_experiment * static_cast<double>(todo.size() - n);
    ro.on_phase = [&](const std::string& phase) {
      status(fmt::format("{} — {} — ETA {}", prefix, phase, format_eta(eta - std::chrono::duration<double>(Clock::now() - started).count())));
    };
    auto result = run_experiment(spec, planned, **service, ro);
    if (!result) return result.error().context("experiment " + planned.id);
    spent_s += std::chrono::duration<double>(Clock::now() - started).count();
    ++done_now;
    ++outcome.ran_now;
    previous_broke = result->verdict.kind == VerdictKind::crash || result->verdict.kind == VerdictKind::no_recovery;
    bool interrupted = result->interrupted;
    line(fmt::format("{}: {}{} — {}", planned.id, verdict_name(result->verdict.kind), interrupted ? " (interrupted, partial)" : "",
                     result->verdict.summary));
    std::erase_if(campaign.experiments, [&](const ExperimentResult& r) { return r.id == planned.id; });
    campaign.experiments.push_back(std::move(*result));
    if (!interrupted) state.finished.push_back(planned.id);
    SYSCHAOS_TRY(save());
    if (interrupted) {
      outcome.interrupted = true;
      break;
    }
  }
  outcome.result = campaign;
  return outcome;
}

}  // namespace syschaos::experiment
