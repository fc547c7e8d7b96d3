// fs_thread_cwd DIR [main-in-volume]: a process with a thread whose working directory is its
// own (unshare(CLONE_FS)), inside a volume that syschaos re-points to another mount.
//   * the worker thread: unshare(CLONE_FS), chdir(DIR/sub), then every 5 ms opens the
//     RELATIVE path "probe.txt" and checks its content. EIO from open is counted (the test
//     injects it through ChaosFS on that path); any other failure is an ERROR line;
//   * the main thread: working directory DIR with "main-in-volume" (then it checks
//     stat("top.txt") every 10 ms: no rule touches it, so every failure is an ERROR), "/"
//     otherwise (only the worker holds anything on the volume);
//   * both sleep in nanosleep between rounds (interrupted and restarted while syschaos holds
//     them: EINTR is an ERROR).
// Prints "ready" once the worker is in DIR/sub, "thread ok=N eio=M" every 20 worker rounds,
// and "ERROR what: errno" on any failure it should never see.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char* dir;
static char expect[256];
static size_t expect_len;
static pthread_mutex_t out_mu = PTHREAD_MUTEX_INITIALIZER;

static void say(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  pthread_mutex_lock(&out_mu);
  vprintf(fmt, ap);
  fflush(stdout);
  pthread_mutex_unlock(&out_mu);
  va_end(ap);
}

static void sleep_ms(long ms) {
  struct timespec ts = {0, ms * 1000 * 1000};
  if (nanosleep(&ts, NULL) != 0) say("ERROR nanosleep: %s\n", strerror(errno));
}

static void* worker(void* arg) {
  (void)arg;
  char sub[4096];
  snprintf(sub, sizeof(sub), "%s/sub", dir);
  if (unshare(CLONE_FS) != 0 || chdir(sub) != 0) {
    say("ERROR setup worker: %s\n", strerror(errno));
    exit(2);
  }
  say("ready\n");
  unsigned long ok = 0, eio = 0;
  for (unsigned long n = 1;; ++n) {
    int fd = open("probe.txt", O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      if (errno == EIO)
        ++eio;
      else
        say("ERROR open probe.txt: %s\n", strerror(errno));
    } else {
      char buf[256];
      ssize_t got = read(fd, buf, sizeof(buf));
      if (got != (ssize_t)expect_len || memcmp(buf, expect, expect_len) != 0)
        say("ERROR read probe.txt: %zd bytes, not the file's content\n", got);
      else
        ++ok;
      close(fd);
    }
    if (n % 20 == 0) say("thread ok=%lu eio=%lu\n", ok, eio);
    sleep_ms(5);
  }
  return NULL;
}

int main(int argc, char** argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: fs_thread_cwd DIR [main-in-volume]\n");
    return 2;
  }
  dir = argv[1];
  int main_in_volume = argc > 2 && strcmp(argv[2], "main-in-volume") == 0;
  char path[4096];
  snprintf(path, sizeof(path), "%s/sub/probe.txt", dir);
  int f = open(path, O_RDONLY);
  if (f < 0 || (expect_len = (size_t)read(f, expect, sizeof(expect))) == 0) {
    fprintf(stderr, "fs_thread_cwd: cannot read %s\n", path);
    return 2;
  }
  close(f);
  if (chdir(main_in_volume ? dir : "/") != 0) return 2;
  pthread_t t;
  if (pthread_create(&t, NULL, worker, NULL) != 0) return 2;
  for (;;) {
    struct stat st;
    if (main_in_volume && stat("top.txt", &st) != 0) say("ERROR stat top.txt (main cwd): %s\n", strerror(errno));
    sleep_ms(10);
  }
}
