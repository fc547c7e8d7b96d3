// fs_thread_cwd DIR [main-in-volume] [clone-no-fs] [own-files] [main-busy]: a process with a thread whose
// working directory (and, with own-files, fd table) is its own, inside a volume that syschaos
// re-points to another mount.
//   * the worker thread: unshare(CLONE_FS), chdir(DIR/sub), then every 5 ms opens the
//     RELATIVE path "probe.txt" and checks its content. EIO from open is counted (the test
//     injects it through ChaosFS on that path); any other failure is an ERROR line;
//   * the main thread: working directory DIR with "main-in-volume" (then it checks
//     stat("top.txt") every 10 ms: no rule touches it, so every failure is an ERROR), "/"
//     otherwise (only the worker holds anything on the volume);
//   * both sleep in nanosleep between rounds (interrupted and restarted while syschaos holds
//     them: EINTR is an ERROR).
// With "clone-no-fs" the worker is created by clone() without CLONE_FS instead (Docker's
// default seccomp profile refuses unshare() to a process without CAP_SYS_ADMIN, clone without
// namespace flags is allowed). Such a thread has no TLS of its own, so it makes raw system
// calls only (no errno, no stdio): x86-64 inline assembly, as syschaos itself is x86-64 only.
// With "own-files" the worker also has an fd table of its own (unshare(CLONE_FILES), or no
// CLONE_FILES at clone) holding DIR/sub/held.txt, which it reads one byte per round: each
// byte must be the next one (the offset must survive re-pointing); EIO is counted as "heio"
// (the test injects it on read), anything else is an ERROR.
// With "main-busy" the main thread computes between its checks instead of sleeping, so that
// the thread syschaos finds in a system call (its executor) is the worker, and the main
// thread's cwd must be changed by a thread caught outside any call.
// Prints "ready" once the worker is in DIR/sub, "thread ok=N eio=M" every 20 worker rounds,
// (" heio=K" appended with own-files) and "ERROR what: errno" on any failure it should never see.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static const char* dir;
static char expect[256];
static size_t expect_len;
static int own_files;
static char held[256];
static size_t held_len;
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
  if (unshare(CLONE_FS | (own_files ? CLONE_FILES : 0)) != 0 || chdir(sub) != 0) {
    say("ERROR setup worker: %s\n", strerror(errno));
    exit(2);
  }
  int hfd = own_files ? open("held.txt", O_RDONLY | O_CLOEXEC) : -1;
  if (own_files && hfd < 0) {
    say("ERROR open held.txt: %s\n", strerror(errno));
    exit(2);
  }
  say("ready\n");
  unsigned long ok = 0, eio = 0, heio = 0;
  size_t hpos = 0;
  for (unsigned long n = 1;; ++n) {
    if (own_files) {
      char c;
      ssize_t got = read(hfd, &c, 1);
      if (got == 1) {
        if (c != held[hpos]) say("ERROR read held.txt: byte %zu is '%c', expected '%c'\n", hpos, c, held[hpos]);
        if (++hpos == held_len) {
          if (lseek(hfd, 0, SEEK_SET) != 0) say("ERROR lseek held.txt: %s\n", strerror(errno));
          hpos = 0;
        }
      } else if (got < 0 && errno == EIO) {
        ++heio;
      } else {
        say("ERROR read held.txt: %zd, %s\n", got, strerror(errno));
      }
    }
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
    if (n % 20 == 0) {
      if (own_files)
        say("thread ok=%lu eio=%lu heio=%lu\n", ok, eio, heio);
      else
        say("thread ok=%lu eio=%lu\n", ok, eio);
    }
    sleep_ms(5);
  }
  return NULL;
}

// ---- clone-no-fs: the worker as a bare thread ----------------------------------------------

static long raw_syscall(long n, long a, long b, long c, long d) {
  long ret;
  register long r10 __asm__("r10") = d;
  __asm__ volatile("syscall" : "=a"(ret) : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10) : "rcx", "r11", "memory");
  return ret;
}

static void raw_print(const char* s) {
  size_t n = 0;
  while (s[n]) ++n;
  raw_syscall(SYS_write, 1, (long)s, (long)n, 0);
}

// "prefix<number>" into buf; returns the end.
static char* put_num(char* buf, const char* prefix, unsigned long v) {
  while (*prefix) *buf++ = *prefix++;
  char tmp[24];
  int k = 0;
  do tmp[k++] = (char)('0' + v % 10); while ((v /= 10) != 0);
  while (k) *buf++ = tmp[--k];
  return buf;
}

static char bare_sub[4096];

// "ERROR <what>: errno N\n" from a bare thread.
static void raw_error(const char* what, long err) {
  char line[128];
  char* e = line;
  for (const char* p = "ERROR "; *p;) *e++ = *p++;
  while (*what) *e++ = *what++;
  e = put_num(e, ": errno ", (unsigned long)err);
  *e++ = '\n';
  *e = 0;
  raw_print(line);
}

