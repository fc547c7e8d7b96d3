// fs_posix_check DIR: runs a fixed set of POSIX file-system behaviours inside DIR and prints
// one line per observation (return values, errno names, sizes, link counts, data checksums;
// never inode numbers or times that differ between runs). Run it on a native directory and
// on ChaosFS: the two transcripts must be identical.
//
// Covered: O_APPEND, O_DIRECT, O_EXCL, O_TRUNC, fsync/fdatasync, flock and fcntl locks
// (between processes), xattrs, mmap (shared writes and reads), rename (over files, over
// empty directories, NOREPLACE, EXCHANGE), hard links, symlinks, sparse files with
// SEEK_DATA/SEEK_HOLE, large files beyond 4 GiB, truncate, readdir, unlink of an open file,
// chmod/utimensat, fallocate, copy_file_range, fifos, statvfs.
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

static const char* dir;
static char pbuf[3][4096];

static const char* P(int slot, const char* name) {
  snprintf(pbuf[slot], sizeof pbuf[slot], "%s/%s", dir, name);
  return pbuf[slot];
}

static const char* err_name(int e) {
  const char* n = strerrorname_np(e);
  return n ? n : "E?";
}

// "ok" or "-1 ENOENT"
static void rc(const char* what, long r) {
  if (r < 0) printf("%s: -1 %s\n", what, err_name(errno));
  else printf("%s: %ld\n", what, r);
}

static uint64_t fnv(const void* data, size_t n) {
  const unsigned char* p = data;
  uint64_t h = 1469598103934665603ULL;
  for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 1099511628211ULL;
  return h;
}

static uint64_t file_hash(const char* path, off_t* size_out) {
  int fd = open(path, O_RDONLY);
  if (fd < 0) return 0;
  static char buf[1 << 16];
  uint64_t h = 1469598103934665603ULL;
  off_t total = 0;
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0) {
    for (ssize_t i = 0; i < n; ++i) h = (h ^ (unsigned char)buf[i]) * 1099511628211ULL;
    total += n;
  }
  close(fd);
  if (size_out) *size_out = total;
  return h;
}

static void show_stat(const char* what, const char* path, int follow) {
  struct stat st;
  int r = follow ? stat(path, &st) : lstat(path, &st);
  if (r != 0) {
    printf("%s: stat -1 %s\n", what, err_name(errno));
    return;
  }
  printf("%s: mode=%o nlink=%lu size=%lld uid=%u gid=%u\n", what, st.st_mode, (unsigned long)st.st_nlink,
         (long long)st.st_size, st.st_uid, st.st_gid);
}

static void write_str(const char* path, const char* s) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) { rc("write_str open", -1); return; }
  if (write(fd, s, strlen(s)) != (ssize_t)strlen(s)) rc("write_str write", -1);
  close(fd);
}

static void show_content(const char* what, const char* path) {
  char buf[256] = {0};
  int fd = open(path, O_RDONLY);
  if (fd < 0) { printf("%s: open -1 %s\n", what, err_name(errno)); return; }
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  printf("%s: %zd '%s'\n", what, n, n > 0 ? buf : "");
}

