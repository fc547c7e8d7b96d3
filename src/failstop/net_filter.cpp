#include "failstop/net_filter.hpp"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/unique_fd.hpp"
#include "failstop/per_cpu_maps.hpp"
#include "failstop/target_cgroups.hpp"
#include <linux/types.h>

#include "failstop_net.h"
#include "failstop_net.skel.h"
#include "observe/bpf_handles.hpp"

namespace syschaos::failstop {

uint32_t drop_threshold(double fraction) {
  if (fraction <= 0) return 0;
  if (fraction >= 1) return UINT32_MAX;
  return static_cast<uint32_t>(std::llround(fraction * 4294967296.0));
}

namespace {

}  // namespace

fs_endpoint endpoint_key(const Endpoint& e) {
  fs_endpoint key;
  std::memset(&key, 0, sizeof(key));  // a hash key: every byte counts
  key.netns = e.netns;
  key.family = e.family;
  key.proto = e.proto;
  key.port = htons(e.port);
  std::memcpy(key.addr, e.addr.data(), sizeof(key.addr));
  return key;
}

namespace {

// Depth of a cgroup below the v2 root: the "level" bpf_skb_ancestor_cgroup_id counts.
Result<uint32_t> cgroup_level(const std::string& root, const std::string& dir) {
  if (!dir.starts_with(root)) return Error(fmt::format("{} is not below {}", dir, root));
  uint32_t level = 0;
  for (size_t i = root.size(); i < dir.size(); ++i)
    if (dir[i] == '/' && i + 1 < dir.size()) ++level;
  return level;
}

}  // namespace

using NetSkeleton = BpfSkeleton<failstop_net_bpf, failstop_net_bpf__destroy>;

bool kernel_matches_namespaces() {
  // Probed once: whether a cgroup_skb program may call bpf_get_netns_cookie.
  static const bool aware =
      libbpf_probe_bpf_helper(BPF_PROG_TYPE_CGROUP_SKB, BPF_FUNC_get_netns_cookie, nullptr) == 1;
  return aware;
}

struct NetFilter::Impl {
  NetSkeleton skel;
  UniqueFd root_fd;
  BpfLink egress, ingress;  // declared after the skeleton: destroyed (detached) first
};

NetFilter::NetFilter(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
NetFilter::~NetFilter() = default;

Result<std::unique_ptr<NetFilter>> NetFilter::attach(const NetFilterOptions& options) {
  auto impl = std::make_unique<Impl>();
  impl->skel.reset(failstop_net_bpf__open());
  if (!impl->skel) return Error::sys("open BPF program failstop_net");
  auto* bss = impl->skel->bss;
  bss->drop_all = options.drop_all ? 1 : 0;
  bss->drop_threshold[FS_DIR_OUT] = drop_threshold(options.drop_out);
  bss->drop_threshold[FS_DIR_IN] = drop_threshold(options.drop_in);
  bss->port_filter = options.ports.empty() ? 0 : 1;
  impl->skel->rodata->netns_aware = kernel_matches_namespaces() ? 1 : 0;
  auto root = cgroup_v2_root();
  if (!root) return root.error();
  if (options.cgroup_v2) {
    struct stat st {};
    if (::stat(options.cgroup_v2->c_str(), &st) != 0) return Error::sys("stat " + *options.cgroup_v2);
    auto level = cgroup_level(*root, *options.cgroup_v2);
    if (!level) return level.error();
    bss->target_cgid = st.st_ino;  // a cgroup v2 directory's inode number is its id
    bss->target_level = *level;
  }
  if (int err = failstop_net_bpf__load(impl->skel.get()); err)
    return Error::sys("load BPF program failstop_net", -err);

  for (uint16_t port : options.ports) {
    uint16_t key = htons(port);
    uint8_t one = 1;
    if (bpf_map_update_elem(bpf_map__fd(impl->skel->maps.ports), &key, &one, BPF_ANY) != 0)
      return Error::sys("add port to failstop_net");
  }
  // Seed each CPU's generator from the one seed: drops are reproducible per CPU.
  SYSCHAOS_TRY(seed_per_cpu_rng(bpf_map__fd(impl->skel->maps.rng_state), options.seed, "failstop_net"));

  impl->root_fd.reset(::open(root->c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!impl->root_fd) return Error::sys("open " + *root);
  impl->egress.reset(bpf_program__attach_cgroup(impl->skel->progs.fs_egress, impl->root_fd.get()));
  if (!impl->egress) return Error::sys("attach cgroup_skb/egress to " + *root);
  impl->ingress.reset(bpf_program__attach_cgroup(impl->skel->progs.fs_ingress, impl->root_fd.get()));
  if (!impl->ingress) return Error::sys("attach cgroup_skb/ingress to " + *root);
  return std::unique_ptr<NetFilter>(new NetFilter(std::move(impl)));
}

Result<void> NetFilter::set_endpoints(const std::set<Endpoint>& endpoints) {
  int fd = bpf_map__fd(impl_->skel->maps.endpoints);
  uint8_t one = 1;
  for (const Endpoint& e : endpoints) {
    if (endpoints_.count(e)) continue;
    fs_endpoint key = endpoint_key(e);
    if (!kernel_matches_namespaces()) key.netns = 0;  // the program sees cookie 0 everywhere
    if (bpf_map_update_elem(fd, &key, &one, BPF_ANY) != 0)
      return Error::sys("add endpoint " + e.to_string());
  }
  for (const Endpoint& e : endpoints_) {
    if (endpoints.count(e)) continue;
    fs_endpoint key = endpoint_key(e);
    if (!kernel_matches_namespaces()) key.netns = 0;
    // Without namespaces two endpoints may share a key: keep it while one still needs it.
    if (!kernel_matches_namespaces() && std::any_of(endpoints.begin(), endpoints.end(), [&](const Endpoint& x) {
          Endpoint y = x;
          y.netns = e.netns;
          return y == e;
        }))
      continue;
    if (bpf_map_delete_elem(fd, &key) != 0 && errno != ENOENT)
      return Error::sys("remove endpoint " + e.to_string());
  }
  endpoints_ = endpoints;
  return ok();
}

NetFilterCounters NetFilter::counters() const {
  NetFilterCounters c;
  int fd = bpf_map__fd(impl_->skel->maps.counters);
  auto sum = [fd](uint32_t key) { return sum_per_cpu(fd, key); };
  auto key = [](fs_direction dir, fs_counter which) {
    return static_cast<uint32_t>(dir) * FS_COUNTERS + static_cast<uint32_t>(which);
  };
  c.seen_out = sum(key(FS_DIR_OUT, FS_SEEN));
  c.dropped_out = sum(key(FS_DIR_OUT, FS_ACTED));
  c.seen_in = sum(key(FS_DIR_IN, FS_SEEN));
  c.dropped_in = sum(key(FS_DIR_IN, FS_ACTED));
  return c;
}

}  // namespace syschaos::failstop
