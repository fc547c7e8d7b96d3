#include "fs/container_repoint.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/kcmp.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "core/errno_names.hpp"
#include "fs/volume_mountinfo.hpp"
#include "inject/ptrace/proc_inspect.hpp"
#include "inject/ptrace/remote_syscall.hpp"

namespace syschaos::fs {

using ptrace_engine::StoppedProcess;

namespace {

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::optional<std::string> read_link(const std::string& path) {
  char buf[PATH_MAX];
  ssize_t n = ::readlink(path.c_str(), buf, sizeof(buf));
  if (n < 0) return std::nullopt;
  return std::string(buf, static_cast<size_t>(n));
}

// `proc`: "/proc/PID" or "/proc/PID/task/TID" (a thread's own fd table).
std::vector<int> fd_numbers(const std::string& proc) {
  std::vector<int> out;
  DIR* d = ::opendir((proc + "/fd").c_str());
  if (!d) return out;
  while (auto* e = ::readdir(d)) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    out.push_back(std::atoi(e->d_name));
  }
  ::closedir(d);
  return out;
}

struct FdInfo {
  uint64_t pos = 0;
  int flags = 0;
  int mnt_id = -1;
  std::string lock;  // the first "lock:" line, e.g. "1: POSIX  ADVISORY  WRITE 1234 08:01:77 0 EOF"
};

FdInfo read_fdinfo(const std::string& proc, int fd) {
  FdInfo info;
  std::istringstream in(read_text(fmt::format("{}/fdinfo/{}", proc, fd)));
  std::string key;
  while (in >> key) {
    if (key == "pos:") {
      in >> info.pos;
    } else if (key == "flags:") {
      std::string oct;
      in >> oct;
      info.flags = static_cast<int>(std::strtol(oct.c_str(), nullptr, 8));
    } else if (key == "mnt_id:") {
      in >> info.mnt_id;
    }
    std::string rest;
    std::getline(in, rest);
    if (key == "lock:" && info.lock.empty()) {
      size_t b = rest.find_first_not_of(" \t");
      info.lock = b == std::string::npos ? std::string("?") : rest.substr(b);
    }
  }
  return info;
}

struct Mapping {
  uint64_t start = 0, end = 0, offset = 0;
  std::string perms;  // "r-xp"
  std::string path;
};

std::vector<Mapping> file_mappings(pid_t pid) {
  std::vector<Mapping> out;
  std::istringstream in(read_text(fmt::format("/proc/{}/maps", pid)));
  std::string line;
  while (std::getline(in, line)) {
    // 7f12c000-7f12d000 r--p 00000000 08:01 1234   /path with spaces
    Mapping m;
    char perms[8] = {};
    unsigned long long start, end, off;
    int consumed = 0;
    if (std::sscanf(line.c_str(), "%llx-%llx %7s %llx %*s %*s %n", &start, &end, perms, &off, &consumed) < 4)
      continue;
    if (consumed <= 0 || static_cast<size_t>(consumed) >= line.size() || line[static_cast<size_t>(consumed)] != '/')
      continue;
    m.start = start;
    m.end = end;
    m.offset = off;
    m.perms = perms;
    m.path = line.substr(static_cast<size_t>(consumed));
    out.push_back(std::move(m));
  }
  return out;
}

// Bytes of copied-on-write (anonymous) pages per mapping start, from /proc/PID/smaps.
std::vector<std::pair<uint64_t, uint64_t>> anonymous_kb(pid_t pid) {
  std::vector<std::pair<uint64_t, uint64_t>> out;
  std::istringstream in(read_text(fmt::format("/proc/{}/smaps", pid)));
  std::string line;
  uint64_t current = 0;
  while (std::getline(in, line)) {
    unsigned long long start, end;
    if (std::sscanf(line.c_str(), "%llx-%llx ", &start, &end) == 2 && line.find(' ') != std::string::npos &&
        line.find(':') > line.find(' ')) {
      current = start;
      continue;
    }
    if (line.rfind("Anonymous:", 0) == 0) out.emplace_back(current, std::strtoull(line.c_str() + 10, nullptr, 10));
  }
  return out;
}

bool on_mount(const std::string& path, int mnt_id) {
  auto id = mount_id_of(path);
  return id && *id == mnt_id;
}

std::string errno_text(int64_t r) {
  return std::string(errno_name(static_cast<int>(-r)));
}

}  // namespace

