// results.json: every field survives a round trip, the layout is the documented one, and bad
// files are refused with a message that says why.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "experiment/experiment_result.hpp"
#include "sample_campaign.hpp"

namespace syschaos::experiment {
namespace {

using nlohmann::json;

// Field-by-field comparison (the types have no operator==; comparing re-serialised JSON
// would miss a field that both directions forget).
void expect_same_optional(const std::optional<double>& a, const std::optional<double>& b,
                          const std::string& what) {
  ASSERT_EQ(a.has_value(), b.has_value()) << what;
  if (a) {
    if (std::isnan(*a)) EXPECT_TRUE(std::isnan(*b)) << what;
    else EXPECT_EQ(*a, *b) << what;
  }
}

void expect_same(const Threshold& a, const Threshold& b) {
  EXPECT_EQ(a.text, b.text);
  EXPECT_EQ(a.metric, b.metric);
  EXPECT_EQ(a.comparison, b.comparison);
  EXPECT_EQ(a.value, b.value);
  EXPECT_EQ(a.relative_to_baseline, b.relative_to_baseline);
}

void expect_same(const Verdict& a, const Verdict& b) {
  EXPECT_EQ(a.kind, b.kind);
  EXPECT_EQ(a.summary, b.summary);
  ASSERT_EQ(a.checks.size(), b.checks.size());
  for (size_t i = 0; i < a.checks.size(); ++i) {
    expect_same(a.checks[i].threshold, b.checks[i].threshold);
    expect_same_optional(a.checks[i].bound, b.checks[i].bound, "bound");
    expect_same_optional(a.checks[i].perturbation, b.checks[i].perturbation, "check.perturbation");
    expect_same_optional(a.checks[i].recovery, b.checks[i].recovery, "check.recovery");
    EXPECT_EQ(a.checks[i].holds_in_perturbation, b.checks[i].holds_in_perturbation);
    EXPECT_EQ(a.checks[i].holds_in_recovery, b.checks[i].holds_in_recovery);
    EXPECT_EQ(a.checks[i].note, b.checks[i].note);
    expect_same_optional(a.checks[i].baseline, b.checks[i].baseline, "check.baseline");
    EXPECT_EQ(a.checks[i].holds_in_baseline, b.checks[i].holds_in_baseline);
    expect_same_optional(a.checks[i].recovery_bound, b.checks[i].recovery_bound, "recovery_bound");
    EXPECT_EQ(a.checks[i].recovery_differs_from_baseline, b.checks[i].recovery_differs_from_baseline);
    expect_same_optional(a.checks[i].recovery_p_value, b.checks[i].recovery_p_value, "recovery_p_value");
  }
  ASSERT_EQ(a.evidence.size(), b.evidence.size());
  for (size_t i = 0; i < a.evidence.size(); ++i) {
    const auto &x = a.evidence[i], &y = b.evidence[i];
    EXPECT_EQ(x.metric, y.metric);
    expect_same_optional(x.baseline, y.baseline, "baseline");
    expect_same_optional(x.perturbation, y.perturbation, "perturbation");
    expect_same_optional(x.recovery, y.recovery, "recovery");
    EXPECT_EQ(x.test, y.test);
    expect_same_optional(x.p_value, y.p_value, "p_value");
    expect_same_optional(x.effect_size, y.effect_size, "effect_size");
    EXPECT_EQ(x.effect_name, y.effect_name);
    EXPECT_EQ(x.significant, y.significant);
    EXPECT_EQ(x.note, y.note);
    expect_same_optional(x.effect_ci_low, y.effect_ci_low, "effect_ci_low");
    expect_same_optional(x.effect_ci_high, y.effect_ci_high, "effect_ci_high");
    EXPECT_EQ(x.expected, y.expected);
  }
  EXPECT_EQ(a.warnings, b.warnings);
  expect_same_optional(a.recovery_window_start_s, b.recovery_window_start_s, "recovery_window_start_s");
}

void expect_same(const SeriesPoint& a, const SeriesPoint& b) {
  EXPECT_EQ(a.t_s, b.t_s);
  EXPECT_EQ(a.phase, b.phase);
  expect_same_optional(a.request_rate, b.request_rate, "request_rate");
  expect_same_optional(a.success_rate, b.success_rate, "success_rate");
  expect_same_optional(a.latency_p50_ms, b.latency_p50_ms, "p50");
  expect_same_optional(a.latency_p90_ms, b.latency_p90_ms, "p90");
  expect_same_optional(a.latency_p99_ms, b.latency_p99_ms, "p99");
  EXPECT_EQ(a.request_errors, b.request_errors);
  EXPECT_EQ(a.syscalls_total, b.syscalls_total);
  EXPECT_EQ(a.syscall_errors_total, b.syscall_errors_total);
  ASSERT_EQ(a.top_syscalls.size(), b.top_syscalls.size());
  for (size_t i = 0; i < a.top_syscalls.size(); ++i) {
    EXPECT_EQ(a.top_syscalls[i].name, b.top_syscalls[i].name);
    EXPECT_EQ(a.top_syscalls[i].calls, b.top_syscalls[i].calls);
    EXPECT_EQ(a.top_syscalls[i].errors, b.top_syscalls[i].errors);
  }
  expect_same_optional(a.cpu_cores, b.cpu_cores, "cpu");
  EXPECT_EQ(a.memory_bytes, b.memory_bytes);
  EXPECT_EQ(a.target_alive, b.target_alive);
}

void expect_same(const ExperimentResult& a, const ExperimentResult& b) {
  EXPECT_EQ(a.id, b.id);
  EXPECT_EQ(a.name, b.name);
  EXPECT_EQ(a.faults, b.faults);
  EXPECT_EQ(a.target, b.target);
  ASSERT_EQ(a.phases.size(), b.phases.size());
  for (size_t i = 0; i < a.phases.size(); ++i) {
    EXPECT_EQ(a.phases[i].phase, b.phases[i].phase);
    EXPECT_EQ(a.phases[i].start_s, b.phases[i].start_s);
    EXPECT_EQ(a.phases[i].end_s, b.phases[i].end_s);
  }
  expect_same(a.verdict, b.verdict);
  EXPECT_EQ(a.effects.http, b.effects.http);
  EXPECT_EQ(a.effects.syscall, b.effects.syscall);
  EXPECT_EQ(a.series.top_syscall_names, b.series.top_syscall_names);
  ASSERT_EQ(a.series.points.size(), b.series.points.size());
  for (size_t i = 0; i < a.series.points.size(); ++i) expect_same(a.series.points[i], b.series.points[i]);
  ASSERT_EQ(a.command.has_value(), b.command.has_value());
  if (a.command) {
    EXPECT_EQ(a.command->command, b.command->command);
    EXPECT_EQ(a.command->exit_code, b.command->exit_code);
    EXPECT_EQ(a.command->signal, b.command->signal);
    EXPECT_EQ(a.command->start_s, b.command->start_s);
    EXPECT_EQ(a.command->end_s, b.command->end_s);
    EXPECT_EQ(a.command->output_tail, b.command->output_tail);
  }
  ASSERT_EQ(a.crashes.size(), b.crashes.size());
  for (size_t i = 0; i < a.crashes.size(); ++i) {
    EXPECT_EQ(a.crashes[i].at_s, b.crashes[i].at_s);
    EXPECT_EQ(a.crashes[i].what, b.crashes[i].what);
    EXPECT_EQ(a.crashes[i].exit_code, b.crashes[i].exit_code);
    EXPECT_EQ(a.crashes[i].signal, b.crashes[i].signal);
    EXPECT_EQ(a.crashes[i].oom_killed, b.crashes[i].oom_killed);
    EXPECT_EQ(a.crashes[i].restarted, b.crashes[i].restarted);
  }
  EXPECT_EQ(a.faults_injected, b.faults_injected);
  EXPECT_EQ(a.requests, b.requests);
  EXPECT_EQ(a.series_file, b.series_file);
  EXPECT_EQ(a.started_at, b.started_at);
  EXPECT_EQ(a.duration_s, b.duration_s);
  EXPECT_EQ(a.interrupted, b.interrupted);
}

void expect_same(const CampaignResult& a, const CampaignResult& b) {
  EXPECT_EQ(a.name, b.name);
  EXPECT_EQ(a.started_at, b.started_at);
  EXPECT_EQ(a.syschaos_version, b.syschaos_version);
  EXPECT_EQ(a.complete, b.complete);
  EXPECT_EQ(a.grid.syscalls, b.grid.syscalls);
  EXPECT_EQ(a.grid.columns, b.grid.columns);
  EXPECT_EQ(a.grid.cells, b.grid.cells);
  ASSERT_EQ(a.experiments.size(), b.experiments.size());
  for (size_t i = 0; i < a.experiments.size(); ++i) expect_same(a.experiments[i], b.experiments[i]);
}

// A campaign where every field has a value that differs from its default, including the
// unusual ones (signals, restarts, relative thresholds, odd characters).
CampaignResult full_campaign() {
  testing::SampleOptions options;
  options.phase_s = 4;
  options.command = true;
  CampaignResult c = testing::sample_campaign({"read", "openat"}, {"EIO", "ENOENT", "EINTR"}, options);
  c.complete = false;
  auto& e = c.experiments[3];  // crash: has a crash event
  e.interrupted = true;
  e.name = "quotes \" backslash \\ <tag> & ünïcödé ✓";
  e.faults.push_back("read:delay_enter=1s:prob=0.1");
  e.crashes.push_back({7.25, "container restarted", 137, std::nullopt, true, true});
  e.command = CommandOutcome{"wrk -d 10s", -1, 9, 0.5, 11.75, "killed\n", };
  ThresholdCheck relative;
  relative.threshold = {"http.latency_p99 <= 2x baseline", "http.latency_p99", Comparison::less_equal, 2, true};
  relative.bound = 16.2;
  relative.perturbation = std::nullopt;
  relative.recovery = 9.5;
  relative.holds_in_perturbation = false;
  relative.holds_in_recovery = true;
  relative.note = "no perturbation data";
  relative.baseline = 8.1;
  relative.holds_in_baseline = false;
  relative.recovery_bound = 17.5;
  relative.recovery_differs_from_baseline = false;
  relative.recovery_p_value = 0.3;
  e.verdict.warnings = {"the baseline already breaks http.latency_p99 <= 2x baseline", "second"};
  e.verdict.recovery_window_start_s = 10.5;
  e.verdict.evidence[1].effect_ci_low = 0.88;
  e.verdict.evidence[1].effect_ci_high = 0.97;
  e.verdict.evidence[1].expected = true;
  e.verdict.checks.push_back(relative);
  e.verdict.evidence[0].p_value = std::nullopt;
  e.verdict.evidence[0].note = "";
  c.grid.cells[1][2] = "";  // an absent cell
  return c;
}

TEST(ResultsJson, RoundTripKeepsEveryField) {
  CampaignResult original = full_campaign();
  auto parsed = parse_results_json(results_json_text(original));
  ASSERT_TRUE(parsed.ok()) << parsed.error().message();
  expect_same(original, *parsed);
}

TEST(ResultsJson, TopLevelLayoutIsTheDocumentedOne) {
  json doc = json::parse(results_json_text(full_campaign()));
  EXPECT_EQ(doc.at("schema_version"), 1);
  for (const char* key : {"name", "started_at", "syschaos_version", "complete", "grid", "experiments"})
    EXPECT_TRUE(doc.contains(key)) << key;
  const json& e = doc.at("experiments").at(3);
  EXPECT_EQ(e.at("verdict").at("kind"), "crash");
  EXPECT_EQ(doc.at("experiments").at(4).at("verdict").at("kind"), "no-recovery");
  EXPECT_EQ(e.at("phases").at(1).at("phase"), "perturbation");
  EXPECT_EQ(e.at("verdict").at("checks").at(1).at("threshold").at("comparison"), "<=");
  EXPECT_EQ(e.at("verdict").at("checks").at(0).at("threshold").at("comparison"), ">=");
  EXPECT_TRUE(e.at("crashes").at(0).at("exit_code").is_null());
  EXPECT_EQ(e.at("crashes").at(0).at("signal"), 11);
  EXPECT_EQ(e.at("command").at("ok"), false);
  EXPECT_TRUE(doc.at("experiments").at(0).at("command").is_null());
  const json& point = e.at("series").at("points").at(0);
  for (const char* key : {"t_s", "phase", "request_rate", "success_rate", "latency_p50_ms",
                          "latency_p90_ms", "latency_p99_ms", "request_errors", "syscalls_total",
                          "syscall_errors_total", "top_syscalls", "cpu_cores", "memory_bytes",
                          "target_alive"})
    EXPECT_TRUE(point.contains(key)) << key;
  EXPECT_EQ(doc.at("grid").at("cells").at(1).at(2), "");
}

TEST(ResultsJson, TextIsIndentedWithOneSeriesPointPerLine) {
  CampaignResult c = testing::sample_campaign({"read"}, {"EIO"}, {.phase_s = 2});
  std::string text = results_json_text(c);
  EXPECT_EQ(json::parse(text), json(c));  // the same document as nlohmann's own dump
  EXPECT_EQ(text.rfind("{\n \"complete\": true,\n", 0), 0u) << text.substr(0, 80);
  // Each of the 6 points on a line of its own, starting with its opening brace.
  size_t point_lines = 0;
  for (size_t pos = text.find("\n"); pos != std::string::npos; pos = text.find("\n", pos + 1)) {
    size_t next = text.find("\n", pos + 1);
    std::string line = text.substr(pos + 1, next == std::string::npos ? std::string::npos : next - pos - 1);
    if (line.find("{\"cpu_cores\":") != std::string::npos) {
      ++point_lines;
      EXPECT_NE(line.find("\"top_syscalls\":[{"), std::string::npos) << line;
    }
  }
  EXPECT_EQ(point_lines, 6u);
  EXPECT_EQ(text.back(), '\n');
}

TEST(ResultsJson, NanAndInfinityBecomeNullAndReadBackAsMissing) {
  CampaignResult c = testing::sample_campaign({"read"}, {"EIO"}, {.phase_s = 2});
  auto& point = c.experiments[0].series.points[0];
  point.latency_p99_ms = std::nan("");
  point.cpu_cores = INFINITY;
  c.experiments[0].duration_s = std::nan("");
  c.experiments[0].verdict.evidence[0].p_value = -INFINITY;
  std::string text = results_json_text(c);
  json doc = json::parse(text);  // strict JSON: would throw on a bare NaN
  EXPECT_TRUE(doc["experiments"][0]["series"]["points"][0]["latency_p99_ms"].is_null());
  auto parsed = parse_results_json(text);
  ASSERT_TRUE(parsed.ok()) << parsed.error().message();
  const auto& back = parsed->experiments[0];
  EXPECT_FALSE(back.series.points[0].latency_p99_ms.has_value());
  EXPECT_FALSE(back.series.points[0].cpu_cores.has_value());
  EXPECT_FALSE(back.verdict.evidence[0].p_value.has_value());
  EXPECT_TRUE(std::isnan(back.duration_s));
}

TEST(ResultsJson, HugeCountersSurvive) {
  CampaignResult c = testing::sample_campaign({"read"}, {"EIO"}, {.phase_s = 2});
  c.experiments[0].faults_injected = UINT64_MAX;
  c.experiments[0].series.points[1].memory_bytes = UINT64_MAX - 1;
  auto parsed = parse_results_json(results_json_text(c));
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->experiments[0].faults_injected, UINT64_MAX);
  EXPECT_EQ(parsed->experiments[0].series.points[1].memory_bytes, UINT64_MAX - 1);
}

TEST(ResultsJson, RefusesOtherSchemaVersionsAndBadDocuments) {
  json doc = json::parse(results_json_text(testing::sample_campaign({"read"}, {"EIO"}, {.phase_s = 2})));
  doc["schema_version"] = 2;
  auto r = parse_results_json(doc.dump());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("schema_version 2"), std::string::npos) << r.error().message();

