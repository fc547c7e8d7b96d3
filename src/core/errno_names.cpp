#include "core/errno_names.hpp"

#include <signal.h>
#include <string.h>

#include <algorithm>
#include <cctype>

#include "core/text_fields.hpp"

namespace syschaos {

namespace {

// errno values the kernel may return to user space; strerrorname_np knows them all.
constexpr int kMaxErrno = 4095;

std::string upper(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::toupper(c); });
  return out;
}

}  // namespace

Result<int> parse_errno(std::string_view text) {
  if (auto n = parse_number<long>(text)) {
    if (*n < 1 || *n > kMaxErrno)
      return Error(fmt::format("invalid errno '{}': must be between 1 and {}", text, kMaxErrno));
    return static_cast<int>(*n);
  }
  std::string want = upper(text);
  for (int e = 1; e < 200; ++e) {
    const char* name = strerrorname_np(e);
    if (name && want == name) return e;
  }
  return Error(fmt::format("unknown errno '{}'", text));
}

std::string errno_name(int err) {
  const char* name = strerrorname_np(err);
  if (name) return name;
  // Kernel-internal codes that leak to tracers and the syscall tracepoints when a call is
  // interrupted and restarted (include/linux/errno.h); programs never see them.
  switch (err) {
    case 512: return "ERESTARTSYS";
    case 513: return "ERESTARTNOINTR";
    case 514: return "ERESTARTNOHAND";
    case 515: return "ENOIOCTLCMD";
    case 516: return "ERESTART_RESTARTBLOCK";
    default: return fmt::format("E{}", err);
  }
}

Result<int> parse_signal(std::string_view text) {
  if (auto n = parse_number<long>(text)) {
    if (*n < 1 || *n >= NSIG) return Error(fmt::format("invalid signal '{}'", text));
    return static_cast<int>(*n);
  }
  std::string want = upper(text);
  if (want.rfind("SIG", 0) == 0) want = want.substr(3);
  if (want.rfind("RTMIN", 0) == 0 || want.rfind("RTMAX", 0) == 0) {
    bool min = want.rfind("RTMIN", 0) == 0;
    int base = min ? SIGRTMIN : SIGRTMAX;
    std::string_view rest = std::string_view(want).substr(5);
    long off = 0;
    if (!rest.empty()) {
      auto v = parse_number<long>(rest.substr(rest[0] == '+' ? 1 : 0));
      if (!v || (rest[0] != '+' && rest[0] != '-')) return Error(fmt::format("unknown signal '{}'", text));
      off = rest[0] == '-' ? -*v : *v;
    }
    int sig = base + static_cast<int>(off);
    if (sig < SIGRTMIN || sig > SIGRTMAX) return Error(fmt::format("invalid signal '{}'", text));
    return sig;
  }
  for (int s = 1; s < SIGRTMIN; ++s) {
    const char* abbrev = sigabbrev_np(s);
    if (abbrev && want == abbrev) return s;
  }
  return Error(fmt::format("unknown signal '{}'", text));
}

std::string signal_name(int sig) {
  if (sig >= SIGRTMIN && sig <= SIGRTMAX) return fmt::format("SIGRTMIN+{}", sig - SIGRTMIN);
  const char* abbrev = sigabbrev_np(sig);
  return abbrev ? fmt::format("SIG{}", abbrev) : fmt::format("SIG{}", sig);
}

}  // namespace syschaos
