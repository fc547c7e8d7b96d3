// The Docker client against a fake Engine API server on a unix socket, and the pure parts
// (inspect JSON, error mapping, DOCKER_HOST, the container's cgroup) without any server.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <functional>
#include <mutex>
#include <thread>

#include "core/unique_fd.hpp"
#include "target/docker_client.hpp"
#include "target/docker_target.hpp"

namespace syschaos {
namespace {

using namespace std::chrono_literals;

constexpr std::string_view kRunningInspect = R"({
  "Id": "3f2a9c1b7d0e5a6b8c9d0e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d",
  "Name": "/web",
  "State": {"Status": "running", "Running": true, "Paused": false, "Restarting": false,
            "OOMKilled": false, "Dead": false, "Pid": 4242, "ExitCode": 0},
  "Config": {"Image": "nginx"}
})";

constexpr std::string_view kExitedInspect = R"({
  "Id": "aaaabbbbccccddddeeeeffff0000111122223333444455556666777788889999",
  "Name": "/batch",
  "State": {"Status": "exited", "Running": false, "Paused": false, "Restarting": false,
            "Pid": 0, "ExitCode": 1}
})";

// ---- pure parts -------------------------------------------------------------------------

TEST(DockerInspect, ParsesARunningContainer) {
  auto info = parse_container_inspect(kRunningInspect);
  ASSERT_TRUE(info.ok()) << info.error().message();
  EXPECT_EQ(info->id, "3f2a9c1b7d0e5a6b8c9d0e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d");
  EXPECT_EQ(info->short_id(), "3f2a9c1b7d0e");
  EXPECT_EQ(info->name, "web");
  EXPECT_TRUE(info->running);
  EXPECT_FALSE(info->paused);
  EXPECT_FALSE(info->restarting);
  EXPECT_EQ(info->pid, 4242);
  EXPECT_EQ(info->status, "running");
}

TEST(DockerInspect, ParsesAnExitedContainer) {
  auto info = parse_container_inspect(kExitedInspect);
  ASSERT_TRUE(info.ok()) << info.error().message();
  EXPECT_FALSE(info->running);
  EXPECT_EQ(info->pid, 0);
  EXPECT_EQ(info->status, "exited");
  EXPECT_EQ(info->name, "batch");
}

TEST(DockerInspect, RejectsMalformedAnswers) {
  EXPECT_FALSE(parse_container_inspect("not json").ok());
  EXPECT_FALSE(parse_container_inspect("[1, 2]").ok());
  auto no_id = parse_container_inspect(R"({"Name": "/x", "State": {}})");
  ASSERT_FALSE(no_id.ok());
  EXPECT_NE(no_id.error().message().find("unexpected container inspect JSON"), std::string::npos);
  auto bad_pid = parse_container_inspect(R"({"Id": "ab", "State": {"Pid": "many"}})");
  ASSERT_FALSE(bad_pid.ok());
  EXPECT_FALSE(parse_container_inspect(R"({"Id": "", "State": {}})").ok());
}

TEST(DockerInspect, MapsHttpStatuses) {
  auto found = container_from_inspect_response("web", {200, std::string(kRunningInspect)});
  ASSERT_TRUE(found.ok()) << found.error().message();
  ASSERT_TRUE(found->has_value());
  EXPECT_EQ((*found)->name, "web");

  auto missing =
      container_from_inspect_response("nope", {404, R"({"message":"No such container: nope"})"});
  ASSERT_TRUE(missing.ok());
  EXPECT_FALSE(missing->has_value());

  auto failed = container_from_inspect_response("web", {500, R"({"message":"driver failed"})"});
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.error().message(),
            "Docker API GET /containers/web/json failed: HTTP 500: driver failed");

  auto garbled = container_from_inspect_response("web", {200, "{"});
  ASSERT_FALSE(garbled.ok());
  EXPECT_NE(garbled.error().message().find("Docker API GET /containers/web/json"),
            std::string::npos);
}

