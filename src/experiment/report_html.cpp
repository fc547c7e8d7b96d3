#include "experiment/report_html.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <fmt/format.h>
#include <map>

#include "experiment/html_escape.hpp"
#include "experiment/metric_catalog.hpp"
#include "experiment/svg_chart.hpp"
#include "experiment/verdict.hpp"

namespace syschaos::experiment {

namespace {

// --- verdicts --------------------------------------------------------------------------

constexpr std::array<VerdictKind, 5> kVerdictOrder = {VerdictKind::ok, VerdictKind::degraded,
                                                      VerdictKind::outage, VerdictKind::no_recovery,
                                                      VerdictKind::crash};

// CSS class of a verdict; the colours are in kStyle (ok green, degraded amber, outage red,
// crash near-black red, no-recovery purple). The verdict is always written out as text too,
// so colour is never the only signal.
const char* verdict_class(VerdictKind kind) {
  switch (kind) {
    case VerdictKind::ok: return "v-ok";
    case VerdictKind::degraded: return "v-degraded";
    case VerdictKind::outage: return "v-outage";
    case VerdictKind::crash: return "v-crash";
    case VerdictKind::no_recovery: return "v-norecovery";
  }
  return "v-missing";
}

const char* verdict_meaning(VerdictKind kind) {
  switch (kind) {
    case VerdictKind::ok: return "hypothesis holds, nothing differs significantly from the baseline";
    case VerdictKind::degraded: return "hypothesis holds, but some metric differs significantly";
    case VerdictKind::outage: return "a threshold of the hypothesis is broken during the perturbation";
    case VerdictKind::crash: return "a target process or the container died or restarted";
    case VerdictKind::no_recovery: return "broken during the perturbation and still broken in recovery";
  }
  return "";
}

const char* phase_text(Phase phase) {
  switch (phase) {
    case Phase::baseline: return "baseline";
    case Phase::perturbation: return "perturbation";
    case Phase::recovery: return "recovery";
  }
  return "phase";
}

// --- formatting --------------------------------------------------------------------------

std::string esc(std::string_view text) { return escape_html(text); }

std::string number(std::optional<double> v) {
  if (!v || std::isnan(*v)) return "–";
  if (std::isinf(*v)) return *v > 0 ? "∞" : "-∞";
  double a = std::fabs(*v);
  if (a != 0 && (a < 1e-3 || a >= 1e6)) return fmt::format("{:.3g}", *v);
  return fmt::format("{:.4g}", *v);
}

std::string p_value_text(std::optional<double> p) {
  if (!p || !std::isfinite(*p)) return "–";
  if (*p < 1e-4) return fmt::format("{:.1e}", *p);
  return fmt::format("{:.3g}", *p);
}

std::string seconds_text(double s) {
  if (!std::isfinite(s)) return "–";
  if (s < 120) return fmt::format("{:.3g} s", s);
  long total = std::lround(s);
  return fmt::format("{}m{:02d}s", total / 60, static_cast<int>(total % 60));
}

std::string count_text(uint64_t n) {
  // 1234567 -> "1,234,567": counts are read, not estimated.
  std::string digits = std::to_string(n), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

std::string badge(VerdictKind kind) {
  return fmt::format("<span class=\"badge {}\">{}</span>", verdict_class(kind), verdict_name(kind));
}

std::string anchor(const ExperimentResult& e) { return html_id("exp-", e.id); }

// --- style -------------------------------------------------------------------------------

constexpr const char* kStyle = R"css(
:root{--ok:#1a7f37;--degraded:#e3a008;--outage:#d1242f;--crash:#3d0a0a;--norecovery:#6f42c1;
--ink:#1f2328;--muted:#59636e;--line:#d1d9e0;--bg:#f6f8fa}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;color:var(--ink);background:#fff}
main{max-width:1120px;margin:0 auto;padding:0 20px 40px}
header.top{background:#24292f;color:#fff;padding:18px 0 14px;margin-bottom:18px}
header.top .inner{max-width:1120px;margin:0 auto;padding:0 20px}
header.top h1{margin:0 0 4px;font-size:22px;font-weight:600}
header.top .meta{color:#d0d7de;font-size:13px}
header.top .counts{margin-top:10px;display:flex;flex-wrap:wrap;gap:6px}
h2{font-size:18px;margin:28px 0 10px;padding-bottom:4px;border-bottom:1px solid var(--line)}
h3{font-size:15px;margin:18px 0 6px}
code,pre{font:12px/1.4 ui-monospace,"DejaVu Sans Mono",monospace}
code{background:var(--bg);padding:1px 4px;border-radius:4px;overflow-wrap:break-word}
pre{background:var(--bg);padding:8px 10px;border-radius:6px;overflow:auto;max-height:240px;white-space:pre-wrap}
a{color:#0969da}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;font-weight:600;color:#fff;white-space:nowrap}
.v-ok{background:var(--ok);color:#fff}.v-degraded{background:var(--degraded);color:#2b1d00}
.v-outage{background:var(--outage);color:#fff}.v-crash{background:var(--crash);color:#fff}
.v-norecovery{background:var(--norecovery);color:#fff}.v-missing{background:#eaeef2;color:var(--muted)}
.count{display:inline-flex;align-items:center;gap:6px;background:#32383f;border-radius:12px;padding:2px 10px 2px 3px;font-size:13px}
.count b{font-size:14px}
.warn{background:#fff8c5;border:1px solid #d4a72c;border-radius:6px;padding:6px 10px;margin:10px 0}
table{border-collapse:collapse;width:100%;margin:6px 0 12px;font-size:13px}
th,td{border-bottom:1px solid var(--line);padding:5px 8px;text-align:left;vertical-align:top}
th{background:var(--bg);font-weight:600}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
tr.sig td{font-weight:600}
table.checks td:last-child{min-width:140px}
td.eff{text-align:right;font-variant-numeric:tabular-nums;max-width:230px}
td.test{max-width:170px}
tr.has-note td{border-bottom:none}
tr.noterow td{padding-top:0;color:var(--muted);font-size:12px;font-weight:normal;font-style:normal}
table.grid{width:auto;border-collapse:separate;border-spacing:3px}
table.grid th{background:none;border:none;font-size:12px;text-align:center;padding:2px 4px}
table.grid th.row{text-align:right;vertical-align:middle;font-family:ui-monospace,"DejaVu Sans Mono",monospace}
table.grid td{border:none;padding:0;text-align:center;min-width:86px}
table.grid td a,table.grid td span{display:block;padding:7px 6px;border-radius:4px;text-decoration:none;font-size:12px;font-weight:600}
table.grid td a:hover,table.grid td a:focus{outline:2px solid #0969da;outline-offset:1px}
.tiles{display:flex;flex-wrap:wrap;gap:6px;margin-bottom:14px}
.tiles a.tile{display:flex;flex-direction:column;gap:2px;width:200px;padding:8px 10px;border-radius:6px;text-decoration:none;font-size:12px}
.tiles a.tile b{font-size:13px}
.tiles a.tile:hover,.tiles a.tile:focus{outline:2px solid #0969da;outline-offset:1px}
.legend{display:flex;flex-wrap:wrap;gap:10px;font-size:12px;color:var(--muted);margin:4px 0 10px}
.legend .sw{display:inline-block;width:14px;height:10px;border-radius:2px;vertical-align:-1px;margin-right:4px}
.sw.pert{background:rgba(244,162,97,.45)}.sw.rec{background:rgba(144,190,109,.35)}.sw.down{background:rgba(85,85,85,.3)}
section.exp{border:1px solid var(--line);border-radius:8px;padding:4px 18px 12px;margin:22px 0;break-inside:avoid}
section.exp h2{border:none;margin-top:14px;display:flex;align-items:center;gap:10px;flex-wrap:wrap}
section.exp h2 .id{font:12px ui-monospace,monospace;color:var(--muted);font-weight:normal}
.summary{font-size:15px;margin:4px 0 10px}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:2px 14px;margin:8px 0;font-size:13px}
dl.facts dt{color:var(--muted)}dl.facts dd{margin:0}
figure{margin:10px 0 4px}
figcaption{font-size:13px;font-weight:600;display:flex;flex-wrap:wrap;gap:4px 12px;align-items:center}
figcaption .key{font-weight:normal;color:var(--muted);font-size:12px}
figcaption .key i{display:inline-block;width:16px;height:3px;vertical-align:middle;margin-right:4px;border-radius:1px}
figcaption .key i.a{height:9px;opacity:.55}
svg.chart{display:block;width:100%;height:auto;font-family:system-ui,"DejaVu Sans",sans-serif}
.strips svg.chart{margin-top:-1px}
.grid{stroke:#eaeef2;stroke-width:1}
.frame{fill:none;stroke:#c9d1d9}
.tick,.unit{font-size:10px;fill:#59636e}
.band-perturbation{fill:#f4a261;fill-opacity:.28}
.band-recovery{fill:#90be6d;fill-opacity:.14}
.band-judged{fill:#90be6d;fill-opacity:.14}
tr.expected td{font-style:italic}
.band-down{fill:#6e7781;fill-opacity:.22}
.band-baseline{fill:none}
.band-label{font-size:10px;fill:#8a4b0f;font-weight:600}
.marker line{stroke:#7f1d1d;stroke-width:1.6;stroke-dasharray:4 2}
.marker text{font-size:10px;font-weight:700;fill:#7f1d1d}
.area{fill-opacity:.3}
.corner{font-size:11px;font-weight:700;fill:#1f2328;paint-order:stroke;stroke:#fff;stroke-width:3px;font-family:ui-monospace,"DejaVu Sans Mono",monospace}
.nodata{font-size:12px;fill:#8c959f}
.holds{color:var(--ok);font-weight:600}.broken{color:var(--outage);font-weight:600}
.note{color:var(--muted);font-size:12px;margin:2px 0 8px}
footer{color:var(--muted);font-size:12px;border-top:1px solid var(--line);margin-top:30px;padding-top:10px}
@media print{header.top{background:none;color:#000}section.exp{break-inside:auto}}
)css";

// --- charts ------------------------------------------------------------------------------

// Colours: a categorical palette readable on white and by most colour-blind readers
// (Tableau 10), plus fixed meanings: red for errors and failures.
constexpr const char* kRequestColor = "#4e79a7";
constexpr const char* kFailColor = "#e15759";
constexpr const char* kSuccessColor = "#59a14f";
constexpr const char* kP50Color = "#76b7b2";
constexpr const char* kP90Color = "#f28e2b";
constexpr const char* kP99Color = "#b07aa1";
constexpr const char* kCallsColor = "#4e79a7";
constexpr const char* kCpuColor = "#9c755f";
constexpr const char* kMemoryColor = "#4e79a7";

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

template <typename T>
double value_or_nan(const std::optional<T>& v) {
  return v ? static_cast<double>(*v) : kNaN;
}

std::string key(const char* color, std::string_view label, bool area = false) {
  return fmt::format("<span class=\"key\"><i class=\"{}\" style=\"background:{}\"></i>{}</span>",
                     area ? "a" : "", color, esc(label));
}

// What every chart of one experiment shares: the time axis, the windows and the markers.
struct ChartFrame {
  double x_min = 0, x_max = 1;
  std::vector<double> times;
  std::vector<ChartBand> bands;
  std::vector<ChartMarker> markers;

  ChartSpec spec(std::string title, double height) const {
    ChartSpec s;
    s.title = std::move(title);
    s.height = height;
    s.x_min = x_min;
    s.x_max = x_max;
    s.times = times;
    s.bands = bands;
    s.markers = markers;
    return s;
  }
};

ChartFrame make_frame(const ExperimentResult& e) {
  ChartFrame f;
  double lo = INFINITY, hi = -INFINITY;
  for (const auto& w : e.phases) {
    if (std::isfinite(w.start_s)) lo = std::min(lo, w.start_s);
    if (std::isfinite(w.end_s)) hi = std::max(hi, w.end_s);
  }
  for (const auto& p : e.series.points) {
    // A point stands for the second that starts at t_s; draw it in the middle of it.
    f.times.push_back(p.t_s + 0.5);
    if (std::isfinite(p.t_s)) lo = std::min(lo, p.t_s), hi = std::max(hi, p.t_s + 1);
  }
  if (!std::isfinite(lo)) lo = 0, hi = 1;
  if (!(hi > lo)) hi = lo + 1;
  f.x_min = lo;
  f.x_max = hi;
  for (const auto& w : e.phases) {
    if (w.phase == Phase::perturbation) f.bands.push_back({w.start_s, w.end_s, "band-perturbation", "perturbation"});
    if (w.phase == Phase::recovery) {
      f.bands.push_back({w.start_s, w.end_s, "band-recovery", "recovery"});
      // The part of the recovery that decides "no-recovery" (the verdict skips the first
      // seconds after the fault is lifted) is marked a little stronger.
      const auto& judged = e.verdict.recovery_window_start_s;
      if (judged && *judged > w.start_s && *judged < w.end_s)
        f.bands.push_back({*judged, w.end_s, "band-judged", "recovery window the verdict judges", false});
    }
    if (w.phase == Phase::baseline) f.bands.push_back({w.start_s, w.end_s, "band-baseline", "baseline"});
  }
  // Seconds in which the target was not alive, as one window per run.
  const auto& pts = e.series.points;
  for (size_t i = 0; i < pts.size();) {
    if (pts[i].target_alive) { ++i; continue; }
    size_t j = i;
    while (j < pts.size() && !pts[j].target_alive) ++j;
    f.bands.push_back({pts[i].t_s, pts[j - 1].t_s + 1, "band-down", "target down", false});
    i = j;
  }
  for (const auto& c : e.crashes) {
    std::string label = c.oom_killed ? "✖ OOM" : c.restarted ? "↻ restart" : "✖ crash";
    f.markers.push_back({c.at_s, label, fmt::format("{} at {:.1f} s", c.what, c.at_s)});
  }
  return f;
}

bool any_value(const std::vector<double>& v) {
  return std::any_of(v.begin(), v.end(), [](double x) { return std::isfinite(x); });
}

std::string figure(const std::string& caption, const std::string& svg) {
  return "<figure><figcaption>" + caption + "</figcaption>" + svg + "</figure>";
}

std::string render_charts(const ExperimentResult& e) {
  const auto& pts = e.series.points;
  if (pts.empty()) return "<p class=\"note\">No time series was recorded for this experiment.</p>";
  ChartFrame frame = make_frame(e);
  std::string out;
  bool first = true;  // the first chart names the windows
  auto take_first = [&](ChartSpec& s) {
    s.show_band_labels = first;
    first = false;
  };

  // (a) requests: rate and failures on the left, success rate (%) on the right.
  std::vector<double> rate, failed, success;
  for (const auto& p : pts) {
    rate.push_back(value_or_nan(p.request_rate));
    failed.push_back(p.request_rate ? static_cast<double>(p.request_errors) : kNaN);
    success.push_back(value_or_nan(p.success_rate));
  }
  if (any_value(rate) || any_value(success)) {
    ChartSpec s = frame.spec(e.name + ": request rate and success rate", 190);
    s.description = "Requests completed per second, failed requests per second (left axis) and the "
                    "share of successful requests in percent (right axis) over time.";
    s.lines.push_back({"requests/s", kRequestColor, rate});
    s.lines.push_back({"failed/s", kFailColor, failed, ChartAxis::left, false, false, 1.3});
    s.lines.push_back({"success %", kSuccessColor, success, ChartAxis::right, false, false, 1.8});
    s.left.unit = "req/s";
    s.right.unit = "success %";
    s.right.min = 0;
    s.right.max = 1;
    s.right.scale = 100;
    take_first(s);
    out += figure("Requests " + key(kRequestColor, "requests/s") + key(kFailColor, "failed/s") +
                      key(kSuccessColor, "success % (right axis)"),
                  render_chart_svg(s));

    std::vector<double> p50, p90, p99;
    for (const auto& p : pts) {
      p50.push_back(value_or_nan(p.latency_p50_ms));
      p90.push_back(value_or_nan(p.latency_p90_ms));
      p99.push_back(value_or_nan(p.latency_p99_ms));
    }
    ChartSpec l = frame.spec(e.name + ": latency percentiles", 190);
    l.description = "Request latency p50, p90 and p99 in milliseconds over time; the axis is "
                    "logarithmic when the values span more than a factor of 50.";
    l.lines.push_back({"p50", kP50Color, p50});
    l.lines.push_back({"p90", kP90Color, p90});
    l.lines.push_back({"p99", kP99Color, p99, ChartAxis::left, false, false, 1.8});
    l.left.unit = "ms";
    l.left.allow_log = true;
    take_first(l);
    out += figure("Latency " + key(kP50Color, "p50") + key(kP90Color, "p90") + key(kP99Color, "p99"),
                  render_chart_svg(l));
  } else {
    out += "<p class=\"note\">No HTTP workload in this experiment: no request charts.</p>";
  }

  // (c) syscalls: one strip per syscall (small multiples on the same time axis), calls/s as
  // an area on the left scale, errors/s as a red line on the right scale (errors are often a
  // thousand times fewer than calls and would vanish on a shared scale).
  std::vector<double> total_calls, total_errors;
  for (const auto& p : pts) {
    total_calls.push_back(value_or_nan(p.syscalls_total));
    total_errors.push_back(value_or_nan(p.syscall_errors_total));
  }
  std::vector<std::pair<std::string, std::pair<std::vector<double>, std::vector<double>>>> strips;
  if (any_value(total_calls)) strips.push_back({"all syscalls", {total_calls, total_errors}});
  for (const auto& name : e.series.top_syscall_names) {
    std::vector<double> calls, errors;
    bool seen = false;
    for (const auto& p : pts) {
      auto it = std::find_if(p.top_syscalls.begin(), p.top_syscalls.end(),
                             [&](const SyscallPoint& sp) { return sp.name == name; });
      if (it == p.top_syscalls.end()) {
        calls.push_back(p.syscalls_total ? 0.0 : kNaN);
        errors.push_back(p.syscalls_total ? 0.0 : kNaN);
      } else {
        seen = true;
        calls.push_back(static_cast<double>(it->calls));
        errors.push_back(static_cast<double>(it->errors));
      }
    }
    if (seen) strips.push_back({name, {calls, errors}});
  }
  if (!strips.empty()) {
    out += "<figure><figcaption>Syscalls per second " + key(kCallsColor, "calls/s (left)", true) +
           key(kFailColor, "errors/s (right, red)") + "</figcaption><div class=\"strips\">";
    for (size_t i = 0; i < strips.size(); ++i) {
      const bool last = i + 1 == strips.size();
      ChartSpec s = frame.spec(e.name + ": " + strips[i].first + " calls and errors per second",
                               last ? 78 : 58);
      s.description = "Calls per second (filled, left axis) and failed calls per second (red line, "
                      "right axis) of " + strips[i].first + ".";
      s.lines.push_back({"calls/s", kCallsColor, strips[i].second.first, ChartAxis::left, true});
      s.lines.push_back({"errors/s", kFailColor, strips[i].second.second, ChartAxis::right, false, false, 1.4});
      s.left.two_ticks = true;
      s.right.two_ticks = true;
      s.show_time_labels = last;
      s.show_marker_labels = i == 0;
      s.corner_label = strips[i].first;
      s.max_points = 150;
      out += render_chart_svg(s);
    }
    out += "</div></figure>";
  } else {
    out += "<p class=\"note\">No syscall monitor data in this experiment.</p>";
  }

  // (d) resources.
  std::vector<double> cpu, memory;
  for (const auto& p : pts) {
    cpu.push_back(value_or_nan(p.cpu_cores));
    memory.push_back(value_or_nan(p.memory_bytes));
  }
  if (any_value(cpu) || any_value(memory)) {
    ChartSpec s = frame.spec(e.name + ": CPU and memory", 150);
    s.description = "CPU use in cores (left axis) and memory in bytes (right axis) of the target.";
    s.lines.push_back({"CPU cores", kCpuColor, cpu});
    s.lines.push_back({"memory", kMemoryColor, memory, ChartAxis::right, false, true});
    s.left.unit = "CPU cores";
    s.right.unit = "memory bytes";
    take_first(s);
    out += figure("Resources " + key(kCpuColor, "CPU cores (left)") + key(kMemoryColor, "memory bytes (right, dashed)"),
                  render_chart_svg(s));
  } else {
    out += "<p class=\"note\">No resource samples in this experiment.</p>";
  }
  return out;
}

// --- sections ------------------------------------------------------------------------------

// A metric's value with its unit from the catalog ("99.2%", "12.3 ms"); "–" without one.
std::string metric_value(const std::string& metric, std::optional<double> v) {
  if (!v || !std::isfinite(*v)) return number(v);
  return esc(format_metric(metric, v));
}

// A metric name that may wrap at its dots, underscores and braces (and nowhere else), so a
// long syscall metric does not widen the table.
std::string metric_name_html(std::string_view metric) {
  std::string out;
  size_t start = 0;
  for (size_t i = 0; i < metric.size(); ++i) {
    char c = metric[i];
    if (c == '{' && i > start) {
      out += esc(metric.substr(start, i - start)) + "<wbr>";
      start = i;
    } else if (c == '.' || c == '_' || c == ',') {
      out += esc(metric.substr(start, i + 1 - start)) + "<wbr>";
      start = i + 1;
    }
  }
  out += esc(metric.substr(start));
  return out;
}

std::string render_evidence(const Verdict& v) {
  std::string out;
  if (!v.evidence.empty()) {
    out += "<h3>Evidence</h3><table class=\"evidence\"><thead><tr><th scope=\"col\">metric</th>"
           "<th class=\"num\" scope=\"col\">baseline</th><th class=\"num\" scope=\"col\">perturbation</th>"
           "<th class=\"num\" scope=\"col\">recovery</th><th scope=\"col\">test</th>"
           "<th class=\"num\" scope=\"col\">p-value</th><th class=\"num\" scope=\"col\">effect</th>"
           "<th scope=\"col\">significant</th></tr></thead><tbody>";
    for (const auto& ev : v.evidence) {
      std::string effect = "–";
      if (ev.effect_size && std::isfinite(*ev.effect_size)) {
        effect = fmt::format("{:+.3g}", *ev.effect_size);
        if (ev.effect_ci_low && ev.effect_ci_high && std::isfinite(*ev.effect_ci_low) &&
            std::isfinite(*ev.effect_ci_high))
          effect += fmt::format(" <span class=\"note\" title=\"95% confidence interval\">[{:.3g}, {:.3g}]</span>",
                                *ev.effect_ci_low, *ev.effect_ci_high);
        if (!ev.effect_name.empty()) effect += "<br><span class=\"note\">" + esc(ev.effect_name) + "</span>";
      }
      // An expected difference is the fault itself (errors of the syscall being injected
      // into): shown, but it did not make the experiment degraded.
      std::string row_class = ev.significant ? (ev.expected ? "expected" : "sig") : "";
      if (!ev.note.empty()) row_class += " has-note";
      std::string row = row_class.empty() ? "" : " class=\"" + row_class + "\"";
      const char* significant = ev.significant ? (ev.expected ? "yes, expected (the fault itself)" : "yes") : "no";
      out += fmt::format(
          "<tr{}><td><code>{}</code></td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>"
          "<td class=\"test\">{}</td><td class=\"num\">{}</td><td class=\"eff\">{}</td><td>{}</td></tr>",
          row, metric_name_html(ev.metric), metric_value(ev.metric, ev.baseline), metric_value(ev.metric, ev.perturbation),
          metric_value(ev.metric, ev.recovery), ev.test.empty() ? "–" : esc(ev.test), p_value_text(ev.p_value),
          effect, significant);
      // The verdict's notes are full sentences: a row of their own under the numbers.
      if (!ev.note.empty()) out += "<tr class=\"noterow\"><td></td><td colspan=\"7\">" + esc(ev.note) + "</td></tr>";
    }
    out += "</tbody></table>";
  }
  if (!v.checks.empty()) {
    out += "<h3>Hypothesis</h3><table class=\"checks\"><thead><tr><th scope=\"col\">threshold</th>"
           "<th class=\"num\" scope=\"col\">bound</th><th class=\"num\" scope=\"col\">baseline</th>"
           "<th class=\"num\" scope=\"col\">perturbation</th><th scope=\"col\">during perturbation</th>"
           "<th class=\"num\" scope=\"col\">recovery</th><th scope=\"col\">during recovery</th>"
           "<th scope=\"col\">note</th></tr></thead><tbody>";
    auto holds = [](bool h) {
      return h ? std::string("<span class=\"holds\">✓ holds</span>") : std::string("<span class=\"broken\">✗ broken</span>");
    };
    for (const auto& c : v.checks) {
      const std::string& m = c.threshold.metric;
      std::string baseline = metric_value(m, c.baseline);
      if (!c.holds_in_baseline) baseline += " <span class=\"broken\">✗ already broken</span>";
      std::string recovery = metric_value(m, c.recovery);
      if (c.recovery_bound && (!c.bound || *c.recovery_bound != *c.bound))
        recovery += "<br><span class=\"note\">bound " + metric_value(m, c.recovery_bound) + "</span>";
      std::string recovered = holds(c.holds_in_recovery);
      if (!c.holds_in_recovery && !c.recovery_differs_from_baseline)
        recovered = "<span class=\"holds\">✓ recovered</span> <span class=\"note\">(over the bound, but not "
                    "significantly different from the baseline" +
                    (c.recovery_p_value ? ", p = " + p_value_text(c.recovery_p_value) : std::string()) + ")</span>";
      out += fmt::format(
          "<tr><td><code>{}</code></td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>"
          "<td>{}</td><td class=\"num\">{}</td><td>{}</td><td>{}</td></tr>",
          esc(c.threshold.text.empty() ? m : c.threshold.text), metric_value(m, c.bound), baseline,
          metric_value(m, c.perturbation), holds(c.holds_in_perturbation), recovery, recovered, esc(c.note));
    }
    out += "</tbody></table>";
  }
  return out;
}

std::string render_experiment(const ExperimentResult& e, size_t index) {
  std::string out = fmt::format("<section class=\"exp\" id=\"{}\" aria-labelledby=\"{}-h\">", anchor(e), anchor(e));
  out += fmt::format("<h2 id=\"{}-h\"><span>{}. {}</span>{}<span class=\"id\">{}</span></h2>", anchor(e),
                     index + 1, esc(e.name.empty() ? e.id : e.name), badge(e.verdict.kind), esc(e.id));
  if (e.interrupted)
    out += "<p class=\"warn\">Interrupted: this experiment was stopped before its end; the data is partial.</p>";
  out += "<p class=\"summary\">" + esc(e.verdict.summary) + "</p>";
  for (const auto& warning : e.verdict.warnings) out += "<p class=\"warn\">⚠ " + esc(warning) + "</p>";

  out += "<dl class=\"facts\"><dt>faults</dt><dd>";
  if (e.faults.empty()) out += "–";
  for (size_t i = 0; i < e.faults.size(); ++i) out += (i ? "<br>" : "") + std::string("<code>") + esc(e.faults[i]) + "</code>";
  out += "</dd>";
  out += "<dt>target</dt><dd>" + esc(e.target) + "</dd>";
  std::string phases;
  for (const auto& w : e.phases)
    phases += fmt::format("{}{} {:.0f}–{:.0f} s", phases.empty() ? "" : " · ", phase_text(w.phase), w.start_s, w.end_s);
  out += "<dt>phases</dt><dd>" + (phases.empty() ? "–" : phases) + "</dd>";
  out += fmt::format("<dt>started</dt><dd>{} · {}</dd>", esc(e.started_at), seconds_text(e.duration_s));
  out += fmt::format("<dt>injected</dt><dd>{} faulty calls</dd>", count_text(e.faults_injected));
  if (e.requests) out += fmt::format("<dt>requests</dt><dd>{}</dd>", count_text(e.requests));
  out += "<dt>HTTP effect</dt><dd>" + (e.effects.http.empty() ? "–" : esc(e.effects.http)) + "</dd>";
  out += "<dt>syscall effect</dt><dd>" + (e.effects.syscall.empty() ? "–" : esc(e.effects.syscall)) + "</dd>";
  if (!e.series_file.empty())
    out += "<dt>series</dt><dd><a href=\"" + esc(e.series_file) + "\">" + esc(e.series_file) + "</a></dd>";
  out += "</dl>";

  out += render_evidence(e.verdict);
  out += "<h3>Timeline</h3>" + render_charts(e);

  if (!e.crashes.empty()) {
    out += "<h3>Crashes</h3><ul class=\"crashes\">";
    for (const auto& c : e.crashes) {
      std::string detail;
      if (c.exit_code) detail += fmt::format(", exit code {}", *c.exit_code);
      if (c.signal) detail += fmt::format(", signal {}", *c.signal);
      if (c.oom_killed) detail += ", OOM-killed";
      if (c.restarted) detail += ", restarted by its restart policy";
      out += fmt::format("<li>at {:.1f} s: {}{}</li>", c.at_s, esc(c.what), detail);
    }
    out += "</ul>";
  }
  if (e.command) {
    const auto& c = *e.command;
    std::string status = c.signal ? fmt::format("killed by signal {}", c.signal)
                                   : fmt::format("exit code {}", c.exit_code);
    out += fmt::format("<h3>Command workload</h3><p><code>{}</code> — <span class=\"{}\">{} {}</span>, "
                       "{:.1f}–{:.1f} s</p>",
                       esc(c.command), c.ok() ? "holds" : "broken", c.ok() ? "✓" : "✗", status, c.start_s, c.end_s);
    if (!c.output_tail.empty()) {
      // The tail is meant to be short; a runaway one must not bloat the page.
      std::string_view tail = c.output_tail;
      if (tail.size() > 4000) tail = tail.substr(tail.size() - 4000);
      out += "<pre>" + esc(tail) + "</pre>";
    }
  }
  out += "<p class=\"note\"><a href=\"#summary\">↑ summary</a></p></section>";
  return out;
}

std::string render_grid(const CampaignResult& c, const std::map<std::string, const ExperimentResult*>& by_id) {
  const auto& g = c.grid;
  if (g.syscalls.empty() || g.columns.empty()) {
    // No matrix (a list of experiments): one tile per experiment, in run order.
    if (c.experiments.empty()) return "";
    std::string out = "<h2 id=\"overview\">Overview</h2><div class=\"tiles\" role=\"list\" aria-label=\"verdict per experiment\">";
    for (const auto& e : c.experiments)
      out += fmt::format("<a role=\"listitem\" class=\"tile {}\" href=\"#{}\" title=\"{}\"><span>{}</span><b>{}</b></a>",
                         verdict_class(e.verdict.kind), anchor(e), esc(e.verdict.summary),
                         esc(e.name.empty() ? e.id : e.name), verdict_name(e.verdict.kind));
    return out + "</div>";
  }
  std::string out = "<h2 id=\"overview\">Overview</h2><table class=\"grid\" aria-label=\"verdict per syscall and "
                    "perturbation\"><thead><tr><th scope=\"col\">syscall</th>";
  for (const auto& col : g.columns) out += "<th scope=\"col\">" + esc(col) + "</th>";
  out += "</tr></thead><tbody>";
  for (size_t r = 0; r < g.syscalls.size(); ++r) {
    out += "<tr><th class=\"row\" scope=\"row\">" + esc(g.syscalls[r]) + "</th>";
    for (size_t k = 0; k < g.columns.size(); ++k) {
      std::string id = r < g.cells.size() && k < g.cells[r].size() ? g.cells[r][k] : "";
      auto it = id.empty() ? by_id.end() : by_id.find(id);
      if (it == by_id.end()) {
        out += fmt::format("<td><span class=\"v-missing\" title=\"{}\">{}</span></td>",
                           id.empty() ? "not part of the campaign" : "did not run: " + esc(id),
                           id.empty() ? "—" : "not run");
        continue;
      }
      const ExperimentResult& e = *it->second;
      out += fmt::format("<td><a class=\"{}\" href=\"#{}\" title=\"{} × {}: {}\">{}</a></td>",
                         verdict_class(e.verdict.kind), anchor(e), esc(g.syscalls[r]), esc(g.columns[k]),
                         esc(e.verdict.summary), verdict_name(e.verdict.kind));
    }
    out += "</tr>";
  }
  out += "</tbody></table>";
  return out;
}

std::string render_summary_table(const CampaignResult& c) {
  std::string out = "<h2 id=\"summary\">Summary</h2><table class=\"summary-table\"><thead><tr>"
                    "<th scope=\"col\">perturbation</th><th scope=\"col\">HTTP effect</th>"
                    "<th scope=\"col\">syscall effect</th><th scope=\"col\">verdict</th></tr></thead><tbody>";
  for (const auto& e : c.experiments) {
    std::string faults;
    for (const auto& f : e.faults) faults += (faults.empty() ? "" : "<br>") + std::string("<code>") + esc(f) + "</code>";
    if (faults.empty()) faults = esc(e.name);
    out += fmt::format("<tr><td><a href=\"#{}\">{}</a></td><td>{}</td><td>{}</td><td>{}{}</td></tr>", anchor(e),
                       faults, e.effects.http.empty() ? "–" : esc(e.effects.http),
                       e.effects.syscall.empty() ? "–" : esc(e.effects.syscall), badge(e.verdict.kind),
                       e.interrupted ? " <span class=\"note\">(partial)</span>" : "");
  }
  out += "</tbody></table>";
  return out;
}

}  // namespace

std::string render_report_html(const CampaignResult& campaign) {
  std::map<std::string, const ExperimentResult*> by_id;
  std::map<VerdictKind, size_t> counts;
  for (const auto& e : campaign.experiments) {
    by_id.emplace(e.id, &e);
    ++counts[e.verdict.kind];
  }
  const std::string name = campaign.name.empty() ? std::string("syschaos experiments") : campaign.name;

  std::string out;
  out.reserve(64 * 1024 + campaign.experiments.size() * 48 * 1024);
  out += "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
         // Nothing may be loaded: no script, font, image or style from anywhere, not even
         // from the file's own folder. Inline CSS and data: images only.
         "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
         "style-src 'unsafe-inline'; img-src data:\">"
         "<meta name=\"referrer\" content=\"no-referrer\">"
         "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
         "<meta name=\"generator\" content=\"syschaos " + esc(campaign.syschaos_version) + "\">";
  out += "<title>" + esc(name) + " — syschaos report</title><style>" + kStyle + "</style></head><body>";

  out += "<header class=\"top\"><div class=\"inner\"><h1>" + esc(name) + "</h1><div class=\"meta\">";
  out += fmt::format("started {} · syschaos {} · {} experiment{}", esc(campaign.started_at.empty() ? "–" : campaign.started_at),
                     esc(campaign.syschaos_version.empty() ? "–" : campaign.syschaos_version),
                     campaign.experiments.size(), campaign.experiments.size() == 1 ? "" : "s");
  out += "</div><div class=\"counts\" aria-label=\"verdict counts\">";
  for (VerdictKind kind : kVerdictOrder)
    out += fmt::format("<span class=\"count\">{}<b>{}</b></span>", badge(kind), counts[kind]);
  out += "</div></div></header><main>";

  if (!campaign.complete)
    out += "<p class=\"warn\">Incomplete campaign: not every planned experiment ran (interrupted or failed to "
           "start). The report shows what did run.</p>";
  if (campaign.experiments.empty()) out += "<p class=\"warn\">No experiment in this campaign.</p>";

  out += render_grid(campaign, by_id);
  out += "<div class=\"legend\" aria-label=\"legend\">";
  for (VerdictKind kind : kVerdictOrder)
    out += fmt::format("<span>{} {}</span>", badge(kind), verdict_meaning(kind));
  out += "</div><div class=\"legend\"><span><i class=\"sw pert\"></i>perturbation window</span>"
         "<span><i class=\"sw rec\"></i>recovery phase (darker: the part the verdict judges)</span><span><i class=\"sw down\"></i>target down</span>"
         "<span>✖ crash / ↻ restart marker</span></div>";
  out += render_summary_table(campaign);
  for (size_t i = 0; i < campaign.experiments.size(); ++i) out += render_experiment(campaign.experiments[i], i);
  out += "<footer>Generated by syschaos " + esc(campaign.syschaos_version) +
         " from results.json (schema version " + std::to_string(kResultsSchemaVersion) +
         "). Self-contained: this page loads nothing. Phases are on the experiment clock (seconds since the "
         "workload started); each point is one second.</footer></main></body></html>\n";
  return out;
}

}  // namespace syschaos::experiment
