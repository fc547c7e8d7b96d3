#include "failstop/safety_guard.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <optional>

#include "failstop/restore_state.hpp"
#include "failstop/trigger_stops.hpp"

namespace syschaos::failstop {

namespace {
constexpr char kDismiss = 'D';
}

Result<SafetyGuard> SafetyGuard::start(const std::string& exe, const std::string& state_path) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return Error::sys("pipe2");
  UniqueFd read_end(fds[0]), write_end(fds[1]);
  pid_t pid = ::fork();
  if (pid < 0) return Error::sys("fork (safety guard)");
  if (pid == 0) {
    // Child: only async-signal-safe calls until execv.
    ::setpgid(0, 0);
    if (::dup2(read_end.get(), 3) < 0) ::_exit(127);  // dup2 clears FD_CLOEXEC on fd 3
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    const char* argv[] = {"syschaos", "failstop", "restore", "--guard-fd", "3", "--state",
                          state_path.c_str(), nullptr};
    ::execv(exe.c_str(), const_cast<char* const*>(argv));
    ::_exit(127);
  }
  return SafetyGuard(pid, std::move(write_end));
}

Result<void> SafetyGuard::dismiss() {
  if (pid_ < 0) return ok();
  if (::write(pipe_.get(), &kDismiss, 1) != 1) return Error::sys("write to safety guard");
  pipe_.reset();
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0) {
    if (errno != EINTR) return Error::sys("waitpid safety guard");
  }
  pid_ = -1;
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
