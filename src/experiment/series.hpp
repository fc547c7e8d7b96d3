// Per-second time series of an experiment, built from its observations: what the CSV/JSONL
// per-experiment files hold and what the report draws.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "experiment/observations.hpp"

namespace syschaos::experiment {

struct SyscallPoint {
  std::string name;
  uint64_t calls = 0;
  uint64_t errors = 0;
};

struct SeriesPoint {
  double t_s = 0;                    // start of the second on the experiment clock
  Phase phase = Phase::baseline;
  // HTTP workload (absent without one)
  std::optional<double> request_rate;   // requests completed per second
  std::optional<double> success_rate;   // ok / completed, 0..1
  std::optional<double> latency_p50_ms, latency_p90_ms, latency_p99_ms;
  uint64_t request_errors = 0;          // failed requests (status or transport)
  // syscalls (absent without the monitor)
  std::optional<uint64_t> syscalls_total, syscall_errors_total;
  std::vector<SyscallPoint> top_syscalls;  // the experiment's top syscalls (same set each point)
  // resources
  std::optional<double> cpu_cores;
  std::optional<uint64_t> memory_bytes;
  bool target_alive = true;
};

struct ExperimentSeries {
  std::vector<std::string> top_syscall_names;  // chosen over the whole experiment, busiest first
  std::vector<SeriesPoint> points;
};

// top_n: how many syscalls to follow (by calls plus errors over the whole experiment;
// syscalls whose error count changes during the perturbation come first).
ExperimentSeries build_series(const ExperimentObservations& observations, size_t top_n = 8);

// CSV with a header line; columns documented in docs/EXPERIMENTS.md.
std::string series_to_csv(const ExperimentSeries& series);

}  // namespace syschaos::experiment
