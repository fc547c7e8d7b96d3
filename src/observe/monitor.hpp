// Monitor: watches a target one interval at a time. Each tick it brings the in-kernel
// process set up to date (forks are followed in the kernel; processes that join from
// outside, like `docker exec`, are found here), reads and resets the syscall counters,
// samples the target's resources, and hands the Interval to every sink (live view,
// Prometheus exporter, JSONL/CSV writer, an experiment). `syschaos monitor` runs it on the
// main thread; `inject` and `run` use the same class from their own threads.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/duration.hpp"
#include "core/result.hpp"
#include "observe/metrics.hpp"
#include "target/target.hpp"

namespace syschaos {

struct SyscallEvent;

class IntervalSink {
 public:
  virtual ~IntervalSink() = default;
  virtual void on_interval(const Interval& interval) = 0;
};

struct MonitorOptions {
  Nanos interval = std::chrono::seconds(1);
  std::optional<Nanos> duration;
  // Containers: when the container restarts, keep watching its new processes.
  bool follow_restarts = false;
  // Per-call event stream (slow or failed calls), delivered to on_call as they come.
  Nanos slow_call_threshold{0};
  bool failed_call_events = false;
  std::function<void(const SyscallEvent&)> on_call;
  // Signals that end the monitor (SIGINT, SIGTERM, SIGHUP from the CLI); empty = none.
  std::vector<int> stop_signals;
};

struct MonitorReport {
  uint64_t intervals = 0;
  std::string end_reason;          // "duration elapsed", "interrupted", "target exited"
  std::optional<int> launched_status;  // launch mode: the command's wait status
};

class SyscallMonitor;
class ResourceSampler;

class Monitor {
 public:
  // Loads the BPF programs and finds the target's resources. Errors are one clear line
  // (no BPF permission, no BTF, target gone).
  static Result<std::unique_ptr<Monitor>> create(Target& target, const MonitorOptions& options);
  ~Monitor();

  // Runs until the duration ends, a stop signal arrives, stop() is called or the target
  // exits (after one final interval). Launch mode starts the command here.
  Result<MonitorReport> run(const std::vector<IntervalSink*>& sinks);
  // Calls an injection engine of this process skipped and answered itself: the kernel's
  // counters see them only as "syscall -1", so they are added to the next interval under
  // their real name (with no latency). Safe from any thread.
  void note_replaced_call(int nr, int err);
  // Asks run() to end after the current tick; safe from any thread.
  void stop() { stop_requested_ = true; }
  const std::string& resource_source() const { return resource_source_; }

 private:
  Monitor(Target& target, const MonitorOptions& options);
  Result<pid_t> launch();
  void refresh_processes(Interval& interval);

  Target& target_;
  MonitorOptions options_;
  std::unique_ptr<SyscallMonitor> syscalls_;
  std::unique_ptr<ResourceSampler> resources_;
  std::string resource_source_;
  std::vector<pid_t> known_;
  pid_t launched_ = 0;
  std::atomic<bool> stop_requested_{false};
  std::mutex replaced_mutex_;
  std::map<std::pair<int, int>, uint64_t> replaced_;  // (nr, errno or 0) -> calls
  void merge_replaced(Interval& interval);
};

}  // namespace syschaos