static void test_basic_io(void) {
  const char* f = P(0, "basic");
  int fd = open(f, O_RDWR | O_CREAT | O_EXCL, 0640);
  rc("create excl", fd < 0 ? -1 : 0);
  rc("create excl again", open(f, O_RDWR | O_CREAT | O_EXCL, 0640));
  rc("pwrite", pwrite(fd, "hello world", 11, 0));
  char buf[32] = {0};
  rc("pread", pread(fd, buf, sizeof buf, 6));
  printf("pread data: '%s'\n", buf);
  rc("pwrite past end", pwrite(fd, "X", 1, 20));
  memset(buf, 'q', sizeof buf);
  rc("pread hole", pread(fd, buf, 21, 0));
  printf("hole bytes zero: %d\n", buf[11] == 0 && buf[19] == 0 && buf[20] == 'X');
  rc("fsync", fsync(fd));
  rc("fdatasync", fdatasync(fd));
  rc("ftruncate shrink", ftruncate(fd, 5));
  rc("ftruncate grow", ftruncate(fd, 100));
  memset(buf, 'q', sizeof buf);
  rc("pread after grow", pread(fd, buf, 10, 0));
  printf("grow zeros: %d\n", buf[5] == 0 && buf[9] == 0 && buf[0] == 'h');
  show_stat("basic stat", f, 1);
  rc("close", close(fd));
  rc("truncate path", truncate(f, 3));
  show_content("basic content", f);
  fd = open(f, O_WRONLY | O_TRUNC);
  rc("open trunc", fd < 0 ? -1 : 0);
  close(fd);
  show_stat("after O_TRUNC", f, 1);
  rc("open missing", open(P(1, "missing"), O_RDONLY));
  rc("open dir for write", open(dir, O_WRONLY));
  rc("unlink", unlink(f));
  rc("unlink again", unlink(f));
}

static void test_append(void) {
  const char* f = P(0, "append");
  int a = open(f, O_WRONLY | O_CREAT | O_APPEND, 0644);
  int b = open(f, O_WRONLY | O_APPEND);
  for (int i = 0; i < 50; ++i) {
    char line[32];
    int n = snprintf(line, sizeof line, "a%02d\n", i);
    if (write(a, line, n) != n) rc("append a", -1);
    n = snprintf(line, sizeof line, "b%02d\n", i);
    if (write(b, line, n) != n) rc("append b", -1);
  }
  // A positional write on an O_APPEND fd still appends on Linux.
  rc("pwrite on append fd", pwrite(a, "END\n", 4, 0));
  printf("append lseek end: %lld\n", (long long)lseek(a, 0, SEEK_END));
  close(a);
  close(b);
  off_t size;
  uint64_t h = file_hash(f, &size);
  printf("append: size=%lld hash=%016llx\n", (long long)size, (unsigned long long)h);
  unlink(f);
}

static void test_direct(void) {
  const char* f = P(0, "direct");
  int fd = open(f, O_RDWR | O_CREAT | O_DIRECT, 0644);
  if (fd < 0) { rc("open O_DIRECT", -1); return; }
  rc("open O_DIRECT", 0);
  void* buf;
  if (posix_memalign(&buf, 4096, 65536) != 0) return;
  for (int i = 0; i < 65536; ++i) ((char*)buf)[i] = (char)(i * 7);
  rc("direct write", pwrite(fd, buf, 65536, 0));
  rc("direct write 2", pwrite(fd, buf, 4096, 65536));
  memset(buf, 0, 65536);
  rc("direct read", pread(fd, buf, 65536, 0));
  printf("direct read hash: %016llx\n", (unsigned long long)fnv(buf, 65536));
  close(fd);
  off_t size;
  printf("direct file: hash=%016llx\n", (unsigned long long)file_hash(f, &size));
  printf("direct size: %lld\n", (long long)size);
  free(buf);
  unlink(f);
}

static void test_flock(void) {
  const char* f = P(0, "flock");
  int fd = open(f, O_RDWR | O_CREAT, 0644);
  rc("flock ex", flock(fd, LOCK_EX));
  int pipefd[2];
  if (pipe(pipefd) != 0) return;
  pid_t pid = fork();
  if (pid == 0) {
    int cfd = open(f, O_RDWR);
    int r = flock(cfd, LOCK_EX | LOCK_NB);
    int e = r == 0 ? 0 : errno;
    char c = 0;
    if (write(pipefd[1], &e, sizeof e) < 0) _exit(1);
    if (read(pipefd[0], &c, 0) < 0) _exit(1);
    // Wait until the parent unlocks, then lock blocking.
    usleep(200000);
    r = flock(cfd, LOCK_EX);
    e = r == 0 ? 0 : errno;
    if (write(pipefd[1], &e, sizeof e) < 0) _exit(1);
    _exit(0);
  }
  int e;
  if (read(pipefd[0], &e, sizeof e) != sizeof e) e = -1;
  printf("flock child nb: %s\n", e ? err_name(e) : "0");
  rc("flock un", flock(fd, LOCK_UN));
  if (read(pipefd[0], &e, sizeof e) != sizeof e) e = -1;
  printf("flock child blocking: %s\n", e ? err_name(e) : "0");
  int st;
  waitpid(pid, &st, 0);
  rc("flock sh", flock(fd, LOCK_SH | LOCK_NB));
  close(fd);
  close(pipefd[0]);
  close(pipefd[1]);
  unlink(f);
}

