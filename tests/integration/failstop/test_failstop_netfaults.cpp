// Omission and duplication measured by a real receiver: with --drop 30% the receiver gets
// 70% +- 5% of 3000 datagrams (the standard deviation is 0.8%: +-5% is a wide band, and the
// seed is fixed); with --fraction 30% it gets 30% +- 5% of them twice. Also --ports (a port
// that is not used: nothing dropped; the port in use: 30% dropped) and the clean-up: after syschaos is SIGKILLed, nothing
// is dropped any more.
#include <fmt/format.h>

#include <sstream>

#include "failstop_test_support.hpp"

namespace syschaos::testing {
namespace {

struct Received {
  unsigned long received = 0, distinct = 0, duplicates = 0;
};

Received parse_received(const std::string& out) {
  Received r;
  std::istringstream in(out.substr(out.find("received")));
  std::string word;
  in >> word >> r.received >> word >> r.distinct >> word >> r.duplicates;
  return r;
}

// Runs sender -> receiver with `args` (a syschaos failstop command on the sender) active.
Received exchange(int port, int count, const std::vector<std::string>& syschaos_args, std::string* err = nullptr,
                  bool kill_syschaos_first = false) {
  std::string dir = temp_dir();
  std::string go = dir + "/go";
  BackgroundProcess receiver({prog("failstop_udp"), "recv", std::to_string(port), "1000"});
  EXPECT_TRUE(eventually([&] { return receiver.out().find("ready") != std::string::npos; }, std::chrono::seconds(5)));
  BackgroundProcess sender({prog("failstop_udp"), "send", std::to_string(port), std::to_string(count), go});
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // bound
  std::unique_ptr<BackgroundProcess> sc;
  if (!syschaos_args.empty()) {
    std::vector<std::string> argv = {bin(), "failstop"};
    argv.insert(argv.end(), syschaos_args.begin(), syschaos_args.end());
    argv.insert(argv.end(), {"--pid", std::to_string(sender.pid()), "--seed", "11"});
    sc = std::make_unique<BackgroundProcess>(argv);
    EXPECT_TRUE(eventually([&] { return sc->err().find("endpoint(s))") != std::string::npos; }, std::chrono::seconds(10)))
        << sc->err();
    if (kill_syschaos_first) {
      sc->signal(SIGKILL);
      sc->wait();
    }
  }
  std::ofstream(go).put('x');
  EXPECT_EQ(sender.wait(std::chrono::seconds(30)), 0);
  EXPECT_NE(sender.out().find("errors 0"), std::string::npos) << sender.out();  // omission is silent
  EXPECT_EQ(receiver.wait(std::chrono::seconds(30)), 0);
  if (sc && !kill_syschaos_first) {
    sc->signal(SIGTERM);
    EXPECT_EQ(sc->wait(), 0) << sc->err();
    if (err) *err = sc->err();
  }
  return parse_received(receiver.out());
}

TEST(FailstopNetFaults, OmissionDropsThirtyPercent) {
  std::string err;
  Received r = exchange(test_port(10), 3000, {"omit", "--drop", "30%", "--direction", "out"}, &err);
  double delivered = static_cast<double>(r.distinct) / 3000.0;
  EXPECT_NEAR(delivered, 0.70, 0.05) << err;
  EXPECT_EQ(r.duplicates, 0u);
  EXPECT_NE(err.find("dropped"), std::string::npos);
}

TEST(FailstopNetFaults, OmissionOnOtherPortsOnlyDropsNothing) {
  Received r = exchange(test_port(11), 500, {"omit", "--drop", "100%", "--ports", "9"});
  EXPECT_EQ(r.distinct, 500u);
}

TEST(FailstopNetFaults, OmissionOnThePortInUseDropsThirtyPercent) {
  // --ports naming the receiver's port (in a list with an unused one): the drop rate
  // applies, and every datagram of the flow was looked at.
  int port = test_port(15);
  std::string err;
  Received r = exchange(port, 3000,
                        {"omit", "--drop", "30%", "--direction", "out", "--ports", fmt::format("9,{}", port)}, &err);
  EXPECT_NEAR(static_cast<double>(r.distinct) / 3000.0, 0.70, 0.05) << err;
  EXPECT_NE(err.find(fmt::format("dropped {} of 3000 outgoing", 3000 - r.distinct)), std::string::npos) << err;
}

TEST(FailstopNetFaults, DuplicationSendsThirtyPercentTwice) {
  std::string err;
  Received r = exchange(test_port(12), 3000, {"duplicate", "--fraction", "30%"}, &err);
  EXPECT_EQ(r.distinct, 3000u) << err;
  EXPECT_NEAR(static_cast<double>(r.duplicates) / 3000.0, 0.30, 0.05) << err;
}

TEST(FailstopNetFaults, NothingIsLeftAfterSigkill) {
  Received r = exchange(test_port(13), 500, {"omit", "--drop", "100%"}, nullptr, true);
  EXPECT_EQ(r.distinct, 500u);
  Received d = exchange(test_port(14), 500, {"duplicate", "--fraction", "100%"}, nullptr, true);
  EXPECT_EQ(d.duplicates, 0u);
}

}  // namespace
}  // namespace syschaos::testing
