#include "experiment/command_workload.hpp"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <future>
#include <mutex>
#include <thread>

#include "core/unique_fd.hpp"

extern char** environ;

namespace syschaos::experiment {

namespace {

using Clock = std::chrono::steady_clock;

constexpr std::chrono::milliseconds kMaxGrace = std::chrono::minutes(5);
constexpr size_t kMaxTailBytes = 16 * 1024 * 1024;
// After the supervisor is gone, output still held open by a process that left the group is
// read for this long at most.
constexpr std::chrono::milliseconds kOutputDrain{1000};
#ifndef CLOSE_RANGE_CLOEXEC
constexpr unsigned kCloseRangeCloexec = 1U << 2;
#else
constexpr unsigned kCloseRangeCloexec = CLOSE_RANGE_CLOEXEC;
#endif

// What the supervisor tells syschaos, 8 bytes per message (pipe writes that small are atomic).
struct SupervisorMessage {
  int32_t kind = 0;
  int32_t value = 0;  // a pid, an errno or a wait status
};
enum : int32_t {
  kStarted = 1,   // value: the command's pid; exec succeeded
  kChdirFailed,   // value: errno
  kStdinFailed,   // value: errno
  kExecFailed,    // value: errno
  kForkFailed,    // value: errno
  kExited,        // value: the command's wait status
};

double seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

bool is_shell_safe(const std::string& word) {
  if (word.empty()) return false;
  for (char c : word)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || std::strchr("@%+=:,./-_", c)))
      return false;
  return true;
}

// An executable for `name`, looked up in PATH as execvp would — done before fork, so the
// child does not allocate, and so that a missing program is a clear error from start().
Result<std::string> find_executable(const std::string& name, const std::vector<std::string>& env) {
  if (name.find('/') != std::string::npos) {
    if (::access(name.c_str(), X_OK) != 0) return Error::sys(fmt::format("command '{}'", name));
    return name;
  }
  std::string path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  if (const char* from_env = std::getenv("PATH")) path = from_env;
  for (const auto& entry : env)
    if (entry.starts_with("PATH=")) path = entry.substr(5);
  size_t begin = 0;
  while (begin <= path.size()) {
    size_t end = path.find(':', begin);
    if (end == std::string::npos) end = path.size();
    std::string dir = path.substr(begin, end - begin);
    std::string candidate = (dir.empty() ? "." : dir) + "/" + name;
    struct stat info {};
    if (::stat(candidate.c_str(), &info) == 0 && S_ISREG(info.st_mode) &&
        ::access(candidate.c_str(), X_OK) == 0)
      return candidate;
    begin = end + 1;
  }
  return Error(fmt::format("command '{}': not found in PATH", name));
}

// Everything the children need, built before fork: between fork and exec only
// async-signal-safe calls are allowed (syschaos has other threads, which may hold malloc's
// locks at the moment of the fork).
struct LaunchPlan {
  std::string executable;
  std::vector<std::string> arg_storage, env_storage;
  std::vector<char*> argv, envp;
  std::string working_dir;
};

Result<LaunchPlan> make_plan(const CommandWorkloadSpec& spec) {
  LaunchPlan plan;
  if (!spec.shell.empty()) {
    plan.executable = "/bin/sh";
    plan.arg_storage = {"sh", "-c", spec.shell};
  } else {
    auto executable = find_executable(spec.argv[0], spec.env);
    if (!executable) return executable.error();
    plan.executable = std::move(executable.value());
    plan.arg_storage = spec.argv;
  }
  for (char** entry = environ; entry && *entry; ++entry) {
    std::string_view text(*entry);
    auto name = text.substr(0, text.find('='));
    bool replaced = false;
    for (const auto& extra : spec.env)
      if (extra.substr(0, extra.find('=')) == name) replaced = true;
    if (!replaced) plan.env_storage.emplace_back(text);
  }
  for (const auto& extra : spec.env) plan.env_storage.push_back(extra);
  for (auto& arg : plan.arg_storage) plan.argv.push_back(arg.data());
  plan.argv.push_back(nullptr);
  for (auto& entry : plan.env_storage) plan.envp.push_back(entry.data());
  plan.envp.push_back(nullptr);
  plan.working_dir = spec.working_dir;
  return plan;
}

