// `syschaos info` on this machine (root): every probe answers, the answers agree with what
// the test can see for itself, and probing leaves no mount, directory or process behind.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>

#include "inject/kernel_probe.hpp"
#include "process_runner.hpp"
#include "target/cgroup_paths.hpp"
#include "target/docker_client.hpp"
#include "target/proc_files.hpp"

namespace syschaos {
namespace {

// `syschaos info ARGS...`: its stdout in .out (stderr apart, in .err).
testing::RunResult run_info(std::vector<std::string> arguments) {
  arguments.insert(arguments.begin(), {SYSCHAOS_BIN, "info"});
  return testing::run_command(arguments);
}

// Mount points of the pseudo file systems the probes may mount for themselves.
std::vector<std::string> probe_fs_mounts() {
  std::vector<std::string> points;
  auto mountinfo = read_text_file("/proc/self/mountinfo");
  if (!mountinfo.ok()) return points;
  for (const char* type : {"securityfs", "debugfs", "tracefs"})
    if (auto point = mount_point_of(*mountinfo, type)) points.push_back(*point);
  return points;
}

std::vector<std::string> leftover_probe_dirs() {
  std::vector<std::string> found;
  for (const auto& entry : std::filesystem::directory_iterator("/tmp"))
    if (entry.path().filename().string().starts_with("syschaos-probe-"))
      found.push_back(entry.path());
  return found;
}

const std::vector<std::string_view> kExpectedOrder = {feature_names::kPtrace,
                                                      feature_names::kPtraceGetSyscallInfo,
                                                      feature_names::kSeccompFilter,
                                                      feature_names::kSeccompUserNotif,
                                                      feature_names::kBpfTracepoint,
                                                      feature_names::kBpfRawTracepoint,
                                                      feature_names::kBpfCgroupSkb,
                                                      feature_names::kBpfCgroupSockAddr,
                                                      feature_names::kBpfSchedCls,
                                                      feature_names::kBpfLsm,
                                                      feature_names::kBpfTracing,
                                                      feature_names::kBpfKprobe,
                                                      feature_names::kBpfLsmActive,
                                                      feature_names::kKprobes,
                                                      feature_names::kBpfOverrideReturn,
                                                      feature_names::kFaultInjectionDebugfs,
                                                      feature_names::kBtf,
                                                      feature_names::kFuse,
                                                      feature_names::kCgroupV1,
                                                      feature_names::kCgroupV2,
                                                      feature_names::kFreezer,
                                                      feature_names::kDocker};

TEST(InfoCommand, JsonListsEveryFeatureWithAReason) {
  auto mounts_before = probe_fs_mounts();
  testing::RunResult info = run_info({"--json"});
  ASSERT_EQ(info.exit_code, 0) << info.out;
  auto json = nlohmann::json::parse(info.out, nullptr, false);
  ASSERT_FALSE(json.is_discarded()) << info.out;
  ASSERT_TRUE(json.is_array());
  ASSERT_EQ(json.size(), kExpectedOrder.size()) << info.out;
  std::map<std::string, bool> available;
  for (size_t i = 0; i < json.size(); ++i) {
    const auto& feature = json[i];
    EXPECT_EQ(feature.at("name").get<std::string>(), kExpectedOrder[i]);
    EXPECT_TRUE(feature.at("available").is_boolean());
    EXPECT_FALSE(feature.at("detail").get<std::string>().empty()) << feature.dump();
    available[feature.at("name").get<std::string>()] = feature.at("available").get<bool>();
  }

  // What the engines rely on, on every kernel syschaos supports, as root.
  EXPECT_TRUE(available["ptrace"]);
  EXPECT_TRUE(available["seccomp_filter"]);
  EXPECT_TRUE(available["seccomp_user_notif"]);
  // Answers the test can check by other means.
  auto cgroup_mounts = read_cgroup_mounts();
  ASSERT_TRUE(cgroup_mounts.ok());
  bool has_v2 = std::any_of(cgroup_mounts->begin(), cgroup_mounts->end(),
                            [](const CgroupMount& m) { return m.v2; });
  bool has_v1 = std::any_of(cgroup_mounts->begin(), cgroup_mounts->end(),
                            [](const CgroupMount& m) { return !m.v2; });
  EXPECT_EQ(available["cgroup_v2"], has_v2);
  EXPECT_EQ(available["cgroup_v1"], has_v1);
  EXPECT_EQ(available["btf"], std::filesystem::exists("/sys/kernel/btf/vmlinux"));
  auto docker = DockerClient::from_environment();
  EXPECT_EQ(available["docker"], docker.ok() && docker->ping().ok());

  // Probing leaves the machine as it found it.
  EXPECT_EQ(probe_fs_mounts(), mounts_before);
  EXPECT_TRUE(leftover_probe_dirs().empty());
  if (auto v2 = std::find_if(cgroup_mounts->begin(), cgroup_mounts->end(),
                             [](const CgroupMount& m) { return m.v2; });
      v2 != cgroup_mounts->end()) {
    for (const auto& entry : std::filesystem::directory_iterator(v2->mount_point))
      EXPECT_FALSE(entry.path().filename().string().starts_with("syschaos-probe-")) << entry.path();
  }
}

TEST(InfoCommand, TableHasOneLinePerFeature) {
  testing::RunResult info = run_info({});
  ASSERT_EQ(info.exit_code, 0);
  EXPECT_NE(info.out.find("FEATURE"), std::string::npos);
  for (std::string_view name : kExpectedOrder) {
    size_t at = info.out.find("\n" + std::string(name) + " ");
    ASSERT_NE(at, std::string::npos) << name;
    std::string line = info.out.substr(at + 1, info.out.find('\n', at + 1) - at - 1);
    EXPECT_TRUE(line.find(" yes ") != std::string::npos || line.find(" no ") != std::string::npos)
        << line;
  }
}

TEST(InfoCommand, SystemProbeMatchesTheCommand) {
  // The library answer and the command's answer come from the same probes.
  testing::RunResult info = run_info({"--json"});
  auto json = nlohmann::json::parse(info.out, nullptr, false);
  ASSERT_TRUE(json.is_array());
  KernelProbe& probe = system_kernel_probe();
  for (const auto& feature : json) {
    const Feature* mine = probe.find(feature.at("name").get<std::string>());
    ASSERT_NE(mine, nullptr) << feature.dump();
    // Docker may come and go between two runs; kernel features do not.
    if (mine->name != feature_names::kDocker) {
      EXPECT_EQ(mine->available, feature.at("available").get<bool>()) << mine->name;
    }
  }
}

}  // namespace
}  // namespace syschaos
