// The metrics a hypothesis can name and the verdict compares, each computed over a time
// window of an experiment's observations. One registry, so the parser, the verdict, the
// report and the docs agree on names, units and definitions.
//
// Window membership (documented in docs/EXPERIMENTS.md):
//   - an HTTP request belongs to the window in which it STARTED (what was asked of the
//     service under this phase's conditions), except http.request_rate, which counts the
//     requests that COMPLETED in the window (throughput: a hung server completes nothing);
//   - a monitor sample belongs to the window that contains its midpoint (samples are never
//     split or counted twice); rates divide by the seconds those samples cover;
//   - the command workload's metrics hold for every window the command overlaps.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"
#include "experiment/observations.hpp"

namespace syschaos::experiment {

// The unit a metric's value is expressed in (thresholds are converted to it).
enum class MetricUnit {
  ratio,       // 0..1 (thresholds accept "99%")
  seconds,     // thresholds accept ns, us, ms, s, m
  per_second,  // events per second (thresholds accept "/s")
  count,       // events in the window
  cores,       // CPU cores (1.0 = one core fully busy)
  bytes,       // thresholds accept B, KB, MB, GB (10^3) and KiB, MiB, GiB (2^10)
  boolean,     // 1 = true, 0 = false
  exit_code,   // a process exit code; 128 + signal when killed by a signal (shell convention)
};

enum class MetricSource { http, syscalls, resources, process, command };

// What goes between the braces: syscall.errors{read}, syscall.errors{read,ENOENT}.
enum class MetricArgument {
  none,
  syscall,            // optional syscall name; absent (or "*") = all syscalls together
  syscall_and_errno,  // optional syscall name, then an optional errno name
};

struct MetricInfo {
  std::string_view name;         // "http.latency_p99"
  MetricUnit unit;
  MetricSource source;
  MetricArgument argument;
  // The value grows with the window's length (a count): "Nx baseline" then means N times
  // the baseline's count scaled to the compared window's length.
  bool extensive;
  // One value for the whole run, seen in every window the source overlaps (command.*).
  bool whole_run;
  std::string_view description;
};

// All metrics, in documentation order.
const std::vector<MetricInfo>& metric_catalog();
const MetricInfo* find_metric_info(std::string_view base_name);

// A metric name as parsed: base name plus the optional braces.
struct MetricRef {
  const MetricInfo* info = nullptr;
  std::string syscall;                // empty = all syscalls
  std::optional<int> error_number;    // syscall.errors{NAME,ERRNO}
  // Canonical text: "syscall.errors{read,ENOENT}", "http.latency_p99".
  std::string name() const;
};

// Parses and validates "http.success_rate", "syscall.errors{read}", "syscall.errors{read,EIO}".
// Unknown names list the closest known ones; unknown syscalls and errnos are named.
Result<MetricRef> parse_metric(std::string_view text);

// Known names that look like `text` (edit distance or shared prefix), best first.
std::vector<std::string> near_metric_names(std::string_view text, size_t max = 3);

const char* metric_unit_name(MetricUnit unit);  // "ratio", "seconds", ...
// A value for people: "99.2%", "12.3 ms", "1.5 s", "820/s", "3 400", "0.52 cores", "48.1 MiB".
std::string format_metric_value(MetricUnit unit, double value);
// The same for a metric named as in results.json ("http.latency_p99",
// "syscall.errors_per_second{futex}"): its unit from the catalog; "n/a" without a value; a
// plain number for a name the catalog does not know.
std::string format_metric(std::string_view metric, std::optional<double> value);

// A half-open window [start_s, end_s) on the experiment clock.
struct TimeWindow {
  double start_s = 0, end_s = 0;
  double length() const { return end_s > start_s ? end_s - start_s : 0; }
  bool contains(double t) const { return t >= start_s && t < end_s; }
};

TimeWindow window_of(const PhaseWindow& phase);

// The metric's value over the window; nullopt when the window holds no data for it (no
// HTTP workload, no monitor sample, no request started, a syscall never called for a
// latency quantile, a command that did not run then ...).
std::optional<double> evaluate_metric(const MetricRef& metric,
                                      const ExperimentObservations& observations,
                                      TimeWindow window);

// The metric evaluated on each whole second [start + i, start + i + 1) of the window (a
// trailing partial second is left out); seconds without a value are skipped. These are the
// samples the verdict's per-second tests (Welch) compare.
struct SecondValue {
  double t_s = 0;
  double value = 0;
};
std::vector<SecondValue> per_second_values(const MetricRef& metric,
                                           const ExperimentObservations& observations,
                                           TimeWindow window);

// ---- Window selection, shared with the verdict and the series -------------------------

std::vector<const RequestRecord*> requests_started_in(const ExperimentObservations& observations,
                                                      TimeWindow window);
std::vector<const MonitorSample*> samples_in(const ExperimentObservations& observations,
                                             TimeWindow window);
double covered_seconds(const std::vector<const MonitorSample*>& samples);
// One syscall's (or, with an empty name, all syscalls') counts, errnos and latency histogram
// summed over the samples.
SyscallStats merge_syscall_stats(const std::vector<const MonitorSample*>& samples,
                                 std::string_view syscall);
// One syscall's errors per second in each sample (samples of no length left out): the unit
// the error-rate tests compare, since errors come in bursts that one sample holds.
std::vector<double> per_sample_error_rates(const std::vector<const MonitorSample*>& samples,
                                           std::string_view syscall);

}  // namespace syschaos::experiment
