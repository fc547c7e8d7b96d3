// Per-CPU BPF array maps as failstop's packet programs use them: a random generator state
// per CPU (no lock on the packet path) and counters each CPU bumps without atomics.
#pragma once

#include <cstdint>
#include <string_view>

#include "core/result.hpp"

namespace syschaos::failstop {

// Seeds slot 0 of a per-CPU array of u64 (the programs' xorshift64* state) for every
// possible CPU from one seed: CPU i gets Rng::mix(seed + i) | 1 (never 0, a state xorshift
// cannot leave), so a run is reproducible per CPU. `program` names the program in errors.
Result<void> seed_per_cpu_rng(int map_fd, uint64_t seed, std::string_view program);

// Slot `key` of a per-CPU array of u64, summed over the CPUs; 0 when it cannot be read
// (counters are a report, not a decision).
uint64_t sum_per_cpu(int map_fd, uint32_t key);

}  // namespace syschaos::failstop
