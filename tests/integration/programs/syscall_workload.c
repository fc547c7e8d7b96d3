// syscall_workload MODE ARGS...: makes exactly known numbers of system calls, for the
// syscall monitor's accuracy tests. Every mode except `spin ... nowait` first blocks SIGUSR1
// and waits for it ("go"), so the test can make the process a target before it starts;
// the test knows it is ready when /proc/PID/syscall shows it waiting in rt_sigtimedwait.
//
//   calls N M K L P   N getppid (success), M openat of a missing file (ENOENT), K read of
//                     fd -1 (EBADF), L nanosleep of 20 ms, then fork a child that makes P
//                     getppid and exits; wait for it. Prints nothing; exits 0 only when
//                     every call returned what was expected.
//   spin T MS [nowait] T threads call getppid in a loop for MS milliseconds; prints the
//                     total number of getppid calls made.
//   compat N          N getppid through the 32-bit entry (int 0x80, ia32 number 64); exits
//                     77 when the call fails (or dies of SIGSEGV) without ia32 emulation.
//
// Calls go through syscall(2) so the C library cannot substitute another call, and none of
// these syscalls is made by the C runtime after main() starts.
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

static void wait_for_go(void) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGUSR1);
  sigprocmask(SIG_BLOCK, &set, NULL);
  int sig = 0;
  while (sigwait(&set, &sig) != 0) {
  }
}

static int run_calls(long n, long m, long k, long l, long p) {
  int bad = 0;
  for (long i = 0; i < n; ++i)
    if (syscall(SYS_getppid) <= 0) bad = 1;
  for (long i = 0; i < m; ++i)
    if (syscall(SYS_openat, AT_FDCWD, "/nonexistent-syschaos-workload/file", O_RDONLY) != -1 ||
        errno != ENOENT)
      bad = 2;
  char c;
  for (long i = 0; i < k; ++i)
    if (syscall(SYS_read, -1, &c, 1) != -1 || errno != EBADF) bad = 3;
  for (long i = 0; i < l; ++i) {
    struct timespec ts = {0, 20 * 1000 * 1000};
    if (syscall(SYS_nanosleep, &ts, NULL) != 0) bad = 4;
  }
  pid_t child = fork();
  if (child < 0) return 5;
  if (child == 0) {
    for (long i = 0; i < p; ++i) syscall(SYS_getppid);
    _exit(0);
  }
  int status = 0;
  if (waitpid(child, &status, 0) != child || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
    bad = 6;
  return bad;
}

struct spinner {
  pthread_t thread;
  uint64_t deadline_ns;
  uint64_t calls;
};

static uint64_t monotonic_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);  // vDSO: no system call
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void* spin(void* arg) {
  struct spinner* s = arg;
  uint64_t calls = 0;
  while (monotonic_ns() < s->deadline_ns) {
    for (int i = 0; i < 256; ++i) syscall(SYS_getppid);
    calls += 256;
  }
  s->calls = calls;
  return NULL;
}

static int run_spin(int threads, long millis) {
  if (threads < 1 || threads > 64) return 100;
  struct spinner spinners[64];
  uint64_t deadline = monotonic_ns() + (uint64_t)millis * 1000000u;
  for (int i = 0; i < threads; ++i) {
    spinners[i].deadline_ns = deadline;
    spinners[i].calls = 0;
    if (pthread_create(&spinners[i].thread, NULL, spin, &spinners[i]) != 0) return 101;
  }
  uint64_t total = 0;
  for (int i = 0; i < threads; ++i) {
    pthread_join(spinners[i].thread, NULL);
    total += spinners[i].calls;
  }
  printf("%llu\n", (unsigned long long)total);
  return 0;
}

// ia32 getppid is 64; from 64-bit code int 0x80 takes the 32-bit entry all the same.
static long ia32_getppid(void) {
  long ret = 64;
  __asm__ volatile("int $0x80" : "+a"(ret) : : "memory");
  return ret;
}

static int run_compat(long n) {
  for (long i = 0; i < n; ++i)
    if (ia32_getppid() <= 0) return 77;
  return 0;
}

int main(int argc, char** argv) {
  if (argc == 7 && !strcmp(argv[1], "calls")) {
    wait_for_go();
    return run_calls(atol(argv[2]), atol(argv[3]), atol(argv[4]), atol(argv[5]), atol(argv[6]));
  }
  if ((argc == 4 || argc == 5) && !strcmp(argv[1], "spin")) {
    if (!(argc == 5 && !strcmp(argv[4], "nowait"))) wait_for_go();
    return run_spin(atoi(argv[2]), atol(argv[3]));
  }
  if (argc == 3 && !strcmp(argv[1], "compat")) {
    wait_for_go();
    return run_compat(atol(argv[2]));
  }
  fprintf(stderr,
          "usage: syscall_workload calls N M K L P | spin THREADS MILLIS [nowait] | compat N\n");
  return 100;
}
