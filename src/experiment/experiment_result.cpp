#include "experiment/experiment_result.hpp"

#include <cmath>
#include <nlohmann/json.hpp>

#include "core/atomic_file.hpp"

namespace syschaos::experiment {

namespace {

using Json = nlohmann::json;

// Enum names as results.json spells them. They are the names the rest of the tool prints
// (phase_name, verdict_name), kept here as tables so that reading is the exact inverse of
// writing and an unknown name is an error rather than a silent default.
constexpr const char* kPhaseNames[] = {"baseline", "perturbation", "recovery"};
constexpr const char* kVerdictNames[] = {"ok", "degraded", "outage", "crash", "no-recovery"};
constexpr const char* kComparisonNames[] = {"<", "<=", ">", ">=", "==", "!="};

template <typename Enum, size_t N>
const char* enum_to_name(Enum value, const char* const (&names)[N]) {
  auto index = static_cast<size_t>(value);
  return index < N ? names[index] : "unknown";
}

template <typename Enum, size_t N>
Enum enum_from_name(const Json& in, const char* key, const char* const (&names)[N],
                    Enum fallback) {
  auto it = in.find(key);
  if (it == in.end() || it->is_null()) return fallback;
  const auto& name = it->get_ref<const std::string&>();
  for (size_t i = 0; i < N; ++i)
    if (name == names[i]) return static_cast<Enum>(i);
  throw Json::other_error::create(
      501, std::string("\"") + key + "\": unknown value \"" + name + "\"", &in);
}

// JSON has no NaN or infinity: nlohmann would write null anyway; doing it explicitly keeps
// the reader's rule (null → NaN / empty) next to the writer's.
Json number_or_null(double value) { return std::isfinite(value) ? Json(value) : Json(nullptr); }

template <typename T>
Json optional_or_null(const std::optional<T>& value) {
  if (!value) return nullptr;
  if constexpr (std::is_floating_point_v<T>) return number_or_null(*value);
  else return Json(*value);
}

double get_double(const Json& in, const char* key, double fallback = 0) {
  auto it = in.find(key);
  if (it == in.end()) return fallback;
  if (it->is_null()) return std::nan("");
  return it->get<double>();
}

template <typename T>
T get_value(const Json& in, const char* key, T fallback = T{}) {
  auto it = in.find(key);
  if (it == in.end() || it->is_null()) return fallback;
  return it->get<T>();
}

template <typename T>
std::optional<T> get_optional(const Json& in, const char* key) {
  auto it = in.find(key);
  if (it == in.end() || it->is_null()) return std::nullopt;
  return it->get<T>();
}

template <typename T>
std::vector<T> get_vector(const Json& in, const char* key) {
  auto it = in.find(key);
  if (it == in.end() || it->is_null()) return {};
  return it->get<std::vector<T>>();
}

}  // namespace

// --- observations.hpp ---------------------------------------------------------------

void to_json(Json& out, const PhaseWindow& window) {
  out = Json{{"phase", enum_to_name(window.phase, kPhaseNames)},
             {"start_s", number_or_null(window.start_s)},
             {"end_s", number_or_null(window.end_s)}};
}

void from_json(const Json& in, PhaseWindow& window) {
  window.phase = enum_from_name(in, "phase", kPhaseNames, Phase::baseline);
  window.start_s = get_double(in, "start_s");
  window.end_s = get_double(in, "end_s");
}

void to_json(Json& out, const CommandOutcome& command) {
  out = Json{{"command", command.command},
             {"exit_code", command.exit_code},
             {"signal", command.signal},
             {"start_s", number_or_null(command.start_s)},
             {"end_s", number_or_null(command.end_s)},
             {"output_tail", command.output_tail},
             {"ok", command.ok()}};  // derived; ignored when reading
}

void from_json(const Json& in, CommandOutcome& command) {
  command.command = get_value<std::string>(in, "command");
  command.exit_code = get_value<int>(in, "exit_code", -1);
  command.signal = get_value<int>(in, "signal", 0);
  command.start_s = get_double(in, "start_s");
  command.end_s = get_double(in, "end_s");
  command.output_tail = get_value<std::string>(in, "output_tail");
}

void to_json(Json& out, const CrashEvent& crash) {
  out = Json{{"at_s", number_or_null(crash.at_s)},
             {"what", crash.what},
             {"exit_code", optional_or_null(crash.exit_code)},
             {"signal", optional_or_null(crash.signal)},
             {"oom_killed", crash.oom_killed},
             {"restarted", crash.restarted}};
}

void from_json(const Json& in, CrashEvent& crash) {
  crash.at_s = get_double(in, "at_s");
  crash.what = get_value<std::string>(in, "what");
  crash.exit_code = get_optional<int>(in, "exit_code");
  crash.signal = get_optional<int>(in, "signal");
  crash.oom_killed = get_value<bool>(in, "oom_killed", false);
  crash.restarted = get_value<bool>(in, "restarted", false);
}

// --- hypothesis.hpp / verdict.hpp -----------------------------------------------------

void to_json(Json& out, const Threshold& threshold) {
  out = Json{{"text", threshold.text},
             {"metric", threshold.metric},
             {"comparison", enum_to_name(threshold.comparison, kComparisonNames)},
             {"value", number_or_null(threshold.value)},
             {"relative_to_baseline", threshold.relative_to_baseline}};
}

void from_json(const Json& in, Threshold& threshold) {
  threshold.text = get_value<std::string>(in, "text");
  threshold.metric = get_value<std::string>(in, "metric");
  threshold.comparison =
      enum_from_name(in, "comparison", kComparisonNames, Comparison::less_equal);
  threshold.value = get_double(in, "value");
  threshold.relative_to_baseline = get_value<bool>(in, "relative_to_baseline", false);
}

void to_json(Json& out, const ThresholdCheck& check) {
  out = Json{{"threshold", check.threshold},
             {"bound", optional_or_null(check.bound)},
             {"perturbation", optional_or_null(check.perturbation)},
             {"recovery", optional_or_null(check.recovery)},
             {"holds_in_perturbation", check.holds_in_perturbation},
             {"holds_in_recovery", check.holds_in_recovery},
             {"note", check.note},
             {"baseline", optional_or_null(check.baseline)},
             {"holds_in_baseline", check.holds_in_baseline},
             {"recovery_bound", optional_or_null(check.recovery_bound)},
             {"recovery_differs_from_baseline", check.recovery_differs_from_baseline},
             {"recovery_p_value", optional_or_null(check.recovery_p_value)}};
}

void from_json(const Json& in, ThresholdCheck& check) {
  check.threshold = get_value<Threshold>(in, "threshold");
  check.bound = get_optional<double>(in, "bound");
  check.perturbation = get_optional<double>(in, "perturbation");
  check.recovery = get_optional<double>(in, "recovery");
  check.holds_in_perturbation = get_value<bool>(in, "holds_in_perturbation", true);
  check.holds_in_recovery = get_value<bool>(in, "holds_in_recovery", true);
  check.note = get_value<std::string>(in, "note");
  check.baseline = get_optional<double>(in, "baseline");
  check.holds_in_baseline = get_value<bool>(in, "holds_in_baseline", true);
  check.recovery_bound = get_optional<double>(in, "recovery_bound");
  check.recovery_differs_from_baseline = get_value<bool>(in, "recovery_differs_from_baseline", true);
  check.recovery_p_value = get_optional<double>(in, "recovery_p_value");
}

void to_json(Json& out, const Evidence& evidence) {
  out = Json{{"metric", evidence.metric},
             {"baseline", optional_or_null(evidence.baseline)},
             {"perturbation", optional_or_null(evidence.perturbation)},
             {"recovery", optional_or_null(evidence.recovery)},
             {"test", evidence.test},
             {"p_value", optional_or_null(evidence.p_value)},
             {"effect_size", optional_or_null(evidence.effect_size)},
             {"effect_name", evidence.effect_name},
             {"significant", evidence.significant},
             {"note", evidence.note},
             {"effect_ci_low", optional_or_null(evidence.effect_ci_low)},
             {"effect_ci_high", optional_or_null(evidence.effect_ci_high)},
             {"expected", evidence.expected}};
}

void from_json(const Json& in, Evidence& evidence) {
  evidence.metric = get_value<std::string>(in, "metric");
  evidence.baseline = get_optional<double>(in, "baseline");
  evidence.perturbation = get_optional<double>(in, "perturbation");
  evidence.recovery = get_optional<double>(in, "recovery");
  evidence.test = get_value<std::string>(in, "test");
  evidence.p_value = get_optional<double>(in, "p_value");
  evidence.effect_size = get_optional<double>(in, "effect_size");
  evidence.effect_name = get_value<std::string>(in, "effect_name");
  evidence.significant = get_value<bool>(in, "significant", false);
  evidence.note = get_value<std::string>(in, "note");
  evidence.effect_ci_low = get_optional<double>(in, "effect_ci_low");
  evidence.effect_ci_high = get_optional<double>(in, "effect_ci_high");
  evidence.expected = get_value<bool>(in, "expected", false);
}

void to_json(Json& out, const Verdict& verdict) {
  out = Json{{"kind", enum_to_name(verdict.kind, kVerdictNames)},
             {"summary", verdict.summary},
             {"checks", verdict.checks},
             {"evidence", verdict.evidence},
             {"warnings", verdict.warnings},
             {"recovery_window_start_s", optional_or_null(verdict.recovery_window_start_s)}};
}

void from_json(const Json& in, Verdict& verdict) {
  verdict.kind = enum_from_name(in, "kind", kVerdictNames, VerdictKind::ok);
  verdict.summary = get_value<std::string>(in, "summary");
  verdict.checks = get_vector<ThresholdCheck>(in, "checks");
  verdict.evidence = get_vector<Evidence>(in, "evidence");
  verdict.warnings = get_vector<std::string>(in, "warnings");
  verdict.recovery_window_start_s = get_optional<double>(in, "recovery_window_start_s");
}

// --- series.hpp ---------------------------------------------------------------------

void to_json(Json& out, const SyscallPoint& point) {
  out = Json{{"name", point.name}, {"calls", point.calls}, {"errors", point.errors}};
}

void from_json(const Json& in, SyscallPoint& point) {
  point.name = get_value<std::string>(in, "name");
  point.calls = get_value<uint64_t>(in, "calls", 0);
  point.errors = get_value<uint64_t>(in, "errors", 0);
}

void to_json(Json& out, const SeriesPoint& point) {
  out = Json{{"t_s", number_or_null(point.t_s)},
             {"phase", enum_to_name(point.phase, kPhaseNames)},
             {"request_rate", optional_or_null(point.request_rate)},
             {"success_rate", optional_or_null(point.success_rate)},
             {"latency_p50_ms", optional_or_null(point.latency_p50_ms)},
             {"latency_p90_ms", optional_or_null(point.latency_p90_ms)},
             {"latency_p99_ms", optional_or_null(point.latency_p99_ms)},
             {"request_errors", point.request_errors},
             {"syscalls_total", optional_or_null(point.syscalls_total)},
             {"syscall_errors_total", optional_or_null(point.syscall_errors_total)},
             {"top_syscalls", point.top_syscalls},
             {"cpu_cores", optional_or_null(point.cpu_cores)},
             {"memory_bytes", optional_or_null(point.memory_bytes)},
             {"target_alive", point.target_alive}};
}

void from_json(const Json& in, SeriesPoint& point) {
  point.t_s = get_double(in, "t_s");
  point.phase = enum_from_name(in, "phase", kPhaseNames, Phase::baseline);
  point.request_rate = get_optional<double>(in, "request_rate");
  point.success_rate = get_optional<double>(in, "success_rate");
  point.latency_p50_ms = get_optional<double>(in, "latency_p50_ms");
  point.latency_p90_ms = get_optional<double>(in, "latency_p90_ms");
  point.latency_p99_ms = get_optional<double>(in, "latency_p99_ms");
  point.request_errors = get_value<uint64_t>(in, "request_errors", 0);
  point.syscalls_total = get_optional<uint64_t>(in, "syscalls_total");
  point.syscall_errors_total = get_optional<uint64_t>(in, "syscall_errors_total");
  point.top_syscalls = get_vector<SyscallPoint>(in, "top_syscalls");
  point.cpu_cores = get_optional<double>(in, "cpu_cores");
  point.memory_bytes = get_optional<uint64_t>(in, "memory_bytes");
  point.target_alive = get_value<bool>(in, "target_alive", true);
}

void to_json(Json& out, const ExperimentSeries& series) {
  out = Json{{"top_syscall_names", series.top_syscall_names}, {"points", series.points}};
}

void from_json(const Json& in, ExperimentSeries& series) {
  series.top_syscall_names = get_vector<std::string>(in, "top_syscall_names");
  series.points = get_vector<SeriesPoint>(in, "points");
}

// --- experiment_result.hpp ------------------------------------------------------------

void to_json(Json& out, const EffectSummary& effects) {
  out = Json{{"http", effects.http}, {"syscall", effects.syscall}};
}

void from_json(const Json& in, EffectSummary& effects) {
  effects.http = get_value<std::string>(in, "http");
  effects.syscall = get_value<std::string>(in, "syscall");
}

void to_json(Json& out, const ExperimentResult& result) {
  out = Json{{"id", result.id},
             {"name", result.name},
             {"faults", result.faults},
             {"target", result.target},
             {"phases", result.phases},
             {"verdict", result.verdict},
             {"effects", result.effects},
             {"series", result.series},
             {"command", result.command ? Json(*result.command) : Json(nullptr)},
             {"crashes", result.crashes},
             {"faults_injected", result.faults_injected},
             {"requests", result.requests},
             {"series_file", result.series_file},
             {"started_at", result.started_at},
             {"duration_s", number_or_null(result.duration_s)},
             {"interrupted", result.interrupted}};
}

void from_json(const Json& in, ExperimentResult& result) {
  // The id is what the grid and the report's links refer to: an experiment without one
  // cannot be placed, so it is the one required field.
  result.id = in.at("id").get<std::string>();
  result.name = get_value<std::string>(in, "name");
  result.faults = get_vector<std::string>(in, "faults");
  result.target = get_value<std::string>(in, "target");
  result.phases = get_vector<PhaseWindow>(in, "phases");
  result.verdict = get_value<Verdict>(in, "verdict");
  result.effects = get_value<EffectSummary>(in, "effects");
  result.series = get_value<ExperimentSeries>(in, "series");
  result.command = get_optional<CommandOutcome>(in, "command");
  result.crashes = get_vector<CrashEvent>(in, "crashes");
  result.faults_injected = get_value<uint64_t>(in, "faults_injected", 0);
  result.requests = get_value<uint64_t>(in, "requests", 0);
  result.series_file = get_value<std::string>(in, "series_file");
  result.started_at = get_value<std::string>(in, "started_at");
  result.duration_s = get_double(in, "duration_s");
  result.interrupted = get_value<bool>(in, "interrupted", false);
}

void to_json(Json& out, const CampaignGrid& grid) {
  out = Json{{"syscalls", grid.syscalls}, {"columns", grid.columns}, {"cells", grid.cells}};
}

void from_json(const Json& in, CampaignGrid& grid) {
  grid.syscalls = get_vector<std::string>(in, "syscalls");
  grid.columns = get_vector<std::string>(in, "columns");
  grid.cells = get_vector<std::vector<std::string>>(in, "cells");
}

void to_json(Json& out, const CampaignResult& result) {
  out = Json{{"schema_version", kResultsSchemaVersion},
             {"name", result.name},
             {"started_at", result.started_at},
             {"syschaos_version", result.syschaos_version},
             {"complete", result.complete},
             {"grid", result.grid},
             {"experiments", result.experiments}};
}

void from_json(const Json& in, CampaignResult& result) {
  result.name = get_value<std::string>(in, "name");
  result.started_at = get_value<std::string>(in, "started_at");
  result.syschaos_version = get_value<std::string>(in, "syschaos_version");
  result.complete = get_value<bool>(in, "complete", false);
  result.grid = get_value<CampaignGrid>(in, "grid");
  result.experiments = get_vector<ExperimentResult>(in, "experiments");
}

// --- files --------------------------------------------------------------------------

namespace {

// Pretty-prints like dump(1), except that the elements of a series' "points" array are
// written one compact object per line: a 54-experiment campaign has about 20,000 points,
// and one field per line would make the file half again as large and no easier to read.
void write_pretty(std::string& out, const Json& value, int indent, bool compact_elements) {
  const std::string pad(indent, ' ');
  if (value.is_object() && !value.empty()) {
    out += "{\n";
    size_t i = 0;
    for (auto it = value.begin(); it != value.end(); ++it, ++i) {
      out += pad + " " + Json(it.key()).dump() + ": ";
      write_pretty(out, it.value(), indent + 1, it.key() == "points" && it.value().is_array());
      out += i + 1 < value.size() ? ",\n" : "\n";
    }
    out += pad + "}";
  } else if (value.is_array() && !value.empty()) {
    out += "[\n";
    for (size_t i = 0; i < value.size(); ++i) {
      out += pad + " ";
      if (compact_elements) out += value[i].dump();
      else write_pretty(out, value[i], indent + 1, false);
      out += i + 1 < value.size() ? ",\n" : "\n";
    }
    out += pad + "]";
  } else {
    out += value.dump();
  }
}

}  // namespace

std::string results_json_text(const CampaignResult& campaign) {
  std::string out;
  write_pretty(out, Json(campaign), 0, false);
  out += "\n";
  return out;
}

Result<CampaignResult> parse_results_json(const std::string& text) {
  Json doc = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return Error("not valid JSON");
  if (!doc.is_object()) return Error("not a JSON object");
  auto version = doc.find("schema_version");
  if (version == doc.end() || !version->is_number_integer())
    return Error("no integer \"schema_version\": not a syschaos results.json");
  if (version->get<int>() != kResultsSchemaVersion)
    return Error("schema_version " + std::to_string(version->get<int>()) +
                 " is not supported (this syschaos reads " +
                 std::to_string(kResultsSchemaVersion) + ")");
  try {
    return doc.get<CampaignResult>();
  } catch (const Json::exception& e) {
    // nlohmann's messages name the offending value ("[json.exception.type_error.302]
    // type must be string, but is number"); with JSON_DIAGNOSTICS they also carry its path.
    return Error(e.what());
  }
}

Result<void> write_results_json(const std::string& path, const CampaignResult& campaign) {
  return write_file_atomically(path, results_json_text(campaign));
}

Result<CampaignResult> read_results_json(const std::string& path) {
  auto text = read_whole_file(path);
  if (!text) return text.error();
  auto campaign = parse_results_json(*text);
  if (!campaign) return campaign.error().context(path);
  return campaign;
}

std::string series_to_jsonl(const ExperimentSeries& series) {
  std::string out;
  for (const auto& point : series.points) {
    out += Json(point).dump();
    out += '\n';
  }
  return out;
}

}  // namespace syschaos::experiment
