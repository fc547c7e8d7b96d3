#include "observe/syscall_monitor_decode.hpp"

#include <algorithm>
#include <cstring>
#include <map>

namespace syschaos {

int errno_of_slot(uint32_t slot) {
  uint32_t err = sm_slot_errno(slot);
  return err == 0 ? kUnrecordedErrno : static_cast<int>(err);
}

void add_percpu_stats(sm_syscall_stats& into, const unsigned char* values, int cpus) {
  const size_t stride = percpu_stride(sizeof(sm_syscall_stats));
  for (int cpu = 0; cpu < cpus; ++cpu) {
    sm_syscall_stats one;
    std::memcpy(&one, values + static_cast<size_t>(cpu) * stride, sizeof(one));
    into.calls += one.calls;
    into.errors += one.errors;
    into.latency_sum_ns += one.latency_sum_ns;
    for (int b = 0; b < SM_LATENCY_BUCKETS; ++b) into.latency_log2[b] += one.latency_log2[b];
  }
}

uint64_t sum_percpu_u64(const unsigned char* values, int cpus) {
  uint64_t sum = 0;
  for (int cpu = 0; cpu < cpus; ++cpu) {
    uint64_t one;
    std::memcpy(&one, values + static_cast<size_t>(cpu) * percpu_stride(sizeof(one)), sizeof(one));
    sum += one;
  }
  return sum;
}

std::vector<SyscallStats> build_syscall_stats(const SyscallCountsSnapshot& snapshot,
                                              const SyscallTable& table) {
  // nr -> errno -> count; std::map keeps the errnos sorted.
  std::map<uint32_t, std::map<int, uint64_t>> errnos_by_nr;
  for (const auto& e : snapshot.errnos)
    if (e.count) errnos_by_nr[e.nr][e.err] += e.count;

  std::vector<SyscallStats> out;
  for (size_t nr = 0; nr < snapshot.per_syscall.size(); ++nr) {
    const sm_syscall_stats& raw = snapshot.per_syscall[nr];
    if (raw.calls == 0) continue;
    SyscallStats s;
    s.nr = static_cast<int>(nr);
    s.name = table.name(s.nr);
    s.calls = raw.calls;
    s.errors = raw.errors;
    s.latency_sum_ns = raw.latency_sum_ns;
    std::copy(std::begin(raw.latency_log2), std::end(raw.latency_log2), s.latency_log2.begin());
    std::map<int, uint64_t> errnos;
    if (auto it = errnos_by_nr.find(static_cast<uint32_t>(nr)); it != errnos_by_nr.end())
      errnos = it->second;
    uint64_t recorded = 0;
    for (const auto& [err, count] : errnos) recorded += count;
    // The errno map can fill up; the errors still counted in `errors` are not lost, only
    // their errno is. (recorded > errors cannot happen: each errno record follows an error.)
    if (raw.errors > recorded) errnos[kUnrecordedErrno] += raw.errors - recorded;
    s.errnos.assign(errnos.begin(), errnos.end());
    out.push_back(std::move(s));
  }
  std::sort(out.begin(), out.end(), [](const SyscallStats& a, const SyscallStats& b) {
    return a.calls != b.calls ? a.calls > b.calls : a.nr < b.nr;
  });
  return out;
}

}  // namespace syschaos
