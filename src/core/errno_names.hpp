// errno and signal names <-> numbers, from glibc's own tables (strerrorname_np,
// sigabbrev_np) so they always agree with the C library the target uses.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "core/result.hpp"

namespace syschaos {

// "ENOENT", "enoent" or "2" -> 2. Errors name the bad value.
Result<int> parse_errno(std::string_view text);
// 2 -> "ENOENT"; an unnamed number -> "E<n>".
std::string errno_name(int err);

// "SIGKILL", "KILL", "kill", "9", "SIGRTMIN+2" -> signal number.
Result<int> parse_signal(std::string_view text);
// 9 -> "SIGKILL".
std::string signal_name(int sig);

}  // namespace syschaos
