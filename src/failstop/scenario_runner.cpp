#include "failstop/scenario_runner.hpp"

#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <set>
#include <thread>

#include "core/clock.hpp"
#include "core/rng.hpp"
#include "failstop/syscall_trigger.hpp"
#include "failstop/trigger_stops.hpp"

namespace syschaos::failstop {

using Clock = std::chrono::steady_clock;

namespace {

// CPU time (user + system, all threads, dead ones included) of a process; nullopt if gone.
std::optional<Nanos> process_cpu(pid_t pid) {
  clockid_t clock;
  if (::clock_getcpuclockid(pid, &clock) != 0) return std::nullopt;
  timespec ts{};
  if (::clock_gettime(clock, &ts) != 0) return std::nullopt;
  return Nanos(static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec);
}

bool is_stop_signal(int sig) { return sig == SIGSTOP || sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU; }

// Lets processes the kernel stopped at a syscall hit go on (gone ones are skipped).
void send_continue(const std::vector<pid_t>& pids) {
  for (pid_t pid : pids) ::kill(pid, SIGCONT);
}

}  // namespace

struct ScenarioRunner::Impl {
  Session& session;
  std::vector<NamedTarget>& targets;
  RunOptions options;
  Rng rng{1};
  Clock::time_point start;
  std::optional<Clock::time_point> end;  // --duration
  std::unique_ptr<SyscallTrigger> syscalls;
  uint32_t next_victim_slot = 0;
  // The N-th-syscall victims armed so far, and every process recorded for the guard in
  // `stops_path` (the kernel SIGSTOPs a victim at its hit: see release()).
  struct ArmedSlot {
    uint32_t slot = 0;
    uint64_t threshold = 0;
    bool handled = false;  // the hit was seen and its processes continued
  };
  std::vector<ArmedSlot> armed_slots;
  std::vector<pid_t> stoppable;
  std::string stops_path;
  RunReport report;
  bool stopping = false;
  bool open_ended = false;  // a failure with no "for" is on

  struct Undo {
    Clock::time_point at;
    FailureId id;
  };
  std::vector<Undo> undos;

  // One chosen target of a step, waiting for its trigger.
  struct Victim {
    size_t target = 0;
    bool fired = false;
    Clock::time_point armed;
    Clock::time_point deadline;          // kAfter, kRate; next tick for kTick
    uint64_t tick = 0;
    std::map<pid_t, Nanos> cpu_base;     // kAfterCpu
    uint32_t slot = 0;                   // kAfterSyscall
    nlohmann::json detail;
  };

  Impl(Session& s, std::vector<NamedTarget>& t, RunOptions o) : session(s), targets(t), options(std::move(o)) {
    rng = Rng(options.seed);
    stops_path = trigger_stops_path(session.state_path());
  }

  // Called at every end of run(): stops counting, then continues the victims whose hit the
  // kernel acted on (SIGSTOP) but that were not handled — the run ended (signal, duration,
  // an error) between the hit and its failure. Then nothing is stopped by us any more and
  // the guard's list goes. When a count cannot be read, whether the kernel stopped the
  // victim is unknown: its processes are continued anyway (SIGCONT to a running process
  // does nothing) and the stops file is kept, so `failstop restore` can still find them.
  Result<void> release() {
    std::optional<Error> failed;
    if (syscalls) {
      syscalls->detach();
      // A program already running on another CPU may still finish its call after the
      // detach (syscall tracepoints run preemptible): give it time before reading counts.
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      for (ArmedSlot& a : armed_slots) {
        if (a.handled) continue;
        auto calls = syscalls->count(a.slot);
        if (!calls && !failed) failed = calls.error();
        if (!calls || *calls >= a.threshold) {
          send_continue(syscalls->members(a.slot));
          a.handled = true;
        }
      }
    }
    if (failed) {
      return failed->context("releasing the syscall trigger (stops file " + stops_path + " kept)");
    }
    if (!stoppable.empty()) ::unlink(stops_path.c_str());
    return ok();
  }

  void emit(nlohmann::json event) {
    event["time"] = unix_now();
    event["t"] = std::chrono::duration<double>(Clock::now() - start).count();
    if (options.on_event) options.on_event(event);
  }

  size_t index_of(const std::string& name) const {
    for (size_t i = 0; i < targets.size(); ++i)
      if (targets[i].name == name) return i;
    return targets.size();
  }

