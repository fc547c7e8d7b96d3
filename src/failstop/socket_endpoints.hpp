// The local endpoints (network namespace, protocol, address, port) of a set of processes'
// sockets, from /proc: the socket inodes in /proc/PID/fd, looked up in
// /proc/PID/net/{tcp,tcp6,udp,udp6} (which show the process's own network namespace). These
// are what the target sends from and receives on; the BPF filters match packets against
// them, in that namespace only (see network_namespace.hpp).
#pragma once

#include <sys/types.h>

#include <array>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"

namespace syschaos::failstop {

struct Endpoint {
  uint8_t family = 4;                // 4 or 6
  uint8_t proto = 6;                 // 6 TCP, 17 UDP
  uint16_t port = 0;                 // host byte order
  std::array<uint8_t, 16> addr{};    // network byte order (endpoints_of expands a wildcard)
  uint64_t netns = 0;                // network namespace cookie; 0 = not known (parsed rows)

  auto operator<=>(const Endpoint&) const = default;
  std::string to_string() const;     // "tcp 127.0.0.1:6379", "udp6 [::]:53", "... netns 4097"
};

// One row of /proc/net/{tcp,udp}[6].
struct ProcNetSocket {
  Endpoint local;
  Endpoint remote;
  unsigned state = 0;                // TCP_ESTABLISHED = 1, TCP_LISTEN = 10, ...
  unsigned long long inode = 0;
};

// Parses the text of /proc/net/tcp (family 4/6, proto 6/17 tell which file it was).
Result<std::vector<ProcNetSocket>> parse_proc_net(std::string_view text, uint8_t family, uint8_t proto);

// Socket inodes in /proc/PID/fd (the "socket:[N]" links). A process that has gone gives none.
std::set<unsigned long long> socket_inodes(pid_t pid);

// The local endpoints of every TCP/UDP socket the processes hold, each with the cookie of
// its process's network namespace. A socket bound to the wildcard (0.0.0.0, [::]) gives
// one endpoint per address of its namespace at the time of the call (local_addresses):
// the result holds no wildcard.
Result<std::set<Endpoint>> endpoints_of(const std::vector<pid_t>& pids);

}  // namespace syschaos::failstop
