// A controllable HTTP/1.1 server on 127.0.0.1 for the HTTP workload's tests: the path says
// how to answer, so one server can be slow, fail, reset or count.
//
//   exp_http_server [PORT]     (0 or nothing: any free port) prints the port, then serves.
//
//   /bytes/N       200 with an N-byte body            /status/N   that status, small body
//   /delay/MS      200 after MS milliseconds          /reset      RST instead of an answer
//   /close         closed without an answer           /partial    headers, then half a body
//   /stats         "requests R\nconnections C\nmax_in_flight M\n" (itself not counted)
//   anything else  200 "ok\n"
//
// Keep-alive as HTTP/1.1 says (Connection: close honoured). One thread per connection.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static atomic_long requests, connections, in_flight, max_in_flight;

static int write_all(int fd, const char* data, size_t size) {
  while (size > 0) {
    ssize_t n = send(fd, data, size, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    data += n;
    size -= (size_t)n;
  }
  return 0;
}

static int respond(int fd, int status, const char* body, size_t body_size, int keep_alive) {
  char head[256];
  int n = snprintf(head, sizeof head,
                   "HTTP/1.1 %d X\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n%s\r\n",
                   status, body_size, keep_alive ? "" : "Connection: close\r\n");
  if (write_all(fd, head, (size_t)n) != 0) return -1;
  return body_size ? write_all(fd, body, body_size) : 0;
}

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

static void note_in_flight(long delta) {
  long now = atomic_fetch_add(&in_flight, delta) + delta;
  long max = atomic_load(&max_in_flight);
  while (now > max && !atomic_compare_exchange_weak(&max_in_flight, &max, now)) {
  }
}

// Answers one request; returns 0 to keep the connection, -1 to close it.
static int serve(int fd, const char* path, int keep_alive) {
  if (strcmp(path, "/stats") == 0) {
    char body[256];
    int n = snprintf(body, sizeof body, "requests %ld\nconnections %ld\nmax_in_flight %ld\n",
                     atomic_load(&requests), atomic_load(&connections),
                     atomic_load(&max_in_flight));
    return respond(fd, 200, body, (size_t)n, keep_alive) == 0 && keep_alive ? 0 : -1;
  }
  atomic_fetch_add(&requests, 1);
  note_in_flight(1);
  int result = 0;
  if (strncmp(path, "/delay/", 7) == 0) {
    sleep_ms(atol(path + 7));
    result = respond(fd, 200, "ok\n", 3, keep_alive);
  } else if (strncmp(path, "/status/", 8) == 0) {
    result = respond(fd, atoi(path + 8), "status\n", 7, keep_alive);
  } else if (strncmp(path, "/bytes/", 7) == 0) {
    size_t size = (size_t)atol(path + 7);
    char* body = malloc(size ? size : 1);
    memset(body, 'x', size);
    result = respond(fd, 200, body, size, keep_alive);
    free(body);
  } else if (strcmp(path, "/reset") == 0) {
    struct linger hard = {1, 0};  // close() now sends RST
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &hard, sizeof hard);
    result = -1;
  } else if (strcmp(path, "/close") == 0) {
    result = -1;
  } else if (strcmp(path, "/partial") == 0) {
    const char* head = "HTTP/1.1 200 X\r\nContent-Length: 1000\r\n\r\n0123456789";
    write_all(fd, head, strlen(head));
    result = -1;
  } else {
    result = respond(fd, 200, "ok\n", 3, keep_alive);
  }
  note_in_flight(-1);
  return result == 0 && keep_alive ? 0 : -1;
}

static void* connection(void* arg) {
  int fd = (int)(long)arg;
  char buffer[8192];
  size_t used = 0;
  for (;;) {
    char* end = memmem(buffer, used, "\r\n\r\n", 4);
    if (!end) {
      if (used == sizeof buffer) break;
      ssize_t n = recv(fd, buffer + used, sizeof buffer - used, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      used += (size_t)n;
      continue;
    }
    size_t request_size = (size_t)(end - buffer) + 4;
    *end = '\0';
    char method[16], path[1024], version[16];
    if (sscanf(buffer, "%15s %1023s %15s", method, path, version) != 3) break;
    int keep_alive = strcmp(version, "HTTP/1.1") == 0;
    for (char* line = strstr(buffer, "\r\n"); line; line = strstr(line + 2, "\r\n"))
      if (strncasecmp(line + 2, "Connection: close", 17) == 0) keep_alive = 0;
    if (serve(fd, path, keep_alive) != 0) break;
    memmove(buffer, buffer + request_size, used - request_size);
    used -= request_size;
  }
  close(fd);
  return NULL;
}

static void* accept_loop(void* arg) {
  int listener = (int)(long)arg;
  int one = 1;
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize(&attr, 64 * 1024);
  for (;;) {
    int fd = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED || errno == EMFILE) continue;
      perror("exp_http_server: accept");
      exit(1);
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    atomic_fetch_add(&connections, 1);
    pthread_t thread;
    if (pthread_create(&thread, &attr, connection, (void*)(long)fd) != 0) close(fd);
  }
  return NULL;
}

int main(int argc, char** argv) {
  int port = argc > 1 ? atoi(argv[1]) : 0;
  signal(SIGPIPE, SIG_IGN);
  int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(listener, (struct sockaddr*)&address, sizeof address) != 0 ||
      listen(listener, 1024) != 0) {
    perror("exp_http_server: bind/listen");
    return 1;
  }
  socklen_t length = sizeof address;
  getsockname(listener, (struct sockaddr*)&address, &length);
  // The same port on [::1] too, when the machine has IPv6 on loopback.
  int listener6 = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in6 address6 = {.sin6_family = AF_INET6, .sin6_port = address.sin_port,
                                  .sin6_addr = IN6ADDR_LOOPBACK_INIT};
  setsockopt(listener6, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  pthread_t thread6;
  if (listener6 >= 0 && bind(listener6, (struct sockaddr*)&address6, sizeof address6) == 0 &&
      listen(listener6, 1024) == 0)
    pthread_create(&thread6, NULL, accept_loop, (void*)(long)listener6);
  printf("%d\n", ntohs(address.sin_port));
  fflush(stdout);
  accept_loop((void*)(long)listener);
  return 0;
}
