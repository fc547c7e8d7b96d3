// ResourceSampler against real cgroups and processes (root): a v1 cgroup set (cpuacct, memory,
// blkio, pids), a v2 cgroup, a v2 cgroup with v1 controllers beside it (a hybrid host's Docker
// layout), a process tree without a cgroup, and a Docker container when Docker is reachable.
// A child burns CPU and, when told, allocates memory and forks; the sampler must see it.
#include <fcntl.h>
#include <fmt/ranges.h>
#include <gtest/gtest.h>
#include <time.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <thread>

#include "observe/process_counters.hpp"
#include "observe/resource_sampler.hpp"
#include "process_runner.hpp"
#include "target/cgroup_paths.hpp"
#include "target/docker_target.hpp"
#include "target/proc_files.hpp"

namespace syschaos {
namespace {

using namespace std::chrono_literals;
using testing::eventually;
using testing::run_command;

constexpr uint64_t kAllocation = 64ull << 20;

// Burns `cpu_time` of this process's CPU time (not wall time: the machine may be busy).
void burn_cpu(std::chrono::milliseconds cpu_time) {
  auto used = [] {
    timespec ts{};
    ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec);
  };
  auto until = used() + cpu_time;
  volatile uint64_t x = 0;
  while (used() < until)
    for (int i = 0; i < 10000; ++i) x = x + i;
}

bool write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
  out.flush();
  return static_cast<bool>(out);
}

// A child that burns CPU until killed and obeys one-letter commands on a pipe:
// 'm' allocates and touches 64 MiB, 'f' forks a child that sleeps (and dies with it).
// Runs at a raised priority so that other work on the machine (builds running beside the
// tests) cannot starve it below a core. With autogroup scheduling, nice only ranks tasks
// within one session's group, so the child starts a session of its own and that session's
// group gets the priority.
class BurnerChild {
 public:
  BurnerChild() {
    int fds[2], ready[2];
    if (::pipe2(fds, O_CLOEXEC) != 0 || ::pipe2(ready, O_CLOEXEC) != 0) return;
    pid_ = ::fork();
    if (pid_ == 0) {
      ::close(fds[1]);
      ::close(ready[0]);
      ::fcntl(fds[0], F_SETFL, O_NONBLOCK);
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      ::setsid();
      if (::write(ready[1], "r", 1) != 1) ::_exit(1);
      ::close(ready[1]);
      volatile uint64_t x = 0;
      for (;;) {
        for (int i = 0; i < 100000; ++i) x = x + i;
        char command;
        if (::read(fds[0], &command, 1) != 1) continue;
        if (command == 'm') {
          char* memory = static_cast<char*>(::malloc(kAllocation));
          for (uint64_t i = 0; memory && i < kAllocation; i += 4096) memory[i] = 1;
        } else if (command == 'f') {
          if (::fork() == 0) {
            ::prctl(PR_SET_PDEATHSIG, SIGKILL);
            for (;;) ::pause();
          }
        }
      }
    }
    ::close(fds[0]);
    ::close(ready[1]);
    command_fd_ = fds[1];
    char in_own_session;
    // Only once the child has its own session may its autogroup be changed: before, it
    // would be the test's.
    if (::read(ready[0], &in_own_session, 1) == 1)
      write_file(fmt::format("/proc/{}/autogroup", pid_), "-10");
    ::close(ready[0]);
    ::setpriority(PRIO_PROCESS, static_cast<id_t>(pid_), -10);
  }
  ~BurnerChild() {
    if (command_fd_ >= 0) ::close(command_fd_);
    kill_and_reap();
  }
  BurnerChild(const BurnerChild&) = delete;
  BurnerChild& operator=(const BurnerChild&) = delete;

  pid_t pid() const { return pid_; }
  void command(char c) const { ASSERT_EQ(::write(command_fd_, &c, 1), 1); }
  void kill_and_reap() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    while (::waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
  }

 private:
  pid_t pid_ = -1;
  int command_fd_ = -1;
};

// CPU seconds the process has used (its own, its reaped children's), from /proc/PID/stat.
double cpu_seconds_of(pid_t pid) {
  auto text = read_text_file(fmt::format("/proc/{}/stat", pid));
  if (!text) return -1;
  auto stat = parse_proc_stat(*text);
  if (!stat) return -1;
  return static_cast<double>(stat->utime + stat->stime + stat->cutime + stat->cstime) /
         static_cast<double>(::sysconf(_SC_CLK_TCK));
}

