// ChaosFs: the pass-through file system and where faults are applied.
//
// Inodes follow libfuse's passthrough_ll: each kernel-visible inode is an O_PATH fd on the
// backing file, keyed by (st_dev, st_ino) so hard links share one inode; the FUSE inode
// number is the Inode's address. Files are reopened for I/O through /proc/self/fd/N.
//
// Every operation goes through with_faults(): no rule wants the method -> run it now; the
// rule engine decides; an errno with no delay is answered at once; a delay hands the whole
// operation (copied arguments, and for writes a copy of the data) to the DelayedReplyQueue,
// and the FUSE worker returns to the kernel for the next request.
#define FUSE_USE_VERSION 314
#include "fs/chaos_fs.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/fsuid.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/vfs.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <random>
#include <cstring>
#include <map>
#include <mutex>
#include <thread>

#include "core/rng.hpp"
#include "core/unique_fd.hpp"
#include "fs/blocking_call_threads.hpp"
#include "fs/delayed_reply_queue.hpp"
#include "fs/fs_control_server.hpp"
#include "fs/fs_rule_engine.hpp"
#include "fs/fuse_passthrough.hpp"
#include "fs/kernel_cache_notifier.hpp"
#include "fs/mount_recovery.hpp"

namespace syschaos::fs {

namespace {

struct Inode {
  UniqueFd fd;  // O_PATH | O_NOFOLLOW on the backing file
  dev_t dev = 0;
  ino_t ino = 0;
  mode_t type = 0;  // S_IFMT bits
  uint64_t nlookup = 0;  // guarded by the table's mutex
  // Names the kernel looked this inode up by (parent, name), guarded by the table's mutex:
  // used to drop the kernel's cached entries when rules change. A few are enough.
  std::vector<std::pair<fuse_ino_t, std::string>> names;
  // What the backing file looked like when the kernel last cached its pages (see
  // ChaosFsSession::keep_cache): the pages are kept at the next open only if it still does.
  std::mutex cache_mu;
  bool cache_known = false;
  struct timespec cached_mtime {};
  off_t cached_size = 0;
  // Open files of this inode by I/O mode, when passthrough was asked for (guarded by
  // cache_mu). The kernel refuses (EIO) an open whose mode differs from the opens already
  // there, and all passthrough opens of an inode must share one backing file.
  unsigned passthrough_opens = 0;
  unsigned cached_opens = 0;
  int32_t backing_id = 0;  // registered while passthrough_opens > 0
  bool backing_refused = false;  // the kernel will not take this file (ELOOP: stacked fs)
};

struct DirHandle {
  DIR* dp = nullptr;
  off_t offset = 0;
  struct dirent* entry = nullptr;
  std::mutex mu;
  ~DirHandle() {
    if (dp) ::closedir(dp);
  }
};

// fi->fh for files: the fd in the low 32 bits, O_APPEND in bit 32 (splice cannot write to
// an O_APPEND file, so appends are copied through memory).
constexpr uint64_t kAppendBit = uint64_t{1} << 32;
// Bit 33: the open is in kernel passthrough mode (its release ends that mode's count).
constexpr uint64_t kPassthroughBit = uint64_t{1} << 33;
int fh_fd(const fuse_file_info* fi) { return static_cast<int>(fi->fh & 0xffffffffu); }
bool fh_append(const fuse_file_info* fi) { return fi->fh & kAppendBit; }

// The caller's fsuid/fsgid for the duration of a call that creates something, so files get
// the owner the application would get on the backing file system. setfsuid is per thread.
class CallerCreds {
 public:
  CallerCreds(uid_t uid, gid_t gid) : switched_(uid != server_uid() || gid != server_gid()) {
    if (!switched_) return;  // the server's own identity: nothing to switch (saves 4 calls)
    old_gid_ = static_cast<gid_t>(::setfsgid(gid));
    old_uid_ = static_cast<uid_t>(::setfsuid(uid));
  }
  ~CallerCreds() {
    if (!switched_) return;
    ::setfsuid(old_uid_);
    ::setfsgid(old_gid_);
  }

 private:
  // The server's own identity never changes while it runs: read once, not twice per create.
  static uid_t server_uid() {
    static const uid_t uid = ::geteuid();
    return uid;
  }
  static gid_t server_gid() {
    static const gid_t gid = ::getegid();
    return gid;
  }
  bool switched_;
  uid_t old_uid_ = 0;
  gid_t old_gid_ = 0;
};

// Whether close(2) on the backing file system can report an error that write(2) did not
// (NFS, CIFS, FUSE, ... defer errors to close): FLUSH then closes a duplicate of the fd to
// ask. The local file systems below have no flush operation, so that would be two system
// calls per close(2) of the application for nothing.
bool close_can_fail(int backing_fd) {
  struct statfs sf;
  if (::fstatfs(backing_fd, &sf) != 0) return true;
  switch (static_cast<unsigned long>(sf.f_type)) {
    case 0xEF53:      // ext2/3/4
    case 0x58465342:  // XFS
    case 0x9123683E:  // btrfs
    case 0x01021994:  // tmpfs
    case 0xF2F52010:  // f2fs
      return false;
    default:
      return true;
  }
}

void apply_attr_override(struct stat& st, const FsAttrOverride& a) {
  if (a.ino) st.st_ino = *a.ino;
  if (a.size) st.st_size = static_cast<off_t>(*a.size);
  if (a.blocks) st.st_blocks = static_cast<blkcnt_t>(*a.blocks);
  if (a.atime) st.st_atim = {a.atime->sec, a.atime->nsec};
  if (a.mtime) st.st_mtim = {a.mtime->sec, a.mtime->nsec};
  if (a.ctime) st.st_ctim = {a.ctime->sec, a.ctime->nsec};
  if (a.kind) st.st_mode = (st.st_mode & ~S_IFMT) | *a.kind;
  if (a.perm) st.st_mode = (st.st_mode & S_IFMT) | *a.perm;
  if (a.nlink) st.st_nlink = *a.nlink;
  if (a.uid) st.st_uid = *a.uid;
  if (a.gid) st.st_gid = *a.gid;
  if (a.rdev) st.st_rdev = *a.rdev;
}

std::string fd_name(int fd) { return std::to_string(fd); }

int wake_signal();  // ends blocking calls at stop (see ChaosFs::run)

// The method sets asked about on every open (FsRuleEngine::may_act).
const FsMethodSet kReadMethod = fs_method_set({FsMethod::kRead});
const FsMethodSet kDataMethods = fs_method_set({FsMethod::kRead, FsMethod::kWrite});
const FsMethodSet kDataOrSizeMethods =
    fs_method_set({FsMethod::kRead, FsMethod::kWrite, FsMethod::kGetattr, FsMethod::kLookup});
const FsMethodSet kFlushMethod = fs_method_set({FsMethod::kFlush});

}  // namespace

class ChaosFsSession {
 public:
  ChaosFsOptions opts;
  UniqueFd proc_fd;       // /proc/self/fd of this process
  std::string backing_prefix;  // the backing root as /proc/self/fd/N reads it
  std::string mountpoint;      // absolute
  FsRuleEngine engine;
  Inode root;
  std::mutex inodes_mu;
  std::map<std::pair<dev_t, ino_t>, Inode*> inodes;
  UniqueFd stop_fd;
  fuse_session* se = nullptr;
  bool mounted = false;
  std::unique_ptr<DelayedReplyQueue> delayed;
  std::unique_ptr<KernelCacheNotifier> notifier;  // after mount, before any rule change
  std::unique_ptr<FusePassthrough> passthrough;   // when ChaosFsOptions::passthrough
  std::unique_ptr<BlockingCallThreads> blocking;  // flocks that wait for another's lock
  bool flush_closes_dup = true;                   // close_can_fail() of the backing fs
  bool proc_path_is_ours = false;                 // "/proc/self/fd" is proc_fd's directory
  std::unique_ptr<FsControlServer> control;
  std::string control_path;
  std::optional<UnmountGuardian> guardian;
  unsigned threads = 4;

  explicit ChaosFsSession(uint64_t seed) : engine(seed) {}
  ~ChaosFsSession();

  Inode& inode(fuse_ino_t ino) {
    return ino == FUSE_ROOT_ID ? root : *reinterpret_cast<Inode*>(static_cast<uintptr_t>(ino));
  }
  fuse_ino_t ino_of(Inode* i) {
    return i == &root ? FUSE_ROOT_ID : static_cast<fuse_ino_t>(reinterpret_cast<uintptr_t>(i));
  }
  double entry_timeout() const { return engine.affects_lookup_cache() ? 0.0 : opts.entry_timeout; }
  double attr_timeout() const { return engine.affects_lookup_cache() ? 0.0 : opts.attr_timeout; }

