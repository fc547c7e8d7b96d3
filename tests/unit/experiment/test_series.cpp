#include <gtest/gtest.h>

#include <cerrno>
#include <sstream>

#include "experiment/series.hpp"
#include "synthetic_observations.hpp"

namespace syschaos::experiment {
namespace {

using testing::add_requests;
using testing::add_samples;
using testing::RequestShape;
using testing::syscall_stats;
using testing::with_phases;

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

TEST(Series, OnePointPerSecondWithPhases) {
  auto o = with_phases(3, 2, 2);
  auto s = build_series(o);
  ASSERT_EQ(s.points.size(), 7u);
  EXPECT_DOUBLE_EQ(s.points[0].t_s, 0);
  EXPECT_EQ(s.points[2].phase, Phase::baseline);
  EXPECT_EQ(s.points[3].phase, Phase::perturbation);
  EXPECT_EQ(s.points[6].phase, Phase::recovery);
  // Neither workload nor monitor: only liveness.
  EXPECT_FALSE(s.points[0].request_rate);
  EXPECT_FALSE(s.points[0].syscalls_total);
  EXPECT_TRUE(s.points[0].target_alive);
  EXPECT_TRUE(build_series(ExperimentObservations{}).points.empty());
}

TEST(Series, HttpByCompletionSecond) {
  auto o = with_phases(2, 2, 0);
  // 10 requests/s; those started in second 2 hang for 1.5 s and time out.
  add_requests(o, 0, 4, 10, [](int i) {
    if (i >= 20 && i < 30) return RequestShape{1.5, 0, RequestError::timeout};
    return RequestShape{0.001 * (1 + i % 10), 200};
  });
  o.requests[35].dropped = true;  // never sent: an error in the second it was due
  o.requests[35].latency_s = 0;
  auto s = build_series(o);
  ASSERT_EQ(s.points.size(), 4u);
  EXPECT_DOUBLE_EQ(*s.points[0].request_rate, 10);
  EXPECT_DOUBLE_EQ(*s.points[0].success_rate, 1);
  // type-7 quantiles of 1..10 ms: p50 5.5 ms, p90 9.1 ms, p99 9.91 ms
  EXPECT_NEAR(*s.points[0].latency_p50_ms, 5.5, 1e-9);
  EXPECT_NEAR(*s.points[0].latency_p90_ms, 9.1, 1e-9);
  EXPECT_NEAR(*s.points[0].latency_p99_ms, 9.91, 1e-9);
  // Second 2: the hung requests have not completed, the rest of second 2 is them: nothing.
  EXPECT_DOUBLE_EQ(*s.points[2].request_rate, 0);
  EXPECT_FALSE(s.points[2].success_rate);
  EXPECT_FALSE(s.points[2].latency_p50_ms);
  // Second 3: its own 9 answered requests plus the 5 time-outs started at 2.0–2.4 s (they
  // end at 3.5–3.9 s; the other 5 end after the experiment's last second), plus the dropped
  // one as an error.
  EXPECT_DOUBLE_EQ(*s.points[3].request_rate, 14);
  EXPECT_EQ(s.points[3].request_errors, 6u);
  EXPECT_NEAR(*s.points[3].success_rate, 9.0 / 14, 1e-12);
}

TEST(Series, MonitorTopSyscallsAndResources) {
  auto o = with_phases(5, 5, 0);
  add_samples(o, 0, 10, [](int i, Interval& iv) {
    bool perturbed = i >= 5;
    iv.syscalls.push_back(syscall_stats("epoll_wait", 1000));
    iv.syscalls.push_back(syscall_stats("read", 500));
    // Few calls, but its errors jump under the fault: it must be followed first.
    iv.syscalls.push_back(syscall_stats("openat", 10, perturbed ? 10 : 0, ENOENT));
    iv.resources.cpu_cores = 0.5;
    iv.resources.memory_bytes = 1000 + i;
  });
  auto s = build_series(o, 2);
  ASSERT_EQ(s.top_syscall_names.size(), 2u);
  EXPECT_EQ(s.top_syscall_names[0], "openat");
  EXPECT_EQ(s.top_syscall_names[1], "epoll_wait");
  ASSERT_EQ(s.points.size(), 10u);
  const auto& p = s.points[7];
  EXPECT_EQ(*p.syscalls_total, 1510u);
  EXPECT_EQ(*p.syscall_errors_total, 10u);
  ASSERT_EQ(p.top_syscalls.size(), 2u);
  EXPECT_EQ(p.top_syscalls[0].name, "openat");
  EXPECT_EQ(p.top_syscalls[0].errors, 10u);
  EXPECT_EQ(s.points[2].top_syscalls[0].errors, 0u);
  EXPECT_DOUBLE_EQ(*p.cpu_cores, 0.5);
  EXPECT_EQ(*p.memory_bytes, 1007u);
  EXPECT_FALSE(p.request_rate);
}

TEST(Series, WithoutPhasesCoversTheData) {
  ExperimentObservations o;
  add_requests(o, 2.0, 4.0, 2, [](int) { return RequestShape{0.5, 200}; });
  auto s = build_series(o);
  // Requests start at 2.0 .. 3.5 and end at 2.5 .. 4.0: seconds 2, 3 and 4.
  ASSERT_EQ(s.points.size(), 3u);
  EXPECT_DOUBLE_EQ(s.points[0].t_s, 2);
  EXPECT_DOUBLE_EQ(*s.points[0].request_rate, 1);  // 2.5 (2.0's request)
  EXPECT_DOUBLE_EQ(*s.points[1].request_rate, 2);  // 3.0, 3.5
  EXPECT_DOUBLE_EQ(*s.points[2].request_rate, 1);  // 4.0
}

TEST(Series, BurstyErrorsDoNotCountAsChanged) {
  auto o = with_phases(5, 5, 0);
  add_samples(o, 0, 10, [](int i, Interval& iv) {
    bool perturbed = i >= 5;
    iv.syscalls.push_back(syscall_stats("epoll_wait", 1000));
    // One burst of 40 futex errors in the baseline, a steady 1/s under the fault: the summed
    // counts differ (40 vs 5, Poisson p < 1e-6), the seconds do not.
    iv.syscalls.push_back(syscall_stats("futex", 200, i == 1 ? 40 : perturbed ? 1 : 0, EAGAIN));
    iv.syscalls.push_back(syscall_stats("openat", 10, perturbed ? 10 : 0, ENOENT));
  });
  auto s = build_series(o, 2);
  ASSERT_EQ(s.top_syscall_names.size(), 2u);
  EXPECT_EQ(s.top_syscall_names[0], "openat");
  EXPECT_EQ(s.top_syscall_names[1], "epoll_wait");
}

TEST(Series, LivenessAfterCrashes) {
  auto o = with_phases(3, 3, 3);
  o.crashes.push_back({.at_s = 4.5, .what = "container restarted", .restarted = true});
  o.crashes.push_back({.at_s = 7.2, .what = "process exited"});
  auto s = build_series(o);
  EXPECT_TRUE(s.points[3].target_alive);
  EXPECT_FALSE(s.points[4].target_alive);  // the restart's second
  EXPECT_TRUE(s.points[5].target_alive);   // back after the restart
  EXPECT_TRUE(s.points[6].target_alive);
  EXPECT_FALSE(s.points[7].target_alive);  // gone for good
  EXPECT_FALSE(s.points[8].target_alive);
  auto dead = with_phases(2, 2, 0);
  dead.target_alive_at_end = false;
  auto d = build_series(dead);
  EXPECT_TRUE(d.points[2].target_alive);
  EXPECT_FALSE(d.points.back().target_alive);
}

TEST(Series, Csv) {
  auto o = with_phases(1, 1, 0);
  add_requests(o, 0, 1, 4, [](int) { return RequestShape{0.0025, 200}; });
  add_samples(o, 0, 1, [](int, Interval& iv) {
    iv.syscalls.push_back(syscall_stats("read", 7, 2, EIO));
    iv.resources.cpu_cores = 0.25;
  });
  auto csv = series_to_csv(build_series(o));
  auto rows = lines(csv);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0],
            "t_s,phase,request_rate,success_rate,latency_p50_ms,latency_p90_ms,latency_p99_ms,"
            "request_errors,syscalls_total,syscall_errors_total,cpu_cores,memory_bytes,"
            "target_alive,calls_read,errors_read");
  EXPECT_EQ(rows[1], "0,baseline,4,1,2.5,2.5,2.5,0,7,2,0.25,,1,7,2");
  // Second 1: no requests and no sample: empty cells, not zeros, except the request rate.
  EXPECT_EQ(rows[2], "1,perturbation,0,,,,,0,,,,,1,,");
}

}  // namespace
}  // namespace syschaos::experiment
