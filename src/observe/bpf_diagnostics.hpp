// Turning libbpf's failures into one line a user can act on. libbpf reports why a load
// failed only through its print callback (to stderr by default, verifier logs included);
// LibbpfLogCapture collects those lines instead, and bpf_load_error() picks the one that
// matters and says what is missing (privilege, BTF, tracepoints).
#pragma once

#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"

namespace syschaos {

// While alive, libbpf's warnings and info lines go into this object instead of stderr
// (debug lines are dropped). Captures are serialized: a second one waits for the first.
class LibbpfLogCapture {
 public:
  LibbpfLogCapture();
  ~LibbpfLogCapture();
  LibbpfLogCapture(const LibbpfLogCapture&) = delete;
  LibbpfLogCapture& operator=(const LibbpfLogCapture&) = delete;

  // The lines so far, one per line of output, without the trailing newline.
  std::vector<std::string> lines() const;

 private:
  std::unique_lock<std::mutex> exclusive_;
};

// The line of a libbpf log that says why loading failed: the verifier's last words when the
// log holds a program load log, else the first line that says "failed" or "error"; trimmed
// of libbpf's "libbpf: " prefix. Empty when nothing fits.
std::string relevant_libbpf_line(const std::vector<std::string>& lines);

// Which step of bringing up BPF programs failed, for the message.
enum class BpfStep { kOpen, kLoad, kAttach };

// The error for a failed step: `err` is the positive errno libbpf returned, `what` names
// the object ("the syscall monitor's programs", "raw tracepoint raw_syscalls:sys_enter").
// EPERM/EACCES on open or load become "loading BPF programs needs root or
// CAP_BPF+CAP_PERFMON: ..."; attach failures name the tracepoint and what the kernel needs.
Error bpf_step_error(BpfStep step, std::string_view what, int err,
                     const std::vector<std::string>& libbpf_log);

}  // namespace syschaos