// A cgroup made for the test under a hierarchy's mount; on destruction its processes are
// killed and it is removed.
class TestCgroup {
 public:
  TestCgroup(const std::string& mount_point, const std::string& name) : dir_(mount_point + "/" + name) {
    made_ = ::mkdir(dir_.c_str(), 0755) == 0;
  }
  ~TestCgroup() { remove(); }
  TestCgroup(const TestCgroup&) = delete;
  TestCgroup& operator=(const TestCgroup&) = delete;

  bool made() const { return made_; }
  const std::string& dir() const { return dir_; }
  bool add(pid_t pid) const { return write_file(dir_ + "/cgroup.procs", std::to_string(pid)); }
  void remove() {
    if (!made_) return;
    eventually(
        [&] {
          auto pids = read_cgroup_procs(dir_);
          if (!pids || pids->empty()) return true;
          for (pid_t pid : *pids) ::kill(pid, SIGKILL);
          return false;
        },
        5s);
    made_ = ::rmdir(dir_.c_str()) != 0;
  }

 private:
  std::string dir_;
  bool made_ = false;
};

std::optional<std::string> mount_of(std::string_view hierarchy) {
  auto mounts = read_cgroup_mounts();
  if (!mounts) return std::nullopt;
  for (const CgroupMount& mount : *mounts)
    if (mount.carries(hierarchy) && mount.root == "/") return mount.mount_point;
  return std::nullopt;
}

std::string test_cgroup_name() {
  return fmt::format("syschaos-rs-{}-{}", ::getpid(),
                     ::testing::UnitTest::GetInstance()->current_test_info()->name());
}

std::string message_of(const Error& error) { return error.message(); }

// Samples after `span`, checking cpu_cores against the child's own CPU time over the same span
// and that the child got at least `min_cores`.
ResourceStats sample_after_burning(ResourceSampler& sampler, pid_t child, std::chrono::milliseconds span,
                                   double min_cores = 0.5) {
  // The sampler's previous reading is "now": start the independent clock here.
  auto before_stats = sampler.sample();
  EXPECT_TRUE(before_stats.ok()) << message_of(before_stats.error());
  double cpu_before = cpu_seconds_of(child);
  auto start = std::chrono::steady_clock::now();
  std::this_thread::sleep_for(span);
  auto stats = sampler.sample();
  double cpu_after = cpu_seconds_of(child);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_TRUE(stats.ok()) << message_of(stats.error());
  if (!stats.ok()) return {};
  double expected_cores = (cpu_after - cpu_before) / seconds;
  EXPECT_TRUE(stats->cpu_cores.has_value());
  // /proc times tick at 100 Hz: allow a few ticks of disagreement over the span.
  EXPECT_NEAR(stats->cpu_cores.value_or(-1), expected_cores, 0.1) << "child's own CPU time says " << expected_cores;
  EXPECT_GT(stats->cpu_cores.value_or(0), min_cores);
  return *stats;
}

