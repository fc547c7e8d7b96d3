/* Layouts shared by failstop_net.bpf.c / failstop_dup.bpf.c and user space
 * (src/failstop/net_filter.cpp). Plain C types only: this header is included by both. */
#ifndef SYSCHAOS_FAILSTOP_NET_H
#define SYSCHAOS_FAILSTOP_NET_H

#define FS_MAX_ENDPOINTS 4096
#define FS_MAX_PORTS 64
#define FS_MAX_CPUS 1024

/* One local endpoint of a target socket: what the target sends from and receives on, in
 * the network namespace it lives in. Two containers with their own namespaces may both
 * serve on 127.0.0.1:80: the namespace is part of the key, so that only the target's is hit.
 * Always a real address: user space expands a socket bound to 0.0.0.0 or :: into one key
 * per address of its namespace (failstop_dup.bpf.c still tries an all-zero address as a
 * fallback, which then matches nothing). No implicit padding:
 * the struct is a hash key, compared byte for byte. */
struct fs_endpoint {
  __u64 netns;   /* network namespace cookie (SO_NETNS_COOKIE, bpf_get_netns_cookie) */
  __u8 family;   /* 4 or 6 */
  __u8 proto;    /* IPPROTO_TCP or IPPROTO_UDP */
  __u16 port;    /* network byte order, as in the packet */
  __u8 addr[16]; /* IPv4 in the first 4 bytes, network byte order */
  __u32 reserved; /* zero */
};

/* Directions, as seen from the target. */
enum fs_direction {
  FS_DIR_OUT = 0, /* the target sends */
  FS_DIR_IN = 1,  /* the target receives */
};

/* Counters (per CPU), indexed [direction * FS_COUNTERS + counter]. */
enum fs_counter {
  FS_SEEN = 0,    /* packets of the target in this direction */
  FS_ACTED = 1,   /* dropped (net program) or duplicated (dup program) */
  FS_COUNTERS = 2,
};

#endif
