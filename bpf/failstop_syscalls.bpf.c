// SPDX-License-Identifier: GPL-2.0
/* syschaos failstop: "fail at the N-th call of a syscall". Counts, in the kernel, one
 * syscall per victim (a group of target processes) on raw_syscalls:sys_enter. The call
 * that reaches N stops the victim at once, from here: SIGSTOP to the hitting process
 * (bpf_send_signal: the whole thread group) and to every thread of every process of the
 * victim (bpf_send_signal_task, Linux 6.13+; see stop_process), then wakes user space
 * through a ring buffer, which applies the failure (freeze, crash, kill) and lets the
 * processes go on from the stop (SIGCONT).
 *
 * Why sys_enter: the stop is requested as the N-th call enters the kernel, so the other
 * threads and processes are stopped while that call runs, however long it waits. The call
 * itself still runs (a tracepoint cannot skip it): a call that does not wait completes and
 * its thread stops on the way back to user space, before the next instruction; a call
 * that would wait is interrupted by the stop and restarted by the kernel after SIGCONT.
 * (Stopping at sys_exit would let a waiting N-th call's siblings run on meanwhile.)
 *
 * The count is per victim: every thread of every process in it (processes it forks join
 * it, as in the syscall monitor). Chosen over seccomp: a seccomp filter can only be
 * installed by the process itself (or at exec), and would change the target; this watches
 * from outside and goes with syschaos. */
#include "vmlinux.h"

#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "failstop_syscalls.h"

char LICENSE[] SEC("license") = "GPL";

#define FS_SIGSTOP 19

/* Weak: on a kernel without them (before 6.13 for bpf_send_signal_task) the program still
 * loads, only the hitting process is stopped in the kernel, and user space stops the
 * others (the event counts them as missed). */
extern struct task_struct *bpf_task_from_pid(s32 pid) __ksym __weak;
extern void bpf_task_release(struct task_struct *p) __ksym __weak;
extern struct task_struct *bpf_task_acquire(struct task_struct *p) __ksym __weak;
extern int bpf_send_signal_task(struct task_struct *task, int sig, enum pid_type type, u64 value) __ksym __weak;
extern int bpf_iter_task_new(struct bpf_iter_task *it, struct task_struct *task, unsigned int flags) __ksym __weak;
extern struct task_struct *bpf_iter_task_next(struct bpf_iter_task *it) __ksym __weak;
extern void bpf_iter_task_destroy(struct bpf_iter_task *it) __ksym __weak;

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

/* SIGSTOP to every thread of `task`'s process, each as its own target. A signal to the
 * process wakes one thread only (the caller, for the hit), and its siblings learn of the
 * group stop when that thread acts on it: if it is preempted first, they run on for a
 * scheduler slice (thousands of calls, measured). A stop signal sent to each thread makes
 * each stop at its next return to user space (a running one is interrupted at once); the
 * first one to act stops the whole group, and SIGCONT discards the others. 0 when every
 * thread was signalled. Without the task iterator (before 6.7): the process signal. */
static __always_inline int stop_process(struct task_struct *task) {
  if (!bpf_iter_task_new || !bpf_iter_task_next || !bpf_iter_task_destroy || !bpf_task_acquire)
    return bpf_send_signal_task(task, FS_SIGSTOP, PIDTYPE_TGID, 0);
  struct bpf_iter_task it;
  struct task_struct *thread;
  int err = 0;
  bpf_iter_task_new(&it, task, BPF_TASK_ITER_PROC_THREADS);
  while ((thread = bpf_iter_task_next(&it))) {
    /* The iterator's pointer is only RCU-protected; the signal wants a reference. */
    struct task_struct *held = bpf_task_acquire(thread);
    if (!held) continue; /* exiting */
    if (bpf_send_signal_task(held, FS_SIGSTOP, PIDTYPE_PID, 0) != 0) err = -1;
    bpf_task_release(held);
  }
  bpf_iter_task_destroy(&it);
  return err;
}

struct stop_ctx {
  __u32 victim;
  __u32 self;
  __u32 stopped;
  __u32 missed;
};

/* For each entry of victim_of: SIGSTOP the other processes of the hit victim. */
static long stop_member(struct bpf_map *map, __u32 *tgid, __u32 *victim, struct stop_ctx *ctx) {
  if (*victim != ctx->victim || *tgid == ctx->self) return 0;
  if (!bpf_send_signal_task || !bpf_task_from_pid || !bpf_task_release) { /* weak: 0 when absent */
    ctx->missed++;
    return 0;
  }
  struct task_struct *task = bpf_task_from_pid(*tgid);
  if (!task) {
    ctx->missed++; /* gone (its entry outlives it) */
    return 0;
  }
  if (stop_process(task) == 0)
    ctx->stopped++;
  else
    ctx->missed++;
  bpf_task_release(task);
  return 0;
}

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
  /* Exactly one call per victim gets here. Stop first, report after. */
  long stop_error = bpf_send_signal(FS_SIGSTOP);
  if (bpf_send_signal_task)
    stop_process(bpf_get_current_task_btf()); /* and to each of its threads: see stop_process */
  struct stop_ctx stop = {.victim = v, .self = tgid};
  bpf_for_each_map_elem(&victim_of, stop_member, &stop, 0);
  struct fs_syscall_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
  if (!e) return 0; /* cannot happen: one event per victim, at most 256 of 40 bytes in 16 KiB */
  e->victim = v;
  e->tgid = tgid;
  e->tid = (__u32)pid_tgid;
  e->stop_error = (__s32)stop_error;
  e->count = now;
  e->ktime_ns = bpf_ktime_get_ns();
  e->others_stopped = stop.stopped;
  e->others_missed = stop.missed;
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

/* A process whose last thread exits leaves its victim, so that a later process reusing its
 * pid is neither counted nor stopped. */
SEC("tp_btf/sched_process_exit")
int BPF_PROG(fs_exit, struct task_struct *task) {
  if (task->signal->live.counter != 0) return 0; /* other threads go on */
  __u32 tgid = task->tgid;
  bpf_map_delete_elem(&victim_of, &tgid);
  return 0;
}
