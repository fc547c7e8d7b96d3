#include "fs/fs_fault_rule.hpp"

#include <sys/stat.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <fstream>
#include <sstream>

#include "core/duration.hpp"
#include "core/errno_names.hpp"

namespace syschaos::fs {

namespace {

constexpr std::array<std::string_view, kFsMethodCount> kMethodNames = {
    "lookup", "forget", "getattr", "setattr", "readlink", "mknod", "mkdir", "unlink", "rmdir",
    "symlink", "rename", "link", "open", "read", "write", "flush", "release", "fsync",
    "opendir", "readdir", "releasedir", "fsyncdir", "statfs", "setxattr", "getxattr",
    "listxattr", "removexattr", "access", "create", "getlk", "setlk", "bmap", "flock",
    "fallocate", "lseek", "copy_file_range"};

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// yaml-cpp throws on conversions; every read goes through these so a bad value becomes one
// Error naming the field.
template <typename T>
Result<T> scalar(const YAML::Node& n, std::string_view field) {
  if (!n.IsScalar()) return Error(fmt::format("'{}' must be a single value", field));
  try {
    return n.as<T>();
  } catch (const YAML::Exception&) {
    return Error(fmt::format("'{}': bad value '{}'", field, n.Scalar()));
  }
}

// Integers as YAML users write them: 420, 0o644, 0644 (octal, as in chmod), 0x1a4.
Result<uint64_t> parse_uint(const YAML::Node& n, std::string_view field) {
  auto s = scalar<std::string>(n, field);
  if (!s) return s.error();
  std::string t = *s;
  int base = 10;
  size_t start = 0;
  if (t.size() > 2 && t[0] == '0' && (t[1] == 'o' || t[1] == 'O')) base = 8, start = 2;
  else if (t.size() > 2 && t[0] == '0' && (t[1] == 'x' || t[1] == 'X')) base = 16, start = 2;
  else if (t.size() > 1 && t[0] == '0') base = 8, start = 1;
  if (start >= t.size()) return Error(fmt::format("'{}': bad number '{}'", field, t));
  uint64_t v = 0;
  for (size_t i = start; i < t.size(); ++i) {
    int d;
    char c = static_cast<char>(std::tolower(static_cast<unsigned char>(t[i])));
    if (c >= '0' && c <= '9') d = c - '0';
    else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
    else return Error(fmt::format("'{}': bad number '{}'", field, t));
    if (d >= base) return Error(fmt::format("'{}': bad number '{}'", field, t));
    v = v * base + d;
  }
  return v;
}

Result<Nanos> parse_dur(const YAML::Node& n, std::string_view field) {
  auto s = scalar<std::string>(n, field);
  if (!s) return s.error();
  // A bare number is milliseconds? No: Chaos Mesh durations always carry a unit; syschaos
  // uses seconds for windows and microseconds for delays elsewhere, so require the unit
  // unless the value is 0.
  auto d = parse_duration(*s, "us");
  if (!d) return d.error().context(std::string(field));
  return *d;
}

Result<FsMethodSet> parse_methods(const YAML::Node& n) {
  FsMethodSet set;
  std::vector<std::string> names;
  if (n.IsSequence()) {
    for (const auto& item : n) {
      auto s = scalar<std::string>(item, "methods");
      if (!s) return s.error();
      names.push_back(*s);
    }
  } else {
    auto s = scalar<std::string>(n, "methods");
    if (!s) return s.error();
    std::stringstream ss(*s);
    std::string part;
    while (std::getline(ss, part, ',')) names.push_back(part);
  }
  for (auto& name : names) {
    name.erase(std::remove_if(name.begin(), name.end(), ::isspace), name.end());
    if (name.empty()) continue;
    if (lower(name) == "all") {
      set.set();
      continue;
    }
    auto m = parse_fs_method(name);
    if (!m) return m.error();
    set.set(static_cast<size_t>(*m));
  }
  if (set.none()) return Error("'methods' is empty");
  return set;
}

Result<std::vector<std::string>> parse_paths(const YAML::Node& n) {
  std::vector<std::string> out;
  if (n.IsSequence()) {
    for (const auto& item : n) {
      auto s = scalar<std::string>(item, "path");
      if (!s) return s.error();
      out.push_back(*s);
    }
  } else {
    auto s = scalar<std::string>(n, "path");
    if (!s) return s.error();
    out.push_back(*s);
  }
  for (const auto& p : out)
    if (p.empty()) return Error("'path' is empty");
  return out;
}

Result<int> parse_one_errno(const std::string& text) {
  auto e = parse_errno(text);
  if (!e) return e.error();
  if (*e <= 0 || *e > 4095) return Error(fmt::format("errno '{}' out of range", text));
  return *e;
}

// EIO | 5 | "EIO*3|ENOSPC" | {EIO: 3, ENOSPC: 1} | [EIO, ENOSPC]
Result<std::vector<FsWeightedErrno>> parse_errnos(const YAML::Node& n, std::string_view field) {
  std::vector<FsWeightedErrno> out;
  auto add = [&](const std::string& name, uint64_t weight) -> Result<void> {
    auto e = parse_one_errno(name);
    if (!e) return e.error().context(std::string(field));
    if (weight == 0 || weight > 1000000) return Error(fmt::format("'{}': bad weight for {}", field, name));
    out.push_back({*e, static_cast<uint32_t>(weight)});
    return ok();
  };
  if (n.IsMap()) {
    for (const auto& kv : n) {
      auto w = parse_uint(kv.second, field);
      if (!w) return w.error();
      SYSCHAOS_TRY(add(kv.first.as<std::string>(), *w));
    }
  } else if (n.IsSequence()) {
    for (const auto& item : n) {
      auto s = scalar<std::string>(item, field);
      if (!s) return s.error();
      SYSCHAOS_TRY(add(*s, 1));
    }
  } else {
    auto s = scalar<std::string>(n, field);
    if (!s) return s.error();
    std::stringstream ss(*s);
    std::string part;
    while (std::getline(ss, part, '|')) {
      part.erase(std::remove_if(part.begin(), part.end(), ::isspace), part.end());
      uint64_t weight = 1;
      if (auto star = part.find('*'); star != std::string::npos) {
        auto w = parse_uint(YAML::Node(part.substr(star + 1)), field);
        if (!w) return w.error();
        weight = *w;
        part = part.substr(0, star);
      }
      SYSCHAOS_TRY(add(part, weight));
    }
  }
  if (out.empty()) return Error(fmt::format("'{}' is empty", field));
  return out;
}

Result<mode_t> parse_kind(const std::string& text) {
  std::string k = lower(text);
  k.erase(std::remove(k.begin(), k.end(), '_'), k.end());
  if (k == "file" || k == "regularfile" || k == "regular" || k == "reg") return S_IFREG;
  if (k == "dir" || k == "directory") return S_IFDIR;
  if (k == "symlink" || k == "link" || k == "lnk") return S_IFLNK;
  if (k == "namedpipe" || k == "fifo" || k == "pipe") return S_IFIFO;
  if (k == "chardevice" || k == "chr" || k == "char") return S_IFCHR;
  if (k == "blockdevice" || k == "blk" || k == "block") return S_IFBLK;
  if (k == "socket" || k == "sock") return S_IFSOCK;
  return Error(fmt::format("'kind': unknown file kind '{}' (file, dir, symlink, fifo, char, "
                           "block, socket)", text));
}

Result<FsTimestamp> parse_time(const YAML::Node& n, std::string_view field) {
  FsTimestamp ts;
  if (n.IsMap()) {
    for (const auto& kv : n) {
      auto key = kv.first.as<std::string>();
      auto v = parse_uint(kv.second, field);
      if (!v) return v.error();
      if (key == "sec") ts.sec = static_cast<int64_t>(*v);
      else if (key == "nsec") {
        if (*v >= 1000000000) return Error(fmt::format("'{}.nsec' must be < 1e9", field));
        ts.nsec = static_cast<uint32_t>(*v);
      } else return Error(fmt::format("'{}': unknown key '{}' (sec, nsec)", field, key));
    }
    return ts;
  }
  auto v = parse_uint(n, field);
  if (!v) return v.error();
  ts.sec = static_cast<int64_t>(*v);
  return ts;
}

Result<FsAttrOverride> parse_attr(const YAML::Node& n) {
  if (!n.IsMap()) return Error("'attr' must be a map (e.g. {size: 0, perm: 0o444})");
  FsAttrOverride a;
  for (const auto& kv : n) {
    auto key = kv.first.as<std::string>();
    const auto& v = kv.second;
    if (key == "atime" || key == "mtime" || key == "ctime") {
      auto t = parse_time(v, key);
      if (!t) return t.error();
      (key == "atime" ? a.atime : key == "mtime" ? a.mtime : a.ctime) = *t;
      continue;
    }
    if (key == "kind") {
      auto s = scalar<std::string>(v, key);
      if (!s) return s.error();
      auto k = parse_kind(*s);
      if (!k) return k.error();
      a.kind = *k;
      continue;
    }
    auto num = parse_uint(v, key);
    if (!num) return num.error();
    if (key == "ino") a.ino = *num;
    else if (key == "size") a.size = *num;
    else if (key == "blocks") a.blocks = *num;
    else if (key == "perm") {
      if (*num > 07777) return Error(fmt::format("'perm' {:o} is more than 07777", *num));
      a.perm = static_cast<uint32_t>(*num);
    } else if (key == "nlink" || key == "uid" || key == "gid" || key == "rdev") {
      if (*num > UINT32_MAX) return Error(fmt::format("'{}' is too large", key));
      auto u = static_cast<uint32_t>(*num);
      (key == "nlink" ? a.nlink : key == "uid" ? a.uid : key == "gid" ? a.gid : a.rdev) = u;
    } else {
      return Error(fmt::format("'attr': unknown field '{}' (ino, size, blocks, atime, mtime, "
                               "ctime, kind, perm, nlink, uid, gid, rdev)", key));
    }
  }
  if (a.empty()) return Error("'attr' overrides nothing");
  return a;
}

Result<FsMistake> parse_mistake(const YAML::Node& n) {
  if (!n.IsMap()) return Error("'mistake' must be a map (filling, maxOccurrences, maxLength)");
  FsMistake m;
  bool have_filling = false;
  for (const auto& kv : n) {
    auto key = kv.first.as<std::string>();
    if (key == "filling") {
      auto s = scalar<std::string>(kv.second, key);
      if (!s) return s.error();
      auto f = lower(*s);
      if (f == "zero") m.filling = FsMistake::Filling::kZero;
      else if (f == "random") m.filling = FsMistake::Filling::kRandom;
      else return Error(fmt::format("'mistake.filling': '{}' is not zero or random", *s));
      have_filling = true;
    } else if (key == "maxOccurrences" || key == "max_occurrences") {
      auto v = parse_uint(kv.second, key);
      if (!v) return v.error();
      if (*v == 0 || *v > 1000000) return Error("'mistake.maxOccurrences' must be 1..1000000");
      m.max_occurrences = static_cast<uint32_t>(*v);
    } else if (key == "maxLength" || key == "max_length") {
      auto v = parse_uint(kv.second, key);
      if (!v) return v.error();
      if (*v == 0 || *v > (1u << 30)) return Error("'mistake.maxLength' must be 1..2^30");
      m.max_length = static_cast<uint32_t>(*v);
    } else {
      return Error(fmt::format("'mistake': unknown field '{}'", key));
    }
  }
  if (!have_filling) return Error("'mistake.filling' is required (zero or random)");
  return m;
}

Result<double> parse_percent(const YAML::Node& n) {
  auto p = scalar<double>(n, "percent");
  if (!p) return p.error();
  if (!(*p >= 0.0 && *p <= 100.0)) return Error(fmt::format("'percent' {} is not in 0..100", *p));
  return *p;
}

Result<FsLatency> parse_latency(const YAML::Node& n) {
  FsLatency l;
  if (n.IsMap()) {
    for (const auto& kv : n) {
      auto key = kv.first.as<std::string>();
      auto d = parse_dur(kv.second, "latency." + key);
      if (!d) return d.error();
      if (key == "delay" || key == "fixed") l.delay = *d;
      else if (key == "jitter") l.jitter = *d;
      else return Error(fmt::format("'latency': unknown field '{}' (delay, jitter)", key));
    }
  } else {
    auto d = parse_dur(n, "latency");
    if (!d) return d.error();
    l.delay = *d;
  }
  return l;
}

Result<FsFaultRule> rule_from_syschaos_map(const YAML::Node& node) {
  if (!node.IsMap()) return Error("a rule must be a map (methods, path, latency, fault, ...)");
  FsFaultRule r;
  for (const auto& kv : node) {
    auto key = kv.first.as<std::string>();
    const auto& v = kv.second;
    if (key == "name") {
      auto s = scalar<std::string>(v, key);
      if (!s) return s.error();
      r.name = *s;
    } else if (key == "methods") {
      auto m = parse_methods(v);
      if (!m) return m.error();
      r.methods = *m;
    } else if (key == "path" || key == "paths") {
      auto p = parse_paths(v);
      if (!p) return p.error();
      r.paths = *p;
    } else if (key == "percent") {
      auto p = parse_percent(v);
      if (!p) return p.error();
      r.percent = *p;
    } else if (key == "latency" || key == "delay") {
      auto l = parse_latency(v);
      if (!l) return l.error();
      r.latency = *l;
    } else if (key == "jitter") {
      auto d = parse_dur(v, key);
      if (!d) return d.error();
      if (!r.latency) r.latency = FsLatency{};
      r.latency->jitter = *d;
    } else if (key == "fault" || key == "errno" || key == "error") {
      auto e = parse_errnos(v, key);
      if (!e) return e.error();
      r.errnos = *e;
    } else if (key == "attrOverride" || key == "attr" || key == "attr_override") {
      auto a = parse_attr(v);
      if (!a) return a.error();
      r.attr = *a;
    } else if (key == "mistake") {
      auto m = parse_mistake(v);
      if (!m) return m.error();
      r.mistake = *m;
    } else if (key == "after") {
      auto d = parse_dur(v, key);
      if (!d) return d.error();
      r.after = *d;
    } else if (key == "duration" || key == "for") {
      auto d = parse_dur(v, key);
      if (!d) return d.error();
      r.duration = *d;
    } else {
      return Error(fmt::format("unknown field '{}' (name, methods, path, percent, latency, "
                               "jitter, fault, attrOverride, mistake, after, duration)", key));
    }
  }
  // "jitter" before "latency" in the map would have been overwritten; both orders work:
  if (node["jitter"] && r.latency && r.latency->jitter.count() == 0) {
    auto d = parse_dur(node["jitter"], "jitter");
    if (d) r.latency->jitter = *d;
  }
  SYSCHAOS_TRY(validate_fs_rule(r));
  return r;
}

// One IOChaos object -> one rule.
Result<FsFaultRule> rule_from_iochaos(const YAML::Node& doc) {
  const YAML::Node spec = doc["spec"];
  if (!spec || !spec.IsMap()) return Error("IOChaos: missing 'spec'");
  FsFaultRule r;
  if (doc["metadata"] && doc["metadata"]["name"]) r.name = doc["metadata"]["name"].as<std::string>();
  if (!spec["action"]) return Error("IOChaos: missing 'spec.action' (latency, fault, attrOverride, mistake)");
  auto action_s = scalar<std::string>(spec["action"], "action");
  if (!action_s) return action_s.error();
  std::string action = *action_s;
  for (const auto& kv : spec) {
    auto key = kv.first.as<std::string>();
    const auto& v = kv.second;
    if (key == "action" || key == "mode" || key == "value" || key == "selector" ||
        key == "remoteCluster") {
      continue;  // Kubernetes selection: syschaos targets a container by name instead
    } else if (key == "volumePath") {
      auto s = scalar<std::string>(v, key);
      if (!s) return s.error();
      r.volume_path = *s;
    } else if (key == "containerNames" || key == "containerName") {
      if (v.IsSequence()) {
        for (const auto& item : v) r.container_names.push_back(item.as<std::string>());
      } else {
        auto s = scalar<std::string>(v, key);
        if (!s) return s.error();
        r.container_names.push_back(*s);
      }
    } else if (key == "path") {
      auto p = parse_paths(v);
      if (!p) return p.error();
      if (!(p->size() == 1 && p->front().empty())) r.paths = *p;
    } else if (key == "methods") {
      auto m = parse_methods(v);
      if (!m) return m.error();
      r.methods = *m;
    } else if (key == "percent") {
      auto p = parse_percent(v);
      if (!p) return p.error();
      r.percent = *p;
    } else if (key == "delay") {
      if (action != "latency") continue;
      auto d = parse_dur(v, key);
      if (!d) return d.error();
      r.latency = FsLatency{*d, Nanos{0}};
    } else if (key == "errno") {
      if (action != "fault") continue;
      auto e = parse_errnos(v, key);
      if (!e) return e.error();
      r.errnos = *e;
    } else if (key == "attr") {
      if (action != "attrOverride") continue;
      auto a = parse_attr(v);
      if (!a) return a.error();
      r.attr = *a;
    } else if (key == "mistake") {
      if (action != "mistake") continue;
      auto m = parse_mistake(v);
      if (!m) return m.error();
      r.mistake = *m;
    } else if (key == "duration") {
      auto d = parse_dur(v, key);
      if (!d) return d.error();
      r.duration = *d;
    } else {
      return Error(fmt::format("IOChaos: unknown spec field '{}'", key));
    }
  }
  if (action == "latency" && !r.latency) return Error("IOChaos: action latency needs 'delay'");
  if (action == "fault" && r.errnos.empty()) return Error("IOChaos: action fault needs 'errno'");
  if (action == "attrOverride" && !r.attr) return Error("IOChaos: action attrOverride needs 'attr'");
  if (action == "mistake" && !r.mistake) return Error("IOChaos: action mistake needs 'mistake'");
  if (action != "latency" && action != "fault" && action != "attrOverride" && action != "mistake")
    return Error(fmt::format("IOChaos: unknown action '{}' (latency, fault, attrOverride, mistake)", action));
  if (r.volume_path.empty()) return Error("IOChaos: missing 'spec.volumePath'");
  SYSCHAOS_TRY(validate_fs_rule(r));
  return r;
}

bool is_iochaos(const YAML::Node& doc) {
  return doc.IsMap() && doc["kind"] && doc["kind"].IsScalar() && doc["kind"].Scalar() == "IOChaos";
}

}  // namespace

std::string_view fs_method_name(FsMethod m) {
  auto i = static_cast<size_t>(m);
  return i < kMethodNames.size() ? kMethodNames[i] : "?";
}

Result<FsMethod> parse_fs_method(std::string_view name) {
  std::string n = lower(name);
  for (size_t i = 0; i < kMethodNames.size(); ++i)
    if (kMethodNames[i] == n) return static_cast<FsMethod>(i);
  if (n == "copyfilerange") return FsMethod::kCopyFileRange;
  return Error(fmt::format("unknown FUSE method '{}' (lookup, getattr, open, read, write, "
                           "flush, fsync, create, unlink, rename, mkdir, readdir, ...)", name));
}

FsMethodSet FsFaultRule::effective_methods() const {
  if (methods.any()) return methods;
  if (mistake && !latency && errnos.empty() && !attr) return fs_method_set({FsMethod::kRead, FsMethod::kWrite});
  FsMethodSet s;
  s.set();
  // forget, release and releasedir have no reply the application sees (the kernel ignores
  // it): they are only chosen by naming them.
  s.reset(static_cast<size_t>(FsMethod::kForget));
  s.reset(static_cast<size_t>(FsMethod::kRelease));
  s.reset(static_cast<size_t>(FsMethod::kReleasedir));
  return s;
}

std::string FsFaultRule::describe() const {
  std::string out;
  if (!name.empty()) out += name + ": ";
  if (methods.any() && !methods.all()) {
    std::string m;
    for (size_t i = 0; i < kFsMethodCount; ++i)
      if (methods.test(i)) m += (m.empty() ? "" : ",") + std::string(kMethodNames[i]);
    out += m;
  } else {
    out += "all";
  }
  for (const auto& p : paths) out += " path=" + p;
  if (percent < 100.0) out += fmt::format(" {}%", percent);
  if (latency) {
    out += " latency=" + format_duration(latency->delay);
    if (latency->jitter.count()) out += "±" + format_duration(latency->jitter);
  }
  if (!errnos.empty()) {
    out += " fault=";
    for (size_t i = 0; i < errnos.size(); ++i)
      out += (i ? "|" : "") + errno_name(errnos[i].err) +
             (errnos[i].weight != 1 ? fmt::format("*{}", errnos[i].weight) : "");
  }
  if (attr) out += " attrOverride";
  if (mistake)
    out += fmt::format(" mistake={}x{}x{}", mistake->filling == FsMistake::Filling::kZero ? "zero" : "random",
                       mistake->max_occurrences, mistake->max_length);
  if (after.count()) out += " after=" + format_duration(after);
  if (duration) out += " for=" + format_duration(*duration);
  return out;
}

Result<void> validate_fs_rule(const FsFaultRule& r) {
  if (!r.latency && r.errnos.empty() && !r.attr && !r.mistake)
    return Error("a rule needs an action: latency, fault, attrOverride or mistake");
  if (!(r.percent >= 0.0 && r.percent <= 100.0)) return Error("'percent' is not in 0..100");
  if (r.latency) {
    if (r.latency->delay.count() < 0 || r.latency->jitter.count() < 0)
      return Error("'latency' must not be negative");
    if (r.latency->delay > std::chrono::hours(1)) return Error("'latency' is more than an hour");
  }
  for (const auto& e : r.errnos)
    if (e.err <= 0 || e.weight == 0) return Error("'fault': bad errno or weight");
  if (r.mistake) {
    auto m = r.effective_methods();
    if ((m & fs_method_set({FsMethod::kRead, FsMethod::kWrite})).none()) return Error("'mistake' needs the read or write method");
  }
  if (r.after.count() < 0 || (r.duration && r.duration->count() < 0))
    return Error("'after'/'duration' must not be negative");
  return ok();
}

Result<std::vector<FsFaultRule>> parse_fs_rules(const std::string& text) {
  std::vector<YAML::Node> docs;
  try {
    docs = YAML::LoadAll(text);
  } catch (const YAML::Exception& e) {
    return Error(fmt::format("YAML: {}", e.what()));
  }
  std::vector<FsFaultRule> rules;
  try {
    size_t doc_index = 0;
    for (const auto& doc : docs) {
      ++doc_index;
      if (doc.IsNull()) continue;
      if (is_iochaos(doc)) {
        auto r = rule_from_iochaos(doc);
        if (!r) return r.error().context(fmt::format("document {}", doc_index));
        rules.push_back(std::move(*r));
        continue;
      }
      if (doc.IsMap() && doc["kind"])
        return Error(fmt::format("document {}: kind '{}' is not IOChaos", doc_index,
                                 doc["kind"].as<std::string>()));
      YAML::Node list = doc;
      if (doc.IsMap()) {
        list = doc["faults"] ? doc["faults"] : doc["rules"];
        if (!list) return Error("expected a list of rules, or a map with 'faults'");
      }
      if (!list.IsSequence()) return Error("'faults' must be a list");
      for (size_t i = 0; i < list.size(); ++i) {
        auto r = rule_from_syschaos_map(list[i]);
        if (!r) return r.error().context(fmt::format("rule {}", i + 1));
        rules.push_back(std::move(*r));
      }
    }
  } catch (const YAML::Exception& e) {
    return Error(fmt::format("YAML: {}", e.what()));
  }
  return rules;
}

Result<std::vector<FsFaultRule>> load_fs_rules_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Error::sys(fmt::format("open {}", path));
  std::stringstream ss;
  ss << in.rdbuf();
  auto r = parse_fs_rules(ss.str());
  if (!r) return r.error().context(path);
  return r;
}

}  // namespace syschaos::fs
