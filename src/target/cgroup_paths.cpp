#include "target/cgroup_paths.hpp"

#include <dirent.h>
#include <fmt/ranges.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <memory>

#include "core/text_fields.hpp"
#include "target/proc_files.hpp"

namespace syschaos {

namespace {

std::vector<std::string_view> split_lines(std::string_view text) {
  std::vector<std::string_view> lines;
  for (std::string_view line : split(text, '\n'))
    if (!line.empty()) lines.push_back(line);
  return lines;
}

// mountinfo escapes space, tab, newline and backslash in paths as \ooo (octal).
std::string unescape_mountinfo(std::string_view field) {
  auto is_octal = [](char c) { return c >= '0' && c <= '7'; };
  std::string out;
  out.reserve(field.size());
  for (size_t i = 0; i < field.size(); ++i) {
    if (field[i] == '\\' && i + 3 < field.size() && is_octal(field[i + 1]) &&
        is_octal(field[i + 2]) && is_octal(field[i + 3])) {
      out.push_back(static_cast<char>((field[i + 1] - '0') * 64 + (field[i + 2] - '0') * 8 +
                                      (field[i + 3] - '0')));
      i += 3;
      continue;
    }
    out.push_back(field[i]);
  }
  return out;
}

// Super options of a v1 cgroup mount mix mount flags with the hierarchy's controllers;
// these are the flags the kernel prints (cgroup1_show_options), everything else is a
// controller or "name=...".
bool is_cgroup1_mount_flag(std::string_view option) {
  static constexpr std::string_view kFlags[] = {"rw",
                                                "ro",
                                                "none",
                                                "noprefix",
                                                "xattr",
                                                "clone_children",
                                                "cpuset_v2_mode",
                                                "favordynmods",
                                                "nofavordynmods"};
  if (std::find(std::begin(kFlags), std::end(kFlags), option) != std::end(kFlags)) return true;
  return option.starts_with("release_agent=");
}

// "/a/b/" -> "/a/b"; keeps "/" as is.
std::string trim_trailing_slashes(std::string_view path) {
  while (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  return std::string(path);
}

bool has_dotdot_component(std::string_view path) {
  for (std::string_view part : split(path, '/'))
    if (part == "..") return true;
  return false;
}

// `path` relative to `root` ("" when equal, "/sub" below it), comparing whole components so
// that root "/docker/ab" does not contain "/docker/abc".
std::optional<std::string> strip_root(std::string_view path, std::string_view root) {
  std::string normalized_path = trim_trailing_slashes(path);
  std::string normalized_root = trim_trailing_slashes(root);
  if (normalized_root == "/") return normalized_path == "/" ? std::string() : normalized_path;
  if (normalized_path == normalized_root) return std::string();
  if (normalized_path.starts_with(normalized_root) &&
      normalized_path[normalized_root.size()] == '/')
    return normalized_path.substr(normalized_root.size());
  return std::nullopt;
}

bool is_inside(std::string_view path, std::string_view dir) {
  return strip_root(path, dir).has_value();
}

std::string hierarchy_display_name(std::string_view hierarchy) {
  if (hierarchy == kCgroupV2Hierarchy) return "cgroup v2";
  return fmt::format("cgroup v1 {}", hierarchy);
}

// Lower is preferred: every process is in the pids, memory and cpu hierarchies, while
// named hierarchies (name=systemd) are bookkeeping only and may be laid out differently.
int mount_preference(const CgroupMount& mount) {
  if (mount.v2) return 0;
  auto has = [&](std::string_view c) {
    return std::find(mount.controllers.begin(), mount.controllers.end(), c) !=
           mount.controllers.end();
  };
  if (has("pids")) return 1;
  if (has("memory")) return 2;
  if (has("cpu")) return 3;
  bool named_only = std::all_of(mount.controllers.begin(), mount.controllers.end(),
                                [](const std::string& c) { return c.starts_with("name="); });
  return named_only ? 5 : 4;
}

bool is_cgroup_dir(const std::string& dir) {
  struct stat st {};
  return ::stat((dir + "/cgroup.procs").c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

struct DirCloser {
  void operator()(DIR* dir) const { ::closedir(dir); }
};
using DirHandle = std::unique_ptr<DIR, DirCloser>;

// errno values that mean "this cgroup went away while we looked" (ENODEV: kernfs node
// removed between open and read) or "this cgroup lists no processes of its own"
// (EOPNOTSUPP: a threaded cgroup; its processes are listed by its threaded domain).
bool vanished_or_threaded(int err) { return err == ENOENT || err == ENODEV || err == EOPNOTSUPP; }

Result<void> collect_cgroup_procs(const std::string& dir, bool is_top, bool recurse,
                                  std::vector<pid_t>& pids) {
  auto text = read_text_file(dir + "/cgroup.procs");
  if (!text) {
    if (!is_top && vanished_or_threaded(text.error().sys_errno())) return ok();
    return text.error();
  }
  auto listed = parse_pid_list(*text);
  if (!listed) return listed.error().context(dir + "/cgroup.procs");
  pids.insert(pids.end(), listed->begin(), listed->end());
  if (!recurse) return ok();

  DirHandle handle(::opendir(dir.c_str()));
  if (!handle) {
    if (!is_top && (errno == ENOENT || errno == ENODEV)) return ok();
    return Error::sys(fmt::format("opendir {}", dir));
  }
  for (;;) {
    errno = 0;
    const dirent* entry = ::readdir(handle.get());
    if (!entry) {
      if (errno != 0 && errno != ENOENT && errno != ENODEV)
        return Error::sys(fmt::format("readdir {}", dir));
      break;
    }
    std::string_view name = entry->d_name;
    if (name == "." || name == "..") continue;
    std::string child = dir + "/" + entry->d_name;
    bool is_dir = entry->d_type == DT_DIR;
    if (entry->d_type == DT_UNKNOWN) {
      struct stat st {};
      is_dir = ::lstat(child.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
    }
    if (!is_dir) continue;
    SYSCHAOS_TRY(collect_cgroup_procs(child, false, true, pids));
  }
  return ok();
}

}  // namespace

bool CgroupMount::carries(std::string_view hierarchy) const {
  if (hierarchy == kCgroupV2Hierarchy) return v2;
  return !v2 && std::find(controllers.begin(), controllers.end(), hierarchy) != controllers.end();
}

bool CgroupMembership::in(std::string_view hierarchy) const {
  if (hierarchy == kCgroupV2Hierarchy) return v2();
  return std::find(controllers.begin(), controllers.end(), hierarchy) != controllers.end();
}

std::vector<CgroupMount> parse_cgroup_mounts(std::string_view mountinfo) {
  std::vector<CgroupMount> mounts;
  for (std::string_view line : split_lines(mountinfo)) {
    std::vector<std::string_view> fields = split(line, ' ');
    // id parent major:minor root mount_point options [optional...] - fstype source super
    auto separator = std::find(fields.begin(), fields.end(), std::string_view("-"));
    if (fields.size() < 6 || separator == fields.end() || fields.end() - separator < 4) continue;
    std::string_view fstype = separator[1];
    if (fstype != "cgroup" && fstype != "cgroup2") continue;
    CgroupMount mount;
    mount.root = unescape_mountinfo(fields[3]);
    mount.mount_point = unescape_mountinfo(fields[4]);
    mount.v2 = fstype == "cgroup2";
    if (!mount.v2) {
      for (std::string_view option : split(separator[3], ','))
        if (!option.empty() && !is_cgroup1_mount_flag(option))
          mount.controllers.emplace_back(option);
    }
    mounts.push_back(std::move(mount));
  }
  return mounts;
}

Result<std::vector<CgroupMount>> read_cgroup_mounts() {
  auto text = read_text_file("/proc/self/mountinfo");
  if (!text) return text.error();
  return parse_cgroup_mounts(*text);
}

Result<std::vector<CgroupMembership>> parse_proc_cgroup(std::string_view text) {
  std::vector<CgroupMembership> memberships;
  for (std::string_view line : split_lines(text)) {
    size_t first = line.find(':');
    size_t second = first == std::string_view::npos ? first : line.find(':', first + 1);
    if (second == std::string_view::npos)
      return Error(fmt::format("malformed cgroup line '{}' (want ID:CONTROLLERS:PATH)", line));
    CgroupMembership membership;
    std::string_view id = line.substr(0, first);
    auto hierarchy_id = parse_number<unsigned>(id);
    if (!hierarchy_id) return Error(fmt::format("malformed cgroup line '{}' (bad hierarchy id)", line));
    membership.hierarchy_id = *hierarchy_id;
    std::string_view controllers = line.substr(first + 1, second - first - 1);
    if (!controllers.empty())
      for (std::string_view c : split(controllers, ',')) membership.controllers.emplace_back(c);
    membership.path = std::string(line.substr(second + 1));
    memberships.push_back(std::move(membership));
  }
  return memberships;
}

Result<std::vector<CgroupMembership>> read_proc_cgroup(pid_t pid) {
  auto text = read_text_file(fmt::format("/proc/{}/cgroup", pid));
  if (!text) return text.error();
  auto memberships = parse_proc_cgroup(*text);
  if (!memberships) return memberships.error().context(fmt::format("/proc/{}/cgroup", pid));
  return memberships;
}

std::optional<std::string> cgroup_path_to_dir(const std::vector<CgroupMount>& mounts,
                                              std::string_view hierarchy, std::string_view path) {
  // A path with ".." lies outside our cgroup namespace: no mount of ours shows it.
  if (!path.starts_with('/') || has_dotdot_component(path)) return std::nullopt;
  for (const CgroupMount& mount : mounts) {
    if (!mount.carries(hierarchy)) continue;
    if (auto relative = strip_root(path, mount.root))
      return trim_trailing_slashes(mount.mount_point) + *relative;
  }
  return std::nullopt;
}

Result<std::string> cgroup_dir_from(std::string_view proc_cgroup,
                                    const std::vector<CgroupMount>& mounts,
                                    std::string_view hierarchy) {
  auto memberships = parse_proc_cgroup(proc_cgroup);
  if (!memberships) return memberships.error();
  for (const CgroupMembership& membership : *memberships) {
    if (!membership.in(hierarchy)) continue;
    if (auto dir = cgroup_path_to_dir(mounts, hierarchy, membership.path)) return *dir;
    return Error(
        fmt::format("the {} cgroup {} is not visible through any mount of that "
                    "hierarchy in /proc/self/mountinfo",
                    hierarchy_display_name(hierarchy), membership.path));
  }
  return Error(fmt::format("the process is in no {} hierarchy", hierarchy_display_name(hierarchy)));
}

Result<std::string> cgroup_dir_of_pid(pid_t pid, std::string_view hierarchy) {
  auto proc_cgroup = read_text_file(fmt::format("/proc/{}/cgroup", pid));
  if (!proc_cgroup) return proc_cgroup.error();
  auto mounts = read_cgroup_mounts();
  if (!mounts) return mounts.error();
  auto dir = cgroup_dir_from(*proc_cgroup, *mounts, hierarchy);
  if (!dir) return dir.error().context(fmt::format("pid {}", pid));
  return dir;
}

std::vector<std::string> cgroup_dir_candidates(std::string_view spec,
                                               const std::vector<CgroupMount>& mounts) {
  std::vector<std::string> candidates;
  if (spec.empty()) return candidates;
  std::string path = trim_trailing_slashes(spec);
  if (path.starts_with('/')) {
    // A path inside a cgroup mount, or inside the directory that holds the mounts
    // (/sys/fs/cgroup on a hybrid host), is a file system path and means only itself.
    for (const CgroupMount& mount : mounts) {
      std::string mount_point = trim_trailing_slashes(mount.mount_point);
      std::string parent = mount_point.substr(0, mount_point.rfind('/'));
      if (is_inside(path, mount_point) || (!parent.empty() && is_inside(path, parent)))
        return {path};
    }
  } else {
    path.insert(path.begin(), '/');
  }
  if (has_dotdot_component(path)) return candidates;

  std::vector<const CgroupMount*> ordered;
  for (const CgroupMount& mount : mounts) ordered.push_back(&mount);
  std::stable_sort(ordered.begin(), ordered.end(), [](const CgroupMount* a, const CgroupMount* b) {
    return mount_preference(*a) < mount_preference(*b);
  });
  for (const CgroupMount* mount : ordered) {
    auto relative = strip_root(path, mount->root);
    if (!relative) continue;
    std::string dir = trim_trailing_slashes(mount->mount_point) + *relative;
    if (std::find(candidates.begin(), candidates.end(), dir) == candidates.end())
      candidates.push_back(std::move(dir));
  }
  return candidates;
}

Result<std::string> find_cgroup_dir(std::string_view spec) {
  if (spec.empty()) return Error("empty cgroup path");
  auto mounts = read_cgroup_mounts();
  if (!mounts) return mounts.error();
  if (mounts->empty())
    return Error(fmt::format("no such cgroup: {} (no cgroup file system is mounted)", spec));
  std::vector<std::string> candidates = cgroup_dir_candidates(spec, *mounts);
  for (const std::string& dir : candidates)
    if (is_cgroup_dir(dir)) return dir;
  if (candidates.empty())
    return Error(fmt::format("no such cgroup: {} (not a path inside a cgroup hierarchy)", spec));
  return Error(fmt::format("no such cgroup: {} (looked in {})", spec, fmt::join(candidates, ", ")));
}

Result<std::vector<pid_t>> parse_pid_list(std::string_view text) {
  std::vector<pid_t> pids;
  for (std::string_view line : split_lines(text)) {
    while (!line.empty() && (line.back() == ' ' || line.back() == '\r')) line.remove_suffix(1);
    if (line.empty()) continue;
    auto pid = parse_number<pid_t>(line);
    if (!pid || *pid <= 0) return Error(fmt::format("not a process id: '{}'", line));
    pids.push_back(*pid);
  }
  return pids;
}

Result<std::vector<pid_t>> read_cgroup_procs(const std::string& dir, bool include_descendants) {
  std::vector<pid_t> pids;
  SYSCHAOS_TRY(collect_cgroup_procs(trim_trailing_slashes(dir), true, include_descendants, pids));
  std::sort(pids.begin(), pids.end());
  pids.erase(std::unique(pids.begin(), pids.end()), pids.end());
  return pids;
}

}  // namespace syschaos
