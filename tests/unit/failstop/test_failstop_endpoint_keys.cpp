// Endpoints keyed by network namespace: the BPF map key's layout, the namespace cookie of
// this process, and the endpoints of this process's own sockets (no privileges needed: the
// process's own namespace is read without setns).
#include <arpa/inet.h>
#include <linux/types.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "core/unique_fd.hpp"
#include "failstop/net_filter.hpp"
#include "failstop/network_namespace.hpp"
#include "failstop/socket_endpoints.hpp"
#include "failstop_net.h"

namespace syschaos::failstop {
namespace {

Endpoint udp_loopback(uint16_t port, uint64_t netns) {
  Endpoint e;
  e.family = 4;
  e.proto = 17;
  e.port = port;
  e.addr = {127, 0, 0, 1};
  e.netns = netns;
  return e;
}

TEST(FailstopEndpointKeys, KeyCarriesTheNamespaceAndHasNoPadding) {
  static_assert(sizeof(fs_endpoint) == 32, "fs_endpoint must have no implicit padding");
  fs_endpoint key = endpoint_key(udp_loopback(6379, 0x1122334455667788ull));
  EXPECT_EQ(key.netns, 0x1122334455667788ull);
  EXPECT_EQ(key.family, 4);
  EXPECT_EQ(key.proto, 17);
  EXPECT_EQ(key.port, htons(6379));  // as in the packet
  EXPECT_EQ(key.addr[0], 127);
  EXPECT_EQ(key.addr[3], 1);
  EXPECT_EQ(key.addr[4], 0);
  EXPECT_EQ(key.reserved, 0u);
  // The same address:port in two namespaces: two different keys.
  fs_endpoint other = endpoint_key(udp_loopback(6379, 7));
  EXPECT_NE(std::memcmp(&key, &other, sizeof(key)), 0);
}

TEST(FailstopEndpointKeys, ToStringNamesTheNamespace) {
  EXPECT_EQ(udp_loopback(53, 0).to_string(), "udp 127.0.0.1:53");
  EXPECT_EQ(udp_loopback(53, 4097).to_string(), "udp 127.0.0.1:53 netns 4097");
  EXPECT_NE(udp_loopback(53, 1), udp_loopback(53, 2));
}

TEST(FailstopEndpointKeys, OwnNamespaceCookie) {
  auto cookie = netns_cookie(-1);
  ASSERT_TRUE(cookie.ok()) << cookie.error().message();
  EXPECT_NE(*cookie, 0u);
  auto handle = open_netns_of(::getpid());
  ASSERT_TRUE(handle.ok()) << handle.error().message();
  auto same = netns_cookie(handle->get());
  ASSERT_TRUE(same.ok()) << same.error().message();
  EXPECT_EQ(*same, *cookie);
}

TEST(FailstopEndpointKeys, EndpointsOfThisProcessCarryItsNamespace) {
  UniqueFd fd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  ASSERT_TRUE(fd);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&addr), &len), 0);
  auto cookie = netns_cookie(-1);
  ASSERT_TRUE(cookie.ok());
  auto endpoints = endpoints_of({::getpid()});
  ASSERT_TRUE(endpoints.ok()) << endpoints.error().message();
  EXPECT_EQ(endpoints->count(udp_loopback(ntohs(addr.sin_port), *cookie)), 1u);
  for (const Endpoint& e : *endpoints) EXPECT_EQ(e.netns, *cookie) << e.to_string();
}

}  // namespace
}  // namespace syschaos::failstop
