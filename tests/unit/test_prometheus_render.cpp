// The Prometheus exposition text rendered from synthetic intervals: every line is checked by a
// strict parser of the format, counters accumulate across intervals, histogram buckets are
// cumulative and end with +Inf, labels are escaped.
#include <errno.h>
#include <gtest/gtest.h>

#include <cmath>

#include "../support/prometheus_text_parser.hpp"
#include "observe/prometheus_exporter.hpp"

namespace syschaos {
namespace {

using testing::parse_prometheus_text;
using testing::PromText;

SyscallStats syscall(std::string name, int nr, uint64_t calls,
                     std::vector<std::pair<int, uint64_t>> errnos,
                     std::vector<std::pair<int, uint64_t>> buckets, uint64_t sum_ns) {
  SyscallStats s;
  s.name = std::move(name);
  s.nr = nr;
  s.calls = calls;
  for (const auto& [err, count] : errnos) s.errors += count;
  s.errnos = std::move(errnos);
  for (const auto& [bucket, count] : buckets) s.latency_log2[bucket] = count;
  s.latency_sum_ns = sum_ns;
  return s;
}

// Three intervals of a target opening files (some missing) and reading.
std::vector<Interval> sample_intervals() {
  std::vector<Interval> intervals(3);
  for (uint64_t i = 0; i < 3; ++i) {
    Interval& interval = intervals[i];
    interval.index = i;
    interval.start_unix = 1700000000.0 + static_cast<double>(i);
    interval.end_unix = interval.start_unix + 1.0;
    // openat: 10 calls, 3 ENOENT and (from interval 1 on) 1 EACCES; latency in buckets 10, 12.
    std::vector<std::pair<int, uint64_t>> errnos = {{ENOENT, 3}};
    if (i >= 1) errnos.emplace_back(EACCES, 1);
    interval.syscalls.push_back(syscall("openat", 257, 10, errnos, {{10, 6}, {12, 4}}, 10'000 * (i + 1)));
    interval.syscalls.push_back(syscall("read", 0, 100, {}, {{8, 100}}, 30'000));
    interval.processes = 2;
    interval.events_lost = i;  // 0, 1, 2
    interval.resources.cpu_usage_ns = 1'500'000'000 * (i + 1);
    interval.resources.cpu_cores = 1.5;
    interval.resources.memory_bytes = 4096 * (i + 1);
    interval.resources.net_rx_bytes = 1000 * (i + 1);
    interval.resources.network_shared = false;
    interval.resources.source = "cgroup v1";
  }
  return intervals;
}

PrometheusState state_after(const std::vector<Interval>& intervals, std::string target = "web") {
  PrometheusState state;
  state.target = std::move(target);
  for (const Interval& interval : intervals) state.add(interval);
  return state;
}

std::string errors_of(const PromText& text) {
  std::string out;
  for (const auto& e : text.errors) out += e + "\n";
  return out;
}

TEST(PrometheusRender, EveryLineIsValidExpositionText) {
  std::string text = render_prometheus_text(state_after(sample_intervals()));
  PromText parsed = parse_prometheus_text(text);
  EXPECT_TRUE(parsed.errors.empty()) << errors_of(parsed) << "\n" << text;
  // Every series carries the target label, and every metric is syschaos_-prefixed.
  size_t series = 0;
  for (const auto& family : parsed.families) {
    EXPECT_EQ(family.name.rfind("syschaos_", 0), 0u) << family.name;
    for (const auto& sample : family.samples) {
      EXPECT_EQ(sample.labels.count("target"), 1u) << sample.name;
      EXPECT_EQ(sample.labels.at("target"), "web");
      ++series;
    }
  }
  EXPECT_GT(series, 90u);  // two syscalls x 40 buckets + the rest
}

TEST(PrometheusRender, TheParserRejectsBrokenText) {
  // The checks below are only as good as the parser: it must see these mistakes.
  auto bad = [](const std::string& text) { return !parse_prometheus_text(text).errors.empty(); };
  EXPECT_TRUE(bad("x_total 1\n"));                                            // no HELP/TYPE
  EXPECT_TRUE(bad("# HELP x_total h\n# TYPE x_total counter\nx_total{a=\"1} 1\n"));  // unterminated
  EXPECT_TRUE(bad("# HELP x h\n# TYPE x counter\nx 1\n"));                    // counter without _total
  EXPECT_TRUE(bad("# HELP x h\n# TYPE x gauge\nx{1a=\"v\"} 1\n"));            // bad label name
  EXPECT_TRUE(bad("# HELP x h\n# TYPE x gauge\nx inf\n"));                    // Go spells it +Inf
  EXPECT_TRUE(bad("# HELP h h\n# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\n"
                  "h_sum 1\nh_count 1\n"));                                    // not cumulative
  EXPECT_TRUE(bad("# HELP h h\n# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_sum 1\nh_count 1\n"));  // no +Inf
  EXPECT_TRUE(bad("# HELP x h\n# TYPE x gauge\nx 1\nx 2\n"));                 // duplicate series
  EXPECT_FALSE(bad("# HELP x h\n# TYPE x gauge\nx{a=\"q\\\"\\\\\\n\"} 1.5e-09\n"));
}

TEST(PrometheusRender, CountersAccumulateAcrossIntervals) {
  PromText parsed = parse_prometheus_text(render_prometheus_text(state_after(sample_intervals())));
  ASSERT_TRUE(parsed.errors.empty()) << errors_of(parsed);
  EXPECT_EQ(parsed.value("syschaos_syscalls_total", {{"syscall", "openat"}, {"outcome", "ENOENT"}}), 9);
  EXPECT_EQ(parsed.value("syschaos_syscalls_total", {{"syscall", "openat"}, {"outcome", "EACCES"}}), 2);
  // 30 calls, 11 failed.
  EXPECT_EQ(parsed.value("syschaos_syscalls_total", {{"syscall", "openat"}, {"outcome", "success"}}), 19);
  EXPECT_EQ(parsed.value("syschaos_syscalls_total", {{"syscall", "read"}, {"outcome", "success"}}), 300);
  EXPECT_EQ(parsed.value("syschaos_syscall_errors_total", {{"syscall", "openat"}}), 11);
  EXPECT_EQ(parsed.value("syschaos_syscall_errors_total", {{"syscall", "read"}}), 0);
  EXPECT_EQ(parsed.value("syschaos_events_lost_total"), 3);
  EXPECT_EQ(parsed.value("syschaos_intervals_total"), 3);
  EXPECT_EQ(parsed.value("syschaos_interval_seconds"), 1);
  EXPECT_EQ(parsed.value("syschaos_target_processes"), 2);
  EXPECT_EQ(parsed.value("syschaos_target_up"), 1);
  // Resources are the latest interval's; cumulative ones are already counters.
  EXPECT_EQ(parsed.value("syschaos_cpu_seconds_total"), 4.5);
  EXPECT_EQ(parsed.value("syschaos_memory_bytes"), 3 * 4096);
  EXPECT_EQ(parsed.value("syschaos_network_receive_bytes_total"), 3000);
  EXPECT_EQ(parsed.value("syschaos_network_shared"), 0);
  EXPECT_EQ(parsed.value("syschaos_resource_source_info", {{"source", "cgroup v1"}}), 1);
  // Resources the source did not offer are absent, not zero.
  EXPECT_EQ(parsed.family("syschaos_memory_peak_bytes"), nullptr);
  EXPECT_EQ(parsed.family("syschaos_oom_kills_total"), nullptr);
  EXPECT_EQ(parsed.family("syschaos_io_read_bytes_total"), nullptr);
}

TEST(PrometheusRender, HistogramBucketsAreCumulativePowersOfTwo) {
  PromText parsed = parse_prometheus_text(render_prometheus_text(state_after(sample_intervals())));
  ASSERT_TRUE(parsed.errors.empty()) << errors_of(parsed);
  const auto* family = parsed.family("syschaos_syscall_duration_seconds");
  ASSERT_NE(family, nullptr);
  EXPECT_EQ(family->type, "histogram");
  // openat: 18 calls in bucket 10 ([1024, 2048) ns) and 12 in bucket 12 ([4096, 8192) ns).
  auto bucket = [&](const std::string& le) {
    return parsed.value("syschaos_syscall_duration_seconds_bucket", {{"syscall", "openat"}, {"le", le}});
  };
  EXPECT_EQ(bucket("1.024e-06"), 0);   // bucket 9's bound: below 1024 ns
  EXPECT_EQ(bucket("2.048e-06"), 18);  // bucket 10's bound
  EXPECT_EQ(bucket("4.096e-06"), 18);
  EXPECT_EQ(bucket("8.192e-06"), 30);
  EXPECT_EQ(bucket("+Inf"), 30);
  EXPECT_EQ(parsed.value("syschaos_syscall_duration_seconds_count", {{"syscall", "openat"}}), 30);
  // Sums 10 us + 20 us + 30 us.
  EXPECT_DOUBLE_EQ(*parsed.value("syschaos_syscall_duration_seconds_sum", {{"syscall", "openat"}}), 60e-6);
  size_t openat_buckets = 0;
  for (const auto& s : family->samples)
    if (s.name == "syschaos_syscall_duration_seconds_bucket" && s.labels.at("syscall") == "openat")
      ++openat_buckets;
  EXPECT_EQ(openat_buckets, static_cast<size_t>(kLatencyBuckets));
}

TEST(PrometheusRender, BucketBoundsAreExactPowersOfTwoNanoseconds) {
  EXPECT_EQ(latency_bucket_le(0), "2e-09");
  EXPECT_EQ(latency_bucket_le(6), "1.28e-07");
  EXPECT_EQ(latency_bucket_le(29), "1.073741824");
  EXPECT_EQ(latency_bucket_le(kLatencyBuckets - 1), "+Inf");
  for (int i = 0; i + 1 < kLatencyBuckets; ++i) {
    double le = std::stod(latency_bucket_le(i));
    EXPECT_EQ(le * 1e9, std::ldexp(1.0, i + 1)) << i;
  }
}

TEST(PrometheusRender, NoHistogramWithoutLatencyData) {
  Interval interval;
  interval.syscalls.push_back(syscall("getpid", 39, 5, {}, {}, 0));
  PromText parsed = parse_prometheus_text(render_prometheus_text(state_after({interval})));
  ASSERT_TRUE(parsed.errors.empty()) << errors_of(parsed);
  EXPECT_EQ(parsed.family("syschaos_syscall_duration_seconds"), nullptr);
  EXPECT_EQ(parsed.value("syschaos_syscalls_total", {{"syscall", "getpid"}, {"outcome", "success"}}), 5);
}

TEST(PrometheusRender, LabelValuesAreEscaped) {
  std::string target = "we\"ird\\name\nx";
  PromText parsed = parse_prometheus_text(render_prometheus_text(state_after(sample_intervals(), target)));
  ASSERT_TRUE(parsed.errors.empty()) << errors_of(parsed);
  for (const auto& family : parsed.families)
    for (const auto& sample : family.samples) EXPECT_EQ(sample.labels.at("target"), target);
}

TEST(PrometheusRender, NothingButResourcesBeforeTheFirstInterval) {
  PrometheusState state;
  state.target = "web";
  EXPECT_EQ(render_prometheus_text(state), "");
}

TEST(PrometheusRender, TargetGoneIsUpZero) {
  auto intervals = sample_intervals();
  intervals.back().target_alive = false;
  intervals.back().processes = 0;
  PromText parsed = parse_prometheus_text(render_prometheus_text(state_after(intervals)));
  EXPECT_EQ(parsed.value("syschaos_target_up"), 0);
  EXPECT_EQ(parsed.value("syschaos_target_processes"), 0);
}

TEST(ListenAddress, ParsesHostAndPort) {
  auto v4 = parse_listen_address("127.0.0.1:9464");
  ASSERT_TRUE(v4.ok()) << v4.error().message();
  EXPECT_EQ(v4->host, "127.0.0.1");
  EXPECT_EQ(v4->port, 9464);
  EXPECT_TRUE(v4->loopback);

  auto v6 = parse_listen_address("[::1]:0");
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->port, 0);
  EXPECT_TRUE(v6->loopback);

  auto localhost = parse_listen_address("localhost:80");
  ASSERT_TRUE(localhost.ok());
  EXPECT_EQ(localhost->host, "127.0.0.1");

  EXPECT_TRUE(parse_listen_address("127.1.2.3:1")->loopback);
  EXPECT_TRUE(parse_listen_address("[::ffff:127.0.0.1]:1")->loopback);
  EXPECT_FALSE(parse_listen_address("0.0.0.0:9464")->loopback);
  EXPECT_FALSE(parse_listen_address("10.0.0.1:9464")->loopback);
  EXPECT_FALSE(parse_listen_address("[::]:9464")->loopback);
}

TEST(ListenAddress, RejectsWhatIsNotHostColonPort) {
  for (const char* bad : {"9464", ":9464", "127.0.0.1:", "127.0.0.1:65536", "127.0.0.1:x", "::1:9464",
                          "[::1]9464", "example.com:80", "[::1:80"}) {
    auto parsed = parse_listen_address(bad);
    EXPECT_FALSE(parsed.ok()) << bad;
    if (!parsed.ok()) {
      EXPECT_NE(parsed.error().message().find("bad listen address"), std::string::npos);
    }
  }
}

TEST(PrometheusExporterOptions, RefusesNonLoopbackUnlessAllowed) {
  PrometheusOptions options;
  options.listen = "0.0.0.0:0";
  auto exporter = PrometheusExporter::start(options);
  ASSERT_FALSE(exporter.ok());
  EXPECT_NE(exporter.error().message().find("refusing to serve metrics on 0.0.0.0:0"), std::string::npos)
      << exporter.error().message();
}

}  // namespace
}  // namespace syschaos
