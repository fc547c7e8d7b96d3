// Time helpers every module shares: the wall clock as the records carry it, and sleeps that
// a stop flag (Ctrl-C, SIGTERM) cuts short.
#pragma once

#include <atomic>
#include <chrono>

namespace syschaos {

// Wall-clock time (CLOCK_REALTIME) in seconds since the Unix epoch, with the sub-second part:
// the form of every timestamp in events, intervals and experiment files, so that records of
// different subsystems line up.
double unix_now();

// Sleeps until `until` in steps of at most 50 ms, so that a stop request is noticed quickly.
// False when `stop` (may be null: never stops) is set before or during the sleep.
bool sleep_until_unless_stopped(std::chrono::steady_clock::time_point until,
                                const std::atomic<bool>* stop);

}  // namespace syschaos
