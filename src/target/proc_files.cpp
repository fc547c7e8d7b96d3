#include "target/proc_files.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "core/unique_fd.hpp"

namespace syschaos {

Result<std::string> read_text_file(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return Error::sys(fmt::format("open {}", path));
  std::string text;
  char buffer[4096];
  for (;;) {
    ssize_t n = ::read(fd.get(), buffer, sizeof buffer);
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      return Error::sys(fmt::format("read {}", path));
    }
    text.append(buffer, static_cast<size_t>(n));
  }
  return text;
}

}  // namespace syschaos
