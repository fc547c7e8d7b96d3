// A failure schedule: named targets and steps run one after the other, each waiting for
// its trigger, failing its chosen targets and optionally undoing that after a while. The
// command line's single failure is a one-step schedule. File format (YAML), e.g. FIST's
// "two consecutive failures":
//
//   seed: 42
//   targets:
//     a: {container: replica-a}
//     b: {pid: 4242}
//     c: {cgroup: /sys/fs/cgroup/unified/replica-c}
//   steps:
//     - crash: a                # action: target name, or a list of names
//     - wait: 2s
//     - freeze: [b, c]
//       select: one             # all | one | N | P% | random:P%
//       after_cpu: 500ms        # or after / after_syscall: write:100 / every + prob / rate
//       for: 10s                # undo (thaw) 10 s after it took effect; the next step
//                               # starts at once
//     - kill: b
//       signal: TERM
#pragma once

#include <csignal>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/duration.hpp"
#include "core/result.hpp"
#include "failstop/failstop.hpp"
#include "failstop/target_selection.hpp"
#include "failstop/trigger.hpp"
#include "target/target.hpp"

namespace syschaos::failstop {

struct Step {
  enum class Action { kFail, kWait };
  Action action = Action::kFail;
  Nanos wait{0};                               // kWait
  FailureOptions failure;                      // kFail
  std::vector<std::string> targets;            // names; kFail
  Selection select;
  Trigger trigger;
  std::optional<Nanos> hold;                   // undo this long after the failure
  std::string describe() const;
};

struct Schedule {
  std::optional<uint64_t> seed;
  std::vector<std::pair<std::string, TargetSpec>> targets;
  std::vector<Step> steps;
};

Result<Schedule> parse_schedule(std::string_view yaml_text);
Result<Schedule> load_schedule(const std::string& path);

}  // namespace syschaos::failstop
