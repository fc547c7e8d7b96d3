// The ptrace engine on real processes, driven through the syschaos binary: one test per
// semantic of the fault model, each checked by what the traced program itself saw.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include "process_runner.hpp"

using namespace syschaos::testing;
using namespace std::chrono_literals;

namespace {

const std::string kBin = SYSCHAOS_BIN;
const std::string kProgs = TESTPROGS_DIR;

std::string prog(const std::string& name) { return kProgs + "/" + name; }

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

int count_of(const std::vector<std::string>& v, const std::string& s) {
  return static_cast<int>(std::count(v.begin(), v.end(), s));
}

// syschaos inject FAULTS... -- ARGS...
RunResult inject(const std::vector<std::string>& faults, const std::vector<std::string>& cmd,
                 const std::vector<std::string>& extra = {}) {
  std::vector<std::string> argv = {kBin, "inject", "--seed", "1"};
  for (const auto& f : faults) {
    argv.push_back("--fault");
    argv.push_back(f);
  }
  argv.insert(argv.end(), extra.begin(), extra.end());
  argv.push_back("--");
  argv.insert(argv.end(), cmd.begin(), cmd.end());
  return run_command(argv);
}

class Sandbox : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/syschaos-it-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    ::mkdir((dir_ + "/sub").c_str(), 0755);
    std::ofstream(dir_ + "/sub/target.txt") << "target\n";
    std::ofstream(dir_ + "/sub/other.txt") << "other\n";
  }
  void TearDown() override { std::system(("rm -rf " + dir_).c_str()); }
  std::string dir_;
};

}  // namespace

