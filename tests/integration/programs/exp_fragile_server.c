// A deliberately fragile HTTP server for the experiment tests: it answers every request with
// 200 "ok", and exits with status 3 the first time a read() of a request fails — the kind of
// service whose crash `syschaos run` must report as `crash`.
//
//   exp_fragile_server PORT      listens on 127.0.0.1:PORT
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s PORT\n", argv[0]);
    return 2;
  }
  int ls = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a = {0};
  a.sin_family = AF_INET;
  a.sin_port = htons((unsigned short)atoi(argv[1]));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(ls, (struct sockaddr*)&a, sizeof a) != 0 || listen(ls, 128) != 0) {
    perror("bind/listen");
    return 1;
  }
  static const char reply[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
  for (;;) {
    int c = accept(ls, NULL, NULL);
    if (c < 0) continue;
    char buf[4096];
    ssize_t n = read(c, buf, sizeof buf);
    if (n < 0) {
      perror("read");
      fprintf(stderr, "fragile server: giving up\n");
      return 3;
    }
    (void)!write(c, reply, sizeof reply - 1);
    close(c);
  }
}
