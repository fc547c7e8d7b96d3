/* Layouts shared by failstop_net.bpf.c / failstop_dup.bpf.c and user space
 * (src/failstop/net_filter.cpp). Plain C types only: this header is included by both. */
#ifndef SYSCHAOS_FAILSTOP_NET_H
#define SYSCHAOS_FAILSTOP_NET_H

#define FS_MAX_ENDPOINTS 4096
#define FS_MAX_PORTS 64
#define FS_MAX_CPUS 1024

/* One local endpoint of a target socket: what the target sends from and receives on.
 * An all-zero address is a wildcard (a socket bound to 0.0.0.0 or ::). */
struct fs_endpoint {
  __u8 family;   /* 4 or 6 */
  __u8 proto;    /* IPPROTO_TCP or IPPROTO_UDP */
  __u16 port;    /* network byte order, as in the packet */
  __u8 addr[16]; /* IPv4 in the first 4 bytes, network byte order */
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
