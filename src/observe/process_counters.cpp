#include "observe/process_counters.hpp"

#include <dirent.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <map>
#include <memory>
#include <set>

#include "core/text_fields.hpp"
#include "target/proc_files.hpp"

namespace syschaos {

namespace {

// "VmRSS:	    2008 kB" -> 2008 * 1024.
std::optional<uint64_t> kilobytes_field(std::string_view value) {
  auto words = split_words(value);
  if (words.size() != 2 || words[1] != "kB") return std::nullopt;
  auto kb = parse_number<uint64_t>(words[0]);
  if (!kb) return std::nullopt;
  return *kb * 1024;
}

struct DirCloser {
  void operator()(DIR* dir) const { ::closedir(dir); }
};

}  // namespace

Result<ProcStat> parse_proc_stat(std::string_view text) {
  size_t open = text.find('(');
  size_t close = text.rfind(')');
  if (open == std::string_view::npos || close == std::string_view::npos || close < open)
    return Error("malformed /proc/PID/stat (no command name)");
  ProcStat stat;
  auto head = split_words(text.substr(0, open));
  auto pid = head.size() == 1 ? parse_number<pid_t>(head[0]) : std::nullopt;
  // After "pid (comm)": state(3) ppid(4) ... utime(14) stime(15) cutime(16) cstime(17) ...
  // starttime(22); `rest` starts at field 3.
  auto rest = split_words(text.substr(close + 1));
  if (!pid || rest.size() < 20) return Error("malformed /proc/PID/stat (too few fields)");
  auto field = [&](int number) { return rest[static_cast<size_t>(number - 3)]; };
  stat.pid = *pid;
  stat.state = field(3).empty() ? '?' : field(3)[0];
  auto ppid = parse_number<pid_t>(field(4));
  auto utime = parse_number<uint64_t>(field(14));
  auto stime = parse_number<uint64_t>(field(15));
  // cutime and cstime are printed as signed longs; they are never negative in practice.
  auto cutime = parse_number<int64_t>(field(16));
  auto cstime = parse_number<int64_t>(field(17));
  auto start_time = parse_number<uint64_t>(field(22));
  if (!ppid || !utime || !stime || !cutime || !cstime || !start_time)
    return Error("malformed /proc/PID/stat (a field is not a number)");
  stat.ppid = *ppid;
  stat.utime = *utime;
  stat.stime = *stime;
  stat.cutime = static_cast<uint64_t>(std::max<int64_t>(*cutime, 0));
  stat.cstime = static_cast<uint64_t>(std::max<int64_t>(*cstime, 0));
  stat.start_time = *start_time;
  return stat;
}

Result<ProcStatus> parse_proc_status(std::string_view text) {
  ProcStatus status;
  bool saw_threads = false;
  for (std::string_view line : split(text, '\n')) {
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    std::string_view key = line.substr(0, colon);
    std::string_view value = line.substr(colon + 1);
    if (key == "VmRSS") {
      status.rss_bytes = kilobytes_field(value);
      if (!status.rss_bytes) return Error(fmt::format("malformed status line '{}'", line));
    } else if (key == "VmHWM") {
      status.hwm_bytes = kilobytes_field(value);
      if (!status.hwm_bytes) return Error(fmt::format("malformed status line '{}'", line));
    } else if (key == "Threads") {
      auto words = split_words(value);
      auto threads = words.size() == 1 ? parse_number<uint64_t>(words[0]) : std::nullopt;
      if (!threads) return Error(fmt::format("malformed status line '{}'", line));
      status.threads = *threads;
      saw_threads = true;
    }
  }
  if (!saw_threads) return Error("malformed /proc/PID/status (no Threads line)");
  return status;
}

Result<ProcIo> parse_proc_io(std::string_view text) {
  ProcIo io;
  bool saw_read = false, saw_write = false;
  for (std::string_view line : split(text, '\n')) {
    auto words = split_words(line);
    if (words.size() != 2) continue;
    if (words[0] == "read_bytes:" || words[0] == "write_bytes:") {
      auto value = parse_number<uint64_t>(words[1]);
      if (!value) return Error(fmt::format("malformed io line '{}'", line));
      bool read = words[0] == "read_bytes:";
      (read ? io.read_bytes : io.write_bytes) = *value;
      (read ? saw_read : saw_write) = true;
    }
  }
  if (!saw_read || !saw_write) return Error("malformed /proc/PID/io (no read_bytes/write_bytes)");
  return io;
}

Result<std::vector<ProcStat>> read_all_proc_stats() {
  std::unique_ptr<DIR, DirCloser> proc(::opendir("/proc"));
  if (!proc) return Error::sys("opendir /proc");
  std::vector<ProcStat> stats;
  for (;;) {
    errno = 0;
    const dirent* entry = ::readdir(proc.get());
    if (!entry) {
      if (errno != 0) return Error::sys("readdir /proc");
      break;
    }
    auto pid = parse_number<pid_t>(entry->d_name);
    if (!pid || *pid <= 0) continue;
    auto text = read_text_file(fmt::format("/proc/{}/stat", *pid));
    if (!text) continue;  // exited since readdir
    auto stat = parse_proc_stat(*text);
    if (!stat) return stat.error().context(fmt::format("/proc/{}/stat", *pid));
    stats.push_back(*stat);
  }
  return stats;
}

std::vector<pid_t> descendants_of(const std::vector<ProcStat>& all, const std::vector<pid_t>& roots) {
  std::multimap<pid_t, pid_t> children;  // ppid -> pid
  std::vector<pid_t> alive;
  for (const ProcStat& stat : all) {
    children.emplace(stat.ppid, stat.pid);
    alive.push_back(stat.pid);
  }
  std::sort(alive.begin(), alive.end());
  std::set<pid_t> found;
  std::vector<pid_t> pending;
  for (pid_t root : roots)
    if (std::binary_search(alive.begin(), alive.end(), root)) pending.push_back(root);
  while (!pending.empty()) {
    pid_t pid = pending.back();
    pending.pop_back();
    if (!found.insert(pid).second) continue;
    auto [first, last] = children.equal_range(pid);
    for (auto it = first; it != last; ++it) pending.push_back(it->second);
  }
  return std::vector<pid_t>(found.begin(), found.end());
}

}  // namespace syschaos
