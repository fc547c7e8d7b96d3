// SPDX-License-Identifier: GPL-2.0
/* The in-kernel half of syschaos's syscall monitor: counts, errors by errno and log2
 * latency histograms per syscall for a set of target processes, aggregated in per-CPU maps
 * that user space reads once per interval. No per-call work happens in user space.
 *
 * Programs (BTF-enabled raw tracepoints, "tp_btf", which need no ftrace trampoline):
 *   raw_syscalls:sys_enter     sm_sys_enter: remember when a target thread entered a call
 *   raw_syscalls:sys_exit      sm_sys_exit: count the call, its outcome and latency; maybe
 *                              emit an event
 *   sched:sched_process_fork   a target's new threads and child processes become targets
 *   sched:sched_process_exit   a target whose last thread exits leaves the set
 * Only while a cgroup filter is set (attached next to, not instead of, the two above):
 *   raw_syscalls:sys_enter/exit  sm_cgroup_sys_enter/exit: the same for calls of threads
 *                              that are not in the set but in the filter's cgroup
 * And one task iterator, run by user space (not attached to any event):
 *   iter/task                  sm_mark_threads: brings the threads' target marks in line
 *                              with target_tgids after user space changed the set
 *
 * The target check is the hot path: the sys_enter/sys_exit programs run on every system
 * call of every process on the machine, nearly all of which are not targets. A thread is a
 * target iff it has task-local storage in call_starts with SM_VIA_SET. For any other
 * thread, bpf_task_storage_get() reads task->bpf_storage (the task struct, hot in cache
 * and TLB during a syscall), finds it NULL and returns: no map memory is touched. The
 * previous check, a lookup of the tgid in a hash map, touched the map's vmalloc'ed buckets
 * and elements, and on a kernel with page-table isolation and no PCID (every syscall entry
 * flushes the TLB) that page walk cost ~57 ns per call at sys_enter for every process.
 * Keeping the marks current is the job of user space (after it changes the set, it runs
 * sm_mark_threads over the process's threads) and of sm_process_fork (new threads and
 * children of targets are marked before they run).
 *
 * Layouts, the epoch scheme and the helpers are in syscall_monitor.h. */
#include "vmlinux.h"

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "syscall_monitor.h"

char LICENSE[] SEC("license") = "GPL";

/* Set by user space before load: constant for the verifier, which drops dead branches. */
const volatile __u64 slow_call_threshold_ns = 0; /* 0 = no slow-call events */
const volatile bool failed_call_events = false;

/* Written by user space at any time through the mmapped .bss. Read only by the cgroup
 * programs and the iterator, never on the path every syscall takes (.bss is vmalloc'ed:
 * reading it would cost a page walk per call on this kind of kernel; see sm_control). */
__u64 cgroup_id_filter = 0; /* non-zero: calls from this cgroup v2 id count too */
__u32 cgroup_tree_filter = 0; /* 1: calls from the cgroup in cgroup_tree[0] or below count too */

#define READ_ONCE_U32(x) (*(volatile __u32 *)&(x))
#define READ_ONCE_U64(x) (*(volatile __u64 *)&(x))

/* Thread-group ids of the targets. User space seeds it; forks and exits keep it current.
 * max_entries is set by user space before load (SyscallMonitorOptions::max_processes). */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 8192);
  __type(key, __u32);
  __type(value, __u8);
} target_tgids SEC(".maps");

/* Per thread: whether it is a target, and the call it is in. Task-local storage rather
 * than a hash keyed by tid: it has no size limit to pick, the kernel frees it with the
 * thread, its elements are kmalloc'ed (linear map), and a thread without storage is
 * rejected by reading one pointer of its task struct. */
struct {
  __uint(type, BPF_MAP_TYPE_TASK_STORAGE);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __type(key, int);
  __type(value, struct sm_call_start);
} call_starts SEC(".maps");

/* The epoch (and nothing else that changes at run time) for sm_sys_exit: see sm_control. */
struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct sm_control);
} control SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, SM_EPOCHS * SM_MAX_SYSCALLS);
  __type(key, __u32);
  __type(value, struct sm_syscall_stats);
} syscall_stats SEC(".maps");

/* Sparse (epoch, syscall, errno slot) -> count: a dense array would take 2 MiB per CPU. */
struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_HASH);
  __uint(max_entries, SM_ERRNO_MAP_ENTRIES);
  __type(key, __u32);
  __type(value, __u64);
} errno_counts SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, SM_EPOCHS * SM_COUNTERS);
  __type(key, __u32);
  __type(value, __u64);
} counters SEC(".maps");

