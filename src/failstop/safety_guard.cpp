#include "failstop/safety_guard.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <optional>

#include "failstop/restore_state.hpp"
#include "failstop/trigger_stops.hpp"

namespace syschaos::failstop {

namespace {
constexpr char kDismiss = 'D';
constexpr char kReady = 'R';
// Exec of the syschaos binary and its start-up; generous, the machine may be loaded.
constexpr int kReadyTimeoutMs = 10000;

// Kills and reaps a guard that did not come up; returns how it ended, for the message.
std::string reap_failed_guard(pid_t pid) {
  ::kill(pid, SIGKILL);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status)) return fmt::format("exited with status {}", WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return fmt::format("ended by signal {}", WTERMSIG(status));
  return fmt::format("status {:#x}", status);
}
}  // namespace

Result<SafetyGuard> SafetyGuard::start(const std::string& exe, const std::string& state_path) {
  // A socket pair, not a pipe: the guard acknowledges on it that it runs (kReady), and
  // syschaos's end closing is still the guard's EOF.
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) return Error::sys("socketpair (safety guard)");
  UniqueFd guard_end(fds[0]), our_end(fds[1]);
  pid_t pid = ::fork();
  if (pid < 0) return Error::sys("fork (safety guard)");
  if (pid == 0) {
    // Child: only async-signal-safe calls until execv.
    ::setpgid(0, 0);
    if (guard_end.get() == 3) {
      // dup2(3, 3) is a no-op that leaves FD_CLOEXEC set: clear it by hand.
      if (::fcntl(3, F_SETFD, 0) != 0) ::_exit(127);
    } else if (::dup2(guard_end.get(), 3) < 0) {  // dup2 clears FD_CLOEXEC on the new fd 3
      ::_exit(127);
    }
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    const char* argv[] = {"syschaos", "failstop", "restore", "--guard-fd", "3", "--state",
                          state_path.c_str(), nullptr};
    ::execv(exe.c_str(), const_cast<char* const*>(argv));
    ::_exit(127);
  }
  // Only the child holds the guard's end now: if it dies (exec failed), we read EOF.
  guard_end.reset();
  // Without the guard's acknowledgement nothing may be injected: a guard that failed to
  // exec (or is not syschaos) would otherwise leave the run unguarded, unnoticed.
  pollfd p{our_end.get(), POLLIN, 0};
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kReadyTimeoutMs);
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0)
      return Error(fmt::format("the safety guard ({}) did not report ready within {} ms ({}): refusing to inject "
                               "without it",
                               exe, kReadyTimeoutMs, reap_failed_guard(pid)));
    int n = ::poll(&p, 1, static_cast<int>(left.count()));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      auto e = Error::sys("poll (safety guard)");
      reap_failed_guard(pid);
      return e;
    }
    if (n == 0) continue;
    char byte = 0;
    ssize_t got = ::read(our_end.get(), &byte, 1);
    if (got < 0 && errno == EINTR) continue;
    if (got == 1 && byte == kReady) break;
    return Error(fmt::format("the safety guard ({}) did not start ({}): refusing to inject without it", exe,
                             reap_failed_guard(pid)));
  }
  return SafetyGuard(pid, std::move(our_end));
}

Result<void> SafetyGuard::dismiss() {
  if (pid_ < 0) return ok();
  // MSG_NOSIGNAL: a guard that died already must give an error here, not SIGPIPE to syschaos.
  std::optional<Error> failed;
  if (::send(pipe_.get(), &kDismiss, 1, MSG_NOSIGNAL) != 1) failed = Error::sys("write to safety guard");
  pipe_.reset();
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0) {
    if (errno != EINTR) return Error::sys("waitpid safety guard");
  }
  pid_ = -1;
  if (failed) return failed->context(fmt::format("safety guard gone (status {:#x})", status));
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    return Error(fmt::format("safety guard ended with status {:#x}", status));
  return ok();
}

Result<std::string> run_guard(int fd, const std::string& state_path) {
  // Signals meant for syschaos (terminal Ctrl-C, kill of the job) must not end the guard.
  ::signal(SIGINT, SIG_IGN);
  ::signal(SIGTERM, SIG_IGN);
  ::signal(SIGHUP, SIG_IGN);
  ::signal(SIGPIPE, SIG_IGN);
  // Tells syschaos that the guard runs; it injects nothing before reading this.
  ssize_t sent;
  do {
    sent = ::write(fd, &kReady, 1);
  } while (sent < 0 && errno == EINTR);
  if (sent != 1) return Error::sys("guard: acknowledge to syschaos");
  char byte = 0;
  ssize_t n;
  do {
    n = ::read(fd, &byte, 1);
  } while (n < 0 && errno == EINTR);
  if (n == 1 && byte == kDismiss) return std::string("dismissed");
  // EOF (or an error): syschaos is gone without restoring. Thaw and move back first, then
  // continue what the syscall trigger stopped: a stopped process stays stopped after a
  // thaw, and a v1-frozen one shows 'D', not 'T', until thawed.
  // Each part is tried even when the other fails.
  std::string outcome = "syschaos ended; nothing to restore";
  std::optional<Error> failed;
  struct stat st {};
  if (::stat(state_path.c_str(), &st) == 0) {
    auto state = load_state(state_path);
    auto r = state ? restore(*state) : Result<void>(state.error());
    if (r) {
      ::unlink(state_path.c_str());
      outcome = fmt::format("syschaos ended without restoring; the guard thawed {} cgroup(s) and moved back "
                            "the processes of {} transient cgroup(s)",
                            state->frozen.size(), state->moved.size());
    } else {
      failed = r.error();
    }
  }
  std::string stops_path = trigger_stops_path(state_path);
  if (::stat(stops_path.c_str(), &st) == 0) {
    auto stops = load_trigger_stops(stops_path);
    if (stops) {
      size_t continued = continue_recorded(*stops);
      ::unlink(stops_path.c_str());
      outcome += fmt::format("; continued {} process(es) stopped by the syscall trigger", continued);
    } else if (!failed) {
      failed = stops.error();
    }
  }
  if (failed) return *failed;
  return outcome;
}

}  // namespace syschaos::failstop
