#include "failstop/network_namespace.hpp"

#include <fcntl.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <memory>

namespace syschaos::failstop {

#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71  // Linux 5.14; older libc headers lack it
#endif

Result<std::unique_ptr<NetnsEntered>> NetnsEntered::enter(int netns_fd) {
  UniqueFd home(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
  if (!home) return Error::sys("open /proc/thread-self/ns/net");
  if (::setns(netns_fd, CLONE_NEWNET) != 0) return Error::sys("setns (target's network namespace)");
  return std::unique_ptr<NetnsEntered>(new NetnsEntered(std::move(home)));
}

Result<void> NetnsEntered::leave() {
  if (!home_) return ok();
  if (::setns(home_.get(), CLONE_NEWNET) != 0) return Error::sys("setns (back to syschaos's network namespace)");
  home_.reset();
  return ok();
}

// A failure to come back cannot be reported from a destructor; callers that care call
// leave() first. setns to a namespace held open by our own fd does not fail in practice.
NetnsEntered::~NetnsEntered() { (void)leave(); }

Result<UniqueFd> open_netns_of(pid_t pid) {
  std::string path = fmt::format("/proc/{}/ns/net", pid);
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return Error::sys("open " + path);
  return fd;
}

namespace {

// Whether `netns_fd` is the calling thread's own namespace (a target on the host's network,
// the common case): then no setns is needed, nor the privilege it takes.
bool is_own_netns(int netns_fd) {
  struct stat theirs {}, ours {};
  return ::fstat(netns_fd, &theirs) == 0 && ::stat("/proc/thread-self/ns/net", &ours) == 0 &&
         theirs.st_dev == ours.st_dev && theirs.st_ino == ours.st_ino;
}

}  // namespace

Result<UniqueFd> socket_in_netns(int netns_fd, int domain, int type, int protocol) {
  std::unique_ptr<NetnsEntered> entered;
  if (netns_fd >= 0 && !is_own_netns(netns_fd)) {
    auto e = NetnsEntered::enter(netns_fd);
    if (!e) return e.error();
    entered = std::move(*e);
  }
  UniqueFd fd(::socket(domain, type | SOCK_CLOEXEC, protocol));
  int socket_errno = errno;
  if (entered) SYSCHAOS_TRY(entered->leave());
  if (!fd) return Error::sys("socket", socket_errno);
  return fd;
}

Result<uint64_t> netns_cookie_of_socket(int socket_fd) {
  uint64_t cookie = 0;
  socklen_t len = sizeof(cookie);
  if (::getsockopt(socket_fd, SOL_SOCKET, SO_NETNS_COOKIE, &cookie, &len) != 0)
    return Error::sys("getsockopt SO_NETNS_COOKIE (needs Linux 5.14+)");
  return cookie;
}

Result<uint64_t> netns_cookie(int netns_fd) {
  auto fd = socket_in_netns(netns_fd, AF_UNIX, SOCK_DGRAM, 0);
  if (!fd) return fd.error();
  return netns_cookie_of_socket(fd->get());
}

Result<std::vector<LocalAddress>> local_addresses(int netns_fd) {
  std::unique_ptr<NetnsEntered> entered;
  if (netns_fd >= 0 && !is_own_netns(netns_fd)) {
    auto e = NetnsEntered::enter(netns_fd);
    if (!e) return e.error();
    entered = std::move(*e);
  }
  // getifaddrs asks the kernel over a netlink socket it makes now: in this thread's
  // (entered) namespace.
  ifaddrs* list = nullptr;
  int rc = ::getifaddrs(&list);
  int saved_errno = errno;
  if (entered) SYSCHAOS_TRY(entered->leave());
  if (rc != 0) return Error::sys("getifaddrs", saved_errno);
  std::unique_ptr<ifaddrs, void (*)(ifaddrs*)> owner(list, &::freeifaddrs);
  std::vector<LocalAddress> out;
  LocalAddress v4_loopback, v6_loopback;
  const uint8_t v4_lo[4] = {127, 0, 0, 1};
  std::memcpy(v4_loopback.addr.data(), v4_lo, 4);
  v6_loopback.family = 6;
  v6_loopback.addr[15] = 1;
  out.push_back(v4_loopback);
  out.push_back(v6_loopback);
  for (const ifaddrs* a = list; a; a = a->ifa_next) {
    if (!a->ifa_addr) continue;
    LocalAddress l;
    if (a->ifa_addr->sa_family == AF_INET) {
      l.family = 4;
      std::memcpy(l.addr.data(), &reinterpret_cast<const sockaddr_in*>(a->ifa_addr)->sin_addr, 4);
    } else if (a->ifa_addr->sa_family == AF_INET6) {
      l.family = 6;
      std::memcpy(l.addr.data(), &reinterpret_cast<const sockaddr_in6*>(a->ifa_addr)->sin6_addr, 16);
    } else {
      continue;
    }
    out.push_back(l);
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

}  // namespace syschaos::failstop
