#include "observe/syscall_monitor.hpp"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <linux/membarrier.h>
#include <poll.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <exception>
#include <fstream>
#include <optional>
#include <mutex>
#include <thread>

#include <fmt/format.h>

#include "core/clock.hpp"
#include "core/syscall_table.hpp"
#include "core/unique_fd.hpp"
#include "observe/bpf_diagnostics.hpp"
#include "observe/bpf_handles.hpp"
#include "observe/syscall_monitor_decode.hpp"
#include "syscall_monitor.skel.h"

namespace syschaos {

namespace {

constexpr const char* kKernelBtf = "/sys/kernel/btf/vmlinux";

using MonitorSkeleton = BpfSkeleton<syscall_monitor_bpf, syscall_monitor_bpf__destroy>;

int64_t clock_ns(clockid_t clock) {
  timespec ts{};
  ::clock_gettime(clock, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

bool is_power_of_two(uint64_t v) { return v && (v & (v - 1)) == 0; }

// Every BPF program that might have read the old epoch has finished once an RCU grace
// period has passed: tracepoint programs run inside rcu_read_lock() (and with preemption
// off). membarrier(MEMBARRIER_CMD_GLOBAL) is the one system call that waits for exactly
// that (it calls synchronize_rcu()). It is refused on nohz_full kernels; a short sleep is
// the fallback there, far longer than any program run, but not a proof.
std::chrono::microseconds wait_for_bpf_programs() {
  auto start = std::chrono::steady_clock::now();
  if (::syscall(SYS_membarrier, MEMBARRIER_CMD_GLOBAL, 0, 0) != 0)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() -
                                                               start);
}

// Reads a whole map with BPF_MAP_LOOKUP_BATCH into keys/values (sized for max_entries).
// Returns the number of entries read.
Result<uint32_t> lookup_all(int map_fd, uint32_t max_entries, uint32_t* keys, void* values,
                            size_t value_bytes, const char* what) {
  LIBBPF_OPTS(bpf_map_batch_opts, opts);
  uint64_t token = 0;  // opaque position: a key for arrays, a bucket for hash maps
  bool first = true;
  uint32_t total = 0;
  while (total < max_entries) {
    uint32_t count = max_entries - total;
    int rc = bpf_map_lookup_batch(map_fd, first ? nullptr : &token, &token, keys + total,
                                  static_cast<unsigned char*>(values) + total * value_bytes, &count,
                                  &opts);
    int err = errno;
    total += count;
    if (rc != 0) {
      if (err == ENOENT) break;  // the end of the map
      return Error::sys(fmt::format("reading {} (bpf map lookup batch)", what), err);
    }
    first = false;
  }
  return total;
}

// The Tgid: line of /proc/TID/status; /proc shows every thread id, listed or not.
std::optional<pid_t> thread_group_of(pid_t tid) {
  std::ifstream in(fmt::format("/proc/{}/status", tid));
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("Tgid:", 0) == 0) return static_cast<pid_t>(std::atol(line.c_str() + 5));
  return std::nullopt;
}

}  // namespace

struct SyscallMonitor::Impl {
  // Declaration order is destruction order reversed: the ring buffer and the links go
  // before the skeleton that owns their maps and programs.
  MonitorSkeleton skel;
  std::vector<BpfLink> links;
  // sm_cgroup_sys_enter/exit, attached only while a cgroup filter is set, so that the
  // programs every syscall of the machine runs never evaluate a filter.
  std::vector<BpfLink> cgroup_links;
  RingBuffer events;

  // Serializes runs of the marking iterator (its flag updates are not atomic) and the
  // cgroup filter's state.
  std::mutex mark_mutex;

  SyscallMonitorOptions options;
  int cpus = 1;
  int64_t realtime_minus_monotonic_ns = 0;

  std::mutex collect_mutex;  // collect() and the state it keeps
  uint32_t epoch = 0;
  uint64_t next_index = 0;
  double interval_start_unix = 0;
  bool cgroup_filter_active = false;
  SyscallMonitorDiagnostics diagnostics;
  mutable std::mutex diagnostics_mutex;
  // Reused buffers: sizes depend only on the map sizes and the number of CPUs.
  std::vector<uint32_t> stats_keys, errno_keys, old_errno_keys;
  std::vector<unsigned char> stats_values, errno_values, zero_stats;

