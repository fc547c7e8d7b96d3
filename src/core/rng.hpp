// A seeded random source whose sequence is the same on every platform and compiler:
// std::mt19937_64 is specified exactly, and we derive doubles ourselves instead of using
// std::uniform_real_distribution, whose output is implementation-defined.
#pragma once

#include <cstdint>
#include <random>

namespace syschaos {

class Rng {
 public:
  explicit Rng(uint64_t seed) : gen_(mix(seed)) {}
  // Uniform in [0, 1).
  double uniform() { return static_cast<double>(gen_() >> 11) * 0x1.0p-53; }
  // Uniform integer in [0, n), n > 0.
  uint64_t below(uint64_t n) { return gen_() % n; }

  // splitmix64: spreads nearby seeds (seed, seed+1, ...) to unrelated generator states.
  static uint64_t mix(uint64_t x) {
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
  }

 private:
  std::mt19937_64 gen_;
};

}  // namespace syschaos
