// Network faults and crashes of targets in network namespaces of their own, with no Docker:
// each test makes two namespaces with `ip netns add` (names carry the test's pid, removed on
// every exit path by RAII, and at the next start when a killed run left them), lo up in
// both, and a veth pair between them with addresses from 198.18.0.0/15 (the benchmark
// range: the traffic stays inside these namespaces).
//   - the same 127.0.0.1:PORT in both namespaces: omission and crash of the one in A leave
//     the one in B untouched (the BPF maps key endpoints by namespace cookie);
//   - across the veth: duplication on the veth end of A (the receiver in B counts the
//     datagrams it gets twice), omission of A's outgoing and of B's incoming datagrams;
//   - a target bound to 0.0.0.0:P (omission, crash): another process of its namespace
//     sending to port P of the other namespace is not hit;
//   - SIGKILL of syschaos during a namespace-aware crash blackhole or omission: nothing is
//     left, the server in A answers again.
#include <fmt/format.h>

#include <array>
#include <cstdio>
#include <sstream>

#include "failstop_test_support.hpp"

namespace syschaos::testing {
namespace {

constexpr const char* kAddrA = "198.18.0.1";
constexpr const char* kAddrB = "198.18.0.2";

RunResult ip(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"ip"};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_command(argv, std::chrono::seconds(10));
}

// Namespaces of earlier runs that were killed before their destructors ran, and the test
// processes (servers, clients: their own process groups outlive the runner) left in them.
void remove_stale_namespaces() {
  std::istringstream list(ip({"netns", "list"}).out);
  std::string line;
  while (std::getline(list, line)) {
    std::string name = line.substr(0, line.find(' '));
    if (!name.starts_with("syschaos-fs-")) continue;
    pid_t owner = std::atoi(name.c_str() + 12);
    if (owner <= 0 || owner == ::getpid() || ::kill(owner, 0) == 0 || errno != ESRCH) continue;
    std::istringstream pids(ip({"netns", "pids", name}).out);
    for (pid_t pid; pids >> pid;)
      if (pid > 1) ::kill(pid, SIGKILL);
    ip({"netns", "del", name});
  }
}

// Two network namespaces joined by a veth pair: A (198.18.0.1/30 on veth end ea) and B
// (198.18.0.2/30 on eb). Deleting a namespace destroys its veth end, and the other with it.
class NamespacePair {
 public:
  NamespacePair() {
    remove_stale_namespaces();
    static int n = 0;
    std::string stem = fmt::format("syschaos-fs-{}-{}", ::getpid(), n);
    a = stem + "a";
    b = stem + "b";
    ea = fmt::format("fsa{}-{}", ::getpid() % 100000, n);  // at most 15 characters
    eb = fmt::format("fsb{}-{}", ::getpid() % 100000, n);
    ok = run_all({{"netns", "add", a},
                  {"netns", "add", b},
                  {"link", "add", ea, "netns", a, "type", "veth", "peer", "name", eb, "netns", b},
                  {"-n", a, "addr", "add", std::string(kAddrA) + "/30", "dev", ea},
                  {"-n", b, "addr", "add", std::string(kAddrB) + "/30", "dev", eb},
                  {"-n", a, "link", "set", "lo", "up"},
                  {"-n", b, "link", "set", "lo", "up"},
                  {"-n", a, "link", "set", ea, "up"},
                  {"-n", b, "link", "set", eb, "up"}});
    ++n;
  }
  ~NamespacePair() {
    ip({"netns", "del", a});
    ip({"netns", "del", b});
  }
  NamespacePair(const NamespacePair&) = delete;
  NamespacePair& operator=(const NamespacePair&) = delete;

  // argv run inside namespace `ns` (ip netns exec execs it: the pid is the program's).
  static std::vector<std::string> in(const std::string& ns, std::vector<std::string> argv) {
    argv.insert(argv.begin(), {"ip", "netns", "exec", ns});
    return argv;
  }

  std::string a, b, ea, eb;
  bool ok = false;
  std::string error;

