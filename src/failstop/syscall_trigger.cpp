#include "failstop/syscall_trigger.hpp"

#include <bpf/bpf.h>
#include <linux/types.h>

#include <vector>

#include "failstop_syscalls.h"
#include "failstop_syscalls.skel.h"
#include "observe/bpf_handles.hpp"

namespace syschaos::failstop {

using SyscallSkeleton = BpfSkeleton<failstop_syscalls_bpf, failstop_syscalls_bpf__destroy>;

struct SyscallTrigger::Impl {
  SyscallSkeleton skel;
  BpfLink enter, fork, exit;  // after the skeleton: destroyed (detached) first
  RingBuffer ring;
  std::vector<SyscallHit> pending;
};

SyscallTrigger::SyscallTrigger(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SyscallTrigger::~SyscallTrigger() = default;

namespace {
int on_event(void* ctx, void* data, size_t size) {
  if (size < sizeof(fs_syscall_event)) return 0;
  auto* e = static_cast<const fs_syscall_event*>(data);
  SyscallHit hit;
  hit.victim = e->victim;
  hit.tgid = static_cast<pid_t>(e->tgid);
  hit.tid = static_cast<pid_t>(e->tid);
  hit.count = e->count;
  hit.stop_error = e->stop_error;
  hit.others_stopped = e->others_stopped;
  hit.others_missed = e->others_missed;
  static_cast<std::vector<SyscallHit>*>(ctx)->push_back(hit);
  return 0;
}
}  // namespace

Result<std::unique_ptr<SyscallTrigger>> SyscallTrigger::load() {
  auto impl = std::make_unique<Impl>();
  impl->skel.reset(failstop_syscalls_bpf__open());
  if (!impl->skel) return Error::sys("open BPF program failstop_syscalls");
  if (int err = failstop_syscalls_bpf__load(impl->skel.get()); err)
    return Error::sys("load BPF program failstop_syscalls", -err);
  // Every slot starts unused (nr -1): an array map's zeroed slot would mean "read".
  fs_syscall_watch unused{-1, 0};
  for (uint32_t i = 0; i < FS_MAX_VICTIMS; ++i)
    if (bpf_map_update_elem(bpf_map__fd(impl->skel->maps.watches), &i, &unused, BPF_ANY) != 0)
      return Error::sys("init failstop_syscalls watches");
  impl->enter.reset(bpf_program__attach(impl->skel->progs.fs_sys_enter));
  if (!impl->enter) return Error::sys("attach raw_syscalls:sys_enter");
  impl->fork.reset(bpf_program__attach(impl->skel->progs.fs_fork));
  if (!impl->fork) return Error::sys("attach sched:sched_process_fork");
  impl->exit.reset(bpf_program__attach(impl->skel->progs.fs_exit));
  if (!impl->exit) return Error::sys("attach sched:sched_process_exit");
  impl->ring.reset(ring_buffer__new(bpf_map__fd(impl->skel->maps.events), on_event, &impl->pending, nullptr));
  if (!impl->ring) return Error::sys("ring_buffer__new (failstop_syscalls)");
  return std::unique_ptr<SyscallTrigger>(new SyscallTrigger(std::move(impl)));
}

Result<void> SyscallTrigger::watch(uint32_t victim, const std::vector<pid_t>& tgids, int nr, uint64_t threshold) {
  if (victim >= FS_MAX_VICTIMS) return Error(fmt::format("at most {} targets can count syscalls", FS_MAX_VICTIMS));
  uint64_t zero = 0;
  if (bpf_map_update_elem(bpf_map__fd(impl_->skel->maps.call_counts), &victim, &zero, BPF_ANY) != 0)
    return Error::sys("reset syscall count");
  fs_syscall_watch w{nr, threshold};
  if (bpf_map_update_elem(bpf_map__fd(impl_->skel->maps.watches), &victim, &w, BPF_ANY) != 0)
    return Error::sys("set syscall watch");
  for (pid_t tgid : tgids) {
    uint32_t key = static_cast<uint32_t>(tgid);
    if (bpf_map_update_elem(bpf_map__fd(impl_->skel->maps.victim_of), &key, &victim, BPF_ANY) != 0)
      return Error::sys(fmt::format("watch syscalls of pid {}", tgid));
  }
  return ok();
}

int SyscallTrigger::fd() const { return ring_buffer__epoll_fd(impl_->ring.get()); }

Result<void> SyscallTrigger::drain(const std::function<void(const SyscallHit&)>& on_hit) {
  int n = ring_buffer__consume(impl_->ring.get());
  if (n < 0) return Error::sys("ring_buffer__consume", -n);
  std::vector<SyscallHit> hits;
  hits.swap(impl_->pending);
  for (const SyscallHit& h : hits) on_hit(h);
  return ok();
}

Result<uint64_t> SyscallTrigger::count(uint32_t victim) const {
  uint64_t value = 0;
  if (bpf_map_lookup_elem(bpf_map__fd(impl_->skel->maps.call_counts), &victim, &value) != 0)
    return Error::sys(fmt::format("read the syscall count of victim {}", victim));
  return value;
}

std::vector<pid_t> SyscallTrigger::members(uint32_t victim) const {
  std::vector<pid_t> out;
  int fd = bpf_map__fd(impl_->skel->maps.victim_of);
  uint32_t key = 0, next = 0, value = 0;
  uint32_t* prev = nullptr;
  while (bpf_map_get_next_key(fd, prev, &next) == 0) {
    if (bpf_map_lookup_elem(fd, &next, &value) == 0 && value == victim) out.push_back(static_cast<pid_t>(next));
    key = next;
    prev = &key;
  }
  return out;
}

void SyscallTrigger::detach() {
  impl_->enter.reset();
  impl_->fork.reset();
  impl_->exit.reset();
}

}  // namespace syschaos::failstop
