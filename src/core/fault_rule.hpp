// The fault model: a FaultRule is a syscall set + an action + a trigger + filters.
// Rules are plain data; parsing lives in fault_parser / rule_file and the decision about
// a single call in fault_evaluator, so every engine shares one meaning of a rule.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/duration.hpp"
#include "core/syscall_table.hpp"

namespace syschaos {

struct WeightedErrno {
  int err = 0;
  unsigned weight = 1;
};

// Bytes written into the tracee's memory at the address held by an argument (strace's
// poke_enter / poke_exit).
struct Poke {
  int arg = 0;  // 0-based argument index (strace's @arg1 is 0)
  std::vector<uint8_t> data;
};

struct FaultAction {
  std::vector<WeightedErrno> errors;  // one is picked per hit, by weight
  std::optional<int64_t> retval;      // success injection
  std::optional<int> substitute_nr;   // strace's syscall=: run this pure call instead
  int signal = 0;                     // delivered on entering the call
  Nanos delay_enter{0};
  Nanos delay_exit{0};
  std::vector<Poke> poke_enter;
  std::vector<Poke> poke_exit;

  // True when the real call must not run (its result is replaced).
  bool replaces_call() const { return !errors.empty() || retval.has_value(); }
  bool empty() const {
    return errors.empty() && !retval && !signal && delay_enter.count() == 0 &&
           delay_exit.count() == 0 && poke_enter.empty() && poke_exit.empty();
  }
  // "error=EIO*3|EINTR:delay_enter=10ms", the strace form; with chosen_err, the errno a
  // hit actually got stands in for the weighted list ("error=EINTR:delay_enter=10ms").
  std::string describe(int chosen_err = 0) const;
};

// strace's when=first[..last][+[step]], counted per syscall and per process.
struct WhenTrigger {
  uint64_t first = 1;
  uint64_t last = UINT64_MAX;
  uint64_t step = 1;
  bool matches(uint64_t invocation) const {
    return invocation >= first && invocation <= last && (invocation - first) % step == 0;
  }
  std::string describe() const;
};

// What kind of object an fd refers to, for the fd= filter.
enum class FdKind : uint8_t { file, dir, socket, pipe, chr, blk, anon, unknown };
std::optional<FdKind> parse_fd_kind(std::string_view name);
std::string_view fd_kind_name(FdKind kind);

struct FaultFilters {
  std::vector<std::string> path_globs;  // any path argument matches any glob
  std::vector<FdKind> fd_kinds;         // the fd argument is one of these kinds
  std::vector<int> fd_numbers;          // ... or one of these numbers
  std::vector<std::string> comm_globs;  // thread name
  bool empty() const {
    return path_globs.empty() && fd_kinds.empty() && fd_numbers.empty() && comm_globs.empty();
  }
};

struct FaultRule {
  std::string source;  // the text the rule came from, for messages and reports
  SyscallSet syscalls;
  FaultAction action;
  std::optional<WhenTrigger> when;
  std::optional<double> probability;  // 0..1
  std::optional<uint64_t> max_hits;
  Nanos start_after{0};               // time window, from the moment faults are armed
  std::optional<Nanos> active_for;
  FaultFilters filters;
};

using RuleSet = std::vector<FaultRule>;

}  // namespace syschaos
