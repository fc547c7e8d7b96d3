// syschaos inject: make chosen system calls of a target fail, return a value, raise a
// signal or slow down, then detach leaving the target healthy.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>

#include <cstdio>
#include <random>

#include "cli/app.hpp"
#include "cli/commands.hpp"
#include "core/errno_names.hpp"
#include "core/fault_parser.hpp"
#include "core/rule_file.hpp"
#include "inject/event_log.hpp"
#include "inject/ptrace/ptrace_engine.hpp"
#include "observe/interval_writer.hpp"
#include "observe/monitor.hpp"

#include <thread>

namespace syschaos::cli {

namespace {

struct InjectOptions {
  std::optional<pid_t> pid;
  std::optional<std::string> container;
  std::optional<std::string> cgroup;
  std::vector<std::string> command;
  std::vector<std::string> faults;
  std::vector<std::string> fault_files;
  std::string duration;
  std::optional<uint64_t> seed;
  std::string events;
  bool dry_run = false;
  bool quiet = false;
  std::string monitor_out;
};

// Passes events on to --events, and tells the in-process monitor about calls the engine
// answered itself (the kernel's counters cannot name them).
class EventTee final : public EventSink {
 public:
  EventTee(EventSink* next, Monitor* monitor) : next_(next), monitor_(monitor) {}
  void on_event(const InjectionEvent& e) override {
    if (next_) next_->on_event(e);
    if (monitor_ && e.replaced) monitor_->note_replaced_call(e.nr, e.result < 0 ? static_cast<int>(-e.result) : 0);
  }

 private:
  EventSink* next_;
  Monitor* monitor_;
};

// Writes each interval of the in-process monitor to the --monitor file.
class MonitorFileSink final : public IntervalSink {
 public:
  explicit MonitorFileSink(IntervalWriter& w) : w_(w) {}
  void on_interval(const Interval& iv) override { (void)w_.write(iv); }

