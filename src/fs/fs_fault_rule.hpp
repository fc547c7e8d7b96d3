// ChaosFS fault rules: what a rule matches (FUSE methods, a path glob, a percentage, a time
// window) and what it does (latency, errno faults, attribute overrides, data mistakes).
//
// Two input formats, both accepted by parse_fs_rules():
//
// 1. syschaos's own YAML: a list, or a map with a "faults" list; one map per rule:
//      faults:
//        - name: slow-writes          # optional label
//          methods: [write, fsync]    # or "write,fsync"; absent = every method
//          path: "*.db"               # or a list of globs; absent = every path
//          percent: 50                # 0-100, default 100
//          latency: 10ms              # or {delay: 10ms, jitter: 5ms}
//          fault: EIO                 # or {EIO: 3, ENOSPC: 1} or "EIO*3|ENOSPC" or 5
//          attrOverride: {size: 0, perm: 0o444, kind: dir}
//          mistake: {filling: zero, maxOccurrences: 1, maxLength: 16}
//          after: 5s                  # window start, from when the rule is installed
//          duration: 30s              # window length (absent = forever)
//    A rule may combine actions; at least one is required.
//
// 2. A Chaos Mesh IOChaos manifest (one or several YAML documents):
//      apiVersion: chaos-mesh.org/v1alpha1
//      kind: IOChaos
//      spec:
//        action: latency | fault | attrOverride | mistake
//        volumePath: /var/lib/data
//        path: /var/lib/data/**/*.db
//        methods: [read, write]
//        percent: 50
//        delay: 10ms                  # latency
//        errno: 5                     # fault (a number, as in Chaos Mesh, or a name)
//        attr: {perm: 72, size: 0, kind: regularFile, atime: {sec: 0, nsec: 0}}
//        mistake: {filling: random, maxOccurrences: 2, maxLength: 10}
//        duration: 30s
//        containerNames: [db]         # syschaos: the container to inject (no pod selector)
//    Unknown Kubernetes fields (metadata, mode, selector, value) are ignored.
//
// Path globs: fnmatch() without FNM_PATHNAME ('*' crosses '/', so "**" works as in Chaos
// Mesh). An absolute glob is matched against the path as the application sees it
// (mountpoint + path inside the file system); a relative glob against the path inside the
// file system without its leading '/', e.g. "*.db" or "logs/*".
#pragma once

#include <sys/types.h>

#include <bitset>
#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"

namespace syschaos::fs {

using Nanos = std::chrono::nanoseconds;

// Every FUSE low-level operation ChaosFS serves, named as in libfuse / Chaos Mesh.
enum class FsMethod : uint8_t {
  kLookup, kForget, kGetattr, kSetattr, kReadlink, kMknod, kMkdir, kUnlink, kRmdir, kSymlink,
  kRename, kLink, kOpen, kRead, kWrite, kFlush, kRelease, kFsync, kOpendir, kReaddir,
  kReleasedir, kFsyncdir, kStatfs, kSetxattr, kGetxattr, kListxattr, kRemovexattr, kAccess,
  kCreate, kGetlk, kSetlk, kBmap, kFlock, kFallocate, kLseek, kCopyFileRange,
  kCount
};
inline constexpr size_t kFsMethodCount = static_cast<size_t>(FsMethod::kCount);
using FsMethodSet = std::bitset<kFsMethodCount>;
inline FsMethodSet fs_method_set(std::initializer_list<FsMethod> methods) {
  FsMethodSet set;
  for (FsMethod m : methods) set.set(static_cast<size_t>(m));
  return set;
}

std::string_view fs_method_name(FsMethod m);
// "read", "READ", "copy_file_range" -> method; unknown names are an error naming the value.
Result<FsMethod> parse_fs_method(std::string_view name);

struct FsLatency {
  Nanos delay{0};
  Nanos jitter{0};  // the actual delay is uniform in [delay - jitter, delay + jitter], >= 0
};

struct FsWeightedErrno {
  int err = 0;
  uint32_t weight = 1;
};

struct FsTimestamp {
  int64_t sec = 0;
  uint32_t nsec = 0;
};

// Fields replaced in getattr-style results (getattr, and the attributes in lookup, create,
// mkdir, mknod, symlink, link and setattr replies when the rule's methods include them).
struct FsAttrOverride {
  std::optional<uint64_t> ino, size, blocks;
  std::optional<FsTimestamp> atime, mtime, ctime;
  std::optional<mode_t> kind;  // S_IFREG, S_IFDIR, ... (only the S_IFMT bits)
  std::optional<uint32_t> perm;  // the low 12 bits of st_mode
  std::optional<uint32_t> nlink, uid, gid, rdev;
  bool empty() const {
    return !ino && !size && !blocks && !atime && !mtime && !ctime && !kind && !perm && !nlink &&
           !uid && !gid && !rdev;
  }
};

// Corrupt data on read (what the application receives) or write (what reaches the backing
// file, while the write is reported as successful): up to max_occurrences runs of up to
// max_length bytes each, at random positions, filled with zeros or random bytes.
struct FsMistake {
  enum class Filling : uint8_t { kZero, kRandom };
  Filling filling = Filling::kZero;
  uint32_t max_occurrences = 1;
  uint32_t max_length = 1;
};

struct FsFaultRule {
  uint64_t id = 0;   // assigned by ChaosFs when the rule is installed (0 = not installed)
  std::string name;  // optional label from the file
  FsMethodSet methods;  // none = every method (a mistake-only rule: read and write)
  std::vector<std::string> paths;  // globs; empty = every path
  double percent = 100.0;
  Nanos after{0};
  std::optional<Nanos> duration;

  std::optional<FsLatency> latency;
  std::vector<FsWeightedErrno> errnos;  // empty = no errno fault
  std::optional<FsAttrOverride> attr;
  std::optional<FsMistake> mistake;

  // From an IOChaos manifest (empty otherwise): where it is meant to be mounted and which
  // containers it targets. ChaosFS itself ignores them; `syschaos fs inject` uses them.
  std::string volume_path;
  std::vector<std::string> container_names;

  // The methods this rule applies to, with the defaults above resolved.
  FsMethodSet effective_methods() const;
  // A one-line human description ("write,fsync path=*.db 50% latency=10ms fault=EIO").
  std::string describe() const;
};

// Parses syschaos YAML or an IOChaos manifest (detected by `kind: IOChaos`). Every rule is
// validated; an error names the rule and the bad field.
Result<std::vector<FsFaultRule>> parse_fs_rules(const std::string& yaml_text);
Result<std::vector<FsFaultRule>> load_fs_rules_file(const std::string& path);

// Checks one rule (at least one action, percent in range, errnos positive, ...).
Result<void> validate_fs_rule(const FsFaultRule& rule);

}  // namespace syschaos::fs
