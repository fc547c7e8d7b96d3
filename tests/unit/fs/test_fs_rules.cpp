// ChaosFS rules without a mount: parsing both formats (syschaos YAML and IOChaos manifests),
// refusing bad input with a message naming the field, the engine's decisions (methods,
// path globs, percent, time window, several rules at once), mistakes, the delayed-reply
// queue, and the control protocol.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "fs/delayed_reply_queue.hpp"
#include "fs/fs_control_server.hpp"
#include "fs/fs_fault_rule.hpp"
#include "fs/fs_rule_engine.hpp"

namespace syschaos::fs {
namespace {

using namespace std::chrono_literals;

FsMethodSet methods(std::initializer_list<FsMethod> ms) {
  FsMethodSet s;
  for (auto m : ms) s.set(static_cast<size_t>(m));
  return s;
}

TEST(FsRuleParse, SyschaosYamlAllFields) {
  auto r = parse_fs_rules(R"(
faults:
  - name: slow
    methods: [write, fsync]
    path: ["*.db", "/mnt/x/**"]
    percent: 50
    latency: {delay: 10ms, jitter: 2ms}
    fault: "EIO*3|ENOSPC"
    attrOverride: {size: 0, perm: 0o444, kind: dir, mtime: {sec: 5, nsec: 6}, uid: 1}
    mistake: {filling: random, maxOccurrences: 2, maxLength: 16}
    after: 1s
    duration: 30s
)");
  ASSERT_TRUE(r.ok()) << r.error().message();
  ASSERT_EQ(r->size(), 1u);
  const auto& f = (*r)[0];
  EXPECT_EQ(f.name, "slow");
  EXPECT_EQ(f.methods, methods({FsMethod::kWrite, FsMethod::kFsync}));
  EXPECT_EQ(f.paths.size(), 2u);
  EXPECT_DOUBLE_EQ(f.percent, 50.0);
  EXPECT_EQ(f.latency->delay, 10ms);
  EXPECT_EQ(f.latency->jitter, 2ms);
  ASSERT_EQ(f.errnos.size(), 2u);
  EXPECT_EQ(f.errnos[0].err, EIO);
  EXPECT_EQ(f.errnos[0].weight, 3u);
  EXPECT_EQ(f.errnos[1].err, ENOSPC);
  EXPECT_EQ(*f.attr->size, 0u);
  EXPECT_EQ(*f.attr->perm, 0444u);
  EXPECT_EQ(*f.attr->kind, static_cast<mode_t>(S_IFDIR));
  EXPECT_EQ(f.attr->mtime->sec, 5);
  EXPECT_EQ(f.attr->mtime->nsec, 6u);
  EXPECT_EQ(f.mistake->filling, FsMistake::Filling::kRandom);
  EXPECT_EQ(f.mistake->max_occurrences, 2u);
  EXPECT_EQ(f.mistake->max_length, 16u);
  EXPECT_EQ(f.after, 1s);
  EXPECT_EQ(*f.duration, 30s);
}

TEST(FsRuleParse, ErrnoForms) {
  for (const char* form : {"fault: EIO", "fault: 5", "fault: [EIO]", "fault: {EIO: 1}", "errno: eio"}) {
    auto r = parse_fs_rules(std::string("- ") + form + "\n");
    ASSERT_TRUE(r.ok()) << form << ": " << r.error().message();
    EXPECT_EQ((*r)[0].errnos.at(0).err, EIO) << form;
  }
}

TEST(FsRuleParse, IOChaosManifests) {
  auto r = parse_fs_rules(R"(
apiVersion: chaos-mesh.org/v1alpha1
kind: IOChaos
metadata: {name: io-latency, namespace: chaos}
spec:
  action: latency
  mode: one
  selector: {labelSelectors: {app: etcd}}
  volumePath: /var/run/etcd
  path: /var/run/etcd/**/*
  delay: 100ms
  percent: 50
  containerNames: [etcd]
  duration: 400s
---
apiVersion: chaos-mesh.org/v1alpha1
kind: IOChaos
spec:
  action: attrOverride
  volumePath: /data
  attr: {perm: 72, atime: {sec: 1, nsec: 2}, kind: regularFile}
---
apiVersion: chaos-mesh.org/v1alpha1
kind: IOChaos
spec:
  action: mistake
  volumePath: /data
  methods: [READ, WRITE]
  mistake: {filling: zero, maxOccurrences: 1, maxLength: 10}
---
kind: IOChaos
spec: {action: fault, volumePath: /data, errno: 28, methods: [write]}
)");
  ASSERT_TRUE(r.ok()) << r.error().message();
  ASSERT_EQ(r->size(), 4u);
  EXPECT_EQ((*r)[0].name, "io-latency");
  EXPECT_EQ((*r)[0].latency->delay, 100ms);
  EXPECT_EQ((*r)[0].volume_path, "/var/run/etcd");
  EXPECT_EQ((*r)[0].container_names, std::vector<std::string>{"etcd"});
  EXPECT_EQ(*(*r)[0].duration, 400s);
  EXPECT_EQ((*r)[0].paths.at(0), "/var/run/etcd/**/*");
  EXPECT_EQ(*(*r)[1].attr->perm, 72u);  // Chaos Mesh writes perm in decimal
  EXPECT_EQ(*(*r)[1].attr->kind, static_cast<mode_t>(S_IFREG));
  EXPECT_EQ((*r)[2].methods, methods({FsMethod::kRead, FsMethod::kWrite}));
  EXPECT_EQ((*r)[3].errnos.at(0).err, ENOSPC);
}

TEST(FsRuleParse, BadInputNamesTheProblem) {
  struct Case {
    const char* yaml;
    const char* expect;
  };
  for (auto c : std::vector<Case>{
           {"- methods: [open]\n", "needs an action"},
           {"- methods: [opn]\n  fault: EIO\n", "opn"},
           {"- fault: ENOTANERRNO\n", "ENOTANERRNO"},
           {"- fault: EIO\n  percent: 101\n", "percent"},
           {"- latency: fast\n", "latency"},
           {"- attrOverride: {colour: red}\n", "colour"},
           {"- attrOverride: {kind: banana}\n", "banana"},
           {"- mistake: {maxLength: 3}\n", "filling"},
           {"- mistake: {filling: zero}\n  methods: [open]\n", "read or write"},
           {"- fault: EIO\n  frobnicate: 1\n", "frobnicate"},
           {"kind: IOChaos\nspec: {action: latency, volumePath: /d}\n", "delay"},
           {"kind: IOChaos\nspec: {action: explode, volumePath: /d}\n", "explode"},
           {"kind: IOChaos\nspec: {action: fault, errno: 5}\n", "volumePath"},
           {"kind: PodChaos\nspec: {}\n", "PodChaos"},
           {"faults: [\n", "YAML"},
       }) {
    auto r = parse_fs_rules(c.yaml);
    ASSERT_FALSE(r.ok()) << c.yaml;
    EXPECT_NE(r.error().message().find(c.expect), std::string::npos) << c.yaml << " -> " << r.error().message();
  }
}

TEST(FsRuleEngine, MethodsPathsAndMerge) {
  FsRuleEngine e(7);
  e.set_mountpoint("/mnt/m");
  FsFaultRule a;
  a.methods = methods({FsMethod::kOpen});
  a.paths = {"*.db"};
  a.errnos = {{EIO, 1}};
  FsFaultRule b;
  b.methods = methods({FsMethod::kOpen, FsMethod::kRead});
  b.latency = FsLatency{5ms, 0ms};
  FsFaultRule c;
  c.paths = {"/mnt/m/etc/*"};
  c.attr = FsAttrOverride{};
  c.attr->size = 1;
  auto ids = e.set_rules({a, b, c});
  ASSERT_EQ(ids.size(), 3u);
  EXPECT_TRUE(e.wants(FsMethod::kOpen));
  EXPECT_TRUE(e.wants(FsMethod::kGetattr));  // rule c: all methods
  EXPECT_TRUE(e.affects_lookup_cache());
  int path_calls = 0;
  auto at = [&](std::string p) {
    return [&path_calls, p]() -> std::optional<std::string> { ++path_calls; return p; };
  };
  auto d = e.decide(FsMethod::kOpen, at("/x/y.db"));
  EXPECT_EQ(d.err, EIO);
  EXPECT_EQ(d.delay, 5ms);  // several rules at once
  EXPECT_FALSE(d.attr);
  EXPECT_EQ(path_calls, 1);  // the path is computed once per request
  d = e.decide(FsMethod::kOpen, at("/x/y.txt"));
  EXPECT_EQ(d.err, 0);
  EXPECT_EQ(d.delay, 5ms);
  d = e.decide(FsMethod::kGetattr, at("/etc/passwd"));
  ASSERT_TRUE(d.attr);
  EXPECT_EQ(*d.attr->size, 1u);
  d = e.decide(FsMethod::kGetattr, at("/etcx/passwd"));
  EXPECT_FALSE(d.attr);
  EXPECT_TRUE(e.remove_rule(ids[0]));
  EXPECT_FALSE(e.remove_rule(ids[0]));
  d = e.decide(FsMethod::kOpen, at("/x/y.db"));
  EXPECT_EQ(d.err, 0);
  auto st = e.status();
  ASSERT_EQ(st.size(), 2u);
  EXPECT_EQ(st[0].counters.delayed, 3u);
  e.set_rules({});
  EXPECT_FALSE(e.wants(FsMethod::kOpen));
  EXPECT_FALSE(e.affects_lookup_cache());
}

TEST(FsRuleEngine, GlobRules) {
  EXPECT_TRUE(fs_path_matches("*.db", "/mnt", "/a/b/c.db"));  // '*' crosses '/'
  EXPECT_TRUE(fs_path_matches("a/*", "/mnt", "/a/b"));
  EXPECT_FALSE(fs_path_matches("a/*", "/mnt", "/b/a/x"));
  EXPECT_TRUE(fs_path_matches("/mnt/**", "/mnt", "/deep/er/x"));
  EXPECT_FALSE(fs_path_matches("/other/*", "/mnt", "/x"));
  EXPECT_TRUE(fs_path_matches("/x", "/", "/x"));
}

TEST(FsRuleEngine, PercentAndWindow) {
  FsRuleEngine e(1);
  FsFaultRule r;
  r.methods = methods({FsMethod::kRead});
  r.errnos = {{EIO, 1}};
  r.percent = 25;
  e.set_rules({r});
  int hits = 0;
  for (int i = 0; i < 4000; ++i) hits += e.decide(FsMethod::kRead, [] { return std::string("/"); }).err != 0;
  EXPECT_GT(hits, 850);
  EXPECT_LT(hits, 1150);
  r.percent = 100;
  r.after = 100ms;
  r.duration = 100ms;
  e.set_rules({r});
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(e.decide(FsMethod::kRead, [] { return std::string("/"); }).err, 0);
  std::this_thread::sleep_until(t0 + 140ms);
  EXPECT_EQ(e.decide(FsMethod::kRead, [] { return std::string("/"); }).err, EIO);
  std::this_thread::sleep_until(t0 + 260ms);
  EXPECT_EQ(e.decide(FsMethod::kRead, [] { return std::string("/"); }).err, 0);
}

TEST(FsRuleEngine, MistakesStayWithinTheirBounds) {
  FsRuleEngine e(3);
  FsFaultRule r;
  r.mistake = FsMistake{FsMistake::Filling::kZero, 3, 5};
  e.set_rules({r});
  EXPECT_FALSE(e.wants(FsMethod::kOpen));  // a mistake-only rule: read and write only
  for (int i = 0; i < 200; ++i) {
    auto d = e.decide(FsMethod::kWrite, [] { return std::string("/"); });
    std::string buf(1000, 'x');
    EXPECT_TRUE(e.corrupt(d, buf.data(), buf.size()));
    size_t zeros = std::count(buf.begin(), buf.end(), '\0');
    EXPECT_GE(zeros, 1u);
    EXPECT_LE(zeros, 15u);
  }
  EXPECT_EQ(e.status()[0].counters.corrupted, 200u);
}

// The N-th corruption of a rule falls at the same places for the same seed, whichever
// thread makes it; another seed puts it elsewhere.
TEST(FsRuleEngine, MistakePositionsFollowTheSeedNotTheThread) {
  auto corrupted_buffers = [](uint64_t seed, bool other_threads) {
    FsRuleEngine e(seed);
    FsFaultRule r;
    r.mistake = FsMistake{FsMistake::Filling::kRandom, 3, 64};
    e.set_rules({r});
    std::vector<std::string> out;
    for (int i = 0; i < 20; ++i) {
      auto d = e.decide(FsMethod::kRead, [] { return std::string("/"); });
      std::string buf(4096, 'x');
      auto work = [&] { e.corrupt(d, buf.data(), buf.size()); };
      if (other_threads) std::thread(work).join();  // a new thread each time
      else work();
      out.push_back(buf);
    }
    return out;
  };
  auto a = corrupted_buffers(11, false);
  EXPECT_EQ(a, corrupted_buffers(11, true));
  EXPECT_NE(a, corrupted_buffers(12, false));
}

TEST(DelayedReplyQueue, RunsInDeadlineOrderWithoutBlockingTheCaller) {
  std::vector<int> order;
  std::mutex mu;
  {
    DelayedReplyQueue q(2);
    auto now = DelayedReplyQueue::Clock::now();
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 5; i >= 1; --i)
      q.schedule(now + std::chrono::milliseconds(20 * i), [&, i] { std::lock_guard lk(mu); order.push_back(i); });
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 10ms);  // scheduling never waits
    std::this_thread::sleep_for(150ms);
  }
  EXPECT_EQ(order, (std::vector<int>{1, 2, 3, 4, 5}));
}