 private:
  bool run_all(const std::vector<std::vector<std::string>>& commands) {
    for (const auto& args : commands) {
      RunResult r = ip(args);
      if (r.exit_code != 0) {
        error = "ip";
        for (const auto& arg : args) error += " " + arg;
        error += ": " + r.err;
        return false;
      }
    }
    return true;
  }
};

struct Received {
  unsigned long received = 0, distinct = 0, duplicates = 0;
};

Received parse_received(const std::string& out) {
  Received r;
  size_t at = out.find("received");
  if (at == std::string::npos) return r;
  std::istringstream in(out.substr(at));
  std::string word;
  in >> word >> r.received >> word >> r.distinct >> word >> r.duplicates;
  return r;
}

// One UDP flow: a receiver bound to recv_addr:port in recv_ns, a sender in send_ns sending
// `count` numbered datagrams to it (at send_addr when set: recv_addr may be 0.0.0.0).
struct Flow {
  std::string send_ns, recv_ns, recv_addr;
  int port = 0;
  int count = 3000;
  std::string send_addr = "";
};

// Which process of a flow syschaos acts on.
enum class Victim { kSender, kReceiver };

struct FlowRun {
  std::vector<Received> received;  // per flow
  std::string syschaos_err;
  int syschaos_exit = -1;
};

// Starts every flow's receiver and sender (waiting for a go file), starts `syschaos failstop
// ARGS --pid <victim of flow 0>`, waits until it reports its endpoints, optionally SIGKILLs
// it, then lets all senders go at once and collects what each receiver got.
FlowRun run_flows(const std::vector<Flow>& flows, Victim victim, const std::vector<std::string>& syschaos_args,
                  bool kill_syschaos_first = false) {
  FlowRun run;
  std::string dir = temp_dir();
  std::string go = dir + "/go";
  std::vector<std::unique_ptr<BackgroundProcess>> receivers, senders;
  for (const Flow& f : flows) {
    receivers.push_back(std::make_unique<BackgroundProcess>(NamespacePair::in(
        f.recv_ns, {prog("failstop_udp"), "recv", std::to_string(f.port), "1000", f.recv_addr})));
    EXPECT_TRUE(eventually([&] { return receivers.back()->out().find("ready") != std::string::npos; },
                           std::chrono::seconds(5)))
        << receivers.back()->err();
    senders.push_back(std::make_unique<BackgroundProcess>(NamespacePair::in(
        f.send_ns,
        {prog("failstop_udp"), "send", std::to_string(f.port), std::to_string(f.count), go,
         f.send_addr.empty() ? f.recv_addr : f.send_addr})));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // the senders have bound
  pid_t target = victim == Victim::kSender ? senders[0]->pid() : receivers[0]->pid();
  std::vector<std::string> argv = {bin(), "failstop"};
  argv.insert(argv.end(), syschaos_args.begin(), syschaos_args.end());
  argv.insert(argv.end(), {"--pid", std::to_string(target), "--seed", "11"});
  BackgroundProcess syschaos(argv);
  EXPECT_TRUE(eventually([&] { return syschaos.err().find("endpoint(s))") != std::string::npos; },
                         std::chrono::seconds(10)))
      << syschaos.err();
  if (kill_syschaos_first) {
    syschaos.signal(SIGKILL);
    syschaos.wait();
  }
  std::ofstream(go).put('x');
  for (size_t i = 0; i < flows.size(); ++i) {
    EXPECT_EQ(senders[i]->wait(std::chrono::seconds(30)), 0) << senders[i]->err();
    EXPECT_NE(senders[i]->out().find("errors 0"), std::string::npos) << senders[i]->out();  // silent drops
    EXPECT_EQ(receivers[i]->wait(std::chrono::seconds(90)), 0) << receivers[i]->err();
    run.received.push_back(parse_received(receivers[i]->out()));
  }
  if (!kill_syschaos_first) {
    syschaos.signal(SIGTERM);
    run.syschaos_exit = syschaos.wait();
  }
  run.syschaos_err = syschaos.err();
  return run;
}

// "dropped D of S outgoing and D2 of S2 incoming packet(s)" -> {D, S, D2, S2}.
std::array<unsigned long, 4> drop_counters(const std::string& err) {
  std::array<unsigned long, 4> c{};
  size_t at = err.find("dropped ");
  if (at == std::string::npos) return c;
  std::sscanf(err.c_str() + at, "dropped %lu of %lu outgoing and %lu of %lu incoming", &c[0], &c[1], &c[2], &c[3]);
  return c;
}

#define REQUIRE_NAMESPACES(pair) ASSERT_TRUE((pair).ok) << (pair).error

TEST(FailstopNetns, OmissionHitsOnlyTheTargetsNamespace) {
  NamespacePair ns;
  REQUIRE_NAMESPACES(ns);
  int port = test_port(20);
  // The same 127.0.0.1:port receives in A and in B; syschaos drops 30% of what A's receives.
  std::vector<Flow> flows = {{ns.a, ns.a, "127.0.0.1", port, 3000}, {ns.b, ns.b, "127.0.0.1", port, 3000}};
  FlowRun run = run_flows(flows, Victim::kReceiver, {"omit", "--drop", "30%", "--direction", "in"});
  EXPECT_EQ(run.syschaos_exit, 0) << run.syschaos_err;
  std::fprintf(stderr, "measured: A received %lu of 3000, B %lu of 3000\n", run.received[0].distinct,
               run.received[1].distinct);
  EXPECT_NEAR(static_cast<double>(run.received[0].distinct) / 3000.0, 0.70, 0.05) << run.syschaos_err;
  EXPECT_EQ(run.received[1].distinct, 3000u) << "B's receiver on the same 127.0.0.1:" << port << " lost datagrams";
  // Only A's datagrams were even looked at: exactly the 3000 sent to it.
  auto c = drop_counters(run.syschaos_err);
  EXPECT_EQ(c[3], 3000u) << run.syschaos_err;
  EXPECT_EQ(c[2], 3000u - run.received[0].distinct) << run.syschaos_err;
}

// A target bound to 0.0.0.0:P. Its endpoints are each address of its namespace, not a
// wildcard: another process of the SAME namespace sending to port P of the other
// namespace (a different server there) is not the target's traffic and loses nothing.
TEST(FailstopNetns, OmissionOfAWildcardServerSparesOtherTrafficToItsPort) {
  NamespacePair ns;
  REQUIRE_NAMESPACES(ns);
  int port = test_port(29);
  std::vector<Flow> flows = {{ns.a, ns.a, "0.0.0.0", port, 3000, "127.0.0.1"}, {ns.a, ns.b, kAddrB, port, 3000}};
  FlowRun run = run_flows(flows, Victim::kReceiver, {"omit", "--drop", "30%", "--direction", "in"});
  EXPECT_EQ(run.syschaos_exit, 0) << run.syschaos_err;
  std::fprintf(stderr, "measured: A's wildcard server received %lu of 3000, B's server (from A) %lu of 3000\n",
               run.received[0].distinct, run.received[1].distinct);
  EXPECT_NEAR(static_cast<double>(run.received[0].distinct) / 3000.0, 0.70, 0.05) << run.syschaos_err;
  EXPECT_EQ(run.received[1].distinct, 3000u) << "A's datagrams to " << kAddrB << ":" << port << " were taken for the target's";
  auto c = drop_counters(run.syschaos_err);
  EXPECT_EQ(c[3], 3000u) << run.syschaos_err;
}

TEST(FailstopNetns, OmissionAcrossVethOutgoingAndIncoming) {
  NamespacePair ns;
  REQUIRE_NAMESPACES(ns);
  // Outgoing: A's sender loses 30% at egress in A (before the veth).
  FlowRun out = run_flows({{ns.a, ns.b, kAddrB, test_port(21), 3000}}, Victim::kSender,
                          {"omit", "--drop", "30%", "--direction", "out"});
  std::fprintf(stderr, "measured: outgoing over the veth, %lu of 3000 arrived\n", out.received[0].distinct);
  EXPECT_NEAR(static_cast<double>(out.received[0].distinct) / 3000.0, 0.70, 0.05) << out.syschaos_err;
  EXPECT_EQ(drop_counters(out.syschaos_err)[1], 3000u) << out.syschaos_err;
  // Incoming: B's receiver loses 30% at ingress in B (they came over the veth: egress in A
  // matched nothing).
  FlowRun in = run_flows({{ns.a, ns.b, kAddrB, test_port(22), 3000}}, Victim::kReceiver,
                         {"omit", "--drop", "30%", "--direction", "in"});
  std::fprintf(stderr, "measured: incoming over the veth, %lu of 3000 arrived\n", in.received[0].distinct);
  EXPECT_NEAR(static_cast<double>(in.received[0].distinct) / 3000.0, 0.70, 0.05) << in.syschaos_err;
  EXPECT_EQ(drop_counters(in.syschaos_err)[3], 3000u) << in.syschaos_err;
}

TEST(FailstopNetns, DuplicationOnAVethEnd) {
  NamespacePair ns;
  REQUIRE_NAMESPACES(ns);
  // --interface names the veth end inside the sender's namespace (not syschaos's).
  FlowRun run = run_flows({{ns.a, ns.b, kAddrB, test_port(23), 3000}}, Victim::kSender,
                          {"duplicate", "--fraction", "30%", "--interface", ns.ea});
  EXPECT_EQ(run.syschaos_exit, 0) << run.syschaos_err;
  const Received& r = run.received[0];
  std::fprintf(stderr, "measured: %lu distinct, %lu twice (of 3000) over the veth\n", r.distinct, r.duplicates);
  EXPECT_EQ(r.distinct, 3000u) << run.syschaos_err;
  EXPECT_NEAR(static_cast<double>(r.duplicates) / 3000.0, 0.30, 0.05) << run.syschaos_err;
  EXPECT_EQ(r.received, r.distinct + r.duplicates);
  // What syschaos counted is what arrived twice.
  EXPECT_NE(run.syschaos_err.find(fmt::format("duplicated {} of 3000", r.duplicates)), std::string::npos)
      << run.syschaos_err;
}

TEST(FailstopNetns, UnknownInterfaceInTheTargetsNamespaceIsAnError) {
  NamespacePair ns;
  REQUIRE_NAMESPACES(ns);
  // eb exists, but in B: for a target in A it is no interface of its.
  BackgroundProcess sleeper(NamespacePair::in(ns.a, {"sleep", "30"}));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  auto r = run_command({bin(), "failstop", "duplicate", "--fraction", "10%", "--interface", ns.eb, "--pid",
                        std::to_string(sleeper.pid()), "--duration", "1s"});
  EXPECT_EQ(r.exit_code, 2);  // bad input, nothing attached
  EXPECT_NE(r.err.find("no interface " + ns.eb + " in the network namespace"), std::string::npos) << r.err;
  sleeper.signal(SIGKILL);
}

TEST(FailstopNetns, SigkillDuringNamespaceOmissionOrDuplicationLeavesNothing) {
  NamespacePair ns;
  REQUIRE_NAMESPACES(ns);
  FlowRun omit = run_flows({{ns.a, ns.a, "127.0.0.1", test_port(24), 500}}, Victim::kReceiver,
                           {"omit", "--drop", "100%"}, true);
  EXPECT_EQ(omit.received[0].distinct, 500u);
  FlowRun dup = run_flows({{ns.a, ns.b, kAddrB, test_port(25), 500}}, Victim::kSender,
                          {"duplicate", "--fraction", "100%", "--interface", ns.ea}, true);
  EXPECT_EQ(dup.received[0].distinct, 500u);
  EXPECT_EQ(dup.received[0].duplicates, 0u);
}

// ---- crash ------------------------------------------------------------------------------

std::string ping_in(const std::string& netns, int port, const std::string& host = "127.0.0.1") {
  // A SYN into a blackhole gets no answer: give up after 1.5 s.
  return run_command(NamespacePair::in(netns, {"redis-cli", "-h", host, "-p", std::to_string(port), "ping"}),
                     std::chrono::milliseconds(1500))
      .out;
}

std::unique_ptr<BackgroundProcess> start_redis_in(const std::string& netns, int port,
                                                  const std::string& bind = "127.0.0.1") {
  auto redis = std::make_unique<BackgroundProcess>(NamespacePair::in(
      netns, {"redis-server", "--port", std::to_string(port), "--bind", bind, "--save", "", "--appendonly", "no",
              "--protected-mode", "no"}));
  if (!eventually([&] { return ping_in(netns, port, bind) == "PONG\n"; }, std::chrono::seconds(10))) return nullptr;
  return redis;
}

std::unique_ptr<BackgroundProcess> connected_client(const std::string& netns, int port, const std::string& go,
                                                    const std::string& addr = "127.0.0.1") {
  auto client = std::make_unique<BackgroundProcess>(NamespacePair::in(
      netns, {prog("failstop_client"), std::to_string(port), "PING\\r\\n", go, "2000", addr}));
  if (!eventually([&] { return client->out().find("first: ok") != std::string::npos; }, std::chrono::seconds(10)))
    return nullptr;
  return client;
}

std::string second_line(const BackgroundProcess& client) {
  std::string out = client.out();
  size_t at = out.find("second:");
  return at == std::string::npos ? out : out.substr(at);
}

TEST(FailstopNetns, CrashBlackholesOnlyTheTargetsNamespace) {
  NamespacePair ns;
  REQUIRE_NAMESPACES(ns);
  int port = test_port(26);
  auto redis_a = start_redis_in(ns.a, port);
  auto redis_b = start_redis_in(ns.b, port);
  ASSERT_TRUE(redis_a && redis_b);
  std::string dir = temp_dir();
  std::string go = dir + "/go", events = dir + "/events.jsonl";
  Capture capture_a(dir, "tcp port " + std::to_string(port), ns.a);
  Capture capture_b(dir, "tcp port " + std::to_string(port), ns.b);
  auto client_a = connected_client(ns.a, port, go);
  auto client_b = connected_client(ns.b, port, go);
  ASSERT_TRUE(client_a && client_b);
  BackgroundProcess syschaos(
      {bin(), "failstop", "crash", "--pid", std::to_string(redis_a->pid()), "--for", "5s", "--events", events});
  ASSERT_TRUE(wait_event(events, "fail")) << syschaos.err();
  std::ofstream(go).put('x');
  EXPECT_EQ(client_a->wait(std::chrono::seconds(10)), 0);
  EXPECT_EQ(client_b->wait(std::chrono::seconds(10)), 0);
  // A's server died without a word; B's, on the same 127.0.0.1:port, answered.
  EXPECT_EQ(second_line(*client_a), "second: timeout\n");
  EXPECT_EQ(second_line(*client_b).substr(0, 12), "second: data") << second_line(*client_b);
  EXPECT_EQ(ping_in(ns.b, port), "PONG\n");
  // A new connection to A's port: the SYN vanishes (no "refused"), during the blackhole.
  auto probe = run_command(NamespacePair::in(ns.a, {"redis-cli", "-p", std::to_string(port), "ping"}),
                           std::chrono::milliseconds(1500));
  EXPECT_EQ(probe.exit_code, -1) << "answered (refused?) instead of hanging: " << probe.out << probe.err;
  std::vector<std::string> seen_a = capture_a.stop(), seen_b = capture_b.stop();
  auto fin_rst = fin_or_rst_from(seen_a, port);
  EXPECT_TRUE(fin_rst.empty()) << fin_rst.size() << " FIN/RST from the dead server on A's lo, e.g. " << fin_rst[0];
  EXPECT_GE(seen_a.size(), 3u) << "the capture in A saw nothing";
  EXPECT_GE(seen_b.size(), 6u) << "B's exchange is on B's lo";
  EXPECT_EQ(redis_a->wait(std::chrono::seconds(5)), 128 + SIGKILL);
  EXPECT_EQ(syschaos.wait(std::chrono::seconds(20)), 0) << syschaos.err();
  // Lifted: A's port can serve again.
  auto again = start_redis_in(ns.a, port);
  EXPECT_TRUE(again);
}

TEST(FailstopNetns, CrashIsSilentForAPeerInAnotherNamespace) {
  NamespacePair ns;
  REQUIRE_NAMESPACES(ns);
  int port = test_port(28);
  // The server in A listens on A's veth address; its peer is in B, across the veth.
  auto redis_a = start_redis_in(ns.a, port, kAddrA);
  ASSERT_TRUE(redis_a);
  std::string dir = temp_dir();
  std::string go = dir + "/go", events = dir + "/events.jsonl";
  Capture wire(dir, "tcp port " + std::to_string(port), ns.b, ns.eb);  // what reaches B
  auto client = connected_client(ns.b, port, go, kAddrA);
  ASSERT_TRUE(client);
  BackgroundProcess syschaos(
      {bin(), "failstop", "crash", "--pid", std::to_string(redis_a->pid()), "--for", "5s", "--events", events});
  ASSERT_TRUE(wait_event(events, "fail")) << syschaos.err();
  std::ofstream(go).put('x');
  EXPECT_EQ(client->wait(std::chrono::seconds(10)), 0);
  EXPECT_EQ(second_line(*client), "second: timeout\n");
  // A new connection from B: its SYN is dropped at ingress in A (no socket there would
  // answer anyway: the kernel's RST is dropped at egress in A). It hangs, not refused.
  EXPECT_EQ(run_command(NamespacePair::in(ns.b, {"redis-cli", "-h", kAddrA, "-p", std::to_string(port), "ping"}),
                        std::chrono::milliseconds(1500))
                .exit_code,
            -1);
  std::vector<std::string> seen = wire.stop();
  auto fin_rst = fin_or_rst_from(seen, port);
  EXPECT_TRUE(fin_rst.empty()) << fin_rst.size() << " FIN/RST from the dead server on B's veth end, e.g. "
                               << fin_rst[0];
  EXPECT_GE(seen.size(), 3u) << "the capture on B's veth end saw nothing";
  EXPECT_EQ(syschaos.wait(std::chrono::seconds(20)), 0) << syschaos.err();
}

// A crashed server bound to 0.0.0.0:P in A: its peer in A (via 127.0.0.1) and a new
// connection to A's veth address hang, while a client in A talking to B's server on the
// same port P is untouched (the blackhole holds A's addresses, not a wildcard).
TEST(FailstopNetns, CrashOfAWildcardServerSparesOtherTrafficToItsPort) {
  NamespacePair ns;
  REQUIRE_NAMESPACES(ns);
  int port = test_port(30);
  auto redis_a = start_redis_in(ns.a, port, "0.0.0.0");
  auto redis_b = start_redis_in(ns.b, port, kAddrB);
  ASSERT_TRUE(redis_a && redis_b);
  std::string dir = temp_dir();
  std::string go = dir + "/go", events = dir + "/events.jsonl";
  auto peer = connected_client(ns.a, port, go);                 // A -> A's server
  auto other = connected_client(ns.a, port, go, kAddrB);        // A -> B's server, same port
  ASSERT_TRUE(peer && other);
  BackgroundProcess syschaos(
      {bin(), "failstop", "crash", "--pid", std::to_string(redis_a->pid()), "--for", "5s", "--events", events});
  ASSERT_TRUE(wait_event(events, "fail")) << syschaos.err();
  std::ofstream(go).put('x');
  EXPECT_EQ(peer->wait(std::chrono::seconds(10)), 0);
  EXPECT_EQ(other->wait(std::chrono::seconds(10)), 0);
  EXPECT_EQ(second_line(*peer), "second: timeout\n");
  EXPECT_EQ(second_line(*other).substr(0, 12), "second: data") << second_line(*other);
  // New connections from A: to B's server on port P, answered; to A's own veth address,
  // into the blackhole.
  EXPECT_EQ(ping_in(ns.a, port, kAddrB), "PONG\n");
  EXPECT_EQ(run_command(NamespacePair::in(ns.a, {"redis-cli", "-h", kAddrA, "-p", std::to_string(port), "ping"}),
                        std::chrono::milliseconds(1500))
                .exit_code,
            -1);
  EXPECT_EQ(syschaos.wait(std::chrono::seconds(20)), 0) << syschaos.err();
}

TEST(FailstopNetns, SigkillOfSyschaosDuringNamespaceCrashLiftsTheBlackhole) {
  NamespacePair ns;
  REQUIRE_NAMESPACES(ns);
  int port = test_port(27);
  auto redis_a = start_redis_in(ns.a, port);
  ASSERT_TRUE(redis_a);
  std::string dir = temp_dir();
  std::string events = dir + "/events.jsonl";
  BackgroundProcess syschaos({bin(), "failstop", "crash", "--pid", std::to_string(redis_a->pid()), "--events", events});
  ASSERT_TRUE(wait_event(events, "fail")) << syschaos.err();
  // Blackholed: a new server on A's port (the dead one's socket is gone) is not reachable.
  auto during = std::make_unique<BackgroundProcess>(NamespacePair::in(
      ns.a, {"redis-server", "--port", std::to_string(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"}));
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  EXPECT_NE(ping_in(ns.a, port), "PONG\n");
  syschaos.signal(SIGKILL);
  syschaos.wait();
  // The links died with syschaos: the server in A answers at once.
  EXPECT_TRUE(eventually([&] { return ping_in(ns.a, port) == "PONG\n"; }, std::chrono::seconds(5)));
}

}  // namespace
}  // namespace syschaos::testing
