#include "experiment/service_under_test.hpp"

#include <curl/curl.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

#include <chrono>
#include <fstream>
#include <thread>

#include "core/clock.hpp"
#include "target/docker_client.hpp"
#include "target/launch_target.hpp"

namespace syschaos::experiment {

namespace {

using Clock = std::chrono::steady_clock;

size_t discard_body(char*, size_t size, size_t n, void*) { return size * n; }

// Runs `sh -c command`, its output appended to log_path, waiting at most `timeout`.
Result<void> run_shell(const std::string& command, const std::string& log_path, Nanos timeout,
                       const std::atomic<bool>& stop) {
  pid_t pid = ::fork();
  if (pid < 0) return Error::sys("fork (restart command)");
  if (pid == 0) {
    int fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
    }
    ::setpgid(0, 0);
    // The runner blocks its signals in every thread; the user's command starts clean.
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::execl("/bin/sh", "sh", "-c", command.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  auto until = Clock::now() + timeout;
  int status = 0;
  while (true) {
    pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) break;
    if (r < 0) return Error::sys("waitpid (restart command)");
    if (stop.load()) {
      ::kill(-pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      return Error("interrupted");
    }
    if (Clock::now() > until) {
      ::kill(-pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      return Error(fmt::format("restart command '{}' did not finish within {}", command, format_duration(timeout)));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    return Error(fmt::format("restart command '{}' failed (status {}; output in {})", command,
                             WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), log_path));
  return ok();
}

}  // namespace

bool http_answers(const std::string& url, std::chrono::milliseconds timeout) {
  CURL* curl = curl_easy_init();
  if (!curl) return false;
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  // Only plain http to the URL itself (the spec checked it is loopback): no proxy, no
  // redirect to anywhere else.
  curl_easy_setopt(curl, CURLOPT_NOPROXY, "*");
  curl_easy_setopt(curl, CURLOPT_PROXY, "");
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http");
  curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, discard_body);
  CURLcode rc = curl_easy_perform(curl);
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_cleanup(curl);
  return rc == CURLE_OK && status >= 200 && status < 400;
}

ServiceUnderTest::ServiceUnderTest(TargetSection section, std::string ready_url, std::string log_path)
    : section_(std::move(section)), ready_url_(std::move(ready_url)), log_path_(std::move(log_path)) {}

ServiceUnderTest::~ServiceUnderTest() { stop_command(); }

Result<std::unique_ptr<ServiceUnderTest>> ServiceUnderTest::create(const TargetSection& section,
                                                                   std::string ready_url,
                                                                   std::string log_path) {
  if (!section.command.empty()) {
    // Fail now, not at the first restart, when the command cannot be found.
    auto check = LaunchTarget::create(section.command);
    if (!check) return check.error();
  }
  return std::unique_ptr<ServiceUnderTest>(
      new ServiceUnderTest(section, std::move(ready_url), std::move(log_path)));
}

bool ServiceUnderTest::can_restart() const {
  return !section_.restart_command.empty() || section_.container || !section_.command.empty();
}

namespace {

// The first child of `parent` (the supervisor's one child is the command).
pid_t first_child_of(pid_t parent) {
  std::ifstream in(fmt::format("/proc/{}/task/{}/children", parent, parent));
  pid_t child = 0;
  if (in >> child) return child;
  return 0;
}

}  // namespace

Result<void> ServiceUnderTest::launch_command() {
  CommandWorkloadSpec spec;
  spec.argv = section_.command;
  // One log per launch: a restart must not overwrite why the previous run died.
  spec.output_path = launches_ == 0 ? log_path_ : fmt::format("{}.{}", log_path_, launches_);
  ++launches_;
  auto workload = CommandWorkload::create(spec);
  if (!workload) return workload.error();
  launched_.emplace(std::move(*workload));
  SYSCHAOS_TRY(launched_->start(Clock::now()));
  pid_t supervisor = launched_->process_group();
  for (int i = 0; i < 200 && launched_pid_ == 0; ++i) {
    pid_t child = first_child_of(supervisor);
    if (child > 0) {
      launched_pid_ = child;
      break;
    }
    if (!launched_->running()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (launched_pid_ == 0) {
    auto outcome = launched_->stop();
    return Error(fmt::format("the service '{}' did not start (exit status {}; output in {})", section_.describe(),
                             outcome.exit_code, spec.output_path));
  }
  return ok();
}

void ServiceUnderTest::stop_command() {
  if (launched_) (void)launched_->stop();
  launched_.reset();
  launched_pid_ = 0;
}

std::optional<pid_t> ServiceUnderTest::launched_pid() const {
  if (launched_pid_ > 0) return launched_pid_;
  return std::nullopt;
}

std::optional<CommandOutcome> ServiceUnderTest::launched_ended() const {
  if (!launched_) return std::nullopt;
  return launched_->ended_early();
}

Result<void> ServiceUnderTest::start() {
  if (!section_.command.empty()) {
    if (launched_ && launched_->running()) return ok();
    stop_command();
    return launch_command();
  }
  auto target = resolve();
  if (!target) return target.error();
  return ok();
}

std::optional<bool> ServiceUnderTest::health() {
  if (!section_.command.empty()) return launched_ && launched_->running();
  if (section_.container) {
    // A Docker API call that fails says nothing about the container: ask again a few times,
    // and answer "unknown" rather than "dead" if Docker stays silent.
    for (int attempt = 0; attempt < 3; ++attempt) {
      if (attempt) std::this_thread::sleep_for(std::chrono::milliseconds(200));
      auto docker = DockerClient::from_environment();
      if (!docker) continue;
      auto info = docker->find_container(*section_.container);
      if (!info) continue;
      return *info && (**info).running && !(**info).restarting;
    }
    return std::nullopt;
  }
  if (section_.pid) return ::kill(*section_.pid, 0) == 0 || errno == EPERM;
  return false;
}

bool ServiceUnderTest::healthy() { return health().value_or(false); }

Result<void> ServiceUnderTest::restart(const std::atomic<bool>& stop) {
  if (!section_.restart_command.empty()) {
    SYSCHAOS_TRY(run_shell(section_.restart_command, log_path_, section_.ready_timeout, stop));
  } else if (!section_.command.empty()) {
    stop_command();
    SYSCHAOS_TRY(launch_command());
  } else if (section_.container) {
    auto docker = DockerClient::from_environment();
    if (!docker) return docker.error();
    SYSCHAOS_TRY(docker->restart_container(*section_.container));
  } else {
    return Error(fmt::format("{} cannot be restarted: give target.restart_command", section_.describe()));
  }
  return wait_ready(stop);
}

Result<void> ServiceUnderTest::wait_ready(const std::atomic<bool>& stop) {
  auto until = Clock::now() + section_.ready_timeout;
  while (true) {
    bool up = healthy();
    if (up && (ready_url_.empty() || http_answers(ready_url_, std::chrono::milliseconds(1000)))) return ok();
    if (auto ended = launched_ended()) {
      return Error(fmt::format("the service '{}' exited during start-up ({}; output in {})", section_.describe(),
                               ended->signal ? fmt::format("signal {}", ended->signal)
                                             : fmt::format("status {}", ended->exit_code),
                               log_path_));
    }
    if (Clock::now() > until)
      return Error(fmt::format("{} is not ready after {}{}", section_.describe(), format_duration(section_.ready_timeout),
                               ready_url_.empty() ? "" : " (" + ready_url_ + " does not answer 2xx/3xx)"));
    if (!sleep_until_unless_stopped(Clock::now() + std::chrono::milliseconds(100), &stop)) return Error("interrupted");
  }
}

Result<std::unique_ptr<Target>> ServiceUnderTest::resolve() {
  TargetSpec spec;
  if (section_.container) spec.container = section_.container;
  if (section_.pid) spec.pid = section_.pid;
  if (!section_.command.empty()) {
    if (!healthy() || launched_pid_ <= 0) return Error(fmt::format("{} is not running", section_.describe()));
    spec.pid = launched_pid_;
  }
  return resolve_target(spec);
}

}  // namespace syschaos::experiment