static void test_fcntl_locks(void) {
  const char* f = P(0, "fcntl");
  int fd = open(f, O_RDWR | O_CREAT, 0644);
  if (ftruncate(fd, 100) != 0) rc("ftruncate", -1);
  struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 10, .l_len = 20};
  rc("fcntl setlk", fcntl(fd, F_SETLK, &fl));
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid == 0) {
    int cfd = open(f, O_RDWR);
    struct flock q = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 15};
    int r = fcntl(cfd, F_GETLK, &q);
    int conflict = r == 0 && q.l_type == F_WRLCK && q.l_pid == parent && q.l_start == 10 && q.l_len == 20;
    struct flock w = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 25, .l_len = 1};
    int r2 = fcntl(cfd, F_SETLK, &w);
    int e2 = r2 == 0 ? 0 : errno;
    struct flock w2 = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 50, .l_len = 10};
    int r3 = fcntl(cfd, F_SETLK, &w2);
    _exit((conflict ? 1 : 0) | ((e2 == EAGAIN || e2 == EACCES) ? 2 : 0) | (r3 == 0 ? 4 : 0));
  }
  int st;
  waitpid(pid, &st, 0);
  printf("fcntl child: getlk-conflict=%d setlk-blocked=%d other-range=%d\n", WEXITSTATUS(st) & 1,
         !!(WEXITSTATUS(st) & 2), !!(WEXITSTATUS(st) & 4));
  fl.l_type = F_UNLCK;
  rc("fcntl unlock", fcntl(fd, F_SETLK, &fl));
  close(fd);
  unlink(f);
}

static void test_xattr(void) {
  const char* f = P(0, "xattr");
  write_str(f, "x");
  rc("setxattr", setxattr(f, "user.alpha", "one", 3, 0));
  rc("setxattr 2", setxattr(f, "user.beta", "two!", 4, 0));
  rc("setxattr create existing", setxattr(f, "user.alpha", "1", 1, XATTR_CREATE));
  rc("setxattr replace missing", setxattr(f, "user.gamma", "1", 1, XATTR_REPLACE));
  char buf[256] = {0};
  rc("getxattr size", getxattr(f, "user.alpha", NULL, 0));
  rc("getxattr", getxattr(f, "user.alpha", buf, sizeof buf));
  printf("getxattr value: '%s'\n", buf);
  rc("getxattr small buffer", getxattr(f, "user.beta", buf, 2));
  rc("getxattr missing", getxattr(f, "user.none", buf, sizeof buf));
  ssize_t n = listxattr(f, buf, sizeof buf);
  // Names in sorted order (the order of listxattr is not specified).
  int count = 0;
  for (ssize_t i = 0; i < n; i += (ssize_t)strlen(buf + i) + 1)
    if (strncmp(buf + i, "user.", 5) == 0) ++count;
  printf("listxattr user names: %d\n", count);
  rc("removexattr", removexattr(f, "user.alpha"));
  rc("removexattr again", removexattr(f, "user.alpha"));
  rc("dir setxattr", setxattr(dir, "user.dirattr", "d", 1, 0));
  rc("dir getxattr", getxattr(dir, "user.dirattr", buf, sizeof buf));
  rc("dir removexattr", removexattr(dir, "user.dirattr"));
  int fd = open(f, O_RDONLY);
  rc("fsetxattr", fsetxattr(fd, "user.fd", "v", 1, 0));
  rc("fgetxattr", fgetxattr(fd, "user.fd", buf, sizeof buf));
  close(fd);
  unlink(f);
}

