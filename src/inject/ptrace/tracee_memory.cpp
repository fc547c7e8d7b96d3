#include "inject/ptrace/tracee_memory.hpp"

#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

namespace syschaos::ptrace_engine {

Result<std::string> read_string(pid_t pid, uint64_t addr, size_t max_len) {
  static const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  if (addr == 0) return Error("null string pointer", EFAULT);
  std::string out;
  char buf[4096];
  while (out.size() < max_len) {
    // Never cross a page boundary in one read: the next page may be unmapped even though
    // the string ends before it.
    size_t to_page_end = page - (addr % page);
    size_t chunk = std::min({to_page_end, sizeof(buf), max_len - out.size()});
    struct iovec local {buf, chunk};
    struct iovec remote {reinterpret_cast<void*>(addr), chunk};
    ssize_t n = ::process_vm_readv(pid, &local, 1, &remote, 1, 0);
    if (n <= 0) return Error::sys(fmt::format("process_vm_readv({}, {:#x})", pid, addr));
    const char* nul = static_cast<const char*>(std::memchr(buf, '\0', static_cast<size_t>(n)));
    if (nul) {
      out.append(buf, static_cast<size_t>(nul - buf));
      return out;
    }
    out.append(buf, static_cast<size_t>(n));
    addr += static_cast<uint64_t>(n);
  }
  return out;
}

Result<void> write_bytes(pid_t pid, uint64_t addr, const std::vector<uint8_t>& data) {
  if (addr == 0) return Error("null pointer", EFAULT);
  struct iovec local {const_cast<uint8_t*>(data.data()), data.size()};
  struct iovec remote {reinterpret_cast<void*>(addr), data.size()};
  ssize_t n = ::process_vm_writev(pid, &local, 1, &remote, 1, 0);
  if (n < 0 || static_cast<size_t>(n) != data.size())
    return Error::sys(fmt::format("process_vm_writev({}, {:#x})", pid, addr));
  return ok();
}

}  // namespace syschaos::ptrace_engine
