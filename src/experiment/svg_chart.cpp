#include "experiment/svg_chart.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <fmt/format.h>

#include "experiment/html_escape.hpp"

namespace syschaos::experiment {

namespace {

// Plot margins, the same for every chart so that charts stacked on the page share their
// time axis pixel for pixel.
constexpr double kMarginLeft = 58, kMarginRight = 58, kMarginTop = 8;
constexpr double kMarginBottomLabels = 20, kMarginBottomBare = 6;

struct Domain {
  double lo = 0, hi = 1;
  bool log = false;
  std::vector<double> ticks;
  bool used = false;
};

// 1, 2 or 5 times a power of ten, at least `raw`.
double nice_step(double raw) {
  if (!(raw > 0) || !std::isfinite(raw)) return 1;
  double power = std::pow(10.0, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (m * power >= raw * (1 - 1e-9)) return m * power;
  return 10 * power;
}

Domain make_domain(const AxisSpec& axis, const std::vector<const ChartLine*>& lines) {
  Domain d;
  double lo = INFINITY, hi = -INFINITY, min_positive = INFINITY;
  for (const ChartLine* line : lines)
    for (double v : line->values) {
      if (!std::isfinite(v)) continue;
      d.used = true;
      lo = std::min(lo, v);
      hi = std::max(hi, v);
      if (v > 0) min_positive = std::min(min_positive, v);
    }
  if (!lines.empty()) d.used = true;
  if (!std::isfinite(lo)) lo = 0, hi = 1;

  if (axis.allow_log && std::isfinite(min_positive) && hi / min_positive > axis.log_ratio &&
      !axis.min && !axis.max) {
    d.log = true;
    double e_lo = std::floor(std::log10(min_positive));
    double e_hi = std::ceil(std::log10(hi));
    if (e_hi <= e_lo) e_hi = e_lo + 1;
    d.lo = std::pow(10.0, e_lo);
    d.hi = std::pow(10.0, e_hi);
    double every = std::max(1.0, std::ceil((e_hi - e_lo) / 5));
    for (double e = e_lo; e <= e_hi + 1e-9; e += every) d.ticks.push_back(std::pow(10.0, e));
    return d;
  }

  if (lo >= 0) lo = 0;  // counts, rates, durations: the axis starts at zero
  if (axis.min) lo = *axis.min;
  if (axis.max) hi = *axis.max;
  if (!(hi > lo)) hi = lo + std::max(1.0, std::fabs(lo) * 0.1);
  if (axis.two_ticks && !axis.max && lo == 0) {
    // A short strip has room for two labels: zero and the maximum rounded up a little.
    double power = std::pow(10.0, std::floor(std::log10(hi)) - 1);
    hi = std::ceil(hi / power - 1e-9) * power;
    d.lo = 0;
    d.hi = hi;
    d.ticks = {0, hi};
    return d;
  }
  double step = nice_step((hi - lo) / 4);
  if (!axis.min) lo = std::floor(lo / step) * step;
  if (!axis.max) hi = std::ceil(hi / step - 1e-9) * step;
  if (!(hi > lo)) hi = lo + step;
  d.lo = lo;
  d.hi = hi;
  for (int i = 0; i <= 12; ++i) {
    double t = std::ceil(lo / step - 1e-9) * step + i * step;
    if (t > hi + step * 1e-6) break;
    d.ticks.push_back(std::fabs(t) < step * 1e-9 ? 0 : t);
  }
  return d;
}

// Time ticks: steps people read at a glance.
double time_step(double range, double width) {
  double wanted = range / std::max(2.0, width / 95);
  for (double s : {1.0, 2.0, 5.0, 10.0, 15.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0,
                   1800.0, 3600.0, 7200.0, 21600.0, 43200.0, 86400.0})
    if (s >= wanted) return s;
  return nice_step(wanted);
}

std::string time_label(double t, double step) {
  if (step >= 60 && std::fmod(step, 60) == 0) return fmt::format("{}m", std::llround(t / 60));
  return fmt::format("{}s", std::llround(t));
}

// A coordinate in tenths of a pixel, written briefly ("12.3", "-.5", "40").
void append_tenths(std::string& out, long tenths) {
  if (tenths < 0) {
    out += '-';
    tenths = -tenths;
  }
  long whole = tenths / 10, frac = tenths % 10;
  if (whole != 0 || frac == 0) out += std::to_string(whole);
  if (frac != 0) {
    out += '.';
    out += static_cast<char>('0' + frac);
  }
}

// Appends "a b" pairs to a path, with the separator SVG needs (none before a '-').
void append_pair(std::string& out, long x, long y) {
  append_tenths(out, x);
  if (y >= 0) out += ' ';
  append_tenths(out, y);
}

std::string fmt_px(double v) { return fmt::format("{:.1f}", v); }

}  // namespace

std::string format_si(double value) {
  if (std::isnan(value)) return "–";
  if (std::isinf(value)) return value > 0 ? "∞" : "-∞";
  double a = std::fabs(value);
  const char* suffix = "";
  double scaled = value;
  if (a >= 1e12) scaled = value / 1e12, suffix = "T";
  else if (a >= 1e9) scaled = value / 1e9, suffix = "G";
  else if (a >= 1e6) scaled = value / 1e6, suffix = "M";
  else if (a >= 1e3) scaled = value / 1e3, suffix = "k";
  if (a >= 1e15) return fmt::format("{:.2g}", value);
  std::string digits = fmt::format("{:.3g}", scaled);
  if (digits.find('e') != std::string::npos) digits = fmt::format("{:.2e}", scaled);
  return digits + suffix;
}

std::vector<size_t> lttb_indices(const std::vector<double>& xs, const std::vector<double>& ys,
                                 size_t threshold) {
  const size_t n = std::min(xs.size(), ys.size());
  std::vector<size_t> kept;
  if (threshold >= n || threshold < 3) {
    if (threshold < 3 && n > 2 && threshold > 0) return {0, n - 1};
    for (size_t i = 0; i < n; ++i) kept.push_back(i);
    return kept;
  }
  kept.reserve(threshold);
  const double bucket = static_cast<double>(n - 2) / static_cast<double>(threshold - 2);
  size_t a = 0;
  kept.push_back(0);
  for (size_t b = 0; b < threshold - 2; ++b) {
    // The next bucket's average point is the third corner of the triangle.
    size_t next_start = static_cast<size_t>(std::floor((b + 1) * bucket)) + 1;
    size_t next_end = std::min(n, static_cast<size_t>(std::floor((b + 2) * bucket)) + 1);
    double avg_x = 0, avg_y = 0;
    size_t count = 0;
    for (size_t i = next_start; i < next_end; ++i, ++count) avg_x += xs[i], avg_y += ys[i];
    if (count == 0) avg_x = xs[n - 1], avg_y = ys[n - 1];
    else avg_x /= count, avg_y /= count;

    size_t start = static_cast<size_t>(std::floor(b * bucket)) + 1;
    size_t end = std::min(n - 1, static_cast<size_t>(std::floor((b + 1) * bucket)) + 1);
    double best_area = -1;
    size_t best = start;
    for (size_t i = start; i < end; ++i) {
      double area = std::fabs((xs[a] - avg_x) * (ys[i] - ys[a]) - (xs[a] - xs[i]) * (avg_y - ys[a]));
      if (area > best_area) best_area = area, best = i;
    }
    kept.push_back(best);
    a = best;
  }
  kept.push_back(n - 1);
  return kept;
}

std::string render_chart_svg(const ChartSpec& spec) {
  const double W = spec.width, H = spec.height;
  const double mb = spec.show_time_labels ? kMarginBottomLabels : kMarginBottomBare;
  const double px0 = kMarginLeft, px1 = W - kMarginRight, py0 = kMarginTop, py1 = H - mb;
  const double pw = px1 - px0, ph = py1 - py0;

  double x_min = spec.x_min, x_max = spec.x_max;
  if (!(x_max > x_min)) {
    x_min = INFINITY, x_max = -INFINITY;
    for (double t : spec.times)
      if (std::isfinite(t)) x_min = std::min(x_min, t), x_max = std::max(x_max, t);
    if (!std::isfinite(x_min)) x_min = 0, x_max = 1;
    if (!(x_max > x_min)) x_max = x_min + 1;
  }
  auto sx = [&](double t) { return px0 + (std::clamp(t, x_min, x_max) - x_min) / (x_max - x_min) * pw; };

  std::vector<const ChartLine*> left_lines, right_lines;
  bool any_value = false;
  for (const auto& line : spec.lines) {
    (line.axis == ChartAxis::left ? left_lines : right_lines).push_back(&line);
    for (double v : line.values) any_value = any_value || std::isfinite(v);
  }
  Domain left = make_domain(spec.left, left_lines);
  Domain right = make_domain(spec.right, right_lines);
  auto sy = [&](const Domain& d, double v) {
    double f = d.log ? (std::log10(v) - std::log10(d.lo)) / (std::log10(d.hi) - std::log10(d.lo))
                     : (v - d.lo) / (d.hi - d.lo);
    return py1 - std::clamp(f, 0.0, 1.0) * ph;
  };

  std::string out;
  out.reserve(8192);
  const std::string title = escape_html(spec.title);
  out += fmt::format(
      "<svg class=\"chart\" viewBox=\"0 0 {} {}\" preserveAspectRatio=\"xMinYMin meet\" role=\"img\" "
      "aria-label=\"{}\" xmlns=\"http://www.w3.org/2000/svg\"><title>{}</title>",
      fmt_px(W), fmt_px(H), title, title);
  if (!spec.description.empty()) out += "<desc>" + escape_html(spec.description) + "</desc>";

  // Windows first, so everything else is drawn over them.
  for (const auto& band : spec.bands) {
    if (!(band.end_s > band.start_s) || band.end_s < x_min || band.start_s > x_max) continue;
    double a = sx(band.start_s), b = sx(band.end_s);
    out += fmt::format("<rect class=\"{}\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\"><title>{}</title></rect>",
                       escape_html(band.css_class), fmt_px(a), fmt_px(py0), fmt_px(std::max(0.5, b - a)),
                       fmt_px(ph), escape_html(band.label));
    if (spec.show_band_labels && band.labelled && !band.label.empty() && b - a > 40)
      out += fmt::format("<text class=\"band-label\" x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
                         fmt_px((a + b) / 2), fmt_px(py0 + 11), escape_html(band.label));
  }

  // Grid and value axes.
  auto draw_axis = [&](const Domain& d, const AxisSpec& axis, bool is_left, const std::string& color) {
    if (!d.used) return;
    for (double t : d.ticks) {
      double y = sy(d, t);
      if (is_left || !left.used)
        out += fmt::format("<line class=\"grid\" x1=\"{}\" x2=\"{}\" y1=\"{}\" y2=\"{}\"/>", fmt_px(px0),
                           fmt_px(px1), fmt_px(y), fmt_px(y));
      out += fmt::format("<text class=\"tick\" x=\"{}\" y=\"{}\" text-anchor=\"{}\"{}>{}</text>",
                         fmt_px(is_left ? px0 - 5 : px1 + 5), fmt_px(std::clamp(y + 3.5, py0 + 7, py1 + 3.5)),
                         is_left ? "end" : "start",
                         color.empty() ? "" : " fill=\"" + escape_html(color) + "\"",
                         escape_html(format_si(t * axis.scale)));
    }
    if (!axis.unit.empty()) {
      double x = is_left ? 11 : W - 7;
      out += fmt::format("<text class=\"unit\" transform=\"translate({} {}) rotate(-90)\" text-anchor=\"middle\"{}>{}</text>",
                         fmt_px(x), fmt_px(py0 + ph / 2),
                         color.empty() ? "" : " fill=\"" + escape_html(color) + "\"",
                         escape_html(axis.unit + (d.log ? " (log)" : "")));
    }
  };
  // With two axes, each axis wears the colour of its first line, so it is clear which
  // scale a line is read against.
  const bool two_axes = left.used && right.used;
  draw_axis(left, spec.left, true, two_axes && !left_lines.empty() ? left_lines[0]->color : "");
  draw_axis(right, spec.right, false, two_axes && !right_lines.empty() ? right_lines[0]->color : "");

  // Time axis.
  const double step = time_step(x_max - x_min, pw);
  for (double t = std::ceil(x_min / step) * step; t <= x_max + 1e-9; t += step) {
    double x = sx(t);
    out += fmt::format("<line class=\"grid\" x1=\"{}\" x2=\"{}\" y1=\"{}\" y2=\"{}\"/>", fmt_px(x), fmt_px(x),
                       fmt_px(py0), fmt_px(py1));
    if (spec.show_time_labels)
      out += fmt::format("<text class=\"tick\" x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>", fmt_px(x),
                         fmt_px(py1 + 14), time_label(t, step));
  }
  out += fmt::format("<rect class=\"frame\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\"/>", fmt_px(px0),
                     fmt_px(py0), fmt_px(pw), fmt_px(ph));

  if (!any_value) {
    out += fmt::format("<text class=\"nodata\" x=\"{}\" y=\"{}\" text-anchor=\"middle\">no data</text>",
                       fmt_px(px0 + pw / 2), fmt_px(py0 + ph / 2 + 4));
  }

  // Lines: each run of finite values is a segment; long segments are downsampled.
  for (const auto& line : spec.lines) {
    const Domain& d = line.axis == ChartAxis::left ? left : right;
    std::vector<std::pair<size_t, size_t>> segments;  // [begin, end) of finite runs
    size_t n = std::min(line.values.size(), spec.times.size());
    size_t finite_total = 0;
    for (size_t i = 0; i < n;) {
      auto usable = [&](size_t k) {
        double v = line.values[k];
        return std::isfinite(v) && std::isfinite(spec.times[k]) && (!d.log || v > 0);
      };
      if (!usable(i)) { ++i; continue; }
      size_t j = i;
      while (j < n && usable(j)) ++j;
      segments.emplace_back(i, j);
      finite_total += j - i;
      i = j;
    }
    if (segments.empty()) continue;
    std::string path, dots;
    const long base_y = std::lround(py1 * 10);
    for (auto [begin, end] : segments) {
      std::vector<double> xs, ys;
      for (size_t i = begin; i < end; ++i) xs.push_back(sx(spec.times[i])), ys.push_back(sy(d, line.values[i]));
      if (xs.size() == 1) {
        dots += fmt::format("<circle cx=\"{}\" cy=\"{}\" r=\"{}\" fill=\"{}\"/>", fmt_px(xs[0]), fmt_px(ys[0]),
                            fmt_px(std::max(2.0, line.width * 1.3)), escape_html(line.color));
        continue;
      }
      size_t budget = finite_total > spec.max_points
                          ? std::max<size_t>(3, xs.size() * spec.max_points / finite_total)
                          : xs.size();
      std::vector<size_t> keep = lttb_indices(xs, ys, budget);
      long px = std::lround(xs[keep[0]] * 10), py = std::lround(ys[keep[0]] * 10);
      path += 'M';
      if (line.area) {
        append_pair(path, px, base_y);
        path += 'L';
      }
      append_pair(path, px, py);
      path += 'l';
      for (size_t k = 1; k < keep.size(); ++k) {
        long qx = std::lround(xs[keep[k]] * 10), qy = std::lround(ys[keep[k]] * 10);
        if (k > 1 && qx - px >= 0) path += ' ';
        append_pair(path, qx - px, qy - py);
        px = qx, py = qy;
      }
      if (line.area) {
        path += 'V';
        append_tenths(path, base_y);
        path += 'Z';
      }
    }
    const std::string color = escape_html(line.color);
    const std::string label = escape_html(line.label);
    if (!path.empty()) {
      if (line.area)
        out += fmt::format("<path class=\"area\" d=\"{}\" fill=\"{}\" stroke=\"{}\" stroke-width=\"1\"><title>{}</title></path>",
                           path, color, color, label);
      else
        out += fmt::format("<path class=\"line\" d=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"{}\"{}><title>{}</title></path>",
                           path, color, fmt_px(line.width),
                           line.dashed ? " stroke-dasharray=\"5 3\"" : "", label);
    }
    if (!dots.empty()) out += "<g><title>" + label + "</title>" + dots + "</g>";
  }

  // Markers (crashes) over everything.
  for (const auto& marker : spec.markers) {
    if (!std::isfinite(marker.at_s) || marker.at_s < x_min || marker.at_s > x_max) continue;
    double x = sx(marker.at_s);
    out += fmt::format("<g class=\"marker\"><title>{}</title><line x1=\"{}\" x2=\"{}\" y1=\"{}\" y2=\"{}\"/>",
                       escape_html(marker.tooltip.empty() ? marker.label : marker.tooltip), fmt_px(x), fmt_px(x),
                       fmt_px(py0), fmt_px(py1));
    if (spec.show_marker_labels && !marker.label.empty()) {
      bool flip = x > px1 - 70;  // keep the label inside the plot
      out += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"{}\">{}</text>", fmt_px(flip ? x - 4 : x + 4),
                         fmt_px(py1 - 5), flip ? "end" : "start", escape_html(marker.label));
    }
    out += "</g>";
  }

  if (!spec.corner_label.empty())
    out += fmt::format("<text class=\"corner\" x=\"{}\" y=\"{}\">{}</text>", fmt_px(px0 + 5), fmt_px(py0 + 12),
                       escape_html(spec.corner_label));
  out += "</svg>";
  return out;
}

}  // namespace syschaos::experiment
