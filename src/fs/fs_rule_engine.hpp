// FsRuleEngine: the installed rules and the per-request decision.
//
// Every rule whose methods, path and time window match a request is "matched"; each matched
// rule then draws against its percent. All rules that fire contribute: delays add up, the
// first firing rule with a fault gives the errno, attribute overrides are applied in rule
// order, and every mistake is applied. Rules are swapped as one immutable table (RCU-style
// through an atomic shared_ptr), so a request always sees one consistent set and changing
// rules never blocks requests.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/rng.hpp"
#include "fs/chaos_fs.hpp"
#include "fs/fs_fault_rule.hpp"

namespace syschaos::fs {

struct InstalledRule {
  FsFaultRule rule;
  std::chrono::steady_clock::time_point installed;
  FsMethodSet methods;  // effective
  uint32_t errno_weight_total = 0;
  mutable std::mutex rng_mu;
  mutable Rng rng;
  uint64_t seed;  // the rule's own: also where its mistakes fall (FsRuleEngine::corrupt)
  struct Counters {
    std::atomic<uint64_t> matched{0}, fired{0}, delayed{0}, failed{0}, attr_overridden{0},
        corrupted{0};
  };
  mutable Counters counters;
  InstalledRule(FsFaultRule r, uint64_t seed);
};

struct FsRuleTable {
  std::vector<std::shared_ptr<const InstalledRule>> rules;
  FsMethodSet any_methods;       // union of the rules' methods: a quick "no rule cares"
  FsMethodSet pathless_methods;  // methods some rule without a path filter matches
  bool affects_lookup_cache = false;  // lookup/getattr rules or attr overrides exist
};

// What to do with one request.
struct FsDecision {
  std::chrono::nanoseconds delay{0};
  int err = 0;
  std::optional<FsAttrOverride> attr;  // merged overrides
  std::vector<FsMistake> mistakes;
  // Rules that fired with a mistake, to count corruptions when they happen.
  std::vector<std::shared_ptr<const InstalledRule>> mistake_rules;
  bool any() const { return delay.count() > 0 || err != 0 || attr || !mistakes.empty(); }
};

class FsRuleEngine {
 public:
  explicit FsRuleEngine(uint64_t seed) : seed_(seed) {}

  using PathFn = std::function<std::optional<std::string>()>;

  std::vector<uint64_t> set_rules(std::vector<FsFaultRule> rules);
  std::vector<uint64_t> add_rules(std::vector<FsFaultRule> rules);
  bool remove_rule(uint64_t id);
  std::vector<FsRuleStatus> status() const;

  // The fast test every request makes first: false = no rule can apply to this method.
  bool wants(FsMethod m) const {
    return any_methods_.load(std::memory_order_relaxed) & (uint64_t{1} << static_cast<size_t>(m));
  }
  bool affects_lookup_cache() const { return affects_cache_.load(std::memory_order_relaxed); }

  // True when some installed rule has one of `methods` and a path filter that matches
  // path() (or none). Percent and time window are ignored on purpose: the answer decides
  // whether the kernel may keep a file's pages cached across opens, and a rule whose window
  // opens later, or that fires on 1% of requests, must still see every read.
  bool may_act(FsMethodSet methods, const PathFn& path) const;

  // Decides for one request. path() is called only when a rule with a path filter is
  // considered; it returns the path as the application sees it (mountpoint + inner path)
  // and the inner path ("/a/b"), or nullopt when it cannot be known.
  FsDecision decide(FsMethod m, const PathFn& inner_path) const;

  // Applies mistakes to a buffer (random positions/lengths/fill from a thread-local
  // generator derived from the seed); counts corruptions on the rules. Returns true if
  // anything was changed.
  bool corrupt(const FsDecision& d, char* data, size_t size) const;

  // The mountpoint as the application sees it: absolute globs are matched against it plus
  // the inner path. Set before rules are first installed.
  void set_mountpoint(std::string mp) { mountpoint_ = std::move(mp); }
  // Called after every rule change with whether the old or the new rules act on lookup,
  // getattr or attributes: ChaosFs then expires the kernel's cached entries and attributes,
  // so the change is seen at once. It returns a note for whoever made the change (empty:
  // nothing to say), kept until the next change: change_note(). Set before rules are first
  // installed.
  void set_on_change(std::function<std::string(bool lookup_cache_affected)> f) { on_change_ = std::move(f); }
  // What the on-change callback said about the last rule change ("" if nothing).
  std::string change_note() const {
    std::lock_guard lk(write_mu_);
    return change_note_;
  }
  uint64_t seed() const { return seed_; }

 private:
  void publish(std::shared_ptr<const FsRuleTable> table);
  std::shared_ptr<const InstalledRule> install(FsFaultRule rule);

  uint64_t seed_;
  std::string mountpoint_;
  std::function<std::string(bool)> on_change_;
  mutable std::mutex write_mu_;  // serialises rule changes; guards change_note_
  std::string change_note_;
  uint64_t next_id_ = 1;
  std::atomic<std::shared_ptr<const FsRuleTable>> table_{std::make_shared<const FsRuleTable>()};
  std::atomic<uint64_t> any_methods_{0};
  std::atomic<bool> affects_cache_{false};
};

// fnmatch() of a rule's glob against a request path (see fs_fault_rule.hpp for the rules on
// absolute and relative globs). inner is "/a/b"; mountpoint is the mount's absolute path.
bool fs_path_matches(const std::string& glob, const std::string& mountpoint, const std::string& inner);

}  // namespace syschaos::fs
