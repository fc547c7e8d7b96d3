// The fault model's semantics, through the fake engine: the same evaluator the ptrace
// engine uses, fed with scripted calls.
#include <gtest/gtest.h>

#include <cerrno>
#include <map>

#include "core/fault_parser.hpp"
#include "core/rule_file.hpp"
#include "inject/fake/fake_engine.hpp"

using namespace syschaos;
using namespace std::chrono_literals;

namespace {

class NoTarget final : public Target {
 public:
  std::string describe() const override { return "script"; }
  Result<std::vector<pid_t>> processes() override { return std::vector<pid_t>{}; }
};

RuleSet rules(std::initializer_list<const char*> texts) {
  RuleSet out;
  for (auto t : texts) {
    auto r = parse_fault(t);
    EXPECT_TRUE(r.ok()) << t << ": " << (r.ok() ? "" : r.error().message());
    if (r.ok()) out.push_back(*r);
  }
  return out;
}

FakeCall call(const char* syscall, pid_t tgid = 1, pid_t tid = 1, Nanos at = 0ns) {
  FakeCall c;
  c.syscall = syscall;
  c.tgid = tgid;
  c.tid = tid;
  c.at = at;
  return c;
}

struct Run {
  std::vector<FakeOutcome> outcomes;
  EngineReport report;
};

Run run(const RuleSet& rs, std::vector<FakeCall> script, uint64_t seed = 1, bool dry = false) {
  FaultEvaluator ev(rs, seed);
  FakeEngine engine(std::move(script));
  NoTarget target;
  EngineOptions opts;
  opts.dry_run = dry;
  auto rep = engine.run(target, ev, opts);
  EXPECT_TRUE(rep.ok());
  return {engine.outcomes(), *rep};
}

std::vector<int> injected_indices(const Run& r) {
  std::vector<int> out;
  for (size_t i = 0; i < r.outcomes.size(); ++i)
    if (r.outcomes[i].injected) out.push_back(static_cast<int>(i) + 1);
  return out;
}

}  // namespace

TEST(FaultEvaluator, EveryCallWithoutWhen) {
  auto r = run(rules({"read:error=EIO"}), {call("read"), call("write"), call("read")});
  EXPECT_EQ(injected_indices(r), (std::vector<int>{1, 3}));
  EXPECT_EQ(r.outcomes[0].err, EIO);
  EXPECT_EQ(r.report.rule_stats[0].matched, 2u);
  EXPECT_EQ(r.report.rule_stats[0].fired, 2u);
}

TEST(FaultEvaluator, WhenCountsPerSyscallAndPerProcess) {
  // when=2+ on read,write: each syscall has its own count, each process too.
  std::vector<FakeCall> s = {call("read", 1, 1), call("write", 1, 1), call("read", 1, 2),
                             call("read", 2, 5), call("write", 1, 1), call("read", 2, 5)};
  auto r = run(rules({"read,write:error=EIO:when=2+"}), s);
  // call 3: 2nd read of process 1 (other thread, same process); call 5: 2nd write of 1;
  // call 6: 2nd read of process 2.
  EXPECT_EQ(injected_indices(r), (std::vector<int>{3, 5, 6}));
}

TEST(FaultEvaluator, ForkedChildStartsItsOwnCountAndExitForgets) {
  std::vector<FakeCall> s = {call("read", 1), call("read", 1), call("read", 7), call("read", 7)};
  s[1].exits_process = true;
  s.push_back(call("read", 1));  // pid 1 reused after exit: a fresh count
  auto r = run(rules({"read:error=EIO:when=2"}), s);
  EXPECT_EQ(injected_indices(r), (std::vector<int>{2, 4}));
}

TEST(FaultEvaluator, WhenRangeWithStep) {
  std::vector<FakeCall> s(12, call("read"));
  auto r = run(rules({"read:error=EIO:when=2..9+3"}), s);
  EXPECT_EQ(injected_indices(r), (std::vector<int>{2, 5, 8}));
}

TEST(FaultEvaluator, MaxHits) {
  std::vector<FakeCall> s(10, call("read"));
  auto r = run(rules({"read:error=EIO:when=3+:max=2"}), s);
  EXPECT_EQ(injected_indices(r), (std::vector<int>{3, 4}));
}

TEST(FaultEvaluator, ProbabilityIsSeededAndRoughlyRight) {
  std::vector<FakeCall> s(20000, call("read"));
  auto a = run(rules({"read:error=EIO:prob=0.1"}), s, 42);
  auto b = run(rules({"read:error=EIO:prob=0.1"}), s, 42);
  auto c = run(rules({"read:error=EIO:prob=0.1"}), s, 43);
  EXPECT_EQ(injected_indices(a), injected_indices(b));
  EXPECT_NE(injected_indices(a), injected_indices(c));
  double rate = static_cast<double>(a.report.rule_stats[0].fired) / s.size();
  EXPECT_NEAR(rate, 0.1, 0.01);
  auto none = run(rules({"read:error=EIO:prob=0"}), s, 42);
  EXPECT_EQ(none.report.rule_stats[0].fired, 0u);
  auto all = run(rules({"read:error=EIO:prob=1"}), s, 42);
  EXPECT_EQ(all.report.rule_stats[0].fired, s.size());
}