TEST(DelayedReplyQueue, DestructionAnswersEverythingPending) {
  std::atomic<int> ran{0};
  auto t0 = std::chrono::steady_clock::now();
  {
    DelayedReplyQueue q(1);
    for (int i = 0; i < 10; ++i) q.schedule(DelayedReplyQueue::Clock::now() + 1h, [&] { ++ran; });
  }
  EXPECT_EQ(ran.load(), 10);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
}

TEST(FsControlProtocol, ListAddRemoveReplace) {
  FsRuleEngine e(9);
  auto add = FsControlServer::handle(R"({"cmd":"add","rules":"- methods: [open]\n  fault: EIO\n"})", e, "/m");
  EXPECT_EQ(add, R"({"ids":[1],"ok":true})");
  auto list = FsControlServer::handle(R"({"cmd":"list"})", e, "/m");
  EXPECT_NE(list.find("open fault=EIO"), std::string::npos) << list;
  EXPECT_NE(list.find(R"("seed":9)"), std::string::npos) << list;
  auto rep = FsControlServer::handle(R"({"cmd":"replace","rules":"- latency: 1ms\n"})", e, "/m");
  EXPECT_EQ(rep, R"({"ids":[2],"ok":true})");
  EXPECT_EQ(e.status().size(), 1u);
  EXPECT_EQ(FsControlServer::handle(R"({"cmd":"remove","id":1})", e, "/m"), R"({"error":"no rule 1","ok":false})");
  EXPECT_EQ(FsControlServer::handle(R"({"cmd":"remove","id":2})", e, "/m"), R"({"ok":true})");
  auto bad = FsControlServer::handle(R"({"cmd":"add","rules":"- fault: EBOGUS\n"})", e, "/m");
  EXPECT_NE(bad.find(R"("ok":false)"), std::string::npos);
  EXPECT_NE(bad.find("EBOGUS"), std::string::npos);
  EXPECT_TRUE(e.status().empty());
  EXPECT_NE(FsControlServer::handle("not json", e, "/m").find("bad request"), std::string::npos);
  EXPECT_NE(FsControlServer::handle(R"({"cmd":"explode"})", e, "/m").find("unknown cmd"), std::string::npos);
}

}  // namespace
}  // namespace syschaos::fs
