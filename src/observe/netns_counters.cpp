#include "observe/netns_counters.hpp"

#include <dirent.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <memory>

#include "core/text_fields.hpp"

namespace syschaos {

namespace {

uint64_t saturating_add(uint64_t a, uint64_t b) { return a > UINT64_MAX - b ? UINT64_MAX : a + b; }

void add_counters(InterfaceCounters& sum, const InterfaceCounters& one) {
  sum.rx_bytes = saturating_add(sum.rx_bytes, one.rx_bytes);
  sum.rx_packets = saturating_add(sum.rx_packets, one.rx_packets);
  sum.rx_drops = saturating_add(sum.rx_drops, one.rx_drops);
  sum.tx_bytes = saturating_add(sum.tx_bytes, one.tx_bytes);
  sum.tx_packets = saturating_add(sum.tx_packets, one.tx_packets);
  sum.tx_drops = saturating_add(sum.tx_drops, one.tx_drops);
}

struct DirCloser {
  void operator()(DIR* dir) const { ::closedir(dir); }
};

}  // namespace

Result<std::vector<InterfaceCounters>> parse_proc_net_dev(std::string_view text) {
  std::vector<InterfaceCounters> interfaces;
  int line_number = 0;
  for (std::string_view line : split(text, '\n')) {
    if (++line_number <= 2 || line.empty()) continue;  // the two header lines
    // The name is followed by ':' with no space before the first number when counters are
    // wide ("eth0:123456789"), so split at the colon, not at whitespace.
    size_t colon = line.find(':');
    if (colon == std::string_view::npos)
      return Error(fmt::format("malformed /proc/net/dev line '{}'", line));
    std::string_view name = line.substr(0, colon);
    while (!name.empty() && name.front() == ' ') name.remove_prefix(1);
    auto words = split_words(line.substr(colon + 1));
    if (name.empty() || words.size() < 16)
      return Error(fmt::format("malformed /proc/net/dev line '{}' (want 16 counters)", line));
    uint64_t values[16];
    for (int i = 0; i < 16; ++i) {
      auto value = parse_number<uint64_t>(words[i]);
      if (!value) return Error(fmt::format("malformed /proc/net/dev counter '{}'", words[i]));
      values[i] = *value;
    }
    InterfaceCounters counters;
    counters.name = std::string(name);
    counters.rx_bytes = values[0];
    counters.rx_packets = values[1];
    counters.rx_drops = values[3];
    counters.tx_bytes = values[8];
    counters.tx_packets = values[9];
    counters.tx_drops = values[11];
    interfaces.push_back(std::move(counters));
  }
  return interfaces;
}

InterfaceCounters sum_target_interfaces(const std::vector<InterfaceCounters>& interfaces) {
  InterfaceCounters sum;
  bool any_other = std::any_of(interfaces.begin(), interfaces.end(),
                               [](const InterfaceCounters& i) { return i.name != "lo"; });
  for (const InterfaceCounters& one : interfaces) {
    if (any_other && one.name == "lo") continue;
    add_counters(sum, one);
    if (!sum.name.empty()) sum.name += '+';
    sum.name += one.name;
  }
  return sum;
}

Result<std::string> network_namespace_of(pid_t pid) {
  std::string path = fmt::format("/proc/{}/ns/net", pid);
  char buffer[PATH_MAX];
  ssize_t n = ::readlink(path.c_str(), buffer, sizeof buffer);
  if (n < 0) return Error::sys(fmt::format("readlink {}", path));
  return std::string(buffer, static_cast<size_t>(n));
}

Result<bool> network_namespace_shared(const std::string& netns,
                                      const std::vector<pid_t>& target_pids) {
  std::unique_ptr<DIR, DirCloser> proc(::opendir("/proc"));
  if (!proc) return Error::sys("opendir /proc");
  for (;;) {
    errno = 0;
    const dirent* entry = ::readdir(proc.get());
    if (!entry) {
      if (errno != 0) return Error::sys("readdir /proc");
      return false;
    }
    auto pid = parse_number<uint64_t>(entry->d_name);
    if (!pid || *pid == 0 || *pid > INT_MAX) continue;
    if (std::binary_search(target_pids.begin(), target_pids.end(), static_cast<pid_t>(*pid)))
      continue;
    // Processes that exit while we look, or whose namespace we may not see, say nothing.
    auto other = network_namespace_of(static_cast<pid_t>(*pid));
    if (other && *other == netns) return true;
  }
}

}  // namespace syschaos
