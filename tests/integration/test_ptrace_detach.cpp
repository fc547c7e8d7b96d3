// A target is never left broken: after syschaos ends its run, is interrupted, sees the
// target exit, or is killed with SIGKILL, the target is untraced, not stopped, and its
// calls succeed again.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <regex>
#include <thread>

#include "process_runner.hpp"

using namespace syschaos::testing;
using namespace std::chrono_literals;

namespace {

const std::string kBin = SYSCHAOS_BIN;
const std::string kProgs = TESTPROGS_DIR;

struct Progress {
  long iterations = 0, ok = 0, fail = 0;
};

Progress progress(const std::string& status_file) {
  Progress p;
  std::smatch m;
  std::string text = read_file(status_file);
  if (std::regex_search(text, m, std::regex("iterations=(\\d+) ok=(\\d+) fail=(\\d+)"))) {
    p.iterations = std::stol(m[1]);
    p.ok = std::stol(m[2]);
    p.fail = std::stol(m[3]);
  }
  return p;
}

class Detach : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/syschaos-detach-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    file_ = dir_ + "/data.txt";
    status_ = dir_ + "/status.txt";
    std::ofstream(file_) << "data\n";
    target_ = std::make_unique<BackgroundProcess>(std::vector<std::string>{kProgs + "/probe_loop", file_, status_});
    ASSERT_TRUE(eventually([&] { return progress(status_).iterations > 3; }, 5s));
  }
  void TearDown() override {
    target_.reset();
    std::system(("rm -rf " + dir_).c_str());
  }

  std::unique_ptr<BackgroundProcess> attach(const std::string& fault, const std::vector<std::string>& extra = {}) {
    std::vector<std::string> argv = {kBin, "inject", "--pid", std::to_string(target_->pid()), "--fault", fault};
    argv.insert(argv.end(), extra.begin(), extra.end());
    auto p = std::make_unique<BackgroundProcess>(argv);
    // Attached and injecting: the target starts seeing failures (or delays).
    return p;
  }

  void expect_failures_while_attached() {
    long f0 = progress(status_).fail;
    EXPECT_TRUE(eventually([&] { return progress(status_).fail > f0 + 3; }, 5s)) << "no fault was injected";
  }

  void expect_healthy_after_detach() {
    pid_t pid = target_->pid();
    EXPECT_TRUE(eventually([&] { return tracer_pid(pid) == 0; }, 3s)) << "still traced";
    Progress before = progress(status_);
    EXPECT_TRUE(eventually([&] { return progress(status_).ok > before.ok + 20; }, 5s))
        << "the target does not make progress after detach";
    Progress later = progress(status_);
    std::this_thread::sleep_for(200ms);
    EXPECT_EQ(progress(status_).fail, later.fail) << "faults still injected after detach";
    // Running, sleeping or in a short disk wait; never stopped ('t', 'T') or dead.
    char state = process_state(pid);
    EXPECT_TRUE(state == 'S' || state == 'R' || state == 'D') << "state " << state;
    EXPECT_TRUE(target_->running());
  }

  std::string dir_, file_, status_;
  std::unique_ptr<BackgroundProcess> target_;
};

}  // namespace

TEST_F(Detach, AtTheEndOfDuration) {
  auto s = attach("openat:error=EIO:path=" + file_, {"--duration", "1.5s"});
  expect_failures_while_attached();
  EXPECT_EQ(s->wait(10s), 0) << s->err();
  EXPECT_NE(s->err().find("duration elapsed"), std::string::npos) << s->err();
  expect_healthy_after_detach();
}

TEST_F(Detach, OnSigint) {
  auto s = attach("openat:error=EIO:path=" + file_);
  expect_failures_while_attached();
  s->signal(SIGINT);
  EXPECT_EQ(s->wait(10s), 0) << s->err();
  EXPECT_NE(s->err().find("interrupted"), std::string::npos) << s->err();
  expect_healthy_after_detach();
}

TEST_F(Detach, OnSigterm) {
  // A delay too: a thread held by syschaos at the moment it stops is released.
  auto s = attach("openat:error=EIO:delay_enter=100ms:path=" + file_);
  expect_failures_while_attached();
  s->signal(SIGTERM);
  EXPECT_EQ(s->wait(10s), 0) << s->err();
  expect_healthy_after_detach();
}

TEST_F(Detach, WhenTheTargetExits) {
  auto s = attach("openat:error=EIO:path=" + file_);
  expect_failures_while_attached();
  target_->signal(SIGTERM);
  EXPECT_EQ(target_->wait(10s), 0) << "the target did not exit cleanly";
  EXPECT_EQ(s->wait(10s), 0) << s->err();
  EXPECT_NE(s->err().find("target exited"), std::string::npos) << s->err();
}

TEST_F(Detach, WhenSyschaosIsKilledWithSigkill) {
  // Long delays: the target is almost surely held by syschaos when it dies.
  auto s = attach("openat:delay_enter=300ms:error=EIO:path=" + file_);
  expect_failures_while_attached();
  s->signal(SIGKILL);
  EXPECT_EQ(s->wait(10s), 128 + SIGKILL);
  expect_healthy_after_detach();
}

TEST_F(Detach, AttachesToEveryThreadAndRefusesADoubleTrace) {
  auto first = attach("openat:error=EIO:path=" + file_);
  expect_failures_while_attached();
  auto second = run_command({kBin, "inject", "--pid", std::to_string(target_->pid()), "--fault",
                             "openat:error=EIO", "--duration", "1s"});
  EXPECT_NE(second.exit_code, 0);
  EXPECT_NE(second.err.find("already traced"), std::string::npos) << second.err;
  first->signal(SIGINT);
  EXPECT_EQ(first->wait(10s), 0);
  expect_healthy_after_detach();
}
