// Re-pointing a plain process (tests/integration/programs/fs_holder.c) from one mount of a
// directory to another, and back, with the ptrace remote system calls of the container mode.
// A bind mount of the directory stands in for ChaosFS: what is tested here is the move of
// fds, cwd and mappings and that the process never notices, not the file system.
//
// The test runs in a mount namespace of its own, so nothing it mounts is seen by the host.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <tuple>

#include "core/unique_fd.hpp"
#include "fs/chaos_fs.hpp"
#include "fs/container_repoint.hpp"
#include "fs/fs_fault_rule.hpp"
#include "fs/volume_mountinfo.hpp"
#include "fs/volume_overlay.hpp"
#include "process_runner.hpp"

using namespace syschaos;
using namespace syschaos::fs;
using syschaos::testing::eventually;
using syschaos::testing::read_file;

namespace {

class Holder {
 public:
  Holder(const std::string& dir, bool main_reads) {
    out_path_ = dir + ".out";
    int in[2];
    EXPECT_EQ(::pipe2(in, O_CLOEXEC), 0);
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(in[0], 0);
      int out = ::open(out_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      ::dup2(out, 1);
      std::string prog = std::string(TESTPROGS_DIR) + "/fs_holder";
      if (main_reads)
        ::execl(prog.c_str(), prog.c_str(), dir.c_str(), "main-reads", nullptr);
      else
        ::execl(prog.c_str(), prog.c_str(), dir.c_str(), nullptr);
      ::_exit(127);
    }
    ::close(in[0]);
    stdin_ = in[1];
  }
  ~Holder() {
    ::close(stdin_);
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    ::unlink(out_path_.c_str());
  }
  pid_t pid() const { return pid_; }
  std::string out() const { return read_file(out_path_); }
  void say(const std::string& line) { ASSERT_EQ(::write(stdin_, line.data(), line.size()), static_cast<ssize_t>(line.size())); }
  // The number in the last "ok N" line.
  long rounds() const {
    std::istringstream in(out());
    std::string line;
    long n = 0;
    while (std::getline(in, line))
      if (line.rfind("ok ", 0) == 0) n = std::atol(line.c_str() + 3);
    return n;
  }
  std::vector<int> fds() const {
    std::istringstream in(out());
    std::string word;
    in >> word;
    std::vector<int> v(3);
    in >> v[0] >> v[1] >> v[2];
    return v;
  }

 private:
  pid_t pid_ = -1;
  int stdin_ = -1;
  std::string out_path_;
};

int fd_mount(pid_t pid, int fd) {
  auto id = mount_id_of(fmt::format("/proc/{}/fd/{}", pid, fd));
  return id ? *id : -1;
}

// Mount ids of the holder's file mappings of map.bin.
std::vector<int> map_mounts(pid_t pid) {
  std::vector<int> ids;
  std::istringstream in(read_file(fmt::format("/proc/{}/maps", pid)));
  std::string line;
  while (std::getline(in, line)) {
    if (line.find("/map.bin") == std::string::npos) continue;
    auto range = line.substr(0, line.find(' '));
    auto id = mount_id_of(fmt::format("/proc/{}/map_files/{}", pid, range));
    ids.push_back(id ? *id : -1);
  }
  return ids;
}

// repoint_process, with what it did on stderr under `label` ("there", "back"): the one line
// to read when a later expectation fails.
Result<RepointOutcome> repoint_logged(const char* label, pid_t pid, const RepointSpec& spec) {
  auto out = repoint_process(pid, spec);
  if (out) std::fprintf(stderr, "%s: %s\n", label, describe(*out).c_str());
  return out;
}

// After the moves: the program never saw a wrong byte, offset or errno ("ERROR" lines), and
// no tracer is left attached.
void expect_unharmed(pid_t pid, const std::string& out) {
  EXPECT_EQ(out.find("ERROR"), std::string::npos) << out;
  EXPECT_EQ(syschaos::testing::tracer_pid(pid), 0);
}

class VolumeFixture : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ASSERT_EQ(::geteuid(), 0u) << "needs root";
    ASSERT_EQ(::unshare(CLONE_NEWNS), 0) << strerror(errno);
    ASSERT_EQ(::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr), 0) << strerror(errno);
  }

  void SetUp() override {
    char tmpl[] = "/tmp/fs-holder.XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    std::ofstream(dir_ + "/data.txt") << "0123456789abcdefghijklmnopqrstuvwxyz";
    std::string pattern;
    for (int i = 0; i < 4096; ++i) pattern.push_back(static_cast<char>('A' + i % 26));
    std::ofstream(dir_ + "/map.bin") << pattern;
    // The directory becomes a mount point of its own: the "volume".
    ASSERT_EQ(::mount(dir_.c_str(), dir_.c_str(), nullptr, MS_BIND, nullptr), 0) << strerror(errno);
  }

  void TearDown() override {
    while (::umount2(dir_.c_str(), MNT_DETACH) == 0) {
    }
    std::string log = read_file(dir_ + "/log.txt");
    ::unlink((dir_ + "/data.txt").c_str());
    ::unlink((dir_ + "/map.bin").c_str());
    ::unlink((dir_ + "/log.txt").c_str());
    ::rmdir(dir_.c_str());
  }

  std::string dir_;
};