static int bare_worker(void* arg) {
  (void)arg;
  if (raw_syscall(SYS_chdir, (long)bare_sub, 0, 0, 0) != 0) {
    raw_print("ERROR setup worker: chdir\n");
    raw_syscall(SYS_exit_group, 2, 0, 0, 0);
  }
  long hfd = -1;
  if (own_files && (hfd = raw_syscall(SYS_openat, AT_FDCWD, (long)"held.txt", O_RDONLY | O_CLOEXEC, 0)) < 0) {
    raw_error("open held.txt", -hfd);
    raw_syscall(SYS_exit_group, 2, 0, 0, 0);
  }
  raw_print("ready\n");
  unsigned long ok = 0, eio = 0, heio = 0;
  size_t hpos = 0;
  for (unsigned long n = 1;; ++n) {
    char line[96];
    if (own_files) {
      char c;
      long got = raw_syscall(SYS_read, hfd, (long)&c, 1, 0);
      if (got == 1) {
        if (c != held[hpos]) raw_error("read held.txt: wrong byte at offset", (long)hpos);
        if (++hpos == held_len) {
          long r = raw_syscall(SYS_lseek, hfd, 0, SEEK_SET, 0);
          if (r != 0) raw_error("lseek held.txt", -r);
          hpos = 0;
        }
      } else if (got == -EIO) {
        ++heio;
      } else {
        raw_error("read held.txt", got < 0 ? -got : 0);
      }
    }
    long fd = raw_syscall(SYS_openat, AT_FDCWD, (long)"probe.txt", O_RDONLY | O_CLOEXEC, 0);
    if (fd == -EIO) {
      ++eio;
    } else if (fd < 0) {
      char* e = put_num(line, "ERROR open probe.txt: errno ", (unsigned long)-fd);
      *e++ = '\n';
      *e = 0;
      raw_print(line);
    } else {
      char buf[256];
      long got = raw_syscall(SYS_read, fd, (long)buf, sizeof(buf), 0);
      int same = got == (long)expect_len;
      for (long i = 0; same && i < got; ++i) same = buf[i] == expect[i];
      if (same)
        ++ok;
      else
        raw_print("ERROR read probe.txt: not the file's content\n");
      raw_syscall(SYS_close, fd, 0, 0, 0);
    }
    if (n % 20 == 0) {
      char* e = put_num(line, "thread ok=", ok);
      e = put_num(e, " eio=", eio);
      if (own_files) e = put_num(e, " heio=", heio);
      *e++ = '\n';
      *e = 0;
      raw_print(line);
    }
    struct timespec ts = {0, 5 * 1000 * 1000};
    long r = raw_syscall(SYS_nanosleep, (long)&ts, 0, 0, 0);
    if (r != 0) {
      char* e = put_num(line, "ERROR nanosleep: errno ", (unsigned long)-r);
      *e++ = '\n';
      *e = 0;
      raw_print(line);
    }
  }
  return 0;
}

static int start_bare_worker(void) {
  snprintf(bare_sub, sizeof(bare_sub), "%s/sub", dir);
  size_t size = 256 * 1024;
  char* stack = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (stack == MAP_FAILED) return -1;
  // A thread of this process with everything shared except the fs_struct (cwd, root, umask).
  int flags = CLONE_VM | (own_files ? 0 : CLONE_FILES) | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM;
  return clone(bare_worker, stack + size, flags, NULL) < 0 ? -1 : 0;
}

int main(int argc, char** argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: fs_thread_cwd DIR [main-in-volume]\n");
    return 2;
  }
  dir = argv[1];
  int main_in_volume = 0, bare = 0, main_busy = 0;
  for (int i = 2; i < argc; ++i) {
    if (strcmp(argv[i], "main-in-volume") == 0) main_in_volume = 1;
    if (strcmp(argv[i], "clone-no-fs") == 0) bare = 1;
    if (strcmp(argv[i], "own-files") == 0) own_files = 1;
    if (strcmp(argv[i], "main-busy") == 0) main_busy = 1;
  }
  char path[4096];
  snprintf(path, sizeof(path), "%s/sub/probe.txt", dir);
  int f = open(path, O_RDONLY);
  if (f < 0 || (expect_len = (size_t)read(f, expect, sizeof(expect))) == 0) {
    fprintf(stderr, "fs_thread_cwd: cannot read %s\n", path);
    return 2;
  }
  close(f);
  if (own_files) {
    snprintf(path, sizeof(path), "%s/sub/held.txt", dir);
    f = open(path, O_RDONLY);
    if (f < 0 || (held_len = (size_t)read(f, held, sizeof(held))) == 0) {
      fprintf(stderr, "fs_thread_cwd: cannot read %s\n", path);
      return 2;
    }
    close(f);
  }
  if (chdir(main_in_volume ? dir : "/") != 0) return 2;
  if (bare) {
    if (start_bare_worker() != 0) return 2;
  } else {
    pthread_t t;
    if (pthread_create(&t, NULL, worker, NULL) != 0) return 2;
  }
  for (;;) {
    struct stat st;
    if (main_in_volume && stat("top.txt", &st) != 0) say("ERROR stat top.txt (main cwd): %s\n", strerror(errno));
    if (main_busy) {
      // Tens of milliseconds of pure computation: the interrupt finds the main thread outside
      // any system call (no clock reads: on a VM without a vDSO clock those are calls too).
      for (volatile unsigned long i = 0; i < 20000000UL; ++i) {
      }
    } else {
      sleep_ms(10);
    }
  }
}
