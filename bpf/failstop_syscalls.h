/* Layouts shared by failstop_syscalls.bpf.c and src/failstop/syscall_trigger.cpp. */
#ifndef SYSCHAOS_FAILSTOP_SYSCALLS_H
#define SYSCHAOS_FAILSTOP_SYSCALLS_H

#define FS_MAX_VICTIMS 256

/* What each victim (a group of processes that fails together) counts. */
struct fs_syscall_watch {
  __s64 nr;        /* the syscall number to count; -1 = slot unused */
  __u64 threshold; /* fire when the count reaches this */
};

/* Sent once per victim, by the call that reaches the threshold, after the victim's
 * processes have been sent SIGSTOP from the kernel. */
struct fs_syscall_event {
  __u32 victim;
  __u32 tgid;
  __u32 tid;
  __s32 stop_error;     /* bpf_send_signal(SIGSTOP) to the hitting process: 0 or -errno */
  __u64 count;
  __u64 ktime_ns;
  __u32 others_stopped; /* the victim's other processes sent SIGSTOP from the kernel */
  __u32 others_missed;  /* ... and those the kernel could not signal (gone, or no kfunc) */
};

#endif
