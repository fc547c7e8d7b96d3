// The trigger's stops file and the SIGCONT it leads to (no privileges: the processes are
// this test's own children): a recorded process that is stopped is continued, a running
// one is not signalled, a pid reused by another process is left alone, and a stale file is
// handled only when its owner is gone.
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>

#include "failstop/restore_state.hpp"
#include "failstop/trigger_stops.hpp"

namespace syschaos::failstop {
namespace {

// A child that sleeps until killed; reaped by the destructor.
struct Child {
  pid_t pid = ::fork();
  Child() {
    if (pid == 0) {
      for (;;) ::pause();
    }
  }
  ~Child() {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
  }
  void stop() const {
    ::kill(pid, SIGSTOP);
    int status = 0;
    ::waitpid(pid, &status, WUNTRACED);
  }
  // True once the child reports it was continued.
  bool continued() const {
    int status = 0;
    return ::waitpid(pid, &status, WCONTINUED | WNOHANG) == pid && WIFCONTINUED(status);
  }
};

class TriggerStops : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/trigger-stops-test.XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    ::setenv("SYSCHAOS_FAILSTOP_STATE_DIR", dir_.c_str(), 1);
  }
  void TearDown() override {
    ::unsetenv("SYSCHAOS_FAILSTOP_STATE_DIR");
    std::system(("rm -rf " + dir_).c_str());
  }
  std::string dir_;
};

TEST_F(TriggerStops, PathSitsBesideTheStateFileWithoutItsSuffix) {
  EXPECT_EQ(trigger_stops_path("/run/syschaos/failstop/42.json"), "/run/syschaos/failstop/42.stops");
  EXPECT_FALSE(trigger_stops_path("/x/42.json").ends_with(".json"));  // restore_stale_states reads *.json
}

TEST_F(TriggerStops, SavesStartTimesAndSkipsGoneProcesses) {
  Child a;
  std::string path = dir_ + "/sub/1.stops";  // the directory is made
  ASSERT_TRUE(save_trigger_stops(path, {a.pid, 999999999}).ok());
  auto loaded = load_trigger_stops(path);
  ASSERT_TRUE(loaded.ok()) << loaded.error().message();
  ASSERT_EQ(loaded->size(), 1u);
  EXPECT_EQ((*loaded)[0].pid, a.pid);
  EXPECT_EQ((*loaded)[0].start, process_start_time(a.pid));
}

TEST_F(TriggerStops, ContinuesOnlyStoppedRecordedProcesses) {
  Child stopped, running;
  stopped.stop();
  EXPECT_TRUE(stopped_or_stopping(stopped.pid));
  EXPECT_FALSE(stopped_or_stopping(running.pid));
  std::vector<StoppableProcess> recorded = {{stopped.pid, process_start_time(stopped.pid)},
                                            {running.pid, process_start_time(running.pid)}};
  EXPECT_EQ(continue_recorded(recorded), 1u);
  EXPECT_TRUE(stopped.continued());
  EXPECT_FALSE(stopped_or_stopping(stopped.pid));
}

TEST_F(TriggerStops, LeavesAReusedPidAlone) {
  Child stopped;
  stopped.stop();
  // Recorded with another start time: the pid now names another process.
  EXPECT_EQ(continue_recorded({{stopped.pid, process_start_time(stopped.pid) + 1}}), 0u);
  EXPECT_TRUE(stopped_or_stopping(stopped.pid));
}

TEST_F(TriggerStops, StaleFilesOnlyWhenTheOwnerIsGone) {
  Child stopped;
  stopped.stop();
  // A file of this (live) process, and one of an owner that has exited.
  ASSERT_TRUE(save_trigger_stops(dir_ + "/live.stops", {stopped.pid}).ok());
  pid_t gone = ::fork();
  if (gone == 0) ::_exit(0);
  ::waitpid(gone, nullptr, 0);
  std::ofstream(dir_ + "/dead.stops") << "{\"owner\": " << gone << ", \"owner_start\": 1, \"processes\": [{\"pid\": "
                                      << stopped.pid << ", \"start\": " << process_start_time(stopped.pid) << "}]}\n";
  auto lines = continue_stale_trigger_stops();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_NE(lines[0].find("continued 1 process(es)"), std::string::npos) << lines[0];
  EXPECT_TRUE(stopped.continued());
  EXPECT_NE(::access((dir_ + "/dead.stops").c_str(), F_OK), 0);
  EXPECT_EQ(::access((dir_ + "/live.stops").c_str(), F_OK), 0);
  // --force: the live owner's file too.
  stopped.stop();
  EXPECT_EQ(continue_stale_trigger_stops(true).size(), 1u);
  EXPECT_TRUE(stopped.continued());
  EXPECT_NE(::access((dir_ + "/live.stops").c_str(), F_OK), 0);
}

}  // namespace
}  // namespace syschaos::failstop
