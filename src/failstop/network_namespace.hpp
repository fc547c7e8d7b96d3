// Network namespaces of a target, as the failstop BPF programs see them.
//
// The crash blackhole, omission and duplication key a target's endpoints by network
// namespace (two containers with their own namespaces may both serve on 127.0.0.1:80). The
// kernel names a namespace with a 64-bit cookie that never repeats while the machine runs:
// BPF reads it with bpf_get_netns_cookie(skb), user space with getsockopt(SO_NETNS_COOKIE)
// on a socket of that namespace. A socket belongs to the namespace of the thread that
// creates it, so these helpers enter the namespace (setns, on the calling thread only),
// create what they need, and come back before returning.
#pragma once

#include <sys/types.h>

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/result.hpp"
#include "core/unique_fd.hpp"

namespace syschaos::failstop {

// While alive, the calling thread is in another network namespace; the destructor brings it
// back (setns on the namespace it was in). Not movable: it belongs to one thread's scope.
class NetnsEntered {
 public:
  static Result<std::unique_ptr<NetnsEntered>> enter(int netns_fd);
  ~NetnsEntered();
  NetnsEntered(const NetnsEntered&) = delete;
  NetnsEntered& operator=(const NetnsEntered&) = delete;
  // Comes back now; an error means the thread is still in the other namespace.
  Result<void> leave();

 private:
  explicit NetnsEntered(UniqueFd home) : home_(std::move(home)) {}
  UniqueFd home_;
};

// /proc/PID/ns/net, opened (O_RDONLY): keeps the namespace alive while held.
Result<UniqueFd> open_netns_of(pid_t pid);

// A socket made inside the namespace `netns_fd` (-1: this thread's own; no setns either when
// `netns_fd` is this thread's own namespace).
Result<UniqueFd> socket_in_netns(int netns_fd, int domain, int type, int protocol);

// The cookie of the namespace a socket lives in (SO_NETNS_COOKIE, Linux 5.14+).
Result<uint64_t> netns_cookie_of_socket(int socket_fd);
// The cookie of the namespace `netns_fd` (-1: this thread's own).
Result<uint64_t> netns_cookie(int netns_fd);

// One IP address of a namespace: family 4 (first 4 bytes) or 6, network byte order.
struct LocalAddress {
  uint8_t family = 4;
  std::array<uint8_t, 16> addr{};
  auto operator<=>(const LocalAddress&) const = default;
};
// Every address of the namespace `netns_fd` (-1: this thread's own): those of its
// interfaces (getifaddrs, run inside it), plus 127.0.0.1 and ::1 even while lo is down. A
// socket bound to the wildcard receives on exactly these; the failstop filters match
// packets against them rather than against a wildcard, which would also take other
// processes' packets to other hosts on the same port.
Result<std::vector<LocalAddress>> local_addresses(int netns_fd);

}  // namespace syschaos::failstop
