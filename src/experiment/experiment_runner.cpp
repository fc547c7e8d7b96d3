#include "experiment/experiment_runner.hpp"

#include <sys/stat.h>

#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <ctime>
#include <filesystem>
#include <mutex>
#include <thread>

#include "core/clock.hpp"
#include "core/fault_parser.hpp"
#include "core/syscall_table.hpp"
#include "core/atomic_file.hpp"
#include "experiment/command_workload.hpp"
#include "experiment/crash_watch.hpp"
#include "experiment/http_workload.hpp"
#include "experiment/series.hpp"
#include "experiment/verdict.hpp"
#include "inject/ptrace/ptrace_engine.hpp"
#include "observe/interval_writer.hpp"
#include "observe/monitor.hpp"

namespace syschaos::experiment {

namespace {

using Clock = std::chrono::steady_clock;

// Keeps every interval the monitor produces (for the verdict) and writes it to the
// experiment's monitor.jsonl as it comes.
class IntervalCollector final : public IntervalSink {
 public:
  explicit IntervalCollector(IntervalWriter* writer) : writer_(writer) {}
  void on_interval(const Interval& interval) override {
    std::lock_guard lock(mutex_);
    intervals_.push_back(interval);
    if (writer_) (void)writer_->write(interval);
  }
  std::vector<Interval> take() {
    std::lock_guard lock(mutex_);
    return std::move(intervals_);
  }

 private:
  IntervalWriter* writer_;
  std::mutex mutex_;
  std::vector<Interval> intervals_;
};

// Calls the engine answered itself are invisible to the kernel's syscall counters under
// their name; the monitor adds them back (see Monitor::note_replaced_call).
class ReplacedCallsToMonitor final : public EventSink {
 public:
  explicit ReplacedCallsToMonitor(Monitor* monitor) : monitor_(monitor) {}
  void on_event(const InjectionEvent& e) override {
    if (monitor_ && e.replaced) monitor_->note_replaced_call(e.nr, e.result < 0 ? static_cast<int>(-e.result) : 0);
  }

