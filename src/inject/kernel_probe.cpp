#include "inject/kernel_probe.hpp"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/perf_event.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdarg>
#include <cstring>
#include <map>
#include <memory>
#include <thread>

#include "core/result.hpp"
#include "core/text_fields.hpp"
#include "core/unique_fd.hpp"
#include "target/cgroup_paths.hpp"
#include "target/docker_client.hpp"
#include "target/proc_files.hpp"

namespace syschaos {

// ---------------------------------------------------------------------------------------
// KernelProbe

const std::vector<Feature>& KernelProbe::features() {
  std::call_once(probed_, [this] { features_ = run_probes(); });
  return features_;
}

const Feature* KernelProbe::find(std::string_view name) {
  for (const Feature& feature : features())
    if (feature.name == name) return &feature;
  return nullptr;
}

bool KernelProbe::available(std::string_view name) {
  const Feature* feature = find(name);
  return feature && feature->available;
}

KernelProbe& system_kernel_probe() {
  static SystemKernelProbe probe;
  return probe;
}

// ---------------------------------------------------------------------------------------
// Pure helpers

namespace {

std::string_view trim(std::string_view text) {
  size_t begin = text.find_first_not_of(" \t\r\n");
  if (begin == std::string_view::npos) return {};
  size_t end = text.find_last_not_of(" \t\r\n");
  return text.substr(begin, end - begin + 1);
}

}  // namespace

std::optional<std::string> kernel_config_value(std::string_view config_text,
                                               std::string_view option) {
  for (std::string_view line : split(config_text, '\n')) {
    line = trim(line);
    if (!line.starts_with(option) || line.size() <= option.size() || line[option.size()] != '=')
      continue;
    return std::string(line.substr(option.size() + 1));
  }
  return std::nullopt;
}

bool lsm_list_contains(std::string_view lsm_list, std::string_view lsm) {
  size_t start = 0;
  lsm_list = trim(lsm_list);
  while (start <= lsm_list.size()) {
    size_t end = lsm_list.find(',', start);
    if (end == std::string_view::npos) end = lsm_list.size();
    if (trim(lsm_list.substr(start, end - start)) == lsm) return true;
    start = end + 1;
  }
  return false;
}

std::optional<std::string> active_lockdown_mode(std::string_view lockdown_text) {
  size_t open = lockdown_text.find('[');
  size_t close = lockdown_text.find(']', open);
  if (open == std::string_view::npos || close == std::string_view::npos) return std::nullopt;
  return std::string(lockdown_text.substr(open + 1, close - open - 1));
}

std::string ptrace_scope_limit(int scope, bool has_cap_sys_ptrace) {
  switch (scope) {
    case 0:
      return {};
    case 1:
      if (has_cap_sys_ptrace) return {};
      return "Yama ptrace_scope=1 and no CAP_SYS_PTRACE: only launched commands can be traced, "
             "not running processes";
    case 2:
      if (has_cap_sys_ptrace) return {};
      return "Yama ptrace_scope=2: attaching needs CAP_SYS_PTRACE, which this process lacks";
    default:
      return fmt::format("Yama ptrace_scope={}: attaching is disabled until reboot", scope);
  }
}

bool status_has_capability(std::string_view proc_status, int cap) {
  for (std::string_view line : split(proc_status, '\n')) {
    if (!line.starts_with("CapEff:")) continue;
    std::string hex(trim(line.substr(7)));
    if (hex.empty() || cap < 0 || cap > 63) return false;
    uint64_t mask = std::strtoull(hex.c_str(), nullptr, 16);
    return (mask >> cap) & 1U;
  }
  return false;
}

std::optional<std::string> mount_point_of(std::string_view mountinfo, std::string_view fstype) {
  for (std::string_view line : split(mountinfo, '\n')) {
    // id parent major:minor root mount_point options [optional...] - fstype source super
    std::vector<std::string_view> fields;
    size_t start = 0;
    while (start < line.size()) {
      size_t end = line.find(' ', start);
      if (end == std::string_view::npos) end = line.size();
      fields.push_back(line.substr(start, end - start));
      start = end + 1;
    }
    auto separator = std::find(fields.begin(), fields.end(), std::string_view("-"));
    if (fields.size() < 5 || separator == fields.end() || separator + 1 == fields.end()) continue;
    if (separator[1] != fstype) continue;
    // Paths escape space, tab, newline and backslash as \ooo (octal).
    std::string_view escaped = fields[4];
    auto is_octal = [](char c) { return c >= '0' && c <= '7'; };
    std::string point;
    for (size_t i = 0; i < escaped.size(); ++i) {
      if (escaped[i] == '\\' && i + 3 < escaped.size() && is_octal(escaped[i + 1]) &&
          is_octal(escaped[i + 2]) && is_octal(escaped[i + 3])) {
        point.push_back(static_cast<char>((escaped[i + 1] - '0') * 64 + (escaped[i + 2] - '0') * 8 +
                                          (escaped[i + 3] - '0')));
        i += 3;
      } else {
        point.push_back(escaped[i]);
      }
    }
    return point;
  }
  return std::nullopt;
}

// ---------------------------------------------------------------------------------------
// The system probe

namespace {

using namespace std::chrono_literals;
namespace names = feature_names;

Feature yes(std::string_view name, std::string detail) {
  return Feature{std::string(name), true, std::move(detail)};
}
Feature no(std::string_view name, std::string detail) {
  return Feature{std::string(name), false, std::move(detail)};
}

bool path_exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

std::string errno_text(int err) { return std::strerror(err); }

// A forked child that is killed and reaped when it goes out of scope, so that no probe
// leaves a process behind whatever path it returns by.
class ProbeChild {
 public:
  // The child runs `child_main`, which may only make async-signal-safe calls (the parent
  // may have threads, whose locks the child would inherit held) and must end in _exit.
  template <typename ChildMain>
  static Result<ProbeChild> start(ChildMain&& child_main) {
    pid_t pid = ::fork();
    if (pid < 0) return Error::sys("fork");
    if (pid == 0) {
      child_main();
      ::_exit(127);
    }
    return ProbeChild(pid);
  }

