// ChaosFs: a fault-injecting pass-through FUSE file system (libfuse3 low-level API).
//
// It mirrors a backing directory at a mountpoint and applies FsFaultRules to the FUSE
// requests (see fs_fault_rule.hpp). Without rules it behaves as the backing file system.
//
// Life cycle:
//   auto fs = ChaosFs::mount(options);   // mounts; the kernel may queue requests already
//   fs.value()->run();                   // serves on options.threads threads until stop()
//   // stop() from any thread or a signal handler makes run() return
//   fs.value().reset();                  // answers anything still delayed, unmounts
//
// Process-global state: one no-op handler for the real-time signal SIGRTMIN+5, installed
// by the first run() (it ends the workers' blocking reads at stop; see chaos_fs.cpp), and
// nothing else. The session's threads are created inside run() (and the delayed-reply
// threads inside mount()); the library
// never calls chdir, umask or fork (except the optional unmount guardian, forked inside
// mount() before any thread of ChaosFs exists). So a caller may fork, setns(CLONE_NEWNS)
// into another mount namespace while still single-threaded, and then mount() there.
//
// Safety: the kernel's writeback cache is off, so every write(2) the application sees
// succeed has reached the backing file (page cache of the backing FS) before the reply;
// fsync/fdatasync call fsync/fdatasync on the backing file before replying.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/result.hpp"
#include "fs/fs_fault_rule.hpp"

namespace syschaos::fs {

struct ChaosFsOptions {
  // The backing directory: a path, or an fd already open on it (O_PATH or O_RDONLY, a
  // directory). When backing_fd >= 0 it wins; ChaosFs dups it, the caller keeps its own.
  std::string backing_path;
  int backing_fd = -1;

  // Where to mount, resolved in the caller's current mount namespace. Must be a directory.
  std::string mountpoint;
  // Where the application sees the file system, when not at `mountpoint` (container mode:
  // ChaosFS is mounted on a host staging directory and then moved over the volume). Rules'
  // absolute globs, initial and live, are matched against it. Empty: `mountpoint`.
  std::string app_mountpoint;

  std::vector<FsFaultRule> rules;  // installed at mount time
  uint64_t seed = 0;               // 0: chosen at random (see ChaosFs::seed())
  unsigned threads = 0;            // FUSE worker threads; 0 = max(4, hardware threads)

  // Control socket (JSON lines, see fs_control_server.hpp): a path to bind (an existing
  // socket file there is replaced; removed again on destruction), or a listening
  // AF_UNIX SOCK_STREAM fd the caller bound (ChaosFs owns it from the call on, and closes
  // it even when mount() fails). Neither = no socket.
  std::string control_path;
  int control_fd = -1;

  // Kernel caching of lookups and attributes, in seconds. While any installed rule can act
  // on lookup or getattr (or overrides attributes), ChaosFS answers with timeout 0 so the
  // kernel asks every time and the rule takes effect at once; otherwise these apply.
  double entry_timeout = 1.0;
  double attr_timeout = 1.0;

  // File name shown in /proc/mounts ("chaosfs" when empty). The type is "fuse.syschaos".
  std::string fsname;

  // Fork a tiny process that lazily unmounts the mountpoint if this process dies without
  // unmounting (SIGKILL), so it never stays "Transport endpoint is not connected".
  bool unmount_guardian = true;

  // Replace a dead ChaosFS mount ("Transport endpoint is not connected") found at the
  // mountpoint before mounting (lazy unmount). A live mount is never touched.
  bool recover_dead_mount = true;

  // Kernel FUSE passthrough (Linux 6.9+, docs/CHAOSFS.md "Passthrough"): a regular file that
  // no rule can act on (reads, writes, getattr, lookup) when it is opened is then read and
  // written by the kernel straight from the backing file, at the backing file system's
  // speed, with no request per read(2)/write(2) and no second page cache. The price: an
  // open file stays in that mode until every descriptor of it is closed, so read/write
  // rules added later reach it only after it is reopened (ChaosFS warns on stderr when a
  // rule change meets such files). Other methods (open, getattr, fsync, flush, ...) still
  // see every rule. Off by default; when the kernel lacks it, files go through ChaosFS.
  bool passthrough = false;

  // An fd of /proc/self/fd opened by THIS process, for reopening files by their O_PATH fd
  // when /proc in the current mount namespace belongs to another PID namespace (after
  // setns into a container). -1: ChaosFs opens "/proc/self/fd" itself at mount().
  int proc_self_fd = -1;
};

// Per-rule counters (cumulative since the rule was installed).
struct FsRuleCounters {
  uint64_t matched = 0;    // requests that passed methods, path and time window
  uint64_t fired = 0;      // of those, chosen by percent
  uint64_t delayed = 0;
  uint64_t failed = 0;     // answered with the rule's errno
  uint64_t attr_overridden = 0;
  uint64_t corrupted = 0;  // read or write buffers corrupted
};

struct FsRuleStatus {
  FsFaultRule rule;  // with its id
  FsRuleCounters counters;
};

class FsRuleEngine;
class ChaosFsSession;

class ChaosFs {
 public:
  static Result<std::unique_ptr<ChaosFs>> mount(const ChaosFsOptions& options);
  // Answers delayed requests, unmounts, removes the control socket file. Call it after
  // run() has returned (stop() first if it is still running on another thread).
  ~ChaosFs();
  ChaosFs(const ChaosFs&) = delete;
  ChaosFs& operator=(const ChaosFs&) = delete;

  // Serves requests until stop() or until the file system is unmounted from outside.
  // Returns an error only if serving could not start.
  Result<void> run();
  // Thread-safe and async-signal-safe (one write(2) to an eventfd).
  void stop();

  // Rules: replace all, add (ids assigned and returned), remove by id. Atomic: a request
  // sees either the old or the new set. Take effect for the next request.
  std::vector<uint64_t> set_rules(std::vector<FsFaultRule> rules);
  // Drops the kernel's cached pages of every file an installed rule acts on reads of, so its
  // next read is a READ (rule changes leave cached pages alone, see docs/CHAOSFS.md). Never
  // call from a request handler.
  void drop_pages_rules_read();
  std::vector<uint64_t> add_rules(std::vector<FsFaultRule> rules);
  bool remove_rule(uint64_t id);
  std::vector<FsRuleStatus> rules() const;

  uint64_t seed() const;
  const std::string& mountpoint() const;
  // The control socket path (empty when none or given as an fd).
  const std::string& control_path() const;

 private:
  ChaosFs();
  std::unique_ptr<ChaosFsSession> session_;
};

}  // namespace syschaos::fs