TEST(ResourceSampler, V1CgroupSetCpuMemoryPidsAndIo) {
  std::string name = test_cgroup_name();
  auto pids_mount = mount_of("pids"), memory_mount = mount_of("memory"), cpuacct_mount = mount_of("cpuacct");
  auto blkio_mount = mount_of("blkio");
  if (!pids_mount || !memory_mount || !cpuacct_mount || !blkio_mount)
    GTEST_SKIP() << "no cgroup v1 pids, memory, cpuacct and blkio hierarchies";
  TestCgroup pids(*pids_mount, name), memory(*memory_mount, name), cpuacct(*cpuacct_mount, name),
      blkio(*blkio_mount, name);
  ASSERT_TRUE(pids.made() && memory.made() && cpuacct.made() && blkio.made()) << std::strerror(errno);
  ASSERT_TRUE(write_file(memory.dir() + "/memory.limit_in_bytes", std::to_string(512ull << 20)));

  BurnerChild child;
  ASSERT_GT(child.pid(), 0);
  for (const TestCgroup* cgroup : {&pids, &memory, &cpuacct, &blkio}) ASSERT_TRUE(cgroup->add(child.pid()));

  // Resolved from the pids directory alone, as for a --cgroup target.
  auto source = resource_source_for_cgroup(pids.dir());
  ASSERT_TRUE(source.ok()) << source.error().message();
  EXPECT_EQ(source->cgroup.pids, pids.dir());
  EXPECT_EQ(source->cgroup.memory, memory.dir());
  EXPECT_EQ(source->cgroup.cpuacct, cpuacct.dir());
  EXPECT_EQ(source->cgroup.blkio, blkio.dir());
  auto sampler = ResourceSampler::create(*source);
  ASSERT_TRUE(sampler.ok()) << sampler.error().message();
  EXPECT_EQ((*sampler)->source_kind(), "cgroup v1");
  EXPECT_EQ((*sampler)->summary(), "cgroup v1 " + pids.dir());

  ResourceStats first = sample_after_burning(**sampler, child.pid(), 1000ms);
  EXPECT_EQ(first.source, "cgroup v1");
  ASSERT_TRUE(first.memory_bytes.has_value());
  EXPECT_EQ(first.pids, std::optional<uint64_t>(1));
  EXPECT_EQ(first.memory_limit_bytes, std::optional<uint64_t>(512ull << 20));
  EXPECT_EQ(first.oom_kills, std::optional<uint64_t>(0));
  EXPECT_EQ(first.oom_events, std::nullopt) << "v1 has no OOM event count";
  EXPECT_TRUE(first.io_read_bytes.has_value() && first.io_write_bytes.has_value());
  // The child is in the host's network namespace, which everything else shares too.
  EXPECT_EQ(first.network_shared, std::optional<bool>(true));
  EXPECT_TRUE(first.net_rx_bytes.has_value());

  child.command('m');
  child.command('f');
  ResourceStats second;
  ASSERT_TRUE(eventually(
      [&] {
        auto stats = (*sampler)->sample();
        if (!stats) return false;
        second = *stats;
        return second.memory_bytes.value_or(0) >= *first.memory_bytes + kAllocation - (4 << 20) &&
               second.pids == std::optional<uint64_t>(2);
      },
      5s))
      << "memory " << second.memory_bytes.value_or(0) << " (was " << *first.memory_bytes << "), pids "
      << second.pids.value_or(0);
  EXPECT_GE(second.memory_peak_bytes.value_or(0), *second.memory_bytes);
  ASSERT_TRUE(second.memory_working_set_bytes.has_value());
  EXPECT_LE(*second.memory_working_set_bytes, *second.memory_bytes);
  EXPECT_GE(*second.memory_working_set_bytes, kAllocation - (4 << 20)) << "anonymous memory is never inactive file cache";
  EXPECT_GT(*second.cpu_usage_ns, *first.cpu_usage_ns);

  // The cgroup goes away: one clear error, errno kept.
  child.kill_and_reap();
  pids.remove();
  auto gone = (*sampler)->sample();
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.error().sys_errno(), ENOENT);
  EXPECT_EQ(gone.error().message(), fmt::format("cgroup {} was removed", pids.dir()));
}

TEST(ResourceSampler, V2Cgroup) {
  auto v2_mount = mount_of(kCgroupV2Hierarchy);
  if (!v2_mount) GTEST_SKIP() << "no cgroup v2 mount";
  TestCgroup cgroup(*v2_mount, test_cgroup_name());
  ASSERT_TRUE(cgroup.made()) << std::strerror(errno);
  std::string controllers = testing::read_file(*v2_mount + "/cgroup.controllers");
  bool has_memory = controllers.find("memory") != std::string::npos;
  bool has_pids = controllers.find("pids") != std::string::npos;
  // Controllers must be enabled for the children of the parent to get their files.
  if (has_memory) has_memory = write_file(*v2_mount + "/cgroup.subtree_control", "+memory");
  if (has_pids) has_pids = write_file(*v2_mount + "/cgroup.subtree_control", "+pids");

  BurnerChild child;
  ASSERT_GT(child.pid(), 0);
  ASSERT_TRUE(cgroup.add(child.pid()));
  auto source = resource_source_for_cgroup(cgroup.dir());
  ASSERT_TRUE(source.ok()) << source.error().message();
  EXPECT_EQ(source->cgroup.v2, cgroup.dir());
  auto sampler = ResourceSampler::create(*source);
  ASSERT_TRUE(sampler.ok()) << sampler.error().message();

  ResourceStats first = sample_after_burning(**sampler, child.pid(), 1000ms);
  if (!has_memory) {
    // A hybrid host keeps memory on v1, and the child's v1 memory cgroup is the test's own,
    // which holds other processes: nothing may be reported from it.
    EXPECT_EQ(first.memory_bytes, std::nullopt);
    EXPECT_NE((*sampler)->describe().find("not used: v1 memory"), std::string::npos) << (*sampler)->describe();
    return;
  }
  EXPECT_EQ(first.source, "cgroup v2");
  child.command('m');
  ASSERT_TRUE(eventually(
      [&] {
        auto stats = (*sampler)->sample();
        return stats && stats->memory_bytes.value_or(0) >= first.memory_bytes.value_or(0) + kAllocation - (4 << 20);
      },
      5s));
  if (has_pids) {
    EXPECT_EQ((*sampler)->sample()->pids, std::optional<uint64_t>(1));
  }
}

