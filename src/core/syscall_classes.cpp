// strace's system-call classes (see strace(1), "-e trace=%class"), written as names so the
// same lists serve every architecture: calls the running one lacks are skipped.
#include "core/syscall_classes.hpp"

#include <array>

namespace syschaos::syscall_data {

namespace {

using namespace std::string_view_literals;

constexpr std::array kFile = {
    "open"sv, "openat"sv, "openat2"sv, "creat"sv, "stat"sv, "lstat"sv, "newfstatat"sv,
    "statx"sv, "access"sv, "faccessat"sv, "faccessat2"sv, "execve"sv, "execveat"sv,
    "truncate"sv, "chdir"sv, "chroot"sv, "rename"sv, "renameat"sv, "renameat2"sv, "mkdir"sv,
    "mkdirat"sv, "rmdir"sv, "link"sv, "linkat"sv, "unlink"sv, "unlinkat"sv, "symlink"sv,
    "symlinkat"sv, "readlink"sv, "readlinkat"sv, "chmod"sv, "fchmodat"sv, "fchmodat2"sv,
    "chown"sv, "lchown"sv, "fchownat"sv, "utime"sv, "utimes"sv, "futimesat"sv, "utimensat"sv,
    "mknod"sv, "mknodat"sv, "statfs"sv, "uselib"sv, "swapon"sv, "swapoff"sv, "acct"sv,
    "mount"sv, "umount2"sv, "pivot_root"sv, "setxattr"sv, "lsetxattr"sv, "getxattr"sv,
    "lgetxattr"sv, "listxattr"sv, "llistxattr"sv, "removexattr"sv, "lremovexattr"sv,
    "inotify_add_watch"sv, "fanotify_mark"sv, "name_to_handle_at"sv, "quotactl"sv,
    "open_tree"sv, "move_mount"sv, "fspick"sv, "mount_setattr"sv};

constexpr std::array kDesc = {
    "read"sv, "write"sv, "open"sv, "close"sv, "fstat"sv, "poll"sv, "lseek"sv, "mmap"sv,
    "ioctl"sv, "pread64"sv, "pwrite64"sv, "readv"sv, "writev"sv, "pipe"sv, "select"sv,
    "dup"sv, "dup2"sv, "sendfile"sv, "fcntl"sv, "flock"sv, "fsync"sv, "fdatasync"sv,
    "ftruncate"sv, "getdents"sv, "fchdir"sv, "creat"sv, "fchmod"sv, "fchown"sv, "fstatfs"sv,
    "readahead"sv, "fsetxattr"sv, "fgetxattr"sv, "flistxattr"sv, "fremovexattr"sv,
    "epoll_create"sv, "getdents64"sv, "fadvise64"sv, "epoll_wait"sv, "epoll_ctl"sv,
    "inotify_init"sv, "inotify_add_watch"sv, "inotify_rm_watch"sv, "openat"sv, "mkdirat"sv,
    "mknodat"sv, "fchownat"sv, "futimesat"sv, "newfstatat"sv, "unlinkat"sv, "renameat"sv,
    "linkat"sv, "symlinkat"sv, "readlinkat"sv, "fchmodat"sv, "faccessat"sv, "pselect6"sv,
    "ppoll"sv, "splice"sv, "tee"sv, "sync_file_range"sv, "vmsplice"sv, "utimensat"sv,
    "epoll_pwait"sv, "signalfd"sv, "timerfd_create"sv, "eventfd"sv, "fallocate"sv,
    "timerfd_settime"sv, "timerfd_gettime"sv, "signalfd4"sv, "eventfd2"sv, "epoll_create1"sv,
    "dup3"sv, "pipe2"sv, "inotify_init1"sv, "preadv"sv, "pwritev"sv, "perf_event_open"sv,
    "fanotify_init"sv, "fanotify_mark"sv, "name_to_handle_at"sv, "open_by_handle_at"sv,
    "syncfs"sv, "setns"sv, "finit_module"sv, "renameat2"sv, "memfd_create"sv,
    "kexec_file_load"sv, "bpf"sv, "execveat"sv, "userfaultfd"sv, "copy_file_range"sv,
    "preadv2"sv, "pwritev2"sv, "statx"sv, "io_uring_setup"sv, "io_uring_enter"sv,
    "io_uring_register"sv, "open_tree"sv, "move_mount"sv, "fsopen"sv, "fsconfig"sv,
    "fsmount"sv, "fspick"sv, "pidfd_open"sv, "pidfd_send_signal"sv, "pidfd_getfd"sv,
    "openat2"sv, "faccessat2"sv, "close_range"sv, "epoll_pwait2"sv, "mount_setattr"sv,
    "process_madvise"sv, "landlock_create_ruleset"sv, "landlock_add_rule"sv,
    "landlock_restrict_self"sv, "memfd_secret"sv, "fchmodat2"sv};

constexpr std::array kNet = {
    "socket"sv, "connect"sv, "accept"sv, "sendto"sv, "recvfrom"sv, "sendmsg"sv, "recvmsg"sv,
    "shutdown"sv, "bind"sv, "listen"sv, "getsockname"sv, "getpeername"sv, "socketpair"sv,
    "setsockopt"sv, "getsockopt"sv, "accept4"sv, "recvmmsg"sv, "sendmmsg"sv};

constexpr std::array kProcess = {
    "clone"sv, "clone3"sv, "fork"sv, "vfork"sv, "execve"sv, "execveat"sv, "exit"sv,
    "exit_group"sv, "wait4"sv, "waitid"sv, "kill"sv, "tkill"sv, "tgkill"sv,
    "rt_sigqueueinfo"sv, "rt_tgsigqueueinfo"sv, "pidfd_send_signal"sv, "pidfd_open"sv,
    "unshare"sv};

constexpr std::array kMemory = {
    "brk"sv, "mmap"sv, "munmap"sv, "mremap"sv, "mprotect"sv, "madvise"sv, "mlock"sv,
    "mlock2"sv, "munlock"sv, "mlockall"sv, "munlockall"sv, "mincore"sv, "msync"sv,
    "remap_file_pages"sv, "mbind"sv, "set_mempolicy"sv, "get_mempolicy"sv, "migrate_pages"sv,
    "move_pages"sv, "pkey_mprotect"sv, "shmat"sv, "shmdt"sv, "process_madvise"sv,
    "set_mempolicy_home_node"sv, "map_shadow_stack"sv, "mseal"sv};

constexpr std::array kSignal = {
    "rt_sigaction"sv, "rt_sigprocmask"sv, "rt_sigreturn"sv, "rt_sigsuspend"sv,
    "rt_sigpending"sv, "rt_sigtimedwait"sv, "rt_sigqueueinfo"sv, "rt_tgsigqueueinfo"sv,
    "kill"sv, "tkill"sv, "tgkill"sv, "sigaltstack"sv, "pause"sv, "signalfd"sv, "signalfd4"sv,
    "pidfd_send_signal"sv};

constexpr std::array kIpc = {"msgget"sv, "msgsnd"sv, "msgrcv"sv, "msgctl"sv, "semget"sv,
                             "semop"sv, "semtimedop"sv, "semctl"sv, "shmget"sv, "shmat"sv,
                             "shmdt"sv, "shmctl"sv};

constexpr std::array kStat = {"stat"sv};
constexpr std::array kLstat = {"lstat"sv};
constexpr std::array kFstat = {"fstat"sv, "newfstatat"sv};
constexpr std::array kAnyStat = {"stat"sv, "lstat"sv, "fstat"sv, "newfstatat"sv, "statx"sv};
constexpr std::array kStatfs = {"statfs"sv};
constexpr std::array kFstatfs = {"fstatfs"sv};
constexpr std::array kAnyStatfs = {"statfs"sv, "fstatfs"sv, "ustat"sv};

constexpr std::array kClock = {"adjtimex"sv, "clock_adjtime"sv, "clock_getres"sv,
                               "clock_gettime"sv, "clock_nanosleep"sv, "clock_settime"sv,
                               "gettimeofday"sv, "settimeofday"sv, "time"sv};

constexpr std::array kCreds = {
    "capget"sv, "capset"sv, "getegid"sv, "geteuid"sv, "getgid"sv, "getgroups"sv,
    "getresgid"sv, "getresuid"sv, "getuid"sv, "setfsgid"sv, "setfsuid"sv, "setgid"sv,
    "setgroups"sv, "setregid"sv, "setresgid"sv, "setresuid"sv, "setreuid"sv, "setuid"sv,
    "prctl"sv};

constexpr std::array kPure = {"getpid"sv, "getppid"sv, "getpgrp"sv, "gettid"sv, "getuid"sv,
                              "geteuid"sv, "getgid"sv, "getegid"sv, "sync"sv, "sched_yield"sv,
                              "pause"sv, "rt_sigreturn"sv, "munlockall"sv, "vhangup"sv,
                              "restart_syscall"sv, "inotify_init"sv, "setsid"sv};

constexpr std::array kClasses = {
    Class{"%file", kFile},       Class{"%desc", kDesc},         Class{"%net", kNet},
    Class{"%network", kNet},     Class{"%process", kProcess},   Class{"%memory", kMemory},
    Class{"%signal", kSignal},   Class{"%ipc", kIpc},           Class{"%stat", kStat},
    Class{"%lstat", kLstat},     Class{"%fstat", kFstat},       Class{"%%stat", kAnyStat},
    Class{"%statfs", kStatfs},   Class{"%fstatfs", kFstatfs},   Class{"%%statfs", kAnyStatfs},
    Class{"%clock", kClock},     Class{"%creds", kCreds},       Class{"%pure", kPure},
};

// Path and fd argument positions. P(path) is relative to the cwd; A(dirfd, path) to a dirfd.
constexpr SyscallArgs P(int path, int fd = -1) { return {{{int8_t(path), -1}, {}}, int8_t(fd)}; }
constexpr SyscallArgs A(int dirfd, int path) {
  return {{{int8_t(path), int8_t(dirfd)}, {}}, int8_t(dirfd)};
}
constexpr SyscallArgs P2(int a, int b) { return {{{int8_t(a), -1}, {int8_t(b), -1}}, -1}; }
constexpr SyscallArgs A2(int d1, int p1, int d2, int p2) {
  return {{{int8_t(p1), int8_t(d1)}, {int8_t(p2), int8_t(d2)}}, int8_t(d1)};
}
constexpr SyscallArgs F(int fd) { return {{}, int8_t(fd)}; }

constexpr std::array kArgSpecs = {
    ArgSpec{"open", P(0)},           ArgSpec{"creat", P(0)},          ArgSpec{"openat", A(0, 1)},
    ArgSpec{"openat2", A(0, 1)},     ArgSpec{"stat", P(0)},           ArgSpec{"lstat", P(0)},
    ArgSpec{"newfstatat", A(0, 1)},  ArgSpec{"statx", A(0, 1)},       ArgSpec{"access", P(0)},
    ArgSpec{"faccessat", A(0, 1)},   ArgSpec{"faccessat2", A(0, 1)},  ArgSpec{"execve", P(0)},
    ArgSpec{"execveat", A(0, 1)},    ArgSpec{"truncate", P(0)},       ArgSpec{"chdir", P(0)},
    ArgSpec{"chroot", P(0)},         ArgSpec{"rename", P2(0, 1)},     ArgSpec{"renameat", A2(0, 1, 2, 3)},
    ArgSpec{"renameat2", A2(0, 1, 2, 3)}, ArgSpec{"mkdir", P(0)},     ArgSpec{"mkdirat", A(0, 1)},
    ArgSpec{"rmdir", P(0)},          ArgSpec{"link", P2(0, 1)},       ArgSpec{"linkat", A2(0, 1, 2, 3)},
    ArgSpec{"unlink", P(0)},         ArgSpec{"unlinkat", A(0, 1)},    ArgSpec{"symlink", P(1)},
    ArgSpec{"symlinkat", A(1, 2)},   ArgSpec{"readlink", P(0)},       ArgSpec{"readlinkat", A(0, 1)},
    ArgSpec{"chmod", P(0)},          ArgSpec{"fchmodat", A(0, 1)},    ArgSpec{"fchmodat2", A(0, 1)},
    ArgSpec{"chown", P(0)},          ArgSpec{"lchown", P(0)},         ArgSpec{"fchownat", A(0, 1)},
    ArgSpec{"utime", P(0)},          ArgSpec{"utimes", P(0)},         ArgSpec{"futimesat", A(0, 1)},
    ArgSpec{"utimensat", A(0, 1)},   ArgSpec{"mknod", P(0)},          ArgSpec{"mknodat", A(0, 1)},
    ArgSpec{"statfs", P(0)},         ArgSpec{"uselib", P(0)},         ArgSpec{"swapon", P(0)},
    ArgSpec{"swapoff", P(0)},        ArgSpec{"acct", P(0)},           ArgSpec{"mount", P(1)},
    ArgSpec{"umount2", P(0)},        ArgSpec{"pivot_root", P2(0, 1)}, ArgSpec{"setxattr", P(0)},
    ArgSpec{"lsetxattr", P(0)},      ArgSpec{"getxattr", P(0)},       ArgSpec{"lgetxattr", P(0)},
    ArgSpec{"listxattr", P(0)},      ArgSpec{"llistxattr", P(0)},     ArgSpec{"removexattr", P(0)},
    ArgSpec{"lremovexattr", P(0)},   ArgSpec{"inotify_add_watch", P(1, 0)},
    ArgSpec{"fanotify_mark", A(3, 4)}, ArgSpec{"name_to_handle_at", A(0, 1)},
    ArgSpec{"open_tree", A(0, 1)},
    // fd-only calls: the fd is the first argument unless listed otherwise.
    ArgSpec{"mmap", F(4)},           ArgSpec{"sendfile", F(0)},       ArgSpec{"splice", F(0)},
    ArgSpec{"copy_file_range", F(0)},
};

}  // namespace

std::span<const Class> classes() { return kClasses; }
std::span<const ArgSpec> arg_specs() { return kArgSpecs; }

}  // namespace syschaos::syscall_data
