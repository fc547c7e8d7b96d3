#include "failstop/restore_state.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <memory>
#include <nlohmann/json.hpp>
#include <thread>

#include "core/atomic_file.hpp"
#include "target/cgroup_paths.hpp"
#include "target/proc_files.hpp"

namespace syschaos::failstop {

using nlohmann::json;

std::string to_json(const RestoreState& state) {
  json j;
  j["owner"] = state.owner;
  j["owner_start"] = state.owner_start;
  j["frozen"] = json::array();
  for (const auto& f : state.frozen)
    j["frozen"].push_back({{"dir", f.dir}, {"kind", f.kind == FreezerKind::kV2 ? "v2" : "v1"}});
  j["moved"] = json::array();
  for (const auto& m : state.moved) {
    json origins = json::object();
    for (const auto& [pid, dir] : m.origins) origins[std::to_string(pid)] = dir;
    j["moved"].push_back(
        {{"transient_dir", m.transient_dir}, {"fallback_dir", m.fallback_dir}, {"origins", origins}});
  }
  return j.dump(2) + "\n";
}

Result<RestoreState> restore_state_from_json(std::string_view text) {
  try {
    json j = json::parse(text);
    RestoreState state;
    state.owner = j.at("owner").get<pid_t>();
    state.owner_start = j.value("owner_start", 0ULL);
    for (const auto& f : j.at("frozen")) {
      std::string kind = f.at("kind").get<std::string>();
      if (kind != "v1" && kind != "v2") return Error("state file: freezer kind must be v1 or v2");
      state.frozen.push_back({f.at("dir").get<std::string>(), kind == "v2" ? FreezerKind::kV2 : FreezerKind::kV1});
    }
    for (const auto& m : j.at("moved")) {
      MovedProcesses moved;
      moved.transient_dir = m.at("transient_dir").get<std::string>();
      moved.fallback_dir = m.at("fallback_dir").get<std::string>();
      for (const auto& [pid, dir] : m.at("origins").items())
        moved.origins[static_cast<pid_t>(std::stol(pid))] = dir.get<std::string>();
      state.moved.push_back(std::move(moved));
    }
    return state;
  } catch (const std::exception& e) {
    return Error(fmt::format("state file: {}", e.what()));
  }
}

std::string state_dir() {
  if (const char* dir = std::getenv("SYSCHAOS_FAILSTOP_STATE_DIR"); dir && *dir) return dir;
  return "/run/syschaos/failstop";
}

std::string state_file_for(pid_t owner) { return fmt::format("{}/{}.json", state_dir(), owner); }

namespace {

Result<void> make_dirs(const std::string& dir) {
  std::string partial;
  size_t pos = 0;
  while (pos != std::string::npos) {
    pos = dir.find('/', pos + 1);
    partial = dir.substr(0, pos);
    if (partial.empty()) continue;
    if (::mkdir(partial.c_str(), 0700) != 0 && errno != EEXIST) return Error::sys("mkdir " + partial);
  }
  return ok();
}

}  // namespace

Result<void> save_state(const std::string& path, const RestoreState& state) {
  SYSCHAOS_TRY(make_dirs(path.substr(0, path.rfind('/'))));
  // No fsync, on purpose: the file must survive the death of syschaos, not of the machine (a
  // reboot leaves no frozen or transient cgroup to restore), and the page cache already gives
  // that. fsync on a disk-backed /run cost up to 250 ms here, on the failure's path.
  return write_file_atomically(path, to_json(state), {.sync = FileSync::kProcessCrashOnly, .mode = 0600});
}

Result<RestoreState> load_state(const std::string& path) {
  auto text = read_text_file(path);
  if (!text) return text.error();
  auto state = restore_state_from_json(*text);
  if (!state) return state.error().context(path);
  return state;
}

namespace {

// Moves one process (all its threads) into the cgroup at `dir`.
Result<void> move_process(pid_t pid, const std::string& dir) {
  return write_cgroup_file(dir + "/cgroup.procs", std::to_string(pid));
}

bool vanished(int err) { return err == ENOENT || err == ENODEV || err == ESRCH; }

}  // namespace

Result<void> restore(const RestoreState& state) {
  std::vector<std::string> failures;
  // Thaw first: a process must be able to run again wherever it ends up.
  for (const auto& f : state.frozen) {
    CgroupFreezer freezer(f.dir, f.kind);
    if (auto r = freezer.thaw(); !r) failures.push_back(r.error().message());
  }
  for (const auto& m : state.moved) {
    auto pids = read_cgroup_procs(m.transient_dir, true);
    if (!pids) {
      if (!vanished(pids.error().sys_errno())) failures.push_back(pids.error().message());
      continue;
    }
    for (pid_t pid : *pids) {
      auto origin = m.origins.find(pid);
      const std::string& home = origin != m.origins.end() ? origin->second : m.fallback_dir;
      auto r = move_process(pid, home);
      // The origin may have been removed meanwhile: the fallback is the v2 root, which
      // always exists and runs every process.
      if (!r && !vanished(r.error().sys_errno())) failures.push_back(r.error().message());
      if (!r && r.error().sys_errno() == ENOENT && home != m.fallback_dir) {
        if (auto again = move_process(pid, m.fallback_dir); !again) failures.push_back(again.error().message());
      }
    }
    // rmdir fails with EBUSY for a moment while exiting tasks still count as members.
    for (int attempt = 0;; ++attempt) {
      if (::rmdir(m.transient_dir.c_str()) == 0 || errno == ENOENT) break;
      if (errno != EBUSY || attempt == 200) {
        failures.push_back(Error::sys("rmdir " + m.transient_dir).message());
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  if (failures.empty()) return ok();
  std::string message = "restore incomplete: ";
  for (size_t i = 0; i < failures.size(); ++i) message += (i ? "; " : "") + failures[i];
  return Error(message);
}

unsigned long long process_start_time(pid_t pid) {
  auto text = read_text_file(fmt::format("/proc/{}/stat", pid));
  if (!text) return 0;
  // The command name (field 2) may hold spaces and parentheses: count from the last ')'.
  size_t close = text->rfind(')');
  if (close == std::string::npos) return 0;
  std::string_view rest(*text);
  rest.remove_prefix(close + 2);
  // rest starts at field 3; the start time is field 22.
  for (int field = 3; field < 22; ++field) {
    size_t space = rest.find(' ');
    if (space == std::string_view::npos) return 0;
    rest.remove_prefix(space + 1);
  }
  return std::strtoull(std::string(rest.substr(0, rest.find(' '))).c_str(), nullptr, 10);
}

bool owner_gone(const RestoreState& state) {
  if (state.owner <= 0) return true;
  unsigned long long start = process_start_time(state.owner);
  return start == 0 || (state.owner_start != 0 && start != state.owner_start);
}

std::vector<std::string> state_files(std::string_view suffix) {
  std::vector<std::string> paths;
  std::string dir = state_dir();
  std::unique_ptr<DIR, int (*)(DIR*)> handle(::opendir(dir.c_str()), &::closedir);
  if (!handle) return paths;
  while (const dirent* entry = ::readdir(handle.get())) {
    std::string name = entry->d_name;
    if (name.ends_with(suffix)) paths.push_back(dir + "/" + name);
  }
  return paths;
}

std::vector<StaleRestore> restore_stale_states(bool even_live_owners) {
  std::vector<StaleRestore> done;
  for (const std::string& path : state_files(".json")) {
    auto state = load_state(path);
    if (!state) {
      done.push_back({path, RestoreState{}, state.error()});
      continue;
    }
    if (!even_live_owners && !owner_gone(*state)) continue;
    auto outcome = restore(*state);
    if (outcome) ::unlink(path.c_str());
    done.push_back({path, std::move(*state), std::move(outcome)});
  }
  return done;
}

}  // namespace syschaos::failstop