  std::mutex events_mutex;  // poll_events()
  const std::function<void(const SyscallEvent&)>* on_event = nullptr;
  std::exception_ptr handler_exception;

  int map_fd(bpf_map* map) const { return bpf_map__fd(map); }

  Result<void> mark_threads(pid_t tgid);
  Result<void> attach_cgroup_programs();
  Result<void> set_epoch(uint32_t value);

  Result<void> read_and_reset(uint32_t old, SyscallCountsSnapshot& snap);
  static int deliver_event(void* ctx, void* data, size_t size);
};

// Runs sm_mark_threads over the threads of process `tgid` (every thread of the machine
// when 0): marks those whose tgid is in target_tgids as targets, unmarks the others. The
// kernel runs the program once per thread while this reads the iterator's (empty) output;
// a thread the program could not mark (no memory for its storage) is written out as its
// tgid. Caller holds mark_mutex.
Result<void> SyscallMonitor::Impl::mark_threads(pid_t tgid) {
  LIBBPF_OPTS(bpf_iter_attach_opts, opts);
  union bpf_iter_link_info info;
  std::memset(&info, 0, sizeof(info));
  if (tgid > 0) {
    info.task.pid = static_cast<__u32>(tgid);  // BPF_TASK_ITER_TGID: that process's threads
    opts.link_info = &info;
    opts.link_info_len = sizeof(info);
  }
  const std::string what = tgid > 0 ? fmt::format("the threads of process {}", tgid)
                                    : std::string("every thread");
  BpfLink link(bpf_program__attach_iter(skel->progs.sm_mark_threads, &opts));
  if (!link) {
    int err = errno;
    // The process exited meanwhile: no thread left to mark.
    if (tgid > 0 && (err == ESRCH || err == ENOENT)) return ok();
    return Error::sys(fmt::format("marking {} (attaching the BPF task iterator)", what), err);
  }
  UniqueFd iter(bpf_iter_create(bpf_link__fd(link.get())));
  if (!iter) return Error::sys(fmt::format("marking {} (bpf_iter_create)", what));
  size_t unmarked = 0;
  char buf[256];
  for (;;) {
    ssize_t n = ::read(iter.get(), buf, sizeof(buf));
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return Error::sys(fmt::format("marking {} (reading the BPF task iterator)", what));
    }
    unmarked += static_cast<size_t>(n) / sizeof(uint32_t);
  }
  if (unmarked)
    return Error(fmt::format("marking {}: no kernel memory for the task storage of {} thread(s)",
                             what, unmarked),
                 ENOMEM);
  return ok();
}

Result<void> SyscallMonitor::Impl::attach_cgroup_programs() {
  if (!cgroup_links.empty()) return ok();
  LibbpfLogCapture log;
  // Exit first: a call whose start the new sm_cgroup_sys_enter saw is then always counted.
  const std::pair<bpf_program*, const char*> programs[] = {
      {skel->progs.sm_cgroup_sys_exit, "raw tracepoint raw_syscalls:sys_exit (cgroup filter)"},
      {skel->progs.sm_cgroup_sys_enter, "raw tracepoint raw_syscalls:sys_enter (cgroup filter)"},
  };
  std::vector<BpfLink> attached;
  for (const auto& [program, what] : programs) {
    BpfLink link(bpf_program__attach(program));
    if (!link) return bpf_step_error(BpfStep::kAttach, what, errno, log.lines());
    attached.push_back(std::move(link));
  }
  cgroup_links = std::move(attached);
  return ok();
}

Result<void> SyscallMonitor::Impl::set_epoch(uint32_t value) {
  uint32_t key = 0;
  sm_control control{};
  control.epoch = value;
  if (bpf_map_update_elem(map_fd(skel->maps.control), &key, &control, BPF_ANY) != 0)
    return Error::sys("switching the monitor's epoch (bpf map update)");
  return ok();
}

