// The pure half of the syscall monitor: turning the raw contents of the BPF maps (one epoch
// half, per-CPU copies) into SyscallStats. No kernel needed, so unit tests cover it.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/syscall_table.hpp"
#include "observe/metrics.hpp"
#include "syscall_monitor.h"  // bpf/: the layouts the BPF program writes

namespace syschaos {

static_assert(SM_LATENCY_BUCKETS == kLatencyBuckets,
              "the BPF histogram and SyscallStats must have the same buckets");

// The errno reported for failed calls whose errno the monitor could not record: the errno
// map was full, or the value lies outside the recorded ranges (fcntl(F_GETOWN) returns a
// negated process group id, which looks like an errno). Keeps sum(errnos) == errors.
inline constexpr int kUnrecordedErrno = SM_MAX_ERRNO;

// The errno an errno-map slot stands for; kUnrecordedErrno for the catch-all slot.
int errno_of_slot(uint32_t slot);

// One epoch half of the in-kernel aggregates, summed over CPUs.
struct SyscallCountsSnapshot {
  struct ErrnoCount {
    uint32_t nr = 0;
    int err = 0;
    uint64_t count = 0;
  };
  std::vector<sm_syscall_stats> per_syscall = std::vector<sm_syscall_stats>(SM_MAX_SYSCALLS);
  std::vector<ErrnoCount> errnos;
  std::array<uint64_t, SM_COUNTERS> counters{};
};

// libbpf lays out the per-CPU copies of a value every round_up(value_size, 8) bytes.
constexpr size_t percpu_stride(size_t value_size) { return (value_size + 7) / 8 * 8; }

// Adds `cpus` per-CPU copies of sm_syscall_stats, starting at `values`, into `into`.
void add_percpu_stats(sm_syscall_stats& into, const unsigned char* values, int cpus);
// The sum of `cpus` per-CPU copies of a u64.
uint64_t sum_percpu_u64(const unsigned char* values, int cpus);

// Every syscall with calls in the snapshot, busiest first (ties: lower number first), named
// by `table`, errnos sorted by number. Failed calls without a recorded errno are listed
// under kUnrecordedErrno, so each entry's errno counts add up to its errors.
std::vector<SyscallStats> build_syscall_stats(const SyscallCountsSnapshot& snapshot,
                                              const SyscallTable& table);

}  // namespace syschaos