  // Path inside the file system ("/a/b") of an inode, read back from its O_PATH fd.
  std::optional<std::string> inner_path(Inode& i) {
    if (&i == &root) return std::string("/");
    char buf[PATH_MAX];
    ssize_t n = ::readlinkat(proc_fd.get(), fd_name(i.fd.get()).c_str(), buf, sizeof buf - 1);
    if (n < 0) return std::nullopt;
    std::string p(buf, static_cast<size_t>(n));
    static constexpr std::string_view kDeleted = " (deleted)";
    if (p.size() > kDeleted.size() && p.compare(p.size() - kDeleted.size(), kDeleted.size(), kDeleted) == 0)
      p.resize(p.size() - kDeleted.size());
    if (p.compare(0, backing_prefix.size(), backing_prefix) != 0) return std::nullopt;
    p = p.substr(backing_prefix.size());
    if (p.empty()) p = "/";
    return p;
  }
  std::optional<std::string> child_path(Inode& parent, const char* name) {
    auto p = inner_path(parent);
    if (!p) return std::nullopt;
    return (*p == "/" ? "" : *p) + "/" + name;
  }

  // Reopens an inode for I/O (O_PATH fds cannot read or write).
  int reopen(Inode& i, int flags) {
    return ::openat(proc_fd.get(), fd_name(i.fd.get()).c_str(), (flags & ~O_NOFOLLOW) | O_CLOEXEC);
  }