SyscallMonitor::SyscallMonitor(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SyscallMonitor::~SyscallMonitor() = default;

Result<std::unique_ptr<SyscallMonitor>> SyscallMonitor::create(
    const SyscallMonitorOptions& options) {
  if (::access(kKernelBtf, R_OK) != 0)
    return Error(fmt::format("the syscall monitor needs kernel BTF, and {} is {}: the kernel "
                             "must be built with CONFIG_DEBUG_INFO_BTF=y",
                             kKernelBtf, errno == ENOENT ? "missing" : std::strerror(errno)),
                 errno);
  const long page = ::sysconf(_SC_PAGESIZE);
  if (options.events_enabled() && (!is_power_of_two(options.event_buffer_bytes) ||
                                   options.event_buffer_bytes < static_cast<uint64_t>(page)))
    return Error(fmt::format("event buffer size {} must be a power of two of at least {} bytes",
                             options.event_buffer_bytes, page));
  if (options.max_processes == 0) return Error("max_processes must be at least 1");

  auto impl = std::make_unique<Impl>();
  impl->options = options;
  LibbpfLogCapture log;

  impl->skel.reset(syscall_monitor_bpf__open());
  if (!impl->skel)
    return bpf_step_error(BpfStep::kOpen, "the syscall monitor's BPF programs", errno, log.lines());
  syscall_monitor_bpf* skel = impl->skel.get();
  skel->rodata->slow_call_threshold_ns = static_cast<__u64>(options.slow_call_threshold.count());
  skel->rodata->failed_call_events = options.failed_call_events;
  int rc = bpf_map__set_max_entries(skel->maps.target_tgids, options.max_processes);
  if (rc == 0)
    rc = bpf_map__set_max_entries(skel->maps.call_events, options.events_enabled()
                                                              ? options.event_buffer_bytes
                                                              : static_cast<uint32_t>(page));
  if (rc != 0) return Error::sys("sizing the syscall monitor's maps", -rc);

  rc = syscall_monitor_bpf__load(skel);
  if (rc != 0)
    return bpf_step_error(BpfStep::kLoad, "the syscall monitor's BPF programs", -rc, log.lines());

  // Process tracking first, so the set is maintained by the time calls are counted.
  const std::pair<bpf_program*, const char*> programs[] = {
      {skel->progs.sm_process_fork, "tracepoint sched:sched_process_fork"},
      {skel->progs.sm_process_exit, "tracepoint sched:sched_process_exit"},
      {skel->progs.sm_sys_exit, "raw tracepoint raw_syscalls:sys_exit"},
      {skel->progs.sm_sys_enter, "raw tracepoint raw_syscalls:sys_enter"},
  };
  for (const auto& [program, what] : programs) {
    BpfLink link(bpf_program__attach(program));
    if (!link) return bpf_step_error(BpfStep::kAttach, what, errno, log.lines());
    impl->links.push_back(std::move(link));
  }

  if (options.events_enabled()) {
    impl->events.reset(ring_buffer__new(bpf_map__fd(skel->maps.call_events), &Impl::deliver_event,
                                        impl.get(), nullptr));
    if (!impl->events) return Error::sys("creating the call event ring buffer reader", errno);
  }

  int cpus = libbpf_num_possible_cpus();
  if (cpus <= 0)
    return Error::sys("counting possible CPUs (/sys/devices/system/cpu/possible)", -cpus);
  impl->cpus = cpus;
  impl->realtime_minus_monotonic_ns = clock_ns(CLOCK_REALTIME) - clock_ns(CLOCK_MONOTONIC);
  impl->interval_start_unix = unix_now();

  const size_t stats_bytes = percpu_stride(sizeof(sm_syscall_stats)) * cpus;
  const uint32_t stats_entries = bpf_map__max_entries(skel->maps.syscall_stats);
  const uint32_t errno_entries = bpf_map__max_entries(skel->maps.errno_counts);
  impl->stats_keys.resize(stats_entries);
  impl->stats_values.resize(stats_entries * stats_bytes);
  impl->zero_stats.assign(SM_MAX_SYSCALLS * stats_bytes, 0);
  impl->errno_keys.resize(errno_entries);
  impl->errno_values.resize(errno_entries * percpu_stride(sizeof(uint64_t)) * cpus);
  impl->old_errno_keys.reserve(errno_entries);

  return std::unique_ptr<SyscallMonitor>(new SyscallMonitor(std::move(impl)));
}

Result<void> SyscallMonitor::add_process(pid_t tgid) {
  if (tgid <= 0) return Error(fmt::format("invalid process id {}", tgid));
  // A pidfd pins down that the pid is a live process (not a thread) and tells, after the
  // insertion, whether it exited before the kernel could remove it again.
  UniqueFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, tgid, 0)));
  if (!pidfd) {
    if (errno == ESRCH) return Error(fmt::format("no process {}", tgid), ESRCH);
    int err = errno;
    // A thread id that is not its group's leader: EINVAL before Linux 6.9, ENOENT after.
    if (err == EINVAL || err == ENOENT) {
      if (auto leader = thread_group_of(tgid); leader && *leader != tgid)
        return Error(fmt::format("{} is a thread of process {}, not a process: pass its "
                                 "thread-group id",
                                 tgid, *leader),
                     err);
    }
    return Error::sys(fmt::format("pidfd_open({})", tgid), err);
  }
  uint32_t key = static_cast<uint32_t>(tgid);
  uint8_t one = 1;
  if (bpf_map_update_elem(impl_->map_fd(impl_->skel->maps.target_tgids), &key, &one, BPF_ANY) !=
      0) {
    if (errno == E2BIG)
      return Error(fmt::format("cannot add process {}: the process set is full ({} processes)",
                               tgid, impl_->options.max_processes),
                   E2BIG);
    return Error::sys(fmt::format("adding process {} to the BPF process set", tgid));
  }
  // sched_process_exit removes it from now on; if it exited before the insertion, nothing
  // will, and a later process with the same pid would be counted.
  pollfd p{pidfd.get(), POLLIN, 0};
  if (::poll(&p, 1, 0) > 0 && (p.revents & POLLIN)) {
    bpf_map_delete_elem(impl_->map_fd(impl_->skel->maps.target_tgids), &key);
    return Error(fmt::format("process {} has exited", tgid), ESRCH);
  }
  // The set is what sm_process_fork follows; the marks are what the per-call programs
  // check. Marking after the insertion leaves no gap: a thread created from here on is
  // marked by sm_process_fork (its creator's tgid is in the set), one that exists is
  // marked by the iterator.
  std::lock_guard lock(impl_->mark_mutex);
  if (auto marked = impl_->mark_threads(tgid); !marked) {
    bpf_map_delete_elem(impl_->map_fd(impl_->skel->maps.target_tgids), &key);
    (void)impl_->mark_threads(tgid);  // unmark whatever was marked
    return marked.error();
  }
  return ok();
}

