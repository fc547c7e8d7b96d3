#include "failstop/per_cpu_maps.hpp"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <string>
#include <vector>

#include "core/rng.hpp"

namespace syschaos::failstop {

Result<void> seed_per_cpu_rng(int map_fd, uint64_t seed, std::string_view program) {
  int cpus = libbpf_num_possible_cpus();
  if (cpus <= 0) return Error::sys("libbpf_num_possible_cpus", -cpus);
  std::vector<uint64_t> states(static_cast<size_t>(cpus));
  for (int cpu = 0; cpu < cpus; ++cpu) states[cpu] = Rng::mix(seed + static_cast<uint64_t>(cpu)) | 1;
  uint32_t zero = 0;
  if (bpf_map_update_elem(map_fd, &zero, states.data(), BPF_ANY) != 0)
    return Error::sys("seed " + std::string(program));
  return ok();
}

uint64_t sum_per_cpu(int map_fd, uint32_t key) {
  int cpus = libbpf_num_possible_cpus();
  if (cpus <= 0) return 0;
  std::vector<uint64_t> values(static_cast<size_t>(cpus));
  if (bpf_map_lookup_elem(map_fd, &key, values.data()) != 0) return 0;
  uint64_t total = 0;
  for (uint64_t v : values) total += v;
  return total;
}

}  // namespace syschaos::failstop
