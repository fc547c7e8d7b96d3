// Writing a file so that readers see either the old content or the whole new one, never a
// prefix: state files that a later run or a guardian reads (failstop restore state, trigger
// stops, ChaosFS container state) and outputs rewritten while a campaign runs (results.json,
// report.html) are all replaced this way, since the writer can be killed at any moment.
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>

#include "core/result.hpp"

namespace syschaos {

// Whether the new content is flushed to the disk before it replaces the old one.
enum class FileSync {
  // fsync before the rename: the file survives a crash of the machine, at the cost of a disk
  // flush (tens to hundreds of ms on a loaded disk).
  kDurable,
  // No fsync: the file survives the death of the writing process (the page cache holds it),
  // not a crash of the machine.
  kProcessCrashOnly,
};

struct AtomicWriteOptions {
  FileSync sync = FileSync::kDurable;
  mode_t mode = 0644;  // of the new file (the process umask still applies)
};

// Writes `content` to PATH.tmp.PID in the same folder (so the rename stays on one file
// system), retries short and interrupted writes, optionally fsyncs, and renames it over PATH.
// On any failure the temporary file is removed and PATH is left as it was.
Result<void> write_file_atomically(const std::string& path, std::string_view content,
                                   AtomicWriteOptions options = {});

// The whole content of a file.
Result<std::string> read_whole_file(const std::string& path);

}  // namespace syschaos
