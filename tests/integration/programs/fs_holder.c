// fs_holder DIR [main-reads] [own-pipe]: a process that keeps things open in DIR and checks, all the
// time, that they still work, while syschaos re-points them to another mount of DIR:
//   * cwd = DIR; relative stat("data.txt") must keep working;
//   * fd R: data.txt read sequentially one byte per round: the byte must be the next one
//     (the file offset must survive the re-pointing);
//   * fd A: log.txt opened O_APPEND, one line written per round;
//   * fd D: DIR itself (O_DIRECTORY), fstat must work;
//   * map M: map.bin mapped MAP_SHARED, its bytes must stay the file's;
//   * a reader thread blocked in read(0): each line it gets is echoed as "got LINE" (a
//     blocked call must come back with data, not EINTR or a kernel restart code);
//   * the main thread sleeps 10 ms per round in nanosleep (interrupted and restarted while
//     stopped: it must never fail with EINTR).
// With "main-reads", main and reader swap: the main thread blocks in read(0) and a second
// thread runs the rounds, so the stopped-in-read() path is the one syschaos reuses.
// With "own-pipe", the reader reads a pipe of its own that never gets data (for `docker exec
// -d`, whose stdin is at EOF at once); it still blocks in read() the same way.
// Prints "ready R A D M" once (fd numbers and map address), "ok N" every 10 rounds, and
// "ERROR what: errno" on any failure.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int fd_r, fd_a, fd_d;
static unsigned char* map;
static char data[4096];
static size_t data_len;
static unsigned char map_expect[4096];
static int in_fd = 0;

static void err(const char* what) {
  printf("ERROR %s: %s\n", what, strerror(errno));
  fflush(stdout);
}

static void* rounds(void* arg) {
  (void)arg;
  size_t pos = 1;  // one byte was read before "ready"
  for (unsigned long n = 1;; ++n) {
    struct timespec ts = {0, 10 * 1000 * 1000};
    if (nanosleep(&ts, NULL) != 0) err("nanosleep");
    char c;
    ssize_t got = read(fd_r, &c, 1);
    if (got != 1) {
      err("read R");
    } else if (c != data[pos]) {
      printf("ERROR read R: byte %zu is '%c', expected '%c'\n", pos, c, data[pos]);
      fflush(stdout);
    }
    if (++pos == data_len) {
      if (lseek(fd_r, 0, SEEK_SET) != 0) err("lseek R");
      pos = 0;
    }
    char line[64];
    int len = snprintf(line, sizeof(line), "round %lu\n", n);
    if (write(fd_a, line, (size_t)len) != len) err("write A");
    struct stat st;
    if (stat("data.txt", &st) != 0) err("stat data.txt (cwd)");
    if (fstat(fd_d, &st) != 0 || !S_ISDIR(st.st_mode)) err("fstat D");
    if (memcmp(map, map_expect, sizeof(map_expect)) != 0) {
      printf("ERROR map M: content differs\n");
      fflush(stdout);
    }
    if (n % 10 == 0) {
      printf("ok %lu\n", n);
      fflush(stdout);
    }
  }
  return NULL;
}

static void* reader(void* arg) {
  (void)arg;
  char buf[256];
  for (;;) {
    ssize_t n = read(in_fd, buf, sizeof(buf) - 1);
    if (n < 0) {
      err("read stdin");
      continue;
    }
    if (n == 0) exit(0);  // the test closed our stdin: done
    buf[n] = 0;
    printf("got %s", buf);
    fflush(stdout);
  }
  return NULL;
}

int main(int argc, char** argv) {
  if (argc < 2 || chdir(argv[1]) != 0) {
    fprintf(stderr, "usage: fs_holder DIR [main-reads] [own-pipe]\n");
    return 2;
  }
  int main_reads = 0;
  for (int i = 2; i < argc; ++i) {
    if (strcmp(argv[i], "main-reads") == 0) main_reads = 1;
    if (strcmp(argv[i], "own-pipe") == 0) {
      int p[2];
      if (pipe(p) != 0) return 2;
      in_fd = p[0];  // p[1] stays open: read() blocks for ever
    }
  }
  int f = open("data.txt", O_RDONLY);
  if (f < 0 || (data_len = (size_t)read(f, data, sizeof(data))) == 0) return 2;
  close(f);
  f = open("map.bin", O_RDONLY);
  if (f < 0 || read(f, map_expect, sizeof(map_expect)) != (ssize_t)sizeof(map_expect)) return 2;
  close(f);

  fd_r = open("data.txt", O_RDONLY);
  fd_a = open("log.txt", O_WRONLY | O_APPEND | O_CREAT, 0644);
  fd_d = open(".", O_RDONLY | O_DIRECTORY);
  int fd_m = open("map.bin", O_RDONLY);
  if (fd_r < 0 || fd_a < 0 || fd_d < 0 || fd_m < 0) return 2;
  map = mmap(NULL, sizeof(map_expect), PROT_READ, MAP_SHARED, fd_m, 0);
  if (map == MAP_FAILED) return 2;
  close(fd_m);
  char c;
  if (read(fd_r, &c, 1) != 1) return 2;
  printf("ready %d %d %d %p\n", fd_r, fd_a, fd_d, (void*)map);
  fflush(stdout);

  pthread_t t;
  pthread_create(&t, NULL, main_reads ? rounds : reader, NULL);
  if (main_reads)
    reader(NULL);
  else
    rounds(NULL);
  return 0;
}