namespace {

constexpr std::string_view kDeleted = " (deleted)";

// The same file? Inode number and type of what `link` (a /proc magic link) points to, from
// the kernel's cache (AT_STATX_DONT_SYNC: no request to a FUSE server, alive or dead),
// against the file at `path` as the process would resolve it. ChaosFS passes the backing
// files' inode numbers through.
bool same_file(pid_t pid, const std::string& link, const std::string& path) {
  struct statx a {}, b {};
  if (::statx(AT_FDCWD, link.c_str(), AT_STATX_DONT_SYNC, STATX_INO | STATX_TYPE, &a) != 0) return false;
  std::string there = fmt::format("/proc/{}/root{}", pid, path);
  if (::statx(AT_FDCWD, there.c_str(), AT_SYMLINK_NOFOLLOW, STATX_INO | STATX_TYPE, &b) != 0) return false;
  return a.stx_ino == b.stx_ino && (a.stx_mode & S_IFMT) == (b.stx_mode & S_IFMT);
}

// The path the process must open now, or nullopt with the reason in *why (empty: not a file
// of the volume at all).
std::optional<std::string> new_path(const RepointSpec& spec, const std::string& seen, std::string* why,
                                    pid_t pid = 0, const std::string& link = {}) {
  if (seen.ends_with(kDeleted)) {
    // On the detached mount a file also reads "(deleted)" when the file system told the
    // kernel to forget its directory entry (ChaosFS does on every rule change, so that new
    // rules apply at once): the file is still there if the volume has the same inode at
    // that path.
    std::string rel = seen.substr(0, seen.size() - kDeleted.size());
    if (spec.from_detached && !link.empty() && !rel.empty() && rel[0] == '/') {
      std::string candidate = rel == "/" ? spec.volume : spec.volume + rel;
      if (same_file(pid, link, candidate)) return candidate;
    }
    *why = "deleted";
    return std::nullopt;
  }
  if (spec.from_detached) {
    if (seen.empty() || seen[0] != '/') {
      *why = "unexpected name " + seen;
      return std::nullopt;
    }
    return seen == "/" ? spec.volume : spec.volume + seen;
  }
  if (seen == spec.volume || seen.starts_with(spec.volume + "/")) return seen;
  // Elsewhere on the same mount (the volume is a directory, not a mount point): not ours.
  why->clear();
  return std::nullopt;
}

// Do two threads share their fd table (kcmp KCMP_FILES)? 1 yes, 0 no, -1 unknown (a kernel
// without kcmp).
int share_fd_table(pid_t a, pid_t b) {
  if (a == b) return 1;
  long r = ::syscall(SYS_kcmp, a, b, KCMP_FILES, 0, 0);
  return r == 0 ? 1 : r > 0 ? 0 : -1;
}

// The /proc directories of a process's fd tables: the main thread's, and that of any thread
// that does not share it.
std::vector<std::string> fd_tables(pid_t pid) {
  std::vector<std::string> tables{fmt::format("/proc/{}", pid)};
  for (pid_t tid : ptrace_engine::threads_of(pid))
    if (tid != pid && share_fd_table(pid, tid) == 0) tables.push_back(fmt::format("/proc/{}/task/{}", pid, tid));
  return tables;
}

bool under_volume(const RepointSpec& spec, const std::string& link) {
  if (spec.from_detached) return true;
  auto seen = read_link(link);
  std::string why;
  return seen && (new_path(spec, *seen, &why) || !why.empty());
}

}  // namespace