Result<void> SyscallMonitor::remove_process(pid_t tgid) {
  uint32_t key = static_cast<uint32_t>(tgid);
  if (bpf_map_delete_elem(impl_->map_fd(impl_->skel->maps.target_tgids), &key) != 0 &&
      errno != ENOENT)
    return Error::sys(fmt::format("removing process {} from the BPF process set", tgid));
  // Out of the set first, so sm_process_fork marks no new thread; then unmark the threads.
  if (tgid <= 0) return ok();
  std::lock_guard lock(impl_->mark_mutex);
  return impl_->mark_threads(tgid);
}

// Setting a filter writes the filter to .bss, then attaches the cgroup programs (if they
// are not attached yet); switching from one filter to another keeps them attached.
Result<void> SyscallMonitor::set_cgroup_filter(uint64_t cgroup_id) {
  if (cgroup_id == 0) return clear_cgroup_filter();
  std::lock_guard lock(impl_->mark_mutex);
  __atomic_store_n(&impl_->skel->bss->cgroup_tree_filter, 0u, __ATOMIC_SEQ_CST);
  __atomic_store_n(&impl_->skel->bss->cgroup_id_filter, cgroup_id, __ATOMIC_SEQ_CST);
  uint32_t slot = 0;
  bpf_map_delete_elem(impl_->map_fd(impl_->skel->maps.cgroup_tree), &slot);
  SYSCHAOS_TRY(impl_->attach_cgroup_programs());
  std::lock_guard clock(impl_->collect_mutex);
  impl_->cgroup_filter_active = true;
  return ok();
}

