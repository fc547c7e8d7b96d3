/* failstop_calls COUNTER_FILE GO_FILE: once GO_FILE exists, calls getppid() in a loop,
 * about once a millisecond, and after each call stores how many it has made in COUNTER_FILE
 * (an 8-byte counter, mmapped, so the test reads it while the process is frozen). The
 * failstop test arms "freeze at the N-th getppid" before creating GO_FILE, so the two
 * counts start together, and checks the counter once the process is frozen. */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s COUNTER_FILE GO_FILE\n", argv[0]);
    return 2;
  }
  int fd = open(argv[1], O_RDWR | O_CREAT | O_TRUNC, 0600);
  if (fd < 0 || ftruncate(fd, 8) != 0) return 1;
  volatile uint64_t *count = mmap(NULL, 8, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (count == MAP_FAILED) return 1;
  struct timespec pause = {0, 1000000};
  struct stat st;
  while (stat(argv[2], &st) != 0) nanosleep(&pause, NULL);
  for (;;) {
    getppid();
    *count += 1;
    nanosleep(&pause, NULL);
  }
}