class ContainerRepoint : public VolumeFixture, public ::testing::WithParamInterface<bool> {};
class ContainerRepointBusy : public VolumeFixture {};

TEST_P(ContainerRepoint, MovesFdsCwdAndMappingsThereAndBackWhileTheProcessKeepsWorking) {
  Holder holder(dir_, GetParam());
  ASSERT_TRUE(eventually([&] { return holder.out().rfind("ready", 0) == 0; }, std::chrono::seconds(5)));
  ASSERT_TRUE(eventually([&] { return holder.rounds() >= 10; }, std::chrono::seconds(5)));
  auto fds = holder.fds();
  auto orig = mount_id_of(dir_);
  ASSERT_TRUE(orig) << orig.error().message();

  // A second mount over the first, as ChaosFS would be.
  auto tree = clone_mount(dir_);
  ASSERT_TRUE(tree) << tree.error().message();
  ASSERT_TRUE(attach_mount(*tree, dir_));
  auto top = mount_id_of(dir_);
  ASSERT_TRUE(top);
  ASSERT_NE(*top, *orig);
  // Until re-pointed, everything the holder had open stays on the covered mount.
  EXPECT_EQ(fd_mount(holder.pid(), fds[0]), *orig);
  EXPECT_TRUE(holds_files_on(holder.pid(), RepointSpec{*orig, dir_, false}));

  auto moved = repoint_logged("there", holder.pid(), RepointSpec{*orig, dir_, false});
  ASSERT_TRUE(moved) << moved.error().message();
  EXPECT_TRUE(moved->stopped);
  EXPECT_EQ(moved->threads, 2u);
  EXPECT_EQ(moved->fds, 3);  // data.txt, log.txt, the directory
  EXPECT_TRUE(moved->cwd);
  EXPECT_EQ(moved->mappings, 1);
  EXPECT_TRUE(moved->left.empty()) << describe(*moved);
  EXPECT_GT(moved->stop_time.count(), 0);
  for (int fd : fds) EXPECT_EQ(fd_mount(holder.pid(), fd), *top) << "fd " << fd;
  EXPECT_EQ(*mount_id_of(fmt::format("/proc/{}/cwd", holder.pid())), *top);
  EXPECT_EQ(map_mounts(holder.pid()), std::vector<int>{*top});
  EXPECT_FALSE(holds_files_on(holder.pid(), RepointSpec{*orig, dir_, false}));
  // The file offset moved with the fd: the holder checks every byte it reads next, and
  // reports "ERROR read R" if one is not the byte that follows.

  // A call blocked while stopped comes back with data (restarted, not EINTR / -512).
  holder.say("hello\n");
  ASSERT_TRUE(eventually([&] { return holder.out().find("got hello") != std::string::npos; }, std::chrono::seconds(5)));
  long r = holder.rounds();
  ASSERT_TRUE(eventually([&] { return holder.rounds() >= r + 10; }, std::chrono::seconds(5)));

  // Recovery: remove the top mount lazily, then move everything back.
  ASSERT_TRUE(detach_mount(dir_));
  EXPECT_EQ(*mount_id_of(dir_), *orig);
  auto back = repoint_logged("back", holder.pid(), RepointSpec{*top, dir_, true});
  ASSERT_TRUE(back) << back.error().message();
  EXPECT_EQ(back->fds, 3);
  EXPECT_TRUE(back->cwd);
  EXPECT_EQ(back->mappings, 1);
  EXPECT_TRUE(back->left.empty()) << describe(*back);
  for (int fd : fds) EXPECT_EQ(fd_mount(holder.pid(), fd), *orig) << "fd " << fd;
  EXPECT_EQ(*mount_id_of(fmt::format("/proc/{}/cwd", holder.pid())), *orig);
  EXPECT_EQ(map_mounts(holder.pid()), std::vector<int>{*orig});

  holder.say("again\n");
  ASSERT_TRUE(eventually([&] { return holder.out().find("got again") != std::string::npos; }, std::chrono::seconds(5)));
  r = holder.rounds();
  ASSERT_TRUE(eventually([&] { return holder.rounds() >= r + 10; }, std::chrono::seconds(5)));
  expect_unharmed(holder.pid(), holder.out());
  // Nothing on the removed mount any more.
  EXPECT_FALSE(holds_files_on(holder.pid(), RepointSpec{*top, dir_, true}));
}