  doc.erase("schema_version");
  EXPECT_FALSE(parse_results_json(doc.dump()).ok());
  EXPECT_FALSE(parse_results_json("{\"schema_version\": 1, ").ok());
  EXPECT_FALSE(parse_results_json("[1, 2]").ok());

  doc["schema_version"] = 1;
  doc["experiments"][0]["verdict"]["kind"] = "mostly-fine";
  r = parse_results_json(doc.dump());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("mostly-fine"), std::string::npos) << r.error().message();

  doc["experiments"][0]["verdict"]["kind"] = "ok";
  doc["experiments"][0].erase("id");
  EXPECT_FALSE(parse_results_json(doc.dump()).ok());

  doc["experiments"][0]["id"] = 42;  // wrong type
  EXPECT_FALSE(parse_results_json(doc.dump()).ok());
}

TEST(ResultsJson, MissingOptionalFieldsTakeDefaults) {
  auto r = parse_results_json(R"({"schema_version": 1, "experiments": [{"id": "x"}]})");
  ASSERT_TRUE(r.ok()) << r.error().message();
  ASSERT_EQ(r->experiments.size(), 1u);
  EXPECT_EQ(r->experiments[0].id, "x");
  EXPECT_EQ(r->experiments[0].verdict.kind, VerdictKind::ok);
  EXPECT_FALSE(r->experiments[0].command.has_value());
  EXPECT_TRUE(r->grid.cells.empty());
}

