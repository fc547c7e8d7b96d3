/* A TCP client for the failstop tests: what does a peer see when its server fails?
 *
 *   failstop_client PORT REQUEST GO_FILE TIMEOUT_MS [ADDR]
 *
 * Connects to ADDR:PORT (default 127.0.0.1), sends REQUEST ("\r\n" written as the two characters \r\n are
 * turned into CR LF), reads the first reply and prints "first: ok". Then waits until
 * GO_FILE exists (the test creates it once the failure is in place), sends REQUEST again
 * and waits up to TIMEOUT_MS for anything to come back, printing one of
 *   second: timeout   nothing at all: the server is gone without a word (fail-stop)
 *   second: eof       a FIN: the server's kernel closed the connection cleanly
 *   second: reset     an RST
 *   second: data N    a reply
 *   second: error E   another errno
 * Exit status 0 in every case: the test judges the line. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static void unescape(const char *in, char *out) {
  while (*in) {
    if (in[0] == '\\' && in[1] == 'r') { *out++ = '\r'; in += 2; }
    else if (in[0] == '\\' && in[1] == 'n') { *out++ = '\n'; in += 2; }
    else *out++ = *in++;
  }
  *out = 0;
}

/* Reads with a deadline; returns bytes, 0 on EOF, -1 with errno (ETIMEDOUT on timeout). */
static ssize_t read_within(int fd, char *buf, size_t size, int timeout_ms) {
  struct pollfd p = {fd, POLLIN, 0};
  int r = poll(&p, 1, timeout_ms);
  if (r == 0) { errno = ETIMEDOUT; return -1; }
  if (r < 0) return -1;
  return read(fd, buf, size);
}

int main(int argc, char **argv) {
  if (argc != 5 && argc != 6) {
    fprintf(stderr, "usage: %s PORT REQUEST GO_FILE TIMEOUT_MS [ADDR]\n", argv[0]);
    return 2;
  }
  char request[1024];
  unescape(argv[2], request);
  int timeout_ms = atoi(argv[4]);
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((unsigned short)atoi(argv[1]))};
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (argc == 6 && inet_pton(AF_INET, argv[5], &addr.sin_addr) != 1) {
    fprintf(stderr, "bad address %s\n", argv[5]);
    return 2;
  }
  if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) { perror("connect"); return 1; }
  char buf[4096];
  if (write(fd, request, strlen(request)) < 0) { perror("write"); return 1; }
  ssize_t n = read_within(fd, buf, sizeof(buf), 5000);
  if (n <= 0) { printf("first: failed\n"); return 1; }
  printf("first: ok\n");
  fflush(stdout);
  struct stat st;
  for (int i = 0; stat(argv[3], &st) != 0; ++i) {
    if (i > 60000) { printf("second: never told to go\n"); return 1; }
    usleep(1000);
  }
  if (write(fd, request, strlen(request)) < 0) {
    printf("second: %s\n", errno == ECONNRESET || errno == EPIPE ? "reset" : strerror(errno));
    return 0;
  }
  n = read_within(fd, buf, sizeof(buf), timeout_ms);
  if (n > 0) printf("second: data %zd\n", n);
  else if (n == 0) printf("second: eof\n");
  else if (errno == ETIMEDOUT) printf("second: timeout\n");
  else if (errno == ECONNRESET) printf("second: reset\n");
  else printf("second: error %s\n", strerror(errno));
  return 0;
}
