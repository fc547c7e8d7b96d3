// Parsers for the cgroup files the resource sampler reads, v1 and v2. They take the text of
// a file, so every format is tested without a cgroup file system.
//
//   v2: cpu.stat, memory.current, memory.peak, memory.max, memory.events, memory.stat,
//       io.stat, pids.current
//   v1: cpuacct.usage, memory.usage_in_bytes, memory.max_usage_in_bytes,
//       memory.limit_in_bytes, memory.oom_control, memory.stat,
//       blkio.throttle.io_service_bytes[_recursive], pids.current
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "core/result.hpp"

namespace syschaos {

// "key value" lines (cpu.stat, memory.events, memory.stat, memory.oom_control). Lines that do
// not have that shape are an error: a format we misread must not become a silent zero.
Result<std::map<std::string, uint64_t, std::less<>>> parse_flat_keyed(std::string_view text);

// A file holding one number (memory.current, pids.current, cpuacct.usage, ...), or "max"
// (no limit; nullopt).
Result<std::optional<uint64_t>> parse_single_value(std::string_view text);

// The v1 memory controller reports "no limit" as a huge page-aligned number
// (PAGE_COUNTER_MAX * PAGE_SIZE, 0x7FFFFFFFFFFFF000 on x86-64); anything at or above 2^62
// is treated as unlimited.
std::optional<uint64_t> v1_memory_limit(uint64_t value);

struct IoBytes {
  uint64_t read = 0;
  uint64_t write = 0;
};

// v2 io.stat: "MAJ:MIN rbytes=N wbytes=N rios=N wios=N dbytes=N dios=N" per device; summed
// over devices.
Result<IoBytes> parse_io_stat(std::string_view text);

// v1 blkio.throttle.io_service_bytes[_recursive]: "MAJ:MIN Read N", "MAJ:MIN Write N", ...
// per device, then "Total N"; the Read and Write lines are summed over devices.
Result<IoBytes> parse_blkio_service_bytes(std::string_view text);

}  // namespace syschaos