 private:
  IntervalWriter& w_;
};

int fail_usage(const std::string& message) {
  std::fprintf(stderr, "syschaos: %s\n", message.c_str());
  return kExitUsage;
}

void print_summary(const RuleSet& rules, const EngineReport& report, const Target& target,
                   uint64_t seed, bool dry_run) {
  std::fprintf(stderr, "syschaos: detached from %s (%s); %llu process(es), %llu thread(s), "
               "%llu syscalls seen; seed %llu\n",
               target.describe().c_str(), std::string(end_reason_name(report.reason)).c_str(),
               static_cast<unsigned long long>(report.processes_seen),
               static_cast<unsigned long long>(report.threads_seen),
               static_cast<unsigned long long>(report.syscalls_seen),
               static_cast<unsigned long long>(seed));
  std::fprintf(stderr, "%-5s %10s %10s  %s\n", "rule", "matched", dry_run ? "would-fire" : "injected",
               "fault");
  for (size_t i = 0; i < rules.size(); ++i) {
    const auto& st = report.rule_stats.at(i);
    std::fprintf(stderr, "%-5zu %10llu %10llu  %s\n", i, static_cast<unsigned long long>(st.matched),
                 static_cast<unsigned long long>(st.fired), rules[i].source.c_str());
  }
}

int run_inject(InjectOptions& o) {
  // Everything the user wrote is checked before anything is touched.
  RuleSet rules;
  for (const auto& text : o.faults) {
    auto rule = parse_fault(text);
    if (!rule) return fail_usage(rule.error().message());
    rules.push_back(std::move(*rule));
  }
  for (const auto& file : o.fault_files) {
    auto loaded = load_rule_file(file);
    if (!loaded) return fail_usage(loaded.error().message());
    for (auto& r : *loaded) rules.push_back(std::move(r));
  }
  if (rules.empty()) return fail_usage("no fault given: use --fault 'SYSCALLS:error=ERRNO' or --faults FILE");

  EngineOptions options;
  if (!o.duration.empty()) {
    auto d = parse_duration(o.duration, "s");
    if (!d) return fail_usage("--duration: " + d.error().message());
    if (d->count() == 0) return fail_usage("--duration must be longer than 0");
    options.duration = *d;
  }
  int targets = o.pid.has_value() + o.container.has_value() + o.cgroup.has_value() + !o.command.empty();
  if (targets != 1) return fail_usage("give exactly one target: --pid, --container, --cgroup or -- COMMAND");

  TargetSpec spec{o.pid, o.container, o.cgroup, o.command};
  auto target = resolve_target(spec);
  if (!target) return fail_usage(target.error().message());

  std::unique_ptr<JsonlEventLog> events;
  if (!o.events.empty()) {
    auto log = JsonlEventLog::open(o.events);
    if (!log) return fail_usage(log.error().message());
    events = std::move(*log);
    options.events = events.get();
  }
  uint64_t seed = o.seed ? *o.seed : (static_cast<uint64_t>(std::random_device{}()) << 32 | std::random_device{}());
  options.dry_run = o.dry_run;
  options.stop_signals = {SIGINT, SIGTERM, SIGHUP};

  // --monitor: the eBPF monitor watches the same target from a thread of this process
  // while the engine injects, so the time series shows the faults' effect.
  std::unique_ptr<Monitor> monitor;
  std::unique_ptr<IntervalWriter> monitor_writer;
  if (!o.monitor_out.empty()) {
    if (!o.command.empty()) return fail_usage("--monitor needs a running target (--pid, --container or --cgroup); use 'syschaos monitor -- COMMAND' for a command");
    if (!o.monitor_out.ends_with(".jsonl") && !o.monitor_out.ends_with(".csv"))
      return fail_usage("--monitor: the file name must end in .jsonl or .csv");
    MonitorOptions mo;
    auto m = Monitor::create(**target, mo);
    if (!m) {
      std::fprintf(stderr, "syschaos: --monitor: %s\n", m.error().message().c_str());
      return kExitFailure;
    }
    monitor = std::move(*m);
    auto w = IntervalWriter::open(o.monitor_out, (*target)->describe());
    if (!w) return fail_usage(w.error().message());
    monitor_writer = std::move(*w);
  }

  EventTee tee(options.events, monitor.get());
  if (monitor) options.events = &tee;

  FaultEvaluator faults(rules, seed);
  auto engine = PtraceEngine::create();
  if (!o.quiet)
    std::fprintf(stderr, "syschaos: %s %zu rule(s) into %s with the %s engine%s\n",
                 o.dry_run ? "dry run of" : "injecting", rules.size(), (*target)->describe().c_str(),
                 std::string(engine->name()).c_str(),
                 options.duration ? (" for " + format_duration(*options.duration)).c_str() : "");
  std::thread monitor_thread;
  std::optional<MonitorFileSink> monitor_sink;
  if (monitor) {
    monitor_sink.emplace(*monitor_writer);
    // The monitor's thread must not take the SIGCHLDs of ptrace stops, which the tracer
    // waits for with sigtimedwait: a process-directed signal goes to any thread that does
    // not block it, and would be lost there (the tracer would then sleep until its next poll).
    sigset_t chld, old;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    pthread_sigmask(SIG_BLOCK, &chld, &old);
    monitor_thread = std::thread([&] { (void)monitor->run({&*monitor_sink}); });
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
  }
  auto report = engine->run(**target, faults, options);
  if (monitor) {
    monitor->stop();
    monitor_thread.join();
  }
  if (!report) {
    std::fprintf(stderr, "syschaos: %s\n", report.error().message().c_str());
    return kExitFailure;
  }
  if (!o.quiet) print_summary(rules, *report, **target, seed, o.dry_run);

  if (!o.command.empty()) {
    if (report->launched_status) {
      int st = *report->launched_status;
      if (WIFEXITED(st)) return WEXITSTATUS(st);
      if (WIFSIGNALED(st)) return 128 + WTERMSIG(st);
    }
    // Stopped before the command ended: it keeps running, untraced.
    if (report->stop_signal) return 128 + report->stop_signal;
  }
  return 0;
}

}  // namespace

void register_inject(CLI::App& app, Action& action) {
  auto o = std::make_shared<InjectOptions>();
  auto* sub = app.add_subcommand("inject", "Inject system-call faults into a process, container, cgroup or command");
  sub->add_option("--pid", o->pid, "Target a running process (all its threads, and children it forks)");
  sub->add_option("--container", o->container, "Target a Docker container by name or id (every process, also ones started later)");
  sub->add_option("--cgroup", o->cgroup, "Target every process of a cgroup (v1 or v2 directory)");
  sub->add_option("--fault,-f", o->faults,
                  "A fault in strace's syntax, e.g. 'openat:error=ENOENT:when=3+'; extra keys: "
                  "prob=P, max=N, after=D, for=D, path=GLOB, fd=KIND, comm=GLOB, error=EIO*3|EINTR");
  sub->add_option("--faults", o->fault_files, "A YAML or JSON file with a list of faults");
  sub->add_option("--duration,-d", o->duration, "Detach after this long (e.g. 30s, 2m); default: until interrupted or the target exits");
  sub->add_option("--seed", o->seed, "Seed for prob= and weighted errors, to repeat a run exactly");
  sub->add_option("--events", o->events, "Write one JSON line per matched call to this file");
  sub->add_flag("--dry-run", o->dry_run, "Match and count, but change nothing");
  sub->add_flag("--quiet,-q", o->quiet, "No messages or summary on stderr");
  sub->add_option("--monitor", o->monitor_out, "Also watch the target's syscalls and resources with the eBPF monitor, one record per second to FILE.jsonl or .csv");
  sub->add_option("command", o->command, "Launch mode: the command to run, after --");
  sub->callback([o, &action] { action = [o] { return run_inject(*o); }; });
}

}  // namespace syschaos::cli
