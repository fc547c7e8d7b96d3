#include <gtest/gtest.h>

#include "experiment/hypothesis.hpp"

namespace syschaos::experiment {
namespace {

Threshold parse(const std::string& text) {
  auto t = parse_threshold(text);
  EXPECT_TRUE(t) << text << ": " << (t ? "" : t.error().message());
  return t ? *t : Threshold{};
}

std::string error_of(const std::string& text) {
  auto t = parse_threshold(text);
  EXPECT_FALSE(t) << text << " should not parse";
  return t ? "" : t.error().message();
}

TEST(Hypothesis, AbsoluteThresholds) {
  auto t = parse("http.success_rate >= 0.99");
  EXPECT_EQ(t.metric, "http.success_rate");
  EXPECT_EQ(t.comparison, Comparison::greater_equal);
  EXPECT_DOUBLE_EQ(t.value, 0.99);
  EXPECT_FALSE(t.relative_to_baseline);
  EXPECT_EQ(t.text, "http.success_rate >= 0.99");

  EXPECT_DOUBLE_EQ(parse("http.success_rate>=99.5%").value, 0.995);
  EXPECT_EQ(parse("http.error_rate < 1%").comparison, Comparison::less);
  EXPECT_EQ(parse("command.exit_code == 0").comparison, Comparison::equal);
  EXPECT_EQ(parse("command.exit_code != 1").comparison, Comparison::not_equal);
  EXPECT_EQ(parse("syscall.errors{read} > 10").comparison, Comparison::greater);
  EXPECT_DOUBLE_EQ(parse("syscall.errors{read} <= +10").value, 10);
  EXPECT_EQ(parse("http.success_rate ≥ 99%").comparison, Comparison::greater_equal);
  EXPECT_EQ(parse("http.latency_p99 ≤ 2x baseline").comparison, Comparison::less_equal);
}

TEST(Hypothesis, UnitsAreConvertedToTheMetricsUnit) {
  EXPECT_DOUBLE_EQ(parse("http.latency_p99 <= 200ms").value, 0.2);
  EXPECT_DOUBLE_EQ(parse("http.latency_p99 <= 200 ms").value, 0.2);
  EXPECT_DOUBLE_EQ(parse("http.latency_p99 <= 1.5s").value, 1.5);
  EXPECT_DOUBLE_EQ(parse("http.latency_p99 <= 0.25").value, 0.25);  // bare: seconds
  EXPECT_DOUBLE_EQ(parse("http.latency_p50 <= 500us").value, 500e-6);
  EXPECT_DOUBLE_EQ(parse("syscall.latency_p99{read} <= 100ns").value, 100e-9);
  EXPECT_DOUBLE_EQ(parse("http.latency_max < 2m").value, 120);
  EXPECT_DOUBLE_EQ(parse("resource.memory_bytes <= 512MiB").value, 512.0 * 1024 * 1024);
  EXPECT_DOUBLE_EQ(parse("resource.memory_bytes <= 1GB").value, 1e9);
  EXPECT_DOUBLE_EQ(parse("http.request_rate >= 90/s").value, 90);
  EXPECT_DOUBLE_EQ(parse("resource.cpu_cores <= 1.5 cores").value, 1.5);
}

TEST(Hypothesis, RelativeToBaseline) {
  auto t = parse("http.latency_p99 <= 2x baseline");
  EXPECT_TRUE(t.relative_to_baseline);
  EXPECT_DOUBLE_EQ(t.value, 2);
  EXPECT_EQ(t.comparison, Comparison::less_equal);
  EXPECT_DOUBLE_EQ(parse("http.latency_p99 <= 1.5 x baseline").value, 1.5);
  EXPECT_DOUBLE_EQ(parse("http.latency_p99 <= 3*baseline").value, 3);
  EXPECT_DOUBLE_EQ(parse("http.latency_p99 <= 3 × baseline").value, 3);
  EXPECT_DOUBLE_EQ(parse("http.request_rate >= 0.9X Baseline").value, 0.9);
  auto same = parse("syscall.errors{openat} <= baseline");
  EXPECT_TRUE(same.relative_to_baseline);
  EXPECT_DOUBLE_EQ(same.value, 1);
}

TEST(Hypothesis, BooleanMetricAlone) {
  auto t = parse("process.alive");
  EXPECT_EQ(t.metric, "process.alive");
  EXPECT_EQ(t.comparison, Comparison::equal);
  EXPECT_DOUBLE_EQ(t.value, 1);
  EXPECT_DOUBLE_EQ(parse("command.ok == true").value, 1);
  EXPECT_DOUBLE_EQ(parse("process.alive == no").value, 0);
}

TEST(Hypothesis, ErrorsSayWhichPartIsWrong) {
  EXPECT_NE(error_of("http.succes_rate >= 0.99").find("did you mean http.success_rate"),
            std::string::npos);
  EXPECT_NE(error_of("http.success_rate => 0.99").find("operator '=>'"), std::string::npos);
  EXPECT_NE(error_of("http.success_rate = 0.99").find("write =="), std::string::npos);
  EXPECT_NE(error_of("http.success_rate >== 0.99").find("operator '>=='"), std::string::npos);
  EXPECT_NE(error_of("http.success_rate >= 0.9.9").find("unit '.9' does not fit"),
            std::string::npos);
  EXPECT_NE(error_of("http.success_rate >= abc").find("'abc' is not a number"), std::string::npos);
  EXPECT_NE(error_of("http.success_rate >= 200ms").find("unit 'ms' does not fit http.success_rate"),
            std::string::npos);
  EXPECT_NE(error_of("http.latency_p99 <= 2 baseline").find("'Nx baseline'"), std::string::npos);
  EXPECT_NE(error_of("http.latency_p99 <= zx baseline").find("'z' is not a number"),
            std::string::npos);
  EXPECT_NE(error_of("http.latency_p99 <= -2x baseline").find("must not be negative"),
            std::string::npos);
  EXPECT_NE(error_of("http.latency_p99").find("not a boolean metric"), std::string::npos);
  EXPECT_NE(error_of("process.alive == maybe").find("'maybe' is not a value"), std::string::npos);
  EXPECT_NE(error_of("command.ok <= 2x baseline").find("cannot be compared with the baseline"),
            std::string::npos);
  EXPECT_NE(error_of(">= 0.99").find("no metric before"), std::string::npos);
  EXPECT_NE(error_of("http.success_rate >=").find("no value after"), std::string::npos);
  EXPECT_NE(error_of("syscall.errors{reed} <= 3").find("unknown syscall 'reed'"), std::string::npos);
  EXPECT_FALSE(parse_threshold(""));
  EXPECT_FALSE(parse_threshold("http.success_rate >= nan"));
  // Every error names the threshold it is about.
  EXPECT_NE(error_of("http.success_rate >= abc").find("threshold 'http.success_rate >= abc'"),
            std::string::npos);
}

TEST(Hypothesis, ParseAllNamesThePosition) {
  auto ok = parse_hypothesis({"process.alive", "http.success_rate >= 99%"});
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->thresholds.size(), 2u);
  auto bad = parse_hypothesis({"process.alive", "http.success_rate >= x"});
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message().rfind("hypothesis 2: ", 0), 0u) << bad.error().message();
}

TEST(Hypothesis, CompareWithTolerance) {
  EXPECT_TRUE(compare(0.99, Comparison::greater_equal, 0.99));
  EXPECT_TRUE(compare(0.1 + 0.2, Comparison::equal, 0.3));  // 0.30000000000000004
  EXPECT_FALSE(compare(0.1 + 0.2, Comparison::greater, 0.3));
  EXPECT_TRUE(compare(0.2, Comparison::less, 0.3));
  EXPECT_FALSE(compare(0.3, Comparison::less, 0.3));
  EXPECT_TRUE(compare(1, Comparison::not_equal, 0));
  EXPECT_FALSE(compare(0.98, Comparison::greater_equal, 0.99));
  EXPECT_EQ(std::string(comparison_symbol(Comparison::less_equal)), "<=");
}

}  // namespace
}  // namespace syschaos::experiment