// A process whose only thread computes (no system call in progress when interrupted): one
// thread is let run into its next call, which is replaced by ours and run again afterwards.
TEST_F(ContainerRepointBusy, ABusyProcessIsCaughtAtItsNextSystemCall) {
  int report[2];
  ASSERT_EQ(::pipe(report), 0);
  pid_t child = ::fork();
  if (child == 0) {
    if (::chdir(dir_.c_str()) != 0) ::_exit(1);
    // Tens of milliseconds of pure computation between calls (no clock reads: on a VM
    // without a vDSO clock those are system calls too); each call must keep working.
    for (;;) {
      for (volatile unsigned long i = 0; i < 20'000'000; i = i + 1) {
      }
      struct stat st;
      char ok = ::stat("data.txt", &st) == 0 ? 'y' : 'n';
      if (::write(report[1], &ok, 1) != 1) ::_exit(1);
    }
  }
  ::close(report[1]);
  char c;
  ASSERT_EQ(::read(report[0], &c, 1), 1);
  // Let it get back from that write() into its loop (the wake-up of this reader may have
  // preempted it inside the call).
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  auto orig = mount_id_of(dir_);
  auto tree = clone_mount(dir_);
  ASSERT_TRUE(tree);
  ASSERT_TRUE(attach_mount(*tree, dir_));
  auto top = mount_id_of(dir_);
  auto moved = repoint_logged("busy", child, RepointSpec{*orig, dir_, false});
  ASSERT_TRUE(moved) << moved.error().message();
  EXPECT_EQ(moved->executor_mode, "waited-for-syscall");
  EXPECT_TRUE(moved->cwd);
  EXPECT_EQ(*mount_id_of(fmt::format("/proc/{}/cwd", child)), *top);
  // Its own stat() (the call that was replaced) ran afterwards and succeeded.
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(::read(report[0], &c, 1), 1);
    EXPECT_EQ(c, 'y');
  }
  EXPECT_EQ(syschaos::testing::tracer_pid(child), 0);
  ::kill(child, SIGKILL);
  ::waitpid(child, nullptr, 0);
  ::close(report[0]);
}

INSTANTIATE_TEST_SUITE_P(ExecutorInSleepOrInRead, ContainerRepoint, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "MainThreadInRead" : "MainThreadInNanosleep"; });

