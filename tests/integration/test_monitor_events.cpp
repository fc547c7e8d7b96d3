// `syschaos monitor --events`: slow and failed calls, one JSON line each, from the kernel's
// ring buffer.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sstream>

#include "process_runner.hpp"

using namespace syschaos::testing;

TEST(MonitorEvents, RecordsSlowAndFailedCalls) {
  const std::string file = "/tmp/syschaos-monitor-events-" + std::to_string(::getpid()) + ".jsonl";
  auto r = run_command({SYSCHAOS_BIN, "monitor", "--no-view", "--events", file, "--failed", "--slow", "50ms",
                        "--", "/bin/sh", "-c", "sleep 0.2; cat /nonexistent-syschaos-file; exit 0"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  std::istringstream in(read_file(file));
  bool slow_sleep = false, failed_open = false;
  for (std::string line; std::getline(in, line);) {
    auto j = nlohmann::json::parse(line);
    ASSERT_TRUE(j["pid"].is_number() && j["tid"].is_number() && j["syscall"].is_string()) << line;
    if (j["slow"] == true && j["syscall"] == "clock_nanosleep") {
      slow_sleep = true;
      EXPECT_GE(j["duration_ns"].get<uint64_t>(), 200'000'000u) << line;
    }
    if (j["failed"] == true && j["syscall"] == "openat" && j["errno"] == "ENOENT") failed_open = true;
  }
  EXPECT_TRUE(slow_sleep) << read_file(file);
  EXPECT_TRUE(failed_open) << read_file(file);
  std::remove(file.c_str());
}

TEST(MonitorEvents, EventsNeedACriterion) {
  auto r = run_command({SYSCHAOS_BIN, "monitor", "--events", "/tmp/x.jsonl", "--", "/bin/true"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--slow"), std::string::npos) << r.err;
}