  // Waits until `until`, a stop, or a syscall hit; returns false when the run must stop.
  bool wait(Clock::time_point until) {
    auto now = Clock::now();
    if (end && *end <= now) {
      report.end_reason = "duration";
      return false;
    }
    if (end) until = std::min(until, *end);
    auto left = std::chrono::duration_cast<std::chrono::microseconds>(until - now);
    pollfd fds[2];
    nfds_t n = 0;
    if (options.stop_fd >= 0) fds[n++] = {options.stop_fd, POLLIN, 0};
    if (syscalls) fds[n++] = {syscalls->fd(), POLLIN, 0};
    timespec ts{};
    if (left.count() > 0) {
      ts.tv_sec = left.count() / 1'000'000;
      ts.tv_nsec = (left.count() % 1'000'000) * 1000;
    }
    int r = ::ppoll(fds, n, &ts, nullptr);
    if (r > 0 && options.stop_fd >= 0 && (fds[0].revents & POLLIN)) {
      signalfd_siginfo info{};
      (void)!::read(options.stop_fd, &info, sizeof(info));
      report.end_reason = "signal";
      stopping = true;
      return false;
    }
    if (end && Clock::now() >= *end) {
      report.end_reason = "duration";
      return false;
    }
    return true;
  }

  Result<void> run_undos(bool all) {
    auto now = Clock::now();
    for (auto it = undos.begin(); it != undos.end();) {
      if (!all && it->at > now) {
        ++it;
        continue;
      }
      SYSCHAOS_TRY(session.undo(it->id));
      ++report.undone;
      const FailureRecord& r = session.record(it->id);
      emit({{"event", "undo"}, {"mode", mode_name(r.mode)}, {"target", r.target}, {"cgroup", r.cgroup}});
      it = undos.erase(it);
    }
    return ok();
  }

  Clock::time_point next_undo() const {
    Clock::time_point next = Clock::time_point::max();
    for (const Undo& u : undos) next = std::min(next, u.at);
    return next;
  }

  Result<void> arm(Victim& v, const Step& step) {
    v.armed = Clock::now();
    const Trigger& t = step.trigger;
    switch (t.kind) {
      case Trigger::Kind::kNow: v.deadline = v.armed; break;
      case Trigger::Kind::kAfter: v.deadline = v.armed + t.delay; break;
      case Trigger::Kind::kRate: {
        Nanos d = exponential_delay(rng, t.rate);
        v.deadline = v.armed + d;
        v.detail["drawn_delay_s"] = std::chrono::duration<double>(d).count();
        break;
      }
      case Trigger::Kind::kTick: v.deadline = v.armed + t.period; break;
      case Trigger::Kind::kAfterCpu: {
        auto pids = targets[v.target].target->processes();
        if (!pids) return pids.error();
        // The processes the failure acts on: a pid target and its children (Session::fail).
        for (pid_t pid : with_descendants(*pids))
          if (auto cpu = process_cpu(pid)) v.cpu_base[pid] = *cpu;
        break;
      }
      case Trigger::Kind::kAfterSyscall: {
        if (!syscalls) {
          auto loaded = SyscallTrigger::load();
          if (!loaded) return loaded.error();
          syscalls = std::move(*loaded);
        }
        auto listed = targets[v.target].target->processes();
        if (!listed) return listed.error();
        // The processes the failure will act on (a pid and its children: Session::fail).
        std::vector<pid_t> pids = with_descendants(*listed);
        // The kernel will SIGSTOP them at the hit: the guard must know before it can happen.
        stoppable.insert(stoppable.end(), pids.begin(), pids.end());
        SYSCHAOS_TRY(save_trigger_stops(stops_path, stoppable));
        v.slot = next_victim_slot++;
        armed_slots.push_back({v.slot, t.count, false});
        SYSCHAOS_TRY(syscalls->watch(v.slot, pids, t.syscall_nr, t.count));
        break;
      }
    }
    return ok();
  }