/* The cgroup (v2) that set_cgroup_filter_path() names, as an fd in slot 0. */
struct {
  __uint(type, BPF_MAP_TYPE_CGROUP_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, __u32);
} cgroup_tree SEC(".maps");

/* Slow or failed calls, when asked for. Size set by user space before load. */
struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, 4096);
} call_events SEC(".maps");

static __always_inline void count(__u32 e, enum sm_counter which) {
  __u32 key = e * SM_COUNTERS + which;
  __u64 *c = bpf_map_lookup_elem(&counters, &key);
  /* Per-CPU slot, and programs on one tracepoint never nest on a CPU: no atomics needed. */
  if (c) *c += 1;
}

/* The cgroup filter, for the cgroup programs only. */
static __always_inline bool cgroup_matches(void) {
  __u64 cgid = READ_ONCE_U64(cgroup_id_filter);
  if (cgid && bpf_get_current_cgroup_id() == cgid) return true;
  if (READ_ONCE_U32(cgroup_tree_filter) && bpf_current_task_under_cgroup(&cgroup_tree, 0) == 1)
    return true;
  return false;
}

/* The storage of the current thread when it is in the target set; NULL otherwise (the
 * common case, decided by one load from the task struct). */
static __always_inline struct sm_call_start *set_target(struct task_struct *task) {
  /* A thread with no task-local storage of any map (nearly all) is rejected by this one
   * load, without even the call into bpf_task_storage_get, whose recursion guard alone
   * (a per-CPU counter) costs ~20 ns here. A thread with storage of other maps (other BPF
   * tools') takes the lookup below. */
  if (!task->bpf_storage) return NULL;
  struct sm_call_start *s = bpf_task_storage_get(&call_starts, task, 0, 0);
  return (s && (s->flags & SM_VIA_SET)) ? s : NULL;
}

/* x86's TS_COMPAT (arch/x86/include/asm/thread_info.h): the current call came through a
 * 32-bit entry (int 0x80, sysenter), so its number is from the ia32 table, not the x86-64
 * one the names come from. The kernel clears the flag only after sys_exit has fired. */
#define X86_TS_COMPAT 0x0002

static __always_inline bool in_ia32_syscall(void) {
  struct task_struct *task = bpf_get_current_task_btf();
  if (!bpf_core_field_exists(task->thread_info.status)) return false;
  return task->thread_info.status & X86_TS_COMPAT;
}

static __always_inline void record_start(struct sm_call_start *start, long id) {
  start->nr = id;
  start->start_ns = bpf_ktime_get_ns();
}

SEC("tp_btf/sys_enter")
int BPF_PROG(sm_sys_enter, struct pt_regs *regs, long id) {
  struct sm_call_start *start = set_target(bpf_get_current_task_btf());
  if (start) record_start(start, id);
  return 0;
}

/* While a cgroup filter is set: the calls of threads that are not in the set (those in it
 * are sm_sys_enter's) but are in the cgroup. The filter is evaluated on every call, as a
 * thread may move between cgroups; storage is created for the start time only. A thread
 * whose storage could not be created is still counted at exit, without a latency. */
SEC("tp_btf/sys_enter")
int BPF_PROG(sm_cgroup_sys_enter, struct pt_regs *regs, long id) {
  struct task_struct *task = bpf_get_current_task_btf();
  struct sm_call_start *start = bpf_task_storage_get(&call_starts, task, 0, 0);
  if (start && (start->flags & SM_VIA_SET)) return 0;
  if (!cgroup_matches()) return 0;
  if (!start) {
    struct sm_call_start init = {.flags = SM_VIA_CGROUP};
    start = bpf_task_storage_get(&call_starts, task, &init, BPF_LOCAL_STORAGE_GET_F_CREATE);
    if (!start) return 0;
  }
  record_start(start, id);
  return 0;
}

static __always_inline void record_errno(__u32 e, __u32 nr, __u32 err) {
  __u32 key = sm_errno_key(e, nr, sm_errno_slot(err));
  __u64 *c = bpf_map_lookup_elem(&errno_counts, &key);
  if (!c) {
    __u64 zero = 0;
    /* NOEXIST: another CPU may insert the same key at the same moment; either way the
     * element exists afterwards and this CPU adds to its own slot of it. */
    bpf_map_update_elem(&errno_counts, &key, &zero, BPF_NOEXIST);
    c = bpf_map_lookup_elem(&errno_counts, &key);
  }
  if (c)
    *c += 1;
  else
    count(e, SM_COUNTER_ERRNO_UNRECORDED); /* map full */
}

