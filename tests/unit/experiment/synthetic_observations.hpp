// Synthetic experiment observations for the metric, verdict and series tests: phases,
// HTTP requests at a steady rate and one monitor sample per second, all deterministic (the
// "noise" is a low-discrepancy sequence, so every run sees the same numbers).
#pragma once

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "experiment/observations.hpp"

namespace syschaos::experiment::testing {

// Deterministic values evenly spread over [0, 1): i·φ mod 1.
inline double spread(int i) { return std::fmod(i * 0.6180339887498949, 1.0); }

// Baseline [0, b), perturbation [b, b + p), recovery [b + p, b + p + r) (r = 0: none).
inline ExperimentObservations with_phases(double b, double p, double r) {
  ExperimentObservations o;
  if (b > 0) o.phases.push_back({Phase::baseline, 0, b});
  if (p > 0) o.phases.push_back({Phase::perturbation, b, b + p});
  if (r > 0) o.phases.push_back({Phase::recovery, b + p, b + p + r});
  return o;
}

struct RequestShape {
  double latency_s = 0.002;
  int status = 200;
  RequestError error = RequestError::none;
};

// `rate` requests per second started evenly in [start, end); shape(i) decides each one.
inline void add_requests(ExperimentObservations& o, double start, double end, double rate,
                         const std::function<RequestShape(int)>& shape) {
  int n = static_cast<int>(std::lround((end - start) * rate));
  for (int i = 0; i < n; ++i) {
    RequestShape s = shape(i);
    RequestRecord r;
    r.start_s = start + i / rate;
    r.latency_s = s.latency_s;
    r.status = s.error == RequestError::none ? s.status : 0;
    r.error = s.error;
    r.url = "http://127.0.0.1:18080/";
    o.requests.push_back(r);
  }
}

// Healthy: 2 ms ± 0.5 ms, all 200.
inline RequestShape healthy(int i) { return {0.0015 + 0.001 * spread(i), 200}; }

inline SyscallStats syscall_stats(const std::string& name, uint64_t calls, uint64_t errors = 0,
                                  int err = 0, uint64_t latency_ns = 1000) {
  SyscallStats s;
  s.name = name;
  s.calls = calls;
  s.errors = errors;
  if (errors > 0) s.errnos.push_back({err, errors});
  int bucket = latency_ns == 0 ? 0 : static_cast<int>(std::floor(std::log2(double(latency_ns))));
  s.latency_log2[std::min(bucket, kLatencyBuckets - 1)] = calls;
  s.latency_sum_ns = calls * latency_ns;
  return s;
}

// One monitor sample per second in [start, end); fill(second_index, interval) sets its
// content. Totals are summed from the syscalls when fill leaves them at 0.
inline void add_samples(ExperimentObservations& o, double start, double end,
                        const std::function<void(int, Interval&)>& fill) {
  int n = static_cast<int>(std::lround(end - start));
  for (int i = 0; i < n; ++i) {
    MonitorSample s;
    s.start_s = start + i;
    s.end_s = start + i + 1;
    s.interval.index = o.monitor.size();
    fill(i, s.interval);
    if (s.interval.total_calls == 0)
      for (const auto& sc : s.interval.syscalls) {
        s.interval.total_calls += sc.calls;
        s.interval.total_errors += sc.errors;
      }
    o.monitor.push_back(s);
  }
}

}  // namespace syschaos::experiment::testing
