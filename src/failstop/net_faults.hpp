// Network faults for a target, FIST's omission and duplication extensions:
//   Omission     drops a fraction of the target's packets, outgoing and/or incoming,
//                optionally only to/from some ports (cgroup BPF, bpf/failstop_net.bpf.c).
//   Duplication  sends a fraction of the target's outgoing packets twice (a TCX program on
//                an interface's egress, bpf/failstop_dup.bpf.c).
// Both follow the target's sockets: refresh() re-reads its endpoints from /proc (the
// run loop calls it a few times a second), so new connections are covered within one
// refresh. Both are BPF links owned by this process: nothing outlives syschaos.
#pragma once

#include <cstdint>
#include <memory>
#include <set>
#include <string>

#include "core/result.hpp"
#include "failstop/net_filter.hpp"
#include "target/target.hpp"

namespace syschaos::failstop {

struct OmissionOptions {
  double drop_out = 0;
  double drop_in = 0;
  std::set<uint16_t> ports;
  uint64_t seed = 1;
};

class Omission {
 public:
  static Result<std::unique_ptr<Omission>> start(Target& target, const OmissionOptions& options);
  Result<void> refresh();
  NetFilterCounters counters() const { return filter_->counters(); }
  size_t endpoints() const { return filter_->endpoints().size(); }

 private:
  Omission(Target& target, std::unique_ptr<NetFilter> filter) : target_(target), filter_(std::move(filter)) {}
  Target& target_;
  std::unique_ptr<NetFilter> filter_;
};

struct DuplicationOptions {
  double fraction = 0;
  std::string interface = "lo";
  uint64_t seed = 1;
};

struct DuplicationCounters {
  uint64_t seen = 0, duplicated = 0;
};

class Duplication {
 public:
  static Result<std::unique_ptr<Duplication>> start(Target& target, const DuplicationOptions& options);
  ~Duplication();
  Result<void> refresh();
  DuplicationCounters counters() const;
  size_t endpoints() const { return endpoints_.size(); }

 private:
  struct Impl;
  Duplication(Target& target, std::unique_ptr<Impl> impl);
  Target& target_;
  std::unique_ptr<Impl> impl_;
  std::set<Endpoint> endpoints_;
};

}  // namespace syschaos::failstop