  ProbeChild(ProbeChild&& other) noexcept : pid_(std::exchange(other.pid_, -1)) {}
  ProbeChild& operator=(ProbeChild&&) = delete;
  ~ProbeChild() { kill_and_reap(); }

  pid_t pid() const { return pid_; }

  // The next wait status (a ptrace stop or the exit), or nullopt when none comes in time.
  Result<std::optional<int>> wait(std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      int status = 0;
      pid_t waited = ::waitpid(pid_, &status, WNOHANG | __WALL);
      if (waited < 0) {
        if (errno == EINTR) continue;
        return Error::sys(fmt::format("waitpid {}", pid_));
      }
      if (waited == pid_) {
        if (WIFEXITED(status) || WIFSIGNALED(status)) pid_ = -1;  // reaped
        return std::optional<int>(status);
      }
      if (std::chrono::steady_clock::now() >= deadline) return std::optional<int>();
      std::this_thread::sleep_for(1ms);
    }
  }

 private:
  explicit ProbeChild(pid_t pid) : pid_(pid) {}

  void kill_and_reap() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    for (;;) {
      int status = 0;
      pid_t waited = ::waitpid(pid_, &status, __WALL);
      if (waited < 0 && errno == EINTR) continue;
      if (waited < 0 || WIFEXITED(status) || WIFSIGNALED(status)) break;
    }
    pid_ = -1;
  }

  pid_t pid_;
};

// A pseudo file system mounted in a fresh directory under /tmp for the length of a probe
// run, so that probing leaves the machine's mount table as it found it.
class TemporaryMount {
 public:
  static Result<TemporaryMount> create(const std::string& fstype) {
    char dir[] = "/tmp/syschaos-probe-XXXXXX";
    if (!::mkdtemp(dir)) return Error::sys("mkdtemp /tmp/syschaos-probe-XXXXXX");
    TemporaryMount mount(dir);
    if (::mount(fstype.c_str(), dir, fstype.c_str(), MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) !=
        0)
      return Error::sys(fmt::format("mount -t {} (on {})", fstype, dir));
    mount.mounted_ = true;
    return mount;
  }
  TemporaryMount(TemporaryMount&& other) noexcept
      : dir_(std::move(other.dir_)), mounted_(std::exchange(other.mounted_, false)) {
    other.dir_.clear();
  }
  TemporaryMount& operator=(TemporaryMount&&) = delete;
  ~TemporaryMount() {
    // MNT_DETACH: debugfs may have tracefs automounted below it, which a plain umount refuses.
    if (mounted_) ::umount2(dir_.c_str(), MNT_DETACH);
    if (!dir_.empty()) ::rmdir(dir_.c_str());
  }
  const std::string& dir() const { return dir_; }

 private:
  explicit TemporaryMount(std::string dir) : dir_(std::move(dir)) {}
  std::string dir_;
  bool mounted_ = false;
};

struct PosixSpawnActions {
  posix_spawn_file_actions_t actions;
  PosixSpawnActions() { posix_spawn_file_actions_init(&actions); }
  ~PosixSpawnActions() { posix_spawn_file_actions_destroy(&actions); }
  PosixSpawnActions(const PosixSpawnActions&) = delete;
  PosixSpawnActions& operator=(const PosixSpawnActions&) = delete;
};

