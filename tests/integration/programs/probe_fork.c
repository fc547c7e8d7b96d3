// probe_fork K N PATH: forks K children (after the parent's own N opens); each child does
// N opens of PATH and prints "child ok=X fail=Y"; the parent prints "parent ok=X fail=Y".
// Shows that forked children are traced, and that when= counts per process.
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static void opens(const char* who, const char* path, int n) {
  int ok = 0, fail = 0;
  for (int i = 0; i < n; ++i) {
    int fd = open(path, O_RDONLY);
    if (fd >= 0) {
      ok++;
      close(fd);
    } else {
      fail++;
    }
  }
  printf("%s ok=%d fail=%d\n", who, ok, fail);
  fflush(stdout);
}

int main(int argc, char** argv) {
  if (argc != 4) return 100;
  int kids = atoi(argv[1]), n = atoi(argv[2]);
  opens("parent", argv[3], n);
  for (int i = 0; i < kids; ++i) {
    pid_t pid = fork();
    if (pid == 0) {
      opens("child", argv[3], n);
      _exit(0);
    }
    waitpid(pid, NULL, 0);
  }
  return 0;
}