static void test_mmap(void) {
  const char* f = P(0, "mmap");
  int fd = open(f, O_RDWR | O_CREAT | O_TRUNC, 0644);
  rc("mmap ftruncate", ftruncate(fd, 3 * 4096));
  char* m = mmap(NULL, 3 * 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (m == MAP_FAILED) { rc("mmap", -1); close(fd); return; }
  for (int i = 0; i < 3 * 4096; ++i) m[i] = (char)('a' + i % 26);
  rc("msync", msync(m, 3 * 4096, MS_SYNC));
  char buf[16] = {0};
  rc("read after mmap write", pread(fd, buf, 8, 4096 + 3));
  printf("mmap read: '%s'\n", buf);
  rc("write then mmap read", pwrite(fd, "ZZZZ", 4, 100));
  printf("mmap sees write: %.4s\n", m + 100);
  munmap(m, 3 * 4096);
  close(fd);
  printf("mmap file hash: %016llx\n", (unsigned long long)file_hash(f, NULL));
  fd = open(f, O_RDONLY);
  char* r = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, fd, 0);
  printf("mmap private read: %.4s\n", r == MAP_FAILED ? "FAIL" : r + 100);
  if (r != MAP_FAILED) munmap(r, 4096);
  close(fd);
  unlink(f);
}

static void test_rename(void) {
  const char *a = P(0, "ren_a"), *b = P(1, "ren_b");
  write_str(a, "AAA");
  write_str(b, "BBBBBB");
  int keep = open(b, O_RDONLY);  // the replaced file stays readable through an open fd
  rc("rename over existing", rename(a, b));
  show_content("rename target", b);
  rc("rename source gone", access(a, F_OK));
  char buf[16] = {0};
  rc("read replaced via old fd", read(keep, buf, sizeof buf - 1));
  printf("old fd content: '%s'\n", buf);
  close(keep);
  write_str(a, "again");
  rc("renameat2 noreplace", renameat2(AT_FDCWD, a, AT_FDCWD, b, RENAME_NOREPLACE));
  rc("renameat2 exchange", renameat2(AT_FDCWD, a, AT_FDCWD, b, RENAME_EXCHANGE));
  show_content("exchange a", a);
  show_content("exchange b", b);
  const char *d1 = P(0, "rdir1"), *d2 = P(1, "rdir2");
  rc("mkdir d1", mkdir(d1, 0755));
  rc("mkdir d2", mkdir(d2, 0755));
  write_str(P(2, "rdir1/inner"), "in");
  rc("rename dir over empty dir", rename(P(0, "rdir1"), P(1, "rdir2")));
  show_content("moved inner", P(2, "rdir2/inner"));
  rc("mkdir d1 again", mkdir(P(0, "rdir1"), 0755));
  rc("rename empty dir over non-empty", rename(P(0, "rdir1"), P(1, "rdir2")));
  rc("rename file over dir", rename(P(0, "ren_a"), P(1, "rdir2")));
  rc("rename dir into itself", rename(P(0, "rdir2"), P(1, "rdir2/sub")));
  rc("rmdir non-empty", rmdir(P(0, "rdir2")));
  unlink(P(0, "rdir2/inner"));
  rc("rmdir", rmdir(P(0, "rdir2")));
  rc("rmdir d1", rmdir(P(0, "rdir1")));
  unlink(P(0, "ren_a"));
  unlink(P(0, "ren_b"));
}

