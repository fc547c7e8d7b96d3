#include "inject/ptrace/trace_session.hpp"

#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <unordered_set>

#include "core/clock.hpp"
#include "core/errno_names.hpp"
#include "inject/ptrace/proc_inspect.hpp"
#include "inject/ptrace/ptrace_call_context.hpp"
#include "inject/ptrace/tracee_memory.hpp"
#include "target/held_child.hpp"

namespace syschaos::ptrace_engine {

namespace {

constexpr long kSeizeOptions = PTRACE_O_TRACESYSGOOD | PTRACE_O_TRACECLONE | PTRACE_O_TRACEFORK |
                               PTRACE_O_TRACEVFORK | PTRACE_O_TRACEEXEC;
// How often targets that can gain processes from outside (containers, cgroups) are re-read.
constexpr auto kPollInterval = std::chrono::milliseconds(200);
// waitpid polls after a handled stop before the tracer sleeps. Every waitpid(-1) here passes
// __WNOTHREAD: tracees (and a command the tracer launched) are this thread's children; the
// children of syschaos's other threads (an experiment's service or command workload) are
// not, and their exit statuses belong to whoever started them.
constexpr int kSpinPolls = 32;
// How long the detach may wait for threads that still owe an injected result.
constexpr auto kStopRequestPoll = std::chrono::milliseconds(50);
constexpr auto kDetachGrace = std::chrono::seconds(2);

bool is_group_stop_signal(int sig) {
  return sig == SIGSTOP || sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU;
}

}  // namespace

TraceSession::TraceSession(Target& target, FaultEvaluator& faults, const EngineOptions& options,
                           const sigset_t& wait_set)
    : target_(target), faults_(faults), options_(options), wait_set_(wait_set) {}

void TraceSession::warn(const std::string& message) {
  std::fprintf(stderr, "syschaos: warning: %s\n", message.c_str());
}

ThreadState& TraceSession::track(pid_t tid, pid_t tgid) {
  auto [it, inserted] = threads_.try_emplace(tid);
  if (inserted) {
    it->second.tid = tid;
    it->second.tgid = tgid;
    report_.threads_seen++;
    if (process_threads_[tgid]++ == 0) report_.processes_seen++;
  }
  return it->second;
}

void TraceSession::restart(pid_t tid, int sig) {
  // ESRCH: the thread was killed while stopped (SIGKILL needs no tracer); its exit status
  // arrives through waitpid and is handled there.
  ::ptrace(PTRACE_SYSCALL, tid, nullptr, reinterpret_cast<void*>(static_cast<long>(sig)));
}

Result<void> TraceSession::attach_process(pid_t tgid, bool strict) {
  if (tgid == ::getpid()) return ok();  // a cgroup may hold syschaos itself
  // Threads may be created while we attach; re-list until a pass finds nothing new.
  // Threads started by an already seized thread are attached by the kernel (TRACECLONE).
  for (bool found_new = true; found_new;) {
    found_new = false;
    for (pid_t tid : threads_of(tgid)) {
      if (threads_.count(tid)) continue;
      if (::ptrace(PTRACE_SEIZE, tid, nullptr, reinterpret_cast<void*>(kSeizeOptions)) != 0) {
        int err = errno;
        if (err == ESRCH) continue;  // exited meanwhile
        if (threads_.count(tid)) continue;
        pid_t tracer = tracer_of(tid);
        Error e = tracer && tracer != ::getpid()
                      ? Error(fmt::format("cannot trace pid {} (thread {}): it is already traced by "
                                          "pid {} (strace, gdb or another syschaos?)", tgid, tid, tracer))
                      : Error::sys(fmt::format("ptrace(PTRACE_SEIZE, {})", tid), err);
        if (strict) return e;
        warn(e.message());
        continue;
      }
      track(tid, tgid);
      found_new = true;
      // Make it stop once so we can restart it with PTRACE_SYSCALL.
      ::ptrace(PTRACE_INTERRUPT, tid, nullptr, nullptr);
    }
  }
  if (!process_threads_.count(tgid) && strict)
    return Error(fmt::format("pid {} has no threads left to trace", tgid));
  return ok();
}

Result<void> TraceSession::launch(const std::vector<std::string>& argv) {
  auto child = HeldChild::spawn(argv);
  if (!child) return child.error();
  pid_t pid = child->pid();
  // The child waits in read() for its go byte: seize it there, stop it once so it can be
  // restarted with PTRACE_SYSCALL, then let it exec — the execve is its first traced call.
  if (::ptrace(PTRACE_SEIZE, pid, nullptr, reinterpret_cast<void*>(kSeizeOptions)) != 0)
    return Error::sys(fmt::format("ptrace(PTRACE_SEIZE, {})", pid));
  if (::ptrace(PTRACE_INTERRUPT, pid, nullptr, nullptr) != 0)
    return Error::sys(fmt::format("ptrace(PTRACE_INTERRUPT, {})", pid));
  SYSCHAOS_TRY(child->release());
  launched_pid_ = pid;
  // Until its execve, the child runs syschaos's code (waiting for the go byte): no fault
  // may touch that.
  track(pid, pid).before_exec = true;
  return ok();
}

Result<void> TraceSession::start() {
  if (const auto* cmd = target_.command()) return launch(*cmd);
  auto procs = target_.processes();
  if (!procs) return procs.error();
  if (procs->empty()) return Error(fmt::format("{} has no running process", target_.describe()));
  for (pid_t tgid : *procs) {
    // The first process must attach; later ones may have exited meanwhile.
    auto r = attach_process(tgid, /*strict=*/tgid == procs->front());
    if (!r) return r.error();
  }
  return ok();
}

void TraceSession::poll_target() {
  if (!target_.may_gain_processes()) return;
  auto procs = target_.processes();
  if (!procs) {
    target_gone_ = true;
    return;
  }
  if (procs->empty() && threads_.empty()) {
    target_gone_ = true;
    return;
  }
  for (pid_t tgid : *procs)
    if (!process_threads_.count(tgid)) (void)attach_process(tgid, false);
}

void TraceSession::hold(ThreadState& t, ThreadState::Hold kind, Nanos delay) {
  t.hold = kind;
  t.hold_generation = next_generation_++;
  timers_.push({Clock::now() + delay, t.tid, t.hold_generation});
}

void TraceSession::release_due_holds(Clock::time_point now) {
  while (!timers_.empty() && timers_.top().due <= now) {
    Timer timer = timers_.top();
    timers_.pop();
    auto it = threads_.find(timer.tid);
    if (it == threads_.end() || it->second.hold_generation != timer.generation) continue;
    ThreadState& t = it->second;
    auto kind = t.hold;
    t.hold = ThreadState::Hold::none;
    if (kind == ThreadState::Hold::entry)
      finish_entry(t);
    else if (kind == ThreadState::Hold::exit)
      restart(t.tid);
  }
}

void TraceSession::on_entry(ThreadState& t, const SyscallStop& stop) {
  report_.syscalls_seen++;
  const int nr = stop.nr;
  if (stopping_ || t.before_exec || !stop.native_arch || nr < 0 || nr >= kMaxSyscallNr ||
      !faults_.interesting().test(nr)) {
    if (nr == SYS_prctl) t.comm.clear();
    restart(t.tid);
    return;
  }
  if (nr == SYS_prctl) t.comm.clear();
  PtraceCallContext call(t.tgid, t.tid, stop, t.comm);
  auto now = Clock::now();
  Decision d = faults_.evaluate(call, now);
  if (!d.fired()) {
    restart(t.tid);
    return;
  }
  const FaultAction& a = *d.action;
  if (options_.events) {
    InjectionEvent ev;
    ev.since_arm = std::chrono::duration_cast<Nanos>(now - armed_at_);
    ev.unix_time = unix_now();
    ev.pid = t.tgid;
    ev.tid = t.tid;
    ev.nr = nr;
    ev.syscall = SyscallTable::native().name(nr);
    const SyscallArgs& spec = SyscallTable::native().args(nr);
    if (spec.has_path()) ev.paths = call.paths();
    if (spec.fd >= 0) ev.fd = static_cast<int>(stop.args[spec.fd]);
    ev.rule = d.rule;
    ev.err = d.err;
    ev.action = a.describe(d.err);
    ev.injected = !options_.dry_run;
    ev.replaced = ev.injected && a.replaces_call();
    ev.result = d.err ? -static_cast<int64_t>(d.err) : a.retval.value_or(0);
    options_.events->on_event(ev);
  }
  if (options_.dry_run) {
    restart(t.tid);
    return;
  }
  for (const auto& poke : a.poke_enter)
    if (auto r = write_bytes(t.tgid, stop.args[poke.arg], poke.data); !r) warn(r.error().message());
  t.replace_call = a.replaces_call();
  t.replace_nr = a.substitute_nr.value_or(-1);
  t.entry_signal = a.signal;
  t.exit_value = d.err ? -static_cast<int64_t>(d.err) : a.retval.value_or(0);
  t.exit_delay = a.delay_exit;
  t.poke_exit = a.poke_exit.empty() ? nullptr : &a.poke_exit;
  std::copy(std::begin(stop.args), std::end(stop.args), t.args);
  t.owes_exit = t.replace_call || t.exit_delay.count() > 0 || t.poke_exit;
  if (a.delay_enter.count() > 0) {
    hold(t, ThreadState::Hold::entry, a.delay_enter);
    return;
  }
  finish_entry(t);
}

void TraceSession::finish_entry(ThreadState& t) {
  if (t.replace_call) {
    if (auto r = set_syscall_nr(t.tid, t.replace_nr); !r) {
      warn(r.error().message());
      t.owes_exit = false;
    }
  }
  restart(t.tid, t.entry_signal);
  t.entry_signal = 0;
}

void TraceSession::on_exit(ThreadState& t) {
  if (!t.owes_exit) {
    restart(t.tid);
    return;
  }
  t.owes_exit = false;
  if (t.replace_call) {
    t.replace_call = false;
    if (auto r = set_return_value(t.tid, t.exit_value); !r) warn(r.error().message());
  }
  if (t.poke_exit) {
    for (const auto& poke : *t.poke_exit)
      if (auto r = write_bytes(t.tgid, t.args[poke.arg], poke.data); !r) warn(r.error().message());
    t.poke_exit = nullptr;
  }
  if (t.exit_delay.count() > 0 && !stopping_) {
    hold(t, ThreadState::Hold::exit, t.exit_delay);
    return;
  }
  restart(t.tid);
}

void TraceSession::on_syscall_stop(ThreadState& t) {
  if (t.in_syscall && !t.owes_exit) {
    // The common case, kept to one ptrace call: an exit we have nothing to do at.
    t.in_syscall = false;
    restart(t.tid);
    return;
  }
  auto stop = read_syscall_stop(t.tid);
  if (!stop) {
    restart(t.tid);
    return;
  }
  if (stop->kind == SyscallStop::Kind::entry) {
    t.in_syscall = true;
    on_entry(t, *stop);
  } else {
    t.in_syscall = false;
    on_exit(t);
  }
}

void TraceSession::on_thread_gone(pid_t tid) {
  auto it = threads_.find(tid);
  if (it == threads_.end()) return;
  pid_t tgid = it->second.tgid;
  threads_.erase(it);
  auto pit = process_threads_.find(tgid);
  if (pit != process_threads_.end() && --pit->second <= 0) {
    process_threads_.erase(pit);
    faults_.forget_process(tgid);
  }
}

void TraceSession::on_new_tracee(pid_t tid) {
  if (threads_.count(tid)) return;
  auto tgid = tgid_of(tid);
  track(tid, tgid.value_or(tid));
}

void TraceSession::handle_status(pid_t tid, int status) {
  if (WIFEXITED(status) || WIFSIGNALED(status)) {
    if (tid == launched_pid_) report_.launched_status = status;
    on_thread_gone(tid);
    return;
  }
  if (!WIFSTOPPED(status)) return;
  auto it = threads_.find(tid);
  if (it == threads_.end()) {
    // A new child or thread whose first stop beat its parent's clone event.
    on_new_tracee(tid);
    it = threads_.find(tid);
  }
  ThreadState& t = it->second;
  const int sig = WSTOPSIG(status);
  const int event = status >> 16;

  if (stopping_) {
    // Detaching: finish what this thread is owed, then let it go at this stop.
    if (sig == (SIGTRAP | 0x80) && t.in_syscall && t.owes_exit) {
      t.in_syscall = false;
      t.exit_delay = Nanos(0);
      t.owes_exit = true;
      on_exit(t);  // writes the result and restarts; detach at its next stop
      return;
    }
    if (event == PTRACE_EVENT_FORK || event == PTRACE_EVENT_VFORK || event == PTRACE_EVENT_CLONE) {
      unsigned long child = 0;
      ::ptrace(PTRACE_GETEVENTMSG, tid, nullptr, &child);
      on_new_tracee(static_cast<pid_t>(child));
    }
    int deliver = (sig != (SIGTRAP | 0x80) && event == 0) ? sig : 0;
    ::ptrace(PTRACE_DETACH, tid, nullptr, reinterpret_cast<void*>(static_cast<long>(deliver)));
    on_thread_gone(tid);
    return;
  }

  if (sig == (SIGTRAP | 0x80)) {
    on_syscall_stop(t);
    return;
  }
  switch (event) {
    case 0:
      // Signal-delivery-stop: pass the signal on, unchanged.
      restart(tid, sig);
      return;
    case PTRACE_EVENT_STOP:
      if (is_group_stop_signal(sig)) {
        // Group-stop (SIGSTOP and friends): stay stopped as without us, but keep watching.
        ::ptrace(PTRACE_LISTEN, tid, nullptr, nullptr);
      } else {
        restart(tid);  // our PTRACE_INTERRUPT, or the first stop of an auto-attached child
      }
      return;
    case PTRACE_EVENT_FORK:
    case PTRACE_EVENT_VFORK:
    case PTRACE_EVENT_CLONE: {
      unsigned long child = 0;
      if (::ptrace(PTRACE_GETEVENTMSG, tid, nullptr, &child) == 0) on_new_tracee(static_cast<pid_t>(child));
      restart(tid);
      return;
    }
    case PTRACE_EVENT_EXEC: {
      unsigned long former = 0;
      ::ptrace(PTRACE_GETEVENTMSG, tid, nullptr, &former);
      if (static_cast<pid_t>(former) != tid && threads_.count(static_cast<pid_t>(former))) {
        // A non-leader thread called execve and took over the leader's tid.
        ThreadState moved = threads_[static_cast<pid_t>(former)];
        on_thread_gone(static_cast<pid_t>(former));
        moved.tid = tid;
        ThreadState& leader = threads_[tid];
        moved.tgid = leader.tgid;
        leader = moved;
      }
      threads_[tid].comm.clear();
      threads_[tid].before_exec = false;
      restart(tid);
      return;
    }
    default:
      restart(tid);
      return;
  }
}

bool TraceSession::finished() const {
  if (launched_pid_) return report_.launched_status.has_value();
  if (target_gone_) return true;
  return threads_.empty() && !target_.may_gain_processes();
}

void TraceSession::detach_all() {
  stopping_ = true;
  // Threads we hold (delays) are let go now; an entry delay cut short simply runs the call.
  for (auto it = threads_.begin(); it != threads_.end();) {
    ThreadState& t = it->second;
    if (t.hold == ThreadState::Hold::none) {
      ++it;
      continue;
    }
    if (t.hold == ThreadState::Hold::entry) t.owes_exit = false;
    ::ptrace(PTRACE_DETACH, t.tid, nullptr, nullptr);
    pid_t tid = t.tid;
    ++it;
    on_thread_gone(tid);
  }
  // Threads between an invalidated entry and its exit must get their result first.
  auto owes = [&] {
    return std::any_of(threads_.begin(), threads_.end(), [](const auto& kv) { return kv.second.owes_exit; });
  };
  auto until = Clock::now() + kDetachGrace;
  while (owes() && Clock::now() < until) {
    int status = 0;
    pid_t tid = ::waitpid(-1, &status, __WALL | __WNOTHREAD | WNOHANG);
    if (tid > 0) {
      handle_status(tid, status);
      continue;
    }
    if (tid < 0) break;
    struct timespec ts {0, 5'000'000};
    ::sigtimedwait(&wait_set_, nullptr, &ts);
  }
  // Every other tracee is detached by the kernel when this thread ends.
}

Result<EngineReport> TraceSession::run() {
  armed_at_ = Clock::now();
  faults_.arm(armed_at_);
  if (options_.duration) deadline_ = armed_at_ + *options_.duration;
  if (auto r = start(); !r) {
    return r.error();
  }
  next_poll_ = armed_at_ + kPollInterval;
  report_.reason = EndReason::target_exited;

  while (true) {
    // Reap every stop that is ready before sleeping.
    int status = 0;
    pid_t tid;
    for (int spins = 0;;) {
      tid = ::waitpid(-1, &status, __WALL | __WNOTHREAD | WNOHANG);
      if (tid > 0) {
        handle_status(tid, status);
        spins = 0;
        continue;
      }
      // Right after a stop, the same tracee usually stops again within microseconds.
      // Polling a few times before sleeping spares the tracer a sleep and a wake-up per
      // stop, which on a VM costs more than the polls (docs/PERFORMANCE.md: +40%).
      if (tid == 0 && ++spins < kSpinPolls) continue;
      break;
    }
    if (tid < 0 && errno == ECHILD && !target_.may_gain_processes()) {
      // No tracee left at all.
      break;
    }
    auto now = Clock::now();
    release_due_holds(now);
    if (finished()) break;
    if (deadline_ && now >= *deadline_) {
      report_.reason = EndReason::duration;
      break;
    }
    if (options_.stop_requested && options_.stop_requested->load()) {
      report_.reason = EndReason::interrupted;
      break;
    }
    if (now >= next_poll_) {
      poll_target();
      next_poll_ = now + kPollInterval;
      if (finished()) break;
    }
    auto wake = next_poll_;
    if (!timers_.empty()) wake = std::min(wake, timers_.top().due);
    if (deadline_) wake = std::min(wake, *deadline_);
    // A caller's stop request is not a signal: look at it at least this often.
    if (options_.stop_requested) wake = std::min(wake, now + kStopRequestPoll);
    auto wait = std::max(Nanos(0), std::chrono::duration_cast<Nanos>(wake - Clock::now()));
    struct timespec ts {static_cast<time_t>(wait.count() / 1'000'000'000), static_cast<long>(wait.count() % 1'000'000'000)};
    siginfo_t info {};
    int sig = ::sigtimedwait(&wait_set_, &info, &ts);
    if (sig > 0 && sig != SIGCHLD) {
      report_.reason = EndReason::interrupted;
      report_.stop_signal = sig;
      break;
    }
  }
  detach_all();
  report_.rule_stats = faults_.stats();
  return report_;
}

}  // namespace syschaos::ptrace_engine
