#include "inject/ptrace/proc_inspect.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include <charconv>
#include <cstdlib>
#include <fstream>

namespace syschaos::ptrace_engine {

namespace {

std::optional<long> status_field(pid_t tid, std::string_view field) {
  std::ifstream in(fmt::format("/proc/{}/status", tid));
  std::string line;
  while (std::getline(in, line)) {
    if (line.size() > field.size() && line.compare(0, field.size(), field) == 0 && line[field.size()] == ':')
      return std::strtol(line.c_str() + field.size() + 1, nullptr, 10);
  }
  return std::nullopt;
}

Result<std::string> read_link(const std::string& path) {
  char buf[PATH_MAX];
  ssize_t n = ::readlink(path.c_str(), buf, sizeof(buf));
  if (n < 0) return Error::sys("readlink " + path);
  return std::string(buf, static_cast<size_t>(n));
}

}  // namespace

std::optional<pid_t> tgid_of(pid_t tid) {
  auto v = status_field(tid, "Tgid");
  if (!v) return std::nullopt;
  return static_cast<pid_t>(*v);
}

pid_t tracer_of(pid_t tid) { return static_cast<pid_t>(status_field(tid, "TracerPid").value_or(0)); }

std::vector<pid_t> threads_of(pid_t tgid) {
  std::vector<pid_t> out;
  DIR* dir = ::opendir(fmt::format("/proc/{}/task", tgid).c_str());
  if (!dir) return out;
  while (auto* ent = ::readdir(dir)) {
    pid_t tid = 0;
    std::string_view name(ent->d_name);
    auto [p, ec] = std::from_chars(name.data(), name.data() + name.size(), tid);
    if (ec == std::errc() && p == name.data() + name.size()) out.push_back(tid);
  }
  ::closedir(dir);
  return out;
}

std::string thread_comm(pid_t tgid, pid_t tid) {
  std::ifstream in(fmt::format("/proc/{}/task/{}/comm", tgid, tid));
  std::string comm;
  std::getline(in, comm);
  return comm;
}

Result<std::string> base_directory(pid_t tgid, pid_t tid, int dirfd) {
  if (dirfd >= 0) return read_link(fmt::format("/proc/{}/fd/{}", tgid, dirfd));
  return read_link(fmt::format("/proc/{}/task/{}/cwd", tgid, tid));
}

FdKind fd_kind(pid_t tgid, int fd) {
  struct stat st {};
  if (::stat(fmt::format("/proc/{}/fd/{}", tgid, fd).c_str(), &st) != 0) return FdKind::unknown;
  switch (st.st_mode & S_IFMT) {
    case S_IFREG: return FdKind::file;
    case S_IFDIR: return FdKind::dir;
    case S_IFSOCK: return FdKind::socket;
    case S_IFIFO: return FdKind::pipe;
    case S_IFCHR: return FdKind::chr;
    case S_IFBLK: return FdKind::blk;
    case 0: return FdKind::anon;  // anon_inode: eventfd, epoll, timerfd, signalfd, ...
    default: return FdKind::unknown;
  }
}

}  // namespace syschaos::ptrace_engine
