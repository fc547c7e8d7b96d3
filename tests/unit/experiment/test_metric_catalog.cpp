#include <gtest/gtest.h>

#include <cerrno>
#include <set>

#include "experiment/metric_catalog.hpp"
#include "synthetic_observations.hpp"

namespace syschaos::experiment {
namespace {

using testing::add_requests;
using testing::add_samples;
using testing::syscall_stats;
using testing::with_phases;

MetricRef metric(std::string_view text) {
  auto m = parse_metric(text);
  EXPECT_TRUE(m) << text << ": " << (m ? "" : m.error().message());
  return m ? *m : MetricRef{};
}

double value(std::string_view text, const ExperimentObservations& o, double start, double end) {
  auto v = evaluate_metric(metric(text), o, {start, end});
  EXPECT_TRUE(v.has_value()) << text;
  return v.value_or(NAN);
}

TEST(MetricCatalog, NamesAreUniqueAndDocumented) {
  std::set<std::string_view> names;
  for (const auto& m : metric_catalog()) {
    EXPECT_TRUE(names.insert(m.name).second) << m.name;
    EXPECT_FALSE(m.description.empty()) << m.name;
    EXPECT_EQ(find_metric_info(m.name), &m);
  }
  EXPECT_EQ(find_metric_info("http.nothing"), nullptr);
}

TEST(MetricCatalog, ParsesArguments) {
  auto m = metric("syscall.errors{read}");
  EXPECT_EQ(m.syscall, "read");
  EXPECT_FALSE(m.error_number);
  EXPECT_EQ(m.name(), "syscall.errors{read}");
  auto e = metric(" syscall.errors{ openat , ENOENT } ");
  EXPECT_EQ(e.syscall, "openat");
  EXPECT_EQ(e.error_number, ENOENT);
  EXPECT_EQ(e.name(), "syscall.errors{openat,ENOENT}");
  auto all = metric("syscall.errors{*,EIO}");
  EXPECT_TRUE(all.syscall.empty());
  EXPECT_EQ(all.name(), "syscall.errors{*,EIO}");
  EXPECT_EQ(metric("syscall.calls{*}").name(), "syscall.calls");
  EXPECT_EQ(metric("http.latency_p99").name(), "http.latency_p99");
}

TEST(MetricCatalog, ErrorsNameTheWrongPart) {
  auto unknown = parse_metric("http.succes_rate");
  ASSERT_FALSE(unknown);
  EXPECT_NE(unknown.error().message().find("did you mean http.success_rate"), std::string::npos)
      << unknown.error().message();
  auto latency = parse_metric("http.latency_p95");
  ASSERT_FALSE(latency);
  EXPECT_NE(latency.error().message().find("http.latency_p99"), std::string::npos)
      << latency.error().message();
  auto nothing = parse_metric("qqq");
  ASSERT_FALSE(nothing);
  EXPECT_NE(nothing.error().message().find("known: http.requests"), std::string::npos);
  auto syscall = parse_metric("syscall.errors{reed}");
  ASSERT_FALSE(syscall);
  EXPECT_NE(syscall.error().message().find("unknown syscall 'reed'"), std::string::npos);
  auto err = parse_metric("syscall.errors{read,EFOO}");
  ASSERT_FALSE(err);
  EXPECT_NE(err.error().message().find("unknown errno 'EFOO'"), std::string::npos);
  EXPECT_FALSE(parse_metric("http.success_rate{read}"));
  EXPECT_FALSE(parse_metric("syscall.rate{read,EIO}"));  // errno only where it means something
  EXPECT_FALSE(parse_metric("syscall.errors{read"));
  EXPECT_FALSE(parse_metric("syscall.errors{}"));
  EXPECT_FALSE(parse_metric("syscall.errors{read,}"));
  EXPECT_FALSE(parse_metric(""));
}

TEST(MetricCatalog, HttpMetricsOverAWindow) {
  auto o = with_phases(10, 10, 0);
  // 100 requests in [0, 10): latencies 1..100 ms, every 10th a 503.
  add_requests(o, 0, 10, 10, [](int i) {
    return testing::RequestShape{(i + 1) * 1e-3, i % 10 == 9 ? 503 : 200};
  });
  EXPECT_DOUBLE_EQ(value("http.requests", o, 0, 10), 100);
  EXPECT_DOUBLE_EQ(value("http.success_rate", o, 0, 10), 0.9);
  EXPECT_DOUBLE_EQ(value("http.error_rate", o, 0, 10), 0.1);
  EXPECT_DOUBLE_EQ(value("http.status_5xx", o, 0, 10), 10);
  EXPECT_DOUBLE_EQ(value("http.status_4xx", o, 0, 10), 0);
  EXPECT_DOUBLE_EQ(value("http.errors", o, 0, 10), 10);
  // type 7: h = 99·0.5 = 49.5 → (50 + 51)/2 ms; p99: h = 98.01 → 99 + 0.01 ms
  EXPECT_NEAR(value("http.latency_p50", o, 0, 10), 0.0505, 1e-12);
  EXPECT_NEAR(value("http.latency_p99", o, 0, 10), 0.09901, 1e-12);
  EXPECT_NEAR(value("http.latency_max", o, 0, 10), 0.1, 1e-12);
  EXPECT_NEAR(value("http.latency_mean", o, 0, 10), 0.0505, 1e-12);
  // A window without requests: counts are 0, rates and quantiles have no value.
  EXPECT_DOUBLE_EQ(value("http.requests", o, 10, 20), 0);
  EXPECT_FALSE(evaluate_metric(metric("http.success_rate"), o, {10, 20}));
  EXPECT_FALSE(evaluate_metric(metric("http.latency_p99"), o, {10, 20}));
  // Without an HTTP workload nothing http.* has a value.
  auto none = with_phases(10, 10, 0);
  EXPECT_FALSE(evaluate_metric(metric("http.requests"), none, {0, 10}));
}

TEST(MetricCatalog, RequestRateCountsCompletions) {
  auto o = with_phases(10, 10, 0);
  // Requests started in [0, 10) at 10/s, but those from second 5 on take 8 s (hung server):
  // they complete in [13, 18).
  add_requests(o, 0, 10, 10, [](int i) {
    return testing::RequestShape{i >= 50 ? 8.0 : 0.001, 200};
  });
  EXPECT_NEAR(value("http.request_rate", o, 0, 10), 5.0, 1e-12);
  EXPECT_NEAR(value("http.request_rate", o, 10, 20), 5.0, 1e-12);
  // Transport errors by kind; a dropped request counts as failed but has no latency.
  auto d = with_phases(10, 0, 0);
  add_requests(d, 0, 10, 1, [](int i) {
    if (i == 0) return testing::RequestShape{2.0, 0, RequestError::timeout};
    if (i == 1) return testing::RequestShape{0.001, 0, RequestError::connect};
    if (i == 2) return testing::RequestShape{0.001, 0, RequestError::reset};
    return testing::RequestShape{0.004, 200};
  });
  d.requests[3].dropped = true;
  d.requests[3].latency_s = 0;
  d.requests[3].status = 0;
  d.requests[3].error = RequestError::other;
  EXPECT_DOUBLE_EQ(value("http.timeouts", d, 0, 10), 1);
  EXPECT_DOUBLE_EQ(value("http.connect_errors", d, 0, 10), 1);
  EXPECT_DOUBLE_EQ(value("http.resets", d, 0, 10), 1);
  EXPECT_DOUBLE_EQ(value("http.success_rate", d, 0, 10), 0.6);
  // 9 latencies (the dropped one left out): min is 1 ms, not 0.
  EXPECT_DOUBLE_EQ(value("http.latency_max", d, 0, 10), 2.0);
  EXPECT_NEAR(value("http.latency_p50", d, 0, 10), 0.004, 1e-12);
  EXPECT_DOUBLE_EQ(value("http.request_rate", d, 0, 10), 0.9);
}

TEST(MetricCatalog, SyscallMetricsFromMonitorSamples) {
  auto o = with_phases(4, 4, 0);
  add_samples(o, 0, 8, [](int i, Interval& iv) {
    bool perturbed = i >= 4;
    iv.syscalls.push_back(syscall_stats("read", 100, perturbed ? 30 : 0, EIO, 4096));
    iv.syscalls.push_back(syscall_stats("openat", 10, 2, ENOENT, 1000));
    iv.resources.cpu_cores = perturbed ? 0.5 : 0.25;
    iv.resources.memory_bytes = perturbed ? 300 : 100;
    iv.resources.pids = perturbed ? 7 : 5;
  });
  EXPECT_DOUBLE_EQ(value("syscall.calls{read}", o, 0, 4), 400);
  EXPECT_DOUBLE_EQ(value("syscall.calls", o, 0, 4), 440);
  EXPECT_DOUBLE_EQ(value("syscall.errors{read}", o, 4, 8), 120);
  EXPECT_DOUBLE_EQ(value("syscall.errors{read,EIO}", o, 4, 8), 120);
  EXPECT_DOUBLE_EQ(value("syscall.errors{read,EAGAIN}", o, 4, 8), 0);
  EXPECT_DOUBLE_EQ(value("syscall.errors{*,ENOENT}", o, 4, 8), 8);
  EXPECT_DOUBLE_EQ(value("syscall.errors", o, 4, 8), 128);
  EXPECT_DOUBLE_EQ(value("syscall.errors_per_second{read}", o, 4, 8), 30);
  EXPECT_DOUBLE_EQ(value("syscall.error_rate{read}", o, 4, 8), 0.3);
  EXPECT_DOUBLE_EQ(value("syscall.error_rate{read}", o, 0, 4), 0);
  EXPECT_DOUBLE_EQ(value("syscall.rate{openat}", o, 0, 8), 10);
  // Every read took 4096 ns = 2^12: bucket [4096, 8192); mean is exact.
  double p99 = value("syscall.latency_p99{read}", o, 0, 8);
  EXPECT_GE(p99, 4096e-9);
  EXPECT_LE(p99, 8192e-9);
  EXPECT_NEAR(value("syscall.latency_mean{read}", o, 0, 8), 4096e-9, 1e-15);
  // A syscall never called: count 0, rate of errors 0, no latency.
  EXPECT_DOUBLE_EQ(value("syscall.calls{write}", o, 0, 8), 0);
  EXPECT_DOUBLE_EQ(value("syscall.error_rate{write}", o, 0, 8), 0);
  EXPECT_FALSE(evaluate_metric(metric("syscall.latency_p99{write}"), o, {0, 8}));
  // Resources: time-weighted mean, maxima.
  EXPECT_DOUBLE_EQ(value("resource.cpu_cores", o, 0, 8), 0.375);
  EXPECT_DOUBLE_EQ(value("resource.memory_bytes", o, 4, 8), 300);
  EXPECT_DOUBLE_EQ(value("resource.memory_max_bytes", o, 0, 8), 300);
  EXPECT_DOUBLE_EQ(value("resource.pids", o, 0, 4), 5);
  // Windows without samples have no value; without a monitor neither.
  EXPECT_FALSE(evaluate_metric(metric("syscall.calls"), o, {20, 30}));
  EXPECT_FALSE(evaluate_metric(metric("resource.cpu_cores"), o, {20, 30}));
  EXPECT_FALSE(evaluate_metric(metric("syscall.calls"), with_phases(4, 4, 0), {0, 4}));
}

TEST(MetricCatalog, SampleBelongsToTheWindowOfItsMidpoint) {
  auto o = with_phases(4, 4, 0);
  // Samples at [0.7, 1.7), [1.7, 2.7) ...: the one across the phase edge at 4 is [3.7, 4.7),
  // midpoint 4.2, so it counts in the perturbation only.
  add_samples(o, 0.7, 7.7, [](int i, Interval& iv) {
    iv.syscalls.push_back(syscall_stats("read", static_cast<uint64_t>(i + 1)));
  });
  EXPECT_DOUBLE_EQ(value("syscall.calls{read}", o, 0, 4), 1 + 2 + 3);
  EXPECT_DOUBLE_EQ(value("syscall.calls{read}", o, 4, 8), 4 + 5 + 6 + 7);
  EXPECT_DOUBLE_EQ(value("syscall.rate{read}", o, 4, 8), 22.0 / 4);
}

TEST(MetricCatalog, ProcessAlive) {
  auto o = with_phases(10, 10, 10);
  EXPECT_DOUBLE_EQ(value("process.alive", o, 0, 10), 1);
  o.crashes.push_back({.at_s = 12.5, .what = "process 42 exited with status 1"});
  EXPECT_DOUBLE_EQ(value("process.alive", o, 0, 10), 1);
  EXPECT_DOUBLE_EQ(value("process.alive", o, 10, 20), 0);
  EXPECT_DOUBLE_EQ(value("process.alive", o, 20, 30), 0);  // in or before the window
  EXPECT_DOUBLE_EQ(value("process.crashes", o, 10, 20), 1);
  EXPECT_DOUBLE_EQ(value("process.crashes", o, 20, 30), 0);

  auto dead_at_end = with_phases(10, 10, 10);
  dead_at_end.target_alive_at_end = false;
  EXPECT_DOUBLE_EQ(value("process.alive", dead_at_end, 10, 20), 1);
  EXPECT_DOUBLE_EQ(value("process.alive", dead_at_end, 20, 30), 0);
  EXPECT_DOUBLE_EQ(value("process.alive", dead_at_end, 25, 30), 0);

  auto seen_dead = with_phases(10, 10, 0);
  add_samples(seen_dead, 0, 20, [](int i, Interval& iv) { iv.target_alive = i < 15; });
  EXPECT_DOUBLE_EQ(value("process.alive", seen_dead, 0, 10), 1);
  EXPECT_DOUBLE_EQ(value("process.alive", seen_dead, 10, 20), 0);
}

TEST(MetricCatalog, CommandMetricsHoldWhereTheCommandRan) {
  auto o = with_phases(10, 10, 10);
  o.command = CommandOutcome{.command = "./replay.sh", .exit_code = 3, .start_s = 10, .end_s = 18};
  EXPECT_FALSE(evaluate_metric(metric("command.ok"), o, {0, 10}));
  EXPECT_DOUBLE_EQ(value("command.ok", o, 10, 20), 0);
  EXPECT_DOUBLE_EQ(value("command.exit_code", o, 10, 20), 3);
  EXPECT_FALSE(evaluate_metric(metric("command.ok"), o, {20, 30}));
  o.command->exit_code = -1;
  o.command->signal = 11;
  EXPECT_DOUBLE_EQ(value("command.exit_code", o, 10, 20), 128 + 11);
}

TEST(MetricCatalog, PerSecondValues) {
  auto o = with_phases(5, 0, 0);
  add_requests(o, 0, 5, 4, [](int i) {
    return testing::RequestShape{0.001, i < 8 ? 200 : 500};
  });
  auto values = per_second_values(metric("http.success_rate"), o, {0, 5.5});
  ASSERT_EQ(values.size(), 5u);  // the trailing half second is left out
  EXPECT_DOUBLE_EQ(values[0].t_s, 0);
  EXPECT_DOUBLE_EQ(values[0].value, 1);
  EXPECT_DOUBLE_EQ(values[1].value, 1);
  EXPECT_DOUBLE_EQ(values[2].value, 0);
  auto rate = per_second_values(metric("http.request_rate"), o, {0, 5});
  ASSERT_EQ(rate.size(), 5u);
  for (const auto& v : rate) EXPECT_DOUBLE_EQ(v.value, 4);
}

TEST(MetricCatalog, FormatsValuesForPeople) {
  EXPECT_EQ(format_metric_value(MetricUnit::ratio, 0.995), "99.5%");
  EXPECT_EQ(format_metric_value(MetricUnit::ratio, 0.99951), "99.951%");
  EXPECT_EQ(format_metric_value(MetricUnit::ratio, 1.0), "100.0%");
  EXPECT_EQ(format_metric_value(MetricUnit::seconds, 0.0123), "12.3 ms");
  EXPECT_EQ(format_metric_value(MetricUnit::seconds, 1.5), "1.50 s");
  EXPECT_EQ(format_metric_value(MetricUnit::seconds, 250e-6), "250.0 us");
  EXPECT_EQ(format_metric_value(MetricUnit::bytes, 3 * 1024.0 * 1024), "3.0 MiB");
  EXPECT_EQ(format_metric_value(MetricUnit::count, 42), "42");
  EXPECT_EQ(format_metric_value(MetricUnit::boolean, 0), "no");
  EXPECT_EQ(format_metric_value(MetricUnit::per_second, 12.25), "12.2/s");
  EXPECT_EQ(format_metric("http.latency_p99", 0.25), "250.0 ms");
  EXPECT_EQ(format_metric("syscall.errors_per_second{futex}", 20.0), "20.0/s");
  EXPECT_EQ(format_metric("http.success_rate", std::nullopt), "n/a");
  EXPECT_EQ(format_metric("not.a.metric", 0.123456), "0.1235");
}

}  // namespace
}  // namespace syschaos::experiment
