// Orphaned TCP sockets of a killed target: after the process died, the kernel still holds
// its closed connections (FIN_WAIT1, LAST_ACK, CLOSING, FIN_WAIT2) and retransmits their
// FIN for up to ~100 s on loopback (tcp_orphan_retries). While the crash blackhole is up
// those FINs are dropped; lifting it earlier would let the next retransmission out and
// tell the peer "closed cleanly" after all. So before lifting, syschaos destroys them with
// sock_diag's SOCK_DESTROY (what `ss -K` does; CONFIG_INET_DIAG_DESTROY): the kernel frees
// them, and any RST it sends on the way is still dropped by the blackhole.
#pragma once

#include <set>

#include "core/result.hpp"
#include "failstop/socket_endpoints.hpp"

namespace syschaos::failstop {

// Orphaned (no owning file: inode 0) TCP sockets whose local endpoint is one of
// `endpoints` of the namespace scanned (a wildcard endpoint matches any local address with
// its port; endpoints of other namespaces are ignored).
struct OrphanScan {
  size_t found = 0;
  size_t destroyed = 0;
};
// With destroy=false, only counts. `netns_fd` names the network namespace to look in (the
// target's, opened while it still ran); -1 means this process's own.
Result<OrphanScan> destroy_orphans(const std::set<Endpoint>& endpoints, bool destroy, int netns_fd = -1);

}  // namespace syschaos::failstop