// Runs a program and returns what it writes to stdout. Used for `gzip -dc /proc/config.gz`,
// which keeps zlib out of the link for one optional read.
Result<std::string> capture_output(const std::vector<std::string>& argv) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return Error::sys("pipe2");
  UniqueFd read_end(fds[0]), write_end(fds[1]);
  PosixSpawnActions spawn;
  posix_spawn_file_actions_adddup2(&spawn.actions, write_end.get(), STDOUT_FILENO);
  posix_spawn_file_actions_addopen(&spawn.actions, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
  std::vector<char*> args;
  for (const std::string& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  if (int err = ::posix_spawnp(&pid, args[0], &spawn.actions, nullptr, args.data(), environ))
    return Error::sys(fmt::format("run {}", argv[0]), err);
  write_end.reset();

  std::string output;
  int read_errno = 0;
  char buffer[65536];
  for (;;) {
    ssize_t n = ::read(read_end.get(), buffer, sizeof buffer);
    if (n > 0) {
      output.append(buffer, static_cast<size_t>(n));
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      if (n < 0) read_errno = errno;
      break;
    }
  }
  read_end.reset();  // a child still writing gets EPIPE and ends rather than blocking
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (read_errno) return Error::sys(fmt::format("read output of {}", argv[0]), read_errno);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    return Error(fmt::format("{} failed (wait status {:#x})", fmt::join(argv, " "), status));
  return output;
}

struct BtfFree {
  void operator()(btf* handle) const { btf__free(handle); }
};
using BtfHandle = std::unique_ptr<btf, BtfFree>;

// libbpf prints its own warnings to stderr; a probe that fails is an answer, not a warning.
int silent_libbpf_print(enum libbpf_print_level, const char*, va_list) { return 0; }

class SilenceLibbpf {
 public:
  SilenceLibbpf() : previous_(libbpf_set_print(silent_libbpf_print)) {}
  ~SilenceLibbpf() { libbpf_set_print(previous_); }
  SilenceLibbpf(const SilenceLibbpf&) = delete;
  SilenceLibbpf& operator=(const SilenceLibbpf&) = delete;

 private:
  libbpf_print_fn_t previous_;
};

// What every probe shares: the kernel config, pseudo file systems, vmlinux BTF. Each is
// read at most once per probe run, and only when some probe asks.
class ProbeContext {
 public:
  ProbeContext() {
    utsname name{};
    if (::uname(&name) == 0) release_ = name.release;
    if (auto text = read_text_file("/proc/self/mountinfo")) mountinfo_ = std::move(*text);
    if (auto status = read_text_file("/proc/self/status"))
      cap_sys_ptrace_ = status_has_capability(*status, 19 /* CAP_SYS_PTRACE */);
  }

  const std::string& mountinfo() const { return mountinfo_; }
  bool has_cap_sys_ptrace() const { return cap_sys_ptrace_; }

  // true / false when the kernel config sets / does not set `option`; nullopt when no
  // config can be read.
  std::optional<bool> config_enabled(std::string_view option) {
    load_config();
    if (!config_text_) return std::nullopt;
    auto value = kernel_config_value(*config_text_, option);
    return value && (*value == "y" || *value == "m");
  }

  // "kernel built without CONFIG_X" when the config says so, else "".
  std::string built_without(std::string_view option) {
    auto enabled = config_enabled(option);
    if (enabled && !*enabled) return fmt::format("kernel built without {}", option);
    return {};
  }

  // A directory where `fstype` (securityfs, debugfs, tracefs) is mounted: the existing
  // mount, or a temporary one made now.
  Result<std::string> pseudo_fs(const std::string& fstype) {
    if (auto point = mount_point_of(mountinfo_, fstype)) return *point;
    if (auto it = temporary_mounts_.find(fstype); it != temporary_mounts_.end())
      return it->second.dir();
    if (auto it = mount_failures_.find(fstype); it != mount_failures_.end()) return it->second;
    auto mount = TemporaryMount::create(fstype);
    if (!mount) {
      mount_failures_.emplace(fstype, mount.error());
      return mount.error();
    }
    return temporary_mounts_.emplace(fstype, std::move(*mount)).first->second.dir();
  }

  // The kernel lockdown mode ("none", "integrity", "confidentiality"), when readable.
  std::optional<std::string> lockdown_mode() {
    auto security = pseudo_fs("securityfs");
    if (!security) return std::nullopt;
    auto text = read_text_file(*security + "/lockdown");
    if (!text) return std::nullopt;
    return active_lockdown_mode(*text);
  }

  // Why the kernel may have said EPERM to a privileged operation.
  std::string eperm_hint() {
    if (::geteuid() != 0) return "needs root (CAP_BPF / CAP_PERFMON / CAP_SYS_ADMIN)";
    auto mode = lockdown_mode();
    if (mode && *mode != "none")
      return fmt::format("possibly because the kernel is locked down ({} mode)", *mode);
    return {};
  }

  // vmlinux BTF, parsed once; null when unavailable (btf_error() says why).
  const btf* vmlinux_btf() {
    if (!btf_tried_) {
      btf_tried_ = true;
      btf* parsed = btf__parse("/sys/kernel/btf/vmlinux", nullptr);
      if (parsed)
        btf_.reset(parsed);
      else
        btf_error_ = Error::sys("parse /sys/kernel/btf/vmlinux");
    }
    return btf_.get();
  }
  const Error& btf_error() const { return btf_error_; }

  const std::string& release() const { return release_; }

 private:
  void load_config() {
    if (config_loaded_) return;
    config_loaded_ = true;
    if (path_exists("/proc/config.gz")) {
      if (auto text = capture_output({"gzip", "-dc", "/proc/config.gz"})) {
        config_text_ = std::move(*text);
        return;
      }
    }
    if (auto text = read_text_file("/boot/config-" + release_)) config_text_ = std::move(*text);
  }

  std::string release_;
  std::string mountinfo_;
  bool cap_sys_ptrace_ = false;
  bool config_loaded_ = false;
  std::optional<std::string> config_text_;
  std::map<std::string, TemporaryMount> temporary_mounts_;
  std::map<std::string, Error> mount_failures_;
  bool btf_tried_ = false;
  BtfHandle btf_;
  Error btf_error_;
};

// Joins the non-empty parts with "; ".
std::string join_notes(std::initializer_list<std::string> parts) {
  std::string joined;
  for (const std::string& part : parts) {
    if (part.empty()) continue;
    if (!joined.empty()) joined += "; ";
    joined += part;
  }
  return joined;
}

// ---- ptrace ------------------------------------------------------------------------------

std::optional<int> yama_ptrace_scope() {
  auto text = read_text_file("/proc/sys/kernel/yama/ptrace_scope");
  if (!text) return std::nullopt;
  return std::atoi(text->c_str());
}

Feature probe_ptrace(ProbeContext& ctx) {
  auto scope = yama_ptrace_scope();
  std::string scope_note = scope ? fmt::format("Yama ptrace_scope={}", *scope) : "no Yama LSM";
  auto child = ProbeChild::start([] {
    for (;;) ::pause();
  });
  if (!child) return no(names::kPtrace, child.error().message());
  if (::ptrace(PTRACE_SEIZE, child->pid(), nullptr, nullptr) != 0) {
    int err = errno;
    return no(
        names::kPtrace,
        join_notes({fmt::format("PTRACE_SEIZE of a child process failed: {}", errno_text(err)),
                    scope_note,
                    err == EPERM ? "a seccomp profile (container) may forbid ptrace" : ""}));
  }
  std::string limit = scope ? ptrace_scope_limit(*scope, ctx.has_cap_sys_ptrace()) : "";
  if (scope && *scope >= 3) return no(names::kPtrace, limit);
  return yes(names::kPtrace,
             join_notes({"PTRACE_SEIZE works", scope_note,
                         ctx.has_cap_sys_ptrace()
                             ? "CAP_SYS_PTRACE held"
                             : "no CAP_SYS_PTRACE: only processes of the same user can be traced",
                         limit}));
}

Feature probe_ptrace_get_syscall_info() {
  constexpr auto name = names::kPtraceGetSyscallInfo;
  // The child makes system calls without end, so a syscall stop comes at once.
  auto child = ProbeChild::start([] {
    for (;;) ::syscall(SYS_getppid);
  });
  if (!child) return no(name, child.error().message());
  pid_t pid = child->pid();
  if (::ptrace(PTRACE_SEIZE, pid, nullptr, reinterpret_cast<void*>(PTRACE_O_TRACESYSGOOD)) != 0)
    return no(name, Error::sys("PTRACE_SEIZE").message());
  if (::ptrace(PTRACE_INTERRUPT, pid, nullptr, nullptr) != 0)
    return no(name, Error::sys("PTRACE_INTERRUPT").message());
  auto stopped = child->wait(2s);
  if (!stopped) return no(name, stopped.error().message());
  if (!*stopped || !WIFSTOPPED(**stopped))
    return no(name, "the traced child did not stop on PTRACE_INTERRUPT");
  if (::ptrace(PTRACE_SYSCALL, pid, nullptr, nullptr) != 0)
    return no(name, Error::sys("PTRACE_SYSCALL").message());
  auto at_syscall = child->wait(2s);
  if (!at_syscall) return no(name, at_syscall.error().message());
  if (!*at_syscall || !WIFSTOPPED(**at_syscall) || WSTOPSIG(**at_syscall) != (SIGTRAP | 0x80))
    return no(name, "the traced child did not reach a syscall stop");

  __ptrace_syscall_info info{};
  long size = ::ptrace(PTRACE_GET_SYSCALL_INFO, pid, reinterpret_cast<void*>(sizeof info), &info);
  if (size <= 0) {
    int err = errno;
    if (err == EIO)
      return no(name,
                "the kernel does not know PTRACE_GET_SYSCALL_INFO (it needs Linux 5.3): "
                "syscall numbers and arguments come from registers instead");
    return no(name, Error::sys("PTRACE_GET_SYSCALL_INFO", err).message());
  }
  if (info.op == PTRACE_SYSCALL_INFO_ENTRY)
    return yes(name, fmt::format("decodes a syscall-entry stop (syscall {})", info.entry.nr));
  if (info.op == PTRACE_SYSCALL_INFO_EXIT) return yes(name, "decodes a syscall-exit stop");
  return no(name, fmt::format("PTRACE_GET_SYSCALL_INFO at a syscall stop gave op {}", info.op));
}

// ---- seccomp -----------------------------------------------------------------------------

#if defined(__x86_64__)
constexpr uint32_t kAuditArch = AUDIT_ARCH_X86_64;
#elif defined(__aarch64__)
constexpr uint32_t kAuditArch = AUDIT_ARCH_AARCH64;
#elif defined(__i386__)
constexpr uint32_t kAuditArch = AUDIT_ARCH_I386;
#elif defined(__riscv) && __riscv_xlen == 64
constexpr uint32_t kAuditArch = AUDIT_ARCH_RISCV64;
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
constexpr uint32_t kAuditArch = AUDIT_ARCH_PPC64LE;
#elif defined(__s390x__)
constexpr uint32_t kAuditArch = AUDIT_ARCH_S390X;
#else
#error "kernel_probe: add this architecture's AUDIT_ARCH_* value"
#endif

// An errno no real getppid() returns, so seeing it proves the filter acted.
constexpr int kProbeErrno = ENOTRECOVERABLE;

// A filter that applies `action` to getppid() and allows everything else.
struct GetppidFilter {
  sock_filter code[7];
  sock_fprog program;

  explicit GetppidFilter(uint32_t action)
      : code{
            BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch)),
            BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, kAuditArch, 1, 0),
            BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
            BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
            BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_getppid, 0, 1),
            BPF_STMT(BPF_RET | BPF_K, action),
            BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        },
        program{static_cast<unsigned short>(std::size(code)), code} {}
  GetppidFilter(const GetppidFilter&) = delete;
  GetppidFilter& operator=(const GetppidFilter&) = delete;
};