void send_message(int fd, int32_t kind, int32_t value) {
  SupervisorMessage message{kind, value};
  while (::write(fd, &message, sizeof message) < 0 && errno == EINTR) {
  }
}

// Closes every descriptor from 3 up except `keep_a` and `keep_b` (the supervisor must not
// hold syschaos's sockets and files open: a connection the load generator closes would
// otherwise stay open in the supervisor).
void close_all_except(int keep_a, int keep_b) {
  if (keep_a > keep_b) std::swap(keep_a, keep_b);
  auto close_range = [](unsigned first, unsigned last) {
    if (first <= last) ::syscall(SYS_close_range, first, last, 0u);
  };
  close_range(3, static_cast<unsigned>(keep_a) - 1);
  close_range(static_cast<unsigned>(keep_a) + 1, static_cast<unsigned>(keep_b) - 1);
  close_range(static_cast<unsigned>(keep_b) + 1, ~0u);
}

// The command itself, in the supervisor's process group.
[[noreturn]] void exec_command(const LaunchPlan& plan, int output_w, int exec_w) {
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig)
    if (sig != SIGKILL && sig != SIGSTOP) ::sigaction(sig, &dfl, nullptr);
  sigset_t none;
  ::sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // the supervisor never dies first on purpose
  int null_fd = ::open("/dev/null", O_RDONLY);
  if (null_fd < 0 || ::dup2(null_fd, 0) < 0) {
    send_message(exec_w, kStdinFailed, errno);
    ::_exit(127);
  }
  if (::dup2(output_w, 1) < 0 || ::dup2(output_w, 2) < 0) {
    send_message(exec_w, kStdinFailed, errno);
    ::_exit(127);
  }
  if (!plan.working_dir.empty() && ::chdir(plan.working_dir.c_str()) != 0) {
    send_message(exec_w, kChdirFailed, errno);
    ::_exit(127);
  }
  ::syscall(SYS_close_range, 3u, ~0u, kCloseRangeCloexec);
  ::execve(plan.executable.c_str(), plan.argv.data(), plan.envp.data());
  send_message(exec_w, kExecFailed, errno);
  ::_exit(127);
}

