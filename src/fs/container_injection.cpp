#include "fs/container_injection.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <linux/mount.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/ranges.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <map>
#include <set>
#include <thread>

#include "fs/chaos_fs.hpp"
#include "fs/container_state.hpp"
#include "fs/mount_recovery.hpp"
#include "fs/volume_overlay.hpp"
#include "inject/ptrace/proc_inspect.hpp"
#include "target/cgroup_paths.hpp"

namespace syschaos::fs {

// ---- RepointLog ----------------------------------------------------------------------------

void RepointLog::message(const std::string& text) const {
  if (!quiet_) std::fprintf(stderr, "syschaos: %s\n", text.c_str());
}

void RepointLog::warn(const std::string& text) const { std::fprintf(stderr, "syschaos: warning: %s\n", text.c_str()); }

void RepointLog::process(std::string_view phase, const RepointOutcome& o) const {
  if (!o.stopped && o.kept.empty()) return;  // untouched processes are not news
  message(fmt::format("{}: {}", phase, describe(o)));
  if (events_path_.empty()) return;
  nlohmann::json j{{"phase", phase},
                   {"pid", o.pid},
                   {"comm", o.comm},
                   {"stop_ms", static_cast<double>(o.stop_time.count()) / 1e6},
                   {"threads", o.threads},
                   {"executor", o.executor_mode},
                   {"fds", o.fds},
                   {"cwd", o.cwd},
                   {"thread_cwds", o.thread_cwds},
                   {"mappings", o.mappings},
                   {"left", o.left},
                   {"kept", o.kept}};
  std::ofstream out(events_path_, std::ios::app);
  out << j.dump() << "\n";
}

// ---- Taking ChaosFS off ----------------------------------------------------------------------

namespace {

// Every process holding files on the mount is re-pointed; a few passes catch processes
// forked from one not yet re-pointed. A process found holding a file lock (refused with
// LockedFiles::kRefuse, kept with kKeepProcess) is tried again every 20 ms for kLockGrace
// from the first time: a transaction's lock goes. Returns the refusals for a lock held
// longer than that while moving onto ChaosFS (a process locked a file after the up-front
// check and kept it).
std::vector<std::string> repoint_all(const std::function<std::vector<pid_t>()>& processes, const RepointSpec& spec,
                                     std::string_view phase, const RepointLog& log) {
  using Clock = std::chrono::steady_clock;
  std::set<pid_t> failed;
  std::map<pid_t, Clock::time_point> locked_since;
  std::vector<std::string> lock_refusals;
  for (int pass = 0;; ++pass) {
    bool any = false, waiting = false;
    for (pid_t p : processes()) {
      if (failed.count(p) || !holds_files_on(p, spec)) continue;
      any = true;
      auto o = repoint_process(p, spec);
      bool lock_refused = !o && o.error().sys_errno() == ENOLCK;
      if (lock_refused || (o && !o->kept.empty())) {
        auto since = locked_since.try_emplace(p, Clock::now()).first->second;
        if (Clock::now() - since < kLockGrace) {
          waiting = true;
          continue;
        }
        failed.insert(p);
        if (lock_refused)
          lock_refusals.push_back(o.error().message());
        else
          log.process(phase, *o);
        continue;
      }
      if (!o) {
        if (o.error().sys_errno() != ESRCH) {
          log.warn(fmt::format("{}: pid {} not re-pointed: {}", phase, p, o.error().message()));
          failed.insert(p);
        }
        continue;
      }
      log.process(phase, *o);
      if (!o->left.empty()) failed.insert(p);  // told once; a second try would not do better
    }
    if (!any || (pass >= 3 && !waiting)) break;
    if (waiting) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return lock_refusals;
}

// Inode numbers of the files of the device `dev` that this process holds a lock on: ChaosFS
// forwards a flock taken through it to its backing file, so the lock is the server's (this
// process's) and the container process's fdinfo shows none.
std::vector<uint64_t> inodes_locked_here(dev_t dev) {
  std::vector<uint64_t> out;
  DIR* d = ::opendir("/proc/self/fdinfo");
  if (!d) return out;
  while (auto* e = ::readdir(d)) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    std::ifstream in(fmt::format("/proc/self/fdinfo/{}", e->d_name));
    std::string line;
    bool locked = false;
    while (std::getline(in, line))
      if (line.rfind("lock:", 0) == 0) locked = true;
    struct stat st {};
    if (locked && ::fstat(std::atoi(e->d_name), &st) == 0 && st.st_dev == dev)
      out.push_back(static_cast<uint64_t>(st.st_ino));
  }
  ::closedir(d);
  return out;
}

std::vector<pid_t> processes_in(const std::string& cgroup_dir, ino_t mntns) {
  std::vector<pid_t> out;
  auto pids = read_cgroup_procs(cgroup_dir);
  if (!pids) return out;
  for (pid_t p : *pids)
    if (mount_namespace_inode(p) == mntns) out.push_back(p);
  return out;
}

}  // namespace

Result<void> take_chaosfs_off(const MountNamespace& ns, pid_t main_pid,
                              const std::function<std::vector<pid_t>()>& processes,
                              const std::string& volume, int chaos_mnt_id, const RepointLog& log,
                              LockedFiles locked, std::vector<uint64_t> locked_inodes) {
  auto mounts = read_mountinfo(main_pid);
  if (!mounts) return mounts.error();
  if (mount_by_id(*mounts, chaos_mnt_id)) {
    auto top = topmost_mount_at(*mounts, volume);
    if (!top || top->id != chaos_mnt_id)
      return Error(fmt::format("something is mounted over ChaosFS at {} (mount {}, {}): unmount it first", volume,
                               top ? top->id : -1, top ? top->fs_type : "?"));
    // New opens reach the volume from now on; files already open on ChaosFS keep working
    // (its server still runs) until they are moved below.
    SYSCHAOS_TRY(ns.run([&] { return detach_mount(volume); }));
  }
  repoint_all(processes, RepointSpec{chaos_mnt_id, volume, true, locked, std::move(locked_inodes)}, "recover", log);
  return ok();
}

// ---- The supervisor ------------------------------------------------------------------------

namespace {

// The volume's own mount attributes on ChaosFS's detached tree, before it is attached: a
// FUSE mount is rw,nosuid,nodev, and over a read-only volume it would look writable
// (access(W_OK), statvfs) although every write fails with EROFS from the backing file;
// nosuid, nodev and noexec must neither be added nor lost either.
Result<void> give_volume_attributes(const UniqueFd& tree, const ContainerVolume& vol) {
  struct mount_attr attr {};
  auto flag = [&](bool on, uint64_t bit) { (on ? attr.attr_set : attr.attr_clr) |= bit; };
  flag(vol.read_only(), MOUNT_ATTR_RDONLY);
  flag(vol.nosuid(), MOUNT_ATTR_NOSUID);
  flag(vol.nodev(), MOUNT_ATTR_NODEV);
  flag(vol.noexec(), MOUNT_ATTR_NOEXEC);
  if (::syscall(SYS_mount_setattr, tree.get(), "", AT_EMPTY_PATH, &attr, sizeof attr) != 0)
    return Error::sys(fmt::format("mount_setattr (set {:#x}, clear {:#x}) on ChaosFS's mount for {}", attr.attr_set,
                                  attr.attr_clr, vol.path()));
  return ok();
}

class Supervisor {
 public:
  Supervisor(const ContainerInjectionSettings& s, pid_t cli_pid, const RepointLog& log)
      : s_(s), cli_pid_(cli_pid), log_(log) {}

