// The pure parts of the syscall monitor: the bucket and errno arithmetic the BPF program
// runs (bpf/syscall_monitor.h, compiled here as C++), decoding the maps' raw contents into
// SyscallStats, and the one-line errors made from libbpf's log.
#include <bpf/libbpf.h>
#include <gtest/gtest.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <limits>

#include "observe/bpf_diagnostics.hpp"
#include "observe/syscall_monitor_decode.hpp"

namespace syschaos {
namespace {

int naive_bucket(uint64_t ns) {
  int b = 0;
  while (ns > 1) {
    ns >>= 1;
    ++b;
  }
  return std::min(b, kLatencyBuckets - 1);
}

TEST(LatencyBucket, IsFloorLog2ClampedToTheLastBucket) {
  EXPECT_EQ(sm_latency_bucket(0), 0u);
  EXPECT_EQ(sm_latency_bucket(1), 0u);
  EXPECT_EQ(sm_latency_bucket(2), 1u);
  EXPECT_EQ(sm_latency_bucket(3), 1u);
  EXPECT_EQ(sm_latency_bucket(1023), 9u);
  EXPECT_EQ(sm_latency_bucket(1024), 10u);
  EXPECT_EQ(sm_latency_bucket(20'000'000), 24u);  // 20 ms in [2^24, 2^25) ns
  EXPECT_EQ(sm_latency_bucket(uint64_t{1} << 39), 39u);
  EXPECT_EQ(sm_latency_bucket(uint64_t{1} << 45), 39u);
  EXPECT_EQ(sm_latency_bucket(std::numeric_limits<uint64_t>::max()), 39u);
  for (int shift = 0; shift < 64; ++shift)
    for (int64_t delta : {-1, 0, 1}) {
      uint64_t v = (uint64_t{1} << shift) + static_cast<uint64_t>(delta);
      EXPECT_EQ(static_cast<int>(sm_latency_bucket(v)), naive_bucket(v)) << v;
    }
}

TEST(ErrnoDecoding, OnlyTheKernelErrorRangeIsAnError) {
  EXPECT_EQ(sm_errno_of(0), 0u);
  EXPECT_EQ(sm_errno_of(42), 0u);
  EXPECT_EQ(sm_errno_of(-1), 1u);
  EXPECT_EQ(sm_errno_of(-ENOENT), static_cast<uint32_t>(ENOENT));
  EXPECT_EQ(sm_errno_of(-4095), 4095u);
  EXPECT_EQ(sm_errno_of(-4096), 0u);  // e.g. an mmap address near the top, not an error
  EXPECT_EQ(sm_errno_of(std::numeric_limits<int64_t>::min()), 0u);
}

TEST(ErrnoDecoding, SlotsRoundTripRealAndKernelInternalErrnos) {
  for (uint32_t err = 1; err <= 223; ++err) {
    EXPECT_EQ(sm_errno_slot(err), err);
    EXPECT_EQ(errno_of_slot(sm_errno_slot(err)), static_cast<int>(err));
  }
  for (uint32_t err = 512; err < 544; ++err) {  // ERESTARTSYS (512) ...
    uint32_t slot = sm_errno_slot(err);
    EXPECT_GT(slot, 223u);
    EXPECT_LE(slot, 255u);
    EXPECT_EQ(errno_of_slot(slot), static_cast<int>(err));
  }
  for (uint32_t err : {0u, 224u, 300u, 511u, 544u, 4095u}) {
    EXPECT_EQ(sm_errno_slot(err), uint32_t{SM_ERRNO_SLOT_OTHER}) << err;
  }
  EXPECT_EQ(errno_of_slot(SM_ERRNO_SLOT_OTHER), kUnrecordedErrno);
}

TEST(ErrnoDecoding, MapKeysPackEpochNumberAndSlot) {
  uint32_t key = sm_errno_key(1, 511, 255);
  EXPECT_EQ(sm_errno_key_epoch(key), 1u);
  EXPECT_EQ(sm_errno_key_nr(key), 511u);
  EXPECT_EQ(sm_errno_key_slot(key), 255u);
  EXPECT_NE(sm_errno_key(0, 2, 2), sm_errno_key(1, 2, 2));
  EXPECT_NE(sm_errno_key(0, 2, 3), sm_errno_key(0, 3, 2));
}

TEST(PerCpuValues, AreSummedAtTheirStride) {
  constexpr int cpus = 3;
  const size_t stride = percpu_stride(sizeof(sm_syscall_stats));
  EXPECT_EQ(stride % 8, 0u);
  std::vector<unsigned char> raw(stride * cpus, 0);
  for (int cpu = 0; cpu < cpus; ++cpu) {
    sm_syscall_stats s{};
    s.calls = 10 + cpu;
    s.errors = cpu;
    s.latency_sum_ns = 1000;
    s.latency_log2[5] = 1;
    s.latency_log2[39] = cpu;
    std::memcpy(raw.data() + cpu * stride, &s, sizeof(s));
  }
  sm_syscall_stats sum{};
  add_percpu_stats(sum, raw.data(), cpus);
  EXPECT_EQ(sum.calls, 33u);
  EXPECT_EQ(sum.errors, 3u);
  EXPECT_EQ(sum.latency_sum_ns, 3000u);
  EXPECT_EQ(sum.latency_log2[5], 3u);
  EXPECT_EQ(sum.latency_log2[39], 3u);

  std::vector<unsigned char> u64s(8 * cpus);
  for (int cpu = 0; cpu < cpus; ++cpu) {
    uint64_t v = uint64_t{1} << (cpu * 20);
    std::memcpy(u64s.data() + cpu * 8, &v, 8);
  }
  EXPECT_EQ(sum_percpu_u64(u64s.data(), cpus), 1u + (1u << 20) + (uint64_t{1} << 40));
}

TEST(BuildSyscallStats, BusiestFirstWithNamesErrnosAndUnrecordedErrors) {
  const SyscallTable& table = SyscallTable::native();
  const int openat = table.number("openat").value();
  const int read = table.number("read").value();
  const int write = table.number("write").value();
  const int close = table.number("close").value();

  SyscallCountsSnapshot snap;
  snap.per_syscall[read].calls = 50;
  snap.per_syscall[read].latency_log2[10] = 50;
  snap.per_syscall[read].latency_sum_ns = 50 * 1500;
  snap.per_syscall[openat].calls = 100;
  snap.per_syscall[openat].errors = 40;
  snap.per_syscall[write].calls = 50;
  snap.per_syscall[write].errors = 5;
  snap.per_syscall[close].calls = 0;
  snap.errnos.push_back({static_cast<uint32_t>(openat), EACCES, 10});
  snap.errnos.push_back({static_cast<uint32_t>(openat), ENOENT, 30});
  snap.errnos.push_back({static_cast<uint32_t>(write), EPIPE, 3});  // 2 more were unrecorded

  auto stats = build_syscall_stats(snap, table);
  ASSERT_EQ(stats.size(), 3u);
  EXPECT_EQ(stats[0].name, "openat");
  EXPECT_EQ(stats[0].calls, 100u);
  EXPECT_EQ(stats[0].errnos, (std::vector<std::pair<int, uint64_t>>{{ENOENT, 30}, {EACCES, 10}}));
  // Equal calls: the lower number first (read is 0, write is 1 on x86-64).
  EXPECT_EQ(stats[1].nr, std::min(read, write));
  EXPECT_EQ(stats[2].nr, std::max(read, write));
  const SyscallStats& w = stats[1].nr == write ? stats[1] : stats[2];
  const SyscallStats& r = stats[1].nr == read ? stats[1] : stats[2];
  EXPECT_EQ(w.errors, 5u);
  EXPECT_EQ(w.errnos, (std::vector<std::pair<int, uint64_t>>{{EPIPE, 3}, {kUnrecordedErrno, 2}}));
  EXPECT_TRUE(r.errnos.empty());
  EXPECT_EQ(r.latency_log2[10], 50u);
  EXPECT_EQ(r.latency_sum_ns, 75000u);
  EXPECT_NEAR(r.latency_quantile_ns(0.5), 1536.0, 1.0);
}

TEST(BuildSyscallStats, EmptySnapshotHasNoEntries) {
  EXPECT_TRUE(build_syscall_stats(SyscallCountsSnapshot{}, SyscallTable::native()).empty());
}

TEST(LibbpfLog, TheVerifiersVerdictIsTheRelevantLine) {
  std::vector<std::string> log = {
      "libbpf: prog 'sm_sys_exit': BPF program load failed: Permission denied",
      "libbpf: prog 'sm_sys_exit': -- BEGIN PROG LOAD LOG --",
      "0: R1=ctx() R10=fp0",
      "; int BPF_PROG(sm_sys_exit, struct pt_regs *regs, long ret) {",
      "12: (79) r1 = *(u64 *)(r2 +0)",
      "R2 invalid mem access 'scalar'",
      "processed 12 insns (limit 1000000) max_states_per_insn 0 total_states 1",
      "-- END PROG LOAD LOG --",
      "libbpf: prog 'sm_sys_exit': failed to load: -13",
      "libbpf: failed to load object 'syscall_monitor_bpf'",
  };
  EXPECT_EQ(relevant_libbpf_line(log), "prog 'sm_sys_exit': R2 invalid mem access 'scalar'");
  // EACCES from the verifier is a rejected program, not a missing privilege.
  Error e = bpf_step_error(BpfStep::kLoad, "the programs", EACCES, log);
  EXPECT_EQ(e.message(),
            "loading the programs into the kernel failed: prog 'sm_sys_exit': R2 invalid mem "
            "access 'scalar'");
  EXPECT_EQ(e.sys_errno(), EACCES);
}

TEST(LibbpfLog, NoPrivilegeSaysWhatIsNeeded) {
  std::vector<std::string> log = {
      "libbpf: Error in bpf_object__probe_loading():Operation not permitted(1). Couldn't load "
      "trivial BPF program. Make sure your kernel supports BPF (CONFIG_BPF_SYSCALL=y) and/or "
      "that RLIMIT_MEMLOCK is set to big enough value.",
      "libbpf: failed to load object 'syscall_monitor_bpf'",
  };
  Error e = bpf_step_error(BpfStep::kLoad, "the programs", EPERM, log);
  EXPECT_EQ(e.message(),
            "loading BPF programs needs root or CAP_BPF+CAP_PERFMON: Error in "
            "bpf_object__probe_loading():Operation not permitted(1)");
  // Without any libbpf line, strerror stands in.
  EXPECT_EQ(bpf_step_error(BpfStep::kOpen, "x", EPERM, {}).message(),
            "loading BPF programs needs root or CAP_BPF+CAP_PERFMON: Operation not permitted");
}

TEST(LibbpfLog, AttachFailuresNameTheTracepointAndWhatTheKernelNeeds) {
  Error e = bpf_step_error(BpfStep::kAttach, "raw tracepoint raw_syscalls:sys_enter", ENOENT, {});
  EXPECT_EQ(e.message().rfind("attaching to raw tracepoint raw_syscalls:sys_enter failed (", 0),
            0u);
  EXPECT_NE(e.message().find("CONFIG_FTRACE_SYSCALLS"), std::string::npos);
  EXPECT_EQ(e.message().find('\n'), std::string::npos);
}

TEST(LibbpfLog, CaptureCollectsLibbpfsLinesAndRestoresThePrinter) {
  libbpf_print_fn_t original = libbpf_set_print(nullptr);
  libbpf_set_print(original);
  {
    LibbpfLogCapture capture;
    bpf_object* obj = bpf_object__open_file("/nonexistent/syschaos.bpf.o", nullptr);
    EXPECT_EQ(obj, nullptr);
    bool seen = false;
    for (const std::string& line : capture.lines())
      if (line.find("/nonexistent/syschaos.bpf.o") != std::string::npos) seen = true;
    EXPECT_TRUE(seen) << "libbpf's complaint about the missing file was not captured";
    EXPECT_NE(relevant_libbpf_line(capture.lines()), "");
  }
  EXPECT_EQ(libbpf_set_print(original), original);
}

}  // namespace
}  // namespace syschaos