  // Looks up name in parent; fills e. Returns 0 or an errno.
  int do_lookup(Inode& parent, const char* name, fuse_entry_param* e) {
    std::memset(e, 0, sizeof *e);
    UniqueFd fd(::openat(parent.fd.get(), name, O_PATH | O_NOFOLLOW | O_CLOEXEC));
    if (!fd) return errno;
    struct stat st;
    if (::fstatat(fd.get(), "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) != 0) return errno;
    Inode* found;
    {
      std::lock_guard lk(inodes_mu);
      auto key = std::make_pair(st.st_dev, st.st_ino);
      auto it = inodes.find(key);
      if (it != inodes.end()) {
        found = it->second;
      } else if (st.st_dev == root.dev && st.st_ino == root.ino) {
        found = &root;
      } else {
        found = new Inode;
        found->fd = std::move(fd);
        found->dev = st.st_dev;
        found->ino = st.st_ino;
        found->type = st.st_mode & S_IFMT;
        inodes.emplace(key, found);
      }
      ++found->nlookup;
      if (found != &root && found->names.size() < 4) {
        std::pair<fuse_ino_t, std::string> nm(ino_of(&parent), name);
        if (std::find(found->names.begin(), found->names.end(), nm) == found->names.end())
          found->names.push_back(std::move(nm));
      }
    }
    e->ino = ino_of(found);
    e->attr = st;
    e->attr_timeout = attr_timeout();
    e->entry_timeout = entry_timeout();
    return 0;
  }

  void forget_one(fuse_ino_t ino, uint64_t n) {
    Inode& i = inode(ino);
    if (&i == &root) return;
    std::lock_guard lk(inodes_mu);
    if (i.nlookup < n) n = i.nlookup;
    i.nlookup -= n;
    if (i.nlookup == 0) {
      inodes.erase(std::make_pair(i.dev, i.ino));
      delete &i;
    }
  }

  // Runs op(decision) now, later, or answers the fault. op must be copyable and must reply.
  template <typename Op>
  void with_faults(fuse_req_t req, FsMethod m, const FsRuleEngine::PathFn& path, Op&& op) {
    if (!engine.wants(m)) {
      op(FsDecision{});
      return;
    }
    FsDecision d = engine.decide(m, path);
    if (d.delay.count() == 0) {
      if (d.err) {
        fuse_reply_err(req, d.err);
        return;
      }
      op(d);
      return;
    }
    auto when = DelayedReplyQueue::Clock::now() + d.delay;
    delayed->schedule(when, [req, d = std::move(d), op = std::forward<Op>(op)]() mutable {
      if (d.err) {
        fuse_reply_err(req, d.err);
        return;
      }
      op(d);
    });
  }

  // release/releasedir: the kernel forgets the handle whatever the reply says, so the
  // handle is freed whatever a rule decides (a fault only changes the errno sent, a delay
  // only when it is freed and answered); with_faults() would answer a fault without it.
  template <typename Free>
  void release_with_faults(fuse_req_t req, FsMethod m, const FsRuleEngine::PathFn& path, Free&& free_handle) {
    FsDecision d;
    if (engine.wants(m)) d = engine.decide(m, path);
    auto finish = [req, err = d.err, free_handle = std::forward<Free>(free_handle)]() mutable {
      free_handle();
      fuse_reply_err(req, err);
    };
    if (d.delay.count() == 0) return finish();
    delayed->schedule(DelayedReplyQueue::Clock::now() + d.delay, std::move(finish));
  }

  void reply_entry(fuse_req_t req, int err, fuse_entry_param& e, const FsDecision& d) {
    if (err) {
      fuse_reply_err(req, err);
      return;
    }
    if (d.attr) apply_attr_override(e.attr, *d.attr);
    if (fuse_reply_entry(req, &e) == -ENOENT) forget_one(e.ino, 1);  // request was interrupted
  }

  // After a rule change that acts (or acted) on lookup/getattr/attributes: make the kernel
  // forget the entries and attributes it cached, so the new rules apply to the very next
  // stat/open instead of after the cache timeout. Entries expire (not unhashed: open files
  // keep their names). Cached file pages are left alone, as a disk that starts failing
  // leaves the page cache above it: the next open of a file a rule now cares about drops
  // them (keep_cache), and dropping the pages an application has mapped would turn the new
  // rule into a SIGBUS in a mapping that was working.
  // Returns a note for whoever changed the rules (FsRuleEngine::change_note).
  std::string on_rules_changed(bool lookup_cache_affected) {
    std::string note = passthrough ? passthrough_bypass_note() : std::string();
    if (!note.empty()) std::fprintf(stderr, "syschaos: warning: %s\n", note.c_str());
    if (notifier && mounted && lookup_cache_affected) expire_cached_entries();
    return note;
  }

  void expire_cached_entries() {
    std::vector<fuse_ino_t> inos;
    std::vector<std::pair<fuse_ino_t, std::string>> entries;
    {
      std::lock_guard lk(inodes_mu);
      inos.push_back(FUSE_ROOT_ID);
      for (auto& [key, i] : inodes) {
        inos.push_back(ino_of(i));
        for (auto& n : i->names) entries.push_back(n);
      }
    }
    // Outside the lock: an expired entry can make the kernel send FORGET at once.
    for (const auto& [parent, name] : entries) notifier->expire_entry(parent, name);
    for (auto ino : inos) notifier->invalidate_attributes(ino);
  }

  void drop_pages_rules_read() {
    if (!notifier || !mounted) return;
    std::vector<fuse_ino_t> files;
    {
      std::lock_guard lk(inodes_mu);
      for (auto& [key, i] : inodes) {
        if (i->type != S_IFREG || !engine.may_act(kReadMethod, [&] { return inner_path(*i); })) continue;
        std::lock_guard ck(i->cache_mu);
        i->cache_known = false;
        files.push_back(ino_of(i));
      }
    }
    // Outside the lock: dropping a page waits for a READ in flight on it, and the worker
    // answering that READ must not be one waiting for the lock behind a LOOKUP.
    for (fuse_ino_t ino : files) notifier->invalidate_pages(ino);
  }

  // Whether the kernel may keep the pages it cached for this file from an earlier open
  // (FOPEN_KEEP_CACHE) — libfuse's "auto_cache", plus rules: yes when the backing file's
  // mtime and size are what they were when the pages were cached, and no rule can act on
  // reads or writes of this file (each read of such a file must reach the rules, and a
  // corrupted write must not be read back from clean pages at the next open). Dropping the
  // pages at every open cost 90% of warm sequential-read throughput (docs/PERFORMANCE.md).
  // `known`: the file's stat when the caller has just read it (create), saving a call.
  bool keep_cache(Inode& i, int fd, const struct stat* known = nullptr) {
    struct stat st;
    if (known) st = *known;
    else if (::fstat(fd, &st) != 0) return false;
    if (!S_ISREG(st.st_mode)) return false;
    bool rules = engine.may_act(kDataMethods, [&] { return inner_path(i); });
    std::lock_guard lk(i.cache_mu);
    bool same = i.cache_known && i.cached_size == st.st_size && i.cached_mtime.tv_sec == st.st_mtim.tv_sec &&
                i.cached_mtime.tv_nsec == st.st_mtim.tv_nsec;
    i.cache_known = !rules;
    i.cached_mtime = st.st_mtim;
    i.cached_size = st.st_size;
    return same && !rules;
  }

  // --- Kernel passthrough (ChaosFsOptions::passthrough, fuse_passthrough.hpp) ---

  // Whether a rule can act on this file's data or on what the kernel believes its size is:
  // then it must go through ChaosFS.
  bool rules_touch_data(Inode& i) {
    return engine.may_act(kDataOrSizeMethods, [&] { return inner_path(i); });
  }

  // Chooses the I/O mode of a new open of i (fd: its backing descriptor) and counts it.
  // Returns the backing id to put in the reply, or 0 for an open served by ChaosFS.
  int32_t begin_open(Inode& i, int fd, int flags) {
    if (!passthrough) return 0;
    std::lock_guard lk(i.cache_mu);
    if (i.passthrough_opens > 0) {
      // The kernel requires every open of an inode in passthrough to be one too, on the
      // same backing file, whatever the rules now say (see passthrough_bypass_note).
      ++i.passthrough_opens;
      return i.backing_id;
    }
    if (i.cached_opens == 0 && passthrough->active() && i.type == S_IFREG && !(flags & O_DIRECT) &&
        !i.backing_refused && !rules_touch_data(i)) {
      // The backing file is shared by every later open of the inode, readers and writers:
      // registered read-write (this fd if it is, else a descriptor of its own).
      UniqueFd own;
      int reg = fd;
      if ((flags & O_ACCMODE) != O_RDWR) {
        own.reset(reopen(i, O_RDWR));
        reg = own.get();
      }
      if (reg >= 0) {
        auto id = FusePassthrough::open_backing(fuse_session_fd(se), reg);
        if (id) {
          i.backing_id = *id;
          i.passthrough_opens = 1;
          return *id;
        }
        int e = id.error().sys_errno();
        if (e == EPERM || e == EOPNOTSUPP || e == ENOTTY || e == EINVAL) {
          passthrough->disable();
          std::fprintf(stderr, "syschaos: warning: kernel passthrough refused (%s): files go through ChaosFS\n",
                       id.error().message().c_str());
        }
        // ELOOP (a stacked backing file system), ...: this file goes through ChaosFS.
        i.backing_refused = true;
      }
    }
    ++i.cached_opens;
    return 0;
  }

  // An open counted by begin_open() ended (released, or its reply never reached the kernel).
  void end_open(Inode& i, bool was_passthrough) {
    if (!passthrough) return;
    std::lock_guard lk(i.cache_mu);
    if (!was_passthrough) {
      if (i.cached_opens > 0) --i.cached_opens;
      return;
    }
    if (i.passthrough_opens > 0 && --i.passthrough_opens == 0) {
      FusePassthrough::close_backing(fuse_session_fd(se), i.backing_id);
      i.backing_id = 0;
    }
  }

  // After a rule change: files open in passthrough keep bypassing ChaosFS for reads and
  // writes until closed. Said to the one who changed the rules and on stderr, so a rule that
  // seems to do nothing is explained.
  std::string passthrough_bypass_note() {
    std::lock_guard lk(inodes_mu);  // inodes stay while it is held (forget_one takes it)
    size_t n = 0;
    std::string first;
    for (auto& [key, i] : inodes) {
      {
        std::lock_guard ck(i->cache_mu);
        if (i->passthrough_opens == 0) continue;
      }
      if (!rules_touch_data(*i)) continue;
      if (n++ == 0) first = inner_path(*i).value_or("?");
    }
    if (n == 0) return {};
    return fmt::format(
        "{} file(s) open in kernel passthrough mode (first: {}) are read and written without ChaosFS "
        "until every descriptor of them is closed: the new rules reach their reads and writes after that",
        n, first);
  }

  int stat_inode(Inode& i, struct stat* st) {
    return ::fstatat(i.fd.get(), "", st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) == 0 ? 0 : errno;
  }
};

namespace {

ChaosFsSession& S(fuse_req_t req) { return *static_cast<ChaosFsSession*>(fuse_req_userdata(req)); }

void op_init(void* userdata, fuse_conn_info* conn) {
  (void)userdata;
  // No writeback cache: a write(2) is answered only after the backing file has the data.
  conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
  // The kernel clears set-uid/gid bits on write itself, as for any file system; the backing
  // write runs as root, which would keep them.
  conn->want &= ~FUSE_CAP_HANDLE_KILLPRIV;
  if (conn->capable & FUSE_CAP_SPLICE_WRITE) conn->want |= FUSE_CAP_SPLICE_WRITE;
  if (conn->capable & FUSE_CAP_SPLICE_MOVE) conn->want |= FUSE_CAP_SPLICE_MOVE;
  if (conn->capable & FUSE_CAP_FLOCK_LOCKS) conn->want |= FUSE_CAP_FLOCK_LOCKS;
  if (conn->capable & FUSE_CAP_PARALLEL_DIROPS) conn->want |= FUSE_CAP_PARALLEL_DIROPS;
  if (conn->capable & FUSE_CAP_ASYNC_DIO) conn->want |= FUSE_CAP_ASYNC_DIO;
  // Large requests: libfuse caps this at its buffer (1 MiB) and tells the kernel max_pages.
  conn->max_write = 1u << 20;
}

void op_lookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
  auto& s = S(req);
  Inode& p = s.inode(parent);
  std::string n = name;
  s.with_faults(req, FsMethod::kLookup, [&] { return s.child_path(p, name); },
                [&s, req, &p, n](const FsDecision& d) {
                  fuse_entry_param e;
                  int err = s.do_lookup(p, n.c_str(), &e);
                  if (err == ENOENT && !d.any() && s.entry_timeout() > 0) {
                    // A negative entry the kernel may cache as long as a positive one: a
                    // create right after a failed lookup (open(O_CREAT), mkdir -p, ...)
                    // then costs one request less. Never while a rule acts on lookups.
                    std::memset(&e, 0, sizeof e);
                    e.entry_timeout = s.entry_timeout();
                    return (void)fuse_reply_entry(req, &e);
                  }
                  s.reply_entry(req, err, e, d);
                });
}

void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup) {
  S(req).forget_one(ino, nlookup);
  fuse_reply_none(req);
}

void op_forget_multi(fuse_req_t req, size_t count, fuse_forget_data* forgets) {
  auto& s = S(req);
  for (size_t i = 0; i < count; ++i) s.forget_one(forgets[i].ino, forgets[i].nlookup);
  fuse_reply_none(req);
}

void op_getattr(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  auto& s = S(req);
  Inode& i = s.inode(ino);
  int fd = fi ? fh_fd(fi) : -1;
  s.with_faults(req, FsMethod::kGetattr, [&] { return s.inner_path(i); },
                [&s, req, &i, fd](const FsDecision& d) {
                  struct stat st;
                  int err = fd >= 0 ? (::fstat(fd, &st) == 0 ? 0 : errno) : s.stat_inode(i, &st);
                  if (err) return (void)fuse_reply_err(req, err);
                  if (d.attr) apply_attr_override(st, *d.attr);
                  fuse_reply_attr(req, &st, s.attr_timeout());
                });
}

void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat* attr, int valid, fuse_file_info* fi) {
  auto& s = S(req);
  Inode& i = s.inode(ino);
  int fd = fi ? fh_fd(fi) : -1;
  struct stat a = *attr;
  s.with_faults(req, FsMethod::kSetattr, [&] { return s.inner_path(i); },
                [&s, req, &i, fd, a, valid](const FsDecision& d) {
                  int err = 0;
                  std::string name = fd_name(i.fd.get());
                  if (valid & FUSE_SET_ATTR_MODE) {
                    int r = fd >= 0 ? ::fchmod(fd, a.st_mode) : ::fchmodat(s.proc_fd.get(), name.c_str(), a.st_mode, 0);
                    if (r != 0) err = errno;
                  }
                  if (!err && (valid & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID))) {
                    uid_t uid = (valid & FUSE_SET_ATTR_UID) ? a.st_uid : static_cast<uid_t>(-1);
                    gid_t gid = (valid & FUSE_SET_ATTR_GID) ? a.st_gid : static_cast<gid_t>(-1);
                    if (::fchownat(i.fd.get(), "", uid, gid, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) != 0) err = errno;
                  }
                  if (!err && (valid & FUSE_SET_ATTR_SIZE)) {
                    int r;
                    if (fd >= 0) {
                      r = ::ftruncate(fd, a.st_size);
                    } else {
                      UniqueFd w(s.reopen(i, O_WRONLY));
                      r = w ? ::ftruncate(w.get(), a.st_size) : -1;
                    }
                    if (r != 0) err = errno;
                  }
                  if (!err && (valid & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME))) {
                    timespec tv[2];
                    tv[0].tv_sec = 0;
                    tv[1].tv_sec = 0;
                    tv[0].tv_nsec = UTIME_OMIT;
                    tv[1].tv_nsec = UTIME_OMIT;
                    if (valid & FUSE_SET_ATTR_ATIME_NOW) tv[0].tv_nsec = UTIME_NOW;
                    else if (valid & FUSE_SET_ATTR_ATIME) tv[0] = a.st_atim;
                    if (valid & FUSE_SET_ATTR_MTIME_NOW) tv[1].tv_nsec = UTIME_NOW;
                    else if (valid & FUSE_SET_ATTR_MTIME) tv[1] = a.st_mtim;
                    int r = fd >= 0 ? ::futimens(fd, tv) : ::utimensat(i.fd.get(), "", tv, AT_EMPTY_PATH);
                    if (r != 0) err = errno;
                  }
                  if (err) return (void)fuse_reply_err(req, err);
                  struct stat st;
                  err = fd >= 0 ? (::fstat(fd, &st) == 0 ? 0 : errno) : s.stat_inode(i, &st);
                  if (err) return (void)fuse_reply_err(req, err);
                  if (d.attr) apply_attr_override(st, *d.attr);
                  fuse_reply_attr(req, &st, s.attr_timeout());
                });
}

