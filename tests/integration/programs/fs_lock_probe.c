// fs_lock_probe: file locks as an application (a database) uses them, to check that a lock
// taken on one side of a ChaosFS injection is seen on the other.
//   fs_lock_probe hold FILE fcntl|flock   opens FILE read-write, takes a write lock on all of
//                                         it (fcntl F_SETLK or flock LOCK_EX), prints
//                                         "locked", then sleeps until killed
//   fs_lock_probe try FILE fcntl|flock    opens FILE read-write, tries the same lock without
//                                         waiting; prints "conflict" when another holder has
//                                         it, "acquired" when it got it (and lets it go)
//   fs_lock_probe hold-when-covered FILE fcntl|flock
//                                         opens FILE, prints "opened", then takes the lock
//                                         (as hold) within a millisecond of a ChaosFS mount
//                                         (fuse.syschaos) appearing in its mountinfo: a lock
//                                         taken after fs inject's up-front check
//   fs_lock_probe open-many FILE N        opens FILE N times (read-only), prints "opened",
//                                         sleeps until killed: a process that takes a while
//                                         to move
// Exit: 0 after printing, 1 on any other error (message on stderr), 2 for bad usage.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

static int lock(int fd, int use_flock) {
  if (use_flock) return flock(fd, LOCK_EX | LOCK_NB);
  struct flock fl;
  memset(&fl, 0, sizeof fl);
  fl.l_type = F_WRLCK;
  fl.l_whence = SEEK_SET;  // l_start = l_len = 0: the whole file
  return fcntl(fd, F_SETLK, &fl);
}

int main(int argc, char** argv) {
  if (argc == 4 && strcmp(argv[1], "open-many") == 0) {
    int n = atoi(argv[3]);
    for (int i = 0; i < n; ++i) {
      if (open(argv[2], O_RDONLY) < 0) {
        fprintf(stderr, "fs_lock_probe: open %s (%d of %d): %s\n", argv[2], i + 1, n, strerror(errno));
        return 1;
      }
    }
    printf("opened\n");
    fflush(stdout);
    for (;;) pause();
  }
  int when_covered = argc == 4 && strcmp(argv[1], "hold-when-covered") == 0;
  if (argc != 4 || (strcmp(argv[1], "hold") != 0 && strcmp(argv[1], "try") != 0 && !when_covered) ||
      (strcmp(argv[3], "fcntl") != 0 && strcmp(argv[3], "flock") != 0)) {
    fprintf(stderr, "usage: fs_lock_probe hold|try|hold-when-covered FILE fcntl|flock | open-many FILE N\n");
    return 2;
  }
  int use_flock = strcmp(argv[3], "flock") == 0;
  int fd = open(argv[2], O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    fprintf(stderr, "fs_lock_probe: open %s: %s\n", argv[2], strerror(errno));
    return 1;
  }
  if (when_covered) {
    printf("opened\n");
    fflush(stdout);
    for (;;) {
      char buf[65536];
      int m = open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC);
      ssize_t len = m < 0 ? -1 : read(m, buf, sizeof buf - 1);
      if (m >= 0) close(m);
      if (len > 0) {
        buf[len] = 0;
        if (strstr(buf, " fuse.syschaos ")) break;
      }
      usleep(500);
    }
  }
  if (lock(fd, use_flock) != 0) {
    if (errno == EAGAIN || errno == EACCES || errno == EWOULDBLOCK) {
      printf("conflict\n");
      return 0;
    }
    fprintf(stderr, "fs_lock_probe: %s lock on %s: %s\n", argv[3], argv[2], strerror(errno));
    return 1;
  }
  if (strcmp(argv[1], "try") == 0) {
    printf("acquired\n");
    return 0;
  }
  printf("locked\n");
  fflush(stdout);
  for (;;) pause();
}
