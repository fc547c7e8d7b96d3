// Crash detection during an experiment: follows the container (it stopped, with which exit
// code, OOM-killed, restarted by its restart policy) and the processes that were there when
// the experiment started (a pidfd each: a worker that dies and is respawned is still a
// crash). Runs on its own thread; CrashEvents are placed on the experiment clock.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/result.hpp"
#include "core/unique_fd.hpp"
#include "experiment/observations.hpp"
#include "experiment/service_under_test.hpp"

namespace syschaos {
class DockerClient;
}

namespace syschaos::experiment {

class CrashWatch {
 public:
  // `service` must outlive the watch; its launched command's end (thread-safe) and its
  // container name are what the watch reads.
  CrashWatch(ServiceUnderTest& service, std::chrono::steady_clock::time_point clock_zero);
  ~CrashWatch();

  Result<void> start();
  void stop();
  std::vector<CrashEvent> events() const;

 private:
  void loop();
  void check_once();
  double now_s() const;
  void add(CrashEvent event);

  struct Watched {
    pid_t pid;
    std::string comm;
    UniqueFd pidfd;
    bool gone = false;
  };

  ServiceUnderTest& service_;
  std::chrono::steady_clock::time_point zero_;
  std::vector<Watched> processes_;
  std::optional<std::string> container_;
  std::unique_ptr<DockerClient> docker_;
  std::string container_started_at_;
  int container_restarts_ = 0;
  pid_t container_main_ = 0;
  bool container_down_reported_ = false;
  bool launched_reported_ = false;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  mutable std::mutex mutex_;
  std::vector<CrashEvent> events_;
};

}  // namespace syschaos::experiment
