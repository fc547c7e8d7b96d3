// NetFilter: the user-space half of bpf/failstop_net.bpf.c — drops all (blackhole) or a
// fraction (omission) of a target's packets, chosen per direction and optionally per port.
//
// The programs are attached to cgroup v2's root through BPF links (BPF_F_ALLOW_MULTI
// semantics: other programs keep running). The links belong to this process's file
// descriptors, so the kernel detaches them when the NetFilter is destroyed or the process
// dies, however it dies: nothing outlives syschaos.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include "core/result.hpp"
#include "failstop/socket_endpoints.hpp"

namespace syschaos::failstop {

struct NetFilterOptions {
  bool drop_all = false;                  // blackhole
  double drop_out = 0;                    // fraction of the target's outgoing packets to drop
  double drop_in = 0;                     // fraction of its incoming packets
  std::set<uint16_t> ports;               // empty: every port
  std::optional<std::string> cgroup_v2;   // the target's own v2 cgroup, for the cgroup match
  uint64_t seed = 1;
};

struct NetFilterCounters {
  uint64_t seen_out = 0, dropped_out = 0, seen_in = 0, dropped_in = 0;
};

class NetFilter {
 public:
  // Loads and attaches. Endpoints are set separately (set_endpoints) and may change.
  static Result<std::unique_ptr<NetFilter>> attach(const NetFilterOptions& options);
  ~NetFilter();

  // Replaces the set of endpoints matched (adds the new ones first, then removes the old:
  // a packet of an endpoint in both sets is never let through in between).
  Result<void> set_endpoints(const std::set<Endpoint>& endpoints);
  const std::set<Endpoint>& endpoints() const { return endpoints_; }
  NetFilterCounters counters() const;

 private:
  struct Impl;
  explicit NetFilter(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
  std::set<Endpoint> endpoints_;
};

// Fraction (0..1) -> the BPF program's 32-bit threshold (drop when rand32 < threshold).
uint32_t drop_threshold(double fraction);

// Whether this kernel lets the cgroup_skb programs read a packet's network namespace
// (bpf_get_netns_cookie; Linux 6.18 does). When not, the blackhole and omission match a
// target's address:port in every namespace, as before namespaces were supported; callers
// warn the user.
bool kernel_matches_namespaces();

}  // namespace syschaos::failstop

struct fs_endpoint;  // bpf/failstop_net.h

namespace syschaos::failstop {

// The BPF maps' key for an endpoint (bpf/failstop_net.h): namespace cookie, family,
// protocol, port in network byte order, address; padding zeroed.
fs_endpoint endpoint_key(const Endpoint& e);

}  // namespace syschaos::failstop