  // CPU used since arming by the processes the failure acts on (a pid target's children
  // too); processes that appeared later count from 0, and a child that exited meanwhile
  // no longer counts.
  Nanos cpu_used(Victim& v) {
    Nanos used{0};
    auto pids = targets[v.target].target->processes();
    if (!pids) return used;
    for (pid_t pid : with_descendants(*pids)) {
      auto cpu = process_cpu(pid);
      if (!cpu) continue;
      auto base = v.cpu_base.try_emplace(pid, Nanos(0)).first->second;
      used += *cpu - base;
    }
    return used;
  }

  Result<void> fire(Victim& v, const Step& step, const std::string& why) {
    v.fired = true;
    auto id = session.fail(*targets[v.target].target, step.failure);
    if (!id) return id.error().context(targets[v.target].name);
    ++report.failures;
    const FailureRecord& r = session.record(*id);
    nlohmann::json event = {{"event", "fail"},        {"mode", mode_name(r.mode)},
                            {"name", targets[v.target].name}, {"target", r.target},
                            {"pids", r.pids},         {"cgroup", r.cgroup},
                            {"transient_cgroup", r.transient_cgroup}, {"trigger", why}};
    if (r.mode == Mode::kCrash) event["blackholed_endpoints"] = r.blackholed_endpoints;
    if (r.mode == Mode::kKill) event["signal"] = step.failure.signal;
    for (auto& [k, val] : v.detail.items()) event[k] = val;
    emit(event);
    if (step.hold) undos.push_back({Clock::now() + *step.hold, *id});
    else if (r.mode != Mode::kKill) open_ended = true;
    return ok();
  }

  // The kernel has stopped the victim at its N-th call (SIGSTOP, bpf/failstop_syscalls.bpf.c).
  // Applies the failure to the stopped processes, then continues them: a frozen victim is
  // then frozen (the freezer holds it), not stopped; a killed one gets its signal first.
  Result<void> fire_at_hit(Victim& v, const Step& step, const SyscallHit& h) {
    std::vector<pid_t> members = syscalls->members(v.slot);
    // Processes the kernel could not signal are stopped from here (a little later).
    if (h.stop_error != 0 || h.others_missed != 0)
      for (pid_t pid : members) ::kill(pid, SIGSTOP);
    // The exact members for the guard, in case syschaos dies before the SIGCONT below.
    stoppable.insert(stoppable.end(), members.begin(), members.end());
    auto saved = save_trigger_stops(stops_path, stoppable);
    v.detail = {{"syscall", step.trigger.syscall},
                {"count", h.count},
                {"hit_pid", h.tgid},
                {"hit_tid", h.tid},
                {"stopped_in_kernel", (h.stop_error == 0 ? 1u : 0u) + h.others_stopped}};
    if (h.stop_error != 0) v.detail["kernel_stop_error"] = h.stop_error;
    // Calls counted by the time the failure is applied: the count plus the calls other
    // threads had already entered when the stop came, plus restarts of interrupted calls.
    if (auto calls = syscalls->count(v.slot)) v.detail["count_at_failure"] = *calls;
    Result<void> fired = saved ? fire(v, step, "after_syscall") : Result<void>(saved.error());
    bool keep_stopped = fired && step.failure.mode == Mode::kKill && is_stop_signal(step.failure.signal);
    if (!keep_stopped) send_continue(members);
    for (ArmedSlot& a : armed_slots)
      if (a.slot == v.slot) a.handled = true;
    return fired;
  }