Result<void> SyscallMonitor::set_cgroup_filter_path(const std::string& v2_dir) {
  UniqueFd dir(::open(v2_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir) return Error::sys(fmt::format("open cgroup {}", v2_dir));
  struct statfs fs {};
  if (::fstatfs(dir.get(), &fs) != 0) return Error::sys(fmt::format("statfs {}", v2_dir));
  if (fs.f_type != CGROUP2_SUPER_MAGIC)
    return Error(
        fmt::format("{} is not a cgroup v2 directory: the cgroup filter needs cgroup v2 "
                    "(for v1, add the cgroup's processes instead)",
                    v2_dir));
  std::lock_guard lock(impl_->mark_mutex);
  uint32_t slot = 0;
  uint32_t fd = static_cast<uint32_t>(dir.get());
  // The map keeps its own reference to the cgroup; the fd can close afterwards.
  if (bpf_map_update_elem(impl_->map_fd(impl_->skel->maps.cgroup_tree), &slot, &fd, BPF_ANY) != 0)
    return Error::sys(fmt::format("setting the cgroup filter to {}", v2_dir));
  __atomic_store_n(&impl_->skel->bss->cgroup_id_filter, uint64_t{0}, __ATOMIC_SEQ_CST);
  __atomic_store_n(&impl_->skel->bss->cgroup_tree_filter, 1u, __ATOMIC_SEQ_CST);
  SYSCHAOS_TRY(impl_->attach_cgroup_programs());
  std::lock_guard clock(impl_->collect_mutex);
  impl_->cgroup_filter_active = true;
  return ok();
}

// Detaches the cgroup programs first (from then on only the set counts: a cgroup member's
// call in flight is not counted at its exit), clears the filter, then deletes the storage
// the cgroup programs created (one walk over every thread of the machine).
Result<void> SyscallMonitor::clear_cgroup_filter() {
  std::lock_guard lock(impl_->mark_mutex);
  const bool was_attached = !impl_->cgroup_links.empty();
  impl_->cgroup_links.clear();
  __atomic_store_n(&impl_->skel->bss->cgroup_tree_filter, 0u, __ATOMIC_SEQ_CST);
  __atomic_store_n(&impl_->skel->bss->cgroup_id_filter, uint64_t{0}, __ATOMIC_SEQ_CST);
  uint32_t slot = 0;
  if (bpf_map_delete_elem(impl_->map_fd(impl_->skel->maps.cgroup_tree), &slot) != 0 &&
      errno != ENOENT)
    return Error::sys("clearing the cgroup filter");
  {
    std::lock_guard clock(impl_->collect_mutex);
    impl_->cgroup_filter_active = false;
  }
  if (was_attached) SYSCHAOS_TRY(impl_->mark_threads(0));
  return ok();
}

Result<void> SyscallMonitor::Impl::read_and_reset(uint32_t old, SyscallCountsSnapshot& snap) {
  // Per-syscall stats: read the whole array in one batch, keep the old half, zero it.
  const size_t stats_bytes = percpu_stride(sizeof(sm_syscall_stats)) * cpus;
  int stats_fd = map_fd(skel->maps.syscall_stats);
  auto read = lookup_all(stats_fd, static_cast<uint32_t>(stats_keys.size()), stats_keys.data(),
                         stats_values.data(), stats_bytes, "the syscall counters");
  if (!read.ok()) return read.error();
  const uint32_t first = old * SM_MAX_SYSCALLS;
  for (uint32_t i = 0; i < *read; ++i) {
    uint32_t key = stats_keys[i];
    if (key < first || key >= first + SM_MAX_SYSCALLS) continue;
    add_percpu_stats(snap.per_syscall[key - first], stats_values.data() + i * stats_bytes, cpus);
  }
  std::vector<uint32_t> old_keys(SM_MAX_SYSCALLS);
  for (uint32_t nr = 0; nr < SM_MAX_SYSCALLS; ++nr) old_keys[nr] = first + nr;
  uint32_t count = SM_MAX_SYSCALLS;
  LIBBPF_OPTS(bpf_map_batch_opts, opts);
  if (bpf_map_update_batch(stats_fd, old_keys.data(), zero_stats.data(), &count, &opts) != 0)
    return Error::sys("resetting the syscall counters (bpf map update batch)");

  // Errno counts: keys of the old epoch, read and deleted.
  const size_t u64_bytes = percpu_stride(sizeof(uint64_t)) * cpus;
  int errno_fd = map_fd(skel->maps.errno_counts);
  auto errnos = lookup_all(errno_fd, static_cast<uint32_t>(errno_keys.size()), errno_keys.data(),
                           errno_values.data(), u64_bytes, "the errno counters");
  if (!errnos.ok()) return errnos.error();
  old_errno_keys.clear();
  for (uint32_t i = 0; i < *errnos; ++i) {
    uint32_t key = errno_keys[i];
    if (sm_errno_key_epoch(key) != old) continue;
    old_errno_keys.push_back(key);
    snap.errnos.push_back({sm_errno_key_nr(key), errno_of_slot(sm_errno_key_slot(key)),
                           sum_percpu_u64(errno_values.data() + i * u64_bytes, cpus)});
  }
  if (!old_errno_keys.empty()) {
    count = static_cast<uint32_t>(old_errno_keys.size());
    if (bpf_map_delete_batch(errno_fd, old_errno_keys.data(), &count, &opts) != 0)
      return Error::sys("resetting the errno counters (bpf map delete batch)");
  }

  // The few per-epoch counters, one by one.
  int counters_fd = map_fd(skel->maps.counters);
  std::vector<unsigned char> value(u64_bytes), zero(u64_bytes, 0);
  for (uint32_t c = 0; c < SM_COUNTERS; ++c) {
    uint32_t key = old * SM_COUNTERS + c;
    if (bpf_map_lookup_elem(counters_fd, &key, value.data()) != 0)
      return Error::sys("reading the monitor's counters");
    snap.counters[c] = sum_percpu_u64(value.data(), cpus);
    if (snap.counters[c] && bpf_map_update_elem(counters_fd, &key, zero.data(), BPF_ANY) != 0)
      return Error::sys("resetting the monitor's counters");
  }
  return ok();
}

Result<Interval> SyscallMonitor::collect() {
  std::lock_guard lock(impl_->collect_mutex);
  Impl& m = *impl_;
  const uint32_t old = m.epoch;
  // Flip first: from here on new calls land in the other half.
  SYSCHAOS_TRY(m.set_epoch(old ^ 1u));
  m.epoch = old ^ 1u;
  auto grace = wait_for_bpf_programs();
  const double end_unix = unix_now();

  SyscallCountsSnapshot snap;
  SYSCHAOS_TRY(m.read_and_reset(old, snap));

  Interval interval;
  interval.index = m.next_index++;
  interval.start_unix = m.interval_start_unix;
  interval.end_unix = end_unix;
  m.interval_start_unix = end_unix;
  interval.syscalls = build_syscall_stats(snap, SyscallTable::native());
  for (const SyscallStats& s : interval.syscalls) {
    interval.total_calls += s.calls;
    interval.total_errors += s.errors;
  }
  interval.events_lost = snap.counters[SM_COUNTER_EVENTS_LOST];
  interval.processes = tracked_processes();
  interval.target_alive = interval.processes > 0 || m.cgroup_filter_active;

  SyscallMonitorDiagnostics d;
  d.unknown_syscall_calls = snap.counters[SM_COUNTER_UNKNOWN_NR_CALLS];
  d.unknown_syscall_errors = snap.counters[SM_COUNTER_UNKNOWN_NR_ERRORS];
  d.compat_calls = snap.counters[SM_COUNTER_COMPAT_CALLS];
  d.untimed_calls = snap.counters[SM_COUNTER_UNTIMED_CALLS];
  d.unrecorded_errnos = snap.counters[SM_COUNTER_ERRNO_UNRECORDED];
  d.untracked_forks = snap.counters[SM_COUNTER_FORKS_UNTRACKED];
  d.events_lost = snap.counters[SM_COUNTER_EVENTS_LOST];
  d.grace_period = grace;
  for (bpf_program* program : {m.skel->progs.sm_sys_enter, m.skel->progs.sm_sys_exit,
                               m.skel->progs.sm_cgroup_sys_enter, m.skel->progs.sm_cgroup_sys_exit}) {
    bpf_prog_info info{};
    uint32_t len = sizeof(info);
    if (bpf_obj_get_info_by_fd(bpf_program__fd(program), &info, &len) == 0)
      d.missed_program_runs += info.recursion_misses;
  }
  {
    std::lock_guard dlock(m.diagnostics_mutex);
    m.diagnostics = d;
  }
  return interval;
}

SyscallMonitorDiagnostics SyscallMonitor::last_diagnostics() const {
  std::lock_guard lock(impl_->diagnostics_mutex);
  return impl_->diagnostics;
}

int SyscallMonitor::Impl::deliver_event(void* ctx, void* data, size_t size) {
  auto* m = static_cast<Impl*>(ctx);
  if (size < sizeof(sm_call_event) || !m->on_event) return 0;
  sm_call_event raw;
  std::memcpy(&raw, data, sizeof(raw));
  SyscallEvent ev;
  ev.pid = static_cast<pid_t>(raw.tgid);
  ev.tid = static_cast<pid_t>(raw.tid);
  ev.nr = raw.nr;
  ev.name = raw.nr >= 0 ? SyscallTable::native().name(raw.nr) : "unknown";
  ev.ret = raw.ret;
  ev.err = static_cast<int>(sm_errno_of(raw.ret));
  if (raw.flags & SM_EVENT_DURATION_KNOWN) ev.duration_ns = raw.duration_ns;
  ev.end_unix =
      static_cast<double>(static_cast<int64_t>(raw.end_ns) + m->realtime_minus_monotonic_ns) / 1e9;
  ev.comm.assign(raw.comm, strnlen(raw.comm, sizeof(raw.comm)));
  ev.slow = raw.flags & SM_EVENT_SLOW;
  ev.failed = raw.flags & SM_EVENT_FAILED;
  // An exception must not unwind through libbpf's C frames: keep it, stop this poll, and
  // rethrow once ring_buffer__poll has returned.
  try {
    (*m->on_event)(ev);
  } catch (...) {
    m->handler_exception = std::current_exception();
    return -ECANCELED;
  }
  return 0;
}

Result<size_t> SyscallMonitor::poll_events(const std::function<void(const SyscallEvent&)>& on_event,
                                           std::chrono::milliseconds timeout) {
  std::lock_guard lock(impl_->events_mutex);
  if (!impl_->events)
    return Error(
        "the call event stream is off: ask for a slow-call threshold or failed-call events");
  impl_->on_event = &on_event;
  int n = ring_buffer__poll(impl_->events.get(), static_cast<int>(timeout.count()));
  impl_->on_event = nullptr;
  if (impl_->handler_exception)
    std::rethrow_exception(std::exchange(impl_->handler_exception, nullptr));
  if (n == -EINTR) return size_t{0};
  if (n < 0) return Error::sys("polling the call event ring buffer", -n);
  return static_cast<size_t>(n);
}

int SyscallMonitor::events_fd() const {
  return impl_->events ? ring_buffer__epoll_fd(impl_->events.get()) : -1;
}

std::vector<pid_t> SyscallMonitor::tracked_pids() const {
  std::vector<pid_t> pids;
  int fd = impl_->map_fd(impl_->skel->maps.target_tgids);
  uint32_t key = 0, next = 0;
  const uint32_t* prev = nullptr;
  // get_next_key restarts from the first key when `prev` was deleted meanwhile (a process
  // exited); the bound keeps that from looping, duplicates are dropped below.
  for (uint32_t i = 0; i <= impl_->options.max_processes * 2; ++i) {
    if (bpf_map_get_next_key(fd, prev, &next) != 0) break;
    pids.push_back(static_cast<pid_t>(next));
    key = next;
    prev = &key;
  }
  std::sort(pids.begin(), pids.end());
  pids.erase(std::unique(pids.begin(), pids.end()), pids.end());
  return pids;
}

size_t SyscallMonitor::tracked_processes() const { return tracked_pids().size(); }

Result<uint64_t> cgroup_v2_id(const std::string& dir) {
  struct statfs fs {};
  if (::statfs(dir.c_str(), &fs) != 0) return Error::sys(fmt::format("statfs {}", dir));
  if (fs.f_type != CGROUP2_SUPER_MAGIC)
    return Error(fmt::format("{} is not a cgroup v2 directory", dir));
  // A cgroup's file handle is its 64-bit kernfs id, the same id BPF sees.
  alignas(file_handle) unsigned char buf[sizeof(file_handle) + sizeof(uint64_t)] = {};
  auto* handle = reinterpret_cast<file_handle*>(buf);
  handle->handle_bytes = sizeof(uint64_t);
  int mount_id = 0;
  if (::name_to_handle_at(AT_FDCWD, dir.c_str(), handle, &mount_id, 0) != 0)
    return Error::sys(fmt::format("name_to_handle_at {}", dir));
  uint64_t id = 0;
  std::memcpy(&id, handle->f_handle, sizeof(id));
  return id;
}

}  // namespace syschaos
