// What one experiment observed, in the form every later stage reads: the statistics and the
// verdict (verdict.hpp), the per-second series (series.hpp), results.json and report.html.
// The runner fills it; nothing here knows how the data was collected.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "observe/metrics.hpp"

namespace syschaos::experiment {

enum class Phase { baseline, perturbation, recovery };

const char* phase_name(Phase phase);  // "baseline", "perturbation", "recovery"

// A phase's window on the experiment clock (seconds since the workload started).
struct PhaseWindow {
  Phase phase = Phase::baseline;
  double start_s = 0;
  double end_s = 0;
};

// How a request failed before or instead of an HTTP status.
enum class RequestError { none, timeout, connect, reset, other };

const char* request_error_name(RequestError error);  // "none", "timeout", ...

// One HTTP request of the built-in load generator.
struct RequestRecord {
  double start_s = 0;     // experiment clock
  double latency_s = 0;   // until the response completed or the request failed
  int status = 0;         // HTTP status; 0 when no response (see error)
  RequestError error = RequestError::none;
  std::string url;        // which of the workload's URLs
  // Open model: start_s is the request's scheduled time and latency_s counts from it (so a
  // generator that fell behind, or a server that made it fall behind, shows as latency rather
  // than as silently missing requests); start_delay_s is how late it was actually sent.
  double start_delay_s = 0;
  uint64_t body_bytes = 0;  // response body received (discarded, only counted)
  int curl_code = 0;        // libcurl's CURLcode, for diagnosis of error == other
  bool dropped = false;     // open model: never sent, max_in_flight requests were pending
  // A request succeeded when it got a response with status 200-399 and no transport error.
  bool ok() const { return error == RequestError::none && status >= 200 && status < 400; }
};

// The user command workload (wrk, redis-benchmark, a replay script ...).
struct CommandOutcome {
  std::string command;
  int exit_code = -1;      // when it exited normally
  int signal = 0;          // when it was killed by a signal
  double start_s = 0, end_s = 0;
  std::string output_tail; // last lines of its stdout+stderr, for the report
  // It was still running at the end of the experiment and syschaos ended it (SIGTERM to its
  // process group, SIGKILL after the grace period); exit_code/signal then say how it ended.
  bool stopped = false;
  bool killed_after_grace = false;  // it ignored SIGTERM for the whole grace period
  uint64_t output_bytes = 0;        // all of stdout+stderr (the full text is in the output file)
  // A command that ran to its own end succeeded with exit status 0; one syschaos stopped at
  // the end succeeded if it honoured SIGTERM (whatever it then exited with).
  bool ok() const {
    if (stopped) return !killed_after_grace;
    return signal == 0 && exit_code == 0;
  }
};

// Something of the target died or restarted during the experiment.
struct CrashEvent {
  double at_s = 0;           // experiment clock
  std::string what;          // "process 1234 exited with status 1", "container restarted", ...
  std::optional<int> exit_code;
  std::optional<int> signal;
  bool oom_killed = false;
  bool restarted = false;    // the container came back by itself (restart policy)
};

// One monitor interval placed on the experiment clock.
struct MonitorSample {
  double start_s = 0, end_s = 0;
  Interval interval;
};

struct ExperimentObservations {
  std::vector<PhaseWindow> phases;       // in order; a missing phase is not there
  std::vector<RequestRecord> requests;   // empty without an HTTP workload
  std::vector<MonitorSample> monitor;    // one per monitor interval (default 1 s)
  std::optional<CommandOutcome> command; // set with a command workload
  std::vector<CrashEvent> crashes;
  bool target_alive_at_end = true;
  uint64_t faults_injected = 0;          // how many calls the engine actually perturbed
  // Syscalls the experiment's faults target (names, e.g. "openat"): their errors during the
  // perturbation are the fault itself, so the verdict shows but does not count them.
  std::vector<std::string> perturbed_syscalls;

  const PhaseWindow* phase(Phase p) const {
    for (const auto& w : phases)
      if (w.phase == p) return &w;
    return nullptr;
  }
};

}  // namespace syschaos::experiment
