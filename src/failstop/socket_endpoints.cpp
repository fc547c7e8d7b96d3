#include "failstop/socket_endpoints.hpp"

#include <arpa/inet.h>
#include <dirent.h>
#include <unistd.h>

#include <charconv>
#include <cstring>
#include <map>
#include <memory>

#include "failstop/network_namespace.hpp"
#include "target/proc_files.hpp"

namespace syschaos::failstop {

std::string Endpoint::to_string() const {
  char text[INET6_ADDRSTRLEN] = {};
  ::inet_ntop(family == 4 ? AF_INET : AF_INET6, addr.data(), text, sizeof(text));
  std::string proto_name = proto == 6 ? "tcp" : proto == 17 ? "udp" : fmt::format("proto{}", proto);
  std::string ns = netns ? fmt::format(" netns {}", netns) : "";
  if (family == 4) return fmt::format("{} {}:{}{}", proto_name, text, port, ns);
  return fmt::format("{}6 [{}]:{}{}", proto_name, text, port, ns);
}

namespace {

bool parse_hex_u32(std::string_view text, uint32_t& out) {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out, 16);
  return ec == std::errc() && end == text.data() + text.size();
}

// "0100007F:1F90" (IPv4) or 32 hex digits + ":PORT" (IPv6). The kernel prints each 32-bit
// word of the address as it lies in memory (%08X of the __be32): copying the parsed word
// back into memory restores network byte order on the machine that printed it.
bool parse_address(std::string_view text, uint8_t family, Endpoint& out) {
  size_t colon = text.find(':');
  if (colon == std::string_view::npos) return false;
  std::string_view addr = text.substr(0, colon), port = text.substr(colon + 1);
  size_t words = family == 4 ? 1 : 4;
  if (addr.size() != words * 8) return false;
  for (size_t i = 0; i < words; ++i) {
    uint32_t word = 0;
    if (!parse_hex_u32(addr.substr(i * 8, 8), word)) return false;
    std::memcpy(out.addr.data() + i * 4, &word, 4);
  }
  uint32_t p = 0;
  if (!parse_hex_u32(port, p) || p > 0xffff) return false;
  out.port = static_cast<uint16_t>(p);
  out.family = family;
  return true;
}

std::vector<std::string_view> fields(std::string_view line) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && line[i] == ' ') ++i;
    size_t start = i;
    while (i < line.size() && line[i] != ' ') ++i;
    if (i > start) out.push_back(line.substr(start, i - start));
  }
  return out;
}

}  // namespace

Result<std::vector<ProcNetSocket>> parse_proc_net(std::string_view text, uint8_t family, uint8_t proto) {
  std::vector<ProcNetSocket> sockets;
  bool header = true;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    std::string_view line = text.substr(start, end == std::string_view::npos ? end : end - start);
    start = end == std::string_view::npos ? text.size() : end + 1;
    if (header) {  // "  sl  local_address rem_address   st ..."
      header = false;
      continue;
    }
    auto f = fields(line);
    if (f.empty()) continue;
    // sl local rem st tx:rx tr:when retrnsmt uid timeout inode ...
    if (f.size() < 10) return Error(fmt::format("malformed /proc/net line: '{}'", line));
    ProcNetSocket s;
    uint32_t state = 0;
    if (!parse_address(f[1], family, s.local) || !parse_address(f[2], family, s.remote) ||
        !parse_hex_u32(f[3], state))
      return Error(fmt::format("malformed /proc/net line: '{}'", line));
    s.local.proto = s.remote.proto = proto;
    s.state = state;
    auto [e, ec] = std::from_chars(f[9].data(), f[9].data() + f[9].size(), s.inode);
    if (ec != std::errc()) return Error(fmt::format("malformed inode in /proc/net line: '{}'", line));
    sockets.push_back(s);
  }
  return sockets;
}

std::set<unsigned long long> socket_inodes(pid_t pid) {
  std::set<unsigned long long> inodes;
  std::string dir = fmt::format("/proc/{}/fd", pid);
  std::unique_ptr<DIR, int (*)(DIR*)> handle(::opendir(dir.c_str()), &::closedir);
  if (!handle) return inodes;
  while (const dirent* entry = ::readdir(handle.get())) {
    if (entry->d_name[0] == '.') continue;
    char link[64] = {};
    ssize_t n = ::readlink((dir + "/" + entry->d_name).c_str(), link, sizeof(link) - 1);
    if (n <= 0) continue;
    std::string_view target(link, static_cast<size_t>(n));
    if (!target.starts_with("socket:[") || !target.ends_with("]")) continue;
    target.remove_prefix(8);
    target.remove_suffix(1);
    unsigned long long inode = 0;
    if (std::from_chars(target.data(), target.data() + target.size(), inode).ec == std::errc())
      inodes.insert(inode);
  }
  return inodes;
}