TEST(FaultEvaluator, WeightedErrnos) {
  std::vector<FakeCall> s(8000, call("read"));
  auto r = run(rules({"read:error=EIO*3|EINTR"}), s, 7);
  std::map<int, int> counts;
  for (const auto& o : r.outcomes) counts[o.err]++;
  EXPECT_EQ(counts.size(), 2u);
  EXPECT_NEAR(counts[EIO] / 8000.0, 0.75, 0.03);
  EXPECT_NEAR(counts[EINTR] / 8000.0, 0.25, 0.03);
}

TEST(FaultEvaluator, TimeWindow) {
  std::vector<FakeCall> s;
  for (int ms : {0, 900, 1000, 1500, 2999, 3000, 5000}) s.push_back(call("read", 1, 1, std::chrono::milliseconds(ms)));
  auto r = run(rules({"read:error=EIO:after=1s:for=2s"}), s);
  EXPECT_EQ(injected_indices(r), (std::vector<int>{3, 4, 5}));
  // Calls outside the window are not counted for when=.
  auto w = run(rules({"read:error=EIO:after=1s:when=2"}), s);
  EXPECT_EQ(injected_indices(w), (std::vector<int>{4}));
}

TEST(FaultEvaluator, PathFdAndCommFilters) {
  auto open_of = [](const char* path) {
    auto c = call("openat");
    c.paths = {path};
    return c;
  };
  auto r = run(rules({"openat:error=ENOENT:path=*/index.html"}),
               {open_of("/usr/share/nginx/html/index.html"), open_of("/etc/passwd"), open_of("/index.html")});
  EXPECT_EQ(injected_indices(r), (std::vector<int>{1, 3}));

  auto sock = call("read");
  sock.args[0] = 5;
  sock.fd_kinds = {{5, FdKind::socket}};
  auto file = call("read");
  file.args[0] = 3;
  file.fd_kinds = {{3, FdKind::file}};
  auto rf = run(rules({"read:error=ECONNRESET:fd=socket"}), {file, sock, file});
  EXPECT_EQ(injected_indices(rf), (std::vector<int>{2}));
  auto rn = run(rules({"read:error=EIO:fd=3"}), {file, sock});
  EXPECT_EQ(injected_indices(rn), (std::vector<int>{1}));

  auto worker = call("read");
  worker.comm = "nginx-worker";
  auto master = call("read");
  master.comm = "bash";
  auto rc = run(rules({"read:error=EIO:comm=nginx*"}), {master, worker});
  EXPECT_EQ(injected_indices(rc), (std::vector<int>{2}));
}

TEST(FaultEvaluator, FilteredCallsAreNotCounted) {
  auto open_of = [](const char* path) {
    auto c = call("openat");
    c.paths = {path};
    return c;
  };
  auto r = run(rules({"openat:error=ENOENT:path=/etc/*:when=2"}),
               {open_of("/etc/a"), open_of("/tmp/x"), open_of("/etc/b"), open_of("/etc/c")});
  EXPECT_EQ(injected_indices(r), (std::vector<int>{3}));
}

TEST(FaultEvaluator, FirstFiringRuleWins) {
  std::vector<FakeCall> s(4, call("read"));
  auto r = run(rules({"read:error=EIO:when=2", "read:error=EINTR"}), s);
  ASSERT_EQ(r.outcomes.size(), 4u);
  EXPECT_EQ(r.outcomes[0].err, EINTR);
  EXPECT_EQ(r.outcomes[1].err, EIO);
  EXPECT_EQ(r.outcomes[1].rule, 0);
  EXPECT_EQ(r.outcomes[2].err, EINTR);
  // Both rules counted the calls they matched; the second fired only when the first did not.
  EXPECT_EQ(r.report.rule_stats[0].matched, 4u);
  EXPECT_EQ(r.report.rule_stats[1].matched, 3u);
  EXPECT_EQ(r.report.rule_stats[1].fired, 3u);
}

TEST(FaultEvaluator, DryRunCountsButDoesNothing) {
  std::vector<FakeCall> s(3, call("read"));
  auto r = run(rules({"read:error=EIO"}), s, 1, /*dry=*/true);
  EXPECT_TRUE(injected_indices(r).empty());
  EXPECT_EQ(r.report.rule_stats[0].fired, 3u);
}

TEST(FaultEvaluator, ActionsOtherThanErrors) {
  auto r = run(rules({"getpid:retval=7:signal=SIGUSR1", "read:delay_enter=1s:delay_exit=5ms"}),
               {call("getpid"), call("read")});
  EXPECT_EQ(*r.outcomes[0].retval, 7);
  EXPECT_EQ(r.outcomes[0].signal, SIGUSR1);
  EXPECT_EQ(r.outcomes[1].delay, 1005ms);
  EXPECT_EQ(r.outcomes[1].err, 0);
}

TEST(FaultEvaluator, WindowsCloseTime) {
  FaultEvaluator ev(rules({"read:error=EIO:after=1s:for=2s", "write:error=EIO:for=5s"}), 1);
  auto t0 = SteadyClock::now();
  ev.arm(t0);
  EXPECT_EQ(*ev.all_windows_closed(), t0 + 5s);
  FaultEvaluator open_ended(rules({"read:error=EIO"}), 1);
  EXPECT_FALSE(open_ended.all_windows_closed());
}
