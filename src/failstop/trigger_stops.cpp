#include "failstop/trigger_stops.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "core/atomic_file.hpp"
#include "failstop/failstop.hpp"
#include "failstop/restore_state.hpp"
#include "target/proc_files.hpp"

namespace syschaos::failstop {

std::string trigger_stops_path(const std::string& state_path) {
  std::string base = state_path.ends_with(".json") ? state_path.substr(0, state_path.size() - 5) : state_path;
  return base + ".stops";
}

Result<void> save_trigger_stops(const std::string& path, const std::vector<pid_t>& pids) {
  // The state directory may not exist yet: the state file is written at the first failure.
  for (size_t slash = path.find('/', 1); slash != std::string::npos; slash = path.find('/', slash + 1)) {
    std::string dir = path.substr(0, slash);
    if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) return Error::sys("mkdir " + dir);
  }
  nlohmann::json j;
  j["owner"] = ::getpid();
  j["owner_start"] = process_start_time(::getpid());
  j["processes"] = nlohmann::json::array();
  for (pid_t pid : pids)
    if (unsigned long long start = process_start_time(pid)) j["processes"].push_back({{"pid", pid}, {"start", start}});
  // No fsync, as for the restore state: the file must outlive syschaos (a guard or the next
  // run reads it), not a reboot (which leaves no stopped process), and it is written on the
  // failure's path, where an fsync on a disk-backed /run cost up to 250 ms.
  return write_file_atomically(path, j.dump() + "\n", {.sync = FileSync::kProcessCrashOnly, .mode = 0600});
}

namespace {

struct StopsFile {
  pid_t owner = 0;
  unsigned long long owner_start = 0;
  std::vector<StoppableProcess> processes;
};

Result<StopsFile> load_file(const std::string& path) {
  auto text = read_text_file(path);
  if (!text) return text.error();
  try {
    auto j = nlohmann::json::parse(*text);
    StopsFile f;
    f.owner = j.at("owner").get<pid_t>();
    f.owner_start = j.value("owner_start", 0ULL);
    for (const auto& p : j.at("processes"))
      f.processes.push_back({p.at("pid").get<pid_t>(), p.at("start").get<unsigned long long>()});
    return f;
  } catch (const std::exception& e) {
    return Error(fmt::format("{}: {}", path, e.what()));
  }
}

// The hex mask after `field` in /proc/PID/status ("ShdPnd:\t0000000000040000").
unsigned long long status_mask(const std::string& status, std::string_view field) {
  size_t at = status.find(field);
  if (at == std::string::npos) return 0;
  return std::strtoull(status.c_str() + at + field.size(), nullptr, 16);
}

}  // namespace

Result<std::vector<StoppableProcess>> load_trigger_stops(const std::string& path) {
  auto f = load_file(path);
  if (!f) return f.error();
  return f->processes;
}

bool stopped_or_stopping(pid_t pid) {
  auto status = read_text_file(fmt::format("/proc/{}/status", pid));
  if (!status) return false;
  if (status->find("State:\tT") != std::string::npos) return true;
  // Stop signals pending for the process: SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU.
  unsigned long long stops = 0;
  for (int sig : {SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU}) stops |= 1ULL << (sig - 1);
  return (status_mask(*status, "ShdPnd:") & stops) != 0;
}

size_t continue_recorded(const std::vector<StoppableProcess>& processes) {
  std::vector<pid_t> same;
  for (const StoppableProcess& p : processes)
    if (p.start != 0 && process_start_time(p.pid) == p.start) same.push_back(p.pid);
  size_t continued = 0;
  for (pid_t pid : with_descendants(same))
    if (stopped_or_stopping(pid) && ::kill(pid, SIGCONT) == 0) ++continued;
  return continued;
}

std::vector<std::string> continue_stale_trigger_stops(bool even_live_owners) {
  std::vector<std::string> lines;
  for (const std::string& path : state_files(".stops")) {
    auto f = load_file(path);
    if (!f) {
      lines.push_back(f.error().message());
      continue;
    }
    RestoreState owner;
    owner.owner = f->owner;
    owner.owner_start = f->owner_start;
    if (!even_live_owners && !owner_gone(owner)) continue;
    size_t n = continue_recorded(f->processes);
    ::unlink(path.c_str());
    lines.push_back(fmt::format("{} (syschaos pid {}): continued {} process(es) stopped by its syscall trigger",
                                path, f->owner, n));
  }
  return lines;
}

}  // namespace syschaos::failstop
