/* Layouts and pure helpers shared by the in-kernel syscall monitor (syscall_monitor.bpf.c)
 * and its user-space reader (src/observe/syscall_monitor*.cpp). Both sides compile this
 * file, so the map layouts cannot drift apart and the unit tests exercise the very bucket
 * and errno arithmetic the BPF program runs.
 *
 * Double buffering: every aggregate below exists twice, once per epoch (0/1). The BPF
 * programs write into the half named by sm_control.epoch; user space flips `epoch`, waits
 * until no program can still be writing into the old half (an RCU grace period), then
 * reads and zeroes the old half. See docs/OBSERVE_SYSCALLS.md. */
#ifndef SYSCHAOS_BPF_SYSCALL_MONITOR_H
#define SYSCHAOS_BPF_SYSCALL_MONITOR_H

#ifdef __bpf__
/* vmlinux.h, included first by the BPF program, has the __u32 & co. types. */
#define SM_INLINE static __always_inline
#else
#include <linux/types.h>
#define SM_INLINE static inline
#endif

#define SM_EPOCHS 2
/* Syscall numbers counted per syscall: x86-64 has fewer than 512. Larger or negative
 * numbers (a call a tracer skipped has -1; x32 calls have bit 30 set) go to a counter. */
#define SM_MAX_SYSCALLS 512
/* log2 latency buckets; must equal kLatencyBuckets in src/observe/metrics.hpp. */
#define SM_LATENCY_BUCKETS 40
#define SM_COMM_LEN 16
/* A syscall failed when it returned a value in [-SM_MAX_ERRNO, -1] (the kernel's
 * IS_ERR_VALUE); its errno is the negated value. */
#define SM_MAX_ERRNO 4095

/* Errno slots, 8 bits: 1..223 hold that errno (Linux's largest is 133); 224..255 hold the
 * kernel-internal 512..543 (ERESTARTSYS & co., seen at sys_exit before signal delivery
 * turns them into EINTR or a restart); 0 holds any other value (e.g. fcntl(F_GETOWN)
 * returning a negated process group id). */
#define SM_ERRNO_SLOT_OTHER 0
#define SM_ERRNO_DIRECT_MAX 223
#define SM_ERRNO_KERNEL_FIRST 512
#define SM_ERRNO_KERNEL_SLOTS 32

/* Entries of the per-CPU errno hash map: (epoch, syscall, errno slot) combinations alive
 * at once. A service shows a few dozen per interval; when the map is full an error still
 * counts in sm_syscall_stats.errors, only its errno is not recorded. */
#define SM_ERRNO_MAP_ENTRIES 4096

/* Value of the per-CPU array syscall_stats, key epoch * SM_MAX_SYSCALLS + nr. */
struct sm_syscall_stats {
  __u64 calls;          /* completed calls (sys_exit seen) */
  __u64 errors;         /* of which failed */
  __u64 latency_sum_ns; /* over the calls in latency_log2 */
  __u64 latency_log2[SM_LATENCY_BUCKETS];
};

/* Per-epoch counters of the per-CPU array `counters`, key epoch * SM_COUNTERS + counter. */
enum sm_counter {
  SM_COUNTER_UNKNOWN_NR_CALLS = 0, /* calls with a number outside [0, SM_MAX_SYSCALLS) */
  SM_COUNTER_UNKNOWN_NR_ERRORS,    /* of which failed */
  SM_COUNTER_UNTIMED_CALLS,        /* counted calls whose start was not seen: no latency */
  SM_COUNTER_ERRNO_UNRECORDED,     /* failed calls whose errno did not fit the errno map */
  SM_COUNTER_EVENTS_LOST,          /* call events dropped: ring buffer full */
  SM_COUNTER_FORKS_UNTRACKED,      /* children of targets not followed: process set full */
  SM_COUNTER_COMPAT_CALLS,         /* 32-bit (ia32) calls: another numbering, not counted */
  SM_COUNTERS = 8
};

/* Why a thread has task-local storage in call_starts (sm_call_start.flags). */
#define SM_VIA_SET 1u    /* its tgid is in target_tgids: counted by sm_sys_enter/sm_sys_exit */
#define SM_VIA_CGROUP 2u /* created by the cgroup filter's programs for the call's start */

/* Task-local storage: the call a thread is in, and whether it is a target. A thread is a
 * target of the always-attached programs iff it has storage with SM_VIA_SET; threads
 * without storage (nearly all of the machine's) are rejected without touching map memory.
 * See docs/OBSERVE_SYSCALLS.md, "How a call is found to be a target's". */