TEST(DockerErrors, ApiErrorUsesDockersMessageOrTheRawBody) {
  EXPECT_EQ(docker_api_error("POST", "/containers/x/restart", {409, "{\"message\":\"conflict\"}\n"})
                .message(),
            "Docker API POST /containers/x/restart failed: HTTP 409: conflict");
  EXPECT_EQ(docker_api_error("GET", "/x", {502, "Bad Gateway\n"}).message(),
            "Docker API GET /x failed: HTTP 502: Bad Gateway");
  EXPECT_EQ(docker_api_error("GET", "/x", {503, ""}).message(),
            "Docker API GET /x failed: HTTP 503");
  EXPECT_EQ(docker_unreachable("/var/run/docker.sock", "connect: Connection refused").message(),
            "Docker is not reachable at /var/run/docker.sock: connect: Connection refused");
}

TEST(DockerHost, OnlyUnixSocketsAreAccepted) {
  EXPECT_EQ(*docker_socket_from_host(std::nullopt), "/var/run/docker.sock");
  EXPECT_EQ(*docker_socket_from_host(""), "/var/run/docker.sock");
  EXPECT_EQ(*docker_socket_from_host("unix:///run/user/1000/docker.sock"),
            "/run/user/1000/docker.sock");
  auto tcp = docker_socket_from_host("tcp://10.0.0.1:2375");
  ASSERT_FALSE(tcp.ok());
  EXPECT_NE(tcp.error().message().find("DOCKER_HOST=tcp://10.0.0.1:2375 is not supported"),
            std::string::npos);
  EXPECT_FALSE(docker_socket_from_host("unix://").ok());
}

TEST(DockerUrl, EscapesPathSegments) {
  EXPECT_EQ(url_escape_path_segment("web_1.a-b~"), "web_1.a-b~");
  EXPECT_EQ(url_escape_path_segment("a/b c?d"), "a%2Fb%20c%3Fd");
}

// ---- the container's cgroup --------------------------------------------------------------

constexpr std::string_view kId = "3f2a9c1b7d0e5a6b8c9d0e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d";

std::vector<CgroupMount> hybrid_mounts() {
  return parse_cgroup_mounts(
      "31 30 0:28 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n"
      "34 30 0:31 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"
      "38 30 0:35 / /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids\n"
      "40 30 0:37 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n");
}

TEST(ContainerCgroup, CgroupfsDriverOnAHybridHostUsesV1) {
  // The v2 entry is dockerd's own cgroup, shared by every container: never the container's.
  std::string proc_cgroup = fmt::format(
      "8:pids:/docker/{0}\n4:memory:/docker/{0}\n1:cpu:/docker/{0}\n0::/system.slice/"
      "docker.service\n",
      kId);
  auto dir = container_cgroup_dir(proc_cgroup, hybrid_mounts(), kId);
  ASSERT_TRUE(dir.ok()) << dir.error().message();
  EXPECT_EQ(*dir, fmt::format("/sys/fs/cgroup/pids/docker/{}", kId));
}

TEST(ContainerCgroup, FallsBackToMemoryThenCpu) {
  std::string proc_cgroup = fmt::format("4:memory:/docker/{0}\n1:cpu:/docker/{0}\n0::/\n", kId);
  EXPECT_EQ(*container_cgroup_dir(proc_cgroup, hybrid_mounts(), kId),
            fmt::format("/sys/fs/cgroup/memory/docker/{}", kId));
  proc_cgroup = fmt::format("1:cpu:/docker/{0}\n", kId);
  EXPECT_EQ(*container_cgroup_dir(proc_cgroup, hybrid_mounts(), kId),
            fmt::format("/sys/fs/cgroup/cpu/docker/{}", kId));
}

TEST(ContainerCgroup, SystemdDriverOnAV2Host) {
  auto mounts = parse_cgroup_mounts("25 22 0:22 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n");
  std::string proc_cgroup = fmt::format("0::/system.slice/docker-{}.scope\n", kId);
  auto dir = container_cgroup_dir(proc_cgroup, mounts, kId);
  ASSERT_TRUE(dir.ok()) << dir.error().message();
  EXPECT_EQ(*dir, fmt::format("/sys/fs/cgroup/system.slice/docker-{}.scope", kId));
}

