// The hypothesis of an experiment: thresholds on metrics that must hold while the fault is
// active, each absolute (`http.success_rate >= 0.99`) or relative to the baseline phase
// (`http.latency_p99 <= 2x baseline`), plus `process.alive`.
#pragma once

#include <string>
#include <vector>

#include "core/result.hpp"

namespace syschaos::experiment {

enum class Comparison { less, less_equal, greater, greater_equal, equal, not_equal };

struct Threshold {
  std::string text;     // as the user wrote it, for messages and the report
  std::string metric;   // a name from metric_catalog.hpp, e.g. "http.latency_p99", "syscall.errors{read}"
  Comparison comparison = Comparison::less_equal;
  double value = 0;     // the bound; with relative_to_baseline, a factor of the baseline value
  bool relative_to_baseline = false;  // "2x baseline"
};

struct Hypothesis {
  std::vector<Threshold> thresholds;
};

// Parses one threshold: `METRIC OP NUMBER` or `METRIC OP NUMBERx baseline`, or a boolean
// metric alone (`process.alive`). Unknown metrics, operators and numbers are errors that
// say which part is wrong.
Result<Threshold> parse_threshold(const std::string& text);

// Every threshold parsed; the first error is returned with its position ("threshold 2: ...").
Result<Hypothesis> parse_hypothesis(const std::vector<std::string>& texts);

const char* comparison_symbol(Comparison comparison);  // "<=", ">", "==" ...
// `value OP bound`; == and != compare with a relative tolerance of 1e-9 (values come from
// floating-point arithmetic, so an exact comparison would be a coin toss).
bool compare(double value, Comparison comparison, double bound);

}  // namespace syschaos::experiment
