// The pure parts of the kernel probes and the caching/substitution contract of KernelProbe.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "inject/kernel_probe.hpp"

namespace syschaos {
namespace {

constexpr std::string_view kConfig =
    "#\n# Automatically generated file; DO NOT EDIT.\n#\n"
    "CONFIG_BPF_SYSCALL=y\n"
    "CONFIG_FUSE_FS=m\n"
    "# CONFIG_KPROBES is not set\n"
    "CONFIG_KPROBES_ON_FTRACE=y\n"
    "CONFIG_LSM=\"landlock,lockdown,yama,bpf\"\n"
    "CONFIG_NR_CPUS=64\n";

TEST(KernelConfig, ReadsValues) {
  EXPECT_EQ(kernel_config_value(kConfig, "CONFIG_BPF_SYSCALL"), "y");
  EXPECT_EQ(kernel_config_value(kConfig, "CONFIG_FUSE_FS"), "m");
  EXPECT_EQ(kernel_config_value(kConfig, "CONFIG_LSM"), "\"landlock,lockdown,yama,bpf\"");
  EXPECT_EQ(kernel_config_value(kConfig, "CONFIG_NR_CPUS"), "64");
}

TEST(KernelConfig, NotSetAndAbsentAreNullopt) {
  // "CONFIG_KPROBES_ON_FTRACE=y" must not be read as CONFIG_KPROBES.
  EXPECT_EQ(kernel_config_value(kConfig, "CONFIG_KPROBES"), std::nullopt);
  EXPECT_EQ(kernel_config_value(kConfig, "CONFIG_BPF_KPROBE_OVERRIDE"), std::nullopt);
  EXPECT_EQ(kernel_config_value("", "CONFIG_BPF_SYSCALL"), std::nullopt);
}

TEST(LsmList, FindsWholeNames) {
  EXPECT_TRUE(lsm_list_contains("lockdown,capability,landlock,bpf", "bpf"));
  EXPECT_TRUE(lsm_list_contains("bpf\n", "bpf"));
  EXPECT_TRUE(lsm_list_contains("capability,bpf,selinux", "capability"));
  EXPECT_FALSE(lsm_list_contains("lockdown,capability,bpfilter", "bpf"));
  EXPECT_FALSE(lsm_list_contains("", "bpf"));
}

TEST(Lockdown, ActiveModeIsTheBracketedOne) {
  EXPECT_EQ(active_lockdown_mode("none [integrity] confidentiality\n"), "integrity");
  EXPECT_EQ(active_lockdown_mode("[none] integrity confidentiality\n"), "none");
  EXPECT_EQ(active_lockdown_mode("none integrity confidentiality\n"), std::nullopt);
}

TEST(PtraceScope, SaysWhatEachScopeForbids) {
  EXPECT_EQ(ptrace_scope_limit(0, false), "");
  EXPECT_EQ(ptrace_scope_limit(1, true), "");
  EXPECT_NE(ptrace_scope_limit(1, false).find("only launched commands"), std::string::npos);
  EXPECT_EQ(ptrace_scope_limit(2, true), "");
  EXPECT_NE(ptrace_scope_limit(2, false).find("needs CAP_SYS_PTRACE"), std::string::npos);
  EXPECT_NE(ptrace_scope_limit(3, true).find("disabled"), std::string::npos);
}

TEST(Capabilities, ReadsCapEff) {
  constexpr std::string_view root =
      "Name:\tbash\nCapInh:\t0000000000000000\nCapEff:\t000001ffffffffff\n";
  constexpr std::string_view only_net_admin = "CapEff:\t0000000000001000\n";  // bit 12
  EXPECT_TRUE(status_has_capability(root, 19));
  EXPECT_TRUE(status_has_capability(only_net_admin, 12));
  EXPECT_FALSE(status_has_capability(only_net_admin, 19));
  EXPECT_FALSE(status_has_capability("CapInh:\t000001ffffffffff\n", 19));
}

TEST(MountPoint, FindsTheFirstMountOfAType) {
  constexpr std::string_view mountinfo =
      "22 26 0:21 / /sys rw,relatime - sysfs sysfs rw\n"
      "31 22 0:7 / /sys/kernel/debug rw,nosuid shared:12 - debugfs debugfs rw\n"
      "32 22 0:12 / /sys/kernel/my\\040tracing rw - tracefs tracefs rw\n"
      "33 22 0:12 / /other/tracing rw - tracefs tracefs rw\n";
  EXPECT_EQ(mount_point_of(mountinfo, "debugfs"), "/sys/kernel/debug");
  EXPECT_EQ(mount_point_of(mountinfo, "tracefs"), "/sys/kernel/my tracing");
  EXPECT_EQ(mount_point_of(mountinfo, "securityfs"), std::nullopt);
  // "sysfs" is the source of /sys too; only the type counts.
  EXPECT_EQ(mount_point_of(mountinfo, "sysfs"), "/sys");
}

// A probe that counts its runs, to check that features() probes once.
class CountingProbe final : public KernelProbe {
 public:
  std::atomic<int> runs{0};

 protected:
  std::vector<Feature> run_probes() override {
    ++runs;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // widen any race
    return {{"ptrace", true, "PTRACE_SEIZE works"}, {"kprobes", false, "no kprobe PMU"}};
  }
};

TEST(KernelProbeCache, ProbesOnceEvenFromManyThreads) {
  CountingProbe probe;
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) threads.emplace_back([&] { (void)probe.features(); });
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(probe.features().size(), 2u);
  EXPECT_EQ(probe.runs.load(), 1);
}

TEST(KernelProbeCache, LooksUpByName) {
  CountingProbe probe;
  ASSERT_NE(probe.find("kprobes"), nullptr);
  EXPECT_EQ(probe.find("kprobes")->detail, "no kprobe PMU");
  EXPECT_EQ(probe.find("fuse"), nullptr);
  EXPECT_TRUE(probe.available("ptrace"));
  EXPECT_FALSE(probe.available("kprobes"));  // probed, not available
  EXPECT_FALSE(probe.available("fuse"));     // never probed
  EXPECT_EQ(probe.runs.load(), 1);
}

TEST(FixedKernelProbe, AnswersWhatItWasGiven) {
  FixedKernelProbe probe({{std::string(feature_names::kSeccompUserNotif), true, "works"},
                          {std::string(feature_names::kBpfLsmActive), false, "bpf not in lsm="}});
  KernelProbe& as_interface = probe;
  EXPECT_TRUE(as_interface.available(feature_names::kSeccompUserNotif));
  EXPECT_FALSE(as_interface.available(feature_names::kBpfLsmActive));
  EXPECT_EQ(as_interface.features().size(), 2u);
}

}  // namespace
}  // namespace syschaos
