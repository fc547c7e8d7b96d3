#include "observe/metrics.hpp"

#include <algorithm>
#include <cmath>

namespace syschaos {

double SyscallStats::latency_quantile_ns(double q) const {
  uint64_t total = 0;
  for (auto c : latency_log2) total += c;
  if (total == 0) return 0;
  double rank = q * static_cast<double>(total);
  uint64_t seen = 0;
  for (int i = 0; i < kLatencyBuckets; ++i) {
    uint64_t c = latency_log2[i];
    if (c == 0) continue;
    if (static_cast<double>(seen + c) >= rank) {
      // Linear interpolation inside [2^i, 2^(i+1)).
      double lo = i == 0 ? 0.0 : std::ldexp(1.0, i);
      double hi = std::ldexp(1.0, i + 1);
      double frac = c ? (rank - static_cast<double>(seen)) / static_cast<double>(c) : 1.0;
      return lo + (hi - lo) * std::clamp(frac, 0.0, 1.0);
    }
    seen += c;
  }
  return std::ldexp(1.0, kLatencyBuckets);
}

}  // namespace syschaos
