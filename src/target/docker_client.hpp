// DockerClient: a minimal Docker Engine API client over Docker's unix socket (libcurl),
// enough to find a container's state and main process; request() is the generic call
// that later features (restart, exec, pause) build on.
//
// One client holds one curl handle and is not thread-safe: give each thread its own.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/result.hpp"

namespace syschaos {

struct HttpResponse {
  long status = 0;  // HTTP status code
  std::string body;
};

// The part of GET /containers/{id}/json that syschaos uses.
struct ContainerInfo {
  std::string id;        // full 64-hex id
  std::string name;      // without Docker's leading '/'
  bool running = false;  // State.Running: true while paused or restarting too
  bool paused = false;
  bool restarting = false;
  pid_t pid = 0;       // main process in the host's pid namespace; 0 when not running
  std::string status;  // State.Status: created, running, paused, restarting, exited, dead, ...
  int exit_code = 0;       // State.ExitCode of the last run
  bool oom_killed = false; // State.OOMKilled
  std::string started_at;  // State.StartedAt: changes on every (re)start
  int restart_count = 0;   // RestartCount: restarts done by the restart policy

  std::string short_id() const { return id.substr(0, 12); }
};

class DockerClient {
 public:
  static constexpr std::string_view kDefaultSocket = "/var/run/docker.sock";

  // The socket named by $DOCKER_HOST (unix:// only) or the default socket. Does not
  // connect yet: use ping() to check that Docker answers.
  static Result<DockerClient> from_environment();
  static Result<DockerClient> for_socket(std::string socket_path);

  DockerClient(DockerClient&&) noexcept;
  DockerClient& operator=(DockerClient&&) noexcept;
  ~DockerClient();

  // One API call. `path` starts with '/' and may carry a query ("/containers/json?all=1").
  // A non-empty body is sent as JSON. Any HTTP status is a success here; an error means no
  // answer: "Docker is not reachable at SOCKET: <curl error>" when the connection fails.
  Result<HttpResponse> request(std::string_view method, std::string_view path,
                               std::string_view json_body = {},
                               std::chrono::milliseconds timeout = std::chrono::seconds(30));

  // GET /_ping: Docker answers "OK".
  Result<void> ping(std::chrono::milliseconds timeout = std::chrono::seconds(2));
  // POST /containers/{id}/restart?t=SECONDS: stops (SIGTERM, then SIGKILL after the grace
  // time) and starts the container again.
  Result<void> restart_container(std::string_view name_or_id, int grace_seconds = 10);

  // GET /version: the engine's version string, e.g. "20.10.24+dfsg1".
  Result<std::string> server_version();

  // The container, or nullopt when Docker has none of that name or id (HTTP 404).
  Result<std::optional<ContainerInfo>> find_container(std::string_view name_or_id);
  // As find_container, but a missing container is the error "no such container: X".
  Result<ContainerInfo> inspect_container(std::string_view name_or_id);

  const std::string& socket_path() const { return socket_path_; }

 private:
  struct CurlEasy;  // owns the CURL* handle (RAII), defined in the .cpp to keep curl.h out
  DockerClient(std::string socket_path, std::unique_ptr<CurlEasy> curl);

  std::string socket_path_;
  std::unique_ptr<CurlEasy> curl_;
};

// The pure parts, testable without Docker.

// The socket path for a DOCKER_HOST value: nullopt or "" -> the default socket,
// "unix:///run/d.sock" -> "/run/d.sock"; other schemes (tcp://, ssh://) are an error.
Result<std::string> docker_socket_from_host(std::optional<std::string_view> docker_host);

// Parses the JSON of GET /containers/{id}/json.
Result<ContainerInfo> parse_container_inspect(std::string_view json);

// Maps the answer to an inspect call: 200 -> the container, 404 -> nullopt, anything else
// -> the error Docker gives.
Result<std::optional<ContainerInfo>> container_from_inspect_response(std::string_view name_or_id,
                                                                     const HttpResponse& response);

// "Docker API GET /x failed: HTTP 500: <Docker's message>" from a non-2xx answer.
Error docker_api_error(std::string_view method, std::string_view path,
                       const HttpResponse& response);

// "Docker is not reachable at SOCKET: DETAIL".
Error docker_unreachable(std::string_view socket_path, std::string_view detail);

// Percent-encodes a value for one path segment of a URL ("a/b c" -> "a%2Fb%20c").
std::string url_escape_path_segment(std::string_view segment);

}  // namespace syschaos
