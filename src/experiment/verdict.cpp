#include "experiment/verdict.hpp"

#include <algorithm>
#include <cmath>
#include <functional>

#include <fmt/format.h>

#include "core/errno_names.hpp"
#include "experiment/metric_catalog.hpp"
#include "experiment/statistics.hpp"

namespace syschaos::experiment {

namespace {

// The windows the verdict compares. `recovery` is only the judged (later) part of the
// recovery phase.
struct Windows {
  std::optional<TimeWindow> baseline, perturbation, recovery;
  const PhaseWindow* recovery_phase = nullptr;
};

Windows windows_of(const ExperimentObservations& o, const VerdictOptions& options) {
  Windows w;
  if (auto* p = o.phase(Phase::baseline)) w.baseline = window_of(*p);
  if (auto* p = o.phase(Phase::perturbation)) w.perturbation = window_of(*p);
  if (auto* p = o.phase(Phase::recovery)) {
    w.recovery_phase = p;
    double fraction = std::clamp(options.recovery_judged_fraction, 0.0, 1.0);
    if (fraction <= 0) fraction = 1;  // 0 would judge nothing; take the whole phase
    double length = p->end_s - p->start_s;
    w.recovery = TimeWindow{p->end_s - fraction * length, p->end_s};
  }
  return w;
}

std::string format_p(double p) {
  if (p <= 0) return "p < 1e-300";
  if (p < 1e-4) return fmt::format("p = {:.1e}", p);
  if (p < 0.01) return fmt::format("p = {:.4f}", p);
  return fmt::format("p = {:.3f}", p);
}

MetricUnit unit_of(std::string_view metric) {
  auto ref = parse_metric(metric);
  return ref ? ref->info->unit : MetricUnit::count;
}

std::string value_text(std::string_view metric, std::optional<double> v) {
  return format_metric(metric, v);
}

std::optional<double> value_in(const ExperimentObservations& o, std::string_view metric,
                               const std::optional<TimeWindow>& w) {
  if (!w) return std::nullopt;
  auto ref = parse_metric(metric);
  if (!ref) return std::nullopt;
  return evaluate_metric(*ref, o, *w);
}

// Romano et al. (2006) thresholds for |Cliff's delta|.
const char* delta_magnitude(double delta) {
  double a = std::fabs(delta);
  if (a < 0.147) return "negligible";
  if (a < 0.33) return "small";
  if (a < 0.474) return "medium";
  return "large";
}

std::string percent_points(double d) { return fmt::format("{:+.1f} points", d * 100); }

// "+35%", "-60%", "0%" (never "-0%").
std::string percent_change(double relative) {
  double pct = std::round(relative * 100);
  if (pct == 0) return "0%";
  return fmt::format("{:+.0f}%", pct);
}

// An Evidence plus the short phrase the summary uses for it.
struct Item {
  Evidence evidence;
  std::string brief;
  std::string warning;  // for Verdict::warnings, when the comparison cannot do its job
};

// An Item for `metric` holding the metric's value in each window: where every per-metric
// comparison starts.
Item item_with_values(const ExperimentObservations& o, const Windows& w, std::string metric) {
  Item item;
  Evidence& e = item.evidence;
  e.metric = std::move(metric);
  e.baseline = value_in(o, e.metric, w.baseline);
  e.perturbation = value_in(o, e.metric, w.perturbation);
  e.recovery = value_in(o, e.metric, w.recovery);
  return item;
}

// The smallest two-sided p-value Mann-Whitney can give for n1 vs n2 distinct values: both
// tails' most extreme arrangement, 2 / C(n1 + n2, n1).
double smallest_rank_test_p(size_t n1, size_t n2) {
  double log_choose = std::lgamma(static_cast<double>(n1 + n2) + 1) -
                      std::lgamma(static_cast<double>(n1) + 1) -
                      std::lgamma(static_cast<double>(n2) + 1);
  return std::min(1.0, 2 * std::exp(-log_choose));
}

std::string change_brief(const Evidence& e) {
  return fmt::format("{} {} → {}", e.metric, value_text(e.metric, e.baseline),
                     value_text(e.metric, e.perturbation));
}

// ---- HTTP -----------------------------------------------------------------------------

std::vector<const RequestRecord*> answered(const std::vector<const RequestRecord*>& requests) {
  std::vector<const RequestRecord*> out;
  for (auto* r : requests)
    if (!r->dropped) out.push_back(r);
  return out;
}

std::optional<Item> success_evidence(const ExperimentObservations& o, const Windows& w,
                                     const VerdictOptions& options) {
  Item item = item_with_values(o, w, "http.success_rate");
  Evidence& e = item.evidence;
  auto base = requests_started_in(o, *w.baseline), pert = requests_started_in(o, *w.perturbation);
  auto ok_count = [](const auto& rs) {
    return static_cast<uint64_t>(std::count_if(rs.begin(), rs.end(), [](auto* r) { return r->ok(); }));
  };
  if (base.empty() || pert.empty()) {
    e.note = fmt::format("no test: {} requests started in the baseline, {} in the perturbation",
                         base.size(), pert.size());
    return item;
  }
  uint64_t xb = ok_count(base), xp = ok_count(pert);
  auto t = compare_proportions(xp, pert.size(), xb, base.size());
  e.test = t->test;
  e.p_value = t->p_value;
  e.effect_size = t->difference;
  e.effect_name = "difference of proportions (perturbation − baseline)";
  e.effect_ci_low = t->difference_ci.low;
  e.effect_ci_high = t->difference_ci.high;
  e.significant =
      t->p_value < options.alpha && std::fabs(t->difference) >= options.min_rate_difference;
  e.note = fmt::format(
      "success {} ({}/{}) in the baseline, {} ({}/{}) during the perturbation: {} "
      "[95% CI {:+.1f}, {:+.1f}], {} {}",
      format_metric_value(MetricUnit::ratio, t->p2), xb, base.size(),
      format_metric_value(MetricUnit::ratio, t->p1), xp, pert.size(), percent_points(t->difference),
      t->difference_ci.low * 100, t->difference_ci.high * 100, t->test, format_p(t->p_value));
  item.brief = fmt::format("success {} → {} ({}, {})", format_metric_value(MetricUnit::ratio, t->p2),
                           format_metric_value(MetricUnit::ratio, t->p1),
                           percent_points(t->difference), format_p(t->p_value));
  return item;
}

// Mean latency of the (non-dropped) requests started in each whole second of the window;
// seconds without such a request are left out.
std::vector<double> per_second_mean_latency(const ExperimentObservations& o, TimeWindow w) {
  const auto seconds = static_cast<size_t>(std::floor(w.length() + 1e-6));
  std::vector<double> sum(seconds, 0);
  std::vector<size_t> count(seconds, 0);
  for (const auto& r : o.requests) {
    if (r.dropped || r.start_s < w.start_s) continue;
    auto k = static_cast<size_t>(std::floor(r.start_s - w.start_s));
    if (k >= seconds) continue;
    sum[k] += r.latency_s;
    ++count[k];
  }
  std::vector<double> out;
  for (size_t k = 0; k < seconds; ++k)
    if (count[k] > 0) out.push_back(sum[k] / static_cast<double>(count[k]));
  return out;
}

// Latencies: the effect is measured per request (Cliff's delta: how likely a request under
// the fault is slower than one before it), but the test's unit is the SECOND. Requests close
// in time are not independent — they share the server's queue, caches, a GC pause, the CPU
// the machine lends — so a per-request test treats one slow second as hundreds of pieces of
// evidence and calls a noisy steady state "significant" (observed on a control experiment:
// a warm-up second in the baseline gave p = 0.0005 with nothing injected). The Mann-Whitney
// test on per-second mean latencies counts that second once.
std::optional<Item> latency_evidence(const ExperimentObservations& o, const Windows& w,
                                     const VerdictOptions& options) {
  Item item = item_with_values(o, w, "http.latency_p50");
  Evidence& e = item.evidence;
  auto latencies = [](const std::vector<const RequestRecord*>& rs) {
    std::vector<double> out;
    for (auto* r : answered(rs)) out.push_back(r->latency_s);
    return out;
  };
  auto base = latencies(requests_started_in(o, *w.baseline));
  auto pert = latencies(requests_started_in(o, *w.perturbation));
  auto per_request = mann_whitney_u(pert, base);
  if (!per_request) {
    e.note = fmt::format("no test: {} latencies in the baseline, {} in the perturbation",
                         base.size(), pert.size());
    return item;
  }
  const double delta = per_request->cliffs_delta;
  e.effect_size = delta;
  e.effect_name = "Cliff's delta over requests (> 0: slower during the perturbation)";
  auto seconds_base = per_second_mean_latency(o, *w.baseline);
  auto seconds_pert = per_second_mean_latency(o, *w.perturbation);
  auto per_second = mann_whitney_u(seconds_pert, seconds_base);
  auto p99b = quantile(base, 0.99), p99p = quantile(pert, 0.99);
  const char* direction = delta > 0 ? "slower" : delta < 0 ? "faster" : "no faster or slower";
  std::string described = fmt::format(
      "median {} → {}, p99 {} → {}: {}, Cliff's δ = {:+.2f} ({}) over {} vs {} requests",
      value_text(e.metric, e.baseline), value_text(e.metric, e.perturbation),
      value_text(e.metric, p99b), value_text(e.metric, p99p), direction, delta,
      delta_magnitude(delta), pert.size(), base.size());
  if (!per_second || seconds_base.size() < 2 || seconds_pert.size() < 2) {
    e.note = described + fmt::format("; no test: {} vs {} seconds with requests (2 needed)",
                                     seconds_pert.size(), seconds_base.size());
    return item;
  }
  e.test = "Mann-Whitney U on per-second mean latencies";
  e.p_value = per_second->p_value;
  if (double floor = smallest_rank_test_p(seconds_pert.size(), seconds_base.size());
      floor >= options.alpha)
    item.warning = fmt::format(
        "with {} vs {} seconds the latency test cannot reach alpha {} (its smallest p-value is "
        "{:.3g}): phases of 5 s or more are needed to call latency different",
        seconds_pert.size(), seconds_base.size(), options.alpha, floor);
  e.significant = per_second->p_value < options.alpha && std::fabs(delta) >= options.min_latency_effect;
  e.note = described + fmt::format(
      "; Mann-Whitney U = {:.1f} over {} vs {} seconds, {} ({}); per request it would be {}",
      per_second->u1, seconds_pert.size(), seconds_base.size(), format_p(per_second->p_value),
      per_second->exact ? "exact" : "normal approximation with tie and continuity correction",
      format_p(per_request->p_value));
  item.brief = fmt::format("latency median {} → {} (Cliff's δ {:+.2f}, Mann-Whitney {})",
                           value_text(e.metric, e.baseline), value_text(e.metric, e.perturbation),
                           delta, format_p(per_second->p_value));
  return item;
}

// The p99 per phase, described for the report and the effects table ("p99 4 ms → 1.2 s"); the
// Mann-Whitney test above already compares the whole distributions, and a second test on the
// same latencies would only add a multiple comparison.
Item tail_latency_description(const ExperimentObservations& o, const Windows& w) {
  Item item = item_with_values(o, w, "http.latency_p99");
  Evidence& e = item.evidence;
  e.note = fmt::format("p99 {} in the baseline, {} during the perturbation, {} in recovery "
                       "(described, not tested: see http.latency_p50)",
                       value_text(e.metric, e.baseline), value_text(e.metric, e.perturbation),
                       value_text(e.metric, e.recovery));
  return item;
}

// Welch's t-test on per-second (or per-sample) values; `floor` decides whether the effect is
// large enough to matter.
template <typename Floor>
Item welch_evidence(const ExperimentObservations& o, const Windows& w, std::string metric,
                    const std::vector<double>& base, const std::vector<double>& pert,
                    const char* per_what, const VerdictOptions& options, Floor floor) {
  Item item = item_with_values(o, w, std::move(metric));
  Evidence& e = item.evidence;
  auto t = welch_t_test(pert, base);
  if (!t) {
    e.note = fmt::format("no test: {} {} in the baseline, {} in the perturbation (2 needed)",
                         base.size(), per_what, pert.size());
    return item;
  }
  e.test = "Welch's t-test";
  e.p_value = t->p_value;
  e.effect_name = "relative change of the mean (perturbation vs baseline)";
  if (t->relative_change) e.effect_size = *t->relative_change;
  e.significant = t->p_value < options.alpha && floor(*t);
  const MetricUnit unit = unit_of(e.metric);
  e.note = fmt::format("mean {} → {} over {} {} vs {}{}; t = {:.2f}, df = {:.1f}, {}",
                       format_metric_value(unit, t->mean2), format_metric_value(unit, t->mean1),
                       t->n2, per_what, t->n1,
                       t->relative_change ? " (" + percent_change(*t->relative_change) + ")"
                                          : std::string(),
                       t->t, t->df, format_p(t->p_value));
  item.brief = fmt::format("{} {} → {} (Welch {})", e.metric, format_metric_value(unit, t->mean2),
                           format_metric_value(unit, t->mean1), format_p(t->p_value));
  return item;
}

std::vector<double> values_only(const std::vector<SecondValue>& values) {
  std::vector<double> out;
  for (const auto& v : values) out.push_back(v.value);
  return out;
}

// ---- Syscalls and resources (monitor samples) -----------------------------------------

template <typename Field>
std::vector<double> per_sample(const std::vector<const MonitorSample*>& samples, Field field) {
  std::vector<double> out;
  for (auto* s : samples)
    if (auto v = field(*s)) out.push_back(*v);
  return out;
}

std::string errno_breakdown(const SyscallStats& s) {
  auto errnos = s.errnos;
  std::sort(errnos.begin(), errnos.end(),
            [](const auto& a, const auto& b) { return a.second > b.second; });
  std::string out;
  for (size_t i = 0; i < errnos.size() && i < 3; ++i)
    out += fmt::format("{}{} ×{}", out.empty() ? "" : ", ", errno_name(errnos[i].first),
                       errnos[i].second);
  return out;
}

std::vector<Item> syscall_error_evidence(const ExperimentObservations& o, const Windows& w,
                                         const VerdictOptions& options) {
  auto base = samples_in(o, *w.baseline), pert = samples_in(o, *w.perturbation);
  std::vector<const MonitorSample*> rec;
  if (w.recovery) rec = samples_in(o, *w.recovery);
  const double tb = covered_seconds(base), tp = covered_seconds(pert), tr = covered_seconds(rec);
  if (tb <= 0 || tp <= 0) return {};

  // Every syscall that failed at least once in either phase is tested; Bonferroni keeps the
  // family's false-alarm rate at alpha however many there are.
  std::vector<std::string> names;
  for (const auto* list : {&base, &pert})
    for (auto* sample : *list)
      for (const auto& s : sample->interval.syscalls)
        if (s.errors > 0 && std::find(names.begin(), names.end(), s.name) == names.end())
          names.push_back(s.name);
  const double family = static_cast<double>(names.size());

  // The unit is the monitor sample, not the single error: errors come in bursts (a futex
  // storm, EAGAIN on a busy socket), far from a Poisson process, and a test on the summed
  // counts would call every burst significant (observed on a control experiment: futex
  // errors 5.8/s → 1.5/s, p = 0.0002 with nothing injected). See per_sample_error_rates.

  std::vector<Item> items;
  for (const auto& name : names) {
    SyscallStats sb = merge_syscall_stats(base, name), sp = merge_syscall_stats(pert, name);
    const double rate_base = static_cast<double>(sb.errors) / tb;
    const double rate_pert = static_cast<double>(sp.errors) / tp;
    // Haldane's +0.5 keeps the ratio finite when the baseline had no error at all.
    const double ratio = ((static_cast<double>(sp.errors) + 0.5) / tp) /
                         ((static_cast<double>(sb.errors) + 0.5) / tb);
    Item item;
    Evidence& e = item.evidence;
    e.metric = fmt::format("syscall.errors_per_second{{{}}}", name);
    e.baseline = rate_base;
    e.perturbation = rate_pert;
    if (tr > 0) e.recovery = static_cast<double>(merge_syscall_stats(rec, name).errors) / tr;
    e.effect_size = ratio;
    e.effect_name = "error-rate ratio (perturbation / baseline, counts +0.5)";
    e.expected = std::find(o.perturbed_syscalls.begin(), o.perturbed_syscalls.end(), name) !=
                     o.perturbed_syscalls.end() &&
                 rate_pert >= rate_base;
    std::string errnos = errno_breakdown(sp);
    std::string described =
        fmt::format("{} errors {:.1f}/s ({} in {:.0f} s) → {:.1f}/s ({} in {:.0f} s{}): ratio {:.2f}",
                    name, rate_base, sb.errors, tb, rate_pert, sp.errors, tp,
                    errnos.empty() ? "" : "; " + errnos, ratio);
    const std::string injected = e.expected ? "; the experiment injects into this syscall" : "";
    auto test = mann_whitney_u(per_sample_error_rates(pert, name), per_sample_error_rates(base, name));
    if (!test || base.size() < 2 || pert.size() < 2) {
      e.note = described + "; no test: fewer than 2 monitor samples in a phase" + injected;
      items.push_back(std::move(item));
      continue;
    }
    e.test = fmt::format("Mann-Whitney U on per-sample error rates, Bonferroni-adjusted over {} "
                         "syscall{}",
                         names.size(), names.size() == 1 ? "" : "s");
    e.p_value = std::min(1.0, test->p_value * family);
    const bool big = ratio >= options.min_error_rate_ratio || ratio <= 1 / options.min_error_rate_ratio;
    e.significant = *e.p_value < options.alpha && big &&
                    std::fabs(rate_pert - rate_base) >= options.min_error_rate_difference;
    e.note = described + fmt::format(", {} vs {} samples, {} adjusted", pert.size(), base.size(),
                                     format_p(*e.p_value)) +
             injected;
    item.brief = fmt::format("{} errors {:.1f}/s → {:.1f}/s ({})", name, rate_base, rate_pert,
                             format_p(*e.p_value));
    items.push_back(std::move(item));
  }
  // The unexpected significant differences first, then the biggest changes.
  std::stable_sort(items.begin(), items.end(), [](const Item& a, const Item& b) {
    auto rank = [](const Evidence& e) { return e.significant ? (e.expected ? 1 : 0) : 2; };
    if (rank(a.evidence) != rank(b.evidence)) return rank(a.evidence) < rank(b.evidence);
    return std::fabs(*a.evidence.perturbation - *a.evidence.baseline) >
           std::fabs(*b.evidence.perturbation - *b.evidence.baseline);
  });
  if (items.size() > options.max_syscall_evidence) items.resize(options.max_syscall_evidence);
  return items;
}

// ---- Command --------------------------------------------------------------------------

Item command_evidence(const ExperimentObservations& o) {
  const auto& c = *o.command;
  Item item;
  Evidence& e = item.evidence;
  e.metric = "command.ok";
  e.perturbation = c.ok() ? 1.0 : 0.0;
  // A single run has no baseline to test against: a failure is a difference by itself.
  e.significant = !c.ok();
  std::string how = c.signal != 0 ? fmt::format("was killed by {}", signal_name(c.signal))
                                  : fmt::format("exited with status {}", c.exit_code);
  if (c.stopped) how += c.killed_after_grace ? " after ignoring SIGTERM (syschaos stopped it)"
                                             : " when syschaos stopped it at the end";
  e.note = fmt::format("command '{}' {} (one run, no statistical test)", c.command, how);
  item.brief = fmt::format("the command workload {}", how);
  return item;
}

// ---- Thresholds -----------------------------------------------------------------------

std::string why_no_data(const MetricRef& ref, const ExperimentObservations& o) {
  switch (ref.info->source) {
    case MetricSource::http:
      return o.requests.empty() ? "the experiment made no HTTP requests"
                                : "no request started (or was answered) in the window";
    case MetricSource::syscalls:
      return o.monitor.empty() ? "the experiment has no syscall monitor samples"
                               : "no monitor sample or no such call in the window";
    case MetricSource::resources: return "the resource sampler gave no value in the window";
    case MetricSource::process: return "no liveness information";
    case MetricSource::command:
      return o.command ? "the command workload did not run in the window"
                       : "the experiment has no command workload";
  }
  return "no data";
}

// Does the judged recovery window still differ from the baseline on this metric? The same
// kind of test as the evidence, recovery against baseline. nullopt: no test for this metric
// (or no data to run one) — the threshold alone decides.
struct RecoveryTest {
  std::string test;
  double p_value = 1;
  bool differs = true;
};

std::optional<RecoveryTest> recovery_test(const MetricInfo& info, const ExperimentObservations& o,
                                          const Windows& w, const VerdictOptions& options) {
  if (!w.baseline || !w.recovery || info.source != MetricSource::http) return std::nullopt;
  const std::string_view name = info.name;
  auto base = requests_started_in(o, *w.baseline), rec = requests_started_in(o, *w.recovery);
  if (base.empty() || rec.empty()) return std::nullopt;
  if (name.starts_with("http.latency_")) {
    std::vector<double> lb, lr;
    for (auto* r : answered(base)) lb.push_back(r->latency_s);
    for (auto* r : answered(rec)) lr.push_back(r->latency_s);
    auto mw = mann_whitney_u(lr, lb);
    if (!mw) return std::nullopt;
    // Per request on purpose: the recovery window is a few seconds, too few for the
    // per-second test, and this test can only downgrade a broken quantile to "recovered".
    return RecoveryTest{"Mann-Whitney U over requests", mw->p_value,
                        mw->p_value < options.alpha &&
                            std::fabs(mw->cliffs_delta) >= options.min_latency_effect};
  }
  // Proportions of the requests the threshold is about.
  std::function<bool(const RequestRecord&)> bad;
  if (name == "http.success_rate" || name == "http.error_rate" || name == "http.errors")
    bad = [](const RequestRecord& r) { return !r.ok(); };
  else if (name == "http.timeouts")
    bad = [](const RequestRecord& r) { return r.error == RequestError::timeout; };
  else if (name == "http.connect_errors")
    bad = [](const RequestRecord& r) { return r.error == RequestError::connect; };
  else if (name == "http.resets")
    bad = [](const RequestRecord& r) { return r.error == RequestError::reset; };
  else if (name == "http.status_4xx")
    bad = [](const RequestRecord& r) { return r.status >= 400 && r.status < 500; };
  else if (name == "http.status_5xx")
    bad = [](const RequestRecord& r) { return r.status >= 500 && r.status < 600; };
  else
    return std::nullopt;  // http.requests, http.request_rate: the threshold alone decides
  auto count = [&](const std::vector<const RequestRecord*>& rs) {
    return static_cast<uint64_t>(std::count_if(rs.begin(), rs.end(), [&](auto* r) { return bad(*r); }));
  };
  auto t = compare_proportions(count(rec), rec.size(), count(base), base.size());
  return RecoveryTest{t->test, t->p_value,
                      t->p_value < options.alpha &&
                          std::fabs(t->difference) >= options.min_rate_difference};
}

ThresholdCheck check_threshold(const Threshold& t, const ExperimentObservations& o,
                               const Windows& w, const VerdictOptions& options,
                               std::vector<std::string>& warnings) {
  ThresholdCheck c;
  c.threshold = t;
  auto ref = parse_metric(t.metric);
  if (!ref) {
    c.holds_in_perturbation = c.holds_in_recovery = false;
    c.note = ref.error().message();
    return c;
  }
  const MetricInfo& info = *ref->info;
  const MetricUnit unit = info.unit;
  if (w.baseline) c.baseline = evaluate_metric(*ref, o, *w.baseline);
  if (w.perturbation) c.perturbation = evaluate_metric(*ref, o, *w.perturbation);
  if (w.recovery) c.recovery = evaluate_metric(*ref, o, *w.recovery);

  // The absolute bound for a window: "Nx baseline" of a count scales with the window length.
  std::string bound_problem;
  auto bound_for = [&](const TimeWindow& window) -> std::optional<double> {
    if (!t.relative_to_baseline) return t.value;
    if (!w.baseline) {
      bound_problem = "no baseline phase to compare with";
      return std::nullopt;
    }
    if (!c.baseline) {
      bound_problem = "no baseline value: " + why_no_data(*ref, o);
      return std::nullopt;
    }
    double bound = t.value * *c.baseline;
    if (info.extensive && w.baseline->length() > 0)
      bound *= window.length() / w.baseline->length();
    return bound;
  };
  auto judge_window = [&](const TimeWindow& window, std::optional<double> value,
                          std::optional<double>& bound, const char* phase) {
    bound = bound_for(window);
    if (!bound) {
      c.note += fmt::format("{}{}: cannot be evaluated ({})", c.note.empty() ? "" : "; ", phase,
                            bound_problem);
      return false;
    }
    if (!value) {
      c.note += fmt::format("{}{}: no data ({})", c.note.empty() ? "" : "; ", phase,
                            why_no_data(*ref, o));
      return false;
    }
    return compare(*value, t.comparison, *bound);
  };

  if (w.perturbation) {
    c.holds_in_perturbation = judge_window(*w.perturbation, c.perturbation, c.bound, "perturbation");
  }
  if (w.recovery) {
    // A command's outcome is one value for its whole run; when it started before the
    // recovery phase it cannot show whether the service recovered.
    if (info.whole_run && o.command && o.command->start_s < w.recovery_phase->start_s) {
      c.holds_in_recovery = true;
      c.note += fmt::format("{}recovery: not re-evaluated (one outcome for the whole run)",
                            c.note.empty() ? "" : "; ");
    } else {
      std::optional<double> recovery_bound;
      c.holds_in_recovery = judge_window(*w.recovery, c.recovery, recovery_bound, "recovery");
      if (recovery_bound && (!c.bound || std::fabs(*recovery_bound - *c.bound) > 1e-12))
        c.recovery_bound = recovery_bound;
      if (!c.holds_in_recovery && c.recovery && recovery_bound) {
        if (auto test = recovery_test(info, o, w, options)) {
          c.recovery_p_value = test->p_value;
          c.recovery_differs_from_baseline = test->differs;
          if (!test->differs)
            c.note += fmt::format(
                "{}recovery: {} is past the bound {}, but the last {:.0f} s do not differ "
                "significantly from the baseline ({}, {}): counted as recovered",
                c.note.empty() ? "" : "; ", format_metric_value(unit, *c.recovery),
                format_metric_value(unit, *recovery_bound), w.recovery->length(), test->test,
                format_p(test->p_value));
        }
      }
    }
  }
  if (w.baseline && c.baseline && !t.relative_to_baseline) {
    c.holds_in_baseline = compare(*c.baseline, t.comparison, t.value);
    if (!c.holds_in_baseline)
      warnings.push_back(fmt::format(
          "'{}' already fails in the baseline ({}): the steady state does not meet the "
          "hypothesis, so breaking it under the fault says little",
          t.text, format_metric_value(unit, *c.baseline)));
  }
  if (t.relative_to_baseline && c.bound && c.baseline)
    c.note += fmt::format("{}bound {} = {} × baseline {}{}", c.note.empty() ? "" : "; ",
                          format_metric_value(unit, *c.bound), t.value,
                          format_metric_value(unit, *c.baseline),
                          info.extensive ? " scaled to the window's length" : "");
  // A high quantile of a short phase is decided by a handful of requests: say so, since one
  // slow request of a noisy host can then break the hypothesis (seen on control runs).
  if (w.perturbation && info.source == MetricSource::http) {
    double q = info.name == "http.latency_p99" ? 0.99 : info.name == "http.latency_p90" ? 0.90 : 0;
    if (q > 0) {
      size_t n = 0;
      for (auto* r : requests_started_in(o, *w.perturbation))
        if (!r->dropped) ++n;
      // 200 × (1 − 0.99) is 2.0000000000000018 in doubles: round before taking the ceiling.
      double tail = std::ceil(static_cast<double>(n) * (1 - q) - 1e-9);
      if (n > 0 && tail < 10) {
        c.note += fmt::format("{}over {} requests this quantile rests on the {:.0f} slowest",
                              c.note.empty() ? "" : "; ", n, tail);
        if (!c.holds_in_perturbation)
          warnings.push_back(fmt::format(
              "'{}' broke on a quantile of {} requests, i.e. on its {:.0f} slowest: one slow "
              "request of a busy host is enough (a longer perturbation or a lower quantile "
              "makes the verdict sturdier)",
              t.text, n, tail));
      }
    }
  }
  return c;
}

std::string check_brief(const ThresholdCheck& c, bool recovery) {
  const MetricUnit unit = unit_of(c.threshold.metric);
  auto value = recovery ? c.recovery : c.perturbation;
  auto bound = recovery && c.recovery_bound ? c.recovery_bound : c.bound;
  if (!value || !bound) return fmt::format("'{}' (no data)", c.threshold.text);
  return fmt::format("'{}' ({} {} {} fails)", c.threshold.text, format_metric_value(unit, *value),
                     comparison_symbol(c.threshold.comparison), format_metric_value(unit, *bound));
}

std::string join(const std::vector<std::string>& parts, std::string_view sep = ", ") {
  std::string out;
  for (const auto& p : parts) {
    if (!out.empty()) out += sep;
    out += p;
  }
  return out;
}

// ---- Crashes --------------------------------------------------------------------------

std::string phase_at(const ExperimentObservations& o, double t) {
  for (const auto& p : o.phases)
    if (t >= p.start_s && t < p.end_s) return phase_name(p.phase);
  if (!o.phases.empty() && t >= o.phases.back().end_s) return "after the experiment";
  return "before the experiment";
}

std::vector<std::string> crash_reasons(const ExperimentObservations& o) {
  std::vector<std::string> reasons;
  for (const auto& c : o.crashes) {
    std::string extra;
    if (c.oom_killed) extra += ", killed by the OOM killer";
    if (c.restarted) extra += ", restarted";
    reasons.push_back(
        fmt::format("{} at t = {:.1f} s ({}{})", c.what, c.at_s, phase_at(o, c.at_s), extra));
  }
  // Samples taken after the last phase (the runner stopping things) say nothing about the
  // experiment.
  double end = 0;
  for (const auto& p : o.phases) end = std::max(end, p.end_s);
  for (const auto& s : o.monitor) {
    if (!o.phases.empty() && (s.start_s + s.end_s) / 2 >= end) continue;
    if (!s.interval.target_alive) {
      reasons.push_back(fmt::format("the target was gone at t = {:.1f} s ({})", s.end_s,
                                    phase_at(o, s.end_s - 1e-9)));
      break;  // the first time is the news
    }
  }
  if (!o.target_alive_at_end) reasons.push_back("the target was not alive at the end");
  // The command workload is the load, not the target: its death is the `command.ok` metric
  // (a hypothesis may require it), never a crash of the target.
  return reasons;
}

}  // namespace

const char* verdict_name(VerdictKind kind) {
  switch (kind) {
    case VerdictKind::ok: return "ok";
    case VerdictKind::degraded: return "degraded";
    case VerdictKind::outage: return "outage";
    case VerdictKind::crash: return "crash";
    case VerdictKind::no_recovery: return "no-recovery";
  }
  return "?";
}

Verdict judge(const Hypothesis& hypothesis, const ExperimentObservations& observations,
              const VerdictOptions& options) {
  const auto& o = observations;
  Verdict verdict;
  const Windows w = windows_of(o, options);
  if (w.recovery) verdict.recovery_window_start_s = w.recovery->start_s;

  // 1. The hypothesis, threshold by threshold.
  for (const auto& t : hypothesis.thresholds)
    verdict.checks.push_back(check_threshold(t, o, w, options, verdict.warnings));

  // 2. Evidence: each metric of the steady state compared with the baseline.
  std::vector<Item> items;
  if (w.baseline && w.perturbation) {
    if (!o.requests.empty()) {
      if (auto i = success_evidence(o, w, options)) items.push_back(std::move(*i));
      if (auto i = latency_evidence(o, w, options)) items.push_back(std::move(*i));
      items.push_back(tail_latency_description(o, w));
      auto rate = *parse_metric("http.request_rate");
      items.push_back(welch_evidence(
          o, w, "http.request_rate",
          values_only(per_second_values(rate, o, *w.baseline)),
          values_only(per_second_values(rate, o, *w.perturbation)), "seconds", options,
          [&](const WelchResult& r) {
            return r.relative_change ? std::fabs(*r.relative_change) >= options.min_relative_change
                                     : r.mean1 != r.mean2;
          }));
    }
    if (!o.monitor.empty()) {
      auto base = samples_in(o, *w.baseline), pert = samples_in(o, *w.perturbation);
      auto call_rate = [](const MonitorSample& s) -> std::optional<double> {
        double len = s.end_s - s.start_s;
        if (len <= 0) return std::nullopt;
        return static_cast<double>(s.interval.total_calls) / len;
      };
      items.push_back(welch_evidence(
          o, w, "syscall.rate", per_sample(base, call_rate), per_sample(pert, call_rate),
          "monitor samples", options, [&](const WelchResult& r) {
            return r.relative_change ? std::fabs(*r.relative_change) >= options.min_relative_change
                                     : r.mean1 != r.mean2;
          }));
      for (auto& i : syscall_error_evidence(o, w, options)) items.push_back(std::move(i));

      auto cpu = [](const MonitorSample& s) { return s.interval.resources.cpu_cores; };
      auto cpu_base = per_sample(base, cpu), cpu_pert = per_sample(pert, cpu);
      if (!cpu_base.empty() || !cpu_pert.empty())
        items.push_back(welch_evidence(
            o, w, "resource.cpu_cores", cpu_base, cpu_pert, "monitor samples", options,
            [&](const WelchResult& r) {
              return std::fabs(r.mean1 - r.mean2) >= options.min_cpu_change_cores &&
                     (!r.relative_change ||
                      std::fabs(*r.relative_change) >= options.min_resource_relative_change);
            }));
      auto memory = [](const MonitorSample& s) -> std::optional<double> {
        if (!s.interval.resources.memory_bytes) return std::nullopt;
        return static_cast<double>(*s.interval.resources.memory_bytes);
      };
      auto mem_base = per_sample(base, memory), mem_pert = per_sample(pert, memory);
      if (!mem_base.empty() || !mem_pert.empty())
        items.push_back(welch_evidence(
            o, w, "resource.memory_bytes", mem_base, mem_pert, "monitor samples", options,
            [&](const WelchResult& r) {
              return std::fabs(r.mean1 - r.mean2) >= options.min_memory_change_bytes &&
                     (!r.relative_change ||
                      std::fabs(*r.relative_change) >= options.min_resource_relative_change);
            }));
    }
  }
  if (o.command) items.push_back(command_evidence(o));
  for (const auto& i : items) {
    verdict.evidence.push_back(i.evidence);
    if (!i.warning.empty()) verdict.warnings.push_back(i.warning);
  }

  // 3. The verdict, most severe first.
  std::vector<std::string> broken_perturbation, broken_recovery, recovered_by_test;
  for (const auto& c : verdict.checks) {
    if (!c.holds_in_perturbation) broken_perturbation.push_back(check_brief(c, false));
    if (!c.holds_in_recovery) {
      if (c.recovery_differs_from_baseline)
        broken_recovery.push_back(check_brief(c, true));
      else
        recovered_by_test.push_back(fmt::format("'{}' is past its bound in {} but no longer "
                                                "differs significantly from the baseline ({})",
                                                c.threshold.text, "the recovery window",
                                                format_p(c.recovery_p_value.value_or(1))));
    }
  }
  std::vector<std::string> differences;
  for (const auto& i : items)
    if (i.evidence.significant && !i.evidence.expected)
      differences.push_back(i.brief.empty() ? change_brief(i.evidence) : i.brief);

  const auto reasons = crash_reasons(o);
  const std::string recovery_part =
      w.recovery ? fmt::format("the last {:.0f} s of the recovery phase", w.recovery->length())
                 : std::string();
  if (!reasons.empty()) {
    verdict.kind = VerdictKind::crash;
    verdict.summary = fmt::format("crash: {}", reasons.front());
    if (reasons.size() > 1)
      verdict.summary += fmt::format(" (and {} more: {})", reasons.size() - 1,
                                     join({reasons.begin() + 1, reasons.end()}, "; "));
  } else if (!w.perturbation) {
    verdict.kind = VerdictKind::ok;
    verdict.summary = "inconclusive: the experiment has no perturbation phase, so nothing was tested";
    verdict.warnings.push_back("no perturbation phase");
  } else if (!broken_perturbation.empty()) {
    if (w.recovery && !broken_recovery.empty()) {
      verdict.kind = VerdictKind::no_recovery;
      verdict.summary = fmt::format(
          "no-recovery: the hypothesis broke during the perturbation ({}) and is still broken "
          "in {} ({})",
          join(broken_perturbation), recovery_part, join(broken_recovery));
    } else {
      verdict.kind = VerdictKind::outage;
      verdict.summary = fmt::format(
          "outage: the hypothesis broke during the perturbation: {}; {}", join(broken_perturbation),
          w.recovery ? "it holds again in " + recovery_part
                     : std::string("there is no recovery phase to show whether it recovered"));
    }
  } else if (!broken_recovery.empty()) {
    // Held under the fault, broken after it: the system did not return to its steady state.
    verdict.kind = VerdictKind::no_recovery;
    verdict.summary = fmt::format(
        "no-recovery: the hypothesis held during the perturbation but breaks in {}: {}",
        recovery_part, join(broken_recovery));
  } else if (!differences.empty()) {
    verdict.kind = VerdictKind::degraded;
    verdict.summary = fmt::format(
        "degraded: the hypothesis holds, but {} differ{} significantly from the baseline: {}",
        differences.size() == 1 ? "one metric" : fmt::format("{} metrics", differences.size()),
        differences.size() == 1 ? "s" : "", join(differences, "; "));
  } else {
    size_t tested = std::count_if(verdict.evidence.begin(), verdict.evidence.end(),
                                  [](const Evidence& e) { return e.p_value.has_value(); });
    verdict.kind = VerdictKind::ok;
    verdict.summary = fmt::format(
        "ok: the hypothesis holds ({} threshold{}) and none of the {} metrics tested differs "
        "significantly from the baseline (alpha {})",
        verdict.checks.size(), verdict.checks.size() == 1 ? "" : "s", tested, options.alpha);
    if (tested == 0 && !w.baseline)
      verdict.summary += "; there is no baseline phase to compare with";
  }
  if (!recovered_by_test.empty() && verdict.kind != VerdictKind::crash &&
      verdict.kind != VerdictKind::no_recovery && w.perturbation)
    verdict.summary += " (" + join(recovered_by_test, "; ") + ")";
  if (std::any_of(verdict.checks.begin(), verdict.checks.end(),
                  [](const ThresholdCheck& c) { return !c.holds_in_baseline; }))
    verdict.summary += " (the baseline already fails part of the hypothesis)";
  return verdict;
}

std::string format_verdict(const Verdict& verdict) {
  std::string out = fmt::format("verdict: {}\n  {}\n", verdict_name(verdict.kind), verdict.summary);
  if (!verdict.checks.empty()) {
    out += "  hypothesis (baseline | perturbation | end of recovery):\n";
    for (const auto& c : verdict.checks) {
      const std::string& metric = c.threshold.metric;
      const char* state = !c.holds_in_perturbation ? "BROKEN "
                          : !c.holds_in_recovery   ? "BROKEN after"
                                                   : "holds  ";
      out += fmt::format("    {} {}: {} | {} | {}", state, c.threshold.text,
                         value_text(metric, c.baseline), value_text(metric, c.perturbation),
                         value_text(metric, c.recovery));
      if (c.bound && c.threshold.relative_to_baseline)
        out += fmt::format("  (bound {})", value_text(metric, c.bound));
      if (!c.note.empty()) out += "\n        " + c.note;
      out += '\n';
    }
  }
  if (!verdict.evidence.empty()) {
    out += "  evidence (perturbation vs baseline):\n";
    for (const auto& e : verdict.evidence) {
      const char* mark = e.significant ? (e.expected ? "~" : "*") : "-";
      std::string test = e.test.empty() ? std::string("no test") : e.test;
      if (e.p_value) test += ", " + format_p(*e.p_value);
      if (e.effect_size) {
        test += fmt::format("; {} = {:.3g}", e.effect_name, *e.effect_size);
        if (e.effect_ci_low && e.effect_ci_high)
          test += fmt::format(" [95% CI {:.3g}, {:.3g}]", *e.effect_ci_low, *e.effect_ci_high);
      }
      out += fmt::format("    {} {}: {}\n", mark, e.metric, test);
      if (!e.note.empty()) out += "        " + e.note + "\n";
    }
  }
  for (const auto& w : verdict.warnings) out += "  warning: " + w + "\n";
  return out;
}

}  // namespace syschaos::experiment
