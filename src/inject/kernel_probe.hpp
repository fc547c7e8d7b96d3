// Kernel feature probes: what this machine lets syschaos do (ptrace, seccomp user
// notification, BPF program types, kprobes, fault-injection debugfs, FUSE, cgroups, Docker),
// for `syschaos info` and for choosing an engine by capability.
//
// A probe tries the thing where it can (forks a child and seizes it, installs a seccomp
// filter and answers a notification, loads a tiny BPF program) rather than trusting the
// kernel config; the config only explains a "no". Results are computed once and cached.
// Callers hold a KernelProbe&, so tests substitute FixedKernelProbe.
#pragma once

#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace syschaos {

struct Feature {
  std::string name;  // stable identifier, one of the feature_names below
  bool available = false;
  std::string detail;  // what was found, or what is missing and why
};

// The names the system probe reports, in the order it reports them.
namespace feature_names {
inline constexpr std::string_view kPtrace = "ptrace";
inline constexpr std::string_view kPtraceGetSyscallInfo = "ptrace_get_syscall_info";
inline constexpr std::string_view kSeccompFilter = "seccomp_filter";
inline constexpr std::string_view kSeccompUserNotif = "seccomp_user_notif";
inline constexpr std::string_view kBpfTracepoint = "bpf_prog_tracepoint";
inline constexpr std::string_view kBpfRawTracepoint = "bpf_prog_raw_tracepoint";
inline constexpr std::string_view kBpfCgroupSkb = "bpf_prog_cgroup_skb";
inline constexpr std::string_view kBpfCgroupSockAddr = "bpf_prog_cgroup_sock_addr";
inline constexpr std::string_view kBpfSchedCls = "bpf_prog_sched_cls";
inline constexpr std::string_view kBpfLsm = "bpf_prog_lsm";
inline constexpr std::string_view kBpfTracing = "bpf_prog_tracing";
inline constexpr std::string_view kBpfKprobe = "bpf_prog_kprobe";
inline constexpr std::string_view kBpfLsmActive = "bpf_lsm_active";
inline constexpr std::string_view kKprobes = "kprobes";
inline constexpr std::string_view kBpfOverrideReturn = "bpf_override_return";
inline constexpr std::string_view kFaultInjectionDebugfs = "fault_injection_debugfs";
inline constexpr std::string_view kBtf = "btf";
inline constexpr std::string_view kFuse = "fuse";
inline constexpr std::string_view kCgroupV1 = "cgroup_v1";
inline constexpr std::string_view kCgroupV2 = "cgroup_v2";
inline constexpr std::string_view kFreezer = "freezer";
inline constexpr std::string_view kDocker = "docker";
}  // namespace feature_names

class KernelProbe {
 public:
  virtual ~KernelProbe() = default;

  // Every feature; probed on the first call (from any thread), the same answer after.
  const std::vector<Feature>& features();
  // The feature called `name`, or null when no probe reports that name.
  const Feature* find(std::string_view name);
  // True only for a feature that was probed and found available.
  bool available(std::string_view name);

 protected:
  virtual std::vector<Feature> run_probes() = 0;

 private:
  std::once_flag probed_;
  std::vector<Feature> features_;
};

// Probes this machine. It forks short-lived children (killed and reaped before the probe
// returns), loads and unloads tiny BPF programs, and mounts securityfs, debugfs or tracefs
// in a private temporary directory when they are not mounted (unmounted afterwards).
// Most answers are "no" without root.
class SystemKernelProbe final : public KernelProbe {
 protected:
  std::vector<Feature> run_probes() override;
};

// Fixed answers: for tests, and for reasoning about another machine from its
// `syschaos info --json`.
class FixedKernelProbe final : public KernelProbe {
 public:
  explicit FixedKernelProbe(std::vector<Feature> features) : fixed_(std::move(features)) {}

 protected:
  std::vector<Feature> run_probes() override { return fixed_; }

 private:
  std::vector<Feature> fixed_;
};

// The process-wide SystemKernelProbe, made on first use, so every caller shares one probe run.
KernelProbe& system_kernel_probe();

// The pure parts, testable without a kernel.

// The value of `option` ("CONFIG_KPROBES") in kernel config text (/proc/config.gz,
// /boot/config-*): "y", "m", a number or a quoted string as written; nullopt when the text
// says "# CONFIG_X is not set" or does not mention it.
std::optional<std::string> kernel_config_value(std::string_view config_text,
                                               std::string_view option);

// Whether the comma-separated LSM list of /sys/kernel/security/lsm names `lsm`.
bool lsm_list_contains(std::string_view lsm_list, std::string_view lsm);

// The active mode in /sys/kernel/security/lockdown ("none [integrity] confidentiality"
// -> "integrity"); nullopt when none is bracketed.
std::optional<std::string> active_lockdown_mode(std::string_view lockdown_text);

// What Yama's /proc/sys/kernel/yama/ptrace_scope value allows, given whether this process
// has CAP_SYS_PTRACE. Empty when it does not restrict syschaos at all.
std::string ptrace_scope_limit(int scope, bool has_cap_sys_ptrace);

// Whether the "CapEff:" line of /proc/PID/status text holds capability number `cap`.
bool status_has_capability(std::string_view proc_status, int cap);

// The first mount point of file system type `fstype` in mountinfo text, unescaped.
std::optional<std::string> mount_point_of(std::string_view mountinfo, std::string_view fstype);

}  // namespace syschaos