// The supervisor: leader of the command's process group, reaper of everything the command
// starts, and the one that kills the group when syschaos dies (PR_SET_PDEATHSIG) or when the
// command's main process has ended.
[[noreturn]] void supervise(const LaunchPlan& plan, pid_t syschaos_pid, int output_w,
                            int status_w) {
  ::setpgid(0, 0);
  sigset_t all;
  ::sigfillset(&all);
  ::sigprocmask(SIG_SETMASK, &all, nullptr);
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  ::sigaction(SIGCHLD, &dfl, nullptr);  // SIG_IGN would make children reap themselves
  ::prctl(PR_SET_PDEATHSIG, SIGUSR1);
  if (::getppid() != syschaos_pid) ::_exit(1);  // syschaos died before the line above
  ::prctl(PR_SET_CHILD_SUBREAPER, 1);
  close_all_except(output_w, status_w);
  // Nor syschaos's terminal or pipes: `syschaos run ... | tee` must see its end of file.
  if (int null_fd = ::open("/dev/null", O_RDWR); null_fd >= 0) {
    for (int fd = 0; fd <= 2; ++fd)
      if (fd != output_w && fd != status_w) ::dup2(null_fd, fd);
    if (null_fd > 2 && null_fd != output_w && null_fd != status_w) ::close(null_fd);
  }

  int exec_pipe[2];
  if (::pipe2(exec_pipe, O_CLOEXEC) != 0) {
    send_message(status_w, kForkFailed, errno);
    ::_exit(1);
  }
  pid_t command = ::fork();
  if (command < 0) {
    send_message(status_w, kForkFailed, errno);
    ::_exit(1);
  }
  if (command == 0) {
    ::close(exec_pipe[0]);
    exec_command(plan, output_w, exec_pipe[1]);
  }
  ::close(exec_pipe[1]);
  ::close(output_w);  // the output ends when the command and its children are gone
  SupervisorMessage failure{};
  ssize_t n;
  while ((n = ::read(exec_pipe[0], &failure, sizeof failure)) < 0 && errno == EINTR) {
  }
  if (n == static_cast<ssize_t>(sizeof failure)) {
    ::waitpid(command, nullptr, 0);
    send_message(status_w, failure.kind, failure.value);
    ::_exit(1);
  }
  ::close(exec_pipe[0]);
  send_message(status_w, kStarted, command);

  sigset_t wanted;
  ::sigemptyset(&wanted);
  for (int sig : {SIGCHLD, SIGUSR1, SIGTERM, SIGINT, SIGHUP}) ::sigaddset(&wanted, sig);
  for (;;) {
    siginfo_t info{};
    int sig = ::sigwaitinfo(&wanted, &info);
    if (sig == SIGUSR1) ::kill(0, SIGKILL);  // syschaos is gone: so is everything it started
    if (sig != SIGCHLD) continue;            // SIGTERM went to the whole group, command too
    int status = 0;
    for (pid_t pid; (pid = ::waitpid(-1, &status, WNOHANG)) > 0;) {
      if (pid != command) continue;
      send_message(status_w, kExited, status);
      ::kill(0, SIGKILL);  // what the command left behind, and the supervisor itself
      ::_exit(0);
    }
  }
}

std::string start_error(const std::string& display, const SupervisorMessage& message) {
  switch (message.kind) {
    case kChdirFailed:
      return Error::sys(fmt::format("command '{}': chdir", display), message.value).message();
    case kStdinFailed:
      return Error::sys(fmt::format("command '{}': redirecting its input/output", display),
                        message.value)
          .message();
    case kExecFailed:
      return Error::sys(fmt::format("command '{}': exec", display), message.value).message();
    case kForkFailed:
      return Error::sys(fmt::format("command '{}': fork", display), message.value).message();
    default:
      return fmt::format("command '{}': its supervisor ended before starting it", display);
  }
}

}  // namespace

Result<void> validate(const CommandWorkloadSpec& spec) {
  auto fail = [](std::string message) { return Error("command workload: " + message); };
  if (spec.argv.empty() && spec.shell.empty()) return fail("no command given");
  if (!spec.argv.empty() && !spec.shell.empty())
    return fail("give the command as an argument list or as a shell line, not both");
  if (!spec.argv.empty() && spec.argv[0].empty()) return fail("the program name is empty");
  for (const auto& arg : spec.argv)
    if (arg.find('\0') != std::string::npos) return fail("an argument contains a NUL byte");
  if (spec.shell.find('\0') != std::string::npos) return fail("the shell line contains a NUL byte");
  if (spec.stop_grace < std::chrono::milliseconds(0) || spec.stop_grace > kMaxGrace)
    return fail(fmt::format("the stop grace period must be between 0 and 5m, not {}ms",
                            spec.stop_grace.count()));
  if (spec.tail_bytes > kMaxTailBytes)
    return fail(fmt::format("an output tail of {} bytes is more than the limit of {}",
                            spec.tail_bytes, kMaxTailBytes));
  for (const auto& entry : spec.env)
    if (entry.find('=') == std::string::npos || entry.front() == '=')
      return fail(fmt::format("environment entry '{}' is not NAME=VALUE", entry));
  return ok();
}