  int run(int control_fd, int stop_fd, int ready_fd);

 private:
  Result<void> inject(ContainerVolume& vol, int control_fd);
  std::string wait_for_end(int stop_fd, int sigfd, int parent_fd);
  bool recover(ContainerVolume& vol);
  int linger(int done_fd, int sigfd, int code);
  UniqueFd start_restore_guardian();
  void release_guardian(UniqueFd& guardian);

  const ContainerInjectionSettings& s_;
  pid_t cli_pid_;
  const RepointLog& log_;
  ContainerInjectionState state_;
  std::unique_ptr<ChaosFs> fs_;
  std::thread server_;
  UniqueFd server_done_;  // eventfd: run() returned (unmounted from outside, or detached and unused)
  dev_t volume_dev_ = 0;  // the backing files' device (flocks ChaosFS holds for the container)
  // After recover(): processes still holding files on the detached ChaosFS ("pid 12
  // (sqlite3)"); its server keeps serving them (linger).
  std::vector<std::string> left_on_chaosfs_;
};

int Supervisor::run(int control_fd, int stop_fd, int ready_fd) {
  UniqueFd control(control_fd);
  // "r": faults armed. Kept open after it: "l" (recovered) or "f" (failed) tells the CLI it
  // may return while this process lingers for files left on the detached ChaosFS.
  UniqueFd ready(ready_fd);
  // Signals arrive through a signalfd; blocked before any thread exists so that every
  // ChaosFS thread inherits the mask.
  sigset_t set;
  sigemptyset(&set);
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) sigaddset(&set, sig);
  ::sigprocmask(SIG_BLOCK, &set, nullptr);
  UniqueFd sigfd(::signalfd(-1, &set, SFD_CLOEXEC));
  UniqueFd parent(static_cast<int>(::syscall(SYS_pidfd_open, cli_pid_, 0)));
  if (!sigfd || !parent || ::getppid() != cli_pid_) {
    log_.warn("supervisor: the foreground syschaos is already gone; nothing injected");
    return 1;
  }
  server_done_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  // Forked while this process is still single-threaded.
  UniqueFd guardian = start_restore_guardian();

