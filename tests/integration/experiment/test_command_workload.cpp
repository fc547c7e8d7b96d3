// The user command workload with real processes: exit codes, signals, output, stop at the
// end, and no process left behind — also when syschaos itself is SIGKILLed.
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <sstream>
#include <thread>

#include "experiment/command_workload.hpp"
#include "process_runner.hpp"

namespace syschaos::experiment {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using syschaos::testing::eventually;
using syschaos::testing::read_file;

CommandWorkloadSpec shell(std::string line) {
  CommandWorkloadSpec spec;
  spec.shell = std::move(line);
  return spec;
}

std::string temp_output(const char* tag) {
  return "/tmp/syschaos-cmd-test-" + std::to_string(::getpid()) + "-" + tag + ".log";
}

// Gone, or a zombie no one has reaped yet: either way no longer running.
bool process_gone(pid_t pid) {
  if (::kill(pid, 0) != 0) return errno == ESRCH;
  char state = syschaos::testing::process_state(pid);
  return state == 'Z' || state == 'X' || state == '\0';
}

std::vector<pid_t> pids_in(const std::string& text) {
  std::vector<pid_t> pids;
  std::istringstream in(text);
  for (std::string word; in >> word;)
    if (word.starts_with("pid=")) pids.push_back(std::stoi(word.substr(4)));
  return pids;
}

TEST(CommandWorkload, KeepsExitCodeAndOutputAndSaysItEndedEarly) {
  auto spec = shell("echo to-stdout; echo to-stderr >&2; exit 3");
  spec.output_path = temp_output("exit");
  auto workload = CommandWorkload::create(spec);
  ASSERT_TRUE(workload.ok()) << workload.error().message();
  std::atomic<int> calls{0}, exit_code_seen{-2};
  ASSERT_TRUE(workload->start(Clock::now(), [&](const CommandOutcome& outcome) {
                        exit_code_seen = outcome.exit_code;
                        ++calls;
                      }).ok());
  ASSERT_TRUE(eventually([&] { return !workload->running(); }, 5s));
  ASSERT_TRUE(workload->ended_early().has_value());
  EXPECT_EQ(workload->ended_early()->exit_code, 3);
  auto outcome = workload->stop();
  EXPECT_EQ(calls.load(), 1);
  EXPECT_EQ(exit_code_seen.load(), 3);
  EXPECT_EQ(outcome.exit_code, 3);
  EXPECT_EQ(outcome.signal, 0);
  EXPECT_FALSE(outcome.stopped);
  EXPECT_FALSE(outcome.ok());
  EXPECT_EQ(outcome.command, spec.shell);
  EXPECT_NE(outcome.output_tail.find("to-stdout\n"), std::string::npos);
  EXPECT_NE(outcome.output_tail.find("to-stderr\n"), std::string::npos);
  EXPECT_EQ(read_file(spec.output_path).size(), outcome.output_bytes);
  EXPECT_EQ(outcome.output_bytes, std::string("to-stdout\nto-stderr\n").size());
  EXPECT_GE(outcome.start_s, 0);
  EXPECT_GE(outcome.end_s, outcome.start_s);
  ::unlink(spec.output_path.c_str());
}

TEST(CommandWorkload, ExitZeroIsOk) {
  auto workload = CommandWorkload::create(shell("true"));
  ASSERT_TRUE(workload.ok());
  ASSERT_TRUE(workload->start(Clock::now()).ok());
  ASSERT_TRUE(eventually([&] { return !workload->running(); }, 5s));
  auto outcome = workload->stop();
  EXPECT_EQ(outcome.exit_code, 0);
  EXPECT_TRUE(outcome.ok());
}

TEST(CommandWorkload, AnArgumentListIsNotInterpretedByAShell) {
  CommandWorkloadSpec spec;
  spec.argv = {"echo", "$HOME", "a;b", "it's"};
  auto workload = CommandWorkload::create(spec);
  ASSERT_TRUE(workload.ok());
  ASSERT_TRUE(workload->start(Clock::now()).ok());
  ASSERT_TRUE(eventually([&] { return !workload->running(); }, 5s));
  auto outcome = workload->stop();
  EXPECT_EQ(outcome.output_tail, "$HOME a;b it's\n");
  EXPECT_EQ(outcome.command, "echo '$HOME' 'a;b' 'it'\\''s'");
}

TEST(CommandWorkload, EnvironmentAndWorkingDirectory) {
  auto spec = shell("echo $SYSCHAOS_TEST_VALUE; pwd");
  spec.env = {"SYSCHAOS_TEST_VALUE=42"};
  spec.working_dir = "/usr/share";
  auto workload = CommandWorkload::create(spec);
  ASSERT_TRUE(workload.ok());
  ASSERT_TRUE(workload->start(Clock::now()).ok());
  ASSERT_TRUE(eventually([&] { return !workload->running(); }, 5s));
  EXPECT_EQ(workload->stop().output_tail, "42\n/usr/share\n");
}

TEST(CommandWorkload, StoppedAtTheEndWithSigterm) {
  auto spec = shell("trap 'echo got-TERM; exit 0' TERM; echo ready; while :; do sleep 0.05; done");
  spec.stop_grace = 5s;
  auto workload = CommandWorkload::create(spec);
  ASSERT_TRUE(workload.ok());
  ASSERT_TRUE(workload->start(Clock::now()).ok());
  std::this_thread::sleep_for(300ms);
  EXPECT_TRUE(workload->running());
  EXPECT_FALSE(workload->ended_early().has_value());
  const pid_t group = workload->process_group();
  const auto before = Clock::now();
  auto outcome = workload->stop();
  EXPECT_LT(Clock::now() - before, 2s);  // it honoured SIGTERM: no grace period spent
  EXPECT_TRUE(outcome.stopped);
  EXPECT_FALSE(outcome.killed_after_grace);
  EXPECT_EQ(outcome.exit_code, 0);
  EXPECT_TRUE(outcome.ok());
  EXPECT_NE(outcome.output_tail.find("got-TERM"), std::string::npos) << outcome.output_tail;
  EXPECT_FALSE(workload->running());
  EXPECT_EQ(::kill(-group, 0), -1);  // the process group is empty
  EXPECT_EQ(errno, ESRCH);
  // stop() again: same outcome, nothing to do.
  EXPECT_EQ(workload->stop().exit_code, 0);
}

TEST(CommandWorkload, ACommandIgnoringSigtermIsKilledAfterTheGrace) {
  auto spec = shell("trap '' TERM; echo ready; while :; do sleep 0.05; done");
  spec.stop_grace = 300ms;
  auto workload = CommandWorkload::create(spec);
  ASSERT_TRUE(workload.ok());
  ASSERT_TRUE(workload->start(Clock::now()).ok());
  std::this_thread::sleep_for(200ms);
  const auto before = Clock::now();
  auto outcome = workload->stop();
  const auto took = Clock::now() - before;
  EXPECT_GE(took, 300ms);
  EXPECT_LT(took, 3s);
  EXPECT_TRUE(outcome.stopped);
  EXPECT_TRUE(outcome.killed_after_grace);
  EXPECT_EQ(outcome.signal, SIGKILL);
  EXPECT_FALSE(outcome.ok());
}

TEST(CommandWorkload, AKilledCommandShowsItsSignal) {
  CommandWorkloadSpec spec;
  spec.argv = {"sh", "-c", "echo before; kill -USR2 $$; echo after"};
  auto workload = CommandWorkload::create(spec);
  ASSERT_TRUE(workload.ok());
  ASSERT_TRUE(workload->start(Clock::now()).ok());
  ASSERT_TRUE(eventually([&] { return !workload->running(); }, 5s));
  auto outcome = workload->stop();
  EXPECT_EQ(outcome.signal, SIGUSR2);
  EXPECT_EQ(outcome.exit_code, -1);
  EXPECT_FALSE(outcome.stopped);
  EXPECT_FALSE(outcome.ok());
  EXPECT_EQ(outcome.output_tail, "before\n");
}

TEST(CommandWorkload, NoProcessLeftBehindWhenStopped) {
  // Background children, one of which ignores SIGTERM and one that left for another group's
  // parent (a double fork): all die with the command.
  auto spec = shell(
      "sleep 1000 & echo pid=$!; (trap '' TERM; sleep 1000) & echo pid=$!; "
      "(sleep 1000 & echo pid=$!) ; while :; do sleep 0.05; done");
  spec.stop_grace = 300ms;
  spec.output_path = temp_output("left");
  auto workload = CommandWorkload::create(spec);
  ASSERT_TRUE(workload.ok());
  ASSERT_TRUE(workload->start(Clock::now()).ok());
  ASSERT_TRUE(eventually([&] { return pids_in(read_file(spec.output_path)).size() == 3; }, 5s));
  auto pids = pids_in(read_file(spec.output_path));
  for (pid_t pid : pids) EXPECT_FALSE(process_gone(pid)) << pid;
  workload->stop();
  for (pid_t pid : pids) EXPECT_TRUE(eventually([&] { return process_gone(pid); }, 2s)) << pid;
  ::unlink(spec.output_path.c_str());
}

TEST(CommandWorkload, WhatTheCommandLeftBehindDiesWhenItEnds) {
  auto spec = shell("sleep 1000 & echo pid=$!; exit 0");
  auto workload = CommandWorkload::create(spec);
  ASSERT_TRUE(workload.ok());
  ASSERT_TRUE(workload->start(Clock::now()).ok());
  ASSERT_TRUE(eventually([&] { return !workload->running(); }, 5s));
  auto outcome = workload->stop();
  EXPECT_EQ(outcome.exit_code, 0);
  auto pids = pids_in(outcome.output_tail);
  ASSERT_EQ(pids.size(), 1u) << outcome.output_tail;
  EXPECT_TRUE(eventually([&] { return process_gone(pids[0]); }, 2s));
}

TEST(CommandWorkload, NoProcessLeftBehindWhenSyschaosIsKilled) {
  // A child process plays syschaos: it starts the command and is then SIGKILLed.
  const std::string output = temp_output("sigkill");
  pid_t fake_syschaos = ::fork();
  ASSERT_GE(fake_syschaos, 0);
  if (fake_syschaos == 0) {
    auto spec = shell("sleep 1000 & echo pid=$!; (trap '' TERM HUP; sleep 1000) & echo pid=$!; "
                      "echo pid=$$; wait");
    spec.output_path = output;
    auto workload = CommandWorkload::create(spec);
    if (!workload.ok() || !workload->start(Clock::now()).ok()) ::_exit(1);
    for (;;) ::pause();
  }
  const bool started =
      eventually([&] { return pids_in(read_file(output)).size() == 3; }, 5s);
  ::kill(fake_syschaos, SIGKILL);
  ::waitpid(fake_syschaos, nullptr, 0);
  ASSERT_TRUE(started) << read_file(output);
  for (pid_t pid : pids_in(read_file(output)))
    EXPECT_TRUE(eventually([&] { return process_gone(pid); }, 3s)) << pid;
  ::unlink(output.c_str());
}

TEST(CommandWorkload, HoldsNoneOfSyschaosFilesOpen) {
  // A pipe syschaos owns (a connection of the HTTP load, say): once syschaos closes its write
  // end, the read end must see end-of-file although a command is running.
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);  // no O_CLOEXEC: the supervisor never execs anyway
  auto workload = CommandWorkload::create(shell("sleep 30"));
  ASSERT_TRUE(workload.ok());
  ASSERT_TRUE(workload->start(Clock::now()).ok());
  ::close(fds[1]);
  char byte;
  pollfd read_end{fds[0], POLLIN, 0};
  EXPECT_EQ(::poll(&read_end, 1, 2000), 1);
  EXPECT_EQ(::read(fds[0], &byte, 1), 0);  // end of file: nobody else holds the write end
  ::close(fds[0]);
  workload->stop();
}