 private:
  Monitor* monitor_;
};

double seconds_since(Clock::time_point zero) {
  return std::chrono::duration<double>(Clock::now() - zero).count();
}

// The names of the syscalls the faults act on: their errors in the perturbation are the
// fault itself. A fault on a class of hundreds of calls names none (it would name them all).
std::vector<std::string> perturbed_syscall_names(const RuleSet& rules) {
  const auto& table = SyscallTable::native();
  std::vector<std::string> names;
  for (const auto& rule : rules) {
    if (rule.syscalls.count() > 64) continue;
    for (int nr = 0; nr <= table.max_nr() && nr < static_cast<int>(rule.syscalls.size()); ++nr)
      if (rule.syscalls.test(nr)) names.push_back(table.name(nr));
  }
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  return names;
}

std::string requests_csv(const std::vector<RequestRecord>& requests) {
  std::string out = "start_s,latency_s,status,error,ok,url\n";
  for (const auto& r : requests)
    out += fmt::format("{:.6f},{:.6f},{},{},{},{}\n", r.start_s, r.latency_s, r.status, request_error_name(r.error),
                       r.ok() ? 1 : 0, r.url);
  return out;
}

std::string percent(double v) { return fmt::format("{:.1f}%", v * 100); }

std::string seconds_human(double s) {
  if (s >= 1) return fmt::format("{:.2f} s", s);
  if (s >= 1e-3) return fmt::format("{:.1f} ms", s * 1e3);
  return fmt::format("{:.0f} µs", s * 1e6);
}

const Evidence* find_evidence(const Verdict& verdict, std::string_view metric) {
  for (const auto& e : verdict.evidence)
    if (e.metric == metric) return &e;
  return nullptr;
}

}  // namespace

std::string iso_utc_now() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

EffectSummary summarize_effects(const ExperimentObservations& observations, const Verdict& verdict) {
  EffectSummary effects;
  std::vector<std::string> http;
  if (const auto* e = find_evidence(verdict, "http.success_rate"); e && e->baseline && e->perturbation)
    http.push_back(fmt::format("success {} → {}", percent(*e->baseline), percent(*e->perturbation)));
  for (const char* name : {"http.latency_p99", "http.latency_p50"}) {
    if (const auto* e = find_evidence(verdict, name); e && e->baseline && e->perturbation) {
      http.push_back(fmt::format("{} {} → {}", std::string(name).substr(13), seconds_human(*e->baseline),
                                 seconds_human(*e->perturbation)));
      break;
    }
  }
  if (http.empty() && !observations.requests.empty()) http.push_back("no change measured");
  for (size_t i = 0; i < http.size(); ++i) effects.http += (i ? ", " : "") + http[i];

  std::vector<std::string> sys;
  sys.push_back(fmt::format("{} call(s) perturbed", observations.faults_injected));
  // The most changed syscall that is not the fault itself.
  for (const auto& e : verdict.evidence) {
    if (e.metric.rfind("syscall.", 0) != 0 || e.expected || !e.significant) continue;
    if (e.baseline && e.perturbation)
      sys.push_back(fmt::format("{} {:.3g} → {:.3g}", e.metric, *e.baseline, *e.perturbation));
    else
      sys.push_back(e.metric + " changed");
    break;
  }
  for (size_t i = 0; i < sys.size(); ++i) effects.syscall += (i ? "; " : "") + sys[i];
  return effects;
}

Result<ExperimentResult> run_experiment(const ExperimentSpec& spec, const PlannedExperiment& planned,
                                        ServiceUnderTest& service, const ExperimentRunOptions& options) {
  namespace fs = std::filesystem;
  const std::string exp_dir_rel = "experiments/" + planned.id;
  const std::string exp_dir = options.output_dir + "/" + exp_dir_rel;
  std::error_code ec;
  fs::create_directories(exp_dir, ec);
  if (ec) return Error(fmt::format("create {}: {}", exp_dir, ec.message()));
  auto phase = [&](const std::string& name) {
    if (options.on_phase) options.on_phase(name);
  };

  RuleSet rules;
  for (const auto& text : planned.faults) {
    auto rule = parse_fault(text);
    if (!rule) return rule.error().context("fault '" + text + "'");
    rules.push_back(std::move(*rule));
  }

  ExperimentResult result;
  result.id = planned.id;
  result.name = planned.name;
  result.faults = planned.faults;
  result.target = service.section().describe();
  result.started_at = iso_utc_now();

  // The monitor first: loading BPF takes a moment, and the baseline must be observed whole.
  std::unique_ptr<Target> monitor_target;
  std::unique_ptr<Monitor> monitor;
  std::unique_ptr<IntervalWriter> monitor_writer;
  if (spec.monitor) {
    auto t = service.resolve();
    if (!t) return t.error();
    monitor_target = std::move(*t);
    MonitorOptions mo;
    mo.interval = spec.monitor_interval;
    auto m = Monitor::create(*monitor_target, mo);
    if (!m) return m.error().context("syscall monitor");
    monitor = std::move(*m);
    auto w = IntervalWriter::open(exp_dir + "/monitor.jsonl", monitor_target->describe());
    if (w) monitor_writer = std::move(*w);
  }
  IntervalCollector collector(monitor_writer.get());
  std::thread monitor_thread;
  std::optional<Error> monitor_error;
  if (monitor)
    monitor_thread = std::thread([&] {
      auto r = monitor->run({&collector});
      if (!r) monitor_error = r.error();
    });

  const auto zero = Clock::now();
  const double unix_zero = unix_now();
  const auto baseline_end = zero + spec.phases.baseline;
  const auto perturbation_end = baseline_end + spec.phases.perturbation;
  const auto recovery_end = perturbation_end + spec.phases.recovery;

  // Everything started below is stopped on every path out of here.
  std::optional<HttpWorkload> http;
  std::optional<CommandWorkload> command;
  CrashWatch watch(service, zero);
  auto stop_all = [&] {
    if (http) http->stop();
    watch.stop();
    if (monitor) {
      monitor->stop();
      if (monitor_thread.joinable()) monitor_thread.join();
    }
  };

  if (auto r = watch.start(); !r) {
    stop_all();
    return r.error().context("watching the target");
  }
  if (spec.workload.http) {
    auto h = HttpWorkload::create(*spec.workload.http);
    if (!h) {
      stop_all();
      return h.error();
    }
    http.emplace(std::move(*h));
    if (auto r = http->start(zero); !r) {
      stop_all();
      return r.error().context("HTTP workload");
    }
  }
  if (!spec.workload.command.empty()) {
    CommandWorkloadSpec cs;
    cs.shell = spec.workload.command;
    cs.output_path = exp_dir + "/command.log";
    double total = std::chrono::duration<double>(recovery_end - zero).count();
    cs.env = {fmt::format("SYSCHAOS_DURATION={}", static_cast<long>(std::ceil(total))),
              "SYSCHAOS_EXPERIMENT=" + planned.id};
    auto c = CommandWorkload::create(cs);
    if (!c) {
      stop_all();
      return c.error().context("workload.command");
    }
    command.emplace(std::move(*c));
    if (auto r = command->start(zero); !r) {
      stop_all();
      return r.error().context("workload.command");
    }
  }

  ExperimentObservations obs;
  bool interrupted = false;
  std::string tool_failure;  // syschaos itself failed: no verdict, the campaign stops
  phase("baseline");
  interrupted = !sleep_until_unless_stopped(baseline_end, options.stop);
  // Phases are the schedule (requests are placed by when they were scheduled to start);
  // only an interrupted phase ends where it was cut.
  auto nominal = [&](Clock::time_point t) { return std::chrono::duration<double>(t - zero).count(); };
  obs.phases.push_back({Phase::baseline, 0, interrupted ? seconds_since(zero) : nominal(baseline_end)});

  if (!interrupted) {
    phase("perturbation");
    double start_s = nominal(baseline_end);
    // The engine attaches for every experiment, a control (no rule) too: being traced costs
    // the target latency, and a control then measures that cost alone.
    {
      auto engine_target = service.resolve();
      if (engine_target) {
        FaultEvaluator faults(rules, options.seed);
        EngineOptions eo;
        eo.duration = std::chrono::duration_cast<Nanos>(perturbation_end - Clock::now());
        eo.stop_requested = options.stop;
        ReplacedCallsToMonitor to_monitor(monitor.get());
        eo.events = &to_monitor;
        auto engine = PtraceEngine::create();
        auto report = engine->run(**engine_target, faults, eo);
        if (report) {
          for (const auto& st : report->rule_stats) obs.faults_injected += st.fired;
        } else if (watch.events().empty() && service.health().value_or(true)) {
          // The target is fine but nothing was injected (it is traced by someone else, ...):
          // a verdict would judge syschaos's failure as the service's behaviour.
          tool_failure = "the injection engine failed: " + report.error().message();
        } else {
          result.verdict.warnings.push_back("injection engine: " + report.error().message());
        }
      } else if (watch.events().empty()) {
        tool_failure = "the target could not be resolved for the perturbation: " + engine_target.error().message();
      }
      // The engine ends early when the target exits: the phase still lasts its length.
    }
    interrupted = !sleep_until_unless_stopped(perturbation_end, options.stop);
    obs.phases.push_back({Phase::perturbation, start_s, interrupted ? seconds_since(zero) : nominal(perturbation_end)});
  }
  if (!interrupted && spec.phases.recovery.count() > 0) {
    phase("recovery");
    double start_s = nominal(perturbation_end);
    interrupted = !sleep_until_unless_stopped(recovery_end, options.stop);
    obs.phases.push_back({Phase::recovery, start_s, interrupted ? seconds_since(zero) : nominal(recovery_end)});
  }
  phase("judging");

  if (command) obs.command = command->stop();
  stop_all();
  auto warnings = std::move(result.verdict.warnings);
  if (http) {
    obs.requests = http->records();
    if (auto why = http->failure(); !why.empty() && tool_failure.empty())
      tool_failure = "the HTTP load generator failed: " + why;
  }
  if (monitor_error && tool_failure.empty()) tool_failure = "the syscall monitor failed: " + monitor_error->message();
  // Missing load or observations would read as an outage of the target: refuse to judge.
  if (!tool_failure.empty() && !interrupted)
    return Error(fmt::format("{} (the experiment is not judged; its files are in {})", tool_failure, exp_dir));
  for (auto& iv : collector.take()) {
    MonitorSample s;
    s.start_s = iv.start_unix - unix_zero;
    s.end_s = iv.end_unix - unix_zero;
    s.interval = std::move(iv);
    obs.monitor.push_back(std::move(s));
  }
  obs.crashes = watch.events();
  // "Unknown" (Docker did not answer) is no evidence of a crash; the crash watch and the
  // monitor saw the run itself.
  obs.target_alive_at_end = service.health().value_or(true);
  obs.perturbed_syscalls = perturbed_syscall_names(rules);

  result.verdict = judge(spec.hypothesis, obs);
  for (auto& w : warnings) result.verdict.warnings.push_back(std::move(w));
  result.phases = obs.phases;
  result.series = build_series(obs);
  result.effects = summarize_effects(obs, result.verdict);
  result.command = obs.command;
  result.crashes = obs.crashes;
  result.faults_injected = obs.faults_injected;
  result.requests = obs.requests.size();
  result.duration_s = seconds_since(zero);
  result.interrupted = interrupted;
  result.series_file = exp_dir_rel + "/series.csv";

  SYSCHAOS_TRY(write_file_atomically(exp_dir + "/series.csv", series_to_csv(result.series)));
  SYSCHAOS_TRY(write_file_atomically(exp_dir + "/series.jsonl", series_to_jsonl(result.series)));
  if (!obs.requests.empty()) SYSCHAOS_TRY(write_file_atomically(exp_dir + "/requests.csv", requests_csv(obs.requests)));
  return result;
}

}  // namespace syschaos::experiment