// Docker's layout on a hybrid host: the container's v2 cgroup (cpu.stat only) and v1
// cgroups of the same path for memory, blkio and pids.
TEST(ResourceSampler, V2DirectoryTakesTheRestFromV1) {
  std::string name = test_cgroup_name();
  auto v2_mount = mount_of(kCgroupV2Hierarchy), memory_mount = mount_of("memory"), pids_mount = mount_of("pids");
  if (!v2_mount || !memory_mount || !pids_mount) GTEST_SKIP() << "not a hybrid cgroup host";
  if (testing::read_file(*v2_mount + "/cgroup.controllers").find("memory") != std::string::npos)
    GTEST_SKIP() << "memory is on the v2 hierarchy here";
  TestCgroup v2(*v2_mount, name), memory(*memory_mount, name), pids(*pids_mount, name);
  ASSERT_TRUE(v2.made() && memory.made() && pids.made());
  BurnerChild child;
  ASSERT_GT(child.pid(), 0);
  for (const TestCgroup* cgroup : {&v2, &memory, &pids}) ASSERT_TRUE(cgroup->add(child.pid()));

  auto source = resource_source_for_cgroup(v2.dir());
  ASSERT_TRUE(source.ok()) << source.error().message();
  auto sampler = ResourceSampler::create(*source);
  ASSERT_TRUE(sampler.ok()) << sampler.error().message();
  EXPECT_EQ((*sampler)->source_kind(), "cgroup v2+v1");
  std::string description = (*sampler)->describe();
  EXPECT_NE(description.find("cpu: " + v2.dir() + "/cpu.stat"), std::string::npos) << description;
  EXPECT_NE(description.find("memory: " + memory.dir()), std::string::npos) << description;
  ResourceStats stats = sample_after_burning(**sampler, child.pid(), 700ms);
  EXPECT_TRUE(stats.memory_bytes.has_value());
  EXPECT_EQ(stats.pids, std::optional<uint64_t>(1));
  // No blkio cgroup of that path, and the child's blkio cgroup (the root) holds others.
  EXPECT_EQ(stats.io_read_bytes, std::nullopt);
}

TEST(ResourceSampler, RefusesAnotherControllersCgroupThatHoldsOthers) {
  // Only a pids cgroup: the child's memory cgroup is the test's own, shared with the test.
  auto pids_mount = mount_of("pids");
  if (!pids_mount || !mount_of("memory")) GTEST_SKIP() << "no cgroup v1 pids and memory hierarchies";
  TestCgroup pids(*pids_mount, test_cgroup_name());
  ASSERT_TRUE(pids.made());
  BurnerChild child;
  ASSERT_TRUE(pids.add(child.pid()));
  auto source = resource_source_for_cgroup(pids.dir());
  ASSERT_TRUE(source.ok()) << source.error().message();
  EXPECT_EQ(source->cgroup.memory, std::nullopt);
  bool noted = false;
  for (const std::string& note : source->notes)
    if (note.starts_with("v1 memory: ") && note.ends_with("which is not the target's")) noted = true;
  EXPECT_TRUE(noted) << "notes: " << fmt::format("{}", fmt::join(source->notes, " | "));
}

