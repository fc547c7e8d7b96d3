#include "target/docker_client.hpp"

#include <curl/curl.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <nlohmann/json.hpp>

#include "core/unique_fd.hpp"

namespace syschaos {

namespace {

struct CurlSlistFree {
  void operator()(curl_slist* list) const { curl_slist_free_all(list); }
};
using CurlHeaders = std::unique_ptr<curl_slist, CurlSlistFree>;

// curl_global_init is not thread-safe and must run once before any handle is made;
// curl_easy_init would otherwise run it implicitly, racing with other threads.
CURLcode curl_global_init_once() {
  static std::once_flag once;
  static CURLcode result = CURLE_OK;
  std::call_once(once, [] { result = curl_global_init(CURL_GLOBAL_DEFAULT); });
  return result;
}

size_t append_to_string(char* data, size_t size, size_t count, void* user) {
  static_cast<std::string*>(user)->append(data, size * count);
  return size * count;
}

// Failures that mean nothing answers on the socket (Docker down, socket missing or not ours).
bool is_connection_failure(CURLcode code) {
  return code == CURLE_COULDNT_CONNECT || code == CURLE_COULDNT_RESOLVE_HOST ||
         code == CURLE_COULDNT_RESOLVE_PROXY || code == CURLE_SEND_ERROR ||
         code == CURLE_RECV_ERROR || code == CURLE_GOT_NOTHING;
}

// 0 when a unix socket at `path` accepts a connection, else connect(2)'s errno.
int unix_socket_connect_errno(const std::string& path) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (path.size() >= sizeof address.sun_path) return ENAMETOOLONG;
  std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
  UniqueFd socket_fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!socket_fd) return errno;
  if (::connect(socket_fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0)
    return errno;
  return 0;
}

std::string strip_leading_slash(std::string_view name) {
  while (name.starts_with('/')) name.remove_prefix(1);
  return std::string(name);
}

}  // namespace

struct DockerClient::CurlEasy {
  struct Cleanup {
    void operator()(CURL* handle) const { curl_easy_cleanup(handle); }
  };
  std::unique_ptr<CURL, Cleanup> handle;
};

DockerClient::DockerClient(std::string socket_path, std::unique_ptr<CurlEasy> curl)
    : socket_path_(std::move(socket_path)), curl_(std::move(curl)) {}
DockerClient::DockerClient(DockerClient&&) noexcept = default;
DockerClient& DockerClient::operator=(DockerClient&&) noexcept = default;
DockerClient::~DockerClient() = default;

Result<DockerClient> DockerClient::from_environment() {
  const char* host = std::getenv("DOCKER_HOST");
  auto socket =
      docker_socket_from_host(host ? std::optional<std::string_view>(host) : std::nullopt);
  if (!socket) return socket.error();
  return for_socket(std::move(*socket));
}

Result<DockerClient> DockerClient::for_socket(std::string socket_path) {
  if (CURLcode code = curl_global_init_once(); code != CURLE_OK)
    return Error(fmt::format("curl_global_init: {}", curl_easy_strerror(code)));
  auto curl = std::make_unique<CurlEasy>();
  curl->handle.reset(curl_easy_init());
  if (!curl->handle) return Error("curl_easy_init failed (out of memory?)");
  return DockerClient(std::move(socket_path), std::move(curl));
}