  Result<bool> run_fail_step(const Step& step) {
    std::vector<size_t> named;
    for (const std::string& name : step.targets) named.push_back(index_of(name));
    auto chosen = select_targets(named.size(), step.select, rng);
    if (!chosen) return chosen.error();
    std::vector<Victim> victims;
    for (size_t i : *chosen) {
      Victim v;
      v.target = named[i];
      SYSCHAOS_TRY(arm(v, step));
      victims.push_back(std::move(v));
    }
    std::vector<std::string> names;
    for (const Victim& v : victims) names.push_back(targets[v.target].name);
    emit({{"event", "step"}, {"step", step.describe()}, {"chosen", names}});

    const Trigger& t = step.trigger;
    for (;;) {
      SYSCHAOS_TRY(run_undos(false));
      auto now = Clock::now();
      Clock::time_point next = next_undo();
      bool pending = false;
      if (syscalls) {
        std::vector<SyscallHit> hits;
        SYSCHAOS_TRY(syscalls->drain([&](const SyscallHit& h) { hits.push_back(h); }));
        for (const SyscallHit& h : hits)
          for (Victim& v : victims)
            if (!v.fired && t.kind == Trigger::Kind::kAfterSyscall && v.slot == h.victim)
              SYSCHAOS_TRY(fire_at_hit(v, step, h));
      }
      for (Victim& v : victims) {
        if (v.fired) continue;
        switch (t.kind) {
          case Trigger::Kind::kNow:
          case Trigger::Kind::kAfter:
          case Trigger::Kind::kRate:
            if (now >= v.deadline) SYSCHAOS_TRY(fire(v, step, t.kind == Trigger::Kind::kRate ? "rate" : t.kind == Trigger::Kind::kAfter ? "after" : "now"));
            else next = std::min(next, v.deadline);
            break;
          case Trigger::Kind::kTick:
            while (!v.fired && now >= v.deadline) {
              ++v.tick;
              v.deadline += t.period;
              if (rng.uniform() < t.prob) {
                v.detail = {{"tick", v.tick}};
                SYSCHAOS_TRY(fire(v, step, "tick"));
              }
            }
            if (!v.fired) next = std::min(next, v.deadline);
            break;
          case Trigger::Kind::kAfterCpu: {
            Nanos used = cpu_used(v);
            if (used >= t.cpu) {
              v.detail = {{"cpu_used_ns", used.count()}};
              SYSCHAOS_TRY(fire(v, step, "after_cpu"));
            } else {
              // CPU time grows at most (threads x CPUs) times faster than wall time: sleep a
              // fraction of what is left, between 200 us and 20 ms.
              long cpus = std::max(1L, ::sysconf(_SC_NPROCESSORS_ONLN));
              auto left = (t.cpu - used) / (2 * cpus);
              left = std::clamp<Nanos>(left, std::chrono::microseconds(200), std::chrono::milliseconds(20));
              next = std::min(next, now + left);
            }
            break;
          }
          case Trigger::Kind::kAfterSyscall:
            break;  // woken by the ring buffer
        }
        if (!v.fired) pending = true;
      }
      if (!pending) return true;
      if (!wait(next)) return false;
    }
  }
};

ScenarioRunner::ScenarioRunner(Session& session, std::vector<NamedTarget>& targets, RunOptions options)
    : impl_(std::make_unique<Impl>(session, targets, std::move(options))) {}
ScenarioRunner::~ScenarioRunner() = default;

Result<RunReport> ScenarioRunner::run(const Schedule& schedule) {
  auto report = run_steps(schedule);
  auto released = impl_->release();
  if (!report) return released ? report.error() : report.error().context(released.error().message());
  if (!released) return released.error();
  return report;
}

Result<RunReport> ScenarioRunner::run_steps(const Schedule& schedule) {
  Impl& m = *impl_;
  m.start = Clock::now();
  if (m.options.duration) m.end = m.start + *m.options.duration;
  // Like Session::open for the state files: processes an earlier run's trigger stopped and
  // that neither it nor its guard continued (both killed).
  for (const std::string& line : continue_stale_trigger_stops()) m.emit({{"event", "restored"}, {"what", line}});
  bool go_on = true;
  for (const Step& step : schedule.steps) {
    if (step.action == Step::Action::kWait) {
      m.emit({{"event", "step"}, {"step", step.describe()}});
      auto until = Clock::now() + step.wait;
      while (go_on && Clock::now() < until) {
        SYSCHAOS_TRY(m.run_undos(false));
        go_on = m.wait(std::min(until, m.next_undo()));
      }
    } else {
      auto r = m.run_fail_step(step);
      if (!r) return r.error();
      go_on = *r;
    }
    if (!go_on) break;
  }
  // The steps are done: wait for the undo timers, and for the end of the run.
  while (go_on) {
    SYSCHAOS_TRY(m.run_undos(false));
    if (m.undos.empty() && !m.end && !m.open_ended) {
      m.report.end_reason = "schedule done";
      break;
    }
    go_on = m.wait(m.end ? std::min(*m.end, m.next_undo()) : m.next_undo());
  }
  // Undo what has a timer still pending (the rest is Session::close()'s).
  SYSCHAOS_TRY(m.run_undos(true));
  m.emit({{"event", "end"}, {"reason", m.report.end_reason}, {"failures", m.report.failures}});
  return m.report;
}

}  // namespace syschaos::failstop
