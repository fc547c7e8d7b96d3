// syschaos failstop: fail-stop failures (freeze, crash without FIN/RST, kill) of
// containers, cgroups and processes, on a trigger or a schedule; packet omission and
// duplication; and `restore`, which puts back what a killed syschaos left. See
// docs/FAILSTOP.md.
#include <signal.h>
#include <poll.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <random>

#include "cli/app.hpp"
#include "cli/commands.hpp"
#include "core/duration.hpp"
#include "core/errno_names.hpp"
#include "core/unique_fd.hpp"
#include "failstop/failstop.hpp"
#include "failstop/net_faults.hpp"
#include "failstop/restore_state.hpp"
#include "failstop/safety_guard.hpp"
#include "failstop/scenario_runner.hpp"
#include "failstop/schedule.hpp"
#include "failstop/trigger_stops.hpp"

namespace syschaos::cli {

namespace {

using namespace syschaos::failstop;

int fail(int code, const std::string& message) {
  std::fprintf(stderr, "syschaos: %s\n", message.c_str());
  return code;
}

struct TargetOptions {
  std::vector<pid_t> pids;
  std::vector<std::string> containers;
  std::vector<std::string> cgroups;

  void add_to(CLI::App* sub) {
    sub->add_option("--pid", pids, "A target process (repeat, or N,M,...: each pid is one target)")->delimiter(',');
    sub->add_option("--container", containers, "A target Docker container (repeatable)");
    sub->add_option("--cgroup", cgroups, "A target cgroup, v1 or v2 (repeatable)");
  }
  size_t count() const { return pids.size() + containers.size() + cgroups.size(); }
  // Named t1, t2, ... in the order given.
  std::vector<std::pair<std::string, TargetSpec>> specs() const {
    std::vector<std::pair<std::string, TargetSpec>> out;
    auto name = [&] { return fmt::format("t{}", out.size() + 1); };
    for (pid_t p : pids) out.emplace_back(name(), TargetSpec{p, {}, {}, {}});
    for (const auto& c : containers) out.emplace_back(name(), TargetSpec{{}, c, {}, {}});
    for (const auto& g : cgroups) out.emplace_back(name(), TargetSpec{{}, {}, g, {}});
    return out;
  }
};

struct RunCommon {
  std::optional<uint64_t> seed;
  std::string duration;
  std::string events;
};

struct FailOptions {
  Mode mode = Mode::kFreeze;
  TargetOptions targets;
  RunCommon common;
  std::string select = "all";
  std::string freezer = "auto";
  std::string signal = "KILL";
  std::string after, after_cpu, after_syscall, every, prob, rate, hold;
};

struct ScheduleOptions {
  std::string file;
  RunCommon common;
};

// SIGINT/SIGTERM/SIGHUP become readable on a signalfd: the run loop ends cleanly and
// undoes everything (a signal handler could not).
Result<UniqueFd> stop_signals_fd() {
  sigset_t set;
  sigemptyset(&set);
  for (int s : {SIGINT, SIGTERM, SIGHUP}) {
    sigaddset(&set, s);
    // A shell starts background jobs with SIGINT ignored; an ignored signal never becomes
    // pending, so the signalfd would not see it.
    ::signal(s, SIG_DFL);
  }
  if (::sigprocmask(SIG_BLOCK, &set, nullptr) != 0) return Error::sys("sigprocmask");
  UniqueFd fd(::signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK));
  if (!fd) return Error::sys("signalfd");
  return fd;
}

uint64_t fresh_seed() { return (static_cast<uint64_t>(std::random_device{}()) << 32) ^ std::random_device{}(); }

std::string describe_event(const nlohmann::json& e) {
  std::string kind = e.value("event", "");
  double t = e.value("t", 0.0);
  if (kind == "fail") {
    std::string what = fmt::format("+{:.3f}s {} {} ({} process(es){}{})", t, e.value("mode", ""),
                                   e.value("target", ""), e["pids"].size(),
                                   e.value("cgroup", "").empty() ? "" : ", cgroup " + e.value("cgroup", ""),
                                   e.contains("blackholed_endpoints")
                                       ? fmt::format(", {} endpoint(s) blackholed", e["blackholed_endpoints"].get<size_t>())
                                       : "");
    return what + " on " + e.value("trigger", "");
  }
  if (kind == "undo") return fmt::format("+{:.3f}s undo {} of {}", t, e.value("mode", ""), e.value("target", ""));
  if (kind == "step") return fmt::format("+{:.3f}s step: {}", t, e.value("step", ""));
  if (kind == "end") return fmt::format("+{:.3f}s end ({})", t, e.value("reason", ""));
  return e.dump();
}

void warn_namespace_blind() {
  std::fprintf(stderr,
               "syschaos: warning: this kernel's cgroup_skb programs cannot read a packet's network "
               "namespace (bpf_get_netns_cookie): the target's address:port is matched in every "
               "namespace, other containers' sockets on the same address:port included\n");
}

// Resolves targets, opens the session, runs the schedule, undoes everything.
int run_schedule(Schedule schedule, const RunCommon& common) {
  std::optional<Nanos> duration;
  if (!common.duration.empty()) {
    auto d = parse_duration(common.duration, "s");
    if (!d) return fail(kExitUsage, "--duration: " + d.error().message());
    if (d->count() <= 0) return fail(kExitUsage, "--duration must be longer than 0");
    duration = *d;
  }
  uint64_t seed = common.seed ? *common.seed : schedule.seed ? *schedule.seed : fresh_seed();
  std::vector<NamedTarget> targets;
  for (auto& [name, spec] : schedule.targets) {
    auto t = resolve_target(spec);
    if (!t) return fail(kExitUsage, t.error().message());
    if ((*t)->command()) return fail(kExitUsage, "failstop does not launch commands; start it and give --pid");
    if (auto pids = (*t)->processes(); pids && std::find(pids->begin(), pids->end(), 1) != pids->end())
      return fail(kExitUsage, (*t)->describe() + " contains pid 1 (init): refusing to fail the host's init");
    targets.push_back({name, std::move(*t)});
  }
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> events(nullptr, &std::fclose);
  if (!common.events.empty()) {
    events.reset(std::fopen(common.events.c_str(), "w"));
    if (!events) return fail(kExitUsage, Error::sys("open " + common.events).message());
  }
  auto stop = stop_signals_fd();
  if (!stop) return fail(kExitFailure, stop.error().message());
  auto session = Session::open(SessionOptions{});
  if (!session) return fail(kExitFailure, session.error().message());
  for (const auto& r : (*session)->restored_at_open())
    std::fprintf(stderr, "syschaos: restored what an earlier run left (%s): %s\n", r.path.c_str(),
                 r.outcome ? "done" : r.outcome.error().message().c_str());
  std::fprintf(stderr, "syschaos: failstop with seed %llu, %zu step(s), guard pid %d\n",
               static_cast<unsigned long long>(seed), schedule.steps.size(), (*session)->guard_pid());
  bool crashes = std::any_of(schedule.steps.begin(), schedule.steps.end(), [](const Step& s) {
    return s.action == Step::Action::kFail && s.failure.mode == Mode::kCrash;
  });
  if (crashes && !kernel_matches_namespaces()) warn_namespace_blind();
  RunOptions options;
  options.seed = seed;
  options.duration = duration;
  options.stop_fd = stop->get();
  options.on_event = [&](const nlohmann::json& e) {
    std::fprintf(stderr, "syschaos: %s\n", describe_event(e).c_str());
    if (events) {
      std::string line = e.dump() + "\n";
      std::fwrite(line.data(), 1, line.size(), events.get());
      std::fflush(events.get());
    }
  };
  ScenarioRunner runner(**session, targets, options);
  auto report = runner.run(schedule);
  auto closed = (*session)->close();
  if (!report) return fail(kExitFailure, report.error().message() + (closed ? "" : "; " + closed.error().message()));
  if (!closed) return fail(kExitFailure, closed.error().message());
  std::fprintf(stderr, "syschaos: failstop ended (%s): %zu failure(s), everything restored\n",
               report->end_reason.c_str(), report->failures);
  return 0;
}

int run_fail(const FailOptions& o) {
  if (o.targets.count() == 0) return fail(kExitUsage, "give at least one target: --pid, --container or --cgroup");
  Step step;
  step.failure.mode = o.mode;
  auto sel = parse_selection(o.select);
  if (!sel) return fail(kExitUsage, sel.error().message());
  step.select = *sel;
  auto freezer = parse_freezer_choice(o.freezer);
  if (!freezer) return fail(kExitUsage, "--freezer: " + freezer.error().message());
  step.failure.freezer = *freezer;
  auto sig = parse_signal(o.signal);
  if (!sig) return fail(kExitUsage, "--signal: " + sig.error().message());
  step.failure.signal = *sig;
  int triggers = !o.after.empty() + !o.after_cpu.empty() + !o.after_syscall.empty() + !o.every.empty() + !o.rate.empty();
  if (triggers > 1) return fail(kExitUsage, "give at most one of --after, --after-cpu, --after-syscall, --every, --rate");
  if (o.every.empty() != o.prob.empty()) return fail(kExitUsage, "--every and --prob go together");
  Result<Trigger> trigger = Trigger{};
  if (!o.after.empty()) trigger = trigger_after(o.after);
  if (!o.after_cpu.empty()) trigger = trigger_after_cpu(o.after_cpu);
  if (!o.after_syscall.empty()) trigger = trigger_after_syscall(o.after_syscall);
  if (!o.every.empty()) trigger = trigger_tick(o.every, o.prob);
  if (!o.rate.empty()) trigger = trigger_rate(o.rate);
  if (!trigger) return fail(kExitUsage, trigger.error().message());
  step.trigger = *trigger;
  if (!o.hold.empty()) {
    if (o.mode == Mode::kKill) return fail(kExitUsage, "--for: a kill cannot be undone");
    auto d = parse_duration(o.hold, "s");
    if (!d) return fail(kExitUsage, "--for: " + d.error().message());
    step.hold = *d;
  }
  Schedule schedule;
  schedule.targets = o.targets.specs();
  for (const auto& [name, spec] : schedule.targets) step.targets.push_back(name);
  if (step.select.kind == Selection::Kind::kCount && step.select.value > static_cast<double>(step.targets.size()))
    return fail(kExitUsage, fmt::format("--select {} but only {} target(s) given", step.select.value, step.targets.size()));
  schedule.steps.push_back(step);
  return run_schedule(std::move(schedule), o.common);
}

int run_schedule_file(const ScheduleOptions& o) {
  auto schedule = load_schedule(o.file);
  if (!schedule) return fail(kExitUsage, schedule.error().message());
  return run_schedule(std::move(*schedule), o.common);
}

void add_common(CLI::App* sub, RunCommon& c) {
  sub->add_option("--seed", c.seed, "Seed for target selection and probabilistic triggers (default: random, printed)");
  sub->add_option("--duration,-d", c.duration, "End the run after this long, undoing what is still on");
  sub->add_option("--events", c.events, "Write every failure and undo as one JSON line to FILE");
}

void add_fail_command(CLI::App& parent, Mode mode, const char* help, Action& action) {
  auto o = std::make_shared<FailOptions>();
  o->mode = mode;
  auto* sub = parent.add_subcommand(std::string(mode_name(mode)), help);
  o->targets.add_to(sub);
  add_common(sub, o->common);
  sub->add_option("--select", o->select, "Which targets fail: all (default), one, N, P%, random:P%");
  sub->add_option("--after", o->after, "Fail after this much wall-clock time");
  sub->add_option("--after-cpu", o->after_cpu, "Fail once each target has used this much CPU time");
  sub->add_option("--after-syscall", o->after_syscall, "Fail at each target's N-th call of a syscall: NAME:N");
  sub->add_option("--every", o->every, "Tick period of a probabilistic failure (with --prob)");
  sub->add_option("--prob", o->prob, "Probability of failing at each tick (0..1 or P%)");
  sub->add_option("--rate", o->rate, "Failure rate per second: exponentially distributed time to failure");
  if (mode != Mode::kKill) {
    sub->add_option("--for", o->hold,
                    mode == Mode::kFreeze ? "Thaw this long after freezing (default: at the end of the run)"
                                          : "Lift the blackhole this long after the crash (default: at the end of the run)");
    sub->add_option("--freezer", o->freezer, "auto (default), v1 or v2");
  } else {
    sub->add_option("--signal", o->signal, "Signal to send (default KILL)");
  }
  sub->callback([o, &action] { action = [o] { return run_fail(*o); }; });
}

// ---- omission and duplication ---------------------------------------------------------------

struct NetFaultOptions {
  bool duplicate = false;
  TargetOptions targets;
  RunCommon common;
  std::string fraction;                 // --drop / --fraction
  std::string direction = "both";
  std::vector<uint16_t> ports;
  std::string interface = "lo";
};

int run_net_fault(const NetFaultOptions& o) {
  if (o.targets.count() != 1) return fail(kExitUsage, "give exactly one target: --pid, --container or --cgroup");
  auto fraction = parse_probability(o.fraction);
  if (!fraction) return fail(kExitUsage, (o.duplicate ? "--fraction: " : "--drop: ") + fraction.error().message());
  if (o.direction != "in" && o.direction != "out" && o.direction != "both")
    return fail(kExitUsage, "--direction must be in, out or both");
  for (uint16_t port : o.ports)
    if (port == 0) return fail(kExitUsage, "--ports: 0 is not a port");
  std::optional<Nanos> duration;
  if (!o.common.duration.empty()) {
    auto d = parse_duration(o.common.duration, "s");
    if (!d) return fail(kExitUsage, "--duration: " + d.error().message());
    if (d->count() <= 0) return fail(kExitUsage, "--duration must be longer than 0");
    duration = *d;
  }
  auto specs = o.targets.specs();
  auto target = resolve_target(specs[0].second);
  if (!target) return fail(kExitUsage, target.error().message());
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> events(nullptr, &std::fclose);
  if (!o.common.events.empty()) {
    events.reset(std::fopen(o.common.events.c_str(), "w"));
    if (!events) return fail(kExitUsage, Error::sys("open " + o.common.events).message());
  }
  uint64_t seed = o.common.seed ? *o.common.seed : fresh_seed();
  auto stop = stop_signals_fd();
  if (!stop) return fail(kExitFailure, stop.error().message());

  std::unique_ptr<Omission> omission;
  std::unique_ptr<Duplication> duplication;
  if (o.duplicate) {
    auto d = Duplication::start(**target, DuplicationOptions{*fraction, o.interface, seed});
    // No such interface in the target's network namespace: bad input (nothing attached).
    if (!d) return fail(d.error().sys_errno() == ENODEV ? kExitUsage : kExitFailure, d.error().message());
    duplication = std::move(*d);
  } else {
    OmissionOptions om;
    om.drop_out = o.direction != "in" ? *fraction : 0;
    om.drop_in = o.direction != "out" ? *fraction : 0;
    om.ports.insert(o.ports.begin(), o.ports.end());
    om.seed = seed;
    if (!kernel_matches_namespaces()) warn_namespace_blind();
    auto m = Omission::start(**target, om);
    if (!m) return fail(kExitFailure, m.error().message());
    omission = std::move(*m);
  }
  std::fprintf(stderr, "syschaos: %s %g%% of %s's packets%s (seed %llu, %zu endpoint(s))\n",
               o.duplicate ? "duplicating" : "dropping", *fraction * 100, (*target)->describe().c_str(),
               o.duplicate ? (" on " + o.interface + " egress").c_str() : (", direction " + o.direction).c_str(),
               static_cast<unsigned long long>(seed), duplication ? duplication->endpoints() : omission->endpoints());
  auto start = std::chrono::steady_clock::now();
  std::string reason = "signal";
  for (;;) {
    auto refreshed = duplication ? duplication->refresh() : omission->refresh();
    if (!refreshed) {
      // The target has gone: nothing left to act on.
      reason = "target gone: " + refreshed.error().message();
      break;
    }
    int wait_ms = 200;
    if (duration) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(*duration - (std::chrono::steady_clock::now() - start));
      if (left.count() <= 0) {
        reason = "duration";
        break;
      }
      wait_ms = static_cast<int>(std::min<int64_t>(wait_ms, left.count()));
    }
    pollfd p{stop->get(), POLLIN, 0};
    if (::poll(&p, 1, wait_ms) > 0) break;
  }
  nlohmann::json summary = {{"event", o.duplicate ? "duplication" : "omission"}, {"target", (*target)->describe()},
                            {"fraction", *fraction}, {"seed", seed}, {"reason", reason}};
  if (duplication) {
    auto c = duplication->counters();
    summary["seen"] = c.seen;
    summary["duplicated"] = c.duplicated;
    std::fprintf(stderr, "syschaos: duplicated %llu of %llu outgoing packet(s); ended (%s)\n",
                 static_cast<unsigned long long>(c.duplicated), static_cast<unsigned long long>(c.seen), reason.c_str());
  } else {
    auto c = omission->counters();
    summary["seen_out"] = c.seen_out;
    summary["dropped_out"] = c.dropped_out;
    summary["seen_in"] = c.seen_in;
    summary["dropped_in"] = c.dropped_in;
    std::fprintf(stderr, "syschaos: dropped %llu of %llu outgoing and %llu of %llu incoming packet(s); ended (%s)\n",
                 static_cast<unsigned long long>(c.dropped_out), static_cast<unsigned long long>(c.seen_out),
                 static_cast<unsigned long long>(c.dropped_in), static_cast<unsigned long long>(c.seen_in), reason.c_str());
  }
  if (events) std::fprintf(events.get(), "%s\n", summary.dump().c_str());
  return 0;
}

