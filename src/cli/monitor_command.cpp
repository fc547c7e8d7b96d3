// syschaos monitor: per-syscall counts, errors and latency for a target, measured in the
// kernel, plus the target's resource usage, one interval at a time — on the terminal, as
// Prometheus metrics, and as a JSONL/CSV time series.
#include <signal.h>
#include <sys/wait.h>

#include <CLI/CLI.hpp>

#include <cstdio>

#include "cli/app.hpp"
#include "cli/commands.hpp"
#include "cli/live_view.hpp"
#include "core/errno_names.hpp"
#include "observe/syscall_monitor.hpp"

#include <nlohmann/json.hpp>
#include "observe/interval_writer.hpp"
#include "observe/monitor.hpp"
#include "observe/prometheus_exporter.hpp"

namespace syschaos::cli {

namespace {

struct MonitorCliOptions {
  std::optional<pid_t> pid;
  std::optional<std::string> container;
  std::optional<std::string> cgroup;
  std::vector<std::string> command;
  std::string interval = "1s";
  std::string duration;
  std::string prometheus;
  std::string out;
  std::string events;
  std::string slow;
  bool failed = false;
  bool no_view = false;
  bool follow_restarts = false;
  size_t rows = 15;
};

class ExporterSink final : public IntervalSink {
 public:
  explicit ExporterSink(PrometheusExporter& e) : e_(e) {}
  void on_interval(const Interval& iv) override { e_.publish(iv); }

 private:
  PrometheusExporter& e_;
};

class WriterSink final : public IntervalSink {
 public:
  explicit WriterSink(IntervalWriter& w) : w_(w) {}
  void on_interval(const Interval& iv) override {
    if (auto r = w_.write(iv); !r && !warned_) {
      std::fprintf(stderr, "syschaos: %s\n", r.error().message().c_str());
      warned_ = true;
    }
  }

