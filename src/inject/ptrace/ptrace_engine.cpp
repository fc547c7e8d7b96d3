#include "inject/ptrace/ptrace_engine.hpp"

#include <pthread.h>
#include <signal.h>

#include <thread>

#include "inject/ptrace/trace_session.hpp"

namespace syschaos {

EngineCapabilities PtraceEngine::capabilities() const {
  EngineCapabilities c;
  c.attach_running = c.follows_forks = true;
  c.errors = c.retval = c.signals = c.delays = c.pokes = true;
  c.path_filter = c.fd_filter = c.comm_filter = true;
  c.limits = "every system call of the target stops it twice (entry and exit): high overhead on "
             "syscall-heavy targets";
  return c;
}

Result<EngineReport> PtraceEngine::run(Target& target, FaultEvaluator& faults,
                                       const EngineOptions& options) {
  sigset_t wait_set, old_mask;
  sigemptyset(&wait_set);
  sigaddset(&wait_set, SIGCHLD);
  for (int sig : options.stop_signals) sigaddset(&wait_set, sig);
  // Blocked here so the tracer thread inherits the mask and nobody else takes them.
  if (int err = pthread_sigmask(SIG_BLOCK, &wait_set, &old_mask); err != 0)
    return Error::sys("pthread_sigmask", err);

  Result<EngineReport> result = Error("tracer thread did not run");
  // ptrace binds a tracee to the thread that attached it; a fresh thread per run means the
  // kernel detaches everything when the thread ends (see the header).
  std::thread tracer([&] {
    ptrace_engine::TraceSession session(target, faults, options, wait_set);
    result = session.run();
  });
  tracer.join();
  // Take what is still pending (SIGCHLDs of the last stops, a second Ctrl-C during the
  // detach) before unblocking, so restoring the mask cannot kill us before the summary.
  struct timespec zero {0, 0};
  while (sigtimedwait(&wait_set, nullptr, &zero) > 0) {
  }
  pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
  return result;
}

}  // namespace syschaos
