// The observations syschaos makes, one Interval at a time: per-syscall counts by outcome
// and latency histograms (from the eBPF syscall monitor), and the target's resource usage
// (from its cgroup and network namespace). Everything downstream — the live view, the
// Prometheus exporter, the JSONL/CSV writer, experiments — reads these types only.
#pragma once

#include <sys/types.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace syschaos {

// log2 latency buckets: bucket i holds calls with duration in [2^i, 2^(i+1)) ns; bucket 0
// also holds 0 ns. 40 buckets reach 2^40 ns ≈ 18 minutes; longer calls land in the last.
inline constexpr int kLatencyBuckets = 40;

struct SyscallStats {
  int nr = -1;
  std::string name;
  uint64_t calls = 0;                      // completed calls in the interval
  uint64_t errors = 0;                     // of which failed (returned -errno)
  std::vector<std::pair<int, uint64_t>> errnos;  // (errno, count), errno > 0, sorted by errno
  std::array<uint64_t, kLatencyBuckets> latency_log2{};  // counts per bucket
  uint64_t latency_sum_ns = 0;
  // Quantile estimated from the histogram (upper bound of the bucket, interpolated).
  double latency_quantile_ns(double q) const;
};

struct ResourceStats {
  // Each field is optional: a cgroup version or a namespace may not offer it.
  std::optional<uint64_t> cpu_usage_ns;       // cumulative
  std::optional<double> cpu_cores;            // usage over the interval / interval length
  std::optional<uint64_t> memory_bytes;       // current
  std::optional<uint64_t> memory_peak_bytes;
  std::optional<uint64_t> memory_limit_bytes;
  // current minus inactive file cache: what `docker stats` and the kubelet call usage,
  // the memory that cannot simply be dropped under pressure
  std::optional<uint64_t> memory_working_set_bytes;
  std::optional<uint64_t> oom_events;         // cumulative
  std::optional<uint64_t> oom_kills;          // cumulative
  std::optional<uint64_t> io_read_bytes;      // cumulative
  std::optional<uint64_t> io_write_bytes;     // cumulative
  std::optional<uint64_t> pids;               // current
  std::optional<uint64_t> net_rx_bytes, net_tx_bytes;      // cumulative, all non-loopback
  std::optional<uint64_t> net_rx_packets, net_tx_packets;  // interfaces of the netns, or
  std::optional<uint64_t> net_rx_drops, net_tx_drops;      // loopback too if it is the only one
  // Set with the net_* fields: true when processes outside the target share its network
  // namespace (--network host, a --pid target in the host's namespace), so the counters
  // include traffic that is not the target's.
  std::optional<bool> network_shared;
  // How the values were measured: "cgroup v2", "cgroup v1", "cgroup v2+v1" (hybrid host:
  // the v2 cgroup for what it offers, v1 controllers for the rest) or "processes" (summed
  // from /proc/PID for a target without a cgroup of its own). Empty when unknown.
  std::string source;
};

struct Interval {
  uint64_t index = 0;                 // 0, 1, 2, ...
  double start_unix = 0, end_unix = 0;  // wall clock, seconds
  std::vector<SyscallStats> syscalls;   // only syscalls with calls > 0, busiest first
  uint64_t total_calls = 0;
  uint64_t total_errors = 0;
  uint64_t events_lost = 0;           // slow/failed-call stream only; counts never lose
  ResourceStats resources;
  uint64_t processes = 0;             // target processes at the end of the interval
  bool target_alive = true;
};

}  // namespace syschaos