void op_readlink(fuse_req_t req, fuse_ino_t ino) {
  auto& s = S(req);
  Inode& i = s.inode(ino);
  s.with_faults(req, FsMethod::kReadlink, [&] { return s.inner_path(i); },
                [req, &i](const FsDecision&) {
                  char buf[PATH_MAX + 1];
                  ssize_t n = ::readlinkat(i.fd.get(), "", buf, sizeof buf);
                  if (n < 0) return (void)fuse_reply_err(req, errno);
                  if (n == sizeof buf) return (void)fuse_reply_err(req, ENAMETOOLONG);
                  buf[n] = 0;
                  fuse_reply_readlink(req, buf);
                });
}

// mknod, mkdir, symlink: create as the caller, then look the new name up.
template <typename Make>
void make_node(fuse_req_t req, fuse_ino_t parent, const char* name, FsMethod m, Make make) {
  auto& s = S(req);
  Inode& p = s.inode(parent);
  const fuse_ctx* ctx = fuse_req_ctx(req);
  uid_t uid = ctx->uid;
  gid_t gid = ctx->gid;
  std::string n = name;
  s.with_faults(req, m, [&] { return s.child_path(p, name); },
                [&s, req, &p, n, uid, gid, make](const FsDecision& d) {
                  int r;
                  {
                    CallerCreds creds(uid, gid);
                    r = make(p.fd.get(), n.c_str());
                  }
                  if (r != 0) return (void)fuse_reply_err(req, errno);
                  fuse_entry_param e;
                  int err = s.do_lookup(p, n.c_str(), &e);
                  s.reply_entry(req, err, e, d);
                });
}

void op_mknod(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, dev_t rdev) {
  make_node(req, parent, name, FsMethod::kMknod,
            [mode, rdev](int dfd, const char* n) { return ::mknodat(dfd, n, mode, rdev); });
}

void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode) {
  make_node(req, parent, name, FsMethod::kMkdir,
            [mode](int dfd, const char* n) { return ::mkdirat(dfd, n, mode); });
}

void op_symlink(fuse_req_t req, const char* link, fuse_ino_t parent, const char* name) {
  std::string target = link;
  make_node(req, parent, name, FsMethod::kSymlink,
            [target](int dfd, const char* n) { return ::symlinkat(target.c_str(), dfd, n); });
}

void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char* newname) {
  auto& s = S(req);
  Inode& i = s.inode(ino);
  Inode& p = s.inode(newparent);
  std::string n = newname;
  s.with_faults(req, FsMethod::kLink, [&] { return s.child_path(p, newname); },
                [&s, req, &i, &p, n](const FsDecision& d) {
                  if (::linkat(i.fd.get(), "", p.fd.get(), n.c_str(), AT_EMPTY_PATH) != 0)
                    return (void)fuse_reply_err(req, errno);
                  fuse_entry_param e;
                  int err = s.do_lookup(p, n.c_str(), &e);
                  s.reply_entry(req, err, e, d);
                });
}

void op_unlink(fuse_req_t req, fuse_ino_t parent, const char* name) {
  auto& s = S(req);
  Inode& p = s.inode(parent);
  std::string n = name;
  s.with_faults(req, FsMethod::kUnlink, [&] { return s.child_path(p, name); },
                [req, &p, n](const FsDecision&) {
                  fuse_reply_err(req, ::unlinkat(p.fd.get(), n.c_str(), 0) == 0 ? 0 : errno);
                });
}

void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char* name) {
  auto& s = S(req);
  Inode& p = s.inode(parent);
  std::string n = name;
  s.with_faults(req, FsMethod::kRmdir, [&] { return s.child_path(p, name); },
                [req, &p, n](const FsDecision&) {
                  fuse_reply_err(req, ::unlinkat(p.fd.get(), n.c_str(), AT_REMOVEDIR) == 0 ? 0 : errno);
                });
}

void op_rename(fuse_req_t req, fuse_ino_t parent, const char* name, fuse_ino_t newparent,
               const char* newname, unsigned int flags) {
  auto& s = S(req);
  Inode& p = s.inode(parent);
  Inode& np = s.inode(newparent);
  std::string n = name, nn = newname;
  s.with_faults(req, FsMethod::kRename, [&] { return s.child_path(p, name); },
                [req, &p, &np, n, nn, flags](const FsDecision&) {
                  int r = ::renameat2(p.fd.get(), n.c_str(), np.fd.get(), nn.c_str(), flags);
                  fuse_reply_err(req, r == 0 ? 0 : errno);
                });
}

// Fills fi for a new open of i on backing descriptor fd. Returns the backing id the reply
// must carry (kernel passthrough, see ChaosFsSession::begin_open), or 0. Every open this
// returns for must end in end_open(): at release, or when the reply does not arrive.
int32_t open_common(ChaosFsSession& s, Inode& i, int fd, fuse_file_info* fi, int flags,
                    const struct stat* known = nullptr) {
  fi->fh = static_cast<uint64_t>(static_cast<uint32_t>(fd)) | ((flags & O_APPEND) ? kAppendBit : 0);
  // Pages cached by an earlier open are dropped unless keep_cache() says they are still the
  // backing file's and no rule wants to see this file's reads. O_DIRECT opens bypass the
  // page cache anyway (and must not validate it: their writes do not update it).
  fi->keep_cache = !(flags & O_DIRECT) && s.keep_cache(i, fd, known);
  fi->direct_io = 0;
  // FLUSH (each close(2)) does nothing on a local backing file system (flush_closes_dup):
  // then, unless a rule acts on this file's flush, the kernel is told not to send it. A
  // request less per close; a flush rule added later reaches files opened after it.
  fi->noflush = !s.flush_closes_dup && !s.engine.may_act(kFlushMethod, [&] { return s.inner_path(i); });
  int32_t backing = s.begin_open(i, fd, flags);
  if (backing) {
    fi->fh |= kPassthroughBit;
    // The kernel refuses (EIO) a passthrough open with any flag but DIRECT_IO,
    // PARALLEL_DIRECT_WRITES and NOFLUSH: there is no FUSE page cache to keep.
    fi->keep_cache = 0;
  }
  return backing;
}

// O_DIRECT is honoured by the FUSE kernel module (it bypasses the page cache for such an
// open); the backing file is opened without it because the data arrives in pipe or heap
// buffers that need not be aligned as the backing file system's direct I/O requires.
int backing_open_flags(int flags) { return flags & ~(O_DIRECT | O_NOFOLLOW); }