// The fd's mount comes from fdinfo, not statx: on a dead FUSE mount statx of the file may
// fail, fdinfo never asks the file system. Working directory and root are per thread (a
// thread may have an fs_struct of its own), /proc/PID/cwd is only the main thread's.
bool holds_files_on(pid_t pid, const RepointSpec& spec) {
  for (pid_t tid : ptrace_engine::threads_of(pid)) {
    for (const char* what : {"cwd", "root"}) {
      std::string link = fmt::format("/proc/{}/task/{}/{}", pid, tid, what);
      if (on_mount(link, spec.from_mnt_id) && under_volume(spec, link)) return true;
    }
  }
  for (const auto& proc : fd_tables(pid))
    for (int fd : fd_numbers(proc))
      if (read_fdinfo(proc, fd).mnt_id == spec.from_mnt_id && under_volume(spec, fmt::format("{}/fd/{}", proc, fd)))
        return true;
  for (const auto& m : file_mappings(pid)) {
    std::string link = fmt::format("/proc/{}/map_files/{:x}-{:x}", pid, m.start, m.end);
    if (on_mount(link, spec.from_mnt_id) && under_volume(spec, link)) return true;
  }
  return false;
}

namespace {

// "POSIX WRITE lock" from "1: POSIX  ADVISORY  WRITE 1234 08:01:77 0 EOF" (kinds: POSIX,
// OFDLCK, FLOCK, LEASE...; types READ, WRITE).
std::string lock_words(const std::string& line) {
  std::istringstream in(line);
  std::string n, kind, mode, type;
  in >> n >> kind >> mode >> type;
  if (kind.empty()) return "file lock";
  return type.empty() ? kind + " lock" : fmt::format("{} {} lock", kind, type);
}

// The inode number of an open file of the mount from the kernel's cache (no request to a
// FUSE server, alive or dead); 0 if unknown.
uint64_t cached_inode(const std::string& link) {
  struct statx sx {};
  if (::statx(AT_FDCWD, link.c_str(), AT_STATX_DONT_SYNC, STATX_INO, &sx) != 0) return 0;
  return sx.stx_ino;
}

std::optional<std::string> chroot_refusal(pid_t pid, const RepointSpec& spec) {
  std::optional<bool> holds;
  for (pid_t tid : ptrace_engine::threads_of(pid)) {
    std::string link = fmt::format("/proc/{}/task/{}/root", pid, tid);
    auto seen = read_link(link);
    if (!seen) continue;  // exited meanwhile
    std::string who = fmt::format("pid {} ({}), thread {}", pid, ptrace_engine::thread_comm(pid, pid), tid);
    if (on_mount(link, spec.from_mnt_id) && under_volume(spec, link))
      return fmt::format("{} is chrooted into the volume ({}): a mount over the volume does not change a root "
                         "already inside it, so its files cannot be moved; not supported",
                         who, *seen);
    if (*seen != "/") {
      if (!holds) holds = holds_files_on(pid, spec);
      if (*holds)
        return fmt::format("{} is chrooted to {} and holds files on the volume: syschaos re-points paths as the "
                           "mount namespace's root sees them, not below a chroot; not supported",
                           who, *seen);
    }
  }
  return std::nullopt;
}

std::string lock_refusal_text(pid_t pid, const std::string& lock) {
  return fmt::format("pid {} ({}) holds a file lock on the volume: {}. A locked file cannot move to ChaosFS (the "
                     "new open file would not hold the lock), and fcntl locks are not shared between the volume and "
                     "ChaosFS, so this process and those opening the file through ChaosFS would no longer exclude "
                     "each other (a WAL database loses commits that way); not supported: inject before it opens the "
                     "file, or stop it first",
                     pid, ptrace_engine::thread_comm(pid, pid), lock);
}

}  // namespace

