// Test support: run a command and capture its output and exit status, or start it in the
// background; kill it if a test ends early. Shared by the integration tests.
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <chrono>
#include <functional>
#include <string>
#include <vector>

namespace syschaos::testing {

struct RunResult {
  int exit_code = -1;  // 128+signal when killed by a signal
  std::string out;
  std::string err;
};

// Runs argv to completion (killed after timeout).
RunResult run_command(const std::vector<std::string>& argv,
                      std::chrono::milliseconds timeout = std::chrono::seconds(30));

// A child running in the background, its stdout and stderr going to files.
class BackgroundProcess {
 public:
  explicit BackgroundProcess(const std::vector<std::string>& argv);
  ~BackgroundProcess();
  BackgroundProcess(const BackgroundProcess&) = delete;
  BackgroundProcess& operator=(const BackgroundProcess&) = delete;

  pid_t pid() const { return pid_; }
  void signal(int sig) const;
  // Waits for exit; returns the exit code (128+signal), or -1 on timeout.
  int wait(std::chrono::milliseconds timeout = std::chrono::seconds(30));
  bool running();
  std::string out() const;
  std::string err() const;

 private:
  pid_t pid_ = -1;
  int status_ = -1;
  bool reaped_ = false;
  std::string out_path_, err_path_;
};

std::string read_file(const std::string& path);
// The "State:" letter in /proc/PID/status ('S', 'R', 't' for tracing stop, ...).
char process_state(pid_t pid);
pid_t tracer_pid(pid_t pid);
// Polls cond every 10 ms until it holds or timeout passes.
bool eventually(const std::function<bool()>& cond, std::chrono::milliseconds timeout);

}  // namespace syschaos::testing
