// Time-series charts as inline SVG, drawn in C++ so report.html needs no script and loads
// nothing. One chart = one time axis (seconds on the experiment clock), up to two value
// axes (left and right, each with its own scale), shaded windows (the perturbation, the
// recovery, target down), vertical markers (crashes), lines or filled areas.
//
// What the data may be: missing values (NaN) break a line into segments, a lone point is
// drawn as a dot, all-equal or all-zero values get a sensible axis, huge values get SI
// suffixes, and long series are downsampled (largest-triangle-three-buckets, which keeps
// peaks) so a 54-experiment campaign stays a reasonable file.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

namespace syschaos::experiment {

enum class ChartAxis { left, right };

struct ChartLine {
  std::string label;             // legend and tooltip text
  std::string color;             // CSS colour, e.g. "#1f77b4"
  std::vector<double> values;    // one per ChartSpec::times entry; NaN = no data
  ChartAxis axis = ChartAxis::left;
  bool area = false;             // fill down to the axis instead of a line
  bool dashed = false;
  double width = 1.6;
};

struct ChartBand {
  double start_s = 0, end_s = 0;
  std::string css_class;         // "band-perturbation", "band-recovery", "band-down"
  std::string label;             // tooltip; also drawn at the top of the band when
                                 // show_band_labels and `labelled`
  bool labelled = true;
};

struct ChartMarker {
  double at_s = 0;
  std::string label;             // short text next to the marker ("crash")
  std::string tooltip;           // longer text (<title>)
};

struct AxisSpec {
  std::string unit;              // "req/s", "%", "ms"; shown next to the top tick
  std::optional<double> min, max;  // fixed bounds; otherwise from the data (min 0 for
                                   // non-negative data on a linear axis)
  bool allow_log = false;        // log10 when the positive values span more than log_ratio
  double log_ratio = 50;
  double scale = 1;              // tick labels show value * scale (0..1 data as 0..100 %)
  bool two_ticks = false;        // only 0 and a top rounded to 2 significant digits (strips)
};

struct ChartSpec {
  std::string title;             // <title> of the svg, for screen readers and tooltips
  std::string description;       // <desc>
  double width = 960, height = 170;
  double x_min = 0, x_max = 0;   // time domain; x_max <= x_min: taken from `times`
  std::vector<double> times;     // seconds, ascending
  std::vector<ChartLine> lines;
  AxisSpec left, right;
  std::vector<ChartBand> bands;
  std::vector<ChartMarker> markers;
  bool show_time_labels = true;  // tick labels under the x axis
  bool show_band_labels = false;
  bool show_marker_labels = true;
  std::string corner_label;      // bold text in the top-left corner (small multiples)
  size_t max_points = 200;       // per line, after downsampling
};

// The chart as an <svg> element (role="img", aria-label = title). A chart with no finite
// value at all is drawn as an empty frame that says "no data".
std::string render_chart_svg(const ChartSpec& spec);

// "1.2k", "35", "0.25", "4.1M", "1.5G": at most 3 significant digits.
std::string format_si(double value);

// Indices of the points kept by largest-triangle-three-buckets downsampling of
// (xs[i], ys[i]) to at most `threshold` points (all indices when already fewer). The first
// and last points are always kept. ys must be finite.
std::vector<size_t> lttb_indices(const std::vector<double>& xs, const std::vector<double>& ys,
                                 size_t threshold);

}  // namespace syschaos::experiment
