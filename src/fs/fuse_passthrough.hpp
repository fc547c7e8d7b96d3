// Kernel FUSE passthrough (Linux 6.9+) under a libfuse that predates it.
//
// With passthrough, the kernel serves read(2), write(2), splice and mmap of an open file
// straight from a "backing file" the server registered, without a request per call and
// without a second page cache: reads and writes run at the backing file system's speed.
// libfuse learned it in 3.16; Debian 12 ships 3.14. The protocol itself is small, so
// ChaosFS speaks the missing part on its own, between libfuse and /dev/fuse (libfuse's
// fuse_custom_io hooks, present in 3.14):
//   * INIT: the kernel offers FUSE_PASSTHROUGH in its flags; the reply libfuse built is
//     amended to accept it (flags2 bit, FUSE_INIT_EXT, max_stack_depth = 1).
//   * A backing file is registered with ioctl(FUSE_DEV_IOC_BACKING_OPEN) and gets an id.
//   * OPEN/CREATE replies carry FOPEN_PASSTHROUGH and that id in fuse_open_out, which
//     libfuse 3.14 cannot fill: the reply it writes is amended on its way out, for the one
//     reply the handler marked (a thread-local mark, see ReplyWithBacking).
// Nothing here is used unless ChaosFsOptions::passthrough asks for it.
#pragma once

#include <sys/types.h>
#include <sys/uio.h>

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "core/result.hpp"

namespace syschaos::fs {

class FusePassthrough {
 public:
  // requested: ChaosFsOptions::passthrough. Only then is INIT amended.
  explicit FusePassthrough(bool requested) : requested_(requested) {}

  // Every request read from /dev/fuse passes here (the custom io read hook): INIT is noted.
  void saw_request(const void* buf, size_t len);
  // Every reply goes out here (the custom io writev hook): amends the INIT reply and the
  // marked OPEN/CREATE reply, writes everything else unchanged.
  ssize_t writev(int fuse_fd, const struct iovec* iov, int count);

  // Whether the kernel agreed (INIT answered with passthrough) and registering works.
  bool active() const { return active_.load(std::memory_order_relaxed); }
  // After a registration failed with EPERM/EOPNOTSUPP (the kernel did not take it after
  // all): stop trying, files go through ChaosFS.
  void disable() { active_.store(false, std::memory_order_relaxed); }

  // Registers an open file of the backing file system; the id goes into open replies. The
  // kernel keeps its own reference to the file: the caller may close file_fd afterwards.
  static Result<int32_t> open_backing(int fuse_fd, int file_fd);
  static void close_backing(int fuse_fd, int32_t backing_id);

  // Marks the next reply this thread sends (an OPEN or CREATE reply) as passthrough with
  // backing_id, for the lifetime of the object. Replies are written by the thread that
  // calls fuse_reply_open/fuse_reply_create, synchronously, so the mark meets its reply.
  class ReplyWithBacking {
   public:
    explicit ReplyWithBacking(int32_t backing_id);
    ~ReplyWithBacking();
    ReplyWithBacking(const ReplyWithBacking&) = delete;
    ReplyWithBacking& operator=(const ReplyWithBacking&) = delete;
  };

 private:
  bool requested_;
  std::atomic<uint64_t> init_unique_{0};
  std::atomic<bool> kernel_offers_{false};
  std::atomic<bool> active_{false};
};

}  // namespace syschaos::fs
