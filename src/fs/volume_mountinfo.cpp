#include "fs/volume_mountinfo.hpp"

#include <fcntl.h>
#include <sys/stat.h>

#include <fstream>
#include <sstream>

namespace syschaos::fs {

namespace {

// mountinfo escapes space, tab, newline and backslash as \ooo.
std::string decode_octal(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size() && s[i + 1] >= '0' && s[i + 1] <= '7') {
      out.push_back(static_cast<char>((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0')));
      i += 3;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

}  // namespace

bool MountInfoEntry::read_only() const {
  std::stringstream ss(options);
  std::string opt;
  while (std::getline(ss, opt, ','))
    if (opt == "ro") return true;
  return false;
}

Result<std::vector<MountInfoEntry>> parse_mountinfo(const std::string& text) {
  std::vector<MountInfoEntry> out;
  std::istringstream in(text);
  std::string line;
  size_t lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    if (line.empty()) continue;
    // 36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
    std::istringstream f(line);
    MountInfoEntry e;
    std::string devno, root, mp, opts, field;
    if (!(f >> e.id >> e.parent >> devno >> root >> mp >> opts))
      return Error(fmt::format("mountinfo line {}: cannot parse '{}'", lineno, line));
    std::string prop;
    bool dash = false;
    while (f >> field) {
      if (field == "-") {
        dash = true;
        break;
      }
      prop += (prop.empty() ? "" : " ") + field;
    }
    if (!dash || !(f >> e.fs_type)) return Error(fmt::format("mountinfo line {}: no file system type", lineno));
    f >> e.source;
    e.root = decode_octal(root);
    e.mount_point = decode_octal(mp);
    e.options = opts;
    e.propagation = prop;
    e.source = decode_octal(e.source);
    out.push_back(std::move(e));
  }
  return out;
}

Result<std::vector<MountInfoEntry>> read_mountinfo(pid_t pid) {
  std::string path = fmt::format("/proc/{}/mountinfo", pid);
  std::ifstream in(path);
  if (!in) return Error::sys("open " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_mountinfo(ss.str());
}

Result<int> mount_id_of(const std::string& path) {
  struct statx stx {};
  if (::statx(AT_FDCWD, path.c_str(), AT_STATX_DONT_SYNC, STATX_MNT_ID, &stx) != 0)
    return Error::sys("statx " + path);
  if (!(stx.stx_mask & STATX_MNT_ID)) return Error("statx " + path + ": no mount id (kernel < 5.8?)", ENOTSUP);
  return static_cast<int>(stx.stx_mnt_id);
}

std::optional<MountInfoEntry> topmost_mount_at(const std::vector<MountInfoEntry>& mounts,
                                               const std::string& path) {
  // Mounts stacked on one mount point form a chain, each the parent of the next.
  std::optional<MountInfoEntry> top;
  for (const auto& m : mounts) {
    if (m.mount_point != path) continue;
    bool covered = false;
    for (const auto& o : mounts)
      if (o.parent == m.id && o.mount_point == path) covered = true;
    if (!covered) top = m;
  }
  return top;
}

const MountInfoEntry* mount_by_id(const std::vector<MountInfoEntry>& mounts, int id) {
  for (const auto& m : mounts)
    if (m.id == id) return &m;
  return nullptr;
}

}  // namespace syschaos::fs
