// Network counters of a network namespace, from /proc/PID/net/dev, which shows the
// namespace of process PID (not the reader's). Which interfaces are summed, and whether the
// namespace is shared with processes outside the target, decide what the numbers mean; see
// docs/OBSERVE_OUTPUT.md ("network").
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"

namespace syschaos {

struct InterfaceCounters {
  std::string name;
  uint64_t rx_bytes = 0, rx_packets = 0, rx_drops = 0;
  uint64_t tx_bytes = 0, tx_packets = 0, tx_drops = 0;
};

// The interfaces listed in the text of /proc/net/dev (two header lines, then
// "name: rx_bytes rx_packets rx_errs rx_drop ... tx_bytes tx_packets tx_errs tx_drop ...").
Result<std::vector<InterfaceCounters>> parse_proc_net_dev(std::string_view text);

// The namespace's traffic as a user means it: every interface but loopback, because traffic
// a container sends to itself over `lo` never leaves it. When loopback is the only interface
// (--network none, or a namespace whose only traffic is local) it is what there is, and is
// reported. The name of the result lists the interfaces summed, e.g. "eth0+eth1" or "lo".
InterfaceCounters sum_target_interfaces(const std::vector<InterfaceCounters>& interfaces);

// The identity of a process's network namespace ("net:[4026531840]", from readlink of
// /proc/PID/ns/net). Error keeps errno (ENOENT/ESRCH once the process is gone).
Result<std::string> network_namespace_of(pid_t pid);

// True when a process outside `target_pids` is in the network namespace `netns` (as given by
// network_namespace_of): its counters then include traffic that is not the target's, as for a
// container run with --network host, a --pid target in the host's namespace, or containers
// sharing one namespace. `target_pids` must be sorted.
Result<bool> network_namespace_shared(const std::string& netns,
                                      const std::vector<pid_t>& target_pids);

}  // namespace syschaos