std::string command_display(const CommandWorkloadSpec& spec) {
  if (!spec.shell.empty()) return spec.shell;
  std::string text;
  for (const auto& arg : spec.argv) {
    if (!text.empty()) text += ' ';
    if (is_shell_safe(arg)) {
      text += arg;
      continue;
    }
    text += '\'';
    for (char c : arg) text += c == '\'' ? std::string("'\\''") : std::string(1, c);
    text += '\'';
  }
  return text;
}

struct CommandWorkload::State {
  CommandWorkloadSpec spec;
  std::string display;
  Clock::time_point clock_zero;
  std::function<void(const CommandOutcome&)> on_early_exit;

  UniqueFd output_r, status_r, wake, output_file;
  pid_t supervisor = 0;
  pid_t command = 0;
  std::thread thread;
  std::atomic<bool> running{false};
  std::atomic<bool> stop_requested{false};

  mutable std::mutex mutex;  // guards what follows
  CommandOutcome outcome;
  std::optional<CommandOutcome> early;
  std::string output_error;
  std::string tail;  // the last spec.tail_bytes of the output (maybe cut mid-line)
  bool tail_cut = false;

  ~State() {
    if (thread.joinable()) {
      request_stop();
      thread.join();
    }
  }

  void request_stop() {
    stop_requested = true;
    uint64_t one = 1;
    if (wake) {
      [[maybe_unused]] ssize_t n = ::write(wake.get(), &one, sizeof one);
    }
  }

  void take_output(const char* data, size_t size) {
    std::lock_guard lock(mutex);
    outcome.output_bytes += size;
    if (output_file && output_error.empty()) {
      size_t done = 0;
      while (done < size) {
        ssize_t n = ::write(output_file.get(), data + done, size - done);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
          output_error = Error::sys(fmt::format("writing {}", spec.output_path)).message();
          break;
        }
        done += static_cast<size_t>(n);
      }
    }
    if (spec.tail_bytes == 0) return;
    if (size >= spec.tail_bytes) {
      tail.assign(data + size - spec.tail_bytes, spec.tail_bytes);
      tail_cut = tail_cut || size > spec.tail_bytes || outcome.output_bytes > size;
    } else {
      tail.append(data, size);
      if (tail.size() > spec.tail_bytes) {
        tail.erase(0, tail.size() - spec.tail_bytes);
        tail_cut = true;
      }
    }
  }

  // The tail as the report shows it: whole lines only when the beginning was cut.
  std::string tail_lines() const {
    if (!tail_cut) return tail;
    auto newline = tail.find('\n');
    if (newline == std::string::npos || newline + 1 == tail.size()) return tail;
    return tail.substr(newline + 1);
  }

  void record_end(int wait_status, Clock::time_point at) {
    std::lock_guard lock(mutex);
    if (WIFEXITED(wait_status)) {
      outcome.exit_code = WEXITSTATUS(wait_status);
      outcome.signal = 0;
    } else if (WIFSIGNALED(wait_status)) {
      outcome.exit_code = -1;
      outcome.signal = WTERMSIG(wait_status);
    }
    outcome.end_s = seconds(at - clock_zero);
  }

  void run();
};