Result<HttpResponse> DockerClient::request(std::string_view method, std::string_view path,
                                           std::string_view json_body,
                                           std::chrono::milliseconds timeout) {
  CURL* curl = curl_->handle.get();
  // One handle serves every request (it keeps the connection open); reset drops the
  // options of the previous request.
  curl_easy_reset(curl);
  char error_buffer[CURL_ERROR_SIZE] = {};
  HttpResponse response;
  // With a unix socket the host name is not resolved, but the URL needs one; Docker
  // ignores it.
  std::string url = fmt::format("http://localhost{}", path);
  std::string method_name(method);
  CurlHeaders headers;

  CURLcode code = CURLE_OK;
  auto set = [&](CURLoption option, auto value) {
    if (code == CURLE_OK) code = curl_easy_setopt(curl, option, value);
  };
  set(CURLOPT_UNIX_SOCKET_PATH, socket_path_.c_str());
  set(CURLOPT_URL, url.c_str());
  set(CURLOPT_ERRORBUFFER, error_buffer);
  set(CURLOPT_NOSIGNAL, 1L);  // no SIGALRM for timeouts: syschaos owns its signals
  set(CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));
  set(CURLOPT_WRITEFUNCTION, &append_to_string);
  set(CURLOPT_WRITEDATA, static_cast<void*>(&response.body));
  if (method == "GET") {
    set(CURLOPT_HTTPGET, 1L);
  } else if (method == "HEAD") {
    set(CURLOPT_NOBODY, 1L);
  } else {
    set(CURLOPT_CUSTOMREQUEST, method_name.c_str());
    // POSTFIELDS, even empty, makes curl send Content-Length, which Docker's POST
    // endpoints expect.
    set(CURLOPT_POSTFIELDSIZE, static_cast<long>(json_body.size()));
    set(CURLOPT_POSTFIELDS, json_body.empty() ? "" : json_body.data());
  }
  if (!json_body.empty()) {
    curl_slist* list = nullptr;
    // "Expect:" stops curl from waiting for a 100-continue before sending larger bodies.
    for (const char* header : {"Content-Type: application/json", "Expect:"}) {
      curl_slist* head = curl_slist_append(list, header);
      if (!head) {
        curl_slist_free_all(list);
        return Error("curl_slist_append failed (out of memory?)");
      }
      list = head;
    }
    headers.reset(list);
    set(CURLOPT_HTTPHEADER, headers.get());
  }
  if (code != CURLE_OK)
    return Error(fmt::format("curl_easy_setopt for Docker API {} {}: {}", method, path,
                             curl_easy_strerror(code)));

  code = curl_easy_perform(curl);
  if (code != CURLE_OK) {
    std::string detail = error_buffer[0] ? error_buffer : curl_easy_strerror(code);
    if (is_connection_failure(code)) {
      // curl words a refused unix socket as a TCP failure ("port 80"); connect(2) on the
      // socket itself names the real cause (ENOENT, EACCES, ECONNREFUSED).
      if (int err = unix_socket_connect_errno(socket_path_))
        detail = Error::sys("connect", err).message();
      return docker_unreachable(socket_path_, detail);
    }
    return Error(fmt::format("Docker API {} {} failed: {}", method, path, detail));
  }
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &response.status);
  return response;
}

Result<void> DockerClient::ping(std::chrono::milliseconds timeout) {
  auto response = request("GET", "/_ping", {}, timeout);
  if (!response) return response.error();
  if (response->status != 200) return docker_api_error("GET", "/_ping", *response);
  return ok();
}

Result<std::string> DockerClient::server_version() {
  auto response = request("GET", "/version");
  if (!response) return response.error();
  if (response->status != 200) return docker_api_error("GET", "/version", *response);
  auto json = nlohmann::json::parse(response->body, nullptr, false);
  if (json.is_discarded() || !json.is_object() || !json.contains("Version") ||
      !json["Version"].is_string())
    return Error("Docker API GET /version: no Version in the answer");
  return json["Version"].get<std::string>();
}

Result<std::optional<ContainerInfo>> DockerClient::find_container(std::string_view name_or_id) {
  // Docker shows names with a leading '/' ("/web"); accept them as written there.
  std::string name = strip_leading_slash(name_or_id);
  if (name.empty()) return Error("empty container name");
  auto response = request("GET", fmt::format("/containers/{}/json", url_escape_path_segment(name)));
  if (!response) return response.error();
  return container_from_inspect_response(name, *response);
}

Result<ContainerInfo> DockerClient::inspect_container(std::string_view name_or_id) {
  auto found = find_container(name_or_id);
  if (!found) return found.error();
  if (!*found) return Error(fmt::format("no such container: {}", strip_leading_slash(name_or_id)));
  return std::move(**found);
}

