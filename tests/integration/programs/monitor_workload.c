// monitor_workload MODE ARGS...: makes exactly known numbers of system calls, for the tests
// of `syschaos monitor` through its command line (tests/integration/test_monitor_cli.cpp)
// and for bench/monitor_overhead.sh. Calls go through syscall(2) so the C library cannot
// substitute another call; none of the syscalls counted here (getppid, openat of a missing
// file or with O_DIRECTORY on a regular file, read of fd -1, nanosleep) is made by the C
// runtime, which does not call setlocale here, so the counts are the program's alone.
//
//   calls ENOENT ENOTDIR EBADF GETPPID SLEEPS SLEEP_MS CHILD_GETPPID EXIT
//       ENOENT openat of a missing file, ENOTDIR openat of a regular file with O_DIRECTORY,
//       EBADF read of fd -1, GETPPID getppid, SLEEPS nanosleep of SLEEP_MS, then fork a
//       child that makes CHILD_GETPPID getppid, and wait for it. Starts at once (launch mode
//       makes the process a target before it runs). Prints "monitor_workload: done" and
//       exits with EXIT when every call returned what it should, 100+ otherwise.
//   batches B N PAUSE_MS LINGER_MS
//       B times: N openat of a missing file (ENOENT), then nanosleep PAUSE_MS; then one
//       nanosleep of LINGER_MS; exit 0. Prints "batch I" after each batch.
//   forker CHILDREN CHILD_GETPPID PARENT_GETPPID
//       Blocks SIGUSR1, prints "ready" and waits for SIGUSR1 ("go"). Then forks CHILDREN children; each makes CHILD_GETPPID getppid,
//       forks a grandchild making CHILD_GETPPID getppid, and waits for it. The parent waits
//       for every child, makes PARENT_GETPPID getppid and exits 0 (1 when a child failed).
//   spin THREADS COUNT
//       THREADS threads each call getppid exactly COUNT times, as fast as they can. Prints
//       "TOTAL SECONDS": the calls made and the wall time from the first to the last.
//   ticker PER_TICK TICK_MS SECONDS
//       Every TICK_MS: PER_TICK getppid, for SECONDS; exit 0. A steady, low-rate target.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char kMissing[] = "/nonexistent-syschaos-monitor-workload/file";

static uint64_t monotonic_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);  // vDSO: no system call
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  return (int)syscall(SYS_nanosleep, &ts, NULL);
}

static int getppid_n(long n) {
  int bad = 0;
  for (long i = 0; i < n; ++i)
    if (syscall(SYS_getppid) <= 0) bad = 1;
  return bad;
}

static int openat_enoent_n(long n) {
  int bad = 0;
  for (long i = 0; i < n; ++i)
    if (syscall(SYS_openat, AT_FDCWD, kMissing, O_RDONLY | O_CLOEXEC) != -1 || errno != ENOENT) bad = 1;
  return bad;
}

static int run_calls(char** a, const char* self) {
  long enoent = atol(a[0]), enotdir = atol(a[1]), ebadf = atol(a[2]), getppid = atol(a[3]);
  long sleeps = atol(a[4]), sleep_len = atol(a[5]), child_getppid = atol(a[6]);
  int code = atoi(a[7]);
  int bad = 0;
  if (openat_enoent_n(enoent)) bad = 101;
  for (long i = 0; i < enotdir; ++i)
    if (syscall(SYS_openat, AT_FDCWD, self, O_RDONLY | O_DIRECTORY | O_CLOEXEC) != -1 || errno != ENOTDIR)
      bad = 102;
  char c;
  for (long i = 0; i < ebadf; ++i)
    if (syscall(SYS_read, -1, &c, 1) != -1 || errno != EBADF) bad = 103;
  if (getppid_n(getppid)) bad = 104;
  for (long i = 0; i < sleeps; ++i)
    if (sleep_ms(sleep_len) != 0) bad = 105;
  pid_t child = fork();
  if (child < 0) return 106;
  if (child == 0) _exit(getppid_n(child_getppid));
  int status = 0;
  if (waitpid(child, &status, 0) != child || !WIFEXITED(status) || WEXITSTATUS(status) != 0) bad = 107;
  printf("monitor_workload: done\n");
  return bad ? bad : code;
}

