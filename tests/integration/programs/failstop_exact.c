/* failstop_exact COUNTER_FILE GO_FILE paced|tight [PROCESSES]: the workload of the exact
 * N-th-syscall tests. Starts PROCESSES processes (default 1; the first forks the others at
 * once, so they are its children when the test arms the trigger). Once GO_FILE exists, each
 * calls getppid() in a loop — "paced": about once a millisecond, "tight": back to back —
 * and keeps two counters in COUNTER_FILE (mmapped, so the test reads them while the
 * processes are stopped or frozen): process i's 8-byte counter 2*i counts the calls it has
 * begun (incremented just before the call), counter 2*i+1 those that returned to it
 * (incremented just after). A process stopped right after its N-th call has returned from
 * the kernel shows begun = N and returned = N - 1: it ran no instruction after the call.
 * Counter 2*4+i counts process i's sleeps (clock_nanosleep, paced) that failed with EINTR:
 * a stop and SIGCONT must not make a waiting call fail. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define MAX_PROCESSES 4

int main(int argc, char **argv) {
  if (argc < 4 || argc > 5 || (strcmp(argv[3], "paced") != 0 && strcmp(argv[3], "tight") != 0)) {
    fprintf(stderr, "usage: %s COUNTER_FILE GO_FILE paced|tight [PROCESSES]\n", argv[0]);
    return 2;
  }
  int processes = argc == 5 ? atoi(argv[4]) : 1;
  if (processes < 1 || processes > MAX_PROCESSES) {
    fprintf(stderr, "PROCESSES must be 1..%d\n", MAX_PROCESSES);
    return 2;
  }
  int paced = strcmp(argv[3], "paced") == 0;
  size_t size = sizeof(uint64_t) * 3 * MAX_PROCESSES;
  /* Written to a temporary name and renamed: the test waits for COUNTER_FILE, and must not
   * see it before it has its full size. */
  char tmp[4096];
  snprintf(tmp, sizeof(tmp), "%s.tmp", argv[1]);
  int fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC, 0600);
  if (fd < 0 || ftruncate(fd, (off_t)size) != 0) return 1;
  volatile uint64_t *counters = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (counters == MAP_FAILED) return 1;
  int me = 0;
  for (int i = 1; i < processes; ++i) {
    pid_t child = fork();
    if (child < 0) return 1;
    if (child == 0) {
      me = i;
      break;
    }
  }
  if (me == 0 && rename(tmp, argv[1]) != 0) return 1;
  volatile uint64_t *begun = &counters[2 * me], *returned = &counters[2 * me + 1];
  volatile uint64_t *interrupted = &counters[2 * MAX_PROCESSES + me];
  struct timespec pause = {0, 1000000};
  struct stat st;
  /* poll, not nanosleep: the tests count clock_nanosleep calls from GO on. */
  while (stat(argv[2], &st) != 0) poll(NULL, 0, 1);
  for (;;) {
    *begun += 1;
    syscall(SYS_getppid); /* not the libc wrapper: one real getppid(2) per iteration */
    *returned += 1;
    if (paced && nanosleep(&pause, NULL) != 0) *interrupted += 1;
  }
}
