// probe_loop PATH STATUS_FILE: a long-running target. Every 5 ms it opens PATH and
// rewrites STATUS_FILE with "iterations=N ok=X fail=Y". Ends on SIGTERM with exit code 0.
// The detach tests attach to it, stop syschaos in every possible way, and check it
// keeps making progress with its calls succeeding.
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop;
static void on_term(int sig) { (void)sig; stop = 1; }

int main(int argc, char** argv) {
  if (argc != 3) return 100;
  signal(SIGTERM, on_term);
  long iterations = 0, ok = 0, fail = 0;
  struct timespec pause = {0, 5 * 1000 * 1000};
  while (!stop) {
    int fd = open(argv[1], O_RDONLY);
    if (fd >= 0) {
      ok++;
      close(fd);
    } else {
      fail++;
    }
    iterations++;
    char line[128];
    int len = snprintf(line, sizeof line, "iterations=%ld ok=%ld fail=%ld\n", iterations, ok, fail);
    // Written aside and renamed, so a reader never sees a half-written file.
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", argv[2]);
    int out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (out >= 0) {
      (void)!write(out, line, (size_t)len);
      close(out);
      rename(tmp, argv[2]);
    }
    nanosleep(&pause, NULL);
  }
  return 0;
}
