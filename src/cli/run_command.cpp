// `syschaos run SPEC.yaml`: experiments and campaigns (src/experiment), and
// `syschaos report DIR`: re-render report.html from an output folder's results.json.
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <thread>

#include "cli/app.hpp"
#include "cli/commands.hpp"
#include "experiment/campaign.hpp"
#include "experiment/experiment_spec.hpp"
#include "experiment/verdict.hpp"
#include "target/launch_target.hpp"
#include "target/target.hpp"

namespace syschaos::cli {

namespace {

struct RunOptions {
  std::string spec_path;
  std::string output;
  bool fresh = false;
  std::vector<std::string> only;
  bool list = false;
  bool quiet = false;
};

int fail_usage(const std::string& message) {
  std::fprintf(stderr, "syschaos: %s\n", message.c_str());
  return kExitUsage;
}

// Ctrl-C, SIGTERM and SIGHUP end the campaign cleanly: the engine detaches (faults removed),
// the workloads stop, and what was observed is kept. They are blocked in every thread (and
// SIGCHLD with them, so only the ptrace engine's sigtimedwait takes it) and taken here.
class StopSignals {
 public:
  StopSignals() {
    sigemptyset(&stop_set_);
    for (int s : {SIGINT, SIGTERM, SIGHUP}) sigaddset(&stop_set_, s);
    sigset_t all = stop_set_;
    sigaddset(&all, SIGCHLD);
    sigaddset(&all, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &all, nullptr);
    thread_ = std::thread([this] {
      while (!done_.load()) {
        timespec ts{0, 100'000'000};
        int sig = sigtimedwait(&stop_set_, nullptr, &ts);
        if (sig <= 0) continue;
        if (!stop_.exchange(true))
          std::fprintf(stderr, "\nsyschaos: %s: stopping — removing faults, stopping the workload, keeping partial results\n",
                       sigabbrev_np(sig) ? sigabbrev_np(sig) : "signal");
      }
    });
  }
  ~StopSignals() {
    done_ = true;
    thread_.join();
  }
  const std::atomic<bool>& flag() const { return stop_; }

 private:
  sigset_t stop_set_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> done_{false};
  std::thread thread_;
};

int run_run(RunOptions& o) {
  auto spec = experiment::load_experiment_spec(o.spec_path);
  if (!spec) return fail_usage(spec.error().message());

  if (o.list) {
    std::printf("%s: %zu experiment(s), %s each (baseline %s, perturbation %s, recovery %s)\n", spec->name.c_str(),
                spec->experiments.size(),
                format_duration(spec->phases.baseline + spec->phases.perturbation + spec->phases.recovery).c_str(),
                format_duration(spec->phases.baseline).c_str(), format_duration(spec->phases.perturbation).c_str(),
                format_duration(spec->phases.recovery).c_str());
    for (const auto& e : spec->experiments) {
      std::string faults;
      for (const auto& f : e.faults) faults += (faults.empty() ? "" : " + ") + f;
      std::printf("  %-32s %s\n", e.id.c_str(), faults.empty() ? "(no fault: control)" : faults.c_str());
    }
    return 0;
  }
  for (const auto& id : o.only) {
    bool known = std::any_of(spec->experiments.begin(), spec->experiments.end(), [&](const auto& e) { return e.id == id; });
    if (!known) return fail_usage("--only: no experiment '" + id + "' in " + o.spec_path + " (see --list)");
  }
  if (::geteuid() != 0)
    return fail_usage("run needs root: it attaches with ptrace and loads BPF programs (try sudo)");
  // The target must exist before anything is created or started: a typo in a container name
  // is bad input (exit 2), not a failed campaign with an empty output folder.
  if (!spec->target.command.empty()) {
    if (auto t = LaunchTarget::create(spec->target.command); !t) return fail_usage("target.command: " + t.error().message());
  } else {
    TargetSpec ts;
    ts.container = spec->target.container;
    ts.pid = spec->target.pid;
    if (auto t = resolve_target(ts); !t) return fail_usage(t.error().message());
  }

  experiment::CampaignOptions co;
  co.output_dir = o.output.empty() ? spec->output : o.output;
  co.fresh = o.fresh;
  co.only = o.only;
  bool tty = ::isatty(2);
  co.on_status = [&](const std::string& s) {
    if (o.quiet) return;
    if (tty)
      std::fprintf(stderr, "\r\033[K%s", s.c_str());
    else
      std::fprintf(stderr, "%s\n", s.c_str());
  };
  co.on_line = [&](const std::string& s) {
    if (o.quiet) return;
    std::fprintf(stderr, tty ? "\r\033[K%s\n" : "%s\n", s.c_str());
  };

  StopSignals signals;
  co.stop = &signals.flag();
  if (!o.quiet)
    std::fprintf(stderr, "syschaos: %s: %zu experiment(s) on %s; results in %s\n", spec->name.c_str(),
                 spec->experiments.size(), spec->target.describe().c_str(), co.output_dir.c_str());
  auto outcome = experiment::run_campaign(*spec, co);
  if (tty && !o.quiet) std::fprintf(stderr, "\r\033[K");
  if (!outcome) {
    std::fprintf(stderr, "syschaos: %s\n", outcome.error().message().c_str());
    return kExitFailure;
  }
  std::printf("\n%s\n", experiment::summary_table(outcome->result).c_str());
  if (outcome->resumed)
    std::printf("%zu experiment(s) taken over from the earlier run in %s\n", outcome->resumed, co.output_dir.c_str());
  std::printf("results: %s\nreport:  %s\n", outcome->results_path.c_str(), outcome->report_path.c_str());
  if (outcome->interrupted) {
    std::printf("interrupted: run the same command again to continue where it stopped\n");
    return 130;
  }
  return 0;
}

int run_report(const std::string& dir) {
  auto path = experiment::rerender_report(dir);
  if (!path) return fail_usage(path.error().message());
  std::printf("%s\n", path->c_str());
  return 0;
}

}  // namespace

void register_run(CLI::App& app, Action& action) {
  auto o = std::make_shared<RunOptions>();
  auto* sub = app.add_subcommand("run", "Run an experiment or a campaign from a spec: baseline, perturbation, recovery, verdict, report");
  sub->add_option("spec", o->spec_path, "The experiment spec (YAML; docs/EXPERIMENTS.md)")->required();
  sub->add_option("--output,-o", o->output, "Output folder (default: the spec's `output`)");
  sub->add_flag("--fresh", o->fresh, "Discard earlier results in the output folder instead of resuming");
  sub->add_option("--only", o->only, "Run only these experiment ids (see --list)")->delimiter(',');
  sub->add_flag("--list", o->list, "Check the spec and list its experiments, run nothing");
  sub->add_flag("--quiet,-q", o->quiet, "No progress on stderr");
  sub->callback([o, &action] { action = [o] { return run_run(*o); }; });

  auto dir = std::make_shared<std::string>();
  auto* rep = app.add_subcommand("report", "Re-render report.html from an output folder's results.json");
  rep->add_option("dir", *dir, "The output folder of syschaos run")->required();
  rep->callback([dir, &action] { action = [dir] { return run_report(*dir); }; });
}

}  // namespace syschaos::cli
