// SPDX-License-Identifier: GPL-2.0
/* The floor of any syscall monitor built on the raw syscall tracepoints: two tp_btf
 * programs on raw_syscalls:sys_enter and sys_exit that do nothing. Attaching them turns on
 * the kernel's syscall tracepoint work for every thread (the slow syscall entry/exit path)
 * and adds two program dispatches per call; no monitor that uses these tracepoints, as
 * syschaos's does, can cost less. Loaded by bench/tracepoint_floor.cpp for
 * bench/monitor_overhead.sh's "floor" configuration. */
#include "vmlinux.h"

#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

SEC("tp_btf/sys_enter")
int BPF_PROG(floor_sys_enter, struct pt_regs *regs, long id) { return 0; }

SEC("tp_btf/sys_exit")
int BPF_PROG(floor_sys_exit, struct pt_regs *regs, long ret) { return 0; }