void op_open(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  auto& s = S(req);
  Inode& i = s.inode(ino);
  fuse_file_info f = *fi;
  s.with_faults(req, FsMethod::kOpen, [&] { return s.inner_path(i); },
                [&s, req, &i, f](const FsDecision&) mutable {
                  int fd = s.reopen(i, backing_open_flags(f.flags));
                  if (fd < 0) return (void)fuse_reply_err(req, errno);
                  FusePassthrough::ReplyWithBacking mark(open_common(s, i, fd, &f, f.flags));
                  if (fuse_reply_open(req, &f) == -ENOENT) {  // interrupted: the kernel has no file
                    ::close(fd);
                    s.end_open(i, f.fh & kPassthroughBit);
                  }
                });
}

void op_create(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, fuse_file_info* fi) {
  auto& s = S(req);
  Inode& p = s.inode(parent);
  const fuse_ctx* ctx = fuse_req_ctx(req);
  uid_t uid = ctx->uid;
  gid_t gid = ctx->gid;
  std::string n = name;
  fuse_file_info f = *fi;
  s.with_faults(req, FsMethod::kCreate, [&] { return s.child_path(p, name); },
                [&s, req, &p, n, mode, uid, gid, f](const FsDecision& d) mutable {
                  int fd;
                  {
                    CallerCreds creds(uid, gid);
                    fd = ::openat(p.fd.get(), n.c_str(), backing_open_flags(f.flags) | O_CREAT | O_CLOEXEC, mode);
                  }
                  if (fd < 0) return (void)fuse_reply_err(req, errno);
                  fuse_entry_param e;
                  int err = s.do_lookup(p, n.c_str(), &e);
                  if (err) {
                    ::close(fd);
                    return (void)fuse_reply_err(req, err);
                  }
                  Inode& created = s.inode(e.ino);
                  FusePassthrough::ReplyWithBacking mark(
                      open_common(s, created, fd, &f, f.flags, &e.attr));  // the real attributes
                  if (d.attr) apply_attr_override(e.attr, *d.attr);
                  if (fuse_reply_create(req, &e, &f) == -ENOENT) {
                    ::close(fd);
                    s.end_open(created, f.fh & kPassthroughBit);
                    s.forget_one(e.ino, 1);
                  }
                });
}

constexpr size_t kSmallRead = 32 * 1024;

// Answers a READ; true if the data sent was corrupted by a mistake.
bool reply_read(ChaosFsSession& s, fuse_req_t req, int fd, size_t size, off_t off, const FsDecision& d) {
  if (d.mistakes.empty() && size <= kSmallRead) {
    // Small reads: one pread and one writev cost less than splicing through a pipe (three
    // calls).
    thread_local std::vector<char> small(kSmallRead);
    ssize_t n = ::pread(fd, small.data(), size, off);
    if (n < 0) fuse_reply_err(req, errno);
    else fuse_reply_buf(req, small.data(), static_cast<size_t>(n));
    return false;
  }
  if (d.mistakes.empty()) {
    // Zero-copy: libfuse splices from the backing file into /dev/fuse.
    fuse_bufvec buf = FUSE_BUFVEC_INIT(size);
    buf.buf[0].flags = static_cast<fuse_buf_flags>(FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK);
    buf.buf[0].fd = fd;
    buf.buf[0].pos = off;
    fuse_reply_data(req, &buf, FUSE_BUF_SPLICE_MOVE);
    return false;
  }
  std::vector<char> data(size);
  ssize_t n = ::pread(fd, data.data(), size, off);
  if (n < 0) {
    fuse_reply_err(req, errno);
    return false;
  }
  bool changed = s.engine.corrupt(d, data.data(), static_cast<size_t>(n));
  fuse_reply_buf(req, data.data(), static_cast<size_t>(n));
  return changed;
}

void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi) {
  auto& s = S(req);
  Inode& i = s.inode(ino);
  int fd = fh_fd(fi);
  s.with_faults(req, FsMethod::kRead, [&] { return s.inner_path(i); },
                [&s, req, ino, fd, size, off](const FsDecision& d) {
                  bool corrupted = reply_read(s, req, fd, size, off, d);
                  // The kernel keeps what it was sent in its page cache and would serve the
                  // same corruption to every later read of these bytes in this open: once
                  // the reply is in, drop those pages, so the next read is a READ the rules
                  // decide again. Only then: clean pages stay, as a disk's good blocks stay
                  // in a page cache (and dropping pages an application has mapped shared and
                  // dirtied writes them back first, through the rules, which may fail it).
                  if (corrupted) s.notifier->invalidate_pages_later(ino, off, static_cast<int64_t>(size));
                });
}

// Writes a memory buffer fully at off (or appended, for O_APPEND files).
ssize_t pwrite_all(int fd, const char* data, size_t size, off_t off) {
  size_t done = 0;
  while (done < size) {
    ssize_t n = ::pwrite(fd, data + done, size - done, off + static_cast<off_t>(done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return done > 0 ? static_cast<ssize_t>(done) : -1;
    }
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  return static_cast<ssize_t>(done);
}

void op_write_buf(fuse_req_t req, fuse_ino_t ino, fuse_bufvec* in_buf, off_t off, fuse_file_info* fi) {
  auto& s = S(req);
  Inode& i = s.inode(ino);
  int fd = fh_fd(fi);
  bool append = fh_append(fi);
  size_t size = fuse_buf_size(in_buf);
  FsDecision d;
  if (s.engine.wants(FsMethod::kWrite)) d = s.engine.decide(FsMethod::kWrite, [&] { return s.inner_path(i); });
  if (!d.any()) {
    fuse_bufvec out = FUSE_BUFVEC_INIT(size);
    out.buf[0].flags = static_cast<fuse_buf_flags>(FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK);
    out.buf[0].fd = fd;
    out.buf[0].pos = off;
    ssize_t n = fuse_buf_copy(&out, in_buf, append ? FUSE_BUF_NO_SPLICE : static_cast<fuse_buf_copy_flags>(0));
    if (n < 0) fuse_reply_err(req, static_cast<int>(-n));
    else fuse_reply_write(req, static_cast<size_t>(n));
    return;
  }
  if (d.err && d.delay.count() == 0) return (void)fuse_reply_err(req, d.err);
  // The request's buffer belongs to this worker thread: copy the data out before a delay.
  auto data = std::make_shared<std::vector<char>>(size);
  fuse_bufvec mem = FUSE_BUFVEC_INIT(size);
  mem.buf[0].mem = data->data();
  ssize_t got = fuse_buf_copy(&mem, in_buf, static_cast<fuse_buf_copy_flags>(0));
  if (got < 0) return (void)fuse_reply_err(req, static_cast<int>(-got));
  data->resize(static_cast<size_t>(got));
  auto finish = [&s, req, fd, off, data](const FsDecision& dd) {
    if (dd.err) return (void)fuse_reply_err(req, dd.err);
    s.engine.corrupt(dd, data->data(), data->size());
    ssize_t n = pwrite_all(fd, data->data(), data->size(), off);
    if (n < 0) fuse_reply_err(req, errno);
    else fuse_reply_write(req, static_cast<size_t>(n));
  };
  if (d.delay.count() == 0) return finish(d);
  s.delayed->schedule(DelayedReplyQueue::Clock::now() + d.delay, [finish, d]() { finish(d); });
}

void op_flush(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  auto& s = S(req);
  Inode& i = s.inode(ino);
  int fd = fh_fd(fi);
  s.with_faults(req, FsMethod::kFlush, [&] { return s.inner_path(i); }, [&s, req, fd](const FsDecision&) {
    if (!s.flush_closes_dup) return (void)fuse_reply_err(req, 0);
    // close() of a duplicate reports the backing file system's deferred errors (NFS, ...)
    // without closing our descriptor.
    int dup = ::dup(fd);
    int r = dup < 0 ? -1 : ::close(dup);
    fuse_reply_err(req, r == 0 ? 0 : errno);
  });
}

void op_release(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  auto& s = S(req);
  Inode& i = s.inode(ino);
  int fd = fh_fd(fi);
  bool passthrough = fi->fh & kPassthroughBit;
  s.release_with_faults(req, FsMethod::kRelease, [&] { return s.inner_path(i); }, [&s, &i, fd, passthrough] {
    ::close(fd);
    s.end_open(i, passthrough);
  });
}

void op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, fuse_file_info* fi) {
  auto& s = S(req);
  Inode& i = s.inode(ino);
  int fd = fh_fd(fi);
  s.with_faults(req, FsMethod::kFsync, [&] { return s.inner_path(i); },
                [req, fd, datasync](const FsDecision&) {
                  int r = datasync ? ::fdatasync(fd) : ::fsync(fd);
                  fuse_reply_err(req, r == 0 ? 0 : errno);
                });
}

void op_opendir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  auto& s = S(req);
  Inode& i = s.inode(ino);
  fuse_file_info f = *fi;
  s.with_faults(req, FsMethod::kOpendir, [&] { return s.inner_path(i); },
                [req, &i, f](const FsDecision&) mutable {
                  int fd = ::openat(i.fd.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                  if (fd < 0) return (void)fuse_reply_err(req, errno);
                  auto* h = new DirHandle;
                  h->dp = ::fdopendir(fd);
                  if (!h->dp) {
                    int e = errno;
                    ::close(fd);
                    delete h;
                    return (void)fuse_reply_err(req, e);
                  }
                  f.fh = reinterpret_cast<uintptr_t>(h);
                  if (fuse_reply_open(req, &f) == -ENOENT) delete h;
                });
}

void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t offset, fuse_file_info* fi) {
  auto& s = S(req);
  Inode& i = s.inode(ino);
  auto* h = reinterpret_cast<DirHandle*>(static_cast<uintptr_t>(fi->fh));
  s.with_faults(req, FsMethod::kReaddir, [&] { return s.inner_path(i); },
                [req, h, size, offset](const FsDecision&) {
                  std::lock_guard lk(h->mu);
                  std::vector<char> buf(size);
                  char* p = buf.data();
                  size_t rem = size;
                  if (offset != h->offset) {
                    ::seekdir(h->dp, offset);
                    h->entry = nullptr;
                    h->offset = offset;
                  }
                  int err = 0;
                  for (;;) {
                    if (!h->entry) {
                      errno = 0;
                      h->entry = ::readdir(h->dp);
                      if (!h->entry) {
                        err = errno;
                        break;
                      }
                    }
                    struct stat st{};
                    st.st_ino = h->entry->d_ino;
                    st.st_mode = static_cast<mode_t>(h->entry->d_type) << 12;
                    off_t next = h->entry->d_off;
                    size_t n = fuse_add_direntry(req, p, rem, h->entry->d_name, &st, next);
                    if (n > rem) break;
                    p += n;
                    rem -= n;
                    h->entry = nullptr;
                    h->offset = next;
                  }
                  if (err && rem == size) return (void)fuse_reply_err(req, err);
                  fuse_reply_buf(req, buf.data(), size - rem);
                });
}

