#include "experiment/series.hpp"

#include <algorithm>
#include <cmath>
#include <map>

#include <fmt/format.h>

#include "experiment/metric_catalog.hpp"
#include "experiment/statistics.hpp"

namespace syschaos::experiment {

namespace {

// The seconds the series covers: from the first phase's start to the last phase's end
// (or, without phases, whatever the data covers).
std::pair<long, long> second_range(const ExperimentObservations& o) {
  double lo = INFINITY, hi = -INFINITY;
  for (const auto& p : o.phases) {
    lo = std::min(lo, p.start_s);
    hi = std::max(hi, p.end_s);
  }
  if (o.phases.empty()) {
    for (const auto& r : o.requests) {
      lo = std::min(lo, r.start_s);
      hi = std::max(hi, r.start_s + r.latency_s);
    }
    for (const auto& s : o.monitor) {
      lo = std::min(lo, s.start_s);
      hi = std::max(hi, s.end_s);
    }
  }
  if (!(lo <= hi)) return {0, 0};
  // Phases are half-open ([start, end)); a datum's time is a point, so the second holding
  // the last one is included.
  long last = o.phases.empty() ? static_cast<long>(std::floor(hi)) + 1
                               : static_cast<long>(std::ceil(hi));
  return {static_cast<long>(std::floor(lo)), last};
}

Phase phase_at(const ExperimentObservations& o, double t) {
  const PhaseWindow* latest = nullptr;
  for (const auto& p : o.phases) {
    if (t >= p.start_s && t < p.end_s) return p.phase;
    if (p.start_s <= t && (!latest || p.start_s > latest->start_s)) latest = &p;
  }
  // In a gap between phases (or after the last) a second belongs to the phase before it.
  if (latest) return latest->phase;
  return o.phases.empty() ? Phase::baseline : o.phases.front().phase;
}

// Syscalls to follow: those whose error rate changed between baseline and perturbation
// (the verdict's test: Mann-Whitney on per-sample error rates, p < 0.01, and at least a
// factor 2) come first, biggest change first; then the busiest by calls + errors over the
// whole experiment.
std::vector<std::string> choose_top_syscalls(const ExperimentObservations& o, size_t top_n) {
  std::map<std::string, uint64_t> volume;
  for (const auto& s : o.monitor)
    for (const auto& sc : s.interval.syscalls) volume[sc.name] += sc.calls + sc.errors;

  std::vector<std::pair<double, std::string>> changed;
  const auto* base = o.phase(Phase::baseline);
  const auto* pert = o.phase(Phase::perturbation);
  if (base && pert) {
    auto sb = samples_in(o, window_of(*base)), sp = samples_in(o, window_of(*pert));
    double tb = covered_seconds(sb), tp = covered_seconds(sp);
    for (const auto& [name, total] : volume) {
      auto eb = merge_syscall_stats(sb, name).errors, ep = merge_syscall_stats(sp, name).errors;
      if (eb == 0 && ep == 0) continue;
      auto test = mann_whitney_u(per_sample_error_rates(sp, name), per_sample_error_rates(sb, name));
      auto rates = compare_poisson_rates(ep, tp, eb, tb);  // rates and the smoothed ratio
      if (test && rates && test->p_value < 0.01 && (rates->rate_ratio >= 2 || rates->rate_ratio <= 0.5))
        changed.push_back({std::fabs(rates->rate1 - rates->rate2), name});
    }
  }
  std::stable_sort(changed.begin(), changed.end(),
                   [](const auto& a, const auto& b) { return a.first > b.first; });
  std::vector<std::pair<uint64_t, std::string>> busy;
  for (const auto& [name, total] : volume) busy.push_back({total, name});
  std::stable_sort(busy.begin(), busy.end(),
                   [](const auto& a, const auto& b) { return a.first > b.first; });

  std::vector<std::string> out;
  auto add = [&](const std::string& name) {
    if (out.size() < top_n && std::find(out.begin(), out.end(), name) == out.end())
      out.push_back(name);
  };
  for (const auto& [d, name] : changed) add(name);
  for (const auto& [n, name] : busy) add(name);
  return out;
}

std::string csv_number(const std::optional<double>& v) {
  // Six significant digits: more than any of these measurements carries.
  return v ? fmt::format("{:.6g}", *v) : std::string();
}
template <typename T>
std::string csv_integer(const std::optional<T>& v) {
  return v ? fmt::format("{}", *v) : std::string();
}

}  // namespace

ExperimentSeries build_series(const ExperimentObservations& o, size_t top_n) {
  ExperimentSeries series;
  series.top_syscall_names = choose_top_syscalls(o, top_n);
  auto [first, last] = second_range(o);
  if (last <= first) return series;
  const size_t n = static_cast<size_t>(last - first);
  auto index_of = [&](double t) -> std::optional<size_t> {
    auto k = static_cast<long>(std::floor(t)) - first;
    if (k < 0 || static_cast<size_t>(k) >= n) return std::nullopt;
    return static_cast<size_t>(k);
  };

  series.points.resize(n);
  for (size_t i = 0; i < n; ++i) {
    auto& p = series.points[i];
    p.t_s = static_cast<double>(first + static_cast<long>(i));
    p.phase = phase_at(o, p.t_s + 0.5);
  }

  // HTTP: by completion second (what a client sees at that moment: a hung server shows as a
  // gap, then a burst of timeouts). Dropped requests never completed: they count as errors
  // in the second they were due.
  if (!o.requests.empty()) {
    std::vector<std::vector<double>> latencies(n);
    std::vector<uint64_t> ok(n, 0);
    for (const auto& r : o.requests) {
      auto k = index_of(r.dropped ? r.start_s : r.start_s + r.latency_s);
      if (!k) continue;
      if (r.dropped) {
        ++series.points[*k].request_errors;
        continue;
      }
      latencies[*k].push_back(r.latency_s);
      if (r.ok())
        ++ok[*k];
      else
        ++series.points[*k].request_errors;
    }
    for (size_t i = 0; i < n; ++i) {
      auto& p = series.points[i];
      auto& l = latencies[i];
      p.request_rate = static_cast<double>(l.size());
      if (l.empty()) continue;
      std::sort(l.begin(), l.end());
      p.success_rate = static_cast<double>(ok[i]) / static_cast<double>(l.size());
      p.latency_p50_ms = quantile_sorted(l, 0.50) * 1e3;
      p.latency_p90_ms = quantile_sorted(l, 0.90) * 1e3;
      p.latency_p99_ms = quantile_sorted(l, 0.99) * 1e3;
    }
  }

  // Monitor samples: by the second holding their midpoint (the same rule as the metrics).
  if (!o.monitor.empty()) {
    std::vector<std::vector<const MonitorSample*>> by_second(n);
    for (const auto& s : o.monitor)
      if (auto k = index_of((s.start_s + s.end_s) / 2)) by_second[*k].push_back(&s);
    for (size_t i = 0; i < n; ++i) {
      auto& p = series.points[i];
      for (const auto& name : series.top_syscall_names) p.top_syscalls.push_back({name, 0, 0});
      const auto& samples = by_second[i];
      if (samples.empty()) continue;
      uint64_t calls = 0, errors = 0;
      double cpu_sum = 0;
      int cpu_n = 0;
      for (auto* s : samples) {
        calls += s->interval.total_calls;
        errors += s->interval.total_errors;
        for (const auto& sc : s->interval.syscalls)
          for (auto& tp : p.top_syscalls)
            if (tp.name == sc.name) {
              tp.calls += sc.calls;
              tp.errors += sc.errors;
            }
        if (s->interval.resources.cpu_cores) {
          cpu_sum += *s->interval.resources.cpu_cores;
          ++cpu_n;
        }
        if (s->interval.resources.memory_bytes) p.memory_bytes = s->interval.resources.memory_bytes;
        if (!s->interval.target_alive) p.target_alive = false;
      }
      p.syscalls_total = calls;
      p.syscall_errors_total = errors;
      if (cpu_n > 0) p.cpu_cores = cpu_sum / cpu_n;
    }
  }

  // Liveness: dead in the second of a crash; after a crash without restart, dead from then on.
  for (const auto& c : o.crashes) {
    auto k = index_of(c.at_s);
    if (!k) {
      if (c.at_s < static_cast<double>(first) && !c.restarted) k = 0;
      else continue;
    }
    series.points[*k].target_alive = false;
    if (!c.restarted)
      for (size_t i = *k; i < n; ++i) series.points[i].target_alive = false;
  }
  if (!o.target_alive_at_end) series.points.back().target_alive = false;
  return series;
}

std::string series_to_csv(const ExperimentSeries& series) {
  std::string out =
      "t_s,phase,request_rate,success_rate,latency_p50_ms,latency_p90_ms,latency_p99_ms,"
      "request_errors,syscalls_total,syscall_errors_total,cpu_cores,memory_bytes,target_alive";
  // Syscall names are [a-z0-9_], safe as CSV header parts.
  for (const auto& name : series.top_syscall_names)
    out += fmt::format(",calls_{},errors_{}", name, name);
  out += '\n';
  for (const auto& p : series.points) {
    const bool http = p.request_rate.has_value();
    out += fmt::format("{},{},{},{},{},{},{},{},{},{},{},{},{}", p.t_s, phase_name(p.phase),
                       csv_number(p.request_rate), csv_number(p.success_rate),
                       csv_number(p.latency_p50_ms), csv_number(p.latency_p90_ms),
                       csv_number(p.latency_p99_ms),
                       http ? fmt::format("{}", p.request_errors) : std::string(),
                       csv_integer(p.syscalls_total), csv_integer(p.syscall_errors_total),
                       csv_number(p.cpu_cores), csv_integer(p.memory_bytes),
                       p.target_alive ? 1 : 0);
    const bool monitored = p.syscalls_total.has_value();
    for (const auto& name : series.top_syscall_names) {
      const SyscallPoint* found = nullptr;
      for (const auto& sp : p.top_syscalls)
        if (sp.name == name) found = &sp;
      if (monitored && found)
        out += fmt::format(",{},{}", found->calls, found->errors);
      else
        out += ",,";
    }
    out += '\n';
  }
  return out;
}

}  // namespace syschaos::experiment
