// Which of several targets fail: Chaos Mesh's selection modes, drawn from a seeded Rng so
// that a run can be repeated exactly.
//   all          every target
//   one          one target, chosen at random
//   N            N targets (fixed number), at random
//   P%           P percent of them (rounded down, at least one), at random
//   random:P%    a random number from 1 up to P percent of them (rounded down, at least one)
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"
#include "core/rng.hpp"

namespace syschaos::failstop {

struct Selection {
  enum class Kind { kAll, kOne, kCount, kPercent, kRandomPercent };
  Kind kind = Kind::kAll;
  double value = 0;  // the count, or the percent

  std::string to_string() const;
};

Result<Selection> parse_selection(std::string_view text);

// Indices (sorted) of the chosen targets among `n`. Error when a fixed count exceeds n.
Result<std::vector<size_t>> select_targets(size_t n, const Selection& selection, Rng& rng);

}  // namespace syschaos::failstop
