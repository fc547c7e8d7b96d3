#include "fs/container_state.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/atomic_file.hpp"

namespace syschaos::fs {

namespace {

uint32_t fnv1a(const std::string& s) {
  uint32_t h = 2166136261u;
  for (unsigned char c : s) {
    h ^= c;
    h *= 16777619u;
  }
  return h;
}

Result<void> make_dirs(const std::string& dir) {
  std::string cur;
  std::stringstream ss(dir);
  std::string part;
  while (std::getline(ss, part, '/')) {
    if (part.empty()) continue;
    cur += "/" + part;
    if (::mkdir(cur.c_str(), 0700) != 0 && errno != EEXIST) return Error::sys("mkdir " + cur);
  }
  return ok();
}

}  // namespace

std::string container_state_base(const std::string& container_id, const std::string& volume) {
  return fmt::format("{}/{}-{:08x}", kContainerStateDir, container_id.substr(0, 12), fnv1a(volume));
}

Result<void> write_state(const ContainerInjectionState& s) {
  SYSCHAOS_TRY(make_dirs(kContainerStateDir));
  nlohmann::json j{{"container_id", s.container_id},   {"container_name", s.container_name},
                   {"volume", s.volume},               {"volume_mnt_id", s.volume_mnt_id},
                   {"chaos_mnt_id", s.chaos_mnt_id},   {"supervisor_pid", s.supervisor_pid},
                   {"cli_pid", s.cli_pid},             {"control_socket", s.control_socket},
                   {"stage_dir", s.stage_dir}};
  // No fsync: the file tells `fs restore` and the next injection how to undo a repoint after
  // syschaos or its supervisor died; a reboot removes the mounts it describes, so it only has
  // to outlive the process, which the page cache gives.
  return write_file_atomically(container_state_base(s.container_id, s.volume) + ".json", j.dump(2) + "\n",
                               {.sync = FileSync::kProcessCrashOnly, .mode = 0644});
}

Result<std::optional<ContainerInjectionState>> read_state(const std::string& json_path) {
  std::ifstream in(json_path);
  if (!in) {
    if (errno == ENOENT) return std::optional<ContainerInjectionState>{};
    return Error::sys("open " + json_path);
  }
  try {
    auto j = nlohmann::json::parse(in);
    ContainerInjectionState s;
    s.container_id = j.at("container_id").get<std::string>();
    s.container_name = j.value("container_name", "");
    s.volume = j.at("volume").get<std::string>();
    s.volume_mnt_id = j.value("volume_mnt_id", -1);
    s.chaos_mnt_id = j.value("chaos_mnt_id", -1);
    s.supervisor_pid = j.value("supervisor_pid", 0);
    s.cli_pid = j.value("cli_pid", 0);
    s.control_socket = j.value("control_socket", "");
    s.stage_dir = j.value("stage_dir", "");
    return std::optional<ContainerInjectionState>(std::move(s));
  } catch (const std::exception& e) {
    return Error(fmt::format("{}: not a syschaos state file: {}", json_path, e.what()));
  }
}

std::vector<std::string> state_files_of(const std::string& container_id) {
  std::vector<std::string> out;
  std::string prefix = container_id.substr(0, 12) + "-";
  std::unique_ptr<DIR, int (*)(DIR*)> d(::opendir(kContainerStateDir), ::closedir);
  if (!d) return out;
  // Only finished files: a temporary of write_file_atomically ends in .json.tmp.PID.
  while (auto* e = ::readdir(d.get())) {
    std::string n = e->d_name;
    if (n.starts_with(prefix) && n.ends_with(".json")) out.push_back(std::string(kContainerStateDir) + "/" + n);
  }
  return out;
}

void remove_state(const ContainerInjectionState& s) {
  ::unlink((container_state_base(s.container_id, s.volume) + ".json").c_str());
}

bool is_live_syschaos(pid_t pid) {
  if (pid <= 0) return false;
  struct stat a {}, b {};
  if (::stat(fmt::format("/proc/{}/exe", pid).c_str(), &a) != 0) return false;
  if (::stat("/proc/self/exe", &b) != 0) return false;
  return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

}  // namespace syschaos::fs
