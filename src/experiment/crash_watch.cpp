#include "experiment/crash_watch.hpp"

#include <poll.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

#include <csignal>
#include <cstring>
#include <fstream>

#include "target/docker_client.hpp"

namespace syschaos::experiment {

namespace {

constexpr auto kCheckEvery = std::chrono::milliseconds(100);

std::string comm_of(pid_t pid) {
  std::ifstream in(fmt::format("/proc/{}/comm", pid));
  std::string comm;
  std::getline(in, comm);
  return comm;
}

}  // namespace

CrashWatch::CrashWatch(ServiceUnderTest& service, std::chrono::steady_clock::time_point clock_zero)
    : service_(service), zero_(clock_zero) {}

CrashWatch::~CrashWatch() { stop(); }

double CrashWatch::now_s() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - zero_).count();
}

void CrashWatch::add(CrashEvent event) {
  std::lock_guard lock(mutex_);
  events_.push_back(std::move(event));
}

std::vector<CrashEvent> CrashWatch::events() const {
  std::lock_guard lock(mutex_);
  return events_;
}

Result<void> CrashWatch::start() {
  auto target = service_.resolve();
  if (!target) return target.error();
  auto pids = (*target)->processes();
  if (!pids) return pids.error();
  container_ = service_.section().container;
  if (container_) {
    auto docker = DockerClient::from_environment();
    if (!docker) return docker.error();
    auto info = docker->inspect_container(*container_);
    if (!info) return info.error();
    container_started_at_ = info->started_at;
    container_restarts_ = info->restart_count;
    container_main_ = info->pid;
    docker_ = std::make_unique<DockerClient>(std::move(*docker));
  }
  auto launched = service_.launched_pid();
  for (pid_t pid : *pids) {
    // The container's main process and a launched command are reported with their exit
    // status by the checks below; a pidfd only tells that a process is gone.
    if (pid == container_main_ || (launched && pid == *launched)) continue;
    UniqueFd fd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
    if (!fd) {
      if (errno == ESRCH) continue;  // already gone: not this experiment's doing
      return Error::sys(fmt::format("pidfd_open({}) to watch the target", pid));
    }
    processes_.push_back({pid, comm_of(pid), std::move(fd)});
  }
  thread_ = std::thread([this] { loop(); });
  return ok();
}

void CrashWatch::stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

void CrashWatch::loop() {
  // The runner blocks the signals it handles in every thread; this thread inherits that.
  while (!stop_.load()) {
    check_once();
    std::this_thread::sleep_for(kCheckEvery);
  }
  check_once();  // what happened in the last moments still counts
}

void CrashWatch::check_once() {
  for (auto& w : processes_) {
    if (w.gone) continue;
    pollfd p{w.pidfd.get(), POLLIN, 0};
    if (::poll(&p, 1, 0) > 0 && (p.revents & (POLLIN | POLLHUP))) {
      w.gone = true;
      CrashEvent e;
      e.at_s = now_s();
      e.what = fmt::format("process {} ({}) exited", w.pid, w.comm);
      add(std::move(e));
    }
  }
  if (auto launched = service_.launched_pid(); launched && !launched_reported_) {
    if (auto ended = service_.launched_ended()) {
      launched_reported_ = true;
      CrashEvent e;
      e.at_s = now_s();
      if (ended->signal) {
        e.signal = ended->signal;
        e.what = fmt::format("the service (pid {}) was killed by signal {} ({})", *launched, ended->signal,
                             ::strsignal(ended->signal));
      } else {
        e.exit_code = ended->exit_code;
        e.what = fmt::format("the service (pid {}) exited with status {}", *launched, ended->exit_code);
      }
      add(std::move(e));
    }
  }
  if (container_) {
    // A DockerClient is not thread-safe: this one is used by the watch thread only.
    if (!docker_) return;
    auto info = docker_->find_container(*container_);
    if (!info) return;  // Docker did not answer this time; the next check will tell
    if (!*info) {
      if (!container_down_reported_) {
        container_down_reported_ = true;
        CrashEvent e;
        e.at_s = now_s();
        e.what = fmt::format("container {} was removed", *container_);
        add(std::move(e));
      }
      return;
    }
    const ContainerInfo& c = **info;
    bool restarted = c.started_at != container_started_at_ || c.restart_count != container_restarts_;
    if (restarted && c.running) {
      CrashEvent e;
      e.at_s = now_s();
      e.restarted = true;
      e.exit_code = c.exit_code;
      e.oom_killed = c.oom_killed;
      e.what = fmt::format("container {} restarted (restart count {}; last exit status {}{})", *container_,
                           c.restart_count, c.exit_code, c.oom_killed ? ", OOM-killed" : "");
      add(std::move(e));
      container_started_at_ = c.started_at;
      container_restarts_ = c.restart_count;
      container_down_reported_ = false;
    } else if ((!c.running || c.restarting) && !container_down_reported_) {
      container_down_reported_ = true;
      CrashEvent e;
      e.at_s = now_s();
      e.exit_code = c.exit_code;
      e.oom_killed = c.oom_killed;
      e.what = fmt::format("container {} stopped ({}, exit status {}{})", *container_, c.status, c.exit_code,
                           c.oom_killed ? ", OOM-killed" : "");
      add(std::move(e));
    }
  }
}

}  // namespace syschaos::experiment