static __always_inline void emit_event(__u32 e, long nr, long ret, __u64 now, __u64 duration,
                                       __u32 flags) {
  struct sm_call_event *ev = bpf_ringbuf_reserve(&call_events, sizeof(*ev), 0);
  if (!ev) {
    count(e, SM_COUNTER_EVENTS_LOST);
    return;
  }
  ev->end_ns = now;
  ev->duration_ns = duration;
  ev->ret = ret;
  __u64 pid_tgid = bpf_get_current_pid_tgid();
  ev->tgid = pid_tgid >> 32;
  ev->tid = (__u32)pid_tgid;
  ev->nr = nr;
  ev->flags = flags;
  bpf_get_current_comm(ev->comm, sizeof(ev->comm));
  bpf_ringbuf_submit(ev, 0);
}

/* Counts one call that is a target's. `start` is the thread's storage, NULL when it has
 * none (a cgroup member whose storage could not be created). Not inlined: as a separate
 * function (a BPF-to-BPF call) its stack frame and saved registers are paid only by
 * targets' calls, and the program every other call runs stays a few instructions long
 * (measured: 40 -> 30 ns per non-target sys_exit here). */
static __noinline void count_call(struct pt_regs *regs, long ret,
                                  struct sm_call_start *start) {
  /* Only now: reading the clock costs tens of ns in a VM, and most calls are not targets'. */
  __u64 now = bpf_ktime_get_ns();

  /* tp_btf arguments are BTF pointers: a direct (CO-RE relocated) load, no helper call. */
  long nr = regs->orig_ax;
  __u64 duration = 0;
  bool timed = false;
  if (start && start->start_ns) {
    /* The number seen at entry wins: rt_sigreturn restores orig_ax to -1 before its exit.
     * A different number means the entry belongs to another call (the thread left and
     * rejoined the targets mid-call), so its time is not this call's. */
    if (start->nr == nr || nr == -1) {
      nr = start->nr;
      duration = now - start->start_ns;
      timed = true;
    }
    start->start_ns = 0;
  }

  /* One read of the epoch: every update of this call lands in the same half. A constant
   * key into an array: the verifier turns the lookup into an address computation. */
  __u32 zero = 0;
  struct sm_control *control_value = bpf_map_lookup_elem(&control, &zero);
  if (!control_value) return; /* cannot happen: key 0 < max_entries */
  __u32 e = READ_ONCE_U32(control_value->epoch) & 1;
  if (in_ia32_syscall()) {
    count(e, SM_COUNTER_COMPAT_CALLS);
    return;
  }
  __u32 err = sm_errno_of(ret);

  if (nr < 0 || nr >= SM_MAX_SYSCALLS) {
    count(e, SM_COUNTER_UNKNOWN_NR_CALLS);
    if (err) count(e, SM_COUNTER_UNKNOWN_NR_ERRORS);
  } else {
    __u32 key = e * SM_MAX_SYSCALLS + (__u32)nr;
    struct sm_syscall_stats *stats = bpf_map_lookup_elem(&syscall_stats, &key);
    if (!stats) return; /* cannot happen: key < max_entries */
    stats->calls += 1;
    if (timed) {
      stats->latency_sum_ns += duration;
      __u32 bucket = sm_latency_bucket(duration);
      if (bucket < SM_LATENCY_BUCKETS) stats->latency_log2[bucket] += 1;
    } else {
      count(e, SM_COUNTER_UNTIMED_CALLS);
    }
    if (err) {
      stats->errors += 1;
      record_errno(e, (__u32)nr, err);
    }
  }

  __u32 flags = 0;
  if (slow_call_threshold_ns && timed && duration >= slow_call_threshold_ns) flags |= SM_EVENT_SLOW;
  if (failed_call_events && err) flags |= SM_EVENT_FAILED;
  if (flags) {
    if (timed) flags |= SM_EVENT_DURATION_KNOWN;
    emit_event(e, nr, ret, now, duration, flags);
  }
}

SEC("tp_btf/sys_exit")
int BPF_PROG(sm_sys_exit, struct pt_regs *regs, long ret) {
  struct sm_call_start *start = set_target(bpf_get_current_task_btf());
  if (start) count_call(regs, ret, start);
  return 0;
}

/* While a cgroup filter is set. A call is counted by exactly one of sm_sys_exit (thread in
 * the set) and this program (thread not in the set, in the cgroup): both read the same
 * SM_VIA_SET bit at the same tracepoint firing, so attaching or detaching this pair never
 * counts a call twice. Only when user space changes a thread's mark between the two
 * programs' runs at one firing can that one call be counted twice or not at all. */
SEC("tp_btf/sys_exit")
int BPF_PROG(sm_cgroup_sys_exit, struct pt_regs *regs, long ret) {
  struct sm_call_start *start =
      bpf_task_storage_get(&call_starts, bpf_get_current_task_btf(), 0, 0);
  if (start && (start->flags & SM_VIA_SET)) return 0;
  if (!cgroup_matches()) return 0;
  count_call(regs, ret, start);
  return 0;
}

