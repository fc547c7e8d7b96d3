// What /proc tells about a traced thread: its process, name, working directory, the
// objects behind its fds. Used lazily, only when a rule filters on them.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "core/fault_rule.hpp"
#include "core/result.hpp"

namespace syschaos::ptrace_engine {

std::optional<pid_t> tgid_of(pid_t tid);
std::vector<pid_t> threads_of(pid_t tgid);
std::string thread_comm(pid_t tgid, pid_t tid);
// The directory a relative path of this call is resolved against: the fd's target for
// dirfd >= 0, the thread's working directory for AT_FDCWD (dirfd < 0).
Result<std::string> base_directory(pid_t tgid, pid_t tid, int dirfd);
FdKind fd_kind(pid_t tgid, int fd);
// The pid of the process tracing tid, 0 for none.
pid_t tracer_of(pid_t tid);

}  // namespace syschaos::ptrace_engine