void add_net_fault_command(CLI::App& parent, bool duplicate, Action& action) {
  auto o = std::make_shared<NetFaultOptions>();
  o->duplicate = duplicate;
  auto* sub = parent.add_subcommand(duplicate ? "duplicate" : "omit",
                                    duplicate ? "Send a fraction of a target's outgoing packets twice (tc BPF)"
                                              : "Drop a fraction of a target's packets (cgroup BPF)");
  o->targets.add_to(sub);
  add_common(sub, o->common);
  if (duplicate) {
    sub->add_option("--fraction", o->fraction, "Fraction of outgoing packets sent twice (0..1 or P%)")->required();
    sub->add_option("--interface", o->interface,
                    "Interface whose egress duplicates, in the target's network namespace (default lo)");
  } else {
    sub->add_option("--drop", o->fraction, "Fraction of packets dropped (0..1 or P%)")->required();
    sub->add_option("--direction", o->direction, "in, out or both (default)");
    sub->add_option("--ports", o->ports, "Only packets to or from these ports (N,M,...)")->delimiter(',');
  }
  sub->callback([o, &action] { action = [o] { return run_net_fault(*o); }; });
}

// ---- restore ----------------------------------------------------------------------------

struct RestoreOptions {
  int guard_fd = -1;
  std::string state;
  bool force = false;
};

