#include "observe/monitor.hpp"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <thread>

#include "core/clock.hpp"
#include "core/syscall_table.hpp"
#include "target/held_child.hpp"
#include "observe/resource_sampler.hpp"
#include "observe/syscall_monitor.hpp"

namespace syschaos {

namespace {

// Blocks the stop signals for the duration of run() so they can be taken with
// sigtimedwait, and restores the caller's mask after (taking any still pending first, so
// a second Ctrl-C cannot kill the process before it reports).
class BlockedSignals {
 public:
  explicit BlockedSignals(const std::vector<int>& signals) {
    sigemptyset(&set_);
    for (int s : signals) sigaddset(&set_, s);
    pthread_sigmask(SIG_BLOCK, &set_, &old_);
  }
  ~BlockedSignals() {
    struct timespec zero {0, 0};
    while (sigtimedwait(&set_, nullptr, &zero) > 0) {
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  // Waits up to `d` for one of the signals; returns it, or 0 when the time passed.
  int wait(Nanos d) {
    if (d.count() <= 0) return 0;
    struct timespec ts {static_cast<time_t>(d.count() / 1'000'000'000), static_cast<long>(d.count() % 1'000'000'000)};
    int sig = sigtimedwait(&set_, nullptr, &ts);
    return sig > 0 ? sig : 0;
  }

 private:
  sigset_t set_{}, old_{};
};

}  // namespace

Monitor::Monitor(Target& target, const MonitorOptions& options) : target_(target), options_(options) {}
Monitor::~Monitor() {
  if (launched_ > 0) {
    // The monitor never kills what it launched; it only reaps it if it already ended.
    ::waitpid(launched_, nullptr, WNOHANG);
  }
}

Result<std::unique_ptr<Monitor>> Monitor::create(Target& target, const MonitorOptions& options) {
  if (options.interval < std::chrono::milliseconds(10))
    return Error("the interval must be at least 10ms");
  SyscallMonitorOptions smo;
  smo.slow_call_threshold = options.slow_call_threshold;
  smo.failed_call_events = options.failed_call_events;
  if (smo.events_enabled() && !options.on_call) return Error("call events asked for, but nobody to receive them");
  auto syscalls = SyscallMonitor::create(smo);
  if (!syscalls) return syscalls.error();
  std::unique_ptr<Monitor> m(new Monitor(target, options));
  m->syscalls_ = std::move(*syscalls);
  if (!target.command()) {
    auto procs = target.processes();
    if (!procs) return procs.error();
    if (procs->empty()) return Error(fmt::format("{} has no running process", target.describe()));
    for (pid_t p : *procs) {
      if (auto r = m->syscalls_->add_process(p); r) m->known_.push_back(p);
    }
    if (m->known_.empty()) return Error(fmt::format("{}: none of its processes could be watched", target.describe()));
    if (auto dir = target.cgroup_dir(); dir && dir->find("/unified") != std::string::npos) {
      // On a cgroup v2 target, calls from the cgroup count even before user space sees the
      // process (docker exec, a process moved in).
      (void)m->syscalls_->set_cgroup_filter_path(*dir);
    }
    auto source = resource_source_for(target);
    if (source) {
      auto sampler = ResourceSampler::create(*source);
      if (sampler) {
        m->resource_source_ = (*sampler)->summary();
        m->resources_ = std::move(*sampler);
      }
    }
  }
  return m;
}

Result<pid_t> Monitor::launch() {
  auto child = HeldChild::spawn(*target_.command());
  if (!child) return child.error();
  // Added to the kernel's set before it execs, so the command's first call counts.
  SYSCHAOS_TRY(syscalls_->add_process(child->pid()));
  SYSCHAOS_TRY(child->release());
  pid_t pid = child->pid();
  known_.push_back(pid);
  auto sampler = ResourceSampler::create(ResourceSource::for_processes({pid}));
  if (sampler) {
    resource_source_ = (*sampler)->summary();
    resources_ = std::move(*sampler);
  }
  return pid;
}

void Monitor::note_replaced_call(int nr, int err) {
  std::lock_guard lock(replaced_mutex_);
  replaced_[{nr, err}]++;
}

void Monitor::merge_replaced(Interval& iv) {
  std::map<std::pair<int, int>, uint64_t> taken;
  {
    std::lock_guard lock(replaced_mutex_);
    taken.swap(replaced_);
  }
  for (const auto& [key, n] : taken) {
    auto [nr, err] = key;
    auto it = std::find_if(iv.syscalls.begin(), iv.syscalls.end(), [nr = nr](const auto& s) { return s.nr == nr; });
    if (it == iv.syscalls.end()) {
      SyscallStats s;
      s.nr = nr;
      s.name = SyscallTable::native().name(nr);
      iv.syscalls.push_back(std::move(s));
      it = std::prev(iv.syscalls.end());
    }
    it->calls += n;
    iv.total_calls += n;
    if (err) {
      it->errors += n;
      iv.total_errors += n;
      auto e = std::find_if(it->errnos.begin(), it->errnos.end(), [err = err](const auto& p) { return p.first == err; });
      if (e == it->errnos.end()) {
        it->errnos.emplace_back(err, n);
        std::sort(it->errnos.begin(), it->errnos.end());
      } else {
        e->second += n;
      }
    }
  }
  std::stable_sort(iv.syscalls.begin(), iv.syscalls.end(), [](const auto& a, const auto& b) { return a.calls > b.calls; });
}

void Monitor::refresh_processes(Interval& interval) {
  if (launched_ > 0) {
    interval.processes = syscalls_->tracked_processes();
    return;
  }
  auto procs = target_.processes();
  if (!procs) {
    interval.target_alive = false;
    interval.processes = 0;
    return;
  }
  for (pid_t p : *procs) {
    if (std::find(known_.begin(), known_.end(), p) != known_.end()) continue;
    if (syscalls_->add_process(p)) known_.push_back(p);
  }
  // Forget pids that are gone, so a reused pid is added again.
  std::erase_if(known_, [&](pid_t p) { return std::find(procs->begin(), procs->end(), p) == procs->end(); });
  interval.processes = procs->size();
  interval.target_alive = !procs->empty();
}

Result<MonitorReport> Monitor::run(const std::vector<IntervalSink*>& sinks) {
  BlockedSignals signals(options_.stop_signals);
  MonitorReport report;
  using Clock = std::chrono::steady_clock;
  const auto t0 = Clock::now();
  auto next = t0 + options_.interval;
  // Discard what happened before the first interval (the set-up's own calls) — before a
  // launched command starts, so none of its calls fall into the discarded part.
  (void)syscalls_->collect();
  if (target_.command()) {
    auto pid = launch();
    if (!pid) return pid.error();
    launched_ = *pid;
  }
  double start_unix = unix_now();
  bool ending = false;
  while (!ending) {
    // Sleep until the end of the interval, waking early only for a stop request.
    while (true) {
      auto left = std::chrono::duration_cast<Nanos>(next - Clock::now());
      if (left.count() <= 0) break;
      auto slice = std::min<Nanos>(left, std::chrono::milliseconds(100));
      int sig = 0;
      if (options_.on_call) {
        // Wait on the event ring instead of sleeping; signals are then only checked.
        auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(slice);
        if (auto r = syscalls_->poll_events(options_.on_call, std::max(ms, std::chrono::milliseconds(1))); !r)
          return r.error();
        sig = signals.wait(Nanos(0));
      } else {
        sig = signals.wait(slice);
      }
      if (sig || stop_requested_) {
        report.end_reason = "interrupted";
        ending = true;
        break;
      }
      if (launched_ > 0 && !report.launched_status) {
        int status = 0;
        if (::waitpid(launched_, &status, WNOHANG) == launched_) report.launched_status = status;
      }
    }
    auto collected = syscalls_->collect();
    if (!collected) return collected.error();
    Interval iv = std::move(*collected);
    iv.index = report.intervals;
    iv.start_unix = start_unix;
    iv.end_unix = unix_now();
    start_unix = iv.end_unix;
    refresh_processes(iv);
    merge_replaced(iv);
    if (launched_ > 0) {
      if (!report.launched_status) {
        int status = 0;
        if (::waitpid(launched_, &status, WNOHANG) == launched_) report.launched_status = status;
      }
      iv.target_alive = !report.launched_status.has_value();
    }
    if (resources_) {
      if (auto r = resources_->sample(); r) {
        iv.resources = *r;
      } else if (launched_ == 0 && iv.target_alive) {
        // A restarted container has new cgroup directories: find them again.
        if (auto source = resource_source_for(target_); source)
          if (auto sampler = ResourceSampler::create(*source); sampler) resources_ = std::move(*sampler);
      }
    }
    for (auto* sink : sinks) sink->on_interval(iv);
    report.intervals++;
    if (!ending && !iv.target_alive && !(options_.follow_restarts && target_.may_gain_processes())) {
      report.end_reason = "target exited";
      ending = true;
    }
    if (!ending && options_.duration && Clock::now() - t0 >= *options_.duration) {
      report.end_reason = "duration elapsed";
      ending = true;
    }
    next += options_.interval;
    if (next < Clock::now()) next = Clock::now() + options_.interval;  // fell behind: resync
  }
  if (launched_ > 0 && !report.launched_status) {
    int status = 0;
    if (::waitpid(launched_, &status, WNOHANG) == launched_) report.launched_status = status;
  }
  return report;
}

}  // namespace syschaos
