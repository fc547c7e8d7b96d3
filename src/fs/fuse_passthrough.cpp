#include "fs/fuse_passthrough.hpp"

#include <sys/ioctl.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>

namespace syschaos::fs {

namespace {

// The parts of the FUSE wire protocol (include/uapi/linux/fuse.h, 7.40+) this needs; the
// system's <linux/fuse.h> may be older than the running kernel.
struct WireInHeader {
  uint32_t len;
  uint32_t opcode;
  uint64_t unique;
  uint64_t nodeid;
  uint32_t uid, gid, pid;
  uint16_t total_extlen, padding;
};
static_assert(sizeof(WireInHeader) == 40);
struct WireOutHeader {
  uint32_t len;
  int32_t error;
  uint64_t unique;
};
static_assert(sizeof(WireOutHeader) == 16);
struct WireInitIn {  // the fields read here
  uint32_t major, minor, max_readahead, flags, flags2;
};
struct WireOpenOut {
  uint64_t fh;
  uint32_t open_flags;
  int32_t backing_id;  // "padding" before 7.40
};
static_assert(sizeof(WireOpenOut) == 16);
struct WireBackingMap {
  int32_t fd;
  uint32_t flags;
  uint64_t padding;
};

constexpr uint32_t kOpInit = 26;
constexpr uint32_t kInitExt = 1u << 30;          // FUSE_INIT_EXT: flags2 is valid
constexpr uint32_t kPassthroughFlags2 = 1u << 5;  // FUSE_PASSTHROUGH (bit 37) in flags2
constexpr uint32_t kFopenPassthrough = 1u << 7;   // FOPEN_PASSTHROUGH
// fuse_init_out: flags at 12, flags2 at 32, max_stack_depth at 36.
constexpr size_t kInitOutFlags = 12, kInitOutFlags2 = 32, kInitOutMaxStackDepth = 36, kInitOutMin = 40;
// Open replies: fuse_open_out alone (OPEN) or after fuse_entry_out (CREATE, 128 bytes).
constexpr size_t kOpenOutSize = sizeof(WireOpenOut), kCreateOutSize = 128 + sizeof(WireOpenOut);
constexpr unsigned long kIocBackingOpen = _IOW(229, 1, WireBackingMap);
constexpr unsigned long kIocBackingClose = _IOW(229, 2, uint32_t);

thread_local int32_t tl_reply_backing_id = 0;

uint32_t load32(const char* p) {
  uint32_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
void store32(char* p, uint32_t v) { std::memcpy(p, &v, sizeof v); }

}  // namespace

void FusePassthrough::saw_request(const void* buf, size_t len) {
  if (!requested_ || len < sizeof(WireInHeader) + sizeof(WireInitIn)) return;
  WireInHeader h;
  std::memcpy(&h, buf, sizeof h);
  if (h.opcode != kOpInit) return;
  WireInitIn in;
  std::memcpy(&in, static_cast<const char*>(buf) + sizeof h, sizeof in);
  bool offers = (in.flags & kInitExt) && (in.flags2 & kPassthroughFlags2);
  kernel_offers_.store(offers);
  if (!offers)
    std::fprintf(stderr,
                 "syschaos: warning: this kernel offers no FUSE passthrough (Linux 6.9+ with "
                 "CONFIG_FUSE_PASSTHROUGH): every file goes through ChaosFS\n");
  init_unique_.store(h.unique);
}

ssize_t FusePassthrough::writev(int fuse_fd, const struct iovec* iov, int count) {
  int32_t backing_id = tl_reply_backing_id;
  bool maybe_init = requested_ && init_unique_.load(std::memory_order_relaxed) != 0 && !active();
  if ((backing_id == 0 && !maybe_init) || count < 1 || iov[0].iov_len < sizeof(WireOutHeader))
    return ::writev(fuse_fd, iov, count);
  WireOutHeader h;
  std::memcpy(&h, iov[0].iov_base, sizeof h);
  bool is_init = maybe_init && h.unique == init_unique_.load() && h.error == 0;
  if (!is_init && (backing_id == 0 || h.error != 0)) return ::writev(fuse_fd, iov, count);

  // Small replies only (INIT, OPEN, CREATE): copied into one buffer and amended there.
  std::array<char, 512> msg;
  size_t total = 0;
  for (int k = 0; k < count; ++k) {
    if (total + iov[k].iov_len > msg.size()) return ::writev(fuse_fd, iov, count);
    std::memcpy(msg.data() + total, iov[k].iov_base, iov[k].iov_len);
    total += iov[k].iov_len;
  }
  char* payload = msg.data() + sizeof(WireOutHeader);
  size_t payload_len = total - sizeof(WireOutHeader);
  if (is_init) {
    if (!kernel_offers_.load() || payload_len < kInitOutMin) return ::writev(fuse_fd, iov, count);
    store32(payload + kInitOutFlags, load32(payload + kInitOutFlags) | kInitExt);
    store32(payload + kInitOutFlags2, load32(payload + kInitOutFlags2) | kPassthroughFlags2);
    // Backing files on a stacked file system (overlayfs: depth 1) are refused by the
    // kernel (ELOOP) and go through ChaosFS; 1 leaves room for one file system over us.
    store32(payload + kInitOutMaxStackDepth, 1);
  } else {
    if (payload_len != kOpenOutSize && payload_len != kCreateOutSize) return ::writev(fuse_fd, iov, count);
    WireOpenOut out;
    char* at = payload + payload_len - sizeof out;
    std::memcpy(&out, at, sizeof out);
    out.open_flags |= kFopenPassthrough;
    out.backing_id = backing_id;
    std::memcpy(at, &out, sizeof out);
    tl_reply_backing_id = 0;  // one reply per mark
  }
  struct iovec one {msg.data(), total};
  ssize_t n = ::writev(fuse_fd, &one, 1);
  if (is_init && n == static_cast<ssize_t>(total)) active_.store(true);
  return n;
}

Result<int32_t> FusePassthrough::open_backing(int fuse_fd, int file_fd) {
  WireBackingMap map{};
  map.fd = file_fd;
  int id = ::ioctl(fuse_fd, kIocBackingOpen, &map);
  if (id < 0) return Error::sys("ioctl FUSE_DEV_IOC_BACKING_OPEN");
  return static_cast<int32_t>(id);
}

void FusePassthrough::close_backing(int fuse_fd, int32_t backing_id) {
  uint32_t id = static_cast<uint32_t>(backing_id);
  // Fails only for an id that is not registered: nothing to undo then.
  (void)::ioctl(fuse_fd, kIocBackingClose, &id);
}

FusePassthrough::ReplyWithBacking::ReplyWithBacking(int32_t backing_id) { tl_reply_backing_id = backing_id; }
FusePassthrough::ReplyWithBacking::~ReplyWithBacking() { tl_reply_backing_id = 0; }

}  // namespace syschaos::fs
