// Shared helpers of the failstop integration tests: a redis-server on a port of its own, a
// tcpdump capture on lo, syschaos's JSON event file, cgroup membership of a process.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "process_runner.hpp"

namespace syschaos::testing {

inline std::string bin() { return SYSCHAOS_BIN; }
inline std::string prog(const std::string& name) { return std::string(TESTPROGS_DIR) + "/" + name; }

inline std::string temp_dir() {
  char tmpl[] = "/tmp/failstop-test.XXXXXX";
  const char* dir = ::mkdtemp(tmpl);
  return dir ? dir : "/tmp";
}

// A port no other test of this process uses, away from the ephemeral range.
inline int test_port(int offset) { return 20000 + (::getpid() % 4000) * 2 + offset; }

// Connects within `timeout` (a SYN into a blackhole gets no answer at all).
inline bool can_connect(int port, std::chrono::milliseconds timeout = std::chrono::milliseconds(1000)) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  if (!ok && errno == EINPROGRESS) {
    pollfd p{fd, POLLOUT, 0};
    int err = 0;
    socklen_t len = sizeof(err);
    ok = ::poll(&p, 1, static_cast<int>(timeout.count())) == 1 &&
         ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0;
  }
  ::close(fd);
  return ok;
}

inline std::unique_ptr<BackgroundProcess> start_redis(int port) {
  auto redis = std::make_unique<BackgroundProcess>(std::vector<std::string>{
      "redis-server", "--port", std::to_string(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"});
  if (!eventually([&] { return can_connect(port); }, std::chrono::seconds(10))) return nullptr;
  return redis;
}

inline std::string redis_ping(int port) {
  auto r = run_command({"redis-cli", "-p", std::to_string(port), "ping"}, std::chrono::seconds(5));
  return r.out;
}

// tcpdump on lo, writing the packets that match `filter` to a file; with `netns`, on an
// interface (lo by default) of that named network namespace (ip netns exec).
class Capture {
 public:
  Capture(const std::string& dir, const std::string& filter, const std::string& netns = "",
          const std::string& interface = "lo")
      : file_(dir + "/capture-" + std::to_string(counter()++) + ".pcap") {
    std::vector<std::string> argv = {"tcpdump", "-i", interface, "-nn", "-U", "--immediate-mode", "-w", file_, filter};
    if (!netns.empty()) argv.insert(argv.begin(), {"ip", "netns", "exec", netns});
    proc_ = std::make_unique<BackgroundProcess>(argv);
    // tcpdump says "listening on IF" once the capture runs.
    eventually([&] { return proc_->err().find("listening on") != std::string::npos; }, std::chrono::seconds(10));
  }
  // Stops the capture and returns its packets, one text line each.
  std::vector<std::string> stop() {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    proc_->signal(SIGTERM);
    proc_->wait(std::chrono::seconds(5));
    auto r = run_command({"tcpdump", "-nn", "-r", file_});
    if (r.out.empty()) std::fprintf(stderr, "capture: tcpdump said: %s / %s\n", proc_->err().c_str(), r.err.c_str());
    std::vector<std::string> lines;
    size_t start = 0;
    while (start < r.out.size()) {
      size_t end = r.out.find('\n', start);
      if (end == std::string::npos) end = r.out.size();
      if (end > start) lines.push_back(r.out.substr(start, end - start));
      start = end + 1;
    }
    return lines;
  }

 private:
  static int& counter() {
    static int n = 0;
    return n;
  }
  std::string file_;
  std::unique_ptr<BackgroundProcess> proc_;
};

// Packets in `lines` sent from `port` that carry FIN or RST.
inline std::vector<std::string> fin_or_rst_from(const std::vector<std::string>& lines, int port) {
  std::vector<std::string> out;
  std::string from = "." + std::to_string(port) + " >";
  for (const auto& l : lines) {
    size_t flags = l.find("Flags [");
    if (flags == std::string::npos || l.find(from) == std::string::npos) continue;
    std::string f = l.substr(flags + 7, l.find(']', flags) - flags - 7);
    if (f.find('F') != std::string::npos || f.find('R') != std::string::npos) out.push_back(l);
  }
  return out;
}

inline std::vector<nlohmann::json> read_events(const std::string& path) {
  std::vector<nlohmann::json> events;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) events.push_back(nlohmann::json::parse(line, nullptr, false));
  return events;
}

inline size_t count_events(const std::string& path, const std::string& kind) {
  size_t n = 0;
  for (const auto& e : read_events(path))
    if (e.is_object() && e.value("event", "") == kind) ++n;
  return n;
}

inline bool wait_event(const std::string& path, const std::string& kind, size_t n = 1,
                       std::chrono::milliseconds timeout = std::chrono::seconds(15)) {
  return eventually([&] { return count_events(path, kind) >= n; }, timeout);
}

inline std::string v2_cgroup_of(pid_t pid) {
  std::string text = read_file("/proc/" + std::to_string(pid) + "/cgroup");
  size_t at = text.find("0::");
  if (at == std::string::npos) return "";
  return text.substr(at + 3, text.find('\n', at) - at - 3);
}

inline bool path_exists(const std::string& path) { return ::access(path.c_str(), F_OK) == 0; }

}  // namespace syschaos::testing
