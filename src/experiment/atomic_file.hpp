// Writing an output file so that readers see either the old content or the whole new one,
// never a prefix: results.json and report.html are rewritten while a campaign runs, and a
// campaign can be interrupted at any moment.
#pragma once

#include <string>
#include <string_view>

#include "core/result.hpp"

namespace syschaos::experiment {

// Writes `content` to PATH.tmp.PID in the same folder, fsyncs it, and renames it over PATH.
Result<void> write_file_atomically(const std::string& path, std::string_view content);

// The whole content of a file.
Result<std::string> read_whole_file(const std::string& path);

}  // namespace syschaos::experiment
