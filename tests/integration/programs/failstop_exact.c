/* failstop_exact COUNTER_FILE GO_FILE paced|tight [WORKERS [processes|threads]]: the
 * workload of the exact N-th-syscall tests. Runs WORKERS workers (default 1, at most 4):
 * worker 0 is the main thread; the others are processes it forks at once (so they are its
 * children when the test arms the trigger) or threads it starts. Once GO_FILE exists,
 * each worker calls getppid() in a loop — "paced": about once a millisecond, "tight": back
 * to back — and keeps two counters in COUNTER_FILE (mmapped, so the test reads them while
 * the workers are stopped or frozen): worker i's 8-byte counter 2*i counts the calls it
 * has begun (incremented just before the call), counter 2*i+1 those that returned to it
 * (incremented just after). A worker stopped right after its N-th call has returned from
 * the kernel shows begun = N and returned = N - 1: it ran no instruction after the call.
 * Counter 2*4+i counts worker i's sleeps (clock_nanosleep, paced) that failed with EINTR:
 * a stop and SIGCONT must not make a waiting call fail. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define MAX_WORKERS 4

static volatile uint64_t *counters;
static int paced;
static const char *go_file;

static void *work(void *arg) {
  int me = (int)(intptr_t)arg;
  volatile uint64_t *begun = &counters[2 * me], *returned = &counters[2 * me + 1];
  volatile uint64_t *interrupted = &counters[2 * MAX_WORKERS + me];
  struct timespec pause = {0, 1000000};
  struct stat st;
  /* poll, not nanosleep: the tests count clock_nanosleep calls from GO on. */
  while (stat(go_file, &st) != 0) poll(NULL, 0, 1);
  for (;;) {
    *begun += 1;
    syscall(SYS_getppid); /* not the libc wrapper: one real getppid(2) per iteration */
    *returned += 1;
    if (paced && nanosleep(&pause, NULL) != 0) *interrupted += 1;
  }
  return NULL;
}

int main(int argc, char **argv) {
  if (argc < 4 || argc > 6 || (strcmp(argv[3], "paced") != 0 && strcmp(argv[3], "tight") != 0) ||
      (argc == 6 && strcmp(argv[5], "processes") != 0 && strcmp(argv[5], "threads") != 0)) {
    fprintf(stderr, "usage: %s COUNTER_FILE GO_FILE paced|tight [WORKERS [processes|threads]]\n", argv[0]);
    return 2;
  }
  int workers = argc >= 5 ? atoi(argv[4]) : 1;
  int threads = argc == 6 && strcmp(argv[5], "threads") == 0;
  if (workers < 1 || workers > MAX_WORKERS) {
    fprintf(stderr, "WORKERS must be 1..%d\n", MAX_WORKERS);
    return 2;
  }
  paced = strcmp(argv[3], "paced") == 0;
  go_file = argv[2];
  size_t size = sizeof(uint64_t) * 3 * MAX_WORKERS;
  /* Written to a temporary name and renamed: the test waits for COUNTER_FILE, and must not
   * see it before it has its full size. */
  char tmp[4096];
  snprintf(tmp, sizeof(tmp), "%s.tmp", argv[1]);
  int fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC, 0600);
  if (fd < 0 || ftruncate(fd, (off_t)size) != 0) return 1;
  counters = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (counters == MAP_FAILED) return 1;
  int me = 0;
  for (int i = 1; i < workers; ++i) {
    if (threads) {
      pthread_t t;
      if (pthread_create(&t, NULL, work, (void *)(intptr_t)i) != 0) return 1;
      continue;
    }
    pid_t child = fork();
    if (child < 0) return 1;
    if (child == 0) {
      me = i;
      break;
    }
  }
  if (me == 0 && rename(tmp, argv[1]) != 0) return 1;
  work((void *)(intptr_t)me);
  return 0;
}
