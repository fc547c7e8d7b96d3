#include "core/atomic_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "core/unique_fd.hpp"

namespace syschaos {

namespace {

// The error of `op`, taken before the temporary file is removed (unlink may change errno).
Error fail_and_remove(const std::string& op, const std::string& tmp) {
  Error error = Error::sys(op);
  ::unlink(tmp.c_str());
  return error;
}

}  // namespace

Result<void> write_file_atomically(const std::string& path, std::string_view content,
                                   AtomicWriteOptions options) {
  // The pid in the name keeps two processes writing the same file from sharing a temporary.
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, options.mode));
  if (!fd) return Error::sys("open " + tmp);
  size_t done = 0;
  while (done < content.size()) {
    ssize_t n = ::write(fd.get(), content.data() + done, content.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail_and_remove("write " + tmp, tmp);
    }
    done += static_cast<size_t>(n);
  }
  if (options.sync == FileSync::kDurable && ::fsync(fd.get()) != 0) return fail_and_remove("fsync " + tmp, tmp);
  // close can report a deferred write error (NFS, quota): check it rather than let ~UniqueFd drop it.
  if (::close(fd.release()) != 0) return fail_and_remove("close " + tmp, tmp);
  if (::rename(tmp.c_str(), path.c_str()) != 0) return fail_and_remove("rename " + tmp + " to " + path, tmp);
  return ok();
}

Result<std::string> read_whole_file(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return Error::sys("open " + path);
  std::string content;
  char buffer[65536];
  for (;;) {
    ssize_t n = ::read(fd.get(), buffer, sizeof buffer);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Error::sys("read " + path);
    }
    if (n == 0) break;
    content.append(buffer, static_cast<size_t>(n));
  }
  return content;
}

}  // namespace syschaos
