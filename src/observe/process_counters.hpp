// Resource counters of single processes from /proc, for targets without a cgroup of their own
// (a --pid target, a launched command): the sampler sums them over the target's process tree.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "core/result.hpp"

namespace syschaos {

// The fields of /proc/PID/stat the sampler uses. Times are in clock ticks (sysconf(_SC_CLK_TCK)).
struct ProcStat {
  pid_t pid = 0;
  pid_t ppid = 0;
  char state = '?';
  uint64_t utime = 0, stime = 0;    // the process's own threads, live and exited
  uint64_t cutime = 0, cstime = 0;  // children it has waited for
  uint64_t start_time = 0;          // ticks after boot; with pid, identifies the process
};

// The text of /proc/PID/stat. The command name may hold spaces and ')', so fields are
// counted from the last ')'.
Result<ProcStat> parse_proc_stat(std::string_view text);

// From /proc/PID/status: resident and peak resident memory and thread count. Memory lines
// are absent for zombies and kernel threads (nullopt).
struct ProcStatus {
  std::optional<uint64_t> rss_bytes;  // VmRSS
  std::optional<uint64_t> hwm_bytes;  // VmHWM, the process's own peak RSS
  uint64_t threads = 0;
};
Result<ProcStatus> parse_proc_status(std::string_view text);

// From /proc/PID/io: bytes the process (and the children it has waited for) caused to be
// read from and written to storage.
struct ProcIo {
  uint64_t read_bytes = 0;
  uint64_t write_bytes = 0;
};
Result<ProcIo> parse_proc_io(std::string_view text);

// Every process now running, as (pid, ppid, start_time) from /proc/*/stat; processes that exit
// while the list is read are left out.
Result<std::vector<ProcStat>> read_all_proc_stats();

// The processes of `all` that descend from (or are) one of `roots`, sorted by pid.
std::vector<pid_t> descendants_of(const std::vector<ProcStat>& all, const std::vector<pid_t>& roots);

}  // namespace syschaos
