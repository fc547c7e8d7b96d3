// Reading and writing a tracee's memory without a ptrace call per word: process_vm_readv /
// process_vm_writev move a whole string or buffer in one system call.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "core/result.hpp"

namespace syschaos::ptrace_engine {

// A NUL-terminated string at addr, at most max_len bytes (PATH_MAX for paths).
Result<std::string> read_string(pid_t pid, uint64_t addr, size_t max_len = 4096);
Result<void> write_bytes(pid_t pid, uint64_t addr, const std::vector<uint8_t>& data);

}  // namespace syschaos::ptrace_engine