struct sm_call_start {
  __u64 start_ns; /* bpf_ktime_get_ns() at sys_enter; 0 = no call in flight */
  __s64 nr;
  __u32 flags; /* SM_VIA_* */
  __u32 reserved;
};

/* Value of the one-entry array `control`: what user space changes while programs run.
 * A plain (not mmapable) array this small is kmalloc'ed, i.e. it lies in the kernel's
 * linear map (huge pages), unlike .bss, which is vmalloc'ed page by page: on a machine
 * where every syscall flushes the TLB, each distinct 4 KiB page a program touches costs
 * a page walk. */
struct sm_control {
  __u32 epoch; /* the half that programs write into (0/1) */
  __u32 reserved;
};

/* One record of the ring buffer `call_events`. */
#define SM_EVENT_SLOW 1u           /* duration_ns >= the slow-call threshold */
#define SM_EVENT_FAILED 2u         /* ret is -errno */
#define SM_EVENT_DURATION_KNOWN 4u /* the start of the call was seen */
struct sm_call_event {
  __u64 end_ns;      /* bpf_ktime_get_ns() (CLOCK_MONOTONIC) when the call returned */
  __u64 duration_ns; /* 0 unless SM_EVENT_DURATION_KNOWN */
  __s64 ret;
  __u32 tgid;
  __u32 tid;
  __s32 nr;
  __u32 flags;
  char comm[SM_COMM_LEN];
};

/* floor(log2(ns)), clamped to the last bucket; 0 and 1 ns are bucket 0. Branch-free, as
 * the verifier likes it. */
SM_INLINE __u32 sm_latency_bucket(__u64 ns) {
  __u32 r, shift;
  r = (ns > 0xFFFFFFFFull) << 5;
  ns >>= r;
  shift = (ns > 0xFFFF) << 4;
  ns >>= shift;
  r |= shift;
  shift = (ns > 0xFF) << 3;
  ns >>= shift;
  r |= shift;
  shift = (ns > 0xF) << 2;
  ns >>= shift;
  r |= shift;
  shift = (ns > 0x3) << 1;
  ns >>= shift;
  r |= shift;
  r |= (__u32)(ns >> 1);
  return r < SM_LATENCY_BUCKETS ? r : SM_LATENCY_BUCKETS - 1;
}

/* The return value of a syscall -> its errno, or 0 when the call succeeded. */
SM_INLINE __u32 sm_errno_of(__s64 ret) {
  return (ret < 0 && ret >= -SM_MAX_ERRNO) ? (__u32)(-ret) : 0;
}

SM_INLINE __u32 sm_errno_slot(__u32 err) {
  if (err >= 1 && err <= SM_ERRNO_DIRECT_MAX) return err;
  if (err >= SM_ERRNO_KERNEL_FIRST && err < SM_ERRNO_KERNEL_FIRST + SM_ERRNO_KERNEL_SLOTS)
    return SM_ERRNO_DIRECT_MAX + 1 + (err - SM_ERRNO_KERNEL_FIRST);
  return SM_ERRNO_SLOT_OTHER;
}

/* The errno a slot stands for; 0 for SM_ERRNO_SLOT_OTHER. */
SM_INLINE __u32 sm_slot_errno(__u32 slot) {
  if (slot >= 1 && slot <= SM_ERRNO_DIRECT_MAX) return slot;
  if (slot > SM_ERRNO_DIRECT_MAX && slot <= SM_ERRNO_DIRECT_MAX + SM_ERRNO_KERNEL_SLOTS)
    return SM_ERRNO_KERNEL_FIRST + (slot - SM_ERRNO_DIRECT_MAX - 1);
  return 0;
}

/* Key of the errno map: epoch in bit 24, syscall number in bits 8..23, slot in bits 0..7.
 * One 32-bit word hashes faster than a struct. */
SM_INLINE __u32 sm_errno_key(__u32 epoch, __u32 nr, __u32 slot) {
  return (epoch << 24) | ((nr & 0xFFFF) << 8) | (slot & 0xFF);
}
SM_INLINE __u32 sm_errno_key_epoch(__u32 key) { return key >> 24; }
SM_INLINE __u32 sm_errno_key_nr(__u32 key) { return (key >> 8) & 0xFFFF; }
SM_INLINE __u32 sm_errno_key_slot(__u32 key) { return key & 0xFF; }

#endif /* SYSCHAOS_BPF_SYSCALL_MONITOR_H */