void CommandWorkload::State::run() {
  ::pthread_setname_np(::pthread_self(), "syschaos-cmd");
  bool output_open = true, status_open = true, ended = false;
  Clock::time_point kill_at = Clock::time_point::max();
  Clock::time_point drain_until = Clock::time_point::max();
  bool term_sent = false;
  std::vector<char> buffer(64 * 1024);
  SupervisorMessage pending{};
  size_t pending_bytes = 0;

  while (output_open || status_open) {
    Clock::time_point now = Clock::now();
    if (stop_requested && !term_sent && status_open) {
      // SIGTERM to the whole group: the command and everything it started; the supervisor
      // ignores it and reports how the command ended.
      ::kill(-supervisor, SIGTERM);
      term_sent = true;
      if (!ended) {
        std::lock_guard lock(mutex);
        outcome.stopped = true;
      }
      kill_at = now + spec.stop_grace;
    }
    if (status_open && now >= kill_at) {
      ::kill(-supervisor, SIGKILL);
      kill_at = Clock::time_point::max();
      std::lock_guard lock(mutex);
      if (!ended) outcome.killed_after_grace = true;
    }
    if (!status_open && now >= drain_until) break;

    Clock::time_point next = std::min(kill_at, drain_until);
    int timeout_ms = -1;
    if (next != Clock::time_point::max()) {
      auto left = std::chrono::ceil<std::chrono::milliseconds>(next - now).count();
      timeout_ms = static_cast<int>(std::clamp<int64_t>(left, 0, 60000));
    }
    pollfd fds[3] = {{output_open ? output_r.get() : -1, POLLIN, 0},
                     {status_open ? status_r.get() : -1, POLLIN, 0},
                     {wake.get(), POLLIN, 0}};
    if (::poll(fds, 3, timeout_ms) < 0 && errno != EINTR) {
      std::lock_guard lock(mutex);
      output_error = Error::sys("poll").message();
      break;
    }
    if (fds[2].revents & POLLIN) {
      uint64_t count = 0;
      [[maybe_unused]] ssize_t n = ::read(wake.get(), &count, sizeof count);
    }
    if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t n = ::read(output_r.get(), buffer.data(), buffer.size());
      if (n > 0) {
        take_output(buffer.data(), static_cast<size_t>(n));
      } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
        output_open = false;
      }
    }
    if (fds[1].revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t n = ::read(status_r.get(), reinterpret_cast<char*>(&pending) + pending_bytes,
                         sizeof pending - pending_bytes);
      if (n > 0) {
        pending_bytes += static_cast<size_t>(n);
        if (pending_bytes == sizeof pending) {
          pending_bytes = 0;
          if (pending.kind == kExited && !ended) {
            ended = true;
            record_end(pending.value, Clock::now());
            running = false;
            if (!stop_requested) {
              CommandOutcome snapshot;
              {
                std::lock_guard lock(mutex);
                outcome.output_tail = tail_lines();
                early = outcome;
                snapshot = outcome;
              }
              if (on_early_exit) on_early_exit(snapshot);
            }
          }
        }
      } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
        // The supervisor is gone. Reap it (unless someone else's waitpid(-1) already did).
        status_open = false;
        int status = 0;
        pid_t reaped;
        while ((reaped = ::waitpid(supervisor, &status, 0)) < 0 && errno == EINTR) {
        }
        if (!ended) {
          // Killed before it could report (SIGKILL to the group after the grace period, or
          // by someone else): the command went the same way.
          ended = true;
          record_end(reaped == supervisor ? status : (SIGKILL & 0x7f), Clock::now());
          running = false;
        }
        drain_until = Clock::now() + kOutputDrain;
      }
    }
  }
  // A process that left the group may still hold the output; syschaos stops reading.
  std::lock_guard lock(mutex);
  outcome.output_tail = tail_lines();
  running = false;
}

CommandWorkload::CommandWorkload(std::unique_ptr<State> state) : state_(std::move(state)) {}
CommandWorkload::CommandWorkload(CommandWorkload&&) noexcept = default;
CommandWorkload& CommandWorkload::operator=(CommandWorkload&& other) noexcept {
  if (this != &other) {
    if (state_) stop();
    state_ = std::move(other.state_);
  }
  return *this;
}
CommandWorkload::~CommandWorkload() {
  if (state_) stop();
}

Result<CommandWorkload> CommandWorkload::create(CommandWorkloadSpec spec) {
  SYSCHAOS_TRY(validate(spec));
  auto state = std::make_unique<State>();
  state->display = command_display(spec);
  state->spec = std::move(spec);
  state->outcome.command = state->display;
  return CommandWorkload(std::move(state));
}