TEST_F(Sandbox, ExactErrnoSeenByTheProgram) {
  auto r = inject({"openat:error=EACCES:path=" + dir_ + "/sub/target.txt"},
                  {prog("probe_calls"), "open", dir_ + "/sub/target.txt", "3"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(lines(r.out), (std::vector<std::string>{"EACCES", "EACCES", "EACCES"}));
  // Other files are untouched.
  auto o = inject({"openat:error=EACCES:path=" + dir_ + "/sub/target.txt"},
                  {prog("probe_calls"), "open", dir_ + "/sub/other.txt", "2"});
  EXPECT_EQ(lines(o.out), (std::vector<std::string>{"ok", "ok"}));
}

TEST_F(Sandbox, RetvalIsReturnedWithoutTheCall) {
  auto r = inject({"getppid:retval=4242:when=2"}, {prog("probe_calls"), "getppid", "3"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  auto l = lines(r.out);
  ASSERT_EQ(l.size(), 3u);
  EXPECT_NE(l[0], "4242");
  EXPECT_EQ(l[1], "4242");
  EXPECT_NE(l[2], "4242");
}

TEST_F(Sandbox, WhenCountsAcrossThreadsOfOneProcess) {
  // 4 threads x 5 opens = 20 calls of one process; when=3+ spares exactly the first two.
  auto r = inject({"openat:error=EIO:path=" + dir_ + "/sub/target.txt:when=3+"},
                  {prog("probe_threads"), "4", "5", dir_ + "/sub/target.txt"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "ok=2 fail=18\n");
}

TEST_F(Sandbox, WhenCountsPerProcessAcrossForks) {
  // Each forked child is traced and counts from 1 again: 2 ok, 3 failed each.
  auto r = inject({"openat:error=EIO:path=" + dir_ + "/sub/target.txt:when=3+"},
                  {prog("probe_fork"), "3", "5", dir_ + "/sub/target.txt"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "parent ok=2 fail=3\nchild ok=2 fail=3\nchild ok=2 fail=3\nchild ok=2 fail=3\n");
  EXPECT_NE(r.err.find("4 process(es)"), std::string::npos) << r.err;
}

TEST_F(Sandbox, DelayEnterAndExitAreMeasuredByTheTarget) {
  for (const char* key : {"delay_enter", "delay_exit"}) {
    auto r = inject({std::string("openat:") + key + "=300ms:path=" + dir_ + "/sub/target.txt"},
                    {prog("probe_calls"), "timed_open", dir_ + "/sub/target.txt"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    std::smatch m;
    ASSERT_TRUE(std::regex_search(r.out, m, std::regex("ms=([0-9.]+)"))) << r.out;
    double ms = std::stod(m[1]);
    EXPECT_GE(ms, 300.0) << key;
    EXPECT_LT(ms, 600.0) << key;
    EXPECT_EQ(lines(r.out)[0], "ok") << "a delay alone does not fail the call";
  }
}

TEST_F(Sandbox, DelayAndErrorCombine) {
  auto r = inject({"openat:error=ENOENT:delay_enter=200ms:path=" + dir_ + "/sub/target.txt"},
                  {prog("probe_calls"), "timed_open", dir_ + "/sub/target.txt"});
  auto l = lines(r.out);
  ASSERT_EQ(l.size(), 2u) << r.out << r.err;
  EXPECT_EQ(l[0], "ENOENT");
  EXPECT_GE(std::stod(l[1].substr(3)), 200.0);
}

TEST_F(Sandbox, DelayNeverBlocksOtherThreads) {
  auto r = inject({"openat:delay_enter=1s:path=" + dir_ + "/sub/target.txt"},
                  {prog("probe_delay_threads"), dir_ + "/sub/target.txt"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(r.out, m, std::regex("open_ms=([0-9.]+) other_calls=([0-9]+)"))) << r.out;
  EXPECT_GE(std::stod(m[1]), 1000.0);
  // The other thread kept running at full (traced) speed during the whole second.
  EXPECT_GT(std::stol(m[2]), 1000) << r.out;
}

TEST_F(Sandbox, PathFilterResolvesDirfdCwdAndDots) {
  const std::string target = dir_ + "/sub/target.txt";
  const std::string fault = "openat:error=ENOENT:path=" + target;
  auto at = inject({fault}, {prog("probe_calls"), "openat", dir_ + "/sub", "target.txt", "1"});
  EXPECT_EQ(lines(at.out), std::vector<std::string>{"ENOENT"}) << at.err;
  auto cwd = inject({fault}, {prog("probe_calls"), "cwdopen", dir_ + "/sub", "target.txt", "1"});
  EXPECT_EQ(lines(cwd.out), std::vector<std::string>{"ENOENT"}) << cwd.err;
  auto dots = inject({fault}, {prog("probe_calls"), "cwdopen", dir_, "./sub/../sub//target.txt", "1"});
  EXPECT_EQ(lines(dots.out), std::vector<std::string>{"ENOENT"}) << dots.err;
  auto other = inject({fault}, {prog("probe_calls"), "openat", dir_ + "/sub", "other.txt", "1"});
  EXPECT_EQ(lines(other.out), std::vector<std::string>{"ok"}) << other.err;
  // Globs cross '/'.
  auto glob = inject({"openat:error=ENOENT:path=*/target.txt"},
                     {prog("probe_calls"), "cwdopen", dir_ + "/sub", "target.txt", "1"});
  EXPECT_EQ(lines(glob.out), std::vector<std::string>{"ENOENT"});
}

TEST_F(Sandbox, FdKindFilter) {
  auto r = inject({"read:error=EIO:fd=pipe"}, {prog("probe_calls"), "readfd", dir_ + "/sub/target.txt", "2"});
  EXPECT_EQ(lines(r.out), (std::vector<std::string>{"file ok", "file ok", "pipe EIO", "pipe EIO"})) << r.err;
}

TEST_F(Sandbox, SignalIsDeliveredOnEntry) {
  auto r = inject({"getppid:signal=SIGUSR1:when=2..3"}, {prog("probe_calls"), "signal", "5"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "signals=2\n");
}

TEST_F(Sandbox, ProbabilityIsReproducibleWithSeed) {
  auto once = [&](const char* seed) {
    return run_command({kBin, "inject", "--seed", seed, "--fault",
                        "openat:error=EIO:prob=0.5:path=" + dir_ + "/sub/target.txt", "--",
                        prog("probe_calls"), "open", dir_ + "/sub/target.txt", "40"}).out;
  };
  auto a = once("7"), b = once("7"), c = once("8");
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  int fails = count_of(lines(a), "EIO");
  EXPECT_GT(fails, 5);
  EXPECT_LT(fails, 35);
}

TEST_F(Sandbox, DryRunCountsWithoutInjecting) {
  std::string events = dir_ + "/events.jsonl";
  auto r = inject({"openat:error=EIO:path=" + dir_ + "/sub/target.txt"},
                  {prog("probe_calls"), "open", dir_ + "/sub/target.txt", "3"}, {"--dry-run", "--events", events});
  EXPECT_EQ(lines(r.out), (std::vector<std::string>{"ok", "ok", "ok"}));
  EXPECT_TRUE(std::regex_search(r.err, std::regex("\\n0 +3 +3 +openat"))) << r.err;
  auto ev = lines(read_file(events));
  ASSERT_EQ(ev.size(), 3u);
  EXPECT_NE(ev[0].find("\"injected\":false"), std::string::npos) << ev[0];
  EXPECT_NE(ev[0].find("\"syscall\":\"openat\""), std::string::npos);
  EXPECT_NE(ev[0].find("\"paths\":[\"" + dir_ + "/sub/target.txt\"]"), std::string::npos) << ev[0];
}

TEST_F(Sandbox, EventsRecordWhatWasInjected) {
  std::string events = dir_ + "/events.jsonl";
  auto r = inject({"openat:error=ENOENT:path=" + dir_ + "/sub/target.txt:when=2"},
                  {prog("probe_calls"), "open", dir_ + "/sub/target.txt", "3"}, {"--events", events});
  auto ev = lines(read_file(events));
  ASSERT_EQ(ev.size(), 1u) << r.err;
  EXPECT_NE(ev[0].find("\"action\":\"error=ENOENT\""), std::string::npos) << ev[0];
  EXPECT_NE(ev[0].find("\"errno\":\"ENOENT\""), std::string::npos);
  EXPECT_NE(ev[0].find("\"injected\":true"), std::string::npos);
  EXPECT_NE(ev[0].find("\"tid\":"), std::string::npos);
}

TEST_F(Sandbox, LaunchModeReturnsTheCommandsExitCode) {
  auto r = inject({"getppid:retval=1"}, {prog("probe_calls"), "exit", "3"});
  EXPECT_EQ(r.exit_code, 3);
  // The target's stdout carries only its own output; syschaos speaks on stderr.
  auto o = inject({"getppid:retval=1"}, {prog("probe_calls"), "getppid", "1"});
  EXPECT_EQ(o.out, "1\n");
  EXPECT_NE(o.err.find("syschaos:"), std::string::npos);
}

TEST_F(Sandbox, BadInputIsOneLineExit2AndNothingRuns) {
  const std::string marker = dir_ + "/ran";
  auto check = [&](const std::vector<std::string>& args, const std::string& expect) {
    std::vector<std::string> argv = {kBin, "inject"};
    argv.insert(argv.end(), args.begin(), args.end());
    auto r = run_command(argv);
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_NE(r.err.find(expect), std::string::npos) << r.err;
    EXPECT_EQ(r.out, "");
    EXPECT_NE(::access(marker.c_str(), F_OK), 0) << "the command ran";
  };
  std::vector<std::string> touch = {"--", "/usr/bin/touch", marker};
  auto with = [&](std::vector<std::string> a) {
    a.insert(a.end(), touch.begin(), touch.end());
    return a;
  };
  check(with({"--fault", "opnat:error=ENOENT"}), "unknown syscall 'opnat'");
  check(with({"--fault", "openat:error=ENOPE"}), "unknown errno 'ENOPE'");
  check(with({"--fault", "openat:error=EIO:bogus=1"}), "unknown key 'bogus'");
  check(with({"--fault", "openat:error=EIO:when=x"}), "invalid when");
  check(with({"--fault", "openat:error=EIO", "--duration", "soon"}), "--duration");
  check(with({"--faults", "/nonexistent.yaml"}), "/nonexistent.yaml");
  check(with({}), "no fault given");
  check({"--fault", "openat:error=EIO", "--pid", "999999999"}, "999999999");
  check({"--fault", "openat:error=EIO", "--pid", "1", "--", "/usr/bin/touch", marker}, "exactly one target");
  check({"--fault", "openat:error=EIO", "--", "/no/such/command"}, "/no/such/command");
  check({"--fault", "openat:error=EIO", "--bogus-option"}, "bogus");
}

TEST_F(Sandbox, RulesFromYamlFile) {
  std::string rules = dir_ + "/rules.yaml";
  std::ofstream(rules) << "faults:\n  - syscalls: [openat]\n    error: EPERM\n    path: '*/target.txt'\n    when: 2\n";
  auto r = run_command({kBin, "inject", "--faults", rules, "--", prog("probe_calls"), "open",
                        dir_ + "/sub/target.txt", "3"});
  EXPECT_EQ(lines(r.out), (std::vector<std::string>{"ok", "EPERM", "ok"})) << r.err;
}

TEST_F(Sandbox, CommFilterMatchesTheThreadName) {
  auto hit = inject({"getppid:retval=7:comm=probe_ca*"}, {prog("probe_calls"), "getppid", "1"});
  EXPECT_EQ(hit.out, "7\n") << hit.err;
  auto miss = inject({"getppid:retval=7:comm=nginx"}, {prog("probe_calls"), "getppid", "1"});
  EXPECT_NE(miss.out, "7\n");
}

TEST_F(Sandbox, PokeExitRewritesTheBuffer) {
  // read(fd, buf, 64): @arg2 is buf; after the real read, its first bytes become "XY".
  // (The first read of a file is the dynamic loader reading libc.)
  auto r = inject({"read:poke_exit=@arg2=5859:fd=file:when=2"}, {prog("probe_calls"), "readprint", dir_ + "/sub/target.txt"});
  EXPECT_EQ(r.out, "XYrget\n") << r.err;
}

TEST_F(Sandbox, SubstitutePureSyscall) {
  // The unlink is replaced by getpid and reports success; the file stays.
  auto r = inject({"unlink,unlinkat:retval=0:syscall=getpid"}, {"/bin/rm", dir_ + "/sub/other.txt"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(::access((dir_ + "/sub/other.txt").c_str(), F_OK), 0);
}