void op_releasedir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  auto& s = S(req);
  Inode& i = s.inode(ino);
  auto* h = reinterpret_cast<DirHandle*>(static_cast<uintptr_t>(fi->fh));
  s.release_with_faults(req, FsMethod::kReleasedir, [&] { return s.inner_path(i); }, [h] { delete h; });
}

void op_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, fuse_file_info* fi) {
  auto& s = S(req);
  Inode& i = s.inode(ino);
  auto* h = reinterpret_cast<DirHandle*>(static_cast<uintptr_t>(fi->fh));
  s.with_faults(req, FsMethod::kFsyncdir, [&] { return s.inner_path(i); },
                [req, h, datasync](const FsDecision&) {
                  int fd = ::dirfd(h->dp);
                  int r = datasync ? ::fdatasync(fd) : ::fsync(fd);
                  fuse_reply_err(req, r == 0 ? 0 : errno);
                });
}

void op_statfs(fuse_req_t req, fuse_ino_t ino) {
  auto& s = S(req);
  Inode& i = s.inode(ino);
  s.with_faults(req, FsMethod::kStatfs, [&] { return s.inner_path(i); },
                [req, &i](const FsDecision&) {
                  struct statvfs sv;
                  if (::fstatvfs(i.fd.get(), &sv) != 0) return (void)fuse_reply_err(req, errno);
                  fuse_reply_statfs(req, &sv);
                });
}

// Extended attributes need a real fd (or path): regular files and directories are
// reopened read-only; other kinds (symlinks, devices, fifos) go through the /proc path,
// which names the inode itself without following it further.
template <typename WithFd, typename WithPath>
int xattr_call(ChaosFsSession& s, Inode& i, WithFd with_fd, WithPath with_path) {
  // The kernel asks for security.capability before every write(2) (to clear it): when
  // "/proc/self" is this process's, the /proc path serves every kind with one system call
  // instead of open + call + close.
  if (!s.proc_path_is_ours && (i.type == S_IFREG || i.type == S_IFDIR)) {
    UniqueFd fd(s.reopen(i, O_RDONLY | O_NONBLOCK | O_NOCTTY));
    if (!fd) return -errno;
    ssize_t r = with_fd(fd.get());
    return r < 0 ? -errno : static_cast<int>(r);
  }
  std::string path = "/proc/self/fd/" + fd_name(i.fd.get());
  ssize_t r = with_path(path.c_str());
  return r < 0 ? -errno : static_cast<int>(r);
}

void op_setxattr(fuse_req_t req, fuse_ino_t ino, const char* name, const char* value, size_t size, int flags) {
  auto& s = S(req);
  Inode& i = s.inode(ino);
  std::string n = name, v(value, size);
  s.with_faults(req, FsMethod::kSetxattr, [&] { return s.inner_path(i); },
                [&s, req, &i, n, v, flags](const FsDecision&) {
                  int r = xattr_call(
                      s, i, [&](int fd) { return ::fsetxattr(fd, n.c_str(), v.data(), v.size(), flags); },
                      [&](const char* p) { return ::setxattr(p, n.c_str(), v.data(), v.size(), flags); });
                  fuse_reply_err(req, r < 0 ? -r : 0);
                });
}

void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char* name, size_t size) {
  auto& s = S(req);
  Inode& i = s.inode(ino);
  std::string n = name;
  s.with_faults(req, FsMethod::kGetxattr, [&] { return s.inner_path(i); },
                [&s, req, &i, n, size](const FsDecision&) {
                  std::vector<char> buf(size);
                  int r = xattr_call(
                      s, i, [&](int fd) { return ::fgetxattr(fd, n.c_str(), buf.data(), size); },
                      [&](const char* p) { return ::getxattr(p, n.c_str(), buf.data(), size); });
                  if (r < 0) return (void)fuse_reply_err(req, -r);
                  if (size == 0) fuse_reply_xattr(req, static_cast<size_t>(r));
                  else fuse_reply_buf(req, buf.data(), static_cast<size_t>(r));
                });
}

void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size) {
  auto& s = S(req);
  Inode& i = s.inode(ino);
  s.with_faults(req, FsMethod::kListxattr, [&] { return s.inner_path(i); },
                [&s, req, &i, size](const FsDecision&) {
                  std::vector<char> buf(size);
                  int r = xattr_call(
                      s, i, [&](int fd) { return ::flistxattr(fd, buf.data(), size); },
                      [&](const char* p) { return ::listxattr(p, buf.data(), size); });
                  if (r < 0) return (void)fuse_reply_err(req, -r);
                  if (size == 0) fuse_reply_xattr(req, static_cast<size_t>(r));
                  else fuse_reply_buf(req, buf.data(), static_cast<size_t>(r));
                });
}

void op_removexattr(fuse_req_t req, fuse_ino_t ino, const char* name) {
  auto& s = S(req);
  Inode& i = s.inode(ino);
  std::string n = name;
  s.with_faults(req, FsMethod::kRemovexattr, [&] { return s.inner_path(i); },
                [&s, req, &i, n](const FsDecision&) {
                  int r = xattr_call(
                      s, i, [&](int fd) { return ::fremovexattr(fd, n.c_str()); },
                      [&](const char* p) { return ::removexattr(p, n.c_str()); });
                  fuse_reply_err(req, r < 0 ? -r : 0);
                });
}

void op_access(fuse_req_t req, fuse_ino_t ino, int mask) {
  auto& s = S(req);
  Inode& i = s.inode(ino);
  const fuse_ctx* ctx = fuse_req_ctx(req);
  uid_t uid = ctx->uid;
  gid_t gid = ctx->gid;
  s.with_faults(req, FsMethod::kAccess, [&] { return s.inner_path(i); },
                [&s, req, &i, mask, uid, gid](const FsDecision&) {
                  CallerCreds creds(uid, gid);
                  int r = ::faccessat(s.proc_fd.get(), fd_name(i.fd.get()).c_str(), mask, 0);
                  fuse_reply_err(req, r == 0 ? 0 : errno);
                });
}