TEST(CommandWorkload, KeepsTheLastLinesOfALongOutput) {
  auto spec = shell("seq 1 200000");
  spec.tail_bytes = 1000;
  spec.output_path = temp_output("long");
  auto workload = CommandWorkload::create(spec);
  ASSERT_TRUE(workload.ok());
  ASSERT_TRUE(workload->start(Clock::now()).ok());
  ASSERT_TRUE(eventually([&] { return !workload->running(); }, 10s));
  auto outcome = workload->stop();
  std::string full;
  for (int i = 1; i <= 200000; ++i) full += std::to_string(i) + "\n";
  EXPECT_EQ(outcome.output_bytes, full.size());
  EXPECT_EQ(read_file(spec.output_path), full);
  EXPECT_LE(outcome.output_tail.size(), 1000u);
  EXPECT_GE(outcome.output_tail.size(), 990u);
  EXPECT_TRUE(outcome.output_tail.ends_with("199999\n200000\n"));
  EXPECT_TRUE(full.ends_with(outcome.output_tail));
  EXPECT_EQ(full[full.size() - outcome.output_tail.size() - 1], '\n');  // whole lines only
  ::unlink(spec.output_path.c_str());
}

TEST(CommandWorkload, StartErrorsAreOneClearLine) {
  struct Case {
    CommandWorkloadSpec spec;
    const char* expected;
  };
  CommandWorkloadSpec missing, not_in_path, bad_dir, bad_output;
  missing.argv = {"/nonexistent/program"};
  not_in_path.argv = {"syschaos-no-such-program"};
  bad_dir.argv = {"true"};
  bad_dir.working_dir = "/nonexistent-dir";
  bad_output.argv = {"true"};
  bad_output.output_path = "/nonexistent-dir/out.log";
  for (const auto& [spec, expected] :
       {Case{missing, "No such file or directory"}, Case{not_in_path, "not found in PATH"},
        Case{bad_dir, "chdir: No such file or directory"},
        Case{bad_output, "opening /nonexistent-dir/out.log"}}) {
    auto workload = CommandWorkload::create(spec);
    ASSERT_TRUE(workload.ok());
    auto started = workload->start(Clock::now());
    ASSERT_FALSE(started.ok()) << expected;
    EXPECT_NE(started.error().message().find(expected), std::string::npos)
        << started.error().message();
    EXPECT_EQ(started.error().message().find('\n'), std::string::npos);
    EXPECT_FALSE(workload->running());
    workload->stop();  // harmless
  }
}

TEST(CommandWorkload, ValidateRefusesBadSpecs) {
  CommandWorkloadSpec none;
  EXPECT_FALSE(validate(none).ok());
  CommandWorkloadSpec both;
  both.argv = {"true"};
  both.shell = "true";
  EXPECT_NE(validate(both).error().message().find("not both"), std::string::npos);
  CommandWorkloadSpec grace = shell("true");
  grace.stop_grace = std::chrono::hours(1);
  EXPECT_FALSE(validate(grace).ok());
  CommandWorkloadSpec env = shell("true");
  env.env = {"NOEQUALS"};
  EXPECT_NE(validate(env).error().message().find("NAME=VALUE"), std::string::npos);
  EXPECT_TRUE(validate(shell("true")).ok());
}

}  // namespace
}  // namespace syschaos::experiment