 private:
  IntervalWriter& w_;
  bool warned_ = false;
};

int fail(int code, const std::string& message) {
  std::fprintf(stderr, "syschaos: %s\n", message.c_str());
  return code;
}

int run_monitor(MonitorCliOptions& o) {
  MonitorOptions options;
  auto interval = parse_duration(o.interval, "s");
  if (!interval) return fail(kExitUsage, "--interval: " + interval.error().message());
  // Checked here as well as in Monitor::create so that a too short interval is bad input
  // (exit 2, nothing loaded), like every other bad option.
  if (*interval < std::chrono::milliseconds(10)) return fail(kExitUsage, "--interval must be at least 10ms");
  options.interval = *interval;
  if (!o.duration.empty()) {
    auto d = parse_duration(o.duration, "s");
    if (!d) return fail(kExitUsage, "--duration: " + d.error().message());
    if (d->count() == 0) return fail(kExitUsage, "--duration must be longer than 0");
    options.duration = *d;
  }
  options.follow_restarts = o.follow_restarts;
  options.stop_signals = {SIGINT, SIGTERM, SIGHUP};
  if (!o.prometheus.empty()) {
    auto a = parse_listen_address(o.prometheus);
    if (!a) return fail(kExitUsage, "--prometheus: " + a.error().message());
    // The exporter refuses other addresses too, but only after the BPF programs are loaded;
    // the CLI has no way to allow them, so this is bad input.
    if (!a->loopback)
      return fail(kExitUsage, "--prometheus: " + o.prometheus +
                                  " is not a loopback address; metrics show what the target does, so they are "
                                  "served on 127.0.0.1 or [::1] only");
  }
  if (!o.slow.empty()) {
    auto d = parse_duration(o.slow, "ms");
    if (!d) return fail(kExitUsage, "--slow: " + d.error().message());
    if (d->count() == 0) return fail(kExitUsage, "--slow must be longer than 0");
    options.slow_call_threshold = *d;
  }
  options.failed_call_events = o.failed;
  if (o.events.empty() != (o.slow.empty() && !o.failed))
    return fail(kExitUsage, "--events FILE goes with --slow D and/or --failed (which calls to record)");
  // The file is opened (and truncated) only once the rest of the input has been checked and
  // the BPF programs are loaded: bad input leaves an existing file alone. The callback runs
  // only inside Monitor::run, after that.
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> events(nullptr, &std::fclose);
  if (!o.events.empty()) {
    options.on_call = [&events](const SyscallEvent& e) {
      std::FILE* f = events.get();
      nlohmann::json j = {{"time", e.end_unix}, {"pid", e.pid}, {"tid", e.tid}, {"comm", e.comm},
                          {"syscall", e.name}, {"nr", e.nr}, {"ret", e.ret},
                          {"errno", e.err ? nlohmann::json(errno_name(e.err)) : nlohmann::json(nullptr)},
                          {"duration_ns", e.duration_ns ? nlohmann::json(*e.duration_ns) : nlohmann::json(nullptr)},
                          {"slow", e.slow}, {"failed", e.failed}};
      std::string line = j.dump() + "\n";
      std::fwrite(line.data(), 1, line.size(), f);
    };
  }
  if (!o.out.empty() && !o.out.ends_with(".jsonl") && !o.out.ends_with(".csv"))
    return fail(kExitUsage, "--out: the file name must end in .jsonl or .csv");
  int targets = o.pid.has_value() + o.container.has_value() + o.cgroup.has_value() + !o.command.empty();
  if (targets != 1) return fail(kExitUsage, "give exactly one target: --pid, --container, --cgroup or -- COMMAND");

  auto target = resolve_target(TargetSpec{o.pid, o.container, o.cgroup, o.command});
  if (!target) return fail(kExitUsage, target.error().message());

  auto monitor = Monitor::create(**target, options);
  if (!monitor) return fail(kExitFailure, monitor.error().message());
  if (!o.events.empty()) {
    events.reset(std::fopen(o.events.c_str(), "w"));
    if (!events) return fail(kExitUsage, Error::sys("open " + o.events).message());
  }

  std::vector<IntervalSink*> sinks;
  std::unique_ptr<PrometheusExporter> exporter;
  std::unique_ptr<ExporterSink> exporter_sink;
  if (!o.prometheus.empty()) {
    PrometheusOptions po;
    po.listen = o.prometheus;
    po.target = (*target)->describe();
    auto e = PrometheusExporter::start(po);
    if (!e) return fail(kExitFailure, e.error().message());
    exporter = std::move(*e);
    exporter_sink = std::make_unique<ExporterSink>(*exporter);
    sinks.push_back(exporter_sink.get());
    std::fprintf(stderr, "syschaos: Prometheus metrics at %s\n", exporter->url().c_str());
  }
  std::unique_ptr<IntervalWriter> writer;
  std::unique_ptr<WriterSink> writer_sink;
  if (!o.out.empty()) {
    auto w = IntervalWriter::open(o.out, (*target)->describe());
    if (!w) return fail(kExitFailure, w.error().message());
    writer = std::move(*w);
    writer_sink = std::make_unique<WriterSink>(*writer);
    sinks.push_back(writer_sink.get());
  }
  // The command's stdout is its own in launch mode: the view goes to stderr then.
  std::unique_ptr<LiveView> view;
  if (!o.no_view) {
    view = std::make_unique<LiveView>(o.command.empty() ? stdout : stderr, (*target)->describe(), o.rows);
    sinks.push_back(view.get());
  }
  std::fprintf(stderr, "syschaos: monitoring %s every %s%s\n", (*target)->describe().c_str(),
               format_duration(options.interval).c_str(),
               (*monitor)->resource_source().empty() ? "" : ("; resources from " + (*monitor)->resource_source()).c_str());
  auto report = (*monitor)->run(sinks);
  if (!report) return fail(kExitFailure, report.error().message());
  std::fprintf(stderr, "syschaos: monitor ended (%s) after %llu interval(s)\n", report->end_reason.c_str(),
               static_cast<unsigned long long>(report->intervals));
  if (!o.command.empty() && report->launched_status) {
    int st = *report->launched_status;
    if (WIFEXITED(st)) return WEXITSTATUS(st);
    if (WIFSIGNALED(st)) return 128 + WTERMSIG(st);
  }
  return 0;
}

}  // namespace

void register_monitor(CLI::App& app, Action& action) {
  auto o = std::make_shared<MonitorCliOptions>();
  auto* sub = app.add_subcommand("monitor", "Watch a target's system calls (counts, errors, latency) and resources");
  sub->add_option("--pid", o->pid, "Watch a running process and the children it forks");
  sub->add_option("--container", o->container, "Watch every process of a Docker container");
  sub->add_option("--cgroup", o->cgroup, "Watch every process of a cgroup (v1 or v2)");
  sub->add_option("--interval,-i", o->interval, "Length of one interval (default 1s)");
  sub->add_option("--duration,-d", o->duration, "Stop after this long (default: until interrupted or the target exits)");
  sub->add_option("--prometheus", o->prometheus, "Serve Prometheus metrics at ADDRESS:PORT/metrics (e.g. 127.0.0.1:9464)");
  sub->add_option("--out,-o", o->out, "Write one record per interval to FILE.jsonl or FILE.csv");
  sub->add_option("--events", o->events, "Write slow and/or failed calls, one JSON line each, to FILE (with --slow, --failed)");
  sub->add_option("--slow", o->slow, "Record calls that take at least this long (e.g. 50ms) in --events");
  sub->add_flag("--failed", o->failed, "Record failed calls in --events");
  sub->add_flag("--no-view", o->no_view, "No live view on the terminal");
  sub->add_flag("--follow-restarts", o->follow_restarts, "Keep watching a container across restarts");
  sub->add_option("--rows", o->rows, "Syscalls shown in the live view (default 15)");
  sub->add_option("command", o->command, "Launch mode: the command to run, after --");
  sub->callback([o, &action] { action = [o] { return run_monitor(*o); }; });
}

}  // namespace syschaos::cli
