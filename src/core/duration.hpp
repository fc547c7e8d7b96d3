// Durations as users write them: "250" (microseconds, strace's default unit), "250us",
// "10ms", "1.5s", "2m", "100ns".
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "core/result.hpp"

namespace syschaos {

using Nanos = std::chrono::nanoseconds;

// default_unit applies to a bare number ("us" for strace's delay_enter/delay_exit,
// "s" for command-line options such as --duration).
Result<Nanos> parse_duration(std::string_view text, std::string_view default_unit = "us");

// A short human form: "1.5s", "10ms", "250us".
std::string format_duration(Nanos d);

}  // namespace syschaos
