// probe_delay_threads PATH: thread B opens PATH once (syschaos delays it); meanwhile thread
// A keeps calling getppid. Prints "open_ms=<B's open time> other_calls=<A's calls while B
// waited>": a delay that blocked the tracer would stop A too.
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

static atomic_int done;
static atomic_long calls;

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void* spinner(void* arg) {
  (void)arg;
  while (!atomic_load(&done)) {
    getppid();
    atomic_fetch_add(&calls, 1);
  }
  return NULL;
}

int main(int argc, char** argv) {
  if (argc != 2) return 100;
  pthread_t a;
  pthread_create(&a, NULL, spinner, NULL);
  usleep(50000);
  long before = atomic_load(&calls);
  double t0 = now_ms();
  int fd = open(argv[1], O_RDONLY);
  double t1 = now_ms();
  long during = atomic_load(&calls) - before;
  atomic_store(&done, 1);
  pthread_join(a, NULL);
  if (fd >= 0) close(fd);
  printf("open_ms=%.1f other_calls=%ld\n", t1 - t0, during);
  return 0;
}
