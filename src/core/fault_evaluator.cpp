#include "core/fault_evaluator.hpp"

#include <fnmatch.h>

#include <algorithm>

namespace syschaos {

namespace {

// Globs match across '/', so "*/index.html" matches "/usr/share/nginx/html/index.html".
bool glob_match(const std::string& glob, const std::string& text) {
  return ::fnmatch(glob.c_str(), text.c_str(), 0) == 0;
}

}  // namespace

FaultEvaluator::FaultEvaluator(RuleSet rules, uint64_t seed)
    : rules_(std::move(rules)), stats_(rules_.size()), counters_(rules_.size()) {
  for (size_t i = 0; i < rules_.size(); ++i) {
    rngs_.emplace_back(Rng::mix(seed + i));
    interesting_ |= rules_[i].syscalls;
    if (!rules_[i].filters.comm_globs.empty()) needs_comm_ = true;
  }
}

void FaultEvaluator::arm(SteadyClock::time_point now) { armed_at_ = now; }

std::optional<SteadyClock::time_point> FaultEvaluator::all_windows_closed() const {
  SteadyClock::time_point latest{};
  for (const auto& r : rules_) {
    if (!r.active_for) return std::nullopt;
    latest = std::max(latest, armed_at_ + r.start_after + *r.active_for);
  }
  return latest;
}

void FaultEvaluator::forget_process(pid_t tgid) {
  for (auto& per_rule : counters_)
    std::erase_if(per_rule, [tgid](const auto& kv) { return static_cast<pid_t>(kv.first >> 32) == tgid; });
}

bool FaultEvaluator::filters_match(const FaultRule& rule, CallContext& call) const {
  const auto& f = rule.filters;
  if (!f.comm_globs.empty()) {
    const auto& comm = call.comm();
    if (std::none_of(f.comm_globs.begin(), f.comm_globs.end(),
                     [&](const auto& g) { return glob_match(g, comm); }))
      return false;
  }
  if (!f.fd_kinds.empty() || !f.fd_numbers.empty()) {
    int fd_arg = SyscallTable::native().args(call.nr()).fd;
    if (fd_arg < 0) return false;
    int fd = static_cast<int>(call.arg(fd_arg));
    bool ok = std::find(f.fd_numbers.begin(), f.fd_numbers.end(), fd) != f.fd_numbers.end();
    if (!ok && !f.fd_kinds.empty() && fd >= 0) {
      FdKind kind = call.fd_kind(fd);
      ok = std::find(f.fd_kinds.begin(), f.fd_kinds.end(), kind) != f.fd_kinds.end();
    }
    if (!ok) return false;
  }
  if (!f.path_globs.empty()) {
    const auto& paths = call.paths();
    bool any = false;
    for (const auto& p : paths)
      for (const auto& g : f.path_globs)
        if (glob_match(g, p)) any = true;
    if (!any) return false;
  }
  return true;
}

int FaultEvaluator::pick_errno(size_t rule_index) {
  const auto& errors = rules_[rule_index].action.errors;
  if (errors.size() == 1) return errors[0].err;
  uint64_t total = 0;
  for (const auto& e : errors) total += e.weight;
  uint64_t ticket = rngs_[rule_index].below(total);
  for (const auto& e : errors) {
    if (ticket < e.weight) return e.err;
    ticket -= e.weight;
  }
  return errors.back().err;
}

Decision FaultEvaluator::evaluate(CallContext& call, SteadyClock::time_point now) {
  Decision d;
  const int nr = call.nr();
  if (nr < 0 || nr >= kMaxSyscallNr || !interesting_.test(nr)) return d;
  const auto since_arm = now - armed_at_;
  for (size_t i = 0; i < rules_.size(); ++i) {
    const FaultRule& rule = rules_[i];
    if (!rule.syscalls.test(nr)) continue;
    if (since_arm < rule.start_after) continue;
    if (rule.active_for && since_arm >= rule.start_after + *rule.active_for) continue;
    if (!filters_match(rule, call)) continue;
    uint64_t key = (static_cast<uint64_t>(static_cast<uint32_t>(call.tgid())) << 32) |
                   static_cast<uint32_t>(nr);
    uint64_t invocation = ++counters_[i][key];
    stats_[i].matched++;
    if (rule.when && !rule.when->matches(invocation)) continue;
    if (rule.max_hits && stats_[i].fired >= *rule.max_hits) continue;
    if (rule.probability && !(rngs_[i].uniform() < *rule.probability)) continue;
    stats_[i].fired++;
    d.rule = static_cast<int>(i);
    d.action = &rule.action;
    if (!rule.action.errors.empty()) d.err = pick_errno(i);
    return d;
  }
  return d;
}

}  // namespace syschaos