// What a probe child tells its parent, as plain bytes (the child may not allocate).
struct ChildReport {
  enum Stage : int {
    kOk = 0,
    kNoNewPrivsFailed,
    kSeccompFailed,
    kWrongResult,
    kNone
  } stage = kNone;
  int value = 0;  // errno, or the unexpected result
};

std::string describe_report(const ChildReport& report) {
  switch (report.stage) {
    case ChildReport::kOk:
      return "ok";
    case ChildReport::kNoNewPrivsFailed:
      return Error::sys("prctl(PR_SET_NO_NEW_PRIVS)", report.value).message();
    case ChildReport::kSeccompFailed:
      return Error::sys("seccomp(SECCOMP_SET_MODE_FILTER)", report.value).message();
    case ChildReport::kWrongResult:
      return fmt::format("the filtered getppid() returned {} instead of failing with {}",
                         report.value, kProbeErrno);
    case ChildReport::kNone:
      break;
  }
  return "the probe child reported nothing";
}

// Reads one report, waiting at most `timeout`. With `received_fd`, also takes a file
// descriptor passed with it (SCM_RIGHTS).
Result<ChildReport> receive_report(int fd, std::chrono::milliseconds timeout,
                                   UniqueFd* received_fd = nullptr) {
  pollfd pfd{fd, POLLIN, 0};
  int ready;
  do ready = ::poll(&pfd, 1, static_cast<int>(timeout.count()));
  while (ready < 0 && errno == EINTR);
  if (ready < 0) return Error::sys("poll");
  if (ready == 0) return Error("the probe child did not answer within 2 s");
  ChildReport report;
  iovec iov{&report, sizeof report};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msghdr message{};
  message.msg_iov = &iov;
  message.msg_iovlen = 1;
  if (received_fd) {
    message.msg_control = control;
    message.msg_controllen = sizeof control;
  }
  ssize_t n;
  do
    n = received_fd ? ::recvmsg(fd, &message, MSG_CMSG_CLOEXEC)
                    : ::read(fd, &report, sizeof report);
  while (n < 0 && errno == EINTR);
  if (n < 0) return Error::sys("receive the probe child's report");
  if (n != static_cast<ssize_t>(sizeof report))
    return Error("the probe child exited without a report");
  if (received_fd) {
    for (cmsghdr* c = CMSG_FIRSTHDR(&message); c; c = CMSG_NXTHDR(&message, c)) {
      if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
        int passed = -1;
        std::memcpy(&passed, CMSG_DATA(c), sizeof passed);
        received_fd->reset(passed);
      }
    }
  }
  return report;
}