  auto vol = ContainerVolume::open(s_.container, s_.volume);
  if (!vol) {
    log_.warn(vol.error().message());
    release_guardian(guardian);
    return 1;
  }
  // A CLI gone already makes its end of the pipe vanish: a write then fails (EPIPE), it
  // must not kill this process.
  ::signal(SIGPIPE, SIG_IGN);
  auto injected = inject(*vol, control.release());
  if (!injected) {
    log_.warn(injected.error().message());
    bool clean = recover(*vol);
    if (clean) release_guardian(guardian);
    return left_on_chaosfs_.empty() ? 1 : linger(ready.get(), sigfd.get(), 1);
  }
  char r = 'r';
  if (::write(ready.get(), &r, 1) != 1) {
    // The CLI is gone already: the wait below sees its pidfd and recovers.
  }
  std::string why = wait_for_end(stop_fd, sigfd.get(), parent.get());
  log_.message(fmt::format("{}: removing ChaosFS from {} of container {}", why, s_.volume, s_.container.name));
  bool clean = recover(*vol);
  if (clean) release_guardian(guardian);
  if (!left_on_chaosfs_.empty()) return linger(ready.get(), sigfd.get(), clean ? 0 : 1);
  return clean ? 0 : 1;
}

// Recovered, but processes keep files on the detached ChaosFS (a lock taken through it,
// which moving the file would drop; a file that could not move): its server, without rules,
// serves them until the kernel ends the connection, i.e. when the last of those files is
// closed (the detached mount goes, and run() returns). The CLI is told at once and returns;
// nothing else is left (state file, socket and staging directory are gone already). A
// signal ends the wait early: those files then fail with ENOTCONN, as after a SIGKILL.
int Supervisor::linger(int done_fd, int sigfd, int code) {
  char c = code == 0 ? 'l' : 'f';
  if (::write(done_fd, &c, 1) != 1) {
    // The CLI is gone: nobody to tell.
  }
  for (;;) {
    pollfd p[2] = {{server_done_.get(), POLLIN, 0}, {sigfd, POLLIN, 0}};
    if (::poll(p, 2, -1) < 0) {
      if (errno == EINTR) continue;
      log_.warn(fmt::format("poll: {}; stopping the detached ChaosFS server", std::strerror(errno)));
      break;
    }
    if (p[0].revents) {
      log_.message(fmt::format("the files left on the detached ChaosFS of {} of container {} are closed; its "
                               "server (pid {}) exits",
                               s_.volume, s_.container.name, ::getpid()));
      break;
    }
    if (p[1].revents) {
      signalfd_siginfo si{};
      ssize_t n = ::read(sigfd, &si, sizeof si);
      (void)n;
      log_.warn(fmt::format("got {}: stopping the detached ChaosFS server (pid {}) now; the files still open on it "
                            "(by {}) fail with ENOTCONN until closed",
                            strsignal(static_cast<int>(si.ssi_signo)), ::getpid(),
                            fmt::join(left_on_chaosfs_, ", ")));
      break;
    }
  }
  if (fs_) {
    fs_->stop();
    if (server_.joinable()) server_.join();
    fs_.reset();
  }
  return code;
}

// The last line of defence, for when both the CLI and the supervisor are SIGKILLed (a
// `kill -9` of the whole session): a process of its own session that waits for both to die
// and, unless the supervisor said "clean" first, runs `syschaos fs restore` for the volume.
// Double-forked so that it is nobody's zombie; it keeps no fd of ours but the "clean" pipe.
UniqueFd Supervisor::start_restore_guardian() {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) {
    log_.warn(fmt::format("no restore guardian (pipe2: {}): a SIGKILL of both syschaos processes would need "
                          "`syschaos fs restore` by hand", std::strerror(errno)));
    return UniqueFd();
  }
  std::string exe = "/proc/self/exe";
  std::vector<std::string> args = {"syschaos", "fs", "restore", "--quiet", "--container", s_.container.id,
                                   "--volume", s_.volume};
  pid_t sup = ::getpid();
  pid_t child = ::fork();
  if (child < 0) {
    log_.warn(fmt::format("no restore guardian (fork: {}): a SIGKILL of both syschaos processes would need "
                          "`syschaos fs restore` by hand", std::strerror(errno)));
    ::close(p[0]);
    ::close(p[1]);
    return UniqueFd();
  }
  if (child == 0) {
    if (::fork() != 0) ::_exit(0);
    ::setsid();
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::dup2(p[0], 3);
    ::syscall(SYS_close_range, 4, ~0U, 0);
    int fds[2] = {static_cast<int>(::syscall(SYS_pidfd_open, sup, 0)),
                  static_cast<int>(::syscall(SYS_pidfd_open, cli_pid_, 0))};
    bool dead[2] = {fds[0] < 0, fds[1] < 0};
    bool pipe_open = true;
    while (!(dead[0] && dead[1])) {
      pollfd w[3] = {{pipe_open ? 3 : -1, POLLIN, 0}, {dead[0] ? -1 : fds[0], POLLIN, 0},
                     {dead[1] ? -1 : fds[1], POLLIN, 0}};
      if (::poll(w, 3, -1) < 0) continue;
      if (w[0].revents) {
        char c = 0;
        ssize_t n = ::read(3, &c, 1);
        if (n == 1 && c == 'c') ::_exit(0);
        if (n <= 0) pipe_open = false;  // the supervisor is gone without a word
      }
      if (w[1].revents) dead[0] = true;
      if (w[2].revents) dead[1] = true;
    }
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(exe.c_str(), argv.data());
    ::_exit(127);
  }
  ::close(p[0]);
  int st;
  ::waitpid(child, &st, 0);
  return UniqueFd(p[1]);
}

