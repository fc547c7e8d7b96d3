// Reads a list of fault rules from a YAML or JSON file (JSON is read as YAML, which it is a
// subset of). Either a list at the top, or a map with a "faults" list. Each entry is a
// strace-form string ("openat:error=ENOENT:when=3+") or a map with the same keys plus
// "syscalls" for the set:
//   - syscalls: [openat, read]     # or "openat,read" or "%file"
//     error: {EIO: 3, EINTR: 1}    # or "EIO*3|EINTR" or ENOENT
//     path: ["/etc/*", "*.conf"]
//     prob: 0.1
#pragma once

#include <string>

#include "core/fault_rule.hpp"
#include "core/result.hpp"

namespace syschaos {

Result<RuleSet> load_rule_file(const std::string& path);
Result<RuleSet> parse_rule_text(const std::string& text, const std::string& origin);

}  // namespace syschaos