void op_flock(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi, int op) {
  auto& s = S(req);
  Inode& i = s.inode(ino);
  int fd = fh_fd(fi);
  BlockingCallThreads* blocking = s.blocking.get();
  s.with_faults(req, FsMethod::kFlock, [&] { return s.inner_path(i); }, [req, fd, op, blocking](const FsDecision&) {
    bool may_wait = (op & (LOCK_SH | LOCK_EX)) && !(op & LOCK_NB);
    int r;
    do {
      r = ::flock(fd, may_wait ? op | LOCK_NB : op);
    } while (r != 0 && errno == EINTR);
    if (r == 0 || !may_wait || errno != EWOULDBLOCK) return (void)fuse_reply_err(req, r == 0 ? 0 : errno);
    // Held by someone else: the caller waits, as on a kernel file system, but not on a FUSE
    // worker (as many waiters as workers would leave none to serve the LOCK_UN that ends
    // the wait: BlockingCallThreads).
    blocking->run([req, fd, op, blocking] {
      int rr;
      do {
        rr = ::flock(fd, op);
      } while (rr != 0 && errno == EINTR && !blocking->stopping());
      fuse_reply_err(req, rr == 0 ? 0 : errno);
    });
  });
}

void op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off, off_t len, fuse_file_info* fi) {
  auto& s = S(req);
  Inode& i = s.inode(ino);
  int fd = fh_fd(fi);
  s.with_faults(req, FsMethod::kFallocate, [&] { return s.inner_path(i); },
                [req, fd, mode, off, len](const FsDecision&) {
                  fuse_reply_err(req, ::fallocate(fd, mode, off, len) == 0 ? 0 : errno);
                });
}

void op_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence, fuse_file_info* fi) {
  auto& s = S(req);
  Inode& i = s.inode(ino);
  int fd = fh_fd(fi);
  s.with_faults(req, FsMethod::kLseek, [&] { return s.inner_path(i); },
                [req, fd, off, whence](const FsDecision&) {
                  off_t r = ::lseek(fd, off, whence);
                  if (r < 0) return (void)fuse_reply_err(req, errno);
                  fuse_reply_lseek(req, r);
                });
}

void op_copy_file_range(fuse_req_t req, fuse_ino_t ino_in, off_t off_in, fuse_file_info* fi_in,
                        fuse_ino_t ino_out, off_t off_out, fuse_file_info* fi_out, size_t len, int flags) {
  auto& s = S(req);
  Inode& out = s.inode(ino_out);
  (void)ino_in;
  int fd_in = fh_fd(fi_in), fd_out = fh_fd(fi_out);
  s.with_faults(req, FsMethod::kCopyFileRange, [&] { return s.inner_path(out); },
                [req, fd_in, fd_out, off_in, off_out, len, flags](const FsDecision&) {
                  loff_t a = off_in, b = off_out;
                  ssize_t r = ::copy_file_range(fd_in, &a, fd_out, &b, len, static_cast<unsigned>(flags));
                  if (r < 0) return (void)fuse_reply_err(req, errno);
                  fuse_reply_write(req, static_cast<size_t>(r));
                });
}

const fuse_lowlevel_ops kOps = [] {
  fuse_lowlevel_ops o{};
  o.init = op_init;
  o.lookup = op_lookup;
  o.forget = op_forget;
  o.forget_multi = op_forget_multi;
  o.getattr = op_getattr;
  o.setattr = op_setattr;
  o.readlink = op_readlink;
  o.mknod = op_mknod;
  o.mkdir = op_mkdir;
  o.unlink = op_unlink;
  o.rmdir = op_rmdir;
  o.symlink = op_symlink;
  o.rename = op_rename;
  o.link = op_link;
  o.open = op_open;
  o.read = op_read;
  o.write_buf = op_write_buf;
  o.flush = op_flush;
  o.release = op_release;
  o.fsync = op_fsync;
  o.opendir = op_opendir;
  o.readdir = op_readdir;
  o.releasedir = op_releasedir;
  o.fsyncdir = op_fsyncdir;
  o.statfs = op_statfs;
  o.setxattr = op_setxattr;
  o.getxattr = op_getxattr;
  o.listxattr = op_listxattr;
  o.removexattr = op_removexattr;
  o.access = op_access;
  o.create = op_create;
  o.flock = op_flock;
  o.fallocate = op_fallocate;
  o.lseek = op_lseek;
  o.copy_file_range = op_copy_file_range;
  return o;
}();

// /dev/fuse traffic through FusePassthrough (installed only when passthrough is asked for):
// it notes INIT and amends the replies libfuse 3.14 cannot fill. userdata is the session.
ssize_t io_read(int fd, void* buf, size_t len, void* userdata) {
  ssize_t n = ::read(fd, buf, len);
  if (n > 0) static_cast<ChaosFsSession*>(userdata)->passthrough->saw_request(buf, static_cast<size_t>(n));
  return n;
}
ssize_t io_writev(int fd, struct iovec* iov, int count, void* userdata) {
  return static_cast<ChaosFsSession*>(userdata)->passthrough->writev(fd, iov, count);
}
ssize_t io_splice(int fdin, off_t* offin, int fdout, off_t* offout, size_t len, unsigned int flags, void*) {
  return ::splice(fdin, offin, fdout, offout, len, flags);
}
const fuse_custom_io kPassthroughIo = {io_writev, io_read, io_splice, io_splice};

// A mount option value must not contain the separators of "-o a=b,c=d".
std::string option_safe(std::string s) {
  for (auto& c : s)
    if (c == ',' || c == '=' || c == ' ' || c == '\\') c = '_';
  return s;
}

}  // namespace

ChaosFsSession::~ChaosFsSession() {
  // Stop taking control requests, answer everything still delayed (the connection is still
  // up), then unmount.
  if (stop_fd) {
    uint64_t one = 1;
    ssize_t n = ::write(stop_fd.get(), &one, sizeof one);
    (void)n;
  }
  control.reset();
  blocking.reset();  // waiting flocks answered EINTR while the connection is still up
  delayed.reset();
  notifier.reset();
  if (se) {
    // Unmounted only while ChaosFS is still the topmost mount there: container mode moves the
    // mount away and removes its staging directory itself (libfuse then printed a failed
    // unmount), and a lazy unmount of the path would take down whatever is mounted on top.
    // Unknown (mountinfo unreadable): unmounted, as before. Reading mountinfo sends no
    // request to this file system, whose workers have stopped.
    auto top = find_mount(mountpoint);
    bool ours_on_top = !top || (top->has_value() && (*top)->fs_type == kChaosFsType);
    if (mounted && ours_on_top) fuse_session_unmount(se);
    fuse_session_destroy(se);
    se = nullptr;
  }
  if (guardian) guardian->release_clean();
  if (!control_path.empty()) ::unlink(control_path.c_str());
  std::lock_guard lk(inodes_mu);
  for (auto& [k, i] : inodes) delete i;
  inodes.clear();
}

ChaosFs::ChaosFs() = default;
ChaosFs::~ChaosFs() = default;

