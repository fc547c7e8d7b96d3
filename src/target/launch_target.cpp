#include "target/launch_target.hpp"

#include <fmt/ranges.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

namespace syschaos {

namespace {

// 0 when execve could run `file`, else the errno it would fail with.
int exec_check(const std::string& file) {
  struct stat st {};
  if (::stat(file.c_str(), &st) != 0) return errno;
  if (S_ISDIR(st.st_mode)) return EISDIR;
  if (!S_ISREG(st.st_mode)) return EACCES;  // execve refuses devices, fifos and sockets
  if (::access(file.c_str(), X_OK) != 0) return errno;
  return 0;
}

}  // namespace

std::string executable_search_path() {
  if (const char* path = std::getenv("PATH")) return path;
  // What execvp falls back to when PATH is unset.
  size_t size = ::confstr(_CS_PATH, nullptr, 0);
  if (size == 0) return "/bin:/usr/bin";
  std::string path(size, '\0');
  ::confstr(_CS_PATH, path.data(), size);
  path.resize(size - 1);
  return path;
}

Result<std::string> find_executable(std::string_view name, std::string_view search_path) {
  if (name.empty()) return Error("empty command name");
  if (name.find('/') != std::string_view::npos) {
    std::string file(name);
    int err = exec_check(file);
    if (err == 0) return file;
    if (err == ENOENT || err == ENOTDIR)
      return Error::sys(fmt::format("command not found: {}", name), err);
    return Error::sys(fmt::format("cannot execute {}", name), err);
  }
  std::string not_executable;  // execvp goes on after EACCES, and reports it if nothing else runs
  size_t start = 0;
  for (;;) {
    size_t end = search_path.find(':', start);
    std::string_view dir =
        search_path.substr(start, end == std::string_view::npos ? end : end - start);
    std::string candidate = fmt::format("{}/{}", dir.empty() ? "." : dir, name);
    int err = exec_check(candidate);
    if (err == 0) return candidate;
    if (err == EACCES && not_executable.empty()) not_executable = candidate;
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  if (!not_executable.empty())
    return Error::sys(fmt::format("cannot execute {} (found {})", name, not_executable), EACCES);
  return Error(fmt::format("command not found: {}", name), ENOENT);
}

Result<std::unique_ptr<LaunchTarget>> LaunchTarget::create(std::vector<std::string> argv) {
  if (argv.empty()) return Error("no command given to launch");
  auto executable = find_executable(argv[0], executable_search_path());
  if (!executable) return executable.error();
  return std::unique_ptr<LaunchTarget>(new LaunchTarget(std::move(argv), std::move(*executable)));
}

std::string LaunchTarget::describe() const {
  return fmt::format("command {}", fmt::join(argv_, " "));
}

}  // namespace syschaos