// A --pid target: no cgroup of its own, so the process tree is summed from /proc. A
// grandchild burns CPU and is reaped by the child: the tree's CPU time must count it exactly
// once (its time moves into the child's cutime when it is reaped).
TEST(ResourceSampler, ProcessTreeWithoutCgroup) {
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  pid_t child = ::fork();
  if (child == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    char go;
    if (::read(ready[0], &go, 1) != 1) ::_exit(1);
    pid_t grandchild = ::fork();
    if (grandchild == 0) {
      burn_cpu(600ms);
      ::_exit(0);
    }
    char* memory = static_cast<char*>(::malloc(kAllocation));
    for (uint64_t i = 0; memory && i < kAllocation; i += 4096) memory[i] = 1;
    burn_cpu(400ms);
    ::waitpid(grandchild, nullptr, 0);
    for (;;) ::pause();
  }
  ::close(ready[0]);
  struct Reaper {
    pid_t pid;
    ~Reaper() {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
  } reaper{child};

  auto sampler = ResourceSampler::create(ResourceSource::for_processes({child}));
  ASSERT_TRUE(sampler.ok()) << sampler.error().message();
  EXPECT_EQ((*sampler)->source_kind(), "processes");
  EXPECT_EQ((*sampler)->summary(), fmt::format("/proc of pid {} and its descendants (no cgroup of its own)", child));
  ASSERT_EQ(::write(ready[1], "g", 1), 1);

  // Sample every 50 ms while the two burn and the grandchild is reaped, until the child rests.
  bool saw_two = false;
  uint64_t peak_memory = 0;
  ResourceStats last;
  ASSERT_TRUE(eventually(
      [&] {
        auto stats = (*sampler)->sample();
        EXPECT_TRUE(stats.ok()) << stats.error().message();
        if (!stats) return true;
        last = *stats;
        if (stats->pids.value_or(0) >= 2) saw_two = true;
        peak_memory = std::max(peak_memory, stats->memory_bytes.value_or(0));
        std::string state = testing::read_file(fmt::format("/proc/{}/stat", child));
        auto parsed = parse_proc_stat(state);
        return parsed && parsed->state == 'S' && parsed->cutime + parsed->cstime > 0;
      },
      10s));
  std::this_thread::sleep_for(100ms);
  auto final_stats = (*sampler)->sample();
  ASSERT_TRUE(final_stats.ok()) << final_stats.error().message();
  EXPECT_TRUE(saw_two) << "the grandchild was never counted";
  EXPECT_GE(peak_memory, kAllocation);
  EXPECT_EQ(final_stats->source, "processes");
  EXPECT_EQ(final_stats->pids, std::optional<uint64_t>(1));
  EXPECT_GE(final_stats->memory_peak_bytes.value_or(0), kAllocation);
  EXPECT_EQ(final_stats->network_shared, std::optional<bool>(true));
  // Exactly the child's own and reaped time: nothing of the grandchild counted twice.
  double tree_seconds = cpu_seconds_of(child);
  EXPECT_GE(tree_seconds, 0.98);
  EXPECT_NEAR(static_cast<double>(final_stats->cpu_usage_ns.value_or(0)) / 1e9, tree_seconds, 0.011);

  ::kill(child, SIGKILL);
  ASSERT_TRUE(eventually([&] { return ::kill(child, 0) != 0 || testing::process_state(child) == 'Z'; }, 5s));
  auto gone = (*sampler)->sample();
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.error().sys_errno(), ESRCH);
  EXPECT_EQ(gone.error().message(), fmt::format("process {} has exited", child));
}

TEST(ResourceSampler, SourceForTargets) {
  auto gone = ResourceSampler::create(ResourceSource::for_processes({}));
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.error().message(), "resource source has neither a cgroup nor a process to sample");

  auto outside = resource_source_for_cgroup("/tmp");
  ASSERT_FALSE(outside.ok());
  EXPECT_EQ(outside.error().message(), "/tmp is not inside a mounted cgroup hierarchy");
  if (auto pids_mount = mount_of("pids")) {
    auto missing = resource_source_for_cgroup(*pids_mount + "/syschaos-no-such-cgroup");
    ASSERT_FALSE(missing.ok());
    EXPECT_EQ(missing.error().sys_errno(), ENOENT);
  }
}

// ---- Docker ---------------------------------------------------------------------------------

constexpr const char* kImage = "syschaos-test/busybox";

