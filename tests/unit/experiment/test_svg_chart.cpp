// The SVG time charts of report.html: missing data, single points, extreme values,
// downsampling, log axes.
#include <gtest/gtest.h>

#include <cmath>
#include <regex>

#include "experiment/svg_chart.hpp"
#include "text_search.hpp"

namespace syschaos::experiment {
namespace {

using syschaos::testing::count_occurrences;

ChartSpec spec_with(std::vector<double> values) {
  ChartSpec s;
  s.title = "test chart";
  for (size_t i = 0; i < values.size(); ++i) s.times.push_back(static_cast<double>(i));
  s.lines.push_back({"v", "#123456", std::move(values)});
  return s;
}

// The y coordinates a path visits, absolute (the renderer writes "M x y" then relative
// "l dx dy" pairs).
std::vector<double> path_ys(const std::string& svg) {
  std::smatch m;
  std::regex path_re("class=\"line\" d=\"M([-0-9. ]+)l([-0-9. ]*)\"");
  std::vector<double> ys;
  if (!std::regex_search(svg, m, path_re)) return ys;
  std::vector<double> numbers;
  std::regex num_re("-?[0-9]*\\.?[0-9]+");
  std::string all = m[1].str() + " " + m[2].str();
  for (auto it = std::sregex_iterator(all.begin(), all.end(), num_re); it != std::sregex_iterator(); ++it)
    numbers.push_back(std::stod(it->str()));
  double y = 0;
  for (size_t i = 1; i < numbers.size(); i += 2) {
    y = i == 1 ? numbers[i] : y + numbers[i];
    ys.push_back(y);
  }
  return ys;
}

TEST(SvgChart, FormatsValuesWithSiSuffixes) {
  EXPECT_EQ(format_si(0), "0");
  EXPECT_EQ(format_si(35), "35");
  EXPECT_EQ(format_si(0.25), "0.25");
  EXPECT_EQ(format_si(1200), "1.2k");
  EXPECT_EQ(format_si(4.1e6), "4.1M");
  EXPECT_EQ(format_si(1.5e9), "1.5G");
  EXPECT_EQ(format_si(-2000), "-2k");
  EXPECT_EQ(format_si(std::nan("")), "–");
  EXPECT_EQ(format_si(INFINITY), "∞");
  EXPECT_EQ(format_si(3e300), "3e+300");
}

TEST(SvgChart, LttbKeepsEndsAndPeaks) {
  std::vector<double> xs, ys;
  for (int i = 0; i < 1000; ++i) xs.push_back(i), ys.push_back(i == 537 ? 100 : std::sin(i * 0.01));
  auto kept = lttb_indices(xs, ys, 100);
  ASSERT_EQ(kept.size(), 100u);
  EXPECT_EQ(kept.front(), 0u);
  EXPECT_EQ(kept.back(), 999u);
  EXPECT_TRUE(std::is_sorted(kept.begin(), kept.end()));
  EXPECT_NE(std::find(kept.begin(), kept.end(), 537u), kept.end()) << "the spike was dropped";
  EXPECT_EQ(lttb_indices(xs, ys, 5000).size(), 1000u);
  EXPECT_EQ(lttb_indices({1, 2}, {3, 4}, 100).size(), 2u);
  EXPECT_TRUE(lttb_indices({}, {}, 10).empty());
}

TEST(SvgChart, IsAnAccessibleSvgWithTitle) {
  auto svg = render_chart_svg(spec_with({1, 2, 3}));
  EXPECT_EQ(svg.rfind("<svg", 0), 0u);
  EXPECT_NE(svg.find("role=\"img\""), std::string::npos);
  EXPECT_NE(svg.find("aria-label=\"test chart\""), std::string::npos);
  EXPECT_NE(svg.find("<title>test chart</title>"), std::string::npos);
  EXPECT_EQ(svg.substr(svg.size() - 6), "</svg>");
}

TEST(SvgChart, NoFiniteValueDrawsAnEmptyFrameThatSaysSo) {
  auto svg = render_chart_svg(spec_with({NAN, NAN}));
  EXPECT_NE(svg.find("no data"), std::string::npos);
  EXPECT_EQ(svg.find("class=\"line\""), std::string::npos);
  auto empty = render_chart_svg(ChartSpec{});
  EXPECT_NE(empty.find("no data"), std::string::npos);
}

TEST(SvgChart, MissingValuesSplitTheLineAndLonePointsAreDots) {
  auto svg = render_chart_svg(spec_with({1, 2, 3, NAN, 4, 5, NAN, 6}));
  // Two segments of a line ("M" twice in one path) and one dot for the lone 6.
  std::smatch m;
  ASSERT_TRUE(std::regex_search(svg, m, std::regex("class=\"line\" d=\"([^\"]*)\"")));
  EXPECT_EQ(count_occurrences(m[1].str(), "M"), 2u) << m[1].str();
  EXPECT_EQ(count_occurrences(svg, "<circle"), 1u);
  auto single = render_chart_svg(spec_with({42}));
  EXPECT_EQ(count_occurrences(single, "<circle"), 1u);
  EXPECT_EQ(single.find("no data"), std::string::npos);
}

TEST(SvgChart, ZeroAndHugeValuesStayInsideThePlot) {
  for (std::vector<double> values : {std::vector<double>{0, 0, 0}, {1e300, 2e300, 1e300}, {-5, 5, 0},
                                     {7, 7, 7}, {1e-9, 2e-9, 0}}) {
    auto spec = spec_with(values);
    auto svg = render_chart_svg(spec);
    EXPECT_EQ(svg.find("nan"), std::string::npos) << svg;
    EXPECT_EQ(svg.find("inf"), std::string::npos) << svg;
    auto ys = path_ys(svg);
    ASSERT_EQ(ys.size(), values.size()) << svg;
    for (double y : ys) {
      EXPECT_GE(y, 8 - 0.11) << svg;                     // top margin
      EXPECT_LE(y, spec.height - 20 + 0.11) << svg;      // above the time labels
    }
  }
}

TEST(SvgChart, InfinityIsTreatedAsMissing) {
  auto svg = render_chart_svg(spec_with({1, INFINITY, 2, -INFINITY, 3}));
  EXPECT_EQ(count_occurrences(svg, "<circle"), 3u);
  EXPECT_EQ(svg.find("inf"), std::string::npos);
}

TEST(SvgChart, WideLatencyRangesGetALogAxis) {
  auto spec = spec_with({1, 2, 3, 5000});
  spec.left.unit = "ms";
  spec.left.allow_log = true;
  auto svg = render_chart_svg(spec);
  EXPECT_NE(svg.find("ms (log)"), std::string::npos);
  EXPECT_NE(svg.find(">1k<"), std::string::npos);  // decade ticks
  spec.lines[0].values = {1, 2, 3, 4};
  EXPECT_EQ(render_chart_svg(spec).find("(log)"), std::string::npos);
}

TEST(SvgChart, LongSeriesAreDownsampled) {
  std::vector<double> values;
  for (int i = 0; i < 3600; ++i) values.push_back(100 + 10 * std::sin(i * 0.05));
  auto spec = spec_with(values);
  spec.max_points = 200;
  auto ys = path_ys(render_chart_svg(spec));
  EXPECT_LE(ys.size(), 200u);
  EXPECT_GE(ys.size(), 150u);
}

TEST(SvgChart, BandsMarkersAndTheRightAxisAreDrawn) {
  auto spec = spec_with({1, 2, 3, 4, 5, 6, 7, 8, 9, 10});
  spec.x_min = 0;
  spec.x_max = 10;
  spec.bands = {{3, 6, "band-perturbation", "perturbation"}, {6, 9, "band-recovery", "recovery"}};
  spec.show_band_labels = true;
  spec.markers = {{4.5, "✖ crash", "nginx died"}};
  spec.lines.push_back({"ratio", "#00aa00", {0, .1, .2, .3, .4, .5, .6, .7, .8, .9}, ChartAxis::right});
  spec.right.min = 0;
  spec.right.max = 1;
  spec.right.scale = 100;
  spec.right.unit = "%";
  auto svg = render_chart_svg(spec);
  EXPECT_NE(svg.find("class=\"band-perturbation\""), std::string::npos);
  EXPECT_NE(svg.find("class=\"band-recovery\""), std::string::npos);
  EXPECT_NE(svg.find(">perturbation</text>"), std::string::npos);
  EXPECT_NE(svg.find("<title>nginx died</title>"), std::string::npos);
  EXPECT_NE(svg.find(">100</text>"), std::string::npos);  // right axis in percent
  EXPECT_NE(svg.find("fill=\"#00aa00\""), std::string::npos);  // axis wears its line's colour
  // Bands outside the time domain are not drawn.
  spec.bands = {{20, 30, "band-down", "target down"}};
  EXPECT_EQ(render_chart_svg(spec).find("band-down"), std::string::npos);
}

TEST(SvgChart, EscapesLabels) {
  auto spec = spec_with({1, 2});
  spec.title = "<script>x</script>";
  spec.lines[0].label = "a\"b";
  spec.lines[0].color = "red\" onload=\"x";
  spec.corner_label = "<b>";
  auto svg = render_chart_svg(spec);
  EXPECT_EQ(svg.find("<script"), std::string::npos);
  EXPECT_EQ(svg.find("<b>"), std::string::npos);
  EXPECT_EQ(svg.find("\" onload"), std::string::npos);
  EXPECT_NE(svg.find("&lt;script&gt;"), std::string::npos);
}

}  // namespace
}  // namespace syschaos::experiment