Result<std::string> docker_socket_from_host(std::optional<std::string_view> docker_host) {
  if (!docker_host || docker_host->empty()) return std::string(DockerClient::kDefaultSocket);
  constexpr std::string_view kUnixScheme = "unix://";
  if (docker_host->starts_with(kUnixScheme) && docker_host->size() > kUnixScheme.size())
    return std::string(docker_host->substr(kUnixScheme.size()));
  return Error(fmt::format(
      "DOCKER_HOST={} is not supported: syschaos talks to Docker over a unix socket only "
      "(DOCKER_HOST=unix:///path/to/docker.sock)",
      *docker_host));
}

Result<void> DockerClient::restart_container(std::string_view name_or_id, int grace_seconds) {
  std::string path = fmt::format("/containers/{}/restart?t={}", url_escape_path_segment(name_or_id),
                                 grace_seconds);
  auto response = request("POST", path, {}, std::chrono::seconds(grace_seconds + 60));
  if (!response) return response.error();
  if (response->status == 404) return Error(fmt::format("no such container: {}", name_or_id));
  if (response->status / 100 != 2) return docker_api_error("POST", path, *response);
  return ok();
}

Result<ContainerInfo> parse_container_inspect(std::string_view json_text) {
  auto json = nlohmann::json::parse(json_text, nullptr, false);
  if (json.is_discarded() || !json.is_object())
    return Error("Docker answered container inspect with something that is not a JSON object");
  // nlohmann reports type mismatches by exception; they stop at this boundary.
  try {
    ContainerInfo info;
    info.id = json.at("Id").get<std::string>();
    info.name = strip_leading_slash(json.value("Name", std::string()));
    const auto& state = json.at("State");
    info.running = state.value("Running", false);
    info.paused = state.value("Paused", false);
    info.restarting = state.value("Restarting", false);
    info.pid = state.value("Pid", 0);
    info.status = state.value("Status", std::string());
    info.exit_code = state.value("ExitCode", 0);
    info.oom_killed = state.value("OOMKilled", false);
    info.started_at = state.value("StartedAt", std::string());
    info.restart_count = json.value("RestartCount", 0);
    if (info.id.empty()) return Error("container inspect JSON has an empty Id");
    return info;
  } catch (const nlohmann::json::exception& e) {
    return Error(fmt::format("unexpected container inspect JSON from Docker: {}", e.what()));
  }
}

Result<std::optional<ContainerInfo>> container_from_inspect_response(std::string_view name_or_id,
                                                                     const HttpResponse& response) {
  if (response.status == 404) return std::optional<ContainerInfo>();
  std::string path = fmt::format("/containers/{}/json", name_or_id);
  if (response.status != 200) return docker_api_error("GET", path, response);
  auto info = parse_container_inspect(response.body);
  if (!info) return info.error().context(fmt::format("Docker API GET {}", path));
  return std::optional<ContainerInfo>(std::move(*info));
}

Error docker_api_error(std::string_view method, std::string_view path,
                       const HttpResponse& response) {
  // Docker puts its reason in {"message": "..."}; other answers are shown as they came.
  std::string message;
  auto json = nlohmann::json::parse(response.body, nullptr, false);
  if (!json.is_discarded() && json.is_object() && json.contains("message") &&
      json["message"].is_string())
    message = json["message"].get<std::string>();
  else
    message = response.body.substr(0, 200);
  while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) message.pop_back();
  if (message.empty())
    return Error(fmt::format("Docker API {} {} failed: HTTP {}", method, path, response.status));
  return Error(
      fmt::format("Docker API {} {} failed: HTTP {}: {}", method, path, response.status, message));
}

Error docker_unreachable(std::string_view socket_path, std::string_view detail) {
  return Error(fmt::format("Docker is not reachable at {}: {}", socket_path, detail));
}

std::string url_escape_path_segment(std::string_view segment) {
  std::string out;
  for (unsigned char c : segment) {
    bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                      c == '-' || c == '.' || c == '_' || c == '~';
    if (unreserved)
      out.push_back(static_cast<char>(c));
    else
      out += fmt::format("%{:02X}", c);
  }
  return out;
}

}  // namespace syschaos