TEST(ContainerCgroup, NoHierarchyNamingTheIdIsAnError) {
  auto dir = container_cgroup_dir("8:pids:/\n0::/\n", hybrid_mounts(), kId);
  ASSERT_FALSE(dir.ok());
  EXPECT_NE(dir.error().message().find("cannot find the cgroup of container 3f2a9c1b7d0e"),
            std::string::npos);
}

// ---- the client against a fake Engine API ------------------------------------------------

struct RecordedRequest {
  std::string method, path, headers, body;
};

std::string http_response(int status, std::string_view body) {
  return fmt::format(
      "HTTP/1.1 {} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n"
      "Connection: close\r\n\r\n{}",
      status, body.size(), body);
}

// Answers each connection's one request with handler(request), then closes it.
class FakeDockerServer {
 public:
  using Handler = std::function<std::string(const RecordedRequest&)>;

  explicit FakeDockerServer(Handler handler) : handler_(std::move(handler)) {
    char pattern[] = "/tmp/syschaos-docker-unit-XXXXXX";
    if (!::mkdtemp(pattern)) throw std::runtime_error("mkdtemp failed");
    dir_ = pattern;
    socket_path_ = dir_ + "/docker.sock";
    listener_.reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strcpy(address.sun_path, socket_path_.c_str());
    if (::bind(listener_.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
        ::listen(listener_.get(), 8) != 0)
      throw std::runtime_error("cannot listen on " + socket_path_);
    thread_ = std::thread([this] { serve(); });
  }
  ~FakeDockerServer() {
    stop_ = true;
    thread_.join();
    listener_.reset();
    std::filesystem::remove_all(dir_);
  }

  const std::string& socket_path() const { return socket_path_; }
  std::vector<RecordedRequest> requests() {
    std::lock_guard lock(mutex_);
    return requests_;
  }

 private:
  void serve() {
    while (!stop_) {
      pollfd pfd{listener_.get(), POLLIN, 0};
      if (::poll(&pfd, 1, 20) <= 0) continue;
      UniqueFd connection(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
      if (!connection) continue;
      RecordedRequest request = read_request(connection.get());
      {
        std::lock_guard lock(mutex_);
        requests_.push_back(request);
      }
      std::string response = handler_(request);
      // MSG_NOSIGNAL: a client that timed out has closed; that must not kill the test.
      (void)!::send(connection.get(), response.data(), response.size(), MSG_NOSIGNAL);
    }
  }

  static RecordedRequest read_request(int fd) {
    std::string data;
    char buffer[4096];
    size_t header_end;
    while ((header_end = data.find("\r\n\r\n")) == std::string::npos) {
      ssize_t n = ::read(fd, buffer, sizeof buffer);
      if (n <= 0) return {};
      data.append(buffer, n);
    }
    RecordedRequest request;
    std::string head = data.substr(0, header_end);
    size_t space = head.find(' ');
    request.method = head.substr(0, space);
    request.path = head.substr(space + 1, head.find(' ', space + 1) - space - 1);
    request.headers = head.substr(head.find("\r\n") + 2);
    size_t length = 0;
    if (size_t at = head.find("Content-Length: "); at != std::string::npos)
      length = std::stoul(head.substr(at + 16));
    request.body = data.substr(header_end + 4);
    while (request.body.size() < length) {
      ssize_t n = ::read(fd, buffer, sizeof buffer);
      if (n <= 0) break;
      request.body.append(buffer, n);
    }
    return request;
  }

  Handler handler_;
  std::string dir_, socket_path_;
  UniqueFd listener_;
  std::atomic<bool> stop_{false};
  std::mutex mutex_;
  std::vector<RecordedRequest> requests_;
  std::thread thread_;
};

std::string fake_engine(const RecordedRequest& request) {
  if (request.path == "/_ping") return http_response(200, "OK");
  if (request.path == "/version")
    return http_response(200, R"({"Version":"99.1.0","ApiVersion":"1.99"})");
  if (request.path == "/containers/web/json") return http_response(200, kRunningInspect);
  if (request.path == "/containers/broken/json") return http_response(500, R"({"message":"boom"})");
  if (request.path.starts_with("/containers/") && request.path.ends_with("/json"))
    return http_response(404, R"({"message":"No such container"})");
  return http_response(200, "{}");
}

TEST(DockerClientFake, InspectsAContainer) {
  FakeDockerServer server(fake_engine);
  auto client = DockerClient::for_socket(server.socket_path());
  ASSERT_TRUE(client.ok()) << client.error().message();
  auto info = client->inspect_container("web");
  ASSERT_TRUE(info.ok()) << info.error().message();
  EXPECT_EQ(info->name, "web");
  EXPECT_EQ(info->pid, 4242);
  // Docker's own "/web" spelling names the same container.
  ASSERT_TRUE(client->inspect_container("/web").ok());
  auto requests = server.requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[0].method, "GET");
  EXPECT_EQ(requests[0].path, "/containers/web/json");
  EXPECT_EQ(requests[1].path, "/containers/web/json");
}

TEST(DockerClientFake, MissingAndFailingContainers) {
  FakeDockerServer server(fake_engine);
  auto client = DockerClient::for_socket(server.socket_path());
  ASSERT_TRUE(client.ok());
  auto missing = client->inspect_container("nope");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().message(), "no such container: nope");
  auto found = client->find_container("nope");
  ASSERT_TRUE(found.ok());
  EXPECT_FALSE(found->has_value());
  auto broken = client->inspect_container("broken");
  ASSERT_FALSE(broken.ok());
  EXPECT_EQ(broken.error().message(),
            "Docker API GET /containers/broken/json failed: HTTP 500: boom");
  // Names go into the URL escaped, never as extra path segments.
  (void)client->find_container("a/b c");
  EXPECT_EQ(server.requests().back().path, "/containers/a%2Fb%20c/json");
}