Feature probe_seccomp_filter() {
  constexpr auto name = names::kSeccompFilter;
  GetppidFilter filter(SECCOMP_RET_ERRNO | (kProbeErrno & SECCOMP_RET_DATA));
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return no(name, Error::sys("pipe2").message());
  UniqueFd read_end(fds[0]), write_end(fds[1]);
  auto child = ProbeChild::start([&] {
    ChildReport report;
    if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
      report = {ChildReport::kNoNewPrivsFailed, errno};
    } else if (::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &filter.program) != 0) {
      report = {ChildReport::kSeccompFailed, errno};
    } else {
      errno = 0;
      long result = ::syscall(SYS_getppid);
      report = result == -1 && errno == kProbeErrno
                   ? ChildReport{ChildReport::kOk, 0}
                   : ChildReport{ChildReport::kWrongResult, static_cast<int>(result)};
    }
    (void)!::write(write_end.get(), &report, sizeof report);
    ::_exit(0);
  });
  if (!child) return no(name, child.error().message());
  write_end.reset();
  auto report = receive_report(read_end.get(), 2s);
  if (!report) return no(name, report.error().message());
  if (report->stage != ChildReport::kOk) return no(name, describe_report(*report));
  return yes(name,
             "a filter installed with seccomp(2) made getppid() fail with the errno it chose");
}

Feature probe_seccomp_user_notif() {
  constexpr auto name = names::kSeccompUserNotif;
  GetppidFilter filter(SECCOMP_RET_USER_NOTIF);
  int pair[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0)
    return no(name, Error::sys("socketpair").message());
  UniqueFd parent_socket(pair[0]), child_socket(pair[1]);

  // The child installs the filter, hands the listener to the parent, then makes the call
  // the parent must answer: the whole round trip the seccomp engine depends on.
  auto child = ProbeChild::start([&] {
    ChildReport report;
    int listener = -1;
    if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
      report = {ChildReport::kNoNewPrivsFailed, errno};
    } else {
      listener = static_cast<int>(::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER,
                                            SECCOMP_FILTER_FLAG_NEW_LISTENER, &filter.program));
      report = listener < 0 ? ChildReport{ChildReport::kSeccompFailed, errno}
                            : ChildReport{ChildReport::kOk, 0};
    }
    iovec iov{&report, sizeof report};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
    msghdr message{};
    message.msg_iov = &iov;
    message.msg_iovlen = 1;
    if (listener >= 0) {
      message.msg_control = control;
      message.msg_controllen = sizeof control;
      cmsghdr* c = CMSG_FIRSTHDR(&message);
      c->cmsg_level = SOL_SOCKET;
      c->cmsg_type = SCM_RIGHTS;
      c->cmsg_len = CMSG_LEN(sizeof(int));
      std::memcpy(CMSG_DATA(c), &listener, sizeof listener);
    }
    if (::sendmsg(child_socket.get(), &message, 0) < 0 || listener < 0) ::_exit(1);
    ::close(listener);
    errno = 0;
    long result = ::syscall(SYS_getppid);  // blocks until the parent answers
    ::_exit(result == -1 && errno == kProbeErrno ? 0 : 3);
  });
  if (!child) return no(name, child.error().message());
  child_socket.reset();

  UniqueFd listener;
  auto report = receive_report(parent_socket.get(), 2s, &listener);
  if (!report) return no(name, report.error().message());
  if (report->stage != ChildReport::kOk) {
    std::string reason = describe_report(*report);
    if (report->stage == ChildReport::kSeccompFailed && report->value == EINVAL)
      reason += " (SECCOMP_FILTER_FLAG_NEW_LISTENER needs Linux 5.0)";
    return no(name, reason);
  }
  if (!listener) return no(name, "the listener fd did not arrive from the probe child");

  pollfd pfd{listener.get(), POLLIN, 0};
  int ready;
  do ready = ::poll(&pfd, 1, 2000);
  while (ready < 0 && errno == EINTR);
  if (ready <= 0) return no(name, "the listener got no notification within 2 s");
  seccomp_notif request{};
  if (::ioctl(listener.get(), SECCOMP_IOCTL_NOTIF_RECV, &request) != 0)
    return no(name, Error::sys("ioctl(SECCOMP_IOCTL_NOTIF_RECV)").message());
  seccomp_notif_resp response{};
  response.id = request.id;
  response.error = -kProbeErrno;
  if (::ioctl(listener.get(), SECCOMP_IOCTL_NOTIF_SEND, &response) != 0)
    return no(name, Error::sys("ioctl(SECCOMP_IOCTL_NOTIF_SEND)").message());
  auto exited = child->wait(2s);
  if (!exited) return no(name, exited.error().message());
  if (!*exited || !WIFEXITED(**exited) || WEXITSTATUS(**exited) != 0)
    return no(name, "the notified call did not return the errno sent by the listener");
  return yes(name,
             "a SECCOMP_FILTER_FLAG_NEW_LISTENER filter gave a listener fd; a notified "
             "getppid() returned the errno the listener sent");
}

// ---- BPF ---------------------------------------------------------------------------------

