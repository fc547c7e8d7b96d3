#include "target/pid_target.hpp"

#include <poll.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <optional>
#include <string_view>
#include <vector>

#include "core/text_fields.hpp"
#include "target/proc_files.hpp"

namespace syschaos {

namespace {

// What /proc/PID/stat says about a process, as far as telling it apart and alive matters.
struct ProcStat {
  char state = '?';
  long num_threads = 0;
  unsigned long long start_time = 0;  // clock ticks after boot: with the pid, a unique identity
};

std::optional<ProcStat> parse_proc_stat(std::string_view text) {
  // The command name (field 2) may hold spaces and parentheses: fields resume after the last ')'.
  size_t close = text.rfind(')');
  if (close == std::string_view::npos) return std::nullopt;
  std::vector<std::string_view> fields;
  std::string_view rest = text.substr(close + 1);
  size_t pos = 0;
  while (pos < rest.size()) {
    size_t start = rest.find_first_not_of(" \n", pos);
    if (start == std::string_view::npos) break;
    size_t end = rest.find_first_of(" \n", start);
    fields.push_back(rest.substr(start, end == std::string_view::npos ? end : end - start));
    pos = end == std::string_view::npos ? rest.size() : end;
  }
  // fields[0] is field 3 of proc(5) (state); num_threads is field 20, starttime field 22.
  if (fields.size() < 20 || fields[0].size() != 1) return std::nullopt;
  auto threads = parse_number<long>(fields[17]);
  auto start = parse_number<unsigned long long>(fields[19]);
  if (!threads || !start) return std::nullopt;
  return ProcStat{fields[0][0], *threads, *start};
}

std::optional<pid_t> parse_tgid(std::string_view status) {
  size_t at = status.find("\nTgid:");
  if (at == std::string_view::npos) return std::nullopt;
  std::string_view rest = status.substr(at + 6);
  rest.remove_prefix(std::min(rest.find_first_not_of(" \t"), rest.size()));
  return parse_number<pid_t>(rest.substr(0, rest.find('\n')));
}

bool process_gone(int err) { return err == ENOENT || err == ESRCH; }

Error no_such_process(pid_t pid) {
  return Error(fmt::format("no process with pid {}", pid), ESRCH);
}

Result<ProcStat> read_proc_stat(pid_t pid) {
  std::string path = fmt::format("/proc/{}/stat", pid);
  auto text = read_text_file(path);
  if (!text) return text.error();
  auto stat = parse_proc_stat(*text);
  if (!stat) return Error(fmt::format("cannot parse {}", path));
  return *stat;
}

// A zombie leader whose other threads still run is a live process ("Zl" in ps): only a
// zombie with no other thread has exited.
bool is_exited(const ProcStat& stat) {
  return (stat.state == 'Z' || stat.state == 'X') && stat.num_threads <= 1;
}

}  // namespace

Result<std::unique_ptr<PidTarget>> PidTarget::create(pid_t pid) {
  if (pid <= 0) return Error(fmt::format("invalid pid {}: must be a positive number", pid));

  auto status = read_text_file(fmt::format("/proc/{}/status", pid));
  if (!status) {
    if (process_gone(status.error().sys_errno())) return no_such_process(pid);
    return status.error();
  }
  // /proc/TID exists for every thread, but engines work on whole thread groups.
  auto tgid = parse_tgid(*status);
  if (!tgid) return Error(fmt::format("cannot find Tgid in /proc/{}/status", pid));
  if (*tgid != pid)
    return Error(fmt::format("pid {} is a thread of process {}; give --pid {}", pid, *tgid, *tgid));

  // The pidfd pins this very process: polling it tells when it exits, even after the
  // number has been reused by another process.
  UniqueFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
  if (!pidfd) {
    if (errno == ESRCH) return no_such_process(pid);
    if (errno != ENOSYS) return Error::sys(fmt::format("pidfd_open {}", pid));
  }
  auto stat = read_proc_stat(pid);
  if (!stat) {
    if (process_gone(stat.error().sys_errno())) return no_such_process(pid);
    return stat.error();
  }
  std::unique_ptr<PidTarget> target(new PidTarget(pid, std::move(pidfd), stat->start_time));
  if (target->exited() || is_exited(*stat))
    return Error(fmt::format(
        "process {} is a zombie: it has exited and waits for its parent to reap it", pid));
  return target;
}

std::string PidTarget::describe() const { return fmt::format("pid {}", pid_); }

bool PidTarget::exited() const {
  if (pidfd_) {
    // A pidfd becomes readable once the whole thread group has exited.
    pollfd pfd{pidfd_.get(), POLLIN, 0};
    int ready;
    do ready = ::poll(&pfd, 1, 0);
    while (ready < 0 && errno == EINTR);
    return ready > 0;
  }
  auto stat = read_proc_stat(pid_);
  return !stat || stat->start_time != start_time_ || is_exited(*stat);
}

Result<std::vector<pid_t>> PidTarget::processes() {
  if (exited()) return std::vector<pid_t>{};
  return std::vector<pid_t>{pid_};
}

}  // namespace syschaos
