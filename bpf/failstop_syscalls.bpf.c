// SPDX-License-Identifier: GPL-2.0
/* syschaos failstop: "fail after the N-th call of a syscall". Counts, in the kernel, one
 * syscall per victim (a group of target processes) on raw_syscalls:sys_enter and wakes
 * user space through a ring buffer at the exact call that reaches N, so that no call is
 * missed however fast the target makes them. The count is per victim: every thread of
 * every process in it (processes it forks join it, as in the syscall monitor).
 * Chosen over seccomp: a seccomp filter can only be installed by the process itself (or at
 * exec), and would change the target; this watches from outside and goes with syschaos. */
#include "vmlinux.h"

#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "failstop_syscalls.h"

char LICENSE[] SEC("license") = "GPL";

/* tgid -> victim index. Seeded by user space; forks add their children. */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 16384);
  __type(key, __u32);
  __type(value, __u32);
} victim_of SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, FS_MAX_VICTIMS);
  __type(key, __u32);
  __type(value, struct fs_syscall_watch);
} watches SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, FS_MAX_VICTIMS);
  __type(key, __u32);
  __type(value, __u64);
} call_counts SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, 4096 * 4);
} events SEC(".maps");

SEC("tp_btf/sys_enter")
int BPF_PROG(fs_sys_enter, struct pt_regs *regs, long id) {
  __u64 pid_tgid = bpf_get_current_pid_tgid();
  __u32 tgid = pid_tgid >> 32;
  __u32 *victim = bpf_map_lookup_elem(&victim_of, &tgid);
  if (!victim) return 0;
  __u32 v = *victim;
  struct fs_syscall_watch *w = bpf_map_lookup_elem(&watches, &v);
  if (!w || w->nr != id) return 0;
  __u64 *count = bpf_map_lookup_elem(&call_counts, &v);
  if (!count) return 0;
  __u64 now = __sync_add_and_fetch(count, 1);
  if (now != w->threshold) return 0;
  struct fs_syscall_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
  if (!e) return 0;
  e->victim = v;
  e->tgid = tgid;
  e->tid = (__u32)pid_tgid;
  e->pad = 0;
  e->count = now;
  e->ktime_ns = bpf_ktime_get_ns();
  bpf_ringbuf_submit(e, BPF_RB_FORCE_WAKEUP);
  return 0;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(fs_fork, struct task_struct *parent, struct task_struct *child) {
  __u32 ptgid = parent->tgid;
  __u32 *victim = bpf_map_lookup_elem(&victim_of, &ptgid);
  if (!victim) return 0;
  __u32 ctgid = child->tgid;
  if (ctgid == ptgid) return 0; /* a thread */
  __u32 v = *victim;
  bpf_map_update_elem(&victim_of, &ctgid, &v, BPF_ANY);
  return 0;
}