void Supervisor::release_guardian(UniqueFd& guardian) {
  if (!guardian) return;
  char c = 'c';
  ssize_t n = ::write(guardian.get(), &c, 1);
  (void)n;
  guardian.reset();
}

Result<void> Supervisor::inject(ContainerVolume& vol, int control_fd) {
  const auto& c = s_.container;
  std::string base = container_state_base(c.id, vol.path());
  state_.container_id = c.id;
  state_.container_name = c.name;
  state_.volume = vol.path();
  state_.volume_mnt_id = vol.mount_id();
  state_.supervisor_pid = ::getpid();
  state_.cli_pid = cli_pid_;
  state_.control_socket = s_.control_path;
  state_.stage_dir = base + ".stage";
  // Written before anything is mounted, so that `fs restore` knows the staging directory.
  SYSCHAOS_TRY(write_state(state_));

  // 1. The volume itself, as ChaosFS's backing directory, before anything covers it.
  UniqueFd backing(::open(fmt::format("/proc/{}/root{}", c.main_pid, vol.path()).c_str(),
                          O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!backing) return Error::sys(fmt::format("open the volume {} of container {}", vol.path(), c.name));
  struct stat vst {};
  if (::fstat(backing.get(), &vst) != 0) return Error::sys("fstat the volume " + vol.path());
  volume_dev_ = vst.st_dev;

  // 2. ChaosFS on the host's staging directory (/dev/fuse is there, not in the container).
  (void)detach_mount(state_.stage_dir);  // a leftover of a SIGKILLed run, if any
  if (::mkdir(state_.stage_dir.c_str(), 0700) != 0 && errno != EEXIST)
    return Error::sys("mkdir " + state_.stage_dir);
  ChaosFsOptions o;
  o.backing_fd = backing.get();
  o.mountpoint = state_.stage_dir;
  o.app_mountpoint = vol.path();  // live rules with absolute globs name the volume
  o.seed = s_.seed;
  o.passthrough = s_.passthrough;
  o.control_fd = control_fd;
  o.fsname = "chaosfs";
  o.unmount_guardian = false;  // the supervisor and the CLI guard each other instead
  o.recover_dead_mount = false;
  auto fs = ChaosFs::mount(o);
  if (!fs) {
    ::rmdir(state_.stage_dir.c_str());
    return fs.error().context("ChaosFS");
  }
  fs_ = std::move(*fs);
  server_ = std::thread([this] {
    auto r = fs_->run();
    if (!r) log_.warn("ChaosFS server: " + r.error().message());
    uint64_t one = 1;
    ssize_t n = ::write(server_done_.get(), &one, sizeof one);
    (void)n;
  });
  auto tree = clone_mount(state_.stage_dir);
  auto off = detach_mount(state_.stage_dir);
  ::rmdir(state_.stage_dir.c_str());
  if (!tree) return tree.error();
  if (!off) return off.error();
  SYSCHAOS_TRY(give_volume_attributes(*tree, vol));

  // 3. Over the volume, inside the container.
  int chaos_id = -1;
  SYSCHAOS_TRY(vol.ns().run([&]() -> Result<void> {
    SYSCHAOS_TRY(attach_mount(*tree, vol.path()));
    auto id = mount_id_of(vol.path());
    if (!id) return id.error();
    chaos_id = *id;
    return ok();
  }));
  state_.chaos_mnt_id = chaos_id;
  SYSCHAOS_TRY(write_state(state_));
  log_.message(fmt::format("ChaosFS mounted over {} in container {} (mount {} over {}); control socket {}",
                           vol.describe(), c.name, chaos_id, vol.mount_id(), s_.control_path));

  // 4. Files already open on the volume. A lock holder was refused up front (the CLI asks
  // repoint_refusal); one that locked a file since then is found stopped, before anything of
  // it moved, and the injection is undone: half the container on each side of a lock that
  // neither side sees would be worse than no injection.
  auto locked = repoint_all([&] { return vol.processes(); }, RepointSpec{vol.mount_id(), vol.path(), false},
                            "inject", log_);
  if (!locked.empty())
    return Error(fmt::format("{} (it locked the file after the check, during the move); removing ChaosFS again",
                             locked.front()));
  for (pid_t p : vol.skipped_processes())
    log_.warn(fmt::format("pid {} of the container has a mount namespace of its own: it does not see ChaosFS", p));

  // 5. Faults on. Armed only now so that the moves above are not failed by them; what the
  // processes read through ChaosFS meanwhile must not shield them from the rules, so those
  // pages go (a file read or mapped from now on is read through the rules).
  fs_->set_rules(s_.rules);
  fs_->drop_pages_rules_read();
  log_.message(fmt::format("{} rule(s) armed on {} (seed {})", s_.rules.size(), vol.path(), fs_->seed()));
  for (const auto& r : s_.rules) log_.message("  " + r.describe());
  return ok();
}

std::string Supervisor::wait_for_end(int stop_fd, int sigfd, int parent_fd) {
  for (;;) {
    pollfd p[4] = {{stop_fd, POLLIN, 0}, {sigfd, POLLIN, 0}, {parent_fd, POLLIN, 0}, {server_done_.get(), POLLIN, 0}};
    int n = ::poll(p, 4, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fmt::format("poll failed ({})", std::strerror(errno));
    }
    if (p[2].revents) return fmt::format("syschaos (pid {}) died", cli_pid_);
    if (p[0].revents) {
      char b = 0;
      // EOF: the CLI's end closed without a word, i.e. it died (its pidfd may lag).
      return ::read(stop_fd, &b, 1) == 1 ? std::string("stopping") : fmt::format("syschaos (pid {}) died", cli_pid_);
    }
    if (p[1].revents) {
      signalfd_siginfo si{};
      ssize_t r = ::read(sigfd, &si, sizeof si);
      (void)r;
      return fmt::format("supervisor got {}", strsignal(static_cast<int>(si.ssi_signo)));
    }
    if (p[2].revents) return fmt::format("syschaos (pid {}) died", cli_pid_);
    if (p[3].revents) return "ChaosFS was unmounted from outside";
  }
}

bool Supervisor::recover(ContainerVolume& vol) {
  bool clean = true;
  // Faults off first: nothing is delayed or failed during the move back.
  if (fs_) fs_->set_rules({});
  left_on_chaosfs_.clear();
  if (state_.chaos_mnt_id >= 0) {
    // A process holding a lock taken through ChaosFS stays whole on it (moving its files
    // would drop the lock); the flocks ChaosFS forwarded are held by this very process.
    auto r = take_chaosfs_off(vol.ns(), s_.container.main_pid, [&] { return vol.processes(); }, vol.path(),
                              state_.chaos_mnt_id, log_, fs_ ? LockedFiles::kKeepProcess : LockedFiles::kMove,
                              fs_ ? inodes_locked_here(volume_dev_) : std::vector<uint64_t>{});
    if (!r) {
      log_.warn("recovery: " + r.error().message());
      clean = false;
    }
    if (fs_) {
      RepointSpec on_chaosfs{state_.chaos_mnt_id, vol.path(), true};
      for (pid_t p : vol.processes())
        if (holds_files_on(p, on_chaosfs))
          left_on_chaosfs_.push_back(fmt::format("pid {} ({})", p, ptrace_engine::thread_comm(p, p)));
    }
  }
  // Nothing left on it: the server goes. Otherwise it serves those files, without rules,
  // until they are closed (linger).
  if (fs_ && left_on_chaosfs_.empty()) {
    fs_->stop();
    if (server_.joinable()) server_.join();
    fs_.reset();
  }
  if (!state_.stage_dir.empty()) {
    (void)detach_mount(state_.stage_dir);
    ::rmdir(state_.stage_dir.c_str());
  }
  if (!s_.control_path.empty()) ::unlink(s_.control_path.c_str());
  // What the container sees now.
  auto mounts = read_mountinfo(s_.container.main_pid);
  if (mounts) {
    for (const auto& m : *mounts)
      if (m.fs_type == kChaosFsType && m.mount_point == vol.path()) {
        log_.warn(fmt::format("ChaosFS is still mounted at {} (mount {})", m.mount_point, m.id));
        clean = false;
      }
  }
  if (!state_.container_id.empty()) remove_state(state_);
  if (clean && left_on_chaosfs_.empty())
    log_.message(fmt::format("recovered: {} of container {} is the plain volume again", vol.path(), s_.container.name));
  else if (clean)
    // Printed even when quiet: a process still on ChaosFS and a syschaos still running.
    log_.warn(fmt::format("recovered: {} of container {} is the plain volume again; {} process(es) ({}) keep files "
                          "on the detached ChaosFS (no faults; lock holders and files that could not move, see "
                          "above); its server (pid {}) exits when they are closed",
                          vol.path(), s_.container.name, left_on_chaosfs_.size(), fmt::join(left_on_chaosfs_, ", "),
                          ::getpid()));
  return clean;
}

}  // namespace