Result<std::unique_ptr<ChaosFs>> ChaosFs::mount(const ChaosFsOptions& options) {
  // A control fd is ours from the call on, so it is closed on every error path too.
  UniqueFd control(options.control_fd >= 0 ? options.control_fd : -1);
  if (options.mountpoint.empty()) return Error("no mountpoint given");
  if (options.backing_fd < 0 && options.backing_path.empty()) return Error("no backing directory given");
  for (size_t k = 0; k < options.rules.size(); ++k) {
    auto v = validate_fs_rule(options.rules[k]);
    if (!v) return v.error().context(fmt::format("rule {}", k + 1));
  }
  uint64_t seed = options.seed;
  if (seed == 0) seed = std::random_device{}() | (uint64_t{std::random_device{}()} << 32) | 1;
  auto s = std::make_unique<ChaosFsSession>(seed);
  s->opts = options;
  s->threads = options.threads ? options.threads : std::max(4u, std::thread::hardware_concurrency());

  // The backing directory.
  int bfd = options.backing_fd >= 0 ? ::fcntl(options.backing_fd, F_DUPFD_CLOEXEC, 0)
                                    : ::open(options.backing_path.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (bfd < 0)
    return Error::sys(options.backing_fd >= 0 ? std::string("dup backing fd")
                                              : fmt::format("open backing directory {}", options.backing_path));
  s->root.fd.reset(bfd);
  struct stat rst;
  if (::fstat(bfd, &rst) != 0) return Error::sys("fstat backing directory");
  if (!S_ISDIR(rst.st_mode)) return Error(fmt::format("backing {} is not a directory", options.backing_path));
  s->root.dev = rst.st_dev;
  s->root.ino = rst.st_ino;
  s->root.type = S_IFDIR;
  s->root.nlookup = 1;

  // /proc/self/fd of this process, checked to really be ours.
  int pfd = options.proc_self_fd >= 0 ? ::fcntl(options.proc_self_fd, F_DUPFD_CLOEXEC, 0)
                                      : ::open("/proc/self/fd", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (pfd < 0) return Error::sys("open /proc/self/fd");
  s->proc_fd.reset(pfd);
  struct stat check;
  if (::fstatat(pfd, fd_name(bfd).c_str(), &check, 0) != 0 || check.st_ino != rst.st_ino || check.st_dev != rst.st_dev)
    return Error("/proc/self/fd does not show this process's descriptors (a /proc of another PID "
                 "namespace?): pass ChaosFsOptions::proc_self_fd opened before setns");
  char lbuf[PATH_MAX];
  ssize_t ln = ::readlinkat(pfd, fd_name(bfd).c_str(), lbuf, sizeof lbuf - 1);
  if (ln < 0) return Error::sys("readlink backing directory");
  s->backing_prefix.assign(lbuf, static_cast<size_t>(ln));
  {
    // After setns into a container, "/proc" may be another PID namespace's (see proc_self_fd).
    struct stat ours, by_path;
    s->proc_path_is_ours = ::fstat(pfd, &ours) == 0 && ::stat("/proc/self/fd", &by_path) == 0 &&
                           ours.st_dev == by_path.st_dev && ours.st_ino == by_path.st_ino;
  }
  if (s->backing_prefix == "/") s->backing_prefix.clear();

  // The mountpoint: replace a dead ChaosFS mount there; refuse anything else mounted live.
  auto mp = resolve_mountpoint(options.mountpoint);
  if (!mp) return mp.error();
  s->mountpoint = *mp;
  if (options.recover_dead_mount) {
    auto rec = recover_dead_mount(s->mountpoint);
    if (!rec && rec.error().message().find("another file system") == std::string::npos)
      return rec.error();
  }
  struct stat mst;
  if (::stat(s->mountpoint.c_str(), &mst) != 0) return Error::sys(fmt::format("stat mountpoint {}", s->mountpoint));
  if (!S_ISDIR(mst.st_mode)) return Error(fmt::format("mountpoint {} is not a directory", s->mountpoint));
  // Absolute globs name the path the application sees (the volume in a container).
  s->engine.set_mountpoint(options.app_mountpoint.empty() ? s->mountpoint : options.app_mountpoint);
  s->flush_closes_dup = close_can_fail(bfd);

  // The guardian before any thread of ours exists and before /dev/fuse is open.
  if (options.unmount_guardian) {
    auto g = start_unmount_guardian(s->mountpoint);
    if (!g) return g.error();
    s->guardian = std::move(*g);
  }

  int efd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (efd < 0) return Error::sys("eventfd");
  s->stop_fd.reset(efd);

  // Control socket.
  if (!control && !options.control_path.empty()) {
    auto l = listen_control_socket(options.control_path);
    if (!l) return l.error();
    control = std::move(*l);
    s->control_path = options.control_path;
  }

  // The FUSE session.
  std::string fsname = option_safe(options.fsname.empty() ? "chaosfs" : options.fsname);
  std::string mount_opts = "fsname=" + fsname + ",subtype=syschaos,allow_other,default_permissions";
  std::vector<std::string> argv_s = {"syschaos", "-o", mount_opts};
  std::vector<char*> argv;
  for (auto& a : argv_s) argv.push_back(a.data());
  fuse_args args = FUSE_ARGS_INIT(static_cast<int>(argv.size()), argv.data());
  s->se = fuse_session_new(&args, &kOps, sizeof kOps, s.get());
  fuse_opt_free_args(&args);
  if (!s->se) return Error("fuse_session_new failed (see the message above)");
  if (fuse_session_mount(s->se, s->mountpoint.c_str()) != 0)
    return Error(fmt::format("mounting FUSE at {} failed (is /dev/fuse available? running as root?)", s->mountpoint));
  s->mounted = true;
  if (options.passthrough) {
    // Before the first request is read (INIT): the workers start in run().
    s->passthrough = std::make_unique<FusePassthrough>(true);
    int r = fuse_session_custom_io(s->se, &kPassthroughIo, fuse_session_fd(s->se));
    if (r != 0) return Error::sys("fuse_session_custom_io", -r);
  }

  ChaosFsSession* raw = s.get();
  s->notifier = std::make_unique<KernelCacheNotifier>(s->se);
  s->engine.set_on_change([raw](bool lookup_cache_affected) { return raw->on_rules_changed(lookup_cache_affected); });
  s->engine.set_rules(options.rules);
  s->delayed = std::make_unique<DelayedReplyQueue>(std::max(2u, s->threads / 2));
  s->blocking = std::make_unique<BlockingCallThreads>(wake_signal());
  if (control) s->control = std::make_unique<FsControlServer>(std::move(control), s->stop_fd.get(), s->engine,
                                                 options.app_mountpoint.empty() ? s->mountpoint : options.app_mountpoint);

  std::unique_ptr<ChaosFs> fs(new ChaosFs());
  fs->session_ = std::move(s);
  return fs;
}

namespace {

// Workers block in read(2) on /dev/fuse, as libfuse's own loop does: the kernel wakes exactly
// one reader per request. (Waiting in epoll sets instead woke about two workers per request:
// an EPOLLEXCLUSIVE entry whose owner is busy passes the wake-up on, and the extra worker
// reads nothing. On this kind of VM a context switch costs tens of microseconds.) A blocked
// read is ended at stop by this signal: a handler that does nothing, installed without
// SA_RESTART, so the read returns EINTR and the worker sees the stop flag.
int wake_signal() { return SIGRTMIN + 5; }

void install_wake_handler() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction sa {};
    sa.sa_handler = [](int) {};
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;  // no SA_RESTART: the blocked read must return
    ::sigaction(wake_signal(), &sa, nullptr);
  });
}

}  // namespace

Result<void> ChaosFs::run() {
  auto& s = *session_;
  if (!s.se) return Error("not mounted");
  install_wake_handler();
  std::atomic<bool> stopping{false};
  std::atomic<unsigned> alive{s.threads};
  auto worker = [&s, &stopping, &alive] {
    sigset_t wake;
    sigemptyset(&wake);
    sigaddset(&wake, wake_signal());
    ::pthread_sigmask(SIG_UNBLOCK, &wake, nullptr);
    fuse_buf buf{};
    while (!stopping.load()) {
      int r = fuse_session_receive_buf(s.se, &buf);
      if (r == -EINTR || r == -EAGAIN) continue;
      if (r <= 0) {  // 0: unmounted from outside (ENODEV); <0: device error
        uint64_t one = 1;
        ssize_t w = ::write(s.stop_fd.get(), &one, sizeof one);
        (void)w;
        break;
      }
      fuse_session_process_buf(s.se, &buf);
    }
    std::free(buf.mem);
    alive.fetch_sub(1);
  };
  std::vector<std::thread> threads;
  for (unsigned i = 0; i < s.threads; ++i) threads.emplace_back(worker);

  // Wait for stop() (or a worker that saw the file system unmounted).
  pollfd pfd{s.stop_fd.get(), POLLIN, 0};
  while (::poll(&pfd, 1, -1) < 0 && errno == EINTR) {
  }
  stopping.store(true);
  // A signal sent just before a worker enters read(2) is not seen by that read: send again
  // until every worker is out.
  while (alive.load() > 0) {
    for (auto& t : threads) ::pthread_kill(t.native_handle(), wake_signal());
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  for (auto& t : threads) t.join();
  return ok();
}

void ChaosFs::stop() {
  uint64_t one = 1;
  ssize_t n = ::write(session_->stop_fd.get(), &one, sizeof one);
  (void)n;
}

std::vector<uint64_t> ChaosFs::set_rules(std::vector<FsFaultRule> rules) {
  return session_->engine.set_rules(std::move(rules));
}
std::vector<uint64_t> ChaosFs::add_rules(std::vector<FsFaultRule> rules) {
  return session_->engine.add_rules(std::move(rules));
}
void ChaosFs::drop_pages_rules_read() { session_->drop_pages_rules_read(); }
bool ChaosFs::remove_rule(uint64_t id) { return session_->engine.remove_rule(id); }
std::vector<FsRuleStatus> ChaosFs::rules() const { return session_->engine.status(); }
uint64_t ChaosFs::seed() const { return session_->engine.seed(); }
const std::string& ChaosFs::mountpoint() const { return session_->mountpoint; }
const std::string& ChaosFs::control_path() const { return session_->control_path; }

}  // namespace syschaos::fs
