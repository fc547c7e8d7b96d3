// DockerTarget against a real Docker Engine (skipped when Docker is unreachable): resolve a
// running container by name and id, see a `docker exec`'d process join, and get the right
// answer once the container stops and once it is removed.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <thread>

#include "target/docker_client.hpp"
#include "target/docker_target.hpp"
#include "process_runner.hpp"
#include "target/proc_files.hpp"

namespace syschaos {
namespace {

using namespace std::chrono_literals;

constexpr const char* kImage = "syschaos-test/busybox";

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout, trailing newline removed
};

// A shell command line (redirections, here-documents); building the test image can take
// minutes, hence the long limit.
CommandResult run_shell(const std::string& command) {
  auto run = testing::run_command({"/bin/sh", "-c", command}, std::chrono::minutes(10));
  CommandResult result{run.exit_code, std::move(run.out)};
  while (!result.output.empty() && result.output.back() == '\n') result.output.pop_back();
  return result;
}

// No image can be pulled here, so the test image is assembled from the host's own sleep and
// sh and the libraries they load.
constexpr const char* kBuildImage = R"SH(set -e
root=$(mktemp -d /tmp/syschaos-image-XXXXXX)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/bin" "$root/tmp"
for bin in /bin/sleep /bin/sh; do
  cp -L "$bin" "$root/bin/"
  for lib in $(ldd "$bin" | grep -o '/[^ ]*'); do
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
  done
done
tar -C "$root" -c . | docker import - syschaos-test/busybox >/dev/null
)SH";

// Why Docker tests cannot run here, or "" when they can.
std::string docker_unavailable() {
  static const std::string reason = [] {
    auto client = DockerClient::from_environment();
    if (!client.ok()) return client.error().message();
    if (auto pong = client->ping(); !pong.ok()) return pong.error().message();
    if (run_shell("command -v docker >/dev/null 2>&1").exit_code != 0)
      return std::string("no docker CLI");
    if (run_shell(fmt::format("docker image inspect {} >/dev/null 2>&1", kImage)).exit_code != 0 &&
        run_shell(fmt::format("bash -s 2>&1 <<'SYSCHAOS_EOF'\n{}SYSCHAOS_EOF\n", kBuildImage))
                .exit_code != 0)
      return std::string("cannot build the test image");
    return std::string();
  }();
  return reason;
}

class DockerTargetTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::string reason = docker_unavailable(); !reason.empty()) GTEST_SKIP() << reason;
    name_ = fmt::format("syschaos-it-{}-{}", ::getpid(),
                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::transform(name_.begin(), name_.end(), name_.begin(), [](char c) {
      return std::isalnum(static_cast<unsigned char>(c)) || c == '-' ? c : '-';
    });
    run_shell(fmt::format("docker rm -f {} >/dev/null 2>&1", name_));
    CommandResult run = run_shell(fmt::format(
        "docker run -d --network host --name {} {} /bin/sleep 600 2>&1", name_, kImage));
    ASSERT_EQ(run.exit_code, 0) << run.output;
    id_ = run.output;
    ASSERT_EQ(id_.size(), 64u) << id_;
    CommandResult pid = run_shell(fmt::format("docker inspect -f '{{{{.State.Pid}}}}' {}", name_));
    ASSERT_EQ(pid.exit_code, 0);
    main_pid_ = std::stoi(pid.output);
  }
  // Always: a failed assertion must not leave containers behind.
  void TearDown() override {
    if (!name_.empty()) run_shell(fmt::format("docker rm -f {} >/dev/null 2>&1", name_));
  }

  std::string name_, id_;
  pid_t main_pid_ = 0;
};

bool contains(const std::vector<pid_t>& pids, pid_t pid) {
  return std::find(pids.begin(), pids.end(), pid) != pids.end();
}

