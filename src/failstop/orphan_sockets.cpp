#include "failstop/orphan_sockets.hpp"

#include <arpa/inet.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <vector>

#include "core/unique_fd.hpp"
#include "failstop/network_namespace.hpp"

namespace syschaos::failstop {

namespace {

// TCP states (include/net/tcp_states.h) that a socket closed by a dying process can be in.
constexpr unsigned kFinWait1 = 4, kFinWait2 = 5, kLastAck = 9, kClosing = 11;
constexpr uint32_t kOrphanStates = (1u << kFinWait1) | (1u << kFinWait2) | (1u << kLastAck) | (1u << kClosing);

// `netns` is the cookie of the namespace being scanned: an endpoint of the target in another
// namespace (the same address:port in another container) is not this socket.
bool matches(const std::set<Endpoint>& endpoints, uint64_t netns, uint8_t family, const inet_diag_sockid& id) {
  Endpoint e;
  e.netns = netns;
  e.family = family;
  e.proto = IPPROTO_TCP;
  e.port = ntohs(id.idiag_sport);
  std::memcpy(e.addr.data(), id.idiag_src, family == 4 ? 4 : 16);
  if (endpoints.count(e)) return true;
  e.addr.fill(0);
  return endpoints.count(e) > 0;
}

struct Request {
  nlmsghdr header;
  inet_diag_req_v2 body;
};

Result<void> send_request(int fd, uint16_t type, uint16_t flags, const inet_diag_req_v2& body) {
  Request req{};
  req.header.nlmsg_len = sizeof(req);
  req.header.nlmsg_type = type;
  req.header.nlmsg_flags = NLM_F_REQUEST | flags;
  req.body = body;
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  if (::sendto(fd, &req, sizeof(req), 0, reinterpret_cast<sockaddr*>(&kernel), sizeof(kernel)) < 0)
    return Error::sys("sendto sock_diag");
  return ok();
}

// Dumps one family's orphans that match.
Result<std::vector<inet_diag_msg>> dump(int fd, uint64_t netns, uint8_t family, const std::set<Endpoint>& endpoints) {
  inet_diag_req_v2 body{};
  body.sdiag_family = family == 4 ? AF_INET : AF_INET6;
  body.sdiag_protocol = IPPROTO_TCP;
  body.idiag_states = kOrphanStates;
  SYSCHAOS_TRY(send_request(fd, SOCK_DIAG_BY_FAMILY, NLM_F_DUMP, body));
  std::vector<inet_diag_msg> found;
  std::vector<char> buffer(64 * 1024);
  for (;;) {
    ssize_t n = ::recv(fd, buffer.data(), buffer.size(), 0);
    if (n < 0) return Error::sys("recv sock_diag");
    for (auto* h = reinterpret_cast<nlmsghdr*>(buffer.data()); NLMSG_OK(h, static_cast<unsigned>(n));
         h = NLMSG_NEXT(h, n)) {
      if (h->nlmsg_type == NLMSG_DONE) return found;
      if (h->nlmsg_type == NLMSG_ERROR) {
        auto* err = static_cast<nlmsgerr*>(NLMSG_DATA(h));
        return Error::sys("sock_diag dump", -err->error);
      }
      auto* msg = static_cast<inet_diag_msg*>(NLMSG_DATA(h));
      if (msg->idiag_inode == 0 && matches(endpoints, netns, family, msg->id)) found.push_back(*msg);
    }
  }
}

Result<void> destroy_one(int fd, uint8_t family, const inet_diag_msg& msg) {
  inet_diag_req_v2 body{};
  body.sdiag_family = family == 4 ? AF_INET : AF_INET6;
  body.sdiag_protocol = IPPROTO_TCP;
  body.idiag_states = ~0u;
  body.id = msg.id;
  SYSCHAOS_TRY(send_request(fd, SOCK_DESTROY, NLM_F_ACK, body));
  char buffer[1024];
  ssize_t n = ::recv(fd, buffer, sizeof(buffer), 0);
  if (n < 0) return Error::sys("recv sock_diag (destroy)");
  auto* h = reinterpret_cast<nlmsghdr*>(buffer);
  if (NLMSG_OK(h, static_cast<unsigned>(n)) && h->nlmsg_type == NLMSG_ERROR) {
    auto* err = static_cast<nlmsgerr*>(NLMSG_DATA(h));
    // ENOENT: the socket died by itself meanwhile.
    if (err->error != 0 && err->error != -ENOENT) return Error::sys("sock_diag SOCK_DESTROY", -err->error);
  }
  return ok();
}

}  // namespace

Result<OrphanScan> destroy_orphans(const std::set<Endpoint>& endpoints, bool destroy, int netns_fd) {
  OrphanScan scan;
  if (endpoints.empty()) return scan;
  // A netlink socket talks to the namespace it was created in: create it there.
  auto fd = socket_in_netns(netns_fd, AF_NETLINK, SOCK_RAW, NETLINK_SOCK_DIAG);
  if (!fd) return fd.error().context("sock_diag");
  auto netns = netns_cookie_of_socket(fd->get());
  if (!netns) return netns.error();
  for (uint8_t family : {uint8_t{4}, uint8_t{6}}) {
    auto found = dump(fd->get(), *netns, family, endpoints);
    if (!found) return found.error();
    scan.found += found->size();
    if (!destroy) continue;
    for (const inet_diag_msg& msg : *found) {
      SYSCHAOS_TRY(destroy_one(fd->get(), family, msg));
      ++scan.destroyed;
    }
  }
  return scan;
}

}  // namespace syschaos::failstop
