#include "failstop/net_faults.hpp"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <linux/types.h>
#include <net/if.h>

#include <cstring>

#include "core/unique_fd.hpp"
#include "failstop/failstop.hpp"
#include "failstop/network_namespace.hpp"
#include "failstop/per_cpu_maps.hpp"
#include "failstop/socket_endpoints.hpp"
#include "failstop_dup.skel.h"
#include "failstop_net.h"
#include "observe/bpf_handles.hpp"
#include "target/cgroup_paths.hpp"

namespace syschaos::failstop {

namespace {

Result<std::set<Endpoint>> target_endpoints(Target& target) {
  auto pids = target.processes();
  if (!pids) return pids.error();
  return endpoints_of(with_descendants(*pids));
}

}  // namespace

Result<std::unique_ptr<Omission>> Omission::start(Target& target, const OmissionOptions& options) {
  NetFilterOptions net;
  net.drop_out = options.drop_out;
  net.drop_in = options.drop_in;
  net.ports = options.ports;
  net.seed = options.seed;
  auto pids = target.processes();
  if (!pids) return pids.error();
  if (pids->empty()) return Error(fmt::format("{} has no running process", target.describe()));
  // A target with a v2 cgroup of its own is also matched by the cgroup of the packet's
  // socket: its new sockets are covered before the next refresh sees them.
  auto own = own_cgroup(*pids, kCgroupV2Hierarchy);
  if (own && *own) net.cgroup_v2 = **own;
  auto filter = NetFilter::attach(net);
  if (!filter) return filter.error();
  std::unique_ptr<Omission> omission(new Omission(target, std::move(*filter)));
  SYSCHAOS_TRY(omission->refresh());
  return omission;
}

Result<void> Omission::refresh() {
  auto endpoints = target_endpoints(target_);
  if (!endpoints) return endpoints.error();
  return filter_->set_endpoints(*endpoints);
}

// ---- duplication ---------------------------------------------------------------------------

// BPF_TCX_EGRESS (Linux 6.6): newer than the uapi headers of the build machine's libbpf.
constexpr int kBpfTcxEgress = 47;

using DupSkeleton = BpfSkeleton<failstop_dup_bpf, failstop_dup_bpf__destroy>;

struct Duplication::Impl {
  DupSkeleton skel;
  UniqueFd link;  // the tc BPF link; declared after the skeleton: closed (detached) first
};

Duplication::Duplication(Target& target, std::unique_ptr<Impl> impl) : target_(target), impl_(std::move(impl)) {}
Duplication::~Duplication() = default;

Result<std::unique_ptr<Duplication>> Duplication::start(Target& target, const DuplicationOptions& options) {
  // The interface is the target's: looked up, and attached to, in the network namespace of
  // its (first) process — `lo` of a container with a namespace of its own is that
  // container's loopback, and a veth end inside it is found by its name there.
  auto pids = target.processes();
  if (!pids) return pids.error();
  if (pids->empty()) return Error(fmt::format("{} has no running process", target.describe()));
  auto netns = open_netns_of(pids->front());
  if (!netns) return netns.error().context(target.describe());
  auto cookie = netns_cookie(netns->get());
  if (!cookie) return cookie.error().context(target.describe());
  auto entered = NetnsEntered::enter(netns->get());
  if (!entered) return entered.error();
  unsigned ifindex = ::if_nametoindex(options.interface.c_str());
  int lookup_errno = errno;
  SYSCHAOS_TRY((*entered)->leave());
  if (ifindex == 0)
    return Error::sys(fmt::format("no interface {} in the network namespace of {}", options.interface,
                                  target.describe()),
                      lookup_errno);
  auto impl = std::make_unique<Impl>();
  impl->skel.reset(failstop_dup_bpf__open());
  if (!impl->skel) return Error::sys("open BPF program failstop_dup");
  impl->skel->bss->dup_threshold = drop_threshold(options.fraction);
  impl->skel->bss->iface_netns = *cookie;
  if (int err = failstop_dup_bpf__load(impl->skel.get()); err)
    return Error::sys("load BPF program failstop_dup", -err);
  SYSCHAOS_TRY(seed_per_cpu_rng(bpf_map__fd(impl->skel->maps.rng_state), options.seed, "failstop_dup"));
  // The kernel resolves the ifindex in the caller's network namespace: attach from inside.
  auto inside = NetnsEntered::enter(netns->get());
  if (!inside) return inside.error();
  int link = bpf_link_create(bpf_program__fd(impl->skel->progs.fs_duplicate), static_cast<int>(ifindex),
                             static_cast<bpf_attach_type>(kBpfTcxEgress), nullptr);
  if (auto back = (*inside)->leave(); !back) {
    if (link >= 0) ::close(link);
    return back.error();
  }
  if (link < 0)
    return Error::sys(fmt::format("attach tcx egress to {} (needs Linux 6.6+)", options.interface),
                      -link);  // libbpf 1.x returns -errno
  impl->link.reset(link);
  std::unique_ptr<Duplication> dup(new Duplication(target, std::move(impl)));
  SYSCHAOS_TRY(dup->refresh());
  return dup;
}

Result<void> Duplication::refresh() {
  auto endpoints = target_endpoints(target_);
  if (!endpoints) return endpoints.error();
  int fd = bpf_map__fd(impl_->skel->maps.endpoints);
  uint8_t one = 1;
  auto key_of = [](const Endpoint& e) { return endpoint_key(e); };
  for (const Endpoint& e : *endpoints) {
    if (endpoints_.count(e)) continue;
    fs_endpoint key = key_of(e);
    if (bpf_map_update_elem(fd, &key, &one, BPF_ANY) != 0) return Error::sys("add endpoint " + e.to_string());
  }
  for (const Endpoint& e : endpoints_) {
    if (endpoints->count(e)) continue;
    fs_endpoint key = key_of(e);
    if (bpf_map_delete_elem(fd, &key) != 0 && errno != ENOENT) return Error::sys("remove endpoint " + e.to_string());
  }
  endpoints_ = *endpoints;
  return ok();
}

DuplicationCounters Duplication::counters() const {
  DuplicationCounters c;
  int fd = bpf_map__fd(impl_->skel->maps.counters);
  c.seen = sum_per_cpu(fd, static_cast<uint32_t>(FS_SEEN));
  c.duplicated = sum_per_cpu(fd, static_cast<uint32_t>(FS_ACTED));
  return c;
}

}  // namespace syschaos::failstop
