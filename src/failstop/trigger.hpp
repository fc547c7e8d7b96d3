// When a failure happens (FIST's scenarios). Each chosen target (a "victim") gets its own
// trigger, armed when the step starts:
//   now                         at once
//   after=D                     after D of wall-clock time
//   after_cpu=D                 once the victim's processes have used D of CPU time since
//                               arming (user + system, from each process's CPU clock; FIST
//                               read utime + stime at each scheduling)
//   after_syscall=NAME:N        at the N-th call of NAME by the victim since arming: counted
//                               in the kernel, which stops (SIGSTOP) the victim as that call
//                               enters, so it runs nothing after it (see
//                               bpf/failstop_syscalls.bpf.c and ScenarioRunner)
//   every=D,prob=P              at each tick of period D, with probability P (FIST killed
//                               with a probability at each scheduling); seeded
//   rate=R                      after an exponentially distributed time of mean 1/R seconds
//                               (a failure rate, R per second); seeded
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/duration.hpp"
#include "core/result.hpp"
#include "core/rng.hpp"

namespace syschaos::failstop {

struct Trigger {
  enum class Kind { kNow, kAfter, kAfterCpu, kAfterSyscall, kTick, kRate };
  Kind kind = Kind::kNow;
  Nanos delay{0};          // kAfter
  Nanos cpu{0};            // kAfterCpu
  std::string syscall;     // kAfterSyscall
  int syscall_nr = -1;
  uint64_t count = 0;
  Nanos period{0};         // kTick
  double prob = 0;
  double rate = 0;         // kRate, failures per second

  std::string to_string() const;
};

// Each parses one option's value: "2s", "500ms", "write:100", "0.1" / "10%", "0.5".
Result<Trigger> trigger_after(std::string_view duration);
Result<Trigger> trigger_after_cpu(std::string_view duration);
Result<Trigger> trigger_after_syscall(std::string_view spec);
Result<Trigger> trigger_tick(std::string_view period, std::string_view prob);
Result<Trigger> trigger_rate(std::string_view rate);
Result<double> parse_probability(std::string_view text);  // 0..1 or P%

// The pure part of the probabilistic triggers, so they can be tested without waiting:
// the tick (1-based) at which a Bernoulli(p) trial first succeeds, or 0 if not within
// max_ticks; and an exponential delay of mean 1/rate.
uint64_t first_success_tick(Rng& rng, double prob, uint64_t max_ticks);
Nanos exponential_delay(Rng& rng, double rate);

}  // namespace syschaos::failstop
