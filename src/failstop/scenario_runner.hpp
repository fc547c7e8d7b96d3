// ScenarioRunner: runs a Schedule against resolved targets through a Session. One loop
// waits for everything at once — triggers (wall clock, CPU time, probabilistic ticks,
// exponential delays, the kernel's syscall hits), undo timers ("for:"), the end of the run
// and the stop signal — and reports every failure and undo as an event.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/duration.hpp"
#include "core/result.hpp"
#include "failstop/failstop.hpp"
#include "failstop/schedule.hpp"

namespace syschaos::failstop {

struct NamedTarget {
  std::string name;
  std::unique_ptr<Target> target;
};

struct RunOptions {
  uint64_t seed = 1;
  std::optional<Nanos> duration;     // the whole run; failures still on are undone at its end
  int stop_fd = -1;                  // readable (a signalfd) when the run must stop
  // One JSON object per event: {"event": "step"|"fail"|"undo"|"end", ...}.
  std::function<void(const nlohmann::json&)> on_event;
};

struct RunReport {
  size_t failures = 0;
  size_t undone = 0;
  std::string end_reason;            // "schedule done", "duration", "signal"
};

class ScenarioRunner {
 public:
  ScenarioRunner(Session& session, std::vector<NamedTarget>& targets, RunOptions options);
  ~ScenarioRunner();
  // Runs the steps, then waits for the undo timers (and for --duration, or for a stop when
  // a failure without "for" is still on). Leaves undoing what is left to Session::close().
  // Whatever ends it, no process is left stopped by an N-th-syscall trigger.
  Result<RunReport> run(const Schedule& schedule);

 private:
  Result<RunReport> run_steps(const Schedule& schedule);
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace syschaos::failstop