int run_injection_supervisor(const ContainerInjectionSettings& settings, pid_t cli_pid, int control_fd,
                             int stop_fd, int ready_fd, const RepointLog& log) {
  Supervisor s(settings, cli_pid, log);
  return s.run(control_fd, stop_fd, ready_fd);
}

// ---- fs restore ----------------------------------------------------------------------------

Result<int> restore_container(const ContainerRef& c, const std::optional<std::string>& volume,
                              const RepointLog& log) {
  std::vector<ContainerInjectionState> states;
  for (const auto& f : state_files_of(c.id)) {
    auto st = read_state(f);
    if (!st) {
      log.warn(st.error().message());
      continue;
    }
    if (*st && (!volume || (*st)->volume == *volume)) states.push_back(**st);
  }
  // A live supervisor recovers best (its server answers until every file has moved). It is
  // done when it has exited, or when its state file is gone while it still runs: it then
  // serves files left on its detached ChaosFS (lock holders) and must be left alone.
  std::set<pid_t> lingering;
  for (const auto& st : states) {
    if (!is_live_syschaos(st.supervisor_pid)) continue;
    log.message(fmt::format("asking the supervisor (pid {}) of {} to recover", st.supervisor_pid, st.volume));
    ::kill(st.supervisor_pid, SIGTERM);
    std::string file = container_state_base(st.container_id, st.volume) + ".json";
    auto recovered = [&] { return ::access(file.c_str(), F_OK) != 0 && errno == ENOENT; };
    for (int i = 0; i < 200 && is_live_syschaos(st.supervisor_pid) && !recovered(); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (is_live_syschaos(st.supervisor_pid)) {
      if (recovered())
        lingering.insert(st.supervisor_pid);
      else
        log.warn(fmt::format("supervisor pid {} still runs after 20 s; recovering here", st.supervisor_pid));
    }
  }

  auto ns = MountNamespace::of_process(c.main_pid);
  if (!ns) return ns.error();
  ino_t ino = ns->inode();
  auto procs = [&] { return processes_in(c.cgroup_dir, ino); };
  auto mounts = read_mountinfo(c.main_pid);
  if (!mounts) return mounts.error();
  int removed = 0;
  std::set<int> done;
  // Topmost first: a stack of ChaosFS mounts comes off in order.
  for (auto it = mounts->rbegin(); it != mounts->rend(); ++it) {
    const auto& m = *it;
    if (m.fs_type != kChaosFsType || (volume && m.mount_point != *volume)) continue;
    // No live server behind it any more (its supervisor was asked first): locks or not,
    // every file moves, or it would fail with ENOTCONN.
    auto r = take_chaosfs_off(*ns, c.main_pid, procs, m.mount_point, m.id, log, LockedFiles::kMove);
    if (!r) return r.error().context(m.mount_point);
    done.insert(m.id);
    ++removed;
  }
  // Unmounted already, but processes may still hold files on it (the supervisor died
  // between the unmount and the move back).
  for (const auto& st : states)
    if (st.chaos_mnt_id >= 0 && !done.count(st.chaos_mnt_id) && !lingering.count(st.supervisor_pid))
      (void)take_chaosfs_off(*ns, c.main_pid, procs, st.volume, st.chaos_mnt_id, log, LockedFiles::kMove);
  for (const auto& st : states) {
    if (lingering.count(st.supervisor_pid)) continue;  // cleaned up by itself
    if (!st.stage_dir.empty()) {
      (void)detach_mount(st.stage_dir);
      ::rmdir(st.stage_dir.c_str());
    }
    if (!st.control_socket.empty() && !is_live_syschaos(st.supervisor_pid)) ::unlink(st.control_socket.c_str());
    remove_state(st);
  }
  return removed;
}

}  // namespace syschaos::fs
