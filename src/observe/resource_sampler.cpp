#include "observe/resource_sampler.hpp"

#include <fmt/ranges.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <unordered_map>

#include "observe/cgroup_stat_files.hpp"
#include "observe/netns_counters.hpp"
#include "observe/process_counters.hpp"
#include "target/cgroup_paths.hpp"
#include "target/proc_files.hpp"

namespace syschaos {

namespace {

using Clock = std::chrono::steady_clock;

bool vanished(int err) { return err == ENOENT || err == ENODEV; }

bool is_cgroup_dir(const std::string& dir) {
  struct stat st {};
  return ::stat((dir + "/cgroup.procs").c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

bool file_exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

std::string trim_slashes(std::string path) {
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  return path;
}

// `path` lies at or below `base`, comparing whole components ("/a/bc" is not below "/a/b").
bool within(std::string_view path, std::string_view base) {
  if (base == "/") return path.starts_with('/');
  return path == base || (path.starts_with(base) && path.size() > base.size() && path[base.size()] == '/');
}

// Where a cgroup directory lies: the mount that shows it and its path inside the hierarchy.
struct LocatedCgroup {
  const CgroupMount* mount = nullptr;
  std::string hierarchy_path;  // e.g. "/docker/3f2a..."
};

std::optional<LocatedCgroup> locate_cgroup(const std::vector<CgroupMount>& mounts,
                                           const std::string& dir) {
  const CgroupMount* best = nullptr;
  for (const CgroupMount& mount : mounts) {
    std::string point = trim_slashes(mount.mount_point);
    if (!within(dir, point)) continue;
    if (!best || point.size() > trim_slashes(best->mount_point).size()) best = &mount;
  }
  if (!best) return std::nullopt;
  std::string point = trim_slashes(best->mount_point);
  std::string relative = dir.substr(point == "/" ? 0 : point.size());
  std::string root = trim_slashes(best->root);
  std::string path = root == "/" ? (relative.empty() ? "/" : relative) : root + relative;
  return LocatedCgroup{best, path};
}

constexpr std::string_view kV1Controllers[] = {"cpuacct", "memory", "blkio", "pids"};

std::optional<std::string>& slot_of(CgroupDirs& dirs, std::string_view hierarchy) {
  if (hierarchy == kCgroupV2Hierarchy) return dirs.v2;
  if (hierarchy == "cpuacct") return dirs.cpuacct;
  if (hierarchy == "memory") return dirs.memory;
  if (hierarchy == "blkio") return dirs.blkio;
  return dirs.pids;
}

std::string hierarchy_label(std::string_view hierarchy) {
  return hierarchy == kCgroupV2Hierarchy ? std::string("v2") : fmt::format("v1 {}", hierarchy);
}

// Whether cgroup `dir` (at `path` in `hierarchy`) measures exactly the target: every target
// process is in it or below it, and every process in it is a target process. The target's
// process list is read again after `dir`'s so that a process forked meanwhile is in both.
Result<std::optional<std::string>> check_holds_exactly_target(
    const std::string& dir, const std::string& path, std::string_view hierarchy,
    const std::unordered_map<pid_t, std::vector<CgroupMembership>>& memberships,
    const std::string& target_dir) {
  for (const auto& [pid, list] : memberships) {
    for (const CgroupMembership& membership : list) {
      if (!membership.in(hierarchy)) continue;
      if (!within(membership.path, path))
        return std::optional<std::string>(fmt::format(
            "process {} is in the {} cgroup {}, outside {}", pid, hierarchy_label(hierarchy),
            membership.path, path));
    }
  }
  auto target = read_cgroup_procs(target_dir);
  if (!target) return target.error();
  // The cgroup's own processes first: a hierarchy's root (the usual wrong candidate) is
  // refused without reading every cgroup below it.
  auto own = read_cgroup_procs(dir, /*include_descendants=*/false);
  if (!own) return own.error();
  for (pid_t pid : *own)
    if (!std::binary_search(target->begin(), target->end(), pid))
      return std::optional<std::string>(
          fmt::format("the {} cgroup {} also holds process {}, which is not the target's",
                      hierarchy_label(hierarchy), path, pid));
  auto inside = read_cgroup_procs(dir);
  if (!inside) return inside.error();
  target = read_cgroup_procs(target_dir);
  if (!target) return target.error();
  for (pid_t pid : *inside)
    if (!std::binary_search(target->begin(), target->end(), pid))
      return std::optional<std::string>(
          fmt::format("the {} cgroup {} also holds process {}, which is not the target's",
                      hierarchy_label(hierarchy), path, pid));
  return std::optional<std::string>();
}

// Reads DIR/NAME. nullopt when the file does not exist in a directory that does (a kernel
// without memory.peak, a controller not enabled); an error naming the cgroup, with errno
// ENOENT, when the directory itself has gone.
Result<std::optional<std::string>> read_cgroup_file(const std::string& dir, std::string_view name) {
  auto text = read_text_file(fmt::format("{}/{}", dir, name));
  if (text) return std::optional<std::string>(std::move(*text));
  if (!vanished(text.error().sys_errno())) return text.error();
  if (!is_cgroup_dir(dir)) return Error(fmt::format("cgroup {} was removed", dir), ENOENT);
  return std::optional<std::string>();
}

uint64_t saturating_sub(uint64_t a, uint64_t b) { return a > b ? a - b : 0; }

// A process of a process-mode target, as last seen.
struct TrackedProcess {
  uint64_t start_time = 0;
  pid_t ppid = 0;
  uint64_t cpu_ticks = 0;  // utime+stime+cutime+cstime: own time and reaped children's
  uint64_t io_read = 0, io_write = 0;  // likewise includes reaped children
};

enum class CgroupVersion { v1, v2 };
struct ControllerFiles {
  CgroupVersion version;
  std::string dir;
};

}  // namespace

ResourceSource ResourceSource::for_processes(std::vector<pid_t> roots) {
  ResourceSource source;
  std::sort(roots.begin(), roots.end());
  roots.erase(std::unique(roots.begin(), roots.end()), roots.end());
  source.process_roots = std::move(roots);
  return source;
}

Result<ResourceSource> resource_source_for_cgroup(const std::string& dir_in) {
  std::string dir = trim_slashes(dir_in);
  auto mounts = read_cgroup_mounts();
  if (!mounts) return mounts.error();
  auto located = locate_cgroup(*mounts, dir);
  if (!located) return Error(fmt::format("{} is not inside a mounted cgroup hierarchy", dir));
  if (!is_cgroup_dir(dir)) return Error(fmt::format("no such cgroup: {}", dir), ENOENT);

  auto pids = read_cgroup_procs(dir);
  if (!pids) return pids.error().context(fmt::format("cgroup {}", dir));
  std::unordered_map<pid_t, std::vector<CgroupMembership>> memberships;
  for (pid_t pid : *pids) {
    auto list = read_proc_cgroup(pid);
    if (list) memberships.emplace(pid, std::move(*list));
    // A process that exited meanwhile says nothing about where the target lives.
    else if (!vanished(list.error().sys_errno()) && list.error().sys_errno() != ESRCH)
      return list.error();
  }

  ResourceSource source;
  source.process_dir = dir;
  std::vector<std::string_view> hierarchies = {kCgroupV2Hierarchy};
  hierarchies.insert(hierarchies.end(), std::begin(kV1Controllers), std::end(kV1Controllers));
  for (std::string_view hierarchy : hierarchies) {
    std::optional<std::string>& slot = slot_of(source.cgroup, hierarchy);
    if (located->mount->carries(hierarchy)) {
      slot = dir;
      continue;
    }
    bool mounted = std::any_of(mounts->begin(), mounts->end(),
                               [&](const CgroupMount& m) { return m.carries(hierarchy); });
    if (!mounted) continue;

    // The same path first (how Docker, systemd and libcgroup lay out every hierarchy), then
    // the cgroup where one of the target's processes actually is.
    std::vector<std::string> paths = {located->hierarchy_path};
    if (!memberships.empty())
      for (const CgroupMembership& m : memberships.begin()->second)
        if (m.in(hierarchy) && m.path != located->hierarchy_path) paths.push_back(m.path);
    std::string why_not;
    for (const std::string& path : paths) {
      auto candidate = cgroup_path_to_dir(*mounts, hierarchy, path);
      if (!candidate || !is_cgroup_dir(*candidate)) {
        if (why_not.empty())
          why_not = fmt::format("no {} cgroup {}", hierarchy_label(hierarchy), path);
        continue;
      }
      auto refusal = check_holds_exactly_target(*candidate, path, hierarchy, memberships, dir);
      if (!refusal) {
        if (vanished(refusal.error().sys_errno())) continue;  // removed while we looked
        return refusal.error();
      }
      if (*refusal) {
        why_not = **refusal;
        continue;
      }
      slot = *candidate;
      break;
    }
    if (!slot)
      source.notes.push_back(fmt::format("{}: {}", hierarchy_label(hierarchy),
                                         why_not.empty() ? "no matching cgroup" : why_not));
  }
  return source;
}

Result<ResourceSource> resource_source_for(Target& target) {
  if (auto dir = target.cgroup_dir()) {
    auto source = resource_source_for_cgroup(*dir);
    if (!source) return source.error().context(target.describe());
    return source;
  }
  auto pids = target.processes();
  if (!pids) return pids.error();
  if (pids->empty())
    return Error(fmt::format("{}: no process runs yet whose resources could be sampled",
                             target.describe()));
  return ResourceSource::for_processes(std::move(*pids));
}

struct ResourceSampler::State {
  std::string kind;
  std::vector<std::string> notes;

  // cgroup mode
  std::string process_dir;
  std::optional<ControllerFiles> cpu, memory, io, pids;
  std::string blkio_file;  // v1 io: the blkio statistics file in io->dir

  // process mode
  bool process_mode = false;
  std::vector<pid_t> roots;
  std::unordered_map<pid_t, TrackedProcess> tracked;
  uint64_t tree_cpu_ns = 0, tree_io_read = 0, tree_io_write = 0;
  bool tree_io_readable = true;
  uint64_t tree_memory_peak = 0;
  long clock_ticks_per_second = 100;

  // both
  std::optional<uint64_t> last_cpu_ns;
  Clock::time_point last_time;
  pid_t net_pid = 0;
  std::string netns;
  std::optional<bool> net_shared;
  std::string net_interfaces;

  Result<void> sample_cgroup(ResourceStats& stats, std::vector<pid_t>& target_pids);
  Result<void> sample_processes(ResourceStats& stats, std::vector<pid_t>& target_pids);
  void sample_network(ResourceStats& stats, const std::vector<pid_t>& target_pids);
  Result<ResourceStats> sample();
};

ResourceSampler::ResourceSampler(std::unique_ptr<State> state) : state_(std::move(state)) {}
ResourceSampler::~ResourceSampler() = default;

Result<std::unique_ptr<ResourceSampler>> ResourceSampler::create(const ResourceSource& source) {
  auto state = std::make_unique<State>();
  if (source.cgroup.empty()) {
    if (source.process_roots.empty())
      return Error("resource source has neither a cgroup nor a process to sample");
    state->process_mode = true;
    state->kind = "processes";
    state->roots = source.process_roots;
    long ticks = ::sysconf(_SC_CLK_TCK);
    if (ticks <= 0) return Error::sys("sysconf(_SC_CLK_TCK)");
    state->clock_ticks_per_second = ticks;
    for (pid_t pid : state->roots)
      if (::kill(pid, 0) != 0 && errno == ESRCH)
        return Error(fmt::format("no process with pid {}", pid), ESRCH);
  } else {
    const CgroupDirs& dirs = source.cgroup;
    state->process_dir = source.process_dir.empty()
                             ? *(dirs.v2 ? dirs.v2 : dirs.pids ? dirs.pids
                                                 : dirs.memory ? dirs.memory
                                                 : dirs.cpuacct ? dirs.cpuacct : dirs.blkio)
                             : source.process_dir;
    // A v2 file when the v2 cgroup offers it (its controller is enabled there), else v1.
    auto pick = [&](const char* v2_file, const std::optional<std::string>& v1_dir,
                    const char* v1_file) -> std::optional<ControllerFiles> {
      if (dirs.v2 && file_exists(fmt::format("{}/{}", *dirs.v2, v2_file)))
        return ControllerFiles{CgroupVersion::v2, *dirs.v2};
      if (v1_dir && file_exists(fmt::format("{}/{}", *v1_dir, v1_file)))
        return ControllerFiles{CgroupVersion::v1, *v1_dir};
      return std::nullopt;
    };
    state->cpu = pick("cpu.stat", dirs.cpuacct, "cpuacct.usage");
    state->memory = pick("memory.current", dirs.memory, "memory.usage_in_bytes");
    state->pids = pick("pids.current", dirs.pids, "pids.current");
    state->io = pick("io.stat", std::nullopt, "");
    if (!state->io && dirs.blkio) {
      // The throttle files count every bio whatever the I/O scheduler; the _recursive ones
      // include the cgroups below, as every other counter here does.
      for (const char* name : {"blkio.throttle.io_service_bytes_recursive",
                               "blkio.throttle.io_service_bytes", "blkio.io_service_bytes_recursive"}) {
        if (file_exists(fmt::format("{}/{}", *dirs.blkio, name))) {
          state->io = ControllerFiles{CgroupVersion::v1, *dirs.blkio};
          state->blkio_file = name;
          break;
        }
      }
    }
    bool any_v1 = false, any_v2 = false;
    for (const auto* files : {&state->cpu, &state->memory, &state->pids, &state->io}) {
      if (!*files) continue;
      ((*files)->version == CgroupVersion::v2 ? any_v2 : any_v1) = true;
    }
    if (!any_v1 && !any_v2) {
      if (!is_cgroup_dir(state->process_dir))
        return Error(fmt::format("cgroup {} was removed", state->process_dir), ENOENT);
      return Error(fmt::format("cgroup {} offers no resource counters (no cpu.stat, "
                               "memory.current, cpuacct.usage, memory.usage_in_bytes, ...)",
                               state->process_dir));
    }
    state->kind = any_v1 && any_v2 ? "cgroup v2+v1" : any_v2 ? "cgroup v2" : "cgroup v1";
    state->notes = source.notes;
  }
  // The baseline: the first sample() then reports cpu_cores over a known span.
  auto baseline = state->sample();
  if (!baseline) return baseline.error();
  return std::unique_ptr<ResourceSampler>(new ResourceSampler(std::move(state)));
}

Result<ResourceStats> ResourceSampler::sample() { return state_->sample(); }

const std::string& ResourceSampler::source_kind() const { return state_->kind; }

std::string ResourceSampler::summary() const {
  const State& s = *state_;
  if (s.process_mode)
    return fmt::format("/proc of pid {} and {} descendants (no cgroup of {} own)", fmt::join(s.roots, ", "),
                       s.roots.size() == 1 ? "its" : "their", s.roots.size() == 1 ? "its" : "their");
  return fmt::format("{} {}", s.kind, s.process_dir);
}

std::string ResourceSampler::describe() const {
  const State& s = *state_;
  std::string out;
  if (s.process_mode) {
    out = fmt::format(
        "resources: processes {} and their descendants, summed from /proc/PID/stat (CPU), "
        "status (VmRSS, threads) and io; no cgroup of their own, so memory is the sum of "
        "resident sets (shared pages counted once per process) and OOM events are unknown\n",
        fmt::join(s.roots, ", "));
  } else {
    out = fmt::format("resources: {} of {}\n", s.kind, s.process_dir);
    auto line = [&](const char* what, const std::optional<ControllerFiles>& files,
                    std::string_view v2_file, std::string_view v1_file) {
      if (!files) {
        out += fmt::format("  {}: unavailable\n", what);
        return;
      }
      bool v2 = files->version == CgroupVersion::v2;
      out += fmt::format("  {}: {}/{}\n", what, files->dir, v2 ? v2_file : v1_file);
    };
    line("cpu", s.cpu, "cpu.stat", "cpuacct.usage");
    line("memory", s.memory, "memory.*", "memory.*");
    line("io", s.io, "io.stat", s.blkio_file);
    line("pids", s.pids, "pids.current", "pids.current");
    for (const std::string& note : s.notes) out += fmt::format("  not used: {}\n", note);
  }
  if (s.net_pid > 0)
    out += fmt::format("  network: {} of pid {}, interfaces {}{}\n", s.netns, s.net_pid,
                       s.net_interfaces,
                       s.net_shared.value_or(false)
                           ? " (shared with processes outside the target: counts are not "
                             "the target's alone)"
                           : "");
  else
    out += "  network: no target process to read a network namespace through\n";
  return out;
}

Result<ResourceStats> ResourceSampler::State::sample() {
  ResourceStats stats;
  stats.source = kind;
  Clock::time_point now = Clock::now();
  std::vector<pid_t> target_pids;
  SYSCHAOS_TRY(process_mode ? sample_processes(stats, target_pids)
                            : sample_cgroup(stats, target_pids));
  sample_network(stats, target_pids);

  if (stats.cpu_usage_ns && last_cpu_ns && *stats.cpu_usage_ns >= *last_cpu_ns) {
    double seconds = std::chrono::duration<double>(now - last_time).count();
    if (seconds > 0)
      stats.cpu_cores = static_cast<double>(*stats.cpu_usage_ns - *last_cpu_ns) / 1e9 / seconds;
  }
  // A counter that went backwards (a cgroup made anew under the same name) starts a new
  // baseline rather than a negative rate.
  last_cpu_ns = stats.cpu_usage_ns;
  last_time = now;
  return stats;
}

Result<void> ResourceSampler::State::sample_cgroup(ResourceStats& stats,
                                                   std::vector<pid_t>& target_pids) {
  // A missing optional file leaves its field unset; a vanished directory ends the sample.
  auto read_flat = [](const std::string& dir, std::string_view name)
      -> Result<std::optional<std::map<std::string, uint64_t, std::less<>>>> {
    auto text = read_cgroup_file(dir, name);
    if (!text) return text.error();
    if (!*text) return std::optional<std::map<std::string, uint64_t, std::less<>>>();
    auto values = parse_flat_keyed(**text);
    if (!values) return values.error().context(fmt::format("{}/{}", dir, name));
    return std::optional(std::move(*values));
  };
  auto read_value = [](const std::string& dir, std::string_view name,
                       std::optional<uint64_t>& out) -> Result<void> {
    auto text = read_cgroup_file(dir, name);
    if (!text) return text.error();
    if (!*text) return ok();
    auto value = parse_single_value(**text);
    if (!value) return value.error().context(fmt::format("{}/{}", dir, name));
    out = *value;
    return ok();
  };
  auto key = [](const auto& map, std::string_view name) -> std::optional<uint64_t> {
    auto it = map.find(name);
    if (it == map.end()) return std::nullopt;
    return it->second;
  };

  if (cpu) {
    if (cpu->version == CgroupVersion::v2) {
      auto values = read_flat(cpu->dir, "cpu.stat");
      if (!values) return values.error();
      if (*values)
        if (auto usec = key(**values, "usage_usec")) stats.cpu_usage_ns = *usec * 1000;
    } else {
      SYSCHAOS_TRY(read_value(cpu->dir, "cpuacct.usage", stats.cpu_usage_ns));
    }
  }

  if (memory) {
    bool v2 = memory->version == CgroupVersion::v2;
    const std::string& dir = memory->dir;
    SYSCHAOS_TRY(read_value(dir, v2 ? "memory.current" : "memory.usage_in_bytes", stats.memory_bytes));
    SYSCHAOS_TRY(read_value(dir, v2 ? "memory.peak" : "memory.max_usage_in_bytes",
                            stats.memory_peak_bytes));
    std::optional<uint64_t> limit;
    SYSCHAOS_TRY(read_value(dir, v2 ? "memory.max" : "memory.limit_in_bytes", limit));
    stats.memory_limit_bytes = v2 || !limit ? limit : v1_memory_limit(*limit);
    if (v2) {
      auto events = read_flat(dir, "memory.events");
      if (!events) return events.error();
      if (*events) {
        stats.oom_events = key(**events, "oom");
        stats.oom_kills = key(**events, "oom_kill");
      }
    } else {
      // v1 counts OOM kills (kernel 4.13+) but has no count of OOM events.
      auto control = read_flat(dir, "memory.oom_control");
      if (!control) return control.error();
      if (*control) stats.oom_kills = key(**control, "oom_kill");
    }
    auto memory_stat = read_flat(dir, "memory.stat");
    if (!memory_stat) return memory_stat.error();
    if (*memory_stat && stats.memory_bytes) {
      // v1's memory.stat has the cgroup's own counters and total_* ones that include the
      // cgroups below, which is what usage_in_bytes covers.
      auto inactive = key(**memory_stat, v2 ? "inactive_file" : "total_inactive_file");
      if (inactive) stats.memory_working_set_bytes = saturating_sub(*stats.memory_bytes, *inactive);
    }
  }

  if (io) {
    bool v2 = io->version == CgroupVersion::v2;
    auto text = read_cgroup_file(io->dir, v2 ? std::string_view("io.stat") : blkio_file);
    if (!text) return text.error();
    if (*text) {
      auto bytes = v2 ? parse_io_stat(**text) : parse_blkio_service_bytes(**text);
      if (!bytes) return bytes.error().context(fmt::format("{}/{}", io->dir, v2 ? "io.stat" : blkio_file));
      stats.io_read_bytes = bytes->read;
      stats.io_write_bytes = bytes->write;
    }
  }

  if (pids) SYSCHAOS_TRY(read_value(pids->dir, "pids.current", stats.pids));

  auto procs = read_cgroup_procs(process_dir);
  if (!procs) {
    if (vanished(procs.error().sys_errno()))
      return Error(fmt::format("cgroup {} was removed", process_dir), ENOENT);
    return procs.error();
  }
  target_pids = std::move(*procs);
  return ok();
}

Result<void> ResourceSampler::State::sample_processes(ResourceStats& stats,
                                                      std::vector<pid_t>& target_pids) {
  auto all = read_all_proc_stats();
  if (!all) return all.error();
  std::unordered_map<pid_t, const ProcStat*> by_pid;
  for (const ProcStat& stat : *all) by_pid.emplace(stat.pid, &stat);
  auto is_same_process = [&](pid_t pid, uint64_t start_time) {
    auto it = by_pid.find(pid);
    return it != by_pid.end() && it->second->start_time == start_time;
  };

  // The tree grows from the processes already known to be the target's (so an orphan,
  // reparented to init, stays the target's), and from the roots before the first sample.
  std::vector<pid_t> seeds;
  if (tracked.empty()) seeds = roots;
  for (const auto& [pid, process] : tracked)
    if (is_same_process(pid, process.start_time)) seeds.push_back(pid);

  struct Now {
    ProcStat stat;
    ProcStatus status;
    std::optional<ProcIo> io;
  };
  bool io_readable = true;
  // Reads one process's counters; nullopt once it has gone (or its number was reused).
  auto read_process = [&](pid_t pid, uint64_t start_time) -> Result<std::optional<Now>> {
    auto stat_text = read_text_file(fmt::format("/proc/{}/stat", pid));
    if (!stat_text) return std::optional<Now>();
    auto stat = parse_proc_stat(*stat_text);
    if (!stat) return stat.error().context(fmt::format("/proc/{}/stat", pid));
    if (stat->start_time != start_time) return std::optional<Now>();
    auto status_text = read_text_file(fmt::format("/proc/{}/status", pid));
    if (!status_text) return std::optional<Now>();
    auto status = parse_proc_status(*status_text);
    if (!status) return status.error().context(fmt::format("/proc/{}/status", pid));
    Now now{*stat, *status, std::nullopt};
    auto io_text = read_text_file(fmt::format("/proc/{}/io", pid));
    if (io_text) {
      auto io = parse_proc_io(*io_text);
      if (!io) return io.error().context(fmt::format("/proc/{}/io", pid));
      now.io = *io;
    } else if (io_text.error().sys_errno() == EACCES || io_text.error().sys_errno() == EPERM) {
      io_readable = false;  // another user's process, without CAP_SYS_PTRACE
    }
    return std::optional<Now>(std::move(now));
  };

  // Parents are read before their children. A child reaped between the two reads is then
  // missing and handled as gone below; read the other way round, the parent's counters could
  // include a child that was also counted itself.
  std::vector<pid_t> candidates = descendants_of(*all, seeds);
  std::unordered_map<pid_t, int> depth;
  for (pid_t pid : candidates) {
    int d = 0;
    for (pid_t up = by_pid.at(pid)->ppid; d < 4096; ++d) {
      if (!std::binary_search(candidates.begin(), candidates.end(), up)) break;
      up = by_pid.at(up)->ppid;
    }
    depth[pid] = d;
  }
  std::stable_sort(candidates.begin(), candidates.end(),
                   [&](pid_t a, pid_t b) { return depth[a] < depth[b]; });

  std::unordered_map<pid_t, Now> current;
  for (pid_t pid : candidates) {
    auto now = read_process(pid, by_pid.at(pid)->start_time);
    if (!now) return now.error();
    if (*now) current.emplace(pid, std::move(**now));
  }

  // Counters of a process include the children it has reaped, so when a tracked child is
  // gone, its parent's (or nearest live tracked ancestor's) jump holds the child's whole life,
  // and what was already counted for the child is taken off. That needs the ancestor's
  // counters read after the child was seen gone: the kernel adds a child's times to its
  // parent before the child's /proc entry disappears, so a read after the child is gone
  // always includes it, while one from the scan above may not.
  std::unordered_map<pid_t, TrackedProcess> gone_share;  // per live ancestor
  std::vector<pid_t> share_receivers;
  for (const auto& [pid, process] : tracked) {
    auto live = current.find(pid);
    if (live != current.end() && live->second.stat.start_time == process.start_time) continue;
    pid_t ancestor = process.ppid;
    for (int depth = 0; depth < 4096; ++depth) {
      auto up = tracked.find(ancestor);
      if (up == tracked.end()) break;
      auto up_live = current.find(ancestor);
      if (up_live != current.end() && up_live->second.stat.start_time == up->second.start_time) {
        TrackedProcess& share = gone_share[ancestor];
        if (share.cpu_ticks == 0 && share.io_read == 0 && share.io_write == 0 &&
            std::find(share_receivers.begin(), share_receivers.end(), ancestor) == share_receivers.end())
          share_receivers.push_back(ancestor);
        share.cpu_ticks += process.cpu_ticks;
        share.io_read += process.io_read;
        share.io_write += process.io_write;
        break;
      }
      ancestor = up->second.ppid;
    }
  }
  for (pid_t pid : share_receivers) {
    auto now = read_process(pid, current.at(pid).stat.start_time);
    if (!now) return now.error();
    // Gone too since the scan: its last counters stand, and its own parent's jump will show
    // the rest at the next sample.
    if (*now) current.at(pid) = std::move(**now);
  }

  // A zombie has exited, but stays in the accounting until its parent reaps it (its time then
  // moves into the parent's cutime, which the gone-child share above expects).
  bool any_running = std::any_of(current.begin(), current.end(), [](const auto& entry) {
    return entry.second.stat.state != 'Z' && entry.second.stat.state != 'X';
  });
  if (!any_running) {
    if (roots.size() == 1) return Error(fmt::format("process {} has exited", roots.front()), ESRCH);
    return Error(fmt::format("the processes of the target (started from pids {}) have all exited",
                             fmt::join(roots, ", ")),
                 ESRCH);
  }
  if (!io_readable) tree_io_readable = false;

  uint64_t cpu_delta_ticks = 0, io_read_delta = 0, io_write_delta = 0;
  uint64_t rss_sum = 0, threads = 0, largest_hwm = 0;
  bool any_rss = false;
  std::unordered_map<pid_t, TrackedProcess> next;
  for (const auto& [pid, entry] : current) {
    const ProcStat& stat = entry.stat;
    TrackedProcess now_seen{stat.start_time, stat.ppid,
                            stat.utime + stat.stime + stat.cutime + stat.cstime,
                            entry.io ? entry.io->read_bytes : 0, entry.io ? entry.io->write_bytes : 0};
    auto before = tracked.find(pid);
    if (before != tracked.end() && before->second.start_time == stat.start_time) {
      const TrackedProcess& share = gone_share[pid];
      cpu_delta_ticks += saturating_sub(now_seen.cpu_ticks, before->second.cpu_ticks + share.cpu_ticks);
      io_read_delta += saturating_sub(now_seen.io_read, before->second.io_read + share.io_read);
      io_write_delta += saturating_sub(now_seen.io_write, before->second.io_write + share.io_write);
    } else {
      // New since the last sample: forked with zeroed counters, so everything is new use
      // (at the baseline: everything the process has used so far).
      cpu_delta_ticks += now_seen.cpu_ticks;
      io_read_delta += now_seen.io_read;
      io_write_delta += now_seen.io_write;
    }
    if (entry.status.rss_bytes) {
      rss_sum += *entry.status.rss_bytes;
      any_rss = true;
    }
    largest_hwm = std::max(largest_hwm, entry.status.hwm_bytes.value_or(0));
    threads += entry.status.threads;
    next.emplace(pid, now_seen);
    target_pids.push_back(pid);
  }
  tracked = std::move(next);
  std::sort(target_pids.begin(), target_pids.end());

  tree_cpu_ns += cpu_delta_ticks * (1'000'000'000ULL / static_cast<uint64_t>(clock_ticks_per_second));
  tree_io_read += io_read_delta;
  tree_io_write += io_write_delta;
  stats.cpu_usage_ns = tree_cpu_ns;
  if (tree_io_readable) {
    stats.io_read_bytes = tree_io_read;
    stats.io_write_bytes = tree_io_write;
  }
  if (any_rss) {
    stats.memory_bytes = rss_sum;
    // A lower bound of the tree's peak: its largest summed RSS at a sample, or one
    // process's own high-water mark, whichever is larger; never decreasing.
    tree_memory_peak = std::max({tree_memory_peak, rss_sum, largest_hwm});
    stats.memory_peak_bytes = tree_memory_peak;
  }
  stats.pids = threads;
  return ok();
}

void ResourceSampler::State::sample_network(ResourceStats& stats,
                                            const std::vector<pid_t>& target_pids) {
  // The namespace is read through a live target process: the previous one while it is still
  // the target's, else the first that answers (a container's processes come and go).
  std::vector<pid_t> order;
  if (std::binary_search(target_pids.begin(), target_pids.end(), net_pid)) order.push_back(net_pid);
  for (pid_t pid : target_pids)
    if (pid != net_pid) order.push_back(pid);
  for (pid_t pid : order) {
    auto netns_now = network_namespace_of(pid);
    if (!netns_now) continue;
    auto text = read_text_file(fmt::format("/proc/{}/net/dev", pid));
    if (!text) continue;
    auto interfaces = parse_proc_net_dev(*text);
    if (!interfaces) continue;
    if (*netns_now != netns || !net_shared) {
      auto shared = network_namespace_shared(*netns_now, target_pids);
      net_shared = shared ? std::optional<bool>(*shared) : std::nullopt;
      netns = *netns_now;
    }
    InterfaceCounters sum = sum_target_interfaces(*interfaces);
    net_pid = pid;
    net_interfaces = sum.name;
    stats.net_rx_bytes = sum.rx_bytes;
    stats.net_tx_bytes = sum.tx_bytes;
    stats.net_rx_packets = sum.rx_packets;
    stats.net_tx_packets = sum.tx_packets;
    stats.net_rx_drops = sum.rx_drops;
    stats.net_tx_drops = sum.tx_drops;
    stats.network_shared = net_shared;
    return;
  }
  net_pid = 0;
}

}  // namespace syschaos