static void test_links(void) {
  const char *f = P(0, "hl_a"), *g = P(1, "hl_b");
  write_str(f, "linked");
  rc("link", link(f, g));
  show_stat("link a", f, 1);
  show_stat("link b", g, 1);
  int fd = open(g, O_WRONLY | O_APPEND);
  rc("write via b", write(fd, "+more", 5));
  close(fd);
  show_content("read via a", f);
  rc("link exists", link(f, g));
  rc("unlink a", unlink(f));
  show_stat("b after unlink a", g, 1);
  const char* s = P(0, "sym");
  rc("symlink", symlink("hl_b", s));
  char buf[64] = {0};
  rc("readlink", readlink(s, buf, sizeof buf));
  printf("readlink: '%s'\n", buf);
  show_stat("lstat symlink", s, 0);
  show_stat("stat through symlink", s, 1);
  show_content("read through symlink", s);
  rc("open O_NOFOLLOW", open(s, O_RDONLY | O_NOFOLLOW));
  rc("symlink dangling", symlink("nowhere", P(1, "dangling")));
  rc("open dangling", open(P(1, "dangling"), O_RDONLY));
  show_stat("lstat dangling", P(1, "dangling"), 0);
  rc("symlink exists", symlink("x", s));
  rc("unlink symlink", unlink(s));
  unlink(P(1, "dangling"));
  unlink(g);
}

static void test_sparse_large(void) {
  const char* f = P(0, "sparse");
  int fd = open(f, O_RDWR | O_CREAT | O_TRUNC, 0644);
  rc("sparse write at 1GiB", pwrite(fd, "tail", 4, 1LL << 30));
  rc("sparse write at 0", pwrite(fd, "head", 4, 0));
  struct stat st;
  fstat(fd, &st);
  printf("sparse size=%lld allocated<1MiB=%d\n", (long long)st.st_size, st.st_blocks * 512LL < (1 << 20));
  printf("SEEK_DATA 4096: %lld\n", (long long)lseek(fd, 4096, SEEK_DATA));
  printf("SEEK_HOLE 0: %lld\n", (long long)lseek(fd, 0, SEEK_HOLE));
  char buf[8] = {0};
  rc("read hole", pread(fd, buf, 4, 1LL << 29));
  printf("hole zero: %d\n", buf[0] == 0 && buf[3] == 0);
  close(fd);
  unlink(f);

  const char* big = P(0, "large");
  fd = open(big, O_RDWR | O_CREAT | O_TRUNC, 0644);
  off_t far = 5LL << 30;  // beyond 4 GiB: 64-bit offsets end to end
  rc("large write at 5GiB", pwrite(fd, "beyond4G", 8, far));
  memset(buf, 0, sizeof buf);
  rc("large read at 5GiB", pread(fd, buf, 8, far));
  printf("large data: %.8s\n", buf);
  fstat(fd, &st);
  printf("large size: %lld\n", (long long)st.st_size);
  // 32 MiB of real data, written in odd-sized chunks, read back in other sizes.
  static char chunk[1 << 20];
  uint64_t wh = 1469598103934665603ULL;
  off_t pos = 0;
  for (int i = 0; pos < (32 << 20); ++i) {
    size_t n = (size_t)(12345 + (i * 7919) % 900000);
    for (size_t k = 0; k < n; ++k) chunk[k] = (char)((pos + (off_t)k) * 31 % 251);
    for (size_t k = 0; k < n; ++k) wh = (wh ^ (unsigned char)chunk[k]) * 1099511628211ULL;
    if (pwrite(fd, chunk, n, pos) != (ssize_t)n) { rc("large chunk write", -1); break; }
    pos += (off_t)n;
  }
  uint64_t rh = 1469598103934665603ULL;
  off_t rpos = 0;
  while (rpos < pos) {
    size_t want = (size_t)((pos - rpos) < 65537 ? (pos - rpos) : 65537);
    ssize_t n = pread(fd, chunk, want, rpos);
    if (n <= 0) { rc("large chunk read", -1); break; }
    for (ssize_t k = 0; k < n; ++k) rh = (rh ^ (unsigned char)chunk[k]) * 1099511628211ULL;
    rpos += n;
  }
  printf("large 32MiB roundtrip: %d bytes=%lld\n", wh == rh, (long long)pos);
  close(fd);
  unlink(big);
}

static int cmpstr(const void* a, const void* b) { return strcmp(*(char* const*)a, *(char* const*)b); }

