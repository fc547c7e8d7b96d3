// probe_threads T N PATH: T threads each open(PATH) N times, then prints "ok=X fail=Y"
// for the whole process. With when=K+ counted per process, exactly K-1 calls succeed.
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static const char* path;
static int per_thread;
static atomic_int oks, fails;

static void* worker(void* arg) {
  (void)arg;
  for (int i = 0; i < per_thread; ++i) {
    int fd = open(path, O_RDONLY);
    if (fd >= 0) {
      atomic_fetch_add(&oks, 1);
      close(fd);
    } else {
      atomic_fetch_add(&fails, 1);
    }
  }
  return NULL;
}

int main(int argc, char** argv) {
  if (argc != 4) return 100;
  int threads = atoi(argv[1]);
  per_thread = atoi(argv[2]);
  path = argv[3];
  pthread_t t[64];
  for (int i = 0; i < threads && i < 64; ++i) pthread_create(&t[i], NULL, worker, NULL);
  for (int i = 0; i < threads && i < 64; ++i) pthread_join(t[i], NULL);
  printf("ok=%d fail=%d\n", atomic_load(&oks), atomic_load(&fails));
  return 0;
}