bpf_insn mov64_imm(uint8_t reg, int32_t imm) {
  bpf_insn insn{};
  insn.code = BPF_ALU64 | BPF_MOV | BPF_K;
  insn.dst_reg = reg;
  insn.imm = imm;
  return insn;
}
bpf_insn call_helper(int32_t helper) {
  bpf_insn insn{};
  insn.code = BPF_JMP | BPF_CALL;
  insn.imm = helper;
  return insn;
}
bpf_insn exit_insn() {
  bpf_insn insn{};
  insn.code = BPF_JMP | BPF_EXIT;
  return insn;
}

struct BpfLoadOutcome {
  bool loaded = false;
  std::string failure;  // "<strerror>: <verifier's reason>" when not loaded
};

// The verifier's reason is its last line before the statistics it always appends.
std::string verifier_reason(std::string_view log) {
  std::string_view reason;
  for (std::string_view line : split(log, '\n')) {
    line = trim(line);
    if (line.empty() || line.starts_with("processed ") || line.starts_with("verification time"))
      continue;
    reason = line;
  }
  return std::string(reason);
}

BpfLoadOutcome try_bpf_load(bpf_prog_type type, const std::vector<bpf_insn>& insns,
                            bpf_attach_type expected_attach = static_cast<bpf_attach_type>(0),
                            uint32_t attach_btf_id = 0) {
  std::string log(16384, '\0');
  bpf_prog_load_opts opts{};
  opts.sz = sizeof opts;
  opts.expected_attach_type = expected_attach;
  opts.attach_btf_id = attach_btf_id;
  opts.log_level = 1;
  opts.log_size = static_cast<__u32>(log.size());
  opts.log_buf = log.data();
  UniqueFd prog(bpf_prog_load(type, "syschaos_probe", "GPL", insns.data(), insns.size(), &opts));
  if (prog) return {true, {}};
  int err = errno;
  std::string reason = verifier_reason(log.c_str());
  return {false, reason.empty() ? errno_text(err) : fmt::format("{}: {}", errno_text(err), reason)};
}

struct BpfProgTypeProbe {
  std::string_view feature;
  bpf_prog_type type;
  std::string_view label;  // what the program type is called in messages
  bpf_attach_type expected_attach;
  std::string_view btf_function;  // for types that attach to a kernel function by BTF id
  int32_t return_value;
};

Feature probe_bpf_prog_type(ProbeContext& ctx, const BpfProgTypeProbe& probe) {
  uint32_t btf_id = 0;
  if (!probe.btf_function.empty()) {
    const btf* vmlinux = ctx.vmlinux_btf();
    if (!vmlinux)
      return no(probe.feature, fmt::format("{} programs attach by BTF id, and vmlinux BTF is "
                                           "unavailable: {}",
                                           probe.label, ctx.btf_error().message()));
    int id =
        btf__find_by_name_kind(vmlinux, std::string(probe.btf_function).c_str(), BTF_KIND_FUNC);
    if (id <= 0)
      return no(probe.feature, fmt::format("no function {} in vmlinux BTF to attach a {} "
                                           "program to",
                                           probe.btf_function, probe.label));
    btf_id = static_cast<uint32_t>(id);
  }
  // libbpf's own probe first; it cannot attach-by-BTF, so for those types (and to learn why
  // libbpf said no) a program is loaded here as well.
  int libbpf_answer = libbpf_probe_bpf_prog_type(probe.type, nullptr);
  std::string target = btf_id ? fmt::format(" (attach target {})", probe.btf_function) : "";
  if (libbpf_answer == 1)
    return yes(probe.feature, fmt::format("{} programs load{}", probe.label, target));
  BpfLoadOutcome outcome = try_bpf_load(probe.type, {mov64_imm(0, probe.return_value), exit_insn()},
                                        probe.expected_attach, btf_id);
  if (outcome.loaded)
    return yes(probe.feature, fmt::format("{} programs load{}", probe.label, target));
  std::string hint = outcome.failure.starts_with(errno_text(EPERM)) ? ctx.eperm_hint() : "";
  return no(probe.feature, join_notes({fmt::format("the kernel refuses a minimal {} program{}: {}",
                                                   probe.label, target, outcome.failure),
                                       hint}));
}

Feature probe_btf(ProbeContext& ctx) {
  if (!path_exists("/sys/kernel/btf/vmlinux"))
    return no(names::kBtf, join_notes({"no /sys/kernel/btf/vmlinux",
                                       ctx.built_without("CONFIG_DEBUG_INFO_BTF")}));
  const btf* vmlinux = ctx.vmlinux_btf();
  if (!vmlinux) return no(names::kBtf, ctx.btf_error().message());
  return yes(names::kBtf, fmt::format("/sys/kernel/btf/vmlinux: {} types", btf__type_cnt(vmlinux)));
}

Feature probe_bpf_lsm_active(ProbeContext& ctx) {
  constexpr auto name = names::kBpfLsmActive;
  auto security = ctx.pseudo_fs("securityfs");
  if (!security)
    return no(name, fmt::format("cannot read the active LSM list: {}", security.error().message()));
  auto lsm = read_text_file(*security + "/lsm");
  if (!lsm)
    return no(name, fmt::format("cannot read the active LSM list: {}", lsm.error().message()));
  std::string list(trim(*lsm));
  if (lsm_list_contains(list, "bpf")) return yes(name, fmt::format("active LSMs: {}", list));
  return no(name, join_notes({fmt::format("bpf is not among the active LSMs ({}): boot with "
                                          "lsm={},bpf",
                                          list, list),
                              ctx.built_without("CONFIG_BPF_LSM")}));
}

