// PtraceEngine: fault injection the way strace does it, without strace. Every thread of the
// target is seized (PTRACE_SEIZE, so nothing is stopped or signalled to attach), forks and
// clones are followed, a call to fail is invalidated at entry (its number set to -1, or to a
// pure call) and its result written at exit. Delays hold only the delayed thread: the
// tracer never sleeps, it keeps a timer per held thread.
//
// Detaching is done by the kernel: the tracer runs in a thread of its own, and when that
// thread ends the kernel detaches every tracee and resumes any it held. That is the same
// path the kernel takes if syschaos is killed with SIGKILL, so the target is left healthy
// in both cases. Before it ends, the tracer finishes calls whose result it still owes.
#pragma once

#include <memory>

#include "inject/engine.hpp"

namespace syschaos {

class PtraceEngine final : public Engine {
 public:
  static std::unique_ptr<PtraceEngine> create() { return std::unique_ptr<PtraceEngine>(new PtraceEngine()); }

  std::string_view name() const override { return "ptrace"; }
  EngineCapabilities capabilities() const override;
  // Blocks SIGCHLD and options.stop_signals in the calling thread while it runs (the
  // tracer thread waits for them); the caller's signal mask is restored on return.
  Result<EngineReport> run(Target& target, FaultEvaluator& faults,
                           const EngineOptions& options) override;

 private:
  PtraceEngine() = default;
};

}  // namespace syschaos
