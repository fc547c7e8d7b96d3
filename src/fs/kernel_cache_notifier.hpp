// KernelCacheNotifier: tells the FUSE kernel module to forget what it cached, from a thread
// of its own.
//
// Why a thread: invalidating a file's pages waits for every page lock in the range, and a
// page stays locked while its READ is unanswered — possibly for seconds, when a latency
// rule delays that READ. A FUSE worker or an executor of the DelayedReplyQueue that waited
// there could be the very thread that would answer it (a deadlock); this thread answers
// nothing, so it only waits.
//
// Why not libfuse for entries: fuse_lowlevel_notify_inval_entry (libfuse 3.14) always
// unhashes the dentry, and a file that is open through it then reads "/path (deleted)" in
// /proc/PID/fd and /proc/PID/maps although nothing was deleted. Since Linux 6.2 the same
// notification with FUSE_EXPIRE_ONLY only marks the entry stale (the next use looks it up
// again, and keeps it if it is the same inode); libfuse learnt it in 3.16, so this file
// writes that message itself. Older kernels refuse the flag (EINVAL): the notifier then
// falls back to the unhashing kind, once and for all.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <thread>

struct fuse_session;

namespace syschaos::fs {

class KernelCacheNotifier {
 public:
  explicit KernelCacheNotifier(fuse_session* se);
  ~KernelCacheNotifier();  // drops what is still queued, joins
  KernelCacheNotifier(const KernelCacheNotifier&) = delete;
  KernelCacheNotifier& operator=(const KernelCacheNotifier&) = delete;

  // Queued: the pages of [off, off + len) of inode `ino` (len 0: to the end of the file).
  void invalidate_pages_later(uint64_t ino, int64_t off, int64_t len);

  // Synchronous (the caller wants the change visible when it returns). Never call from a
  // FUSE request handler.
  // The attributes of `ino` (its pages stay).
  void invalidate_attributes(uint64_t ino);
  // The attributes and every cached page of `ino`.
  void invalidate_pages(uint64_t ino);
  // The entry `name` in directory `parent`: expired (looked up again on next use).
  void expire_entry(uint64_t parent, const std::string& name);

  // Whether expire_entry keeps dentries hashed (false after a fallback on an old kernel).
  bool expire_only_supported() const { return expire_only_.load(); }

 private:
  struct PageRange {
    uint64_t ino;
    int64_t off, len;
  };
  void loop();

  fuse_session* se_;
  std::atomic<bool> expire_only_{true};
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<PageRange> queue_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace syschaos::fs
