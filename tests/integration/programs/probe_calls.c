// probe_calls MODE ARGS...: makes system calls and prints, one line per call, what it saw:
// "ok", the value returned, or the errno's name. The integration tests run it under
// syschaos and compare. Modes:
//   open PATH N            open(PATH) N times
//   openat DIR NAME N      openat(open(DIR), NAME) N times
//   cwdopen DIR NAME N     chdir(DIR) then open(NAME) N times
//   getppid N              getppid() N times, printing the value
//   timed_open PATH        one open(PATH), printing "ms=<elapsed>"
//   signal N               getppid() N times with a SIGUSR1 counter, prints "signals=<n>"
//   readfd FILE N          N reads from FILE, then N reads from a pipe: "file ok", "pipe EIO"...
//   readprint FILE         one read(FILE, 64 bytes), printing the bytes read
//   exit CODE              exits with CODE
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void report(long r) {
  if (r < 0)
    printf("%s\n", strerrorname_np(errno));
  else
    printf("ok\n");
}

static volatile sig_atomic_t signals;
static void on_usr1(int sig) { (void)sig; signals++; }

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

int main(int argc, char** argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (argc < 2) return 100;
  const char* mode = argv[1];
  if (!strcmp(mode, "open") && argc == 4) {
    for (int i = 0; i < atoi(argv[3]); ++i) {
      int fd = open(argv[2], O_RDONLY);
      report(fd);
      if (fd >= 0) close(fd);
    }
  } else if (!strcmp(mode, "openat") && argc == 5) {
    int dir = open(argv[2], O_RDONLY | O_DIRECTORY);
    if (dir < 0) return 101;
    for (int i = 0; i < atoi(argv[4]); ++i) {
      int fd = openat(dir, argv[3], O_RDONLY);
      report(fd);
      if (fd >= 0) close(fd);
    }
  } else if (!strcmp(mode, "cwdopen") && argc == 5) {
    if (chdir(argv[2]) != 0) return 101;
    for (int i = 0; i < atoi(argv[4]); ++i) {
      int fd = open(argv[3], O_RDONLY);
      report(fd);
      if (fd >= 0) close(fd);
    }
  } else if (!strcmp(mode, "getppid") && argc == 3) {
    for (int i = 0; i < atoi(argv[2]); ++i) printf("%ld\n", (long)getppid());
  } else if (!strcmp(mode, "timed_open") && argc == 3) {
    double t0 = now_ms();
    int fd = open(argv[2], O_RDONLY);
    double t1 = now_ms();
    report(fd);
    printf("ms=%.1f\n", t1 - t0);
  } else if (!strcmp(mode, "signal") && argc == 3) {
    signal(SIGUSR1, on_usr1);
    for (int i = 0; i < atoi(argv[2]); ++i) getppid();
    printf("signals=%d\n", (int)signals);
  } else if (!strcmp(mode, "readfd") && argc == 4) {
    int n = atoi(argv[3]);
    char c;
    int fd = open(argv[2], O_RDONLY);
    if (fd < 0) return 101;
    for (int i = 0; i < n; ++i) {
      lseek(fd, 0, SEEK_SET);
      long r = read(fd, &c, 1);
      printf("file ");
      report(r);
    }
    int p[2];
    if (pipe(p) != 0) return 101;
    for (int i = 0; i < n; ++i) {
      (void)!write(p[1], "x", 1);
      long r = read(p[0], &c, 1);
      printf("pipe ");
      report(r);
    }
  } else if (!strcmp(mode, "readprint") && argc == 3) {
    char buf[65] = {0};
    int fd = open(argv[2], O_RDONLY);
    if (fd < 0) return 101;
    long n = read(fd, buf, 64);
    if (n < 0) report(n);
    else printf("%s", buf);
  } else if (!strcmp(mode, "exit") && argc == 3) {
    return atoi(argv[2]);
  } else {
    fprintf(stderr, "probe_calls: bad arguments\n");
    return 100;
  }
  return 0;
}
