// SPDX-License-Identifier: GPL-2.0
/* syschaos failstop: drop the packets of a target, in the kernel, for
 *   crash     every packet to or from the target's endpoints (a blackhole), so that the
 *             FIN/RST the kernel sends for a killed process's sockets never leaves, and
 *   omission  a fraction of them, per direction, optionally only for some ports.
 *
 * Attached (through BPF links, which die with syschaos) to cgroup v2's root as
 * cgroup_skb/egress and cgroup_skb/ingress, so that it sees every socket's packets: the
 * target's own, its peers' on this host, and the kernel's control socket that answers for
 * sockets that no longer exist (the RST to a dead port).
 *
 * Which packets are the target's:
 *   - an endpoint match: the packet's source (the target sends) or destination (the target
 *     receives) address:port is a local endpoint of one of the target's sockets (map
 *     `endpoints`, kept by user space from /proc), or
 *   - a cgroup match: the packet's socket belongs to the target's cgroup v2 (target_cgid at
 *     target_level), which also catches sockets opened since user space last looked.
 * A packet between two sockets of this host passes an egress hook and then an ingress hook;
 * it must be decided once, so endpoint matches are decided at egress, and ingress decides
 * only what egress could not have matched: packets from another host or namespace, and
 * loopback packets whose only match is the receiving socket's cgroup.
 *
 * Network namespaces. An endpoint is (namespace, proto, address, port): two containers with
 * their own namespaces may both listen on 127.0.0.1:80, and only the target's must be hit.
 * Every packet is looked up with bpf_get_netns_cookie(skb) (allowed in cgroup_skb programs;
 * the namespace of the socket the hook runs for, i.e. of the device too), which user space
 * learns for each of the target's namespaces with getsockopt(SO_NETNS_COOKIE) on a socket
 * made in it. This keeps the peers' view intact in every case:
 *   - in the target's namespace, its packets (and the kernel's answers for its dead
 *     sockets: RST, TIME_WAIT ACK, sent by a control socket of that namespace) are dropped at
 *     egress, before they reach lo or a veth; packets to it from sockets of that namespace
 *     are dropped at egress too (destination match, same namespace);
 *   - packets to it from another namespace (a veth) are seen at egress in the sender's
 *     namespace, where they match nothing, and dropped at ingress in the target's namespace
 *     (ingress on a device other than lo: egress could not have decided them). A SYN to a
 *     dead port has no receiving socket and no ingress hook, but its RST is an egress packet
 *     of the target's namespace and is dropped there;
 *   - the same address:port in any other namespace matches nothing.
 * Loopback never crosses namespaces, so "arrived on lo" still means "decided at egress".
 * One program at the root of cgroup v2 sees all of this (cgroup BPF follows the socket's
 * cgroup, whatever its namespace); attaching per target cgroup instead would miss the
 * peers' sockets and the kernel's control sockets, which are not in the target's cgroup. */
#include "vmlinux.h"

#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "failstop_net.h"

char LICENSE[] SEC("license") = "GPL";

#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define LOOPBACK_IFINDEX 1
#define PROTO_TCP 6
#define PROTO_UDP 17

/* Written by user space before and after load (mmapped .bss / .data). */
__u32 drop_threshold[2] = {0, 0}; /* per direction: drop when rand32 < threshold; 0xffffffff + all = every packet */
__u32 drop_all = 0;               /* 1: blackhole, every matched packet */
__u32 port_filter = 0;            /* 1: only packets whose source or destination port is in `ports` */
__u64 target_cgid = 0;            /* 0: no cgroup match */
__u32 target_level = 0;
/* Read-only once loaded: 0 on a kernel whose cgroup_skb programs may not call
 * bpf_get_netns_cookie (it came to them in 2025). The call is then dead code, which the
 * verifier never looks at, and every namespace counts as one (cookie 0, in user space too). */
const volatile __u32 netns_aware = 1;

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, FS_MAX_ENDPOINTS);
  __type(key, struct fs_endpoint);
  __type(value, __u8);
} endpoints SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, FS_MAX_PORTS);
  __type(key, __u16); /* network byte order */
  __type(value, __u8);
} ports SEC(".maps");

/* xorshift64* state per CPU, seeded by user space: runs are reproducible per CPU. */
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

struct packet {
  struct fs_endpoint src, dst;
};

