// SPDX-License-Identifier: GPL-2.0
/* syschaos failstop duplicate: sends a fraction of a target's outgoing packets twice (FIST's
 * duplication extension). A tc program on an interface's egress (attached as a TCX link, which
 * the kernel detaches when syschaos dies): a packet whose source endpoint belongs to the
 * target is cloned onto the same interface's egress with bpf_clone_redirect, then the
 * original goes on. The clone comes back through this program; a mark bit set on it just
 * before cloning tells it apart, and is cleared so that nothing downstream sees it.
 * An interface lives in one network namespace (user space attaches to the target's and sets
 * iface_netns to its cookie): endpoints are keyed by namespace as in failstop_net, and only
 * those of the interface's namespace can match. */
#include "vmlinux.h"

#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "failstop_net.h"

char LICENSE[] SEC("license") = "GPL";

#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define ETH_HLEN 14
#define PROTO_TCP 6
#define PROTO_UDP 17
#define TC_ACT_OK 0
#define DUP_MARK 0x5ca0000u /* bits of skb->mark syschaos borrows for a moment */

__u32 dup_threshold = 0; /* duplicate when rand32 < threshold */
__u64 iface_netns = 0;   /* cookie of the network namespace of the interface */

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, FS_MAX_ENDPOINTS);
  __type(key, struct fs_endpoint);
  __type(value, __u8);
} endpoints SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, __u64);
} rng_state SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 2 * FS_COUNTERS);
  __type(key, __u32);
  __type(value, __u64);
} counters SEC(".maps");

static __always_inline void count(__u32 which) {
  __u32 key = FS_DIR_OUT * FS_COUNTERS + which;
  __u64 *c = bpf_map_lookup_elem(&counters, &key);
  if (c) *c += 1;
}

static __always_inline int source_endpoint(struct __sk_buff *skb, struct fs_endpoint *e) {
  __builtin_memset(e, 0, sizeof(*e));
  __u32 l4 = 0;
  /* Loopback and Ethernet devices both carry a 14-byte Ethernet header at tc. */
  if (skb->protocol == bpf_htons(ETH_P_IP)) {
    struct iphdr ip;
    if (bpf_skb_load_bytes(skb, ETH_HLEN, &ip, sizeof(ip))) return -1;
    if (ip.protocol != PROTO_TCP && ip.protocol != PROTO_UDP) return -1;
    if (ip.frag_off & bpf_htons(0x1fff)) return -1;
    e->family = 4;
    e->proto = ip.protocol;
    __builtin_memcpy(e->addr, &ip.saddr, 4);
    l4 = ETH_HLEN + ip.ihl * 4;
  } else if (skb->protocol == bpf_htons(ETH_P_IPV6)) {
    struct ipv6hdr ip6;
    if (bpf_skb_load_bytes(skb, ETH_HLEN, &ip6, sizeof(ip6))) return -1;
    if (ip6.nexthdr != PROTO_TCP && ip6.nexthdr != PROTO_UDP) return -1;
    e->family = 6;
    e->proto = ip6.nexthdr;
    __builtin_memcpy(e->addr, &ip6.saddr, 16);
    l4 = ETH_HLEN + sizeof(ip6);
  } else {
    return -1;
  }
  __u16 port;
  if (bpf_skb_load_bytes(skb, l4, &port, sizeof(port))) return -1;
  e->port = port;
  e->netns = iface_netns;
  return 0;
}

SEC("tc")
int fs_duplicate(struct __sk_buff *skb) {
  if ((skb->mark & DUP_MARK) == DUP_MARK) { /* our clone, second time round */
    skb->mark &= ~DUP_MARK;
    return TC_ACT_OK;
  }
  struct fs_endpoint e;
  if (source_endpoint(skb, &e)) return TC_ACT_OK;
  if (!bpf_map_lookup_elem(&endpoints, &e)) {
    __builtin_memset(e.addr, 0, sizeof(e.addr));
    if (!bpf_map_lookup_elem(&endpoints, &e)) return TC_ACT_OK;
  }
  count(FS_SEEN);
  __u32 zero = 0;
  __u64 *state = bpf_map_lookup_elem(&rng_state, &zero);
  if (!state) return TC_ACT_OK;
  __u64 x = *state;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  *state = x;
  __u32 r = (__u32)((x * 0x2545F4914F6CDD1DULL) >> 32);
  if (r >= dup_threshold) return TC_ACT_OK;
  __u32 mark = skb->mark;
  skb->mark = mark | DUP_MARK;
  if (bpf_clone_redirect(skb, skb->ifindex, 0) == 0) count(FS_ACTED);
  skb->mark = mark;
  return TC_ACT_OK;
}
