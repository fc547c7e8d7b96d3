// Time helpers every module shares: the wall clock as the records carry it.
#pragma once

namespace syschaos {

// Wall-clock time (CLOCK_REALTIME) in seconds since the Unix epoch, with the sub-second part:
// the form of every timestamp in events, intervals and experiment files, so that records of
// different subsystems line up.
double unix_now();

}  // namespace syschaos
