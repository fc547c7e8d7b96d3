#include "inject/fake/fake_engine.hpp"

#include <set>

namespace syschaos {

namespace {

class FakeCallContext final : public CallContext {
 public:
  FakeCallContext(const FakeCall& call, int nr) : call_(call), nr_(nr) {}
  pid_t tgid() const override { return call_.tgid; }
  pid_t tid() const override { return call_.tid; }
  int nr() const override { return nr_; }
  uint64_t arg(int index) const override { return call_.args[index]; }
  const std::vector<std::string>& paths() override { return call_.paths; }
  FdKind fd_kind(int fd) override {
    auto it = call_.fd_kinds.find(fd);
    return it == call_.fd_kinds.end() ? FdKind::unknown : it->second;
  }
  const std::string& comm() override { return call_.comm; }

 private:
  const FakeCall& call_;
  int nr_;
};

}  // namespace

EngineCapabilities FakeEngine::capabilities() const {
  EngineCapabilities c;
  c.errors = c.retval = c.signals = c.delays = true;
  c.path_filter = c.fd_filter = c.comm_filter = true;
  c.limits = "replays a script; touches no process";
  return c;
}

Result<EngineReport> FakeEngine::run(Target&, FaultEvaluator& faults, const EngineOptions& options) {
  EngineReport report;
  const auto t0 = SteadyClock::time_point{} + std::chrono::hours(1);
  faults.arm(t0);
  std::set<pid_t> pids, tids;
  outcomes_.clear();
  for (const auto& call : script_) {
    if (options.duration && call.at >= *options.duration) {
      report.reason = EndReason::duration;
      break;
    }
    auto nr = SyscallTable::native().number(call.syscall);
    if (!nr) return Error(fmt::format("fake script: unknown syscall '{}'", call.syscall));
    pids.insert(call.tgid);
    tids.insert(call.tid);
    report.syscalls_seen++;
    FakeCallContext ctx(call, *nr);
    Decision d = faults.evaluate(ctx, t0 + call.at);
    FakeOutcome out;
    if (d.fired()) {
      const FaultAction& a = *d.action;
      out.rule = d.rule;
      out.injected = !options.dry_run;
      if (out.injected) {
        out.err = d.err;
        if (a.retval) out.retval = a.retval;
        out.signal = a.signal;
        out.delay = a.delay_enter + a.delay_exit;
      }
      if (options.events) {
        InjectionEvent ev;
        ev.since_arm = call.at;
        ev.pid = call.tgid;
        ev.tid = call.tid;
        ev.nr = *nr;
        ev.syscall = call.syscall;
        ev.paths = call.paths;
        ev.rule = d.rule;
        ev.err = d.err;
        ev.action = a.describe(d.err);
        ev.injected = out.injected;
        options.events->on_event(ev);
      }
    }
    outcomes_.push_back(out);
    if (call.exits_process) faults.forget_process(call.tgid);
  }
  report.processes_seen = pids.size();
  report.threads_seen = tids.size();
  report.rule_stats = faults.stats();
  return report;
}

}  // namespace syschaos