std::optional<std::string> held_lock(pid_t pid, const RepointSpec& spec) {
  for (const auto& proc : fd_tables(pid)) {
    for (int fd : fd_numbers(proc)) {
      FdInfo info = read_fdinfo(proc, fd);
      if (info.mnt_id != spec.from_mnt_id) continue;
      std::string link = fmt::format("{}/fd/{}", proc, fd);
      std::string what;
      if (!info.lock.empty()) {
        what = lock_words(info.lock);
      } else if (!spec.locked_inodes.empty()) {
        uint64_t ino = cached_inode(link);
        if (ino == 0 || std::find(spec.locked_inodes.begin(), spec.locked_inodes.end(), ino) == spec.locked_inodes.end())
          continue;
        what = "lock held through ChaosFS";
      } else {
        continue;
      }
      auto seen = read_link(link);
      if (!seen) continue;
      std::string why;
      auto path = new_path(spec, *seen, &why, pid, link);
      if (!path && why.empty()) continue;  // not a file of the volume
      return fmt::format("{} (fd {}, {})", path ? *path : *seen, fd, what);
    }
  }
  return std::nullopt;
}

std::optional<std::string> repoint_refusal(pid_t pid, const RepointSpec& spec) {
  if (auto why = chroot_refusal(pid, spec)) return why;
  if (spec.locked == LockedFiles::kRefuse)
    if (auto lock = held_lock(pid, spec)) return lock_refusal_text(pid, *lock);
  return std::nullopt;
}