TEST_F(DockerTargetTest, ResolvesByNameAndById) {
  std::string want = fmt::format("container {} ({})", name_, id_.substr(0, 12));
  for (const std::string& spec : {name_, id_, id_.substr(0, 12), "/" + name_}) {
    auto target = DockerTarget::create(spec);
    ASSERT_TRUE(target.ok()) << spec << ": " << target.error().message();
    EXPECT_EQ((*target)->describe(), want);
    EXPECT_TRUE((*target)->may_gain_processes());
    EXPECT_EQ((*target)->container().id, id_);
    auto dir = (*target)->cgroup_dir();
    ASSERT_TRUE(dir.has_value());
    EXPECT_NE(dir->find(id_), std::string::npos) << *dir;
    auto pids = (*target)->processes();
    ASSERT_TRUE(pids.ok()) << pids.error().message();
    EXPECT_EQ(*pids, std::vector<pid_t>{main_pid_});
  }
}

TEST_F(DockerTargetTest, SeesProcessesStartedByDockerExec) {
  auto target = DockerTarget::create(name_);
  ASSERT_TRUE(target.ok()) << target.error().message();
  CommandResult exec = run_shell(fmt::format("docker exec -d {} /bin/sleep 777 2>&1", name_));
  ASSERT_EQ(exec.exit_code, 0) << exec.output;

  const std::string exec_cmdline = std::string("/bin/sleep") + '\0' + "777" + '\0';
  pid_t exec_pid = 0;
  for (int attempt = 0; attempt < 100 && exec_pid == 0; ++attempt) {
    auto pids = (*target)->processes();
    ASSERT_TRUE(pids.ok()) << pids.error().message();
    for (pid_t pid : *pids) {
      auto cmdline = read_text_file(fmt::format("/proc/{}/cmdline", pid));
      if (cmdline.ok() && *cmdline == exec_cmdline) exec_pid = pid;
    }
    if (exec_pid == 0) std::this_thread::sleep_for(50ms);
  }
  ASSERT_NE(exec_pid, 0) << "the exec'd sleep never appeared in the container's processes";
  auto pids = (*target)->processes();
  ASSERT_TRUE(pids.ok());
  EXPECT_TRUE(contains(*pids, main_pid_));
  EXPECT_TRUE(contains(*pids, exec_pid));
}

TEST_F(DockerTargetTest, StoppedIsEmptyRemovedIsAnError) {
  auto target = DockerTarget::create(name_);
  ASSERT_TRUE(target.ok()) << target.error().message();
  CommandResult stop = run_shell(fmt::format("docker stop -t 0 {} 2>&1", name_));
  ASSERT_EQ(stop.exit_code, 0) << stop.output;

  auto stopped = (*target)->processes();
  ASSERT_TRUE(stopped.ok()) << stopped.error().message();
  EXPECT_TRUE(stopped->empty());
  auto again = DockerTarget::create(name_);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().message(),
            fmt::format("container {} is not running (status: exited)", name_));

  CommandResult remove = run_shell(fmt::format("docker rm {} 2>&1", name_));
  ASSERT_EQ(remove.exit_code, 0) << remove.output;
  auto removed = (*target)->processes();
  ASSERT_FALSE(removed.ok());
  EXPECT_EQ(removed.error().message(),
            fmt::format("container {} ({}) was removed", name_, id_.substr(0, 12)));
}

TEST_F(DockerTargetTest, RestartedContainerIsFollowed) {
  auto target = DockerTarget::create(name_);
  ASSERT_TRUE(target.ok()) << target.error().message();
  CommandResult restart = run_shell(fmt::format("docker restart -t 0 {} 2>&1", name_));
  ASSERT_EQ(restart.exit_code, 0) << restart.output;
  CommandResult pid = run_shell(fmt::format("docker inspect -f '{{{{.State.Pid}}}}' {}", name_));
  pid_t new_main = std::stoi(pid.output);
  ASSERT_NE(new_main, main_pid_);
  auto pids = (*target)->processes();
  ASSERT_TRUE(pids.ok()) << pids.error().message();
  EXPECT_EQ(*pids, std::vector<pid_t>{new_main});
}

TEST(DockerTargetMissing, NoSuchContainer) {
  if (std::string reason = docker_unavailable(); !reason.empty()) GTEST_SKIP() << reason;
  auto target = DockerTarget::create("syschaos-no-such-container-xyz");
  ASSERT_FALSE(target.ok());
  EXPECT_EQ(target.error().message(), "no such container: syschaos-no-such-container-xyz");
}

}  // namespace
}  // namespace syschaos