/* Marks `task` as a target (SM_VIA_SET), creating its storage if need be. */
static __always_inline bool mark_target(struct task_struct *task) {
  struct sm_call_start init = {.flags = SM_VIA_SET};
  struct sm_call_start *s =
      bpf_task_storage_get(&call_starts, task, &init, BPF_LOCAL_STORAGE_GET_F_CREATE);
  if (!s) return false;
  s->flags |= SM_VIA_SET; /* storage that existed already (made by the cgroup programs) */
  return true;
}

/* Drops `task`'s SM_VIA_SET mark; deletes its storage when no reason to keep it is left
 * (SM_VIA_CGROUP storage stays while a cgroup filter is set). */
static __always_inline void unmark_target(struct task_struct *task, bool cgroup_filter_on) {
  struct sm_call_start *s = bpf_task_storage_get(&call_starts, task, 0, 0);
  if (!s) return;
  __u32 flags = s->flags & ~SM_VIA_SET;
  if (!cgroup_filter_on) flags &= ~SM_VIA_CGROUP;
  if (flags)
    s->flags = flags;
  else
    bpf_task_storage_delete(&call_starts, task);
}

/* Runs in the parent, after the child is in the task list and before it first runs.
 * Children of a process in the set are targets: a new thread (CLONE_THREAD, same tgid) is
 * marked; a new process also joins the set. (Children of threads counted only through the
 * cgroup filter are in the same cgroup and need nothing.) */
SEC("tp_btf/sched_process_fork")
int BPF_PROG(sm_process_fork, struct task_struct *parent, struct task_struct *child) {
  __u32 parent_tgid = parent->tgid;
  __u32 child_tgid = child->tgid;
  if (!bpf_map_lookup_elem(&target_tgids, &parent_tgid)) return 0;
  if (child_tgid != parent_tgid) {
    __u8 one = 1;
    if (bpf_map_update_elem(&target_tgids, &child_tgid, &one, BPF_ANY)) {
      __u32 zero = 0;
      struct sm_control *c = bpf_map_lookup_elem(&control, &zero);
      count(c ? READ_ONCE_U32(c->epoch) & 1 : 0, SM_COUNTER_FORKS_UNTRACKED);
      return 0;
    }
  }
  if (!mark_target(child)) {
    /* No memory for the storage: the child would go uncounted. Say so. */
    __u32 zero = 0;
    struct sm_control *c = bpf_map_lookup_elem(&control, &zero);
    count(c ? READ_ONCE_U32(c->epoch) & 1 : 0, SM_COUNTER_FORKS_UNTRACKED);
    return 0;
  }
  /* remove_process() may have taken the tgid out of the set and run the iterator over its
   * threads between the lookup above and the mark: look again, so that either this check
   * sees the removal or the iterator (which runs after the removal) sees the mark. */
  if (!bpf_map_lookup_elem(&target_tgids, &child_tgid)) unmark_target(child, false);
  return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(sm_process_exit, struct task_struct *task) {
  /* Fires for every exiting thread, after it has decremented signal->live. The process is
   * gone only when the last one leaves (the leader may exit before its other threads).
   * Reading `live` rather than the tracepoint's group_dead argument keeps the program
   * loadable on kernels before 6.16, whose tracepoint has only the task argument. */
  if (BPF_CORE_READ(task, signal, live.counter) != 0) return 0;
  __u32 tgid = BPF_CORE_READ(task, tgid);
  bpf_map_delete_elem(&target_tgids, &tgid);
  return 0;
}

/* Run by user space (bpf_iter_create + read), over one process's threads after
 * add_process/remove_process, or over every thread of the machine after the cgroup filter
 * is cleared. Marks each thread whose tgid is in the set, unmarks the others. User space
 * runs one iteration at a time, and sm_process_fork only marks new children (see there),
 * so the flags need no atomic updates. */
SEC("iter/task")
int sm_mark_threads(struct bpf_iter__task *ctx) {
  struct task_struct *task = ctx->task;
  if (!task) return 0;
  __u32 tgid = task->tgid;
  if (bpf_map_lookup_elem(&target_tgids, &tgid)) {
    if (!mark_target(task)) {
      /* Storage could not be allocated: tell user space, which fails add_process. */
      bpf_seq_write(ctx->meta->seq, &tgid, sizeof(tgid));
    }
  } else {
    unmark_target(task, READ_ONCE_U64(cgroup_id_filter) || READ_ONCE_U32(cgroup_tree_filter));
  }
  return 0;
}