static __always_inline int parse(struct __sk_buff *skb, struct packet *p) {
  __builtin_memset(p, 0, sizeof(*p));
  __u32 l4 = 0;
  if (skb->protocol == bpf_htons(ETH_P_IP)) {
    struct iphdr ip;
    if (bpf_skb_load_bytes(skb, 0, &ip, sizeof(ip))) return -1;
    if (ip.protocol != PROTO_TCP && ip.protocol != PROTO_UDP) return -1;
    if (ip.frag_off & bpf_htons(0x1fff)) return -1; /* not the first fragment: no ports */
    p->src.family = p->dst.family = 4;
    p->src.proto = p->dst.proto = ip.protocol;
    __builtin_memcpy(p->src.addr, &ip.saddr, 4);
    __builtin_memcpy(p->dst.addr, &ip.daddr, 4);
    l4 = ip.ihl * 4;
  } else if (skb->protocol == bpf_htons(ETH_P_IPV6)) {
    struct ipv6hdr ip6;
    if (bpf_skb_load_bytes(skb, 0, &ip6, sizeof(ip6))) return -1;
    if (ip6.nexthdr != PROTO_TCP && ip6.nexthdr != PROTO_UDP) return -1;
    p->src.family = p->dst.family = 6;
    p->src.proto = p->dst.proto = ip6.nexthdr;
    __builtin_memcpy(p->src.addr, &ip6.saddr, 16);
    __builtin_memcpy(p->dst.addr, &ip6.daddr, 16);
    l4 = sizeof(ip6);
  } else {
    return -1;
  }
  __u16 pair[2];
  if (bpf_skb_load_bytes(skb, l4, pair, sizeof(pair))) return -1;
  p->src.port = pair[0];
  p->dst.port = pair[1];
  p->src.netns = p->dst.netns = netns_aware ? bpf_get_netns_cookie(skb) : 0;
  return 0;
}

/* Exact match only. The map holds no wildcard: user space expands a socket bound to
 * 0.0.0.0:P into one entry per address of its namespace. A wildcard fallback here would
 * take, at egress, any packet of the namespace to port P of ANY address (another process
 * talking to a server elsewhere) for a packet to the target. */
static __always_inline bool is_endpoint(const struct fs_endpoint *e) {
  return bpf_map_lookup_elem(&endpoints, e) != 0;
}

static __always_inline bool ports_ok(const struct packet *p) {
  if (!port_filter) return true;
  return bpf_map_lookup_elem(&ports, &p->src.port) || bpf_map_lookup_elem(&ports, &p->dst.port);
}

static __always_inline bool socket_in_target_cgroup(struct __sk_buff *skb) {
  __u64 cgid = target_cgid;
  if (!cgid) return false;
  return bpf_skb_ancestor_cgroup_id(skb, target_level) == cgid;
}

static __always_inline void count(__u32 dir, __u32 which) {
  __u32 key = dir * FS_COUNTERS + which;
  __u64 *c = bpf_map_lookup_elem(&counters, &key);
  if (c) *c += 1;
}

static __always_inline bool draw_drop(__u32 dir) {
  if (drop_all) return true;
  __u32 threshold = dir == FS_DIR_OUT ? drop_threshold[FS_DIR_OUT] : drop_threshold[FS_DIR_IN];
  if (threshold == 0) return false;
  __u32 zero = 0;
  __u64 *state = bpf_map_lookup_elem(&rng_state, &zero);
  if (!state) return false;
  __u64 x = *state;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  *state = x;
  __u32 r = (__u32)((x * 0x2545F4914F6CDD1DULL) >> 32);
  return r < threshold;
}

/* Returns true to drop. */
static __always_inline bool decide(__u32 dir) {
  count(dir, FS_SEEN);
  if (!draw_drop(dir)) return false;
  count(dir, FS_ACTED);
  return true;
}

SEC("cgroup_skb/egress")
int fs_egress(struct __sk_buff *skb) {
  struct packet p;
  if (parse(skb, &p)) return 1;
  __u32 dir;
  if (is_endpoint(&p.src) || socket_in_target_cgroup(skb))
    dir = FS_DIR_OUT;
  else if (is_endpoint(&p.dst))
    dir = FS_DIR_IN;
  else
    return 1;
  if (!ports_ok(&p)) return 1;
  /* 2 = drop and tell the sender "congestion": a UDP sender then sees success (as with a
   * loss on the wire) rather than EPERM, which 0 would give it. */
  return decide(dir) ? 2 : 1;
}

SEC("cgroup_skb/ingress")
int fs_ingress(struct __sk_buff *skb) {
  struct packet p;
  if (parse(skb, &p)) return 1;
  bool endpoint = is_endpoint(&p.dst);
  bool local = skb->ingress_ifindex == LOOPBACK_IFINDEX;
  /* A loopback packet that matched an endpoint was decided at egress already. */
  if (local && (endpoint || is_endpoint(&p.src))) return 1;
  if (!endpoint && !socket_in_target_cgroup(skb)) return 1;
  if (!ports_ok(&p)) return 1;
  return decide(FS_DIR_IN) ? 0 : 1;
}