Feature probe_kprobes(ProbeContext& ctx) {
  constexpr auto name = names::kKprobes;
  const std::string pmu = "/sys/bus/event_source/devices/kprobe";
  if (path_exists(pmu)) {
    auto type_text = read_text_file(pmu + "/type");
    if (!type_text) return no(name, type_text.error().message());
    // A disabled kprobe on a function every kernel has, removed again when the fd closes.
    static const char kFunction[] = "vfs_read";
    perf_event_attr attr{};
    attr.size = sizeof attr;
    attr.type = static_cast<uint32_t>(std::atoi(type_text->c_str()));
    attr.kprobe_func = reinterpret_cast<uint64_t>(kFunction);
    attr.disabled = 1;
    UniqueFd event(
        static_cast<int>(::syscall(SYS_perf_event_open, &attr, -1, 0, -1, PERF_FLAG_FD_CLOEXEC)));
    if (event) return yes(name, fmt::format("kprobe PMU: a kprobe on {} opens", kFunction));
    int err = errno;
    return no(name,
              join_notes({fmt::format("kprobe PMU present, but perf_event_open of a kprobe on "
                                      "{} failed: {}",
                                      kFunction, errno_text(err)),
                          err == EPERM || err == EACCES ? ctx.eperm_hint() : ""}));
  }
  auto tracefs = ctx.pseudo_fs("tracefs");
  if (tracefs && path_exists(*tracefs + "/kprobe_events"))
    return yes(name, "kprobe_events in tracefs (no kprobe PMU)");
  std::string missing =
      "no kprobe PMU in /sys/bus/event_source/devices and no kprobe_events in tracefs";
  if (!tracefs)
    missing = fmt::format(
        "no kprobe PMU in /sys/bus/event_source/devices, and tracefs "
        "is unavailable ({})",
        tracefs.error().message());
  auto kprobes = ctx.config_enabled("CONFIG_KPROBES");
  if (kprobes && !*kprobes) return no(name, "kernel built without CONFIG_KPROBES: " + missing);
  return no(name, join_notes({missing, ctx.built_without("CONFIG_KPROBE_EVENTS")}));
}

Feature probe_bpf_override_return(ProbeContext& ctx, const Feature& kprobes) {
  constexpr auto name = names::kBpfOverrideReturn;
  // r1 is the context already; r2 the value to return.
  BpfLoadOutcome outcome = try_bpf_load(
      BPF_PROG_TYPE_KPROBE,
      {mov64_imm(2, 0), call_helper(BPF_FUNC_override_return), mov64_imm(0, 0), exit_insn()});
  std::string config = ctx.built_without("CONFIG_BPF_KPROBE_OVERRIDE");
  if (!outcome.loaded)
    return no(name,
              join_notes({config,
                          fmt::format("the verifier rejects a kprobe program calling "
                                      "bpf_override_return: {}",
                                      outcome.failure),
                          outcome.failure.starts_with(errno_text(EPERM)) ? ctx.eperm_hint() : ""}));
  if (!kprobes.available)
    return no(name, fmt::format("the helper exists, but it needs kprobes: {}", kprobes.detail));
  std::string allowed;
  if (auto debugfs = ctx.pseudo_fs("debugfs")) {
    if (auto list = read_text_file(*debugfs + "/error_injection/list")) {
      size_t count = std::count(list->begin(), list->end(), '\n');
      allowed = fmt::format("{} kernel functions allow error injection", count);
    }
  }
  return yes(name,
             join_notes({"the verifier accepts bpf_override_return in kprobe programs", allowed}));
}

// ---- debugfs, FUSE, cgroups --------------------------------------------------------------

Feature probe_fault_injection_debugfs(ProbeContext& ctx) {
  constexpr auto name = names::kFaultInjectionDebugfs;
  auto debugfs = ctx.pseudo_fs("debugfs");
  if (!debugfs)
    return no(name, fmt::format("debugfs is unavailable: {}", debugfs.error().message()));
  std::vector<std::string> found;
  for (const char* attribute : {"fail_page_alloc", "failslab", "fail_make_request", "fail_function",
                                "fail_futex", "fail_usercopy"})
    if (path_exists(*debugfs + "/" + attribute)) found.emplace_back(attribute);
  if (!found.empty()) return yes(name, fmt::format("in debugfs: {}", fmt::join(found, ", ")));
  std::string config = ctx.built_without("CONFIG_FAULT_INJECTION");
  if (config.empty()) config = ctx.built_without("CONFIG_FAULT_INJECTION_DEBUG_FS");
  return no(name, join_notes({"no fault-injection attributes (fail_page_alloc, failslab, "
                              "fail_make_request, fail_function) in debugfs",
                              config}));
}

Feature probe_fuse(ProbeContext& ctx) {
  UniqueFd fuse(::open("/dev/fuse", O_RDWR | O_CLOEXEC));
  if (fuse) return yes(names::kFuse, "/dev/fuse opens read-write");
  int err = errno;
  if (err == ENOENT) {
    std::string config = ctx.built_without("CONFIG_FUSE_FS");
    return no(names::kFuse, config.empty() ? "no /dev/fuse: load the fuse module (modprobe fuse) "
                                             "or create the node (mknod /dev/fuse c 10 229)"
                                           : "no /dev/fuse: " + config);
  }
  return no(names::kFuse, Error::sys("open /dev/fuse read-write", err).message());
}

Feature probe_cgroup_v1(const std::vector<CgroupMount>& mounts) {
  std::vector<std::string> hierarchies;
  for (const CgroupMount& mount : mounts)
    if (!mount.v2)
      hierarchies.push_back(
          fmt::format("{} at {}", fmt::join(mount.controllers, ","), mount.mount_point));
  if (hierarchies.empty()) return no(names::kCgroupV1, "no cgroup v1 hierarchy is mounted");
  return yes(names::kCgroupV1, fmt::format("{}", fmt::join(hierarchies, "; ")));
}

const CgroupMount* first_v2_mount(const std::vector<CgroupMount>& mounts) {
  for (const CgroupMount& mount : mounts)
    if (mount.v2) return &mount;
  return nullptr;
}

