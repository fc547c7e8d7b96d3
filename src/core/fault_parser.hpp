// Parses faults written as strace writes them: "openat:error=ENOENT:when=3+", optionally
// prefixed "inject=" or "fault=" (strace's -e fault=, whose default error is ENOSYS), plus
// syschaos's own keys in the same colon syntax:
//   error=EIO*3|EINTR   weighted errnos          prob=0.1    probability per matching call
//   max=N               at most N hits in all    after=2s    start 2 s after arming
//   for=10s             active for 10 s          path=GLOB   any path argument matches
//   fd=socket|file|3    kind or number of fd     comm=GLOB   thread name
#pragma once

#include <string_view>

#include "core/fault_rule.hpp"
#include "core/result.hpp"

namespace syschaos {

Result<FaultRule> parse_fault(std::string_view text);

// Single values, shared with the rule-file reader so both accept exactly the same words.
Result<std::vector<WeightedErrno>> parse_weighted_errnos(std::string_view text);
Result<WhenTrigger> parse_when(std::string_view text);
Result<double> parse_probability(std::string_view text);
Result<uint64_t> parse_count(std::string_view text, std::string_view what);
Result<int64_t> parse_retval(std::string_view text);
Result<std::vector<Poke>> parse_pokes(std::string_view text);
Result<void> parse_fd_filter(std::string_view text, FaultFilters& filters);
// Sets one key=value of a rule (the colon syntax and rule files share it). saw_error
// tracks whether error= was given already, which strace allows only once.
Result<void> apply_fault_key(FaultRule& rule, std::string_view key, std::string_view value,
                             bool& saw_error);
// Checks a rule as a whole (an action is present, error and retval not both, ...).
Result<void> validate_rule(const FaultRule& rule);

}  // namespace syschaos
