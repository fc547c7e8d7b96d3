#define FUSE_USE_VERSION 314
#include "fs/kernel_cache_notifier.hpp"

#include <fuse_lowlevel.h>
// The kernel's own protocol header, for the 7.38 entry notification libfuse 3.14 lacks.
#include <linux/fuse.h>
#include <sys/uio.h>

#include <algorithm>
#include <cerrno>

namespace syschaos::fs {

KernelCacheNotifier::KernelCacheNotifier(fuse_session* se) : se_(se), thread_([this] { loop(); }) {}

KernelCacheNotifier::~KernelCacheNotifier() {
  {
    std::lock_guard lk(mu_);
    stopping_ = true;
    queue_.clear();
  }
  cv_.notify_all();
  thread_.join();
}

void KernelCacheNotifier::invalidate_pages_later(uint64_t ino, int64_t off, int64_t len) {
  {
    std::lock_guard lk(mu_);
    if (stopping_) return;
    // Sequential reads of one file queue adjacent ranges: one notification covers them.
    if (!queue_.empty() && queue_.back().ino == ino && len > 0 && queue_.back().len > 0) {
      PageRange& b = queue_.back();
      int64_t end = std::max(b.off + b.len, off + len);
      b.off = std::min(b.off, off);
      b.len = end - b.off;
      return;
    }
    queue_.push_back({ino, off, len});
  }
  cv_.notify_one();
}

void KernelCacheNotifier::loop() {
  std::unique_lock lk(mu_);
  for (;;) {
    cv_.wait(lk, [&] { return stopping_ || !queue_.empty(); });
    if (stopping_) return;
    PageRange r = queue_.front();
    queue_.pop_front();
    lk.unlock();
    // -ENOENT: the kernel forgot the inode meanwhile; nothing is cached then.
    (void)fuse_lowlevel_notify_inval_inode(se_, r.ino, r.off, r.len);
    lk.lock();
  }
}

void KernelCacheNotifier::invalidate_attributes(uint64_t ino) {
  (void)fuse_lowlevel_notify_inval_inode(se_, ino, -1, 0);  // a negative offset: attributes only
}

void KernelCacheNotifier::invalidate_pages(uint64_t ino) { (void)fuse_lowlevel_notify_inval_inode(se_, ino, 0, 0); }

void KernelCacheNotifier::expire_entry(uint64_t parent, const std::string& name) {
  if (!expire_only_.load()) {
    (void)fuse_lowlevel_notify_inval_entry(se_, parent, name.c_str(), name.size());
    return;
  }
  // A notification is an unsolicited reply: unique 0, the code in the error field.
  fuse_out_header out{};
  fuse_notify_inval_entry_out arg{parent, static_cast<uint32_t>(name.size()), FUSE_EXPIRE_ONLY};
  iovec iov[3] = {{&out, sizeof out}, {&arg, sizeof arg}, {const_cast<char*>(name.c_str()), name.size() + 1}};
  out.len = static_cast<uint32_t>(sizeof out + sizeof arg + name.size() + 1);
  out.error = FUSE_NOTIFY_INVAL_ENTRY;
  out.unique = 0;
  ssize_t n = ::writev(fuse_session_fd(se_), iov, 3);
  if (n < 0 && errno == EINVAL) {
    expire_only_.store(false);  // a kernel before 6.2: the flag is unknown there
    (void)fuse_lowlevel_notify_inval_entry(se_, parent, name.c_str(), name.size());
  }
}

}  // namespace syschaos::fs