Feature probe_cgroup_v2(const std::vector<CgroupMount>& mounts) {
  const CgroupMount* v2 = first_v2_mount(mounts);
  if (!v2) return no(names::kCgroupV2, "no cgroup2 file system is mounted");
  auto controllers = read_text_file(v2->mount_point + "/cgroup.controllers");
  std::string listed = controllers ? std::string(trim(*controllers)) : "";
  if (listed.empty())
    return yes(names::kCgroupV2, fmt::format("mounted at {}, with no controllers (all are bound "
                                             "to v1 hierarchies)",
                                             v2->mount_point));
  return yes(names::kCgroupV2,
             fmt::format("mounted at {}, controllers: {}", v2->mount_point, listed));
}

// Whether v2 cgroups here have cgroup.freeze (Linux 5.2). The root cgroup never has it, so
// look in a child cgroup, making a short-lived one when there is none.
Result<bool> v2_has_freeze(const std::string& mount_point) {
  struct DirCloser {
    void operator()(DIR* dir) const { ::closedir(dir); }
  };
  std::unique_ptr<DIR, DirCloser> dir(::opendir(mount_point.c_str()));
  if (!dir) return Error::sys(fmt::format("opendir {}", mount_point));
  while (const dirent* entry = ::readdir(dir.get())) {
    std::string_view child = entry->d_name;
    if (entry->d_type != DT_DIR || child == "." || child == "..") continue;
    return path_exists(fmt::format("{}/{}/cgroup.freeze", mount_point, child));
  }
  std::string probe_dir = fmt::format("{}/syschaos-probe-{}", mount_point, ::getpid());
  if (::mkdir(probe_dir.c_str(), 0755) != 0) return Error::sys(fmt::format("mkdir {}", probe_dir));
  bool has_freeze = path_exists(probe_dir + "/cgroup.freeze");
  ::rmdir(probe_dir.c_str());
  return has_freeze;
}

Feature probe_freezer(const std::vector<CgroupMount>& mounts) {
  std::vector<std::string> found;
  std::string v2_note;
  for (const CgroupMount& mount : mounts)
    if (mount.carries("freezer")) {
      found.push_back(fmt::format("v1 freezer controller at {}", mount.mount_point));
      break;
    }
  if (const CgroupMount* v2 = first_v2_mount(mounts)) {
    auto has_freeze = v2_has_freeze(v2->mount_point);
    if (!has_freeze)
      v2_note =
          fmt::format("cannot check cgroup v2 for cgroup.freeze: {}", has_freeze.error().message());
    else if (*has_freeze)
      found.push_back(fmt::format("cgroup v2 cgroup.freeze under {}", v2->mount_point));
    else
      v2_note = "cgroup v2 has no cgroup.freeze (it needs Linux 5.2)";
  }
  if (!found.empty()) return yes(names::kFreezer, fmt::format("{}", fmt::join(found, "; ")));
  return no(names::kFreezer, join_notes({"no v1 freezer hierarchy is mounted", v2_note}));
}

Feature probe_docker() {
  auto client = DockerClient::from_environment();
  if (!client) return no(names::kDocker, client.error().message());
  if (auto pong = client->ping(); !pong) return no(names::kDocker, pong.error().message());
  auto version = client->server_version();
  return yes(names::kDocker,
             fmt::format("Docker Engine {} at {}", version ? *version : "(version unknown)",
                         client->socket_path()));
}

}  // namespace

std::vector<Feature> SystemKernelProbe::run_probes() {
  SilenceLibbpf quiet;
  ProbeContext ctx;
  std::vector<Feature> features;
  features.push_back(probe_ptrace(ctx));
  features.push_back(probe_ptrace_get_syscall_info());
  features.push_back(probe_seccomp_filter());
  features.push_back(probe_seccomp_user_notif());

  static const BpfProgTypeProbe kProgTypes[] = {
      {names::kBpfTracepoint, BPF_PROG_TYPE_TRACEPOINT, "tracepoint", {}, {}, 0},
      {names::kBpfRawTracepoint, BPF_PROG_TYPE_RAW_TRACEPOINT, "raw_tracepoint", {}, {}, 0},
      {names::kBpfCgroupSkb, BPF_PROG_TYPE_CGROUP_SKB, "cgroup_skb", {}, {}, 1},
      {names::kBpfCgroupSockAddr,
       BPF_PROG_TYPE_CGROUP_SOCK_ADDR,
       "cgroup_sock_addr",
       BPF_CGROUP_INET4_CONNECT,
       {},
       1},
      {names::kBpfSchedCls, BPF_PROG_TYPE_SCHED_CLS, "sched_cls (tc)", {}, {}, 0},
      {names::kBpfLsm, BPF_PROG_TYPE_LSM, "lsm", BPF_LSM_MAC, "bpf_lsm_file_open", 0},
      {names::kBpfTracing, BPF_PROG_TYPE_TRACING, "tracing (fentry)", BPF_TRACE_FENTRY,
       "bpf_fentry_test1", 0},
      {names::kBpfKprobe, BPF_PROG_TYPE_KPROBE, "kprobe", {}, {}, 0},
  };
  for (const BpfProgTypeProbe& probe : kProgTypes)
    features.push_back(probe_bpf_prog_type(ctx, probe));
  features.push_back(probe_bpf_lsm_active(ctx));
  Feature kprobes = probe_kprobes(ctx);
  features.push_back(kprobes);
  features.push_back(probe_bpf_override_return(ctx, kprobes));
  features.push_back(probe_fault_injection_debugfs(ctx));
  features.push_back(probe_btf(ctx));
  features.push_back(probe_fuse(ctx));

  std::vector<CgroupMount> mounts = parse_cgroup_mounts(ctx.mountinfo());
  features.push_back(probe_cgroup_v1(mounts));
  features.push_back(probe_cgroup_v2(mounts));
  features.push_back(probe_freezer(mounts));
  features.push_back(probe_docker());
  return features;
}

}  // namespace syschaos