std::optional<std::string> refusal_among(const std::function<std::vector<pid_t>()>& processes,
                                         const RepointSpec& spec, std::chrono::milliseconds lock_grace) {
  using Clock = std::chrono::steady_clock;
  std::map<pid_t, Clock::time_point> locked_since;  // held continuously since
  for (;;) {
    std::map<pid_t, Clock::time_point> still;
    auto now = Clock::now();
    for (pid_t p : processes()) {
      if (auto why = chroot_refusal(p, spec)) return why;
      if (spec.locked != LockedFiles::kRefuse) continue;
      auto lock = held_lock(p, spec);
      if (!lock) continue;
      auto it = locked_since.find(p);
      auto since = it == locked_since.end() ? now : it->second;
      if (now - since >= lock_grace) return lock_refusal_text(p, *lock);
      still[p] = since;
    }
    if (still.empty()) return std::nullopt;
    locked_since = std::move(still);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

namespace {

class Mover {
 public:
  Mover(StoppedProcess& p, const RepointSpec& spec, RepointOutcome& out) : p_(p), spec_(spec), out_(out) {}

  // Every fd table of the process, each changed by a thread that uses it: the executor's,
  // then the table of any thread that does not share it (unshare(CLONE_FILES), or cloned
  // without CLONE_FILES). Without kcmp, threads are assumed to share the executor's table.
  void fds() {
    std::vector<pid_t> done;
    for (pid_t tid : p_.thread_ids()) {
      if (failed_) return;
      if (std::any_of(done.begin(), done.end(), [&](pid_t t) { return share_fd_table(t, tid) != 0; })) continue;
      done.push_back(tid);
      fds_of_table(tid);
    }
  }

  void fds_of_table(pid_t tid) {
    pid_t pid = p_.pid();
    bool own = tid != p_.executor();
    std::string proc = fmt::format("/proc/{}/task/{}", pid, tid);
    for (int fd : fd_numbers(proc)) {
      std::string link = fmt::format("{}/fd/{}", proc, fd);
      std::string what = own ? fmt::format("fd {} of thread {}", fd, tid) : fmt::format("fd {}", fd);
      FdInfo info = read_fdinfo(proc, fd);
      if (info.mnt_id != spec_.from_mnt_id) continue;
      auto seen = read_link(link);
      if (!seen) continue;  // closed meanwhile (cannot happen while stopped, but harmless)
      std::string why;
      auto path = new_path(spec_, *seen, &why, pid, link);
      if (!path) {
        if (!why.empty()) leave(fmt::format("{}: {}", what, why));
        continue;
      }
      // Checked for the whole process before anything moved (repoint_process); only a dead
      // ChaosFS's locks (LockedFiles::kMove) get here, and they protect nothing any more.
      if (!info.lock.empty() && spec_.locked != LockedFiles::kMove) {
        leave(fmt::format("{} ({}): holds a file lock, which a new open would not", what, *path));
        continue;
      }
      struct stat st {};
      bool is_dir = ::stat(link.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
      // The kernel already dropped O_CREAT, O_EXCL, O_TRUNC and O_NOCTTY from f_flags; drop
      // them anyway, re-opening must never create or truncate.
      int flags = info.flags & ~(O_CREAT | O_EXCL | O_TRUNC | O_NOCTTY);
      auto addr = p_.put_string(*path);
      if (!addr) return fail(addr.error());
      auto nfd = call_in(tid, what, SYS_openat,
                         {static_cast<uint64_t>(AT_FDCWD), *addr, static_cast<uint64_t>(flags | O_CLOEXEC), 0});
      if (!nfd) return;
      if (*nfd < 0) {
        leave(fmt::format("{} ({}): openat: {}", what, *path, errno_text(*nfd)));
        continue;
      }
      // A directory's position is a cookie of its file system, meaningless on another one.
      if (info.pos > 0 && !is_dir && !(flags & O_PATH)) {
        auto r = call_in(tid, what, SYS_lseek, {static_cast<uint64_t>(*nfd), info.pos, SEEK_SET});
        if (!r) return;
        if (*r < 0) {
          (void)call_in(tid, what, SYS_close, {static_cast<uint64_t>(*nfd)});
          leave(fmt::format("{} ({}): lseek: {}", what, *path, errno_text(*r)));
          continue;
        }
      }
      auto r = call_in(tid, what, SYS_dup3, {static_cast<uint64_t>(*nfd), static_cast<uint64_t>(fd),
                                             static_cast<uint64_t>(info.flags & O_CLOEXEC)});
      if (!r) return;
      (void)call_in(tid, what, SYS_close, {static_cast<uint64_t>(*nfd)});
      if (*r < 0) {
        leave(fmt::format("{} ({}): dup3: {}", what, *path, errno_text(*r)));
        continue;
      }
      ++out_.fds;
    }
  }

  // Each thread whose working directory is on the mount: the main thread first (its cwd is
  // the process's, shared by every thread created with CLONE_FS, which then follow it and
  // are skipped), then threads with an fs_struct of their own. The directory is opened once
  // by the executor (O_PATH) and each thread runs fchdir on it; a thread with an fd table of
  // its own (kcmp; or no kcmp to tell) cannot see that fd and runs chdir(path) instead.
  void cwds() {
    if (failed_) return;
    pid_t pid = p_.pid();
    std::vector<pid_t> order{pid};
    for (pid_t tid : p_.thread_ids())
      if (tid != pid) order.push_back(tid);
    std::map<std::string, int64_t> dir_fds;  // path -> fd in the executor's table
    for (pid_t tid : order) {
      if (failed_) break;
      std::string link = fmt::format("/proc/{}/task/{}/cwd", pid, tid);
      if (!on_mount(link, spec_.from_mnt_id)) continue;
      std::string what = tid == pid ? std::string("cwd") : fmt::format("cwd of thread {}", tid);
      auto seen = read_link(link);
      std::string why;
      auto path = seen ? new_path(spec_, *seen, &why, pid, link) : std::nullopt;
      if (!path) {
        if (!seen || !why.empty()) leave(what + ": " + (seen ? why : std::string("unreadable")));
        continue;
      }
      Result<int64_t> r = 0;
      if (share_fd_table(p_.executor(), tid) == 1) {
        auto fd = dir_fds.find(*path);
        if (fd == dir_fds.end()) {
          auto addr = p_.put_string(*path);
          if (!addr) return fail(addr.error());
          auto nfd = call(SYS_openat, {static_cast<uint64_t>(AT_FDCWD), *addr,
                                       static_cast<uint64_t>(O_PATH | O_DIRECTORY | O_CLOEXEC), 0});
          if (!nfd) break;
          if (*nfd < 0) {
            leave(fmt::format("{} ({}): openat: {}", what, *path, errno_text(*nfd)));
            continue;
          }
          fd = dir_fds.emplace(*path, *nfd).first;
        }
        r = p_.syscall_in_thread(tid, SYS_fchdir, {static_cast<uint64_t>(fd->second)});
      } else {
        auto addr = p_.put_string(*path);
        if (!addr) return fail(addr.error());
        r = p_.syscall_in_thread(tid, SYS_chdir, {*addr});
      }
      if (!r) {
        // The executor failing is the process failing; another thread (exited, stopped on
        // a signal) is left with the reason.
        if (tid == p_.executor() || p_.executor() == 0) {
          fail(r.error());
          break;
        }
        leave(fmt::format("{} ({}): {}", what, *path, r.error().message()));
        continue;
      }
      if (*r < 0) {
        leave(fmt::format("{} ({}): fchdir: {}", what, *path, errno_text(*r)));
        continue;
      }
      if (tid == pid)
        out_.cwd = true;
      else
        ++out_.thread_cwds;
    }
    for (const auto& [path, fd] : dir_fds)
      if (!failed_) (void)call(SYS_close, {static_cast<uint64_t>(fd)});
  }

  void mappings() {
    if (failed_) return;
    pid_t pid = p_.pid();
    std::vector<std::pair<uint64_t, uint64_t>> anon;
    bool anon_read = false;
    for (const auto& m : file_mappings(pid)) {
      if (failed_) return;
      std::string link = fmt::format("/proc/{}/map_files/{:x}-{:x}", pid, m.start, m.end);
      if (!on_mount(link, spec_.from_mnt_id)) continue;
      std::string why;
      auto path = new_path(spec_, m.path, &why, pid, link);
      std::string what = fmt::format("mapping {:x}-{:x}", m.start, m.end);
      if (!path) {
        if (!why.empty()) leave(what + ": " + why);
        continue;
      }
      bool shared = m.perms.size() > 3 && m.perms[3] == 's';
      bool writable = m.perms.size() > 1 && m.perms[1] == 'w';
      if (!shared) {
        // A private mapping may hold pages the process changed (relocations, RELRO): those
        // exist only in this mapping and would be lost by mapping the file again.
        if (!anon_read) {
          anon = anonymous_kb(pid);
          anon_read = true;
        }
        uint64_t kb = 0;
        for (const auto& [start, n] : anon)
          if (start == m.start) kb = n;
        if (kb > 0) {
          leave(fmt::format("{} ({}): {} kB of private copied pages", what, *path, kb));
          continue;
        }
      }
      int prot = (m.perms[0] == 'r' ? PROT_READ : 0) | (writable ? PROT_WRITE : 0) |
                 (m.perms[2] == 'x' ? PROT_EXEC : 0);
      int oflags = (shared && writable ? O_RDWR : O_RDONLY) | O_CLOEXEC;
      auto addr = p_.put_string(*path);
      if (!addr) return fail(addr.error());
      auto nfd = call(SYS_openat, {static_cast<uint64_t>(AT_FDCWD), *addr, static_cast<uint64_t>(oflags), 0});
      if (!nfd) return;
      if (*nfd < 0) {
        leave(fmt::format("{} ({}): openat: {}", what, *path, errno_text(*nfd)));
        continue;
      }
      auto r = call(SYS_mmap, {m.start, m.end - m.start, static_cast<uint64_t>(prot),
                               static_cast<uint64_t>((shared ? MAP_SHARED : MAP_PRIVATE) | MAP_FIXED),
                               static_cast<uint64_t>(*nfd), m.offset});
      if (!r) return;
      (void)call(SYS_close, {static_cast<uint64_t>(*nfd)});
      if (*r < 0 && *r > -4096) {
        leave(fmt::format("{} ({}): mmap: {}", what, *path, errno_text(*r)));
        continue;
      }
      ++out_.mappings;
    }
  }

  const std::optional<Error>& error() const { return error_; }

 private:
  Result<int64_t> call(long nr, std::array<uint64_t, 6> args) {
    auto r = p_.syscall(nr, args);
    if (!r) fail(r.error());
    return r;
  }
  // A call run by thread tid. The executor failing is the process failing; another thread
  // failing (it exited, it is stopped on a signal) leaves `what` with the reason.
  Result<int64_t> call_in(pid_t tid, const std::string& what, long nr, std::array<uint64_t, 6> args) {
    if (tid == p_.executor()) return call(nr, args);
    auto r = p_.syscall_in_thread(tid, nr, args);
    if (!r) {
      if (p_.executor() == 0)
        fail(r.error());
      else
        leave(fmt::format("{}: {}", what, r.error().message()));
    }
    return r;
  }
  void fail(const Error& e) {
    failed_ = true;
    if (!error_) error_ = e;
  }
  void leave(std::string why) { out_.left.push_back(std::move(why)); }

  StoppedProcess& p_;
  const RepointSpec& spec_;
  RepointOutcome& out_;
  bool failed_ = false;
  std::optional<Error> error_;
};

}  // namespace

Result<RepointOutcome> repoint_process(pid_t pid, const RepointSpec& spec) {
  RepointOutcome out;
  out.pid = pid;
  out.comm = ptrace_engine::thread_comm(pid, pid);
  if (!holds_files_on(pid, spec)) return out;
  if (auto why = chroot_refusal(pid, spec)) return Error(*why, EOPNOTSUPP);
  // A lock holder: refused or kept whole (see the top), asked once before stopping (cheap)
  // and once stopped, when the process can no longer take a lock before its files move.
  auto locked = [&]() -> std::optional<std::string> {
    return spec.locked == LockedFiles::kMove ? std::nullopt : held_lock(pid, spec);
  };
  auto lock_outcome = [&](const std::string& lock) -> Result<RepointOutcome> {
    if (spec.locked == LockedFiles::kRefuse) return Error(lock_refusal_text(pid, lock), ENOLCK);
    out.kept = lock;
    return out;
  };
  if (auto lock = locked()) return lock_outcome(*lock);
  auto stopped = StoppedProcess::stop(pid);
  if (!stopped) return stopped.error();
  if (auto lock = locked()) {
    auto released = (*stopped)->release();
    if (!released) return released.error().context(fmt::format("pid {} ({})", pid, out.comm));
    return lock_outcome(*lock);
  }
  out.stopped = true;
  out.threads = (*stopped)->thread_count();
  out.executor_mode = (*stopped)->executor_mode();
  Mover mover(**stopped, spec, out);
  mover.fds();
  mover.cwds();
  mover.mappings();
  auto released = (*stopped)->release();
  out.stop_time = (*stopped)->stopped_for();
  if (mover.error()) return mover.error()->context(fmt::format("pid {} ({})", pid, out.comm));
  if (!released) return released.error().context(fmt::format("pid {} ({})", pid, out.comm));
  return out;
}

std::string describe(const RepointOutcome& o) {
  if (!o.kept.empty())
    return fmt::format("pid {} ({}): stays on ChaosFS, nothing moved: it holds a lock taken through ChaosFS on {}, "
                       "which moving its files would drop",
                       o.pid, o.comm, o.kept);
  if (!o.stopped) return fmt::format("pid {} ({}): nothing on the volume, not stopped", o.pid, o.comm);
  std::string moved = fmt::format("{} fd(s){}{}, {} mapping(s)", o.fds, o.cwd ? ", cwd" : "",
                                  o.thread_cwds ? fmt::format(", {} thread cwd(s)", o.thread_cwds) : "", o.mappings);
  std::string s = fmt::format("pid {} ({}): stopped {:.3f} ms ({} thread(s), {}); moved {}", o.pid, o.comm,
                              static_cast<double>(o.stop_time.count()) / 1e6, o.threads, o.executor_mode, moved);
  for (const auto& l : o.left) s += "; left " + l;
  return s;
}

}  // namespace syschaos::fs