TEST(ResultsJson, FileWriteAndReadBack) {
  auto dir = std::filesystem::temp_directory_path() / ("results-json-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string path = (dir / "results.json").string();
  CampaignResult original = full_campaign();
  auto written = write_results_json(path, original);
  ASSERT_TRUE(written.ok()) << written.error().message();
  // Only results.json is left: the temporary file was renamed over it.
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir), {}), 1);
  auto read = read_results_json(path);
  ASSERT_TRUE(read.ok()) << read.error().message();
  expect_same(original, *read);

  auto missing = read_results_json((dir / "nope.json").string());
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message().find("nope.json"), std::string::npos);
  EXPECT_EQ(missing.error().sys_errno(), ENOENT);

  std::ofstream(dir / "bad.json") << "{\"schema_version\": 1, \"experiments\": 3}";
  auto bad = read_results_json((dir / "bad.json").string());
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message().find("bad.json"), std::string::npos);

  auto unwritable = write_results_json((dir / "no-such-dir" / "results.json").string(), original);
  EXPECT_FALSE(unwritable.ok());
  std::filesystem::remove_all(dir);
}

TEST(ResultsJson, SeriesJsonlHasOnePointPerLine) {
  auto c = testing::sample_campaign({"read"}, {"EIO"}, {.phase_s = 3});
  std::string text = series_to_jsonl(c.experiments[0].series);
  size_t lines = 0;
  size_t start = 0;
  for (size_t end; (end = text.find('\n', start)) != std::string::npos; start = end + 1, ++lines) {
    SeriesPoint point = json::parse(text.substr(start, end - start)).get<SeriesPoint>();
    expect_same(c.experiments[0].series.points[lines], point);
  }
  EXPECT_EQ(lines, 9u);
  EXPECT_EQ(start, text.size());
}

}  // namespace
}  // namespace syschaos::experiment
