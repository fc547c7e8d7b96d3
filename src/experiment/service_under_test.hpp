// The service an experiment perturbs, across the experiments of a campaign: starts it (a
// command target), restarts it between experiments so one experiment cannot poison the next
// (`docker restart`, relaunching the command, or the user's restart command), waits until it
// answers, and hands out a freshly resolved Target for each user (engine, monitor, watch:
// a Target is not shared between threads).
#pragma once

#include <sys/types.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "core/result.hpp"
#include "core/unique_fd.hpp"
#include "experiment/command_workload.hpp"
#include "experiment/experiment_spec.hpp"
#include "target/target.hpp"

namespace syschaos::experiment {

class ServiceUnderTest {
 public:
  // `log_path`: where a launched command's output goes (appended).
  static Result<std::unique_ptr<ServiceUnderTest>> create(const TargetSection& section,
                                                          std::string ready_url, std::string log_path);
  ~ServiceUnderTest();  // stops a command it launched (SIGTERM, then SIGKILL)

  // Makes sure the service runs: launches a command target the first time; for a container
  // or pid, checks that it is there.
  Result<void> start();
  // Brings the service back: the user's restart command, `docker restart`, or relaunching
  // the command. Then waits until ready().
  Result<void> restart(const std::atomic<bool>& stop);
  // Waits until the ready URL answers 2xx/3xx (if there is one) within the ready timeout.
  Result<void> wait_ready(const std::atomic<bool>& stop);
  // The service runs (container running, process alive); nullopt when that cannot be told
  // (Docker does not answer).
  std::optional<bool> health();
  // health(), with "unknown" taken as not healthy (before an experiment: better restart).
  bool healthy();
  bool can_restart() const;

  // A new Target for the service as it is now.
  Result<std::unique_ptr<Target>> resolve();
  // The launched command's pid (command targets).
  std::optional<pid_t> launched_pid() const;
  // How the launched command ended, once it has (thread-safe).
  std::optional<CommandOutcome> launched_ended() const;
  const TargetSection& section() const { return section_; }

 private:
  ServiceUnderTest(TargetSection section, std::string ready_url, std::string log_path);
  Result<void> launch_command();
  void stop_command();

  TargetSection section_;
  std::string ready_url_;
  std::string log_path_;
  // A command target runs under CommandWorkload's supervisor: not syschaos's direct child,
  // so the ptrace engine's waitpid(-1) cannot take its exit status, which comes through the
  // supervisor's pipe instead; and it dies with syschaos, even by SIGKILL.
  std::optional<CommandWorkload> launched_;
  pid_t launched_pid_ = 0;
  int launches_ = 0;
};

// GET url once (loopback only, no proxy); true on 2xx/3xx.
bool http_answers(const std::string& url, std::chrono::milliseconds timeout);

}  // namespace syschaos::experiment
