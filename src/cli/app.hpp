// The command-line front end: the only place that prints to the user or decides exit codes.
#pragma once

namespace syschaos::cli {

// Exit codes: 0 success, 2 bad input (usage, unknown target, unparsable fault), 1 runtime
// failure; in launch mode, the launched command's own code.
inline constexpr int kExitUsage = 2;
inline constexpr int kExitFailure = 1;

int run(int argc, char** argv);

}  // namespace syschaos::cli