int run_restore(const RestoreOptions& o) {
  if (o.guard_fd >= 0) {
    if (o.state.empty()) return fail(kExitUsage, "--guard-fd goes with --state");
    auto outcome = run_guard(o.guard_fd, o.state);
    if (!outcome) return fail(kExitFailure, "guard: " + outcome.error().message());
    if (*outcome != "dismissed") std::fprintf(stderr, "syschaos: guard: %s\n", outcome->c_str());
    return 0;
  }
  auto done = restore_stale_states(o.force);
  // Then what an N-th-syscall trigger stopped from the kernel (SIGCONT after the thaw).
  auto continued = continue_stale_trigger_stops(o.force);
  for (const auto& line : continued) std::printf("%s\n", line.c_str());
  int failures = 0;
  for (const auto& r : done) {
    if (r.outcome) {
      std::printf("restored %s (syschaos pid %d): thawed %zu cgroup(s), emptied %zu transient cgroup(s)\n",
                  r.path.c_str(), r.state.owner, r.state.frozen.size(), r.state.moved.size());
    } else {
      ++failures;
      std::fprintf(stderr, "syschaos: %s: %s\n", r.path.c_str(), r.outcome.error().message().c_str());
    }
  }
  if (done.empty() && continued.empty()) std::printf("nothing to restore (%s holds no state of a dead syschaos)\n", state_dir().c_str());
  return failures ? kExitFailure : 0;
}

}  // namespace