static void test_dirs_and_attrs(void) {
  const char* d = P(0, "dir");
  rc("mkdir", mkdir(d, 0750));
  rc("mkdir exists", mkdir(d, 0750));
  for (int i = 0; i < 300; ++i) {
    char name[64];
    snprintf(name, sizeof name, "dir/entry-%03d", i);
    write_str(P(1, name), "e");
  }
  DIR* dp = opendir(d);
  char* names[400];
  int n = 0;
  struct dirent* e;
  while (dp && (e = readdir(dp)) && n < 400) names[n++] = strdup(e->d_name);
  if (dp) closedir(dp);
  qsort(names, n, sizeof names[0], cmpstr);
  uint64_t h = 1469598103934665603ULL;
  for (int i = 0; i < n; ++i) {
    h = fnv(names[i], strlen(names[i])) ^ (h * 31);
    free(names[i]);
  }
  printf("readdir: %d entries hash=%016llx\n", n, (unsigned long long)h);
  for (int i = 0; i < 300; ++i) {
    char name[64];
    snprintf(name, sizeof name, "dir/entry-%03d", i);
    unlink(P(1, name));
  }
  show_stat("dir", d, 1);
  const char* f = P(1, "attrs");
  write_str(f, "attrs");
  rc("chmod", chmod(f, 0604));
  struct timespec ts[2] = {{1000000000, 123456789}, {1100000000, 987654321}};
  rc("utimensat", utimensat(AT_FDCWD, f, ts, 0));
  struct stat st;
  stat(f, &st);
  printf("times: atime=%lld.%09ld mtime=%lld.%09ld mode=%o\n", (long long)st.st_atim.tv_sec, st.st_atim.tv_nsec,
         (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec, st.st_mode);
  rc("chown", chown(f, 1234, 5678));
  show_stat("after chown", f, 1);
  rc("access R_OK", access(f, R_OK));
  int fd = open(f, O_RDWR);
  rc("fallocate", fallocate(fd, 0, 0, 1 << 20));
  fstat(fd, &st);
  printf("after fallocate size=%lld\n", (long long)st.st_size);
  rc("fallocate punch", fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 4096));
  close(fd);
  const char* g = P(2, "copy");
  int in = open(f, O_RDONLY), out = open(g, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  loff_t oi = 0, oo = 0;
  rc("copy_file_range", copy_file_range(in, &oi, out, &oo, 1 << 20, 0));
  close(in);
  close(out);
  off_t sz;
  printf("copy hash equal: %d\n", file_hash(f, &sz) == file_hash(g, NULL));
  unlink(g);
  unlink(f);
  rc("mkfifo", mkfifo(P(1, "fifo"), 0600));
  show_stat("fifo", P(1, "fifo"), 0);
  unlink(P(1, "fifo"));
  const char* u = P(1, "unlinked");
  fd = open(u, O_RDWR | O_CREAT, 0644);
  rc("write before unlink", write(fd, "still here", 10));
  rc("unlink open file", unlink(u));
  char buf[16] = {0};
  rc("read after unlink", pread(fd, buf, sizeof buf - 1, 0));
  printf("unlinked content: '%s'\n", buf);
  fstat(fd, &st);
  printf("unlinked nlink: %lu\n", (unsigned long)st.st_nlink);
  close(fd);
  rc("rmdir", rmdir(d));
  struct statvfs sv;
  rc("statvfs", statvfs(dir, &sv));
  printf("statvfs bsize>0: %d namemax=%lu\n", sv.f_bsize > 0, sv.f_namemax);
}

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: fs_posix_check DIR\n");
    return 2;
  }
  dir = argv[1];
  umask(022);
  setvbuf(stdout, NULL, _IOLBF, 0);
  test_basic_io();
  test_append();
  test_direct();
  test_flock();
  test_fcntl_locks();
  test_xattr();
  test_mmap();
  test_rename();
  test_links();
  test_sparse_large();
  test_dirs_and_attrs();
  printf("done\n");
  return 0;
}