static int run_batches(long batches, long n, long pause, long linger) {
  for (long b = 0; b < batches; ++b) {
    if (openat_enoent_n(n)) return 101;
    printf("batch %ld\n", b);
    fflush(stdout);
    if (sleep_ms(pause) != 0) return 102;
  }
  if (sleep_ms(linger) != 0) return 103;
  return 0;
}

// Blocks SIGUSR1, says "ready" on stdout, and waits for SIGUSR1. (SigBlk in /proc cannot
// tell readiness: while a thread sleeps in sigwait the kernel takes the awaited signals out
// of its blocked set.)
static void wait_for_go(void) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGUSR1);
  sigprocmask(SIG_BLOCK, &set, NULL);
  printf("ready\n");
  fflush(stdout);
  int sig = 0;
  while (sigwait(&set, &sig) != 0) {
  }
}

static int wait_ok(pid_t pid) {
  int status = 0;
  return waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

static int run_forker(long children, long child_getppid, long parent_getppid) {
  wait_for_go();
  pid_t pids[64];
  if (children < 0 || children > 64) return 100;
  for (long i = 0; i < children; ++i) {
    pids[i] = fork();
    if (pids[i] < 0) return 101;
    if (pids[i] == 0) {
      int bad = getppid_n(child_getppid);
      pid_t grandchild = fork();
      if (grandchild < 0) _exit(2);
      if (grandchild == 0) _exit(getppid_n(child_getppid));
      if (!wait_ok(grandchild)) bad = 3;
      _exit(bad);
    }
  }
  int bad = 0;
  for (long i = 0; i < children; ++i)
    if (!wait_ok(pids[i])) bad = 1;
  if (getppid_n(parent_getppid)) bad = 1;
  return bad;
}

struct spinner {
  pthread_t thread;
  long count;
  uint64_t calls;
};

static void* spin(void* arg) {
  struct spinner* s = arg;
  for (long i = 0; i < s->count; ++i) syscall(SYS_getppid);
  s->calls = (uint64_t)s->count;
  return NULL;
}

static int run_spin(int threads, long count) {
  if (threads < 1 || threads > 64 || count < 0) return 100;
  struct spinner spinners[64];
  uint64_t t0 = monotonic_ns();
  for (int i = 0; i < threads; ++i) {
    spinners[i].count = count;
    spinners[i].calls = 0;
    if (pthread_create(&spinners[i].thread, NULL, spin, &spinners[i]) != 0) return 101;
  }
  uint64_t total = 0;
  for (int i = 0; i < threads; ++i) {
    pthread_join(spinners[i].thread, NULL);
    total += spinners[i].calls;
  }
  double seconds = (double)(monotonic_ns() - t0) / 1e9;
  printf("%llu %.6f\n", (unsigned long long)total, seconds);
  return 0;
}

static int run_ticker(long per_tick, long tick_ms, long seconds) {
  uint64_t end = monotonic_ns() + (uint64_t)seconds * 1000000000u;
  while (monotonic_ns() < end) {
    if (getppid_n(per_tick)) return 1;
    sleep_ms(tick_ms);
  }
  return 0;
}

int main(int argc, char** argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (argc == 10 && !strcmp(argv[1], "calls")) return run_calls(argv + 2, argv[0]);
  if (argc == 6 && !strcmp(argv[1], "batches"))
    return run_batches(atol(argv[2]), atol(argv[3]), atol(argv[4]), atol(argv[5]));
  if (argc == 5 && !strcmp(argv[1], "forker")) return run_forker(atol(argv[2]), atol(argv[3]), atol(argv[4]));
  if (argc == 4 && !strcmp(argv[1], "spin")) return run_spin(atoi(argv[2]), atol(argv[3]));
  if (argc == 5 && !strcmp(argv[1], "ticker")) return run_ticker(atol(argv[2]), atol(argv[3]), atol(argv[4]));
  fprintf(stderr,
          "usage: monitor_workload calls ENOENT ENOTDIR EBADF GETPPID SLEEPS SLEEP_MS CHILD_GETPPID EXIT\n"
          "     | batches B N PAUSE_MS LINGER_MS | forker CHILDREN CHILD_GETPPID PARENT_GETPPID\n"
          "     | spin THREADS COUNT | ticker PER_TICK TICK_MS SECONDS\n");
  return 100;
}
