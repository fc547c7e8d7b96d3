// Whole-file reads of the small text files the kernel generates (/proc, /sys, cgroupfs).
// Such files have no meaningful size (stat says 0 or 4096), so they are read until EOF.
#pragma once

#include <string>

#include "core/result.hpp"

namespace syschaos {

// The whole content of `path`. Errors read "open PATH: <strerror>" or "read PATH: ...",
// and keep the errno so callers can tell a vanished file (ENOENT, ESRCH) from other failures.
Result<std::string> read_text_file(const std::string& path);

}  // namespace syschaos