void register_failstop(CLI::App& app, Action& action) {
  auto* fs = app.add_subcommand("failstop", "Fail-stop failures: freeze, crash (no FIN/RST), kill; packet omission and duplication");
  fs->require_subcommand(1);
  add_fail_command(*fs, Mode::kFreeze, "Stop the targets' processes at once (cgroup freezer); sockets stay open", action);
  add_fail_command(*fs, Mode::kCrash, "Kill the targets so that their peers see no FIN or RST (power-cut semantics)", action);
  add_fail_command(*fs, Mode::kKill, "Kill the targets with a signal (the OS closes their connections)", action);

  auto sched = std::make_shared<ScheduleOptions>();
  auto* run = fs->add_subcommand("run", "Run a schedule file of failures (see docs/FAILSTOP.md)");
  run->add_option("schedule", sched->file, "The schedule (YAML)")->required();
  add_common(run, sched->common);
  run->callback([sched, &action] { action = [sched] { return run_schedule_file(*sched); }; });


  add_net_fault_command(*fs, false, action);
  add_net_fault_command(*fs, true, action);

  auto ro = std::make_shared<RestoreOptions>();
  auto* restore = fs->add_subcommand("restore", "Thaw and move back what a killed syschaos failstop left behind");
  restore->add_flag("--force", ro->force, "Also restore state whose owner still runs");
  restore->add_option("--guard-fd", ro->guard_fd, "(internal) run as the safety guard on this socket")->group("");
  restore->add_option("--state", ro->state, "(internal) the guard's state file")->group("");
  restore->callback([ro, &action] { action = [ro] { return run_restore(*ro); }; });
}

}  // namespace syschaos::cli
