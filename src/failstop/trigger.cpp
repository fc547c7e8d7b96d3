#include "failstop/trigger.hpp"

#include <charconv>
#include <cmath>

#include "core/syscall_table.hpp"

namespace syschaos::failstop {

std::string Trigger::to_string() const {
  switch (kind) {
    case Kind::kNow: return "now";
    case Kind::kAfter: return "after=" + format_duration(delay);
    case Kind::kAfterCpu: return "after_cpu=" + format_duration(cpu);
    case Kind::kAfterSyscall: return fmt::format("after_syscall={}:{}", syscall, count);
    case Kind::kTick: return fmt::format("every={},prob={}", format_duration(period), prob);
    case Kind::kRate: return fmt::format("rate={}/s", rate);
  }
  return "?";
}

namespace {

Result<Nanos> positive_duration(std::string_view text, std::string_view what) {
  auto d = parse_duration(text, "s");
  if (!d) return d.error().context(what);
  if (d->count() <= 0) return Error(fmt::format("{} must be longer than 0", what));
  return d;
}

Result<double> parse_double(std::string_view text, std::string_view what) {
  double v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || !std::isfinite(v))
    return Error(fmt::format("bad {} '{}'", what, text));
  return v;
}

}  // namespace

Result<double> parse_probability(std::string_view text) {
  bool percent = text.ends_with('%');
  auto v = parse_double(percent ? text.substr(0, text.size() - 1) : text, "probability");
  if (!v) return v.error();
  double p = percent ? *v / 100.0 : *v;
  if (p < 0 || p > 1) return Error(fmt::format("probability must be in [0, 1] (or 0%..100%), not {}", text));
  return p;
}

Result<Trigger> trigger_after(std::string_view duration) {
  auto d = parse_duration(duration, "s");
  if (!d) return d.error().context("--after");
  if (d->count() < 0) return Error("--after must not be negative");
  Trigger t;
  t.kind = Trigger::Kind::kAfter;
  t.delay = *d;
  return t;
}

Result<Trigger> trigger_after_cpu(std::string_view duration) {
  auto d = positive_duration(duration, "--after-cpu");
  if (!d) return d.error();
  Trigger t;
  t.kind = Trigger::Kind::kAfterCpu;
  t.cpu = *d;
  return t;
}

Result<Trigger> trigger_after_syscall(std::string_view spec) {
  size_t colon = spec.find(':');
  if (colon == std::string_view::npos)
    return Error(fmt::format("--after-syscall wants NAME:N (e.g. write:100), not '{}'", spec));
  std::string name(spec.substr(0, colon));
  auto nr = SyscallTable::native().number(name);
  if (!nr) return Error(fmt::format("--after-syscall: unknown syscall '{}'", name));
  std::string_view count = spec.substr(colon + 1);
  uint64_t n = 0;
  auto [end, ec] = std::from_chars(count.data(), count.data() + count.size(), n);
  if (ec != std::errc() || end != count.data() + count.size() || n == 0)
    return Error(fmt::format("--after-syscall: the count must be a whole number >= 1, not '{}'", count));
  Trigger t;
  t.kind = Trigger::Kind::kAfterSyscall;
  t.syscall = name;
  t.syscall_nr = *nr;
  t.count = n;
  return t;
}

Result<Trigger> trigger_tick(std::string_view period, std::string_view prob) {
  auto d = positive_duration(period, "--every");
  if (!d) return d.error();
  if (*d < std::chrono::milliseconds(1)) return Error("--every must be at least 1ms");
  auto p = parse_probability(prob);
  if (!p) return p.error().context("--prob");
  Trigger t;
  t.kind = Trigger::Kind::kTick;
  t.period = *d;
  t.prob = *p;
  return t;
}

Result<Trigger> trigger_rate(std::string_view rate) {
  auto r = parse_double(rate, "--rate");
  if (!r) return r.error();
  if (*r <= 0) return Error("--rate must be a positive number of failures per second");
  Trigger t;
  t.kind = Trigger::Kind::kRate;
  t.rate = *r;
  return t;
}

uint64_t first_success_tick(Rng& rng, double prob, uint64_t max_ticks) {
  for (uint64_t tick = 1; tick <= max_ticks; ++tick)
    if (rng.uniform() < prob) return tick;
  return 0;
}

Nanos exponential_delay(Rng& rng, double rate) {
  // Inverse transform; 1 - U is in (0, 1], so the log is finite.
  double seconds = -std::log(1.0 - rng.uniform()) / rate;
  return Nanos(static_cast<int64_t>(std::min(seconds, 1e9) * 1e9));
}

}  // namespace syschaos::failstop
