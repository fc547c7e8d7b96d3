// FaultEvaluator decides, for one system call on entry, which rule (if any) fires and what
// it does. It owns the triggers' state (per-process invocation counters, hit counts, the
// seeded random streams) so that every engine, and the fake engine of the unit tests, gives
// a rule exactly the same meaning.
//
// Several rules may match one call. Rules are tried in the order given; each rule whose
// syscall set, time window and filters match counts the call (for when=); the first rule
// whose trigger fires wins and the rules after it are not tried for that call.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/fault_rule.hpp"
#include "core/rng.hpp"

namespace syschaos {

using SteadyClock = std::chrono::steady_clock;

// What the engine knows about a call at its entry; the costly parts are asked for only when
// a rule needs them.
class CallContext {
 public:
  virtual ~CallContext() = default;
  virtual pid_t tgid() const = 0;
  virtual pid_t tid() const = 0;
  virtual int nr() const = 0;
  virtual uint64_t arg(int index) const = 0;
  // Path arguments resolved to absolute, normalised paths (dirfd and cwd applied).
  virtual const std::vector<std::string>& paths() = 0;
  virtual FdKind fd_kind(int fd) = 0;
  virtual const std::string& comm() = 0;
};

struct Decision {
  int rule = -1;           // index of the rule that fired, -1 for none
  const FaultAction* action = nullptr;
  int err = 0;             // the errno picked for this hit, when the action has errors
  bool fired() const { return rule >= 0; }
};

struct RuleStats {
  uint64_t matched = 0;  // calls that passed set, window and filters
  uint64_t fired = 0;    // calls the rule acted on
};

class FaultEvaluator {
 public:
  FaultEvaluator(RuleSet rules, uint64_t seed);

  // Starts the rules' time windows.
  void arm(SteadyClock::time_point now);
  Decision evaluate(CallContext& call, SteadyClock::time_point now);
  // Drops the per-process counters of a process that has exited.
  void forget_process(pid_t tgid);

  // Union of the rules' syscall sets: a call outside it never needs evaluate().
  const SyscallSet& interesting() const { return interesting_; }
  // True when some rule filters on comm (engines then track thread names).
  bool needs_comm() const { return needs_comm_; }
  const RuleSet& rules() const { return rules_; }
  const std::vector<RuleStats>& stats() const { return stats_; }
  // The moment after which no rule can fire any more (all windows closed), if there is one.
  std::optional<SteadyClock::time_point> all_windows_closed() const;

 private:
  bool filters_match(const FaultRule& rule, CallContext& call) const;
  int pick_errno(size_t rule_index);

  RuleSet rules_;
  std::vector<RuleStats> stats_;
  std::vector<Rng> rngs_;
  // Per rule: (tgid << 32 | nr) -> invocation count.
  std::vector<std::unordered_map<uint64_t, uint64_t>> counters_;
  SyscallSet interesting_;
  bool needs_comm_ = false;
  SteadyClock::time_point armed_at_{};
};

}  // namespace syschaos