std::string docker_unavailable() {
  static const std::string reason = [] {
    auto client = DockerClient::from_environment();
    if (!client.ok()) return client.error().message();
    if (auto pong = client->ping(); !pong.ok()) return pong.error().message();
    if (run_command({"docker", "image", "inspect", kImage}).exit_code != 0)
      return fmt::format("no image {} (the Docker target tests build it)", kImage);
    return std::string();
  }();
  return reason;
}

class Container {
 public:
  Container(std::string name, const std::vector<std::string>& run_options, const std::string& shell_command)
      : name_(std::move(name)) {
    run_command({"docker", "rm", "-f", name_});
    std::vector<std::string> argv = {"docker", "run", "-d", "--name", name_};
    argv.insert(argv.end(), run_options.begin(), run_options.end());
    argv.insert(argv.end(), {kImage, "/bin/sh", "-c", shell_command});
    auto result = run_command(argv);
    started_ = result.exit_code == 0;
    error_ = result.err;
  }
  ~Container() { run_command({"docker", "rm", "-f", name_}); }
  bool started() const { return started_; }
  const std::string& error() const { return error_; }
  const std::string& name() const { return name_; }

 private:
  std::string name_;
  bool started_ = false;
  std::string error_;
};

TEST(ResourceSamplerDocker, ContainerResources) {
  if (std::string reason = docker_unavailable(); !reason.empty()) GTEST_SKIP() << reason;
  Container busy(fmt::format("syschaos-rs-{}", ::getpid()), {"--network", "none"}, "while :; do :; done");
  ASSERT_TRUE(busy.started()) << busy.error();
  auto target = DockerTarget::create(busy.name());
  ASSERT_TRUE(target.ok()) << target.error().message();
  pid_t main_pid = (*target)->container().pid;

  auto source = resource_source_for(**target);
  ASSERT_TRUE(source.ok()) << source.error().message();
  auto sampler = ResourceSampler::create(*source);
  ASSERT_TRUE(sampler.ok()) << sampler.error().message();
  // The container's cpu cgroup competes as one group with everything else on the machine
  // (builds beside the tests), and its share cannot be raised without changing Docker's
  // parent cgroup: ask only that it burned, and that the sampler agrees with its own times.
  ResourceStats stats = sample_after_burning(**sampler, main_pid, 1000ms, 0.05);
  EXPECT_GT(stats.memory_bytes.value_or(0), 0u) << (*sampler)->describe();
  EXPECT_EQ(stats.pids, std::optional<uint64_t>(1)) << (*sampler)->describe();
  // --network none: a namespace of its own with only lo, which is what is reported.
  EXPECT_EQ(stats.network_shared, std::optional<bool>(false));
  EXPECT_EQ(stats.net_rx_bytes, std::optional<uint64_t>(0));
  EXPECT_NE((*sampler)->describe().find("interfaces lo"), std::string::npos) << (*sampler)->describe();

  ASSERT_EQ(run_command({"docker", "rm", "-f", busy.name()}).exit_code, 0);
  auto removed = (*sampler)->sample();
  ASSERT_FALSE(removed.ok());
  EXPECT_EQ(removed.error().sys_errno(), ENOENT);
  EXPECT_NE(removed.error().message().find("was removed"), std::string::npos) << removed.error().message();
}

TEST(ResourceSamplerDocker, HostNetworkIsMarkedShared) {
  if (std::string reason = docker_unavailable(); !reason.empty()) GTEST_SKIP() << reason;
  Container host(fmt::format("syschaos-rs-host-{}", ::getpid()), {"--network", "host"}, "sleep 600");
  ASSERT_TRUE(host.started()) << host.error();
  auto target = DockerTarget::create(host.name());
  ASSERT_TRUE(target.ok()) << target.error().message();
  auto source = resource_source_for(**target);
  ASSERT_TRUE(source.ok()) << source.error().message();
  auto sampler = ResourceSampler::create(*source);
  ASSERT_TRUE(sampler.ok()) << sampler.error().message();
  auto stats = (*sampler)->sample();
  ASSERT_TRUE(stats.ok()) << stats.error().message();
  EXPECT_EQ(stats->network_shared, std::optional<bool>(true));
  EXPECT_TRUE(stats->net_rx_bytes.has_value());
  EXPECT_NE((*sampler)->describe().find("shared with processes outside the target"), std::string::npos);
}

}  // namespace
}  // namespace syschaos
