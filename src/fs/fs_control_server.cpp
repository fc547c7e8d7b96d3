#include "fs/fs_control_server.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <nlohmann/json.hpp>

namespace syschaos::fs {

namespace {

nlohmann::json counters_json(const FsRuleCounters& c) {
  return {{"matched", c.matched}, {"fired", c.fired},     {"delayed", c.delayed},
          {"failed", c.failed},   {"attr_overridden", c.attr_overridden},
          {"corrupted", c.corrupted}};
}

Result<sockaddr_un> unix_address(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof(addr.sun_path))
    return Error(fmt::format("control socket path '{}' is empty or too long", path));
  std::memcpy(addr.sun_path, path.data(), path.size());
  return addr;
}

bool write_all(int fd, const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    ssize_t n = ::send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

// Reads up to the first newline (or EOF), at most 16 MiB.
Result<std::string> read_line(int fd) {
  std::string out;
  char buf[4096];
  while (out.size() < (16u << 20)) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Error::sys("recv (control socket)");
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
    if (auto nl = out.find('\n'); nl != std::string::npos) {
      out.resize(nl);
      break;
    }
  }
  return out;
}

}  // namespace

std::string FsControlServer::handle(const std::string& request, FsRuleEngine& engine,
                                    const std::string& mountpoint) {
  nlohmann::json resp;
  auto fail = [&](const std::string& msg) {
    return nlohmann::json{{"ok", false}, {"error", msg}}.dump();
  };
  nlohmann::json req;
  try {
    req = nlohmann::json::parse(request);
  } catch (const nlohmann::json::exception& e) {
    return fail(std::string("bad request: ") + e.what());
  }
  if (!req.is_object() || !req.contains("cmd") || !req["cmd"].is_string())
    return fail("bad request: expected {\"cmd\": ...}");
  std::string cmd = req["cmd"];
  if (cmd == "list") {
    nlohmann::json rules = nlohmann::json::array();
    for (const auto& s : engine.status()) {
      rules.push_back({{"id", s.rule.id},
                       {"name", s.rule.name},
                       {"description", s.rule.describe()},
                       {"counters", counters_json(s.counters)}});
    }
    return nlohmann::json{{"ok", true}, {"seed", engine.seed()}, {"mountpoint", mountpoint},
                          {"rules", rules}}
        .dump();
  }
  if (cmd == "add" || cmd == "replace") {
    if (!req.contains("rules") || !req["rules"].is_string()) return fail("'rules' (YAML text) is missing");
    auto parsed = parse_fs_rules(req["rules"].get<std::string>());
    if (!parsed) return fail(parsed.error().message());
    auto ids = cmd == "add" ? engine.add_rules(std::move(*parsed)) : engine.set_rules(std::move(*parsed));
    nlohmann::json resp{{"ok", true}, {"ids", ids}};
    if (auto note = engine.change_note(); !note.empty()) resp["warning"] = note;
    return resp.dump();
  }
  if (cmd == "remove") {
    if (!req.contains("id") || !req["id"].is_number_unsigned()) return fail("'id' (a rule id) is missing");
    uint64_t id = req["id"];
    if (!engine.remove_rule(id)) return fail(fmt::format("no rule {}", id));
    return nlohmann::json{{"ok", true}}.dump();
  }
  if (cmd == "clear") {
    engine.set_rules({});
    return nlohmann::json{{"ok", true}}.dump();
  }
  return fail(fmt::format("unknown cmd '{}' (list, add, replace, remove, clear)", cmd));
}

FsControlServer::FsControlServer(UniqueFd listen_fd, int stop_fd, FsRuleEngine& engine,
                                 std::string mountpoint)
    : listen_fd_(std::move(listen_fd)), stop_fd_(stop_fd), engine_(engine),
      mountpoint_(std::move(mountpoint)) {
  thread_ = std::thread([this] { loop(); });
}

FsControlServer::~FsControlServer() {
  if (thread_.joinable()) thread_.join();
}

void FsControlServer::loop() {
  for (;;) {
    pollfd pfd[2] = {{listen_fd_.get(), POLLIN, 0}, {stop_fd_, POLLIN, 0}};
    int n = ::poll(pfd, 2, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (pfd[1].revents) return;
    if (!(pfd[0].revents & POLLIN)) continue;
    UniqueFd client(::accept4(listen_fd_.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (!client) continue;
    // A client that never sends must not stall the server for long.
    timeval tv{5, 0};
    ::setsockopt(client.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(client.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    auto line = read_line(client.get());
    if (!line) continue;
    write_all(client.get(), handle(*line, engine_, mountpoint_) + "\n");
  }
}

Result<UniqueFd> listen_control_socket(const std::string& path) {
  auto addr = unix_address(path);
  if (!addr) return addr.error();
  struct stat st;
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) return Error(fmt::format("control path {} exists and is not a socket", path));
    // A socket file left by a killed server is replaced; one a live server listens on is
    // not taken over (its rules would become unreachable).
    UniqueFd probe(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (probe && ::connect(probe.get(), reinterpret_cast<sockaddr*>(&*addr), sizeof(sockaddr_un)) == 0)
      return Error(fmt::format("control path {}: a server is listening there (another ChaosFS?)", path));
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) return Error::sys(fmt::format("unlink {}", path));
  }
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return Error::sys("socket(AF_UNIX)");
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&*addr), sizeof(sockaddr_un)) != 0)
    return Error::sys(fmt::format("bind {}", path));
  // Owner only: rules change what other programs see. (Not through umask, which is the
  // whole process's and would reach files created meanwhile.)
  if (::chmod(path.c_str(), 0600) != 0) {
    Error e = Error::sys(fmt::format("chmod 0600 {}", path));
    ::unlink(path.c_str());
    return e;
  }
  if (::listen(fd.get(), 16) != 0) return Error::sys(fmt::format("listen {}", path));
  return fd;
}

Result<std::string> control_request(const std::string& socket_path, const std::string& request) {
  auto addr = unix_address(socket_path);
  if (!addr) return addr.error();
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return Error::sys("socket(AF_UNIX)");
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&*addr), sizeof(sockaddr_un)) != 0)
    return Error::sys(fmt::format("connect {}", socket_path));
  timeval tv{10, 0};
  ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  if (!write_all(fd.get(), request + "\n")) return Error::sys(fmt::format("send to {}", socket_path));
  auto line = read_line(fd.get());
  if (!line) return line.error();
  if (line->empty()) return Error(fmt::format("{}: no answer", socket_path));
  return *line;
}

}  // namespace syschaos::fs