Result<std::set<Endpoint>> endpoints_of(const std::vector<pid_t>& pids) {
  std::set<Endpoint> out;
  // Processes of one network namespace show the same tables: read each namespace once.
  struct Namespace {
    uint64_t cookie = 0;
    std::vector<ProcNetSocket> sockets;
    std::vector<LocalAddress> addresses;  // what a wildcard socket receives on
  };
  std::map<std::string, Namespace> by_netns;
  static const struct {
    const char* file;
    uint8_t family, proto;
  } kTables[] = {{"tcp", 4, 6}, {"tcp6", 6, 6}, {"udp", 4, 17}, {"udp6", 6, 17}};
  for (pid_t pid : pids) {
    std::set<unsigned long long> inodes = socket_inodes(pid);
    if (inodes.empty()) continue;
    char ns[64] = {};
    ssize_t n = ::readlink(fmt::format("/proc/{}/ns/net", pid).c_str(), ns, sizeof(ns) - 1);
    if (n <= 0) continue;  // gone
    std::string ns_name(ns, static_cast<size_t>(n));
    auto it = by_netns.find(ns_name);
    if (it == by_netns.end()) {
      // The namespace's cookie, through a handle opened now: if the process has gone, or
      // has just moved to another namespace, the handle names the one its tables show at
      // worst a moment later; a process that has gone has no sockets left to match.
      auto handle = open_netns_of(pid);
      if (!handle) continue;
      auto cookie = netns_cookie(handle->get());
      if (!cookie) return cookie.error().context(fmt::format("network namespace of pid {}", pid));
      Namespace space;
      space.cookie = *cookie;
      auto addresses = local_addresses(handle->get());
      if (!addresses) return addresses.error().context(fmt::format("addresses of the network namespace of pid {}", pid));
      space.addresses = std::move(*addresses);
      for (const auto& table : kTables) {
        auto text = read_text_file(fmt::format("/proc/{}/net/{}", pid, table.file));
        if (!text) continue;  // no IPv6, or the process went away
        auto rows = parse_proc_net(*text, table.family, table.proto);
        if (!rows) return rows.error();
        space.sockets.insert(space.sockets.end(), rows->begin(), rows->end());
      }
      it = by_netns.emplace(ns_name, std::move(space)).first;
    }
    const Namespace& space = it->second;
    for (ProcNetSocket s : space.sockets) {
      if (!inodes.count(s.inode) || s.local.port == 0) continue;
      s.local.netns = space.cookie;
      static constexpr std::array<uint8_t, 16> kWildcard{};
      if (s.local.addr == kWildcard) {
        // Bound to 0.0.0.0 or [::]: one endpoint per address of the namespace, never a
        // wildcard. The filters match destinations too, and a wildcard destination would
        // take every packet any process of the namespace sends to port P of ANY host
        // (another server elsewhere) for the target's. An IPv6 wildcard socket also
        // receives IPv4 (unless IPV6_V6ONLY). An address added to the namespace later is
        // not covered (docs/FAILSTOP.md).
        for (const LocalAddress& a : space.addresses) {
          if (a.family != s.local.family && !(s.local.family == 6 && a.family == 4)) continue;
          Endpoint e = s.local;
          e.family = a.family;
          e.addr = a.addr;
          out.insert(e);
        }
        continue;
      }
      out.insert(s.local);
      // An IPv6 socket also carries IPv4 (unless IPV6_V6ONLY): ::ffff:a.b.c.d is a.b.c.d on
      // the wire.
      static constexpr uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
      if (s.local.family == 6 && std::memcmp(s.local.addr.data(), kMapped, 12) == 0) {
        Endpoint v4 = s.local;
        v4.family = 4;
        v4.addr.fill(0);
        std::memcpy(v4.addr.data(), s.local.addr.data() + 12, 4);
        out.insert(v4);
      }
    }
  }
  return out;
}

}  // namespace syschaos::failstop