Result<void> CommandWorkload::start(std::chrono::steady_clock::time_point clock_zero,
                                    std::function<void(const CommandOutcome&)> on_early_exit) {
  if (!state_) return Error("command workload: moved from");
  State& s = *state_;
  if (s.supervisor != 0) return Error("command workload: already started");
  auto plan = make_plan(s.spec);
  if (!plan) return plan.error();
  if (!s.spec.output_path.empty()) {
    s.output_file.reset(::open(s.spec.output_path.c_str(),
                               O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (!s.output_file) return Error::sys(fmt::format("opening {}", s.spec.output_path));
  }
  int output_pipe[2], status_pipe[2];
  if (::pipe2(output_pipe, O_CLOEXEC) != 0) return Error::sys("pipe2");
  UniqueFd output_r(output_pipe[0]), output_w(output_pipe[1]);
  if (::pipe2(status_pipe, O_CLOEXEC) != 0) return Error::sys("pipe2");
  UniqueFd status_r(status_pipe[0]), status_w(status_pipe[1]);
  s.wake.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!s.wake) return Error::sys("eventfd");
  s.clock_zero = clock_zero;
  s.on_early_exit = std::move(on_early_exit);

  // The supervisor is forked by the workload's own thread, which lives until the supervisor
  // is reaped: PR_SET_PDEATHSIG fires when the forking *thread* ends, not the process.
  std::promise<Result<void>> started;
  auto started_future = started.get_future();
  const pid_t syschaos_pid = ::getpid();
  s.thread = std::thread([&s, &started, &plan, &output_r, &output_w, &status_r, &status_w,
                          syschaos_pid] {
    pid_t pid = ::fork();
    if (pid == 0) supervise(plan.value(), syschaos_pid, output_w.get(), status_w.get());
    if (pid < 0) {
      started.set_value(Error::sys("fork"));
      return;
    }
    s.supervisor = pid;
    output_w.reset();
    status_w.reset();
    s.output_r = std::move(output_r);
    s.status_r = std::move(status_r);
    // The first message says whether the command runs.
    SupervisorMessage first{};
    size_t got = 0;
    while (got < sizeof first) {
      ssize_t n = ::read(s.status_r.get(), reinterpret_cast<char*>(&first) + got, sizeof first - got);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      got += static_cast<size_t>(n);
    }
    if (got == sizeof first && first.kind == kStarted) {
      s.command = first.value;
      {
        std::lock_guard lock(s.mutex);
        s.outcome.start_s = seconds(Clock::now() - s.clock_zero);
      }
      s.running = true;
      started.set_value(ok());
      s.run();
      return;
    }
    ::waitpid(pid, nullptr, 0);
    s.status_r.reset();
    s.output_r.reset();
    started.set_value(Error(start_error(s.display, got == sizeof first ? first : SupervisorMessage{})));
  });
  Result<void> result = started_future.get();
  if (!result) {
    s.thread.join();
    s.supervisor = -1;  // not startable again
  }
  return result;
}

bool CommandWorkload::running() const { return state_ && state_->running; }

std::optional<CommandOutcome> CommandWorkload::ended_early() const {
  if (!state_) return std::nullopt;
  std::lock_guard lock(state_->mutex);
  return state_->early;
}

CommandOutcome CommandWorkload::stop() {
  if (!state_) return {};
  State& s = *state_;
  if (s.thread.joinable()) {
    s.request_stop();
    s.thread.join();
  }
  std::lock_guard lock(s.mutex);
  return s.outcome;
}

pid_t CommandWorkload::process_group() const {
  return state_ && state_->supervisor > 0 ? state_->supervisor : 0;
}

std::string CommandWorkload::output_error() const {
  if (!state_) return {};
  std::lock_guard lock(state_->mutex);
  return state_->output_error;
}

}  // namespace syschaos::experiment
