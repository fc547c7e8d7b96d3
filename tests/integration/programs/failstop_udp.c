/* UDP sender and receiver for the failstop omission/duplication tests.
 *
 *   failstop_udp send PORT COUNT GO_FILE [ADDR]   binds a socket first (so syschaos sees
 *       its endpoint), waits for GO_FILE, then sends COUNT datagrams numbered 0..COUNT-1 to
 *       ADDR:PORT (default 127.0.0.1), 100 us apart; prints "sent N errors E". With ADDR
 *       it binds to the wildcard address (the route picks the source), else to 127.0.0.1.
 *   failstop_udp recv PORT IDLE_MS [ADDR]          binds ADDR:PORT (default 127.0.0.1),
 *       counts datagrams until none came for IDLE_MS (after the first); prints
 *       "received N distinct D duplicates U". Writes "ready" to stdout once bound. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static struct sockaddr_in loopback(int port) {
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

static int address(const char *text, int port, struct sockaddr_in *out) {
  *out = loopback(port);
  return text ? inet_pton(AF_INET, text, &out->sin_addr) == 1 : 1;
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: %s send PORT COUNT GO_FILE [ADDR] | recv PORT IDLE_MS [ADDR]\n", argv[0]);
    return 2;
  }
  int port = atoi(argv[2]);
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  if (strcmp(argv[1], "send") == 0 && (argc == 5 || argc == 6)) {
    int count = atoi(argv[3]);
    struct sockaddr_in self = loopback(0), to;
    if (!address(argc == 6 ? argv[5] : NULL, port, &to)) { fprintf(stderr, "bad address\n"); return 2; }
    if (argc == 6) self.sin_addr.s_addr = htonl(INADDR_ANY);
    if (bind(fd, (struct sockaddr *)&self, sizeof(self)) != 0) { perror("bind"); return 1; }
    struct stat st;
    while (stat(argv[4], &st) != 0) usleep(1000);
    int errors = 0;
    struct timespec gap = {0, 100000};
    for (uint32_t i = 0; i < (uint32_t)count; ++i) {
      if (sendto(fd, &i, sizeof(i), 0, (struct sockaddr *)&to, sizeof(to)) != sizeof(i)) ++errors;
      nanosleep(&gap, NULL);
    }
    printf("sent %d errors %d\n", count, errors);
    return 0;
  }
  if (strcmp(argv[1], "recv") == 0 && (argc == 4 || argc == 5)) {
    int idle_ms = atoi(argv[3]);
    struct sockaddr_in self;
    if (!address(argc == 5 ? argv[4] : NULL, port, &self)) { fprintf(stderr, "bad address\n"); return 2; }
    if (bind(fd, (struct sockaddr *)&self, sizeof(self)) != 0) { perror("bind"); return 1; }
    printf("ready\n");
    fflush(stdout);
    static unsigned char seen[1 << 20];
    unsigned long received = 0, distinct = 0, dups = 0;
    for (;;) {
      struct pollfd p = {fd, POLLIN, 0};
      int r = poll(&p, 1, received ? idle_ms : 60000);
      if (r <= 0) break;
      uint32_t seq;
      if (recv(fd, &seq, sizeof(seq), 0) != sizeof(seq)) continue;
      ++received;
      seq &= (1 << 20) - 1;
      if (seen[seq]) ++dups; else { seen[seq] = 1; ++distinct; }
    }
    printf("received %lu distinct %lu duplicates %lu\n", received, distinct, dups);
    return 0;
  }
  return 2;
}
