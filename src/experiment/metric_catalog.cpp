#include "experiment/metric_catalog.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/errno_names.hpp"
#include "core/syscall_table.hpp"
#include "experiment/statistics.hpp"

namespace syschaos::experiment {

namespace {

using U = MetricUnit;
using S = MetricSource;
using A = MetricArgument;

const std::vector<MetricInfo> kCatalog = {
    // HTTP workload
    {"http.requests", U::count, S::http, A::none, true, false,
     "requests started in the window"},
    {"http.success_rate", U::ratio, S::http, A::none, false, false,
     "share of the requests started in the window that got a 2xx/3xx response"},
    {"http.error_rate", U::ratio, S::http, A::none, false, false,
     "1 - http.success_rate (HTTP 4xx/5xx and transport failures)"},
    {"http.request_rate", U::per_second, S::http, A::none, false, false,
     "requests completed (answered or failed, dropped ones not) per second: the throughput"},
    {"http.latency_p50", U::seconds, S::http, A::none, false, false,
     "median latency of the requests started in the window, failed ones included (not dropped ones)"},
    {"http.latency_p90", U::seconds, S::http, A::none, false, false, "90th percentile latency"},
    {"http.latency_p99", U::seconds, S::http, A::none, false, false, "99th percentile latency"},
    {"http.latency_mean", U::seconds, S::http, A::none, false, false, "mean latency"},
    {"http.latency_max", U::seconds, S::http, A::none, false, false, "largest latency"},
    {"http.errors", U::count, S::http, A::none, true, false,
     "failed requests (status outside 200-399 or a transport error)"},
    {"http.timeouts", U::count, S::http, A::none, true, false,
     "requests that hit the workload's timeout"},
    {"http.connect_errors", U::count, S::http, A::none, true, false,
     "requests that could not connect"},
    {"http.resets", U::count, S::http, A::none, true, false,
     "requests whose connection was reset or closed without a response"},
    {"http.status_4xx", U::count, S::http, A::none, true, false, "responses with status 400-499"},
    {"http.status_5xx", U::count, S::http, A::none, true, false, "responses with status 500-599"},
    // eBPF syscall monitor
    {"syscall.calls", U::count, S::syscalls, A::syscall, true, false,
     "completed calls ({NAME}: of one syscall; none: all)"},
    {"syscall.rate", U::per_second, S::syscalls, A::syscall, false, false,
     "completed calls per second"},
    {"syscall.errors", U::count, S::syscalls, A::syscall_and_errno, true, false,
     "calls that returned an error ({NAME,ERRNO}: that errno only)"},
    {"syscall.errors_per_second", U::per_second, S::syscalls, A::syscall_and_errno, false, false,
     "failed calls per second"},
    {"syscall.error_rate", U::ratio, S::syscalls, A::syscall, false, false,
     "failed calls / completed calls (0 when there were no calls)"},
    {"syscall.latency_p50", U::seconds, S::syscalls, A::syscall, false, false,
     "median call duration, estimated from the log2 histograms"},
    {"syscall.latency_p90", U::seconds, S::syscalls, A::syscall, false, false,
     "90th percentile call duration (histogram estimate)"},
    {"syscall.latency_p99", U::seconds, S::syscalls, A::syscall, false, false,
     "99th percentile call duration (histogram estimate)"},
    {"syscall.latency_mean", U::seconds, S::syscalls, A::syscall, false, false,
     "mean call duration (exact: sum of durations / calls)"},
    // container / process resources
    {"resource.cpu_cores", U::cores, S::resources, A::none, false, false,
     "CPU used, in cores, averaged over the window"},
    {"resource.memory_bytes", U::bytes, S::resources, A::none, false, false,
     "memory in use, averaged over the window"},
    {"resource.memory_max_bytes", U::bytes, S::resources, A::none, false, false,
     "largest memory-in-use sample of the window"},
    {"resource.pids", U::count, S::resources, A::none, false, false,
     "largest number of tasks (processes and threads) of the window"},
    // liveness
    {"process.alive", U::boolean, S::process, A::none, false, false,
     "1 unless a crash happened in or before the window or the target was seen dead in it"},
    {"process.crashes", U::count, S::process, A::none, true, false,
     "crash and restart events in the window"},
    // command workload
    {"command.ok", U::boolean, S::command, A::none, false, true,
     "1 when the command workload exited with status 0"},
    {"command.exit_code", U::exit_code, S::command, A::none, false, true,
     "the command workload's exit status (128 + signal when killed)"},
};

size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

std::string all_metric_names() {
  std::string out;
  for (const auto& m : kCatalog) {
    if (!out.empty()) out += ", ";
    out += m.name;
  }
  return out;
}

bool has_http(const ExperimentObservations& o) { return !o.requests.empty(); }

double exit_code_of(const CommandOutcome& c) {
  return c.signal != 0 ? 128.0 + c.signal : static_cast<double>(c.exit_code);
}

// The end of the observed experiment: the last phase's end (or the last sample's).
double experiment_end(const ExperimentObservations& o) {
  double end = 0;
  for (const auto& p : o.phases) end = std::max(end, p.end_s);
  if (o.phases.empty())
    for (const auto& s : o.monitor) end = std::max(end, s.end_s);
  return end;
}

std::optional<double> http_metric(std::string_view name, const ExperimentObservations& o,
                                  TimeWindow w) {
  if (!has_http(o)) return std::nullopt;
  if (name == "http.request_rate") {
    if (w.length() <= 0) return std::nullopt;
    size_t completed = 0;
    for (const auto& r : o.requests)
      if (!r.dropped && w.contains(r.start_s + r.latency_s)) ++completed;
    return static_cast<double>(completed) / w.length();
  }
  auto requests = requests_started_in(o, w);
  auto count_if = [&](auto predicate) {
    return static_cast<double>(std::count_if(requests.begin(), requests.end(), predicate));
  };
  if (name == "http.requests") return static_cast<double>(requests.size());
  if (name == "http.errors") return count_if([](auto* r) { return !r->ok(); });
  if (name == "http.timeouts")
    return count_if([](auto* r) { return r->error == RequestError::timeout; });
  if (name == "http.connect_errors")
    return count_if([](auto* r) { return r->error == RequestError::connect; });
  if (name == "http.resets")
    return count_if([](auto* r) { return r->error == RequestError::reset; });
  if (name == "http.status_4xx")
    return count_if([](auto* r) { return r->status >= 400 && r->status < 500; });
  if (name == "http.status_5xx")
    return count_if([](auto* r) { return r->status >= 500 && r->status < 600; });

  // The rest are undefined without requests.
  if (requests.empty()) return std::nullopt;
  if (name == "http.success_rate" || name == "http.error_rate") {
    double ok = count_if([](auto* r) { return r->ok(); });
    double rate = ok / static_cast<double>(requests.size());
    return name == "http.success_rate" ? rate : 1 - rate;
  }
  // Requests the generator never sent (dropped) have no latency to speak of.
  std::vector<double> latencies;
  latencies.reserve(requests.size());
  for (auto* r : requests)
    if (!r->dropped) latencies.push_back(r->latency_s);
  if (latencies.empty()) return std::nullopt;
  std::sort(latencies.begin(), latencies.end());
  if (name == "http.latency_p50") return quantile_sorted(latencies, 0.50);
  if (name == "http.latency_p90") return quantile_sorted(latencies, 0.90);
  if (name == "http.latency_p99") return quantile_sorted(latencies, 0.99);
  if (name == "http.latency_max") return latencies.back();
  if (name == "http.latency_mean") return mean(latencies);
  return std::nullopt;
}

uint64_t errno_count(const SyscallStats& s, int err) {
  for (const auto& [e, count] : s.errnos)
    if (e == err) return count;
  return 0;
}

std::optional<double> syscall_metric(const MetricRef& m, const ExperimentObservations& o,
                                     TimeWindow w) {
  if (o.monitor.empty()) return std::nullopt;
  auto samples = samples_in(o, w);
  if (samples.empty()) return std::nullopt;
  const double seconds = covered_seconds(samples);
  SyscallStats s = merge_syscall_stats(samples, m.syscall);
  const double errors =
      static_cast<double>(m.error_number ? errno_count(s, *m.error_number) : s.errors);
  const double calls = static_cast<double>(s.calls);
  std::string_view name = m.info->name;
  if (name == "syscall.calls") return calls;
  if (name == "syscall.errors") return errors;
  if (name == "syscall.rate") return seconds > 0 ? std::optional(calls / seconds) : std::nullopt;
  if (name == "syscall.errors_per_second")
    return seconds > 0 ? std::optional(errors / seconds) : std::nullopt;
  if (name == "syscall.error_rate") return calls > 0 ? errors / calls : 0.0;
  if (s.calls == 0) return std::nullopt;  // no duration to speak of
  if (name == "syscall.latency_p50") return s.latency_quantile_ns(0.50) * 1e-9;
  if (name == "syscall.latency_p90") return s.latency_quantile_ns(0.90) * 1e-9;
  if (name == "syscall.latency_p99") return s.latency_quantile_ns(0.99) * 1e-9;
  if (name == "syscall.latency_mean") return static_cast<double>(s.latency_sum_ns) * 1e-9 / calls;
  return std::nullopt;
}

std::optional<double> resource_metric(std::string_view name, const ExperimentObservations& o,
                                      TimeWindow w) {
  auto samples = samples_in(o, w);
  // Time-weighted mean: samples may differ in length (the last one is often short).
  auto weighted_mean = [&](auto field) -> std::optional<double> {
    double sum = 0, weight = 0;
    for (auto* s : samples) {
      auto v = field(s->interval.resources);
      if (!v) continue;
      double len = std::max(s->end_s - s->start_s, 1e-9);
      sum += static_cast<double>(*v) * len;
      weight += len;
    }
    if (weight == 0) return std::nullopt;
    return sum / weight;
  };
  auto maximum = [&](auto field) -> std::optional<double> {
    std::optional<double> best;
    for (auto* s : samples)
      if (auto v = field(s->interval.resources))
        best = std::max(best.value_or(0), static_cast<double>(*v));
    return best;
  };
  if (name == "resource.cpu_cores")
    return weighted_mean([](const ResourceStats& r) { return r.cpu_cores; });
  if (name == "resource.memory_bytes")
    return weighted_mean([](const ResourceStats& r) { return r.memory_bytes; });
  if (name == "resource.memory_max_bytes")
    return maximum([](const ResourceStats& r) { return r.memory_bytes; });
  if (name == "resource.pids") return maximum([](const ResourceStats& r) { return r.pids; });
  return std::nullopt;
}

std::optional<double> process_metric(std::string_view name, const ExperimentObservations& o,
                                     TimeWindow w) {
  if (name == "process.crashes") {
    double n = 0;
    for (const auto& c : o.crashes)
      if (w.contains(c.at_s)) ++n;
    return n;
  }
  // process.alive: a crash is not undone by a restart (the users of the service saw it).
  for (const auto& c : o.crashes)
    if (c.at_s < w.end_s) return 0.0;
  for (auto* s : samples_in(o, w))
    if (!s->interval.target_alive) return 0.0;
  // Found dead at the end, time unknown: the window that reaches the end is the one to blame.
  if (!o.target_alive_at_end && w.end_s >= experiment_end(o) - 1e-9) return 0.0;
  return 1.0;
}

std::optional<double> command_metric(std::string_view name, const ExperimentObservations& o,
                                     TimeWindow w) {
  if (!o.command) return std::nullopt;
  const auto& c = *o.command;
  bool overlaps = c.start_s < w.end_s && c.end_s >= w.start_s;
  if (!overlaps) return std::nullopt;
  if (name == "command.ok") return c.ok() ? 1.0 : 0.0;
  return exit_code_of(c);
}

}  // namespace

const std::vector<MetricInfo>& metric_catalog() { return kCatalog; }

const MetricInfo* find_metric_info(std::string_view base_name) {
  for (const auto& m : kCatalog)
    if (m.name == base_name) return &m;
  return nullptr;
}

std::string MetricRef::name() const {
  std::string out(info ? info->name : "?");
  if (!syscall.empty() || error_number) {
    out += '{';
    out += syscall.empty() ? "*" : syscall;
    if (error_number) out += "," + errno_name(*error_number);
    out += '}';
  }
  return out;
}

std::vector<std::string> near_metric_names(std::string_view text, size_t max) {
  std::vector<std::pair<size_t, std::string_view>> scored;
  for (const auto& m : kCatalog) {
    size_t d = edit_distance(text, m.name);
    // A shared "http." prefix and a matching tail ("latency") also makes a good suggestion.
    bool related = !text.empty() && (m.name.find(text) != std::string_view::npos ||
                                     text.find(m.name) != std::string_view::npos);
    if (d <= 3 || related) scored.push_back({related ? std::min<size_t>(d, 1) : d, m.name});
  }
  // Without a close one, suggest the names after the same prefix, e.g. every "http." metric.
  if (scored.empty()) {
    auto dot = text.find('.');
    if (dot != std::string_view::npos) {
      auto prefix = text.substr(0, dot + 1);
      for (const auto& m : kCatalog)
        if (m.name.starts_with(prefix)) scored.push_back({edit_distance(text, m.name), m.name});
    }
  }
  std::stable_sort(scored.begin(), scored.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<std::string> out;
  for (const auto& [d, name] : scored) {
    if (out.size() >= max) break;
    out.emplace_back(name);
  }
  return out;
}

Result<MetricRef> parse_metric(std::string_view text) {
  text = trim(text);
  if (text.empty()) return Error("empty metric name");
  std::string_view base = text, argument;
  bool braces = false;
  if (auto open = text.find('{'); open != std::string_view::npos) {
    if (text.back() != '}')
      return Error(fmt::format("metric '{}': missing '}}' at the end", text));
    base = trim(text.substr(0, open));
    argument = trim(text.substr(open + 1, text.size() - open - 2));
    braces = true;
  } else if (text.find('}') != std::string_view::npos) {
    return Error(fmt::format("metric '{}': '}}' without '{{'", text));
  }
  const MetricInfo* info = find_metric_info(base);
  if (!info) {
    auto near = near_metric_names(base);
    if (near.empty())
      return Error(fmt::format("unknown metric '{}' (known: {})", base, all_metric_names()));
    return Error(fmt::format("unknown metric '{}' (did you mean {}?)", base,
                             fmt::join(near, ", ")));
  }
  MetricRef ref{.info = info};
  if (!braces) return ref;
  if (info->argument == MetricArgument::none)
    return Error(fmt::format("metric '{}' takes no {{...}} argument", info->name));
  std::string_view syscall = argument, err;
  if (auto comma = argument.find(','); comma != std::string_view::npos) {
    if (info->argument != MetricArgument::syscall_and_errno)
      return Error(fmt::format("metric '{}' takes one syscall name in braces, not '{}'",
                               info->name, argument));
    syscall = trim(argument.substr(0, comma));
    err = trim(argument.substr(comma + 1));
    if (err.find(',') != std::string_view::npos)
      return Error(fmt::format("metric '{}': at most a syscall and an errno in braces, got '{}'",
                               info->name, argument));
  }
  if (syscall.empty())
    return Error(fmt::format("metric '{}': empty syscall name in braces (use * for all)",
                             info->name));
  if (syscall != "*") {
    if (!SyscallTable::native().number(syscall))
      return Error(fmt::format("metric '{}': unknown syscall '{}'", text, syscall));
    ref.syscall = std::string(syscall);
  }
  if (!err.empty()) {
    auto number = parse_errno(err);
    if (!number) return Error(fmt::format("metric '{}': unknown errno '{}'", text, err));
    ref.error_number = *number;
  } else if (argument.find(',') != std::string_view::npos) {
    return Error(fmt::format("metric '{}': empty errno after ','", text));
  }
  return ref;
}

const char* metric_unit_name(MetricUnit unit) {
  switch (unit) {
    case MetricUnit::ratio: return "ratio";
    case MetricUnit::seconds: return "seconds";
    case MetricUnit::per_second: return "per second";
    case MetricUnit::count: return "count";
    case MetricUnit::cores: return "cores";
    case MetricUnit::bytes: return "bytes";
    case MetricUnit::boolean: return "boolean";
    case MetricUnit::exit_code: return "exit code";
  }
  return "?";
}

std::string format_metric_value(MetricUnit unit, double v) {
  if (std::isnan(v)) return "n/a";
  switch (unit) {
    case MetricUnit::ratio: {
      // Enough digits to tell 99.95% from 100%.
      double pct = v * 100;
      if (pct != 100 && pct > 99.9) return fmt::format("{:.3f}%", pct);
      return fmt::format("{:.1f}%", pct);
    }
    case MetricUnit::seconds: {
      double a = std::fabs(v);
      if (a == 0) return "0 s";
      if (a < 1e-6) return fmt::format("{:.0f} ns", v * 1e9);
      if (a < 1e-3) return fmt::format("{:.1f} us", v * 1e6);
      if (a < 1) return fmt::format("{:.1f} ms", v * 1e3);
      return fmt::format("{:.2f} s", v);
    }
    case MetricUnit::per_second: return fmt::format("{:.1f}/s", v);
    case MetricUnit::count:
      if (v == std::floor(v)) return fmt::format("{:.0f}", v);
      return fmt::format("{:.1f}", v);
    case MetricUnit::cores: return fmt::format("{:.2f} cores", v);
    case MetricUnit::bytes: {
      double a = std::fabs(v);
      if (a < 1024) return fmt::format("{:.0f} B", v);
      if (a < 1024.0 * 1024) return fmt::format("{:.1f} KiB", v / 1024);
      if (a < 1024.0 * 1024 * 1024) return fmt::format("{:.1f} MiB", v / (1024.0 * 1024));
      return fmt::format("{:.2f} GiB", v / (1024.0 * 1024 * 1024));
    }
    case MetricUnit::boolean: return v != 0 ? "yes" : "no";
    case MetricUnit::exit_code: return fmt::format("{:.0f}", v);
  }
  return fmt::format("{}", v);
}

std::string format_metric(std::string_view metric, std::optional<double> value) {
  if (!value) return "n/a";
  auto ref = parse_metric(metric);
  if (!ref) return fmt::format("{:.4g}", *value);
  return format_metric_value(ref->info->unit, *value);
}

TimeWindow window_of(const PhaseWindow& phase) { return {phase.start_s, phase.end_s}; }

std::optional<double> evaluate_metric(const MetricRef& metric,
                                      const ExperimentObservations& observations,
                                      TimeWindow window) {
  if (!metric.info) return std::nullopt;
  switch (metric.info->source) {
    case MetricSource::http: return http_metric(metric.info->name, observations, window);
    case MetricSource::syscalls: return syscall_metric(metric, observations, window);
    case MetricSource::resources: return resource_metric(metric.info->name, observations, window);
    case MetricSource::process: return process_metric(metric.info->name, observations, window);
    case MetricSource::command: return command_metric(metric.info->name, observations, window);
  }
  return std::nullopt;
}

std::vector<SecondValue> per_second_values(const MetricRef& metric,
                                           const ExperimentObservations& observations,
                                           TimeWindow window) {
  std::vector<SecondValue> out;
  // Tolerance so that a 10.0000001 s window still has 10 seconds, not 9.
  const auto whole = static_cast<long>(std::floor(window.length() + 1e-6));
  for (long i = 0; i < whole; ++i) {
    TimeWindow second{window.start_s + static_cast<double>(i),
                      window.start_s + static_cast<double>(i + 1)};
    if (auto v = evaluate_metric(metric, observations, second)) out.push_back({second.start_s, *v});
  }
  return out;
}

std::vector<const RequestRecord*> requests_started_in(const ExperimentObservations& observations,
                                                      TimeWindow window) {
  std::vector<const RequestRecord*> out;
  for (const auto& r : observations.requests)
    if (window.contains(r.start_s)) out.push_back(&r);
  return out;
}

std::vector<const MonitorSample*> samples_in(const ExperimentObservations& observations,
                                             TimeWindow window) {
  std::vector<const MonitorSample*> out;
  for (const auto& s : observations.monitor)
    if (window.contains((s.start_s + s.end_s) / 2)) out.push_back(&s);
  return out;
}

double covered_seconds(const std::vector<const MonitorSample*>& samples) {
  double total = 0;
  for (auto* s : samples) total += std::max(0.0, s->end_s - s->start_s);
  return total;
}

SyscallStats merge_syscall_stats(const std::vector<const MonitorSample*>& samples,
                                 std::string_view syscall) {
  SyscallStats merged;
  merged.name = syscall.empty() ? "*" : std::string(syscall);
  for (auto* sample : samples) {
    for (const auto& s : sample->interval.syscalls) {
      if (!syscall.empty() && s.name != syscall) continue;
      if (merged.nr < 0 && !syscall.empty()) merged.nr = s.nr;
      merged.calls += s.calls;
      merged.errors += s.errors;
      merged.latency_sum_ns += s.latency_sum_ns;
      for (int i = 0; i < kLatencyBuckets; ++i) merged.latency_log2[i] += s.latency_log2[i];
      for (const auto& [err, count] : s.errnos) {
        auto it = std::lower_bound(merged.errnos.begin(), merged.errnos.end(), err,
                                   [](const auto& p, int e) { return p.first < e; });
        if (it != merged.errnos.end() && it->first == err)
          it->second += count;
        else
          merged.errnos.insert(it, {err, count});
      }
    }
  }
  return merged;
}

std::vector<double> per_sample_error_rates(const std::vector<const MonitorSample*>& samples,
                                           std::string_view syscall) {
  std::vector<double> out;
  for (auto* sample : samples) {
    double len = sample->end_s - sample->start_s;
    if (len <= 0) continue;
    uint64_t errors = 0;
    for (const auto& s : sample->interval.syscalls)
      if (s.name == syscall) errors += s.errors;
    out.push_back(static_cast<double>(errors) / len);
  }
  return out;
}

}  // namespace syschaos::experiment