TEST(DockerClientFake, PingVersionAndPostBodies) {
  FakeDockerServer server(fake_engine);
  auto client = DockerClient::for_socket(server.socket_path());
  ASSERT_TRUE(client.ok());
  EXPECT_TRUE(client->ping().ok());
  auto version = client->server_version();
  ASSERT_TRUE(version.ok()) << version.error().message();
  EXPECT_EQ(*version, "99.1.0");

  auto created = client->request("POST", "/containers/web/exec", R"({"Cmd":["true"]})");
  ASSERT_TRUE(created.ok()) << created.error().message();
  EXPECT_EQ(created->status, 200);
  auto restart = client->request("POST", "/containers/web/restart?t=0");
  ASSERT_TRUE(restart.ok()) << restart.error().message();

  auto requests = server.requests();
  ASSERT_EQ(requests.size(), 4u);
  EXPECT_EQ(requests[2].method, "POST");
  EXPECT_EQ(requests[2].body, R"({"Cmd":["true"]})");
  EXPECT_NE(requests[2].headers.find("Content-Type: application/json"), std::string::npos);
  EXPECT_EQ(requests[3].path, "/containers/web/restart?t=0");
  EXPECT_NE(requests[3].headers.find("Content-Length: 0"), std::string::npos);
  EXPECT_TRUE(requests[3].body.empty());
}

TEST(DockerClientFake, ASlowAnswerIsATimeoutNotUnreachable) {
  FakeDockerServer server([](const RecordedRequest&) {
    std::this_thread::sleep_for(400ms);
    return http_response(200, "OK");
  });
  auto client = DockerClient::for_socket(server.socket_path());
  ASSERT_TRUE(client.ok());
  auto response = client->request("GET", "/_ping", {}, 100ms);
  ASSERT_FALSE(response.ok());
  EXPECT_NE(response.error().message().find("Docker API GET /_ping failed"), std::string::npos)
      << response.error().message();
}

TEST(DockerClient, AMissingSocketIsUnreachable) {
  auto client = DockerClient::for_socket("/nonexistent-syschaos/docker.sock");
  ASSERT_TRUE(client.ok());
  auto pong = client->ping();
  ASSERT_FALSE(pong.ok());
  EXPECT_EQ(
      pong.error().message(),
      "Docker is not reachable at /nonexistent-syschaos/docker.sock: connect: No such file or "
      "directory");
  auto info = client->inspect_container("web");
  ASSERT_FALSE(info.ok());
  EXPECT_NE(info.error().message().find("Docker is not reachable"), std::string::npos);
}

}  // namespace
}  // namespace syschaos