TEST(ContainerRepointUntouched, AProcessWithNothingOnTheMountIsNotStopped) {
  pid_t child = ::fork();
  if (child == 0) {
    ::chdir("/");
    ::pause();
    ::_exit(0);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  auto id = mount_id_of("/proc");
  ASSERT_TRUE(id);
  auto out = repoint_process(child, RepointSpec{*id, "/proc", false});
  ASSERT_TRUE(out) << out.error().message();
  EXPECT_FALSE(out->stopped);
  EXPECT_EQ(out->moved(), 0u);
  ::kill(child, SIGKILL);
  ::waitpid(child, nullptr, 0);
}

TEST(ContainerRepointUntouched, AProcessTracedBySomeoneElseIsRefusedWithTheReason) {
  // The child holds its cwd on /tmp's mount and is traced by its parent-to-be (this test).
  pid_t child = ::fork();
  if (child == 0) {
    ::chdir("/tmp");
    ::pause();
    ::_exit(0);
  }
  pid_t tracer = ::fork();
  if (tracer == 0) {
    if (::ptrace(PTRACE_SEIZE, child, nullptr, nullptr) != 0) ::_exit(1);
    ::pause();
    ::_exit(0);
  }
  ASSERT_TRUE(eventually([&] { return syschaos::testing::tracer_pid(child) == tracer; }, std::chrono::seconds(5)));
  auto id = mount_id_of("/tmp");
  ASSERT_TRUE(id);
  auto out = repoint_process(child, RepointSpec{*id, "/tmp", false});
  ASSERT_FALSE(out);
  EXPECT_NE(out.error().message().find("already traced by pid"), std::string::npos) << out.error().message();
  ::kill(tracer, SIGKILL);
  ::waitpid(tracer, nullptr, 0);
  ::kill(child, SIGKILL);
  ::waitpid(child, nullptr, 0);
}

// ---- Threads with a working directory of their own, under real ChaosFS --------------------

// tests/integration/programs/fs_thread_cwd.c: a worker thread with an fs_struct of its own
// (unshare(CLONE_FS), or created by clone() without CLONE_FS) that sits in DIR/sub opening
// the relative path probe.txt every 5 ms; the main thread's cwd is DIR (main-in-volume) or "/".
class ThreadCwdProgram {
 public:
  ThreadCwdProgram(const std::string& dir, bool main_in_volume, bool clone_no_fs, bool own_files = false,
                   bool main_busy = false) {
    out_path_ = dir + ".thread-cwd.out";
    std::string prog = std::string(TESTPROGS_DIR) + "/fs_thread_cwd";
    std::vector<std::string> args{prog, dir, main_in_volume ? "main-in-volume" : "main-elsewhere",
                                  own_files ? "own-files" : "shared-files", main_busy ? "main-busy" : "main-sleeps",
                                  clone_no_fs ? "clone-no-fs" : "pthread"};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_ = ::fork();
    if (pid_ == 0) {
      int out = ::open(out_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      ::dup2(out, 1);
      ::execv(prog.c_str(), argv.data());
      ::_exit(127);
    }
  }
  ~ThreadCwdProgram() {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    ::unlink(out_path_.c_str());
  }
  pid_t pid() const { return pid_; }
  std::string out() const { return read_file(out_path_); }
  // The worker's counters from its last "thread ok=N eio=M" line.
  std::pair<long, long> counts() const {
    std::istringstream in(out());
    std::string line;
    long ok = 0, eio = 0;
    while (std::getline(in, line)) std::sscanf(line.c_str(), "thread ok=%ld eio=%ld", &ok, &eio);
    return {ok, eio};
  }
  // With own-files: the read EIOs on held.txt ("heio=K").
  long held_eio() const {
    std::istringstream in(out());
    std::string line;
    long ok = 0, eio = 0, heio = 0;
    while (std::getline(in, line)) std::sscanf(line.c_str(), "thread ok=%ld eio=%ld heio=%ld", &ok, &eio, &heio);
    return heio;
  }
  pid_t worker() const {
    for (const auto& e : std::filesystem::directory_iterator(fmt::format("/proc/{}/task", pid_)))
      if (std::stoi(e.path().filename().string()) != pid_) return std::stoi(e.path().filename().string());
    return 0;
  }

 private:
  pid_t pid_ = -1;
  std::string out_path_;
};

// ChaosFS served by this test process, mounted over a directory the way `fs inject` does it:
// on a staging directory first, then cloned and moved over the volume (so that unmounting
// at the end never touches what is at the volume's path).
class InProcessChaosFs {
 public:
  Result<void> mount_over(const std::string& volume, std::vector<FsFaultRule> rules) {
    stage_ = volume + ".stage";
    ::mkdir(stage_.c_str(), 0700);
    UniqueFd backing(::open(volume.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!backing) return Error::sys("open " + volume);
    ChaosFsOptions o;
    o.backing_fd = backing.get();
    o.mountpoint = stage_;
    o.seed = 7;
    o.threads = 2;
    o.unmount_guardian = false;
    o.recover_dead_mount = false;
    o.rules = std::move(rules);
    auto fs = ChaosFs::mount(o);
    if (!fs) return fs.error();
    fs_ = std::move(*fs);
    server_ = std::thread([this] { (void)fs_->run(); });
    auto tree = clone_mount(stage_);
    if (!tree) return tree.error();
    SYSCHAOS_TRY(detach_mount(stage_));
    return attach_mount(*tree, volume);
  }
  uint64_t failed() const { return fs_->rules().empty() ? 0 : fs_->rules()[0].counters.failed; }
  ~InProcessChaosFs() {
    if (fs_) {
      fs_->stop();
      if (server_.joinable()) server_.join();
      fs_.reset();
    }
    if (!stage_.empty()) ::rmdir(stage_.c_str());
  }

 private:
  std::unique_ptr<ChaosFs> fs_;
  std::thread server_;
  std::string stage_;
};

class ThreadCwdRepoint : public VolumeFixture, public ::testing::WithParamInterface<std::tuple<bool, bool>> {
 protected:
  void SetUp() override {
    VolumeFixture::SetUp();
    ASSERT_EQ(::mkdir((dir_ + "/sub").c_str(), 0755), 0);
    std::ofstream(dir_ + "/sub/probe.txt") << "probe content\n";
    std::ofstream(dir_ + "/top.txt") << "top\n";
  }
  void TearDown() override {
    while (::umount2(dir_.c_str(), MNT_DETACH) == 0) {
    }
    ::unlink((dir_ + "/sub/probe.txt").c_str());
    ::unlink((dir_ + "/top.txt").c_str());
    ::rmdir((dir_ + "/sub").c_str());
    VolumeFixture::TearDown();
  }
  int cwd_mount(pid_t pid, pid_t tid) {
    auto id = mount_id_of(fmt::format("/proc/{}/task/{}/cwd", pid, tid));
    return id ? *id : -1;
  }
  // Moved back: `calls` more of the worker's opens succeed on the volume, and none reaches
  // ChaosFS any more (its counter of failed calls stands still).
  void expect_off_chaos_fs(const ThreadCwdProgram& prog, const InProcessChaosFs& chaos, long calls) {
    uint64_t failed_at_restore = chaos.failed();
    long ok1 = prog.counts().first;
    ASSERT_TRUE(eventually([&] { return prog.counts().first >= ok1 + calls; }, std::chrono::seconds(5))) << prog.out();
    EXPECT_EQ(chaos.failed(), failed_at_restore);
  }
};

TEST_P(ThreadCwdRepoint, AThreadWithItsOwnCwdIsMovedToChaosFsAndBack) {
  auto [main_in_volume, clone_no_fs] = GetParam();
  ThreadCwdProgram prog(dir_, main_in_volume, clone_no_fs);
  ASSERT_TRUE(eventually([&] { return prog.counts().first >= 20; }, std::chrono::seconds(5))) << prog.out();
  pid_t worker = prog.worker();
  ASSERT_GT(worker, 0);
  auto orig = mount_id_of(dir_);
  ASSERT_TRUE(orig);
  ASSERT_EQ(cwd_mount(prog.pid(), worker), *orig);
  // The worker's cwd is not the process's: /proc/PID/cwd alone would miss it.
  EXPECT_EQ(std::filesystem::read_symlink(fmt::format("/proc/{}/task/{}/cwd", prog.pid(), worker)).string(),
            dir_ + "/sub");
  EXPECT_EQ(std::filesystem::read_symlink(fmt::format("/proc/{}/cwd", prog.pid())).string(),
            main_in_volume ? dir_ : std::string("/"));

  auto rules = parse_fs_rules("faults:\n  - methods: [open]\n    path: sub/probe.txt\n    fault: EIO\n");
  ASSERT_TRUE(rules) << rules.error().message();
  InProcessChaosFs chaos;
  auto mounted = chaos.mount_over(dir_, std::move(*rules));
  ASSERT_TRUE(mounted) << mounted.error().message();
  auto top = mount_id_of(dir_);
  ASSERT_TRUE(top);
  ASSERT_NE(*top, *orig);

  // Armed, but the worker's relative opens still resolve on the covered mount: no EIO.
  long ok0 = prog.counts().first;
  ASSERT_TRUE(eventually([&] { return prog.counts().first >= ok0 + 40; }, std::chrono::seconds(5)));
  EXPECT_EQ(prog.counts().second, 0);
  EXPECT_EQ(chaos.failed(), 0u);
  EXPECT_TRUE(holds_files_on(prog.pid(), RepointSpec{*orig, dir_, false}));
  EXPECT_EQ(repoint_refusal(prog.pid(), RepointSpec{*orig, dir_, false}), std::nullopt);

  auto moved = repoint_logged("there", prog.pid(), RepointSpec{*orig, dir_, false});
  ASSERT_TRUE(moved) << moved.error().message();
  EXPECT_EQ(moved->threads, 2u);
  EXPECT_EQ(moved->thread_cwds, 1);
  EXPECT_EQ(moved->cwd, main_in_volume);
  // The worker may be stopped between its open and close of probe.txt: re-opening that fd on
  // ChaosFS meets the armed open rule (EIO), so it stays on the volume, reported, until the
  // worker closes it a few milliseconds later. Nothing else may be left.
  EXPECT_LE(moved->left.size(), 1u) << describe(*moved);
  for (const auto& l : moved->left) EXPECT_NE(l.find("probe.txt"), std::string::npos) << describe(*moved);
  EXPECT_NE(describe(*moved).find("1 thread cwd(s)"), std::string::npos) << describe(*moved);
  EXPECT_EQ(cwd_mount(prog.pid(), worker), *top);
  EXPECT_EQ(cwd_mount(prog.pid(), prog.pid()), main_in_volume ? *top : *mount_id_of("/"));
  EXPECT_TRUE(eventually([&] { return !holds_files_on(prog.pid(), RepointSpec{*orig, dir_, false}); },
                         std::chrono::seconds(2)));

  // Its relative opens now go through ChaosFS: the rule fires, the worker counts EIO.
  ASSERT_TRUE(eventually([&] { return prog.counts().second >= 10; }, std::chrono::seconds(5))) << prog.out();
  EXPECT_GE(chaos.failed(), 10u);

  // Recovery, rule still armed: ChaosFS off the volume, every thread moved back.
  ASSERT_TRUE(detach_mount(dir_));
  auto back = repoint_logged("back", prog.pid(), RepointSpec{*top, dir_, true});
  ASSERT_TRUE(back) << back.error().message();
  EXPECT_EQ(back->thread_cwds, 1);
  EXPECT_EQ(back->cwd, main_in_volume);
  EXPECT_TRUE(back->left.empty()) << describe(*back);
  EXPECT_EQ(cwd_mount(prog.pid(), worker), *orig);
  EXPECT_FALSE(holds_files_on(prog.pid(), RepointSpec{*top, dir_, true}));
  ASSERT_NO_FATAL_FAILURE(expect_off_chaos_fs(prog, chaos, 60));
  expect_unharmed(prog.pid(), prog.out());
}

// A worker with an fd table of its own as well (unshare(CLONE_FILES), or cloned without
// CLONE_FILES): its fds are not in /proc/PID/fd, and only a thread using that table can
// replace them, so the openat/lseek/dup3/close run in the worker.
class ThreadFilesRepoint : public ThreadCwdRepoint {};

TEST_P(ThreadFilesRepoint, AThreadsOwnFdTableIsMovedToChaosFsAndBack) {
  bool clone_no_fs = std::get<1>(GetParam());
  std::ofstream(dir_ + "/sub/held.txt") << "0123456789abcdefghijklmnopqrstuvwxyz";
  struct Cleanup {
    std::string f;
    ~Cleanup() { ::unlink(f.c_str()); }
  } cleanup{dir_ + "/sub/held.txt"};
  ThreadCwdProgram prog(dir_, false, clone_no_fs, true);
  ASSERT_TRUE(eventually([&] { return prog.counts().first >= 20; }, std::chrono::seconds(5))) << prog.out();
  pid_t worker = prog.worker();
  ASSERT_GT(worker, 0);
  // The worker's held.txt fd, which the main thread's table (/proc/PID/fd) does not have.
  auto held_fd = [&](pid_t tid) {
    std::string base = tid ? fmt::format("/proc/{}/task/{}/fd", prog.pid(), tid) : fmt::format("/proc/{}/fd", prog.pid());
    for (const auto& e : std::filesystem::directory_iterator(base)) {
      std::error_code ec;
      if (std::filesystem::read_symlink(e.path(), ec).string() == dir_ + "/sub/held.txt") return e.path().string();
    }
    return std::string();
  };
  std::string fd_link = held_fd(worker);
  ASSERT_FALSE(fd_link.empty());
  ASSERT_TRUE(held_fd(0).empty()) << "held.txt is in the main thread's fd table: the worker shares it";
  auto orig = mount_id_of(dir_);
  ASSERT_TRUE(orig);
  ASSERT_EQ(*mount_id_of(fd_link), *orig);

  auto rules = parse_fs_rules("faults:\n  - methods: [read]\n    path: sub/held.txt\n    fault: EIO\n");
  ASSERT_TRUE(rules) << rules.error().message();
  InProcessChaosFs chaos;
  auto mounted = chaos.mount_over(dir_, std::move(*rules));
  ASSERT_TRUE(mounted) << mounted.error().message();
  auto top = mount_id_of(dir_);
  ASSERT_TRUE(top);
  EXPECT_TRUE(holds_files_on(prog.pid(), RepointSpec{*orig, dir_, false}));

  // Both ways the same: the worker's table and cwd moved, its held fd now on `mount`.
  auto expect_worker_moved = [&](const RepointOutcome& o, int mount) {
    // held.txt, and maybe probe.txt if the worker was caught between its open and close.
    EXPECT_GE(o.fds, 1);
    EXPECT_LE(o.fds, 2);
    EXPECT_EQ(o.thread_cwds, 1);
    EXPECT_TRUE(o.left.empty()) << describe(o);
    EXPECT_EQ(*mount_id_of(fd_link), mount);
  };
  auto moved = repoint_logged("there", prog.pid(), RepointSpec{*orig, dir_, false});
  ASSERT_TRUE(moved) << moved.error().message();
  expect_worker_moved(*moved, *top);
  EXPECT_FALSE(holds_files_on(prog.pid(), RepointSpec{*orig, dir_, false}));
  // Its reads of the held fd now reach ChaosFS and fail as the rule says.
  ASSERT_TRUE(eventually([&] { return prog.held_eio() >= 10; }, std::chrono::seconds(5))) << prog.out();

  ASSERT_TRUE(detach_mount(dir_));
  auto back = repoint_logged("back", prog.pid(), RepointSpec{*top, dir_, true});
  ASSERT_TRUE(back) << back.error().message();
  expect_worker_moved(*back, *orig);
  long heio1 = prog.held_eio();
  ASSERT_NO_FATAL_FAILURE(expect_off_chaos_fs(prog, chaos, 60));
  // At most the line printed before the move back can still add EIOs.
  EXPECT_LE(prog.held_eio(), heio1 + 20);
  // Every byte read after the moves followed the previous one (offset carried over).
  expect_unharmed(prog.pid(), prog.out());
}

// The main thread computes (no system call in progress): the worker, asleep in a call, is the
// executor, and the main thread's cwd is changed by running fchdir in it from outside any
// call (its registers put back exactly as they were).
TEST_F(ThreadCwdRepoint, TheMainThreadCaughtComputingIsMovedByTheWorkersInstruction) {
  ThreadCwdProgram prog(dir_, true, false, false, true);
  ASSERT_TRUE(eventually([&] { return prog.counts().first >= 20; }, std::chrono::seconds(5))) << prog.out();
  pid_t worker = prog.worker();
  auto orig = mount_id_of(dir_);
  ASSERT_TRUE(orig);
  auto rules = parse_fs_rules("faults:\n  - methods: [open]\n    path: sub/probe.txt\n    fault: EIO\n");
  ASSERT_TRUE(rules);
  InProcessChaosFs chaos;
  ASSERT_TRUE(chaos.mount_over(dir_, std::move(*rules)));
  auto top = mount_id_of(dir_);
  ASSERT_TRUE(top);
  // The interrupt must find the main thread computing: try a few times.
  std::optional<RepointOutcome> moved;
  auto main_in_syscall = [&] {
    auto stat = read_file(fmt::format("/proc/{}/task/{}/stat", prog.pid(), prog.pid()));
    return stat.find(") R ") == std::string::npos;
  };
  for (int i = 0; i < 50 && !moved; ++i) {
    if (main_in_syscall()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(3));
      continue;
    }
    auto r = repoint_logged("there", prog.pid(), RepointSpec{*orig, dir_, false});
    ASSERT_TRUE(r) << r.error().message();
    moved = *r;
  }
  ASSERT_TRUE(moved) << "the main thread was never seen running";
  EXPECT_EQ(moved->executor_mode, "in-syscall");
  EXPECT_TRUE(moved->cwd);
  EXPECT_EQ(moved->thread_cwds, 1);
  EXPECT_TRUE(moved->left.empty()) << describe(*moved);
  EXPECT_EQ(cwd_mount(prog.pid(), prog.pid()), *top);
  EXPECT_EQ(cwd_mount(prog.pid(), worker), *top);
  ASSERT_TRUE(eventually([&] { return prog.counts().second >= 10; }, std::chrono::seconds(5))) << prog.out();
  ASSERT_TRUE(detach_mount(dir_));
  auto back = repoint_logged("back", prog.pid(), RepointSpec{*top, dir_, true});
  ASSERT_TRUE(back) << back.error().message();
  EXPECT_TRUE(back->cwd);
  EXPECT_EQ(back->thread_cwds, 1);
  EXPECT_EQ(cwd_mount(prog.pid(), prog.pid()), *orig);
  long ok1 = prog.counts().first;
  ASSERT_TRUE(eventually([&] { return prog.counts().first >= ok1 + 40; }, std::chrono::seconds(5))) << prog.out();
  // The main thread's stat("top.txt") relative to its cwd never failed, before, during or
  // after; its computation went on (a wrong register would have crashed it).
  expect_unharmed(prog.pid(), prog.out());
  EXPECT_EQ(::kill(prog.pid(), 0), 0);
}

INSTANTIATE_TEST_SUITE_P(OwnFdTable, ThreadFilesRepoint, ::testing::Combine(::testing::Values(false), ::testing::Bool()),
                         [](const auto& info) {
                           return std::string(std::get<1>(info.param) ? "ThreadClonedWithoutCloneFiles"
                                                                      : "ThreadUnsharedCloneFiles");
                         });

INSTANTIATE_TEST_SUITE_P(MainThreadCwd, ThreadCwdRepoint, ::testing::Combine(::testing::Bool(), ::testing::Bool()),
                         [](const auto& info) {
                           return std::string(std::get<0>(info.param) ? "MainCwdInVolumeToo" : "MainCwdElsewhere") +
                                  (std::get<1>(info.param) ? "_ThreadClonedWithoutCloneFs" : "_ThreadUnsharedCloneFs");
                         });

// A process chrooted into the volume cannot be re-pointed (a mount over a directory does not
// change a root already set to it): refused with the reason, without being stopped.
TEST_F(ContainerRepointBusy, AProcessChrootedIntoTheVolumeIsRefusedWithoutBeingStopped) {
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  pid_t child = ::fork();
  if (child == 0) {
    if (::chroot(dir_.c_str()) != 0 || ::chdir("/") != 0) ::_exit(1);
    char c = 'r';
    if (::write(ready[1], &c, 1) != 1) ::_exit(1);
    for (;;) ::pause();
  }
  ::close(ready[1]);
  char c;
  ASSERT_EQ(::read(ready[0], &c, 1), 1);
  auto orig = mount_id_of(dir_);
  ASSERT_TRUE(orig);
  RepointSpec spec{*orig, dir_, false};
  EXPECT_TRUE(holds_files_on(child, spec));
  auto why = repoint_refusal(child, spec);
  ASSERT_TRUE(why);
  EXPECT_NE(why->find("chrooted into the volume"), std::string::npos) << *why;
  auto out = repoint_process(child, spec);
  ASSERT_FALSE(out);
  EXPECT_EQ(out.error().sys_errno(), EOPNOTSUPP);
  EXPECT_EQ(syschaos::testing::tracer_pid(child), 0);
  ::kill(child, SIGKILL);
  ::waitpid(child, nullptr, 0);
  ::close(ready[0]);
}

// Chrooted elsewhere: refused only if it holds files on the volume (its paths are below its
// chroot, not the namespace's root).
TEST_F(ContainerRepointBusy, AProcessChrootedElsewhereIsRefusedOnlyIfItHoldsFilesOnTheVolume) {
  auto orig = mount_id_of(dir_);
  ASSERT_TRUE(orig);
  RepointSpec spec{*orig, dir_, false};
  for (bool hold : {false, true}) {
    int ready[2];
    ASSERT_EQ(::pipe(ready), 0);
    pid_t child = ::fork();
    if (child == 0) {
      if (hold && ::open((dir_ + "/data.txt").c_str(), O_RDONLY) < 0) ::_exit(1);
      if (::chroot("/usr") != 0 || ::chdir("/") != 0) ::_exit(1);
      char c = 'r';
      if (::write(ready[1], &c, 1) != 1) ::_exit(1);
      for (;;) ::pause();
    }
    ::close(ready[1]);
    char c;
    ASSERT_EQ(::read(ready[0], &c, 1), 1);
    auto why = repoint_refusal(child, spec);
    if (hold) {
      ASSERT_TRUE(why);
      EXPECT_NE(why->find("chrooted to /usr"), std::string::npos) << *why;
    } else {
      EXPECT_EQ(why, std::nullopt) << *why;
      EXPECT_FALSE(holds_files_on(child, spec));
    }
    ::kill(child, SIGKILL);
    ::waitpid(child, nullptr, 0);
    ::close(ready[0]);
  }
}

}  // namespace
