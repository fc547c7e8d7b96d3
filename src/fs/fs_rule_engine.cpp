#include "fs/fs_rule_engine.hpp"

#include <fnmatch.h>

#include <algorithm>

namespace syschaos::fs {

InstalledRule::InstalledRule(FsFaultRule r, uint64_t seed)
    : rule(std::move(r)), installed(std::chrono::steady_clock::now()), rng(seed), seed(seed) {
  methods = rule.effective_methods();
  for (const auto& e : rule.errnos) errno_weight_total += e.weight;
}

bool fs_path_matches(const std::string& glob, const std::string& mountpoint, const std::string& inner) {
  if (!glob.empty() && glob[0] == '/') {
    std::string full = mountpoint == "/" ? inner : mountpoint + (inner == "/" ? "" : inner);
    if (fnmatch(glob.c_str(), full.c_str(), 0) == 0) return true;
    // "/mnt/x/**" should also match the mount's root directory itself.
    return false;
  }
  std::string rel = inner.size() > 1 ? inner.substr(1) : std::string();
  return fnmatch(glob.c_str(), rel.c_str(), 0) == 0;
}

std::shared_ptr<const InstalledRule> FsRuleEngine::install(FsFaultRule rule) {
  rule.id = next_id_++;
  uint64_t rule_seed = Rng::mix(seed_ + rule.id);
  return std::make_shared<const InstalledRule>(std::move(rule), rule_seed);
}

void FsRuleEngine::publish(std::shared_ptr<const FsRuleTable> t) {
  uint64_t mask = 0;
  for (size_t i = 0; i < kFsMethodCount; ++i)
    if (t->any_methods.test(i)) mask |= uint64_t{1} << i;
  auto old = table_.load();
  // Order: the table first, then the fast mask, so a request that sees a method wanted
  // also finds the rule in the table.
  table_.store(t);
  any_methods_.store(mask);
  affects_cache_.store(t->affects_lookup_cache);
  change_note_ = on_change_ ? on_change_(old->affects_lookup_cache || t->affects_lookup_cache) : std::string();
}

static std::shared_ptr<FsRuleTable> build_table(std::vector<std::shared_ptr<const InstalledRule>> rules) {
  auto t = std::make_shared<FsRuleTable>();
  t->rules = std::move(rules);
  for (const auto& r : t->rules) {
    t->any_methods |= r->methods;
    if (r->rule.paths.empty()) t->pathless_methods |= r->methods;
    if (r->methods.test(static_cast<size_t>(FsMethod::kLookup)) ||
        r->methods.test(static_cast<size_t>(FsMethod::kGetattr)) || r->rule.attr)
      t->affects_lookup_cache = true;
  }
  return t;
}

std::vector<uint64_t> FsRuleEngine::set_rules(std::vector<FsFaultRule> rules) {
  std::lock_guard lk(write_mu_);
  std::vector<std::shared_ptr<const InstalledRule>> installed;
  std::vector<uint64_t> ids;
  for (auto& r : rules) {
    installed.push_back(install(std::move(r)));
    ids.push_back(installed.back()->rule.id);
  }
  publish(build_table(std::move(installed)));
  return ids;
}

std::vector<uint64_t> FsRuleEngine::add_rules(std::vector<FsFaultRule> rules) {
  std::lock_guard lk(write_mu_);
  auto current = table_.load();
  auto installed = current->rules;
  std::vector<uint64_t> ids;
  for (auto& r : rules) {
    installed.push_back(install(std::move(r)));
    ids.push_back(installed.back()->rule.id);
  }
  publish(build_table(std::move(installed)));
  return ids;
}

bool FsRuleEngine::remove_rule(uint64_t id) {
  std::lock_guard lk(write_mu_);
  auto current = table_.load();
  auto rules = current->rules;
  auto it = std::find_if(rules.begin(), rules.end(), [&](const auto& r) { return r->rule.id == id; });
  if (it == rules.end()) return false;
  rules.erase(it);
  publish(build_table(std::move(rules)));
  return true;
}

std::vector<FsRuleStatus> FsRuleEngine::status() const {
  auto t = table_.load();
  std::vector<FsRuleStatus> out;
  for (const auto& r : t->rules) {
    FsRuleStatus s;
    s.rule = r->rule;
    s.counters.matched = r->counters.matched.load();
    s.counters.fired = r->counters.fired.load();
    s.counters.delayed = r->counters.delayed.load();
    s.counters.failed = r->counters.failed.load();
    s.counters.attr_overridden = r->counters.attr_overridden.load();
    s.counters.corrupted = r->counters.corrupted.load();
    out.push_back(std::move(s));
  }
  return out;
}

bool FsRuleEngine::may_act(FsMethodSet methods, const PathFn& path_fn) const {
  auto t = table_.load();
  if ((t->any_methods & methods).none()) return false;
  std::optional<std::optional<std::string>> path;
  for (const auto& r : t->rules) {
    if ((r->methods & methods).none()) continue;
    if (r->rule.paths.empty()) return true;
    if (!path) path = path_fn();
    if (!*path) return true;  // unknown path: assume the rule applies
    for (const auto& g : r->rule.paths)
      if (fs_path_matches(g, mountpoint_, **path)) return true;
  }
  return false;
}

FsDecision FsRuleEngine::decide(FsMethod m, const PathFn& path_fn) const {
  FsDecision d;
  auto t = table_.load();
  const size_t mi = static_cast<size_t>(m);
  if (!t->any_methods.test(mi)) return d;
  auto now = std::chrono::steady_clock::now();
  std::optional<std::optional<std::string>> path;  // computed at most once
  for (const auto& r : t->rules) {
    if (!r->methods.test(mi)) continue;
    auto since = now - r->installed;
    if (since < r->rule.after) continue;
    if (r->rule.duration && since >= r->rule.after + *r->rule.duration) continue;
    if (!r->rule.paths.empty()) {
      if (!path) path = path_fn();
      if (!*path) continue;
      bool hit = false;
      for (const auto& g : r->rule.paths)
        if (fs_path_matches(g, mountpoint_, **path)) { hit = true; break; }
      if (!hit) continue;
    }
    r->counters.matched.fetch_add(1, std::memory_order_relaxed);
    int err = 0;
    std::chrono::nanoseconds delay{0};
    {
      std::lock_guard lk(r->rng_mu);
      if (r->rule.percent < 100.0 && !(r->rng.uniform() * 100.0 < r->rule.percent)) continue;
      if (r->rule.latency) {
        delay = r->rule.latency->delay;
        if (r->rule.latency->jitter.count() > 0) {
          auto j = r->rule.latency->jitter.count();
          delay += std::chrono::nanoseconds(static_cast<int64_t>(r->rng.below(2 * j + 1)) - j);
          if (delay.count() < 0) delay = std::chrono::nanoseconds(0);
        }
      }
      if (!r->rule.errnos.empty() && d.err == 0) {
        uint64_t pick = r->rng.below(r->errno_weight_total);
        for (const auto& e : r->rule.errnos) {
          if (pick < e.weight) { err = e.err; break; }
          pick -= e.weight;
        }
      }
    }
    r->counters.fired.fetch_add(1, std::memory_order_relaxed);
    if (delay.count() > 0) {
      d.delay += delay;
      r->counters.delayed.fetch_add(1, std::memory_order_relaxed);
    }
    if (err != 0) {
      d.err = err;
      r->counters.failed.fetch_add(1, std::memory_order_relaxed);
    }
    if (r->rule.attr) {
      if (!d.attr) d.attr = FsAttrOverride{};
      const auto& a = *r->rule.attr;
      auto merge = [](auto& dst, const auto& src) { if (src) dst = src; };
      merge(d.attr->ino, a.ino); merge(d.attr->size, a.size); merge(d.attr->blocks, a.blocks);
      merge(d.attr->atime, a.atime); merge(d.attr->mtime, a.mtime); merge(d.attr->ctime, a.ctime);
      merge(d.attr->kind, a.kind); merge(d.attr->perm, a.perm); merge(d.attr->nlink, a.nlink);
      merge(d.attr->uid, a.uid); merge(d.attr->gid, a.gid); merge(d.attr->rdev, a.rdev);
      r->counters.attr_overridden.fetch_add(1, std::memory_order_relaxed);
    }
    if (r->rule.mistake && (m == FsMethod::kRead || m == FsMethod::kWrite)) {
      d.mistakes.push_back(*r->rule.mistake);
      d.mistake_rules.push_back(r);
    }
  }
  return d;
}

bool FsRuleEngine::corrupt(const FsDecision& d, char* data, size_t size) const {
  if (size == 0 || d.mistakes.empty()) return false;
  for (size_t k = 0; k < d.mistakes.size(); ++k) {
    const auto& m = d.mistakes[k];
    // Where the N-th corruption of a rule falls depends only on the rule's seed and N (not
    // on which worker thread serves it): with --seed, the same requests in the same order
    // are corrupted at the same places. No lock on the data path: N is the counter.
    uint64_t nth = d.mistake_rules[k]->counters.corrupted.fetch_add(1, std::memory_order_relaxed);
    Rng rng(Rng::mix(d.mistake_rules[k]->seed ^ ((nth + 1) * 0x9e3779b97f4a7c15ULL)));
    uint64_t occurrences = 1 + rng.below(m.max_occurrences);
    for (uint64_t i = 0; i < occurrences; ++i) {
      uint64_t len = 1 + rng.below(std::min<uint64_t>(m.max_length, size));
      uint64_t pos = rng.below(size - len + 1);
      if (m.filling == FsMistake::Filling::kZero) {
        std::fill(data + pos, data + pos + len, 0);
      } else {
        for (uint64_t b = 0; b < len; ++b) data[pos + b] = static_cast<char>(rng.below(256));
      }
    }
  }
  return true;
}

}  // namespace syschaos::fs
