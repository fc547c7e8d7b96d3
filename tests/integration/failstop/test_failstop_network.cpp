// freeze, crash and kill of a real server (redis-server from Debian, a plain process) seen
// by a real TCP client on 127.0.0.1, with a tcpdump capture on lo: during a freeze or a
// crash the client's read times out and the server's port sends no FIN and no RST; a kill
// shows the FIN.
#include "failstop_test_support.hpp"

namespace syschaos::testing {
namespace {

struct Outcome {
  std::string client;                 // the client's "second: ..." line
  std::vector<std::string> packets;   // everything captured on the server's port while failed
  std::vector<std::string> fins_after;  // FINs from the server's port after the client gave up
  std::vector<std::string> fin_rst;   // FIN/RST packets from the server's port
  std::string events;
};

// Runs `syschaos failstop MODE --pid REDIS ARGS...` against a connected client.
Outcome fail_server(const std::string& mode, const std::vector<std::string>& args, int port,
                    BackgroundProcess& redis, bool wait_for_syschaos = true) {
  std::string dir = temp_dir();
  Outcome out;
  out.events = dir + "/events.jsonl";
  Capture capture(dir, "tcp port " + std::to_string(port));
  std::string go = dir + "/go";
  BackgroundProcess client({prog("failstop_client"), std::to_string(port), "PING\\r\\n", go, "2000"});
  EXPECT_TRUE(eventually([&] { return client.out().find("first: ok") != std::string::npos; }, std::chrono::seconds(10)));
  std::vector<std::string> argv = {bin(), "failstop", mode, "--pid", std::to_string(redis.pid()), "--events", out.events};
  argv.insert(argv.end(), args.begin(), args.end());
  BackgroundProcess syschaos(argv);
  EXPECT_TRUE(wait_event(out.events, "fail")) << syschaos.err();
  std::ofstream(go).put('x');
  EXPECT_EQ(client.wait(std::chrono::seconds(10)), 0);
  out.client = client.out().substr(client.out().find("second:"));
  // The failure is still on (--for outlasts the client's timeout): what was on the wire
  // until now is what a peer saw of the failure.
  out.packets = capture.stop();
  out.fin_rst = fin_or_rst_from(out.packets, port);
  // Then until syschaos has undone it. Once a crash's blackhole is lifted the "host" is
  // back, and a peer's retransmission may get the RST a rebooted host sends; but the dead
  // server's own connections must never send their FIN (they were destroyed first).
  Capture after(dir, "tcp port " + std::to_string(port));
  if (wait_for_syschaos) EXPECT_EQ(syschaos.wait(std::chrono::seconds(20)), 0) << syschaos.err();
  for (const auto& line : fin_or_rst_from(after.stop(), port))
    if (line.find("Flags [F") != std::string::npos) out.fins_after.push_back(line);
  // The capture itself works: it holds the client's handshake at least.
  EXPECT_GE(out.packets.size(), 3u) << "capture on lo saw nothing";
  return out;
}

std::string joined(const std::vector<std::string>& lines) {
  std::string s;
  for (const auto& l : lines) s += l + "\n";
  return s;
}

TEST(FailstopNetwork, FreezeLeavesConnectionSilentThenThaws) {
  int port = test_port(0);
  auto redis = start_redis(port);
  ASSERT_TRUE(redis);
  std::string home = v2_cgroup_of(redis->pid());
  Outcome out = fail_server("freeze", {"--for", "4s"}, port, *redis);
  EXPECT_EQ(out.client, "second: timeout\n");
  EXPECT_TRUE(out.fin_rst.empty()) << joined(out.fin_rst);
  // Thawed, moved back home, answering; no transient cgroup left.
  EXPECT_EQ(redis_ping(port), "PONG\n");
  EXPECT_EQ(v2_cgroup_of(redis->pid()), home);
  auto events = read_events(out.events);
  std::string transient;
  for (const auto& e : events)
    if (e.value("event", "") == "fail") transient = e.value("cgroup", "");
  ASSERT_FALSE(transient.empty());
  EXPECT_FALSE(path_exists(transient));
  EXPECT_EQ(count_events(out.events, "undo"), 1u);
}

TEST(FailstopNetwork, CrashKillsWithoutFinOrRst) {
  int port = test_port(1);
  auto redis = start_redis(port);
  ASSERT_TRUE(redis);
  Outcome out = fail_server("crash", {"--for", "4s"}, port, *redis);
  EXPECT_EQ(out.client, "second: timeout\n");
  EXPECT_TRUE(out.fin_rst.empty()) << joined(out.fin_rst);
  // Not when the blackhole was lifted either (the orphaned FIN_WAIT1 socket was destroyed
  // first): the peer never hears a goodbye from the dead server.
  EXPECT_TRUE(out.fins_after.empty()) << joined(out.fins_after);
  EXPECT_EQ(redis->wait(std::chrono::seconds(5)), 128 + SIGKILL);
  auto events = read_events(out.events);
  for (const auto& e : events)
    if (e.value("event", "") == "fail") EXPECT_GE(e.value("blackholed_endpoints", 0), 1);  // 127.0.0.1:port (listener and connection)
  // The blackhole is gone: the port is usable again at once.
  auto again = start_redis(port);
  ASSERT_TRUE(again);
  EXPECT_EQ(redis_ping(port), "PONG\n");
}

TEST(FailstopNetwork, KillShowsTheCleanCloseForContrast) {
  int port = test_port(2);
  auto redis = start_redis(port);
  ASSERT_TRUE(redis);
  Outcome out = fail_server("kill", {"--signal", "KILL"}, port, *redis);
  EXPECT_TRUE(out.client == "second: eof\n" || out.client == "second: reset\n") << out.client;
  EXPECT_FALSE(out.fin_rst.empty()) << joined(out.packets);
}

TEST(FailstopNetwork, SigkillOfSyschaosDuringCrashLiftsTheBlackhole) {
  int port = test_port(3);
  auto redis = start_redis(port);
  ASSERT_TRUE(redis);
  std::string dir = temp_dir();
  std::string events = dir + "/events.jsonl";
  BackgroundProcess syschaos({bin(), "failstop", "crash", "--pid", std::to_string(redis->pid()), "--events", events});
  ASSERT_TRUE(wait_event(events, "fail")) << syschaos.err();
  EXPECT_FALSE(can_connect(port));  // SYNs to the dead server vanish: no "connection refused"
  syschaos.signal(SIGKILL);
  syschaos.wait();
  // The links died with syschaos: the port answers again (here, "refused" then a new server).
  auto again = start_redis(port);
  ASSERT_TRUE(again);
  EXPECT_EQ(redis_ping(port), "PONG\n");
}

}  // namespace
}  // namespace syschaos::testing
