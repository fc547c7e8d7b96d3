// The user command workload: a load generator the user already has (wrk, redis-benchmark, a
// replay script ...) run for the length of the experiment, its output kept.
//
// The command runs in a process group of its own under a small supervisor process (a fork of
// syschaos that never execs): the supervisor is a child subreaper with PR_SET_PDEATHSIG, so
// when syschaos dies — even by SIGKILL — it kills the whole group, and when the command's
// main process ends it kills what the command left behind. At the end of the experiment
// stop() sends SIGTERM to the group, then SIGKILL after a grace period. Processes that leave
// the group on purpose (setsid daemons) are not followed.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/result.hpp"
#include "experiment/observations.hpp"

namespace syschaos::experiment {

struct CommandWorkloadSpec {
  // Exactly one of the two: argv is run as is (execvp, so a bare name is looked up in PATH,
  // and no shell interprets anything); shell is a command line run by `/bin/sh -c`, for
  // pipes, redirections, loops and variables.
  std::vector<std::string> argv;
  std::string shell;
  std::string output_path;       // the full stdout+stderr, written as it comes (empty: not kept)
  size_t tail_bytes = 16 * 1024; // how much of the end of the output CommandOutcome keeps
  std::chrono::milliseconds stop_grace{5000};  // between SIGTERM and SIGKILL at the end
  std::string working_dir;       // empty: syschaos's own
  std::vector<std::string> env;  // NAME=VALUE added to (or replacing in) syschaos's environment
};

// Checks the spec: one way of giving the command, non-empty, sane grace and tail sizes.
Result<void> validate(const CommandWorkloadSpec& spec);

// How the command is shown in results and reports: the shell line, or argv quoted for a shell.
std::string command_display(const CommandWorkloadSpec& spec);

class CommandWorkload {
 public:
  static Result<CommandWorkload> create(CommandWorkloadSpec spec);
  CommandWorkload(CommandWorkload&&) noexcept;
  CommandWorkload& operator=(CommandWorkload&&) noexcept;
  ~CommandWorkload();  // stop() if still running

  // Starts the command; returns once it runs (exec succeeded) or with why it could not start
  // (output file, working directory, exec errors: one line). `on_early_exit` is called, from
  // the workload's own thread, if the command ends by itself before stop() — the runner may
  // then end the experiment or mark it; it must not call stop() from inside the callback.
  Result<void> start(std::chrono::steady_clock::time_point clock_zero,
                     std::function<void(const CommandOutcome&)> on_early_exit = {});
  // True from start() until the command ended (by itself or by stop()).
  bool running() const;
  // Set once the command ended by itself before stop() was called.
  std::optional<CommandOutcome> ended_early() const;
  // Ends the command if it still runs (SIGTERM to its group, SIGKILL after the grace period),
  // waits for the end of its output and returns the outcome. Idempotent; returns promptly
  // (the grace period at most, plus a second for output held open by escaped processes).
  CommandOutcome stop();
  // The process group the command runs in (the supervisor's pid), 0 before start().
  pid_t process_group() const;
  // A failure writing the output file (disk full ...), empty if none.
  std::string output_error() const;

 private:
  struct State;
  explicit CommandWorkload(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace syschaos::experiment
