// Cgroup path logic from mountinfo and /proc/PID/cgroup text, with no cgroup file system.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "target/cgroup_paths.hpp"

namespace syschaos {
namespace {

// A Docker host in hybrid mode (systemd-less VM): v1 controllers under a tmpfs at
// /sys/fs/cgroup, the v2 hierarchy at /sys/fs/cgroup/unified.
constexpr std::string_view kHybridMountinfo =
    "21 26 0:20 / /proc rw,relatime - proc proc rw\n"
    "30 22 0:27 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
    "31 30 0:28 / /sys/fs/cgroup/cpu,cpuacct rw,relatime shared:5 - cgroup cgroup rw,cpu,cpuacct\n"
    "34 30 0:31 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
    "36 30 0:33 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer\n"
    "38 30 0:35 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids\n"
    "39 30 0:36 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup "
    "rw,xattr,release_agent=/lib/systemd/systemd-cgroups-agent,name=systemd\n"
    "40 30 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw,nsdelegate\n"
    "41 26 254:0 /var/lib/docker /var/lib/docker rw,relatime shared:1 - ext4 /dev/vda rw\n";

constexpr std::string_view kUnifiedMountinfo =
    "25 22 0:22 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 "
    "rw,nsdelegate,memory_recursiveprot\n";

std::vector<CgroupMount> hybrid_mounts() { return parse_cgroup_mounts(kHybridMountinfo); }

TEST(CgroupMounts, ParsesV1ControllersAndTheV2Mount) {
  auto mounts = hybrid_mounts();
  ASSERT_EQ(mounts.size(), 6u);  // tmpfs, proc and ext4 are not cgroup mounts

  EXPECT_EQ(mounts[0].mount_point, "/sys/fs/cgroup/cpu,cpuacct");
  EXPECT_FALSE(mounts[0].v2);
  EXPECT_EQ(mounts[0].controllers, (std::vector<std::string>{"cpu", "cpuacct"}));
  EXPECT_TRUE(mounts[0].carries("cpu"));
  EXPECT_TRUE(mounts[0].carries("cpuacct"));
  EXPECT_FALSE(mounts[0].carries("memory"));

  // Mount flags are not controllers; the named hierarchy is.
  EXPECT_EQ(mounts[4].controllers, (std::vector<std::string>{"name=systemd"}));

  EXPECT_TRUE(mounts[5].v2);
  EXPECT_EQ(mounts[5].mount_point, "/sys/fs/cgroup/unified");
  EXPECT_TRUE(mounts[5].controllers.empty());
  EXPECT_TRUE(mounts[5].carries(kCgroupV2Hierarchy));
  EXPECT_FALSE(mounts[3].carries(kCgroupV2Hierarchy));
  EXPECT_EQ(mounts[5].root, "/");
}

TEST(CgroupMounts, UnescapesPathsAndKeepsTheMountRoot) {
  auto mounts = parse_cgroup_mounts(
      "50 30 0:35 /docker/abc /run/my\\040cgroups rw - cgroup cgroup rw,pids\n"
      "garbage line without separator\n");
  ASSERT_EQ(mounts.size(), 1u);
  EXPECT_EQ(mounts[0].mount_point, "/run/my cgroups");
  EXPECT_EQ(mounts[0].root, "/docker/abc");
}

TEST(ProcCgroup, ParsesV1AndV2Lines) {
  auto memberships = parse_proc_cgroup(
      "9:name=systemd:/\n"
      "3:cpu,cpuacct:/docker/abc\n"
      "0::/system.slice/docker.service\n");
  ASSERT_TRUE(memberships.ok()) << memberships.error().message();
  ASSERT_EQ(memberships->size(), 3u);
  EXPECT_EQ((*memberships)[0].hierarchy_id, 9u);
  EXPECT_TRUE((*memberships)[0].in("name=systemd"));
  EXPECT_TRUE((*memberships)[1].in("cpuacct"));
  EXPECT_EQ((*memberships)[1].path, "/docker/abc");
  EXPECT_FALSE((*memberships)[1].v2());
  EXPECT_TRUE((*memberships)[2].v2());
  EXPECT_TRUE((*memberships)[2].in(kCgroupV2Hierarchy));
  EXPECT_EQ((*memberships)[2].path, "/system.slice/docker.service");
}

TEST(ProcCgroup, RejectsMalformedLines) {
  auto missing_colon = parse_proc_cgroup("4:memory\n");
  ASSERT_FALSE(missing_colon.ok());
  EXPECT_NE(missing_colon.error().message().find("4:memory"), std::string::npos);
  EXPECT_FALSE(parse_proc_cgroup("x:memory:/\n").ok());
}

TEST(CgroupDirFrom, MapsEachHierarchyThroughItsMount) {
  constexpr std::string_view proc_cgroup =
      "9:name=systemd:/docker/abc\n"
      "8:pids:/docker/abc\n"
      "4:memory:/docker/abc\n"
      "1:cpu,cpuacct:/docker/abc\n"
      "0::/\n";
  auto mounts = hybrid_mounts();
  auto pids = cgroup_dir_from(proc_cgroup, mounts, "pids");
  ASSERT_TRUE(pids.ok()) << pids.error().message();
  EXPECT_EQ(*pids, "/sys/fs/cgroup/pids/docker/abc");
  EXPECT_EQ(*cgroup_dir_from(proc_cgroup, mounts, "cpuacct"),
            "/sys/fs/cgroup/cpu,cpuacct/docker/abc");
  EXPECT_EQ(*cgroup_dir_from(proc_cgroup, mounts, "name=systemd"),
            "/sys/fs/cgroup/systemd/docker/abc");
  EXPECT_EQ(*cgroup_dir_from(proc_cgroup, mounts, kCgroupV2Hierarchy), "/sys/fs/cgroup/unified");
}

TEST(CgroupDirFrom, PureV2Host) {
  auto mounts = parse_cgroup_mounts(kUnifiedMountinfo);
  auto dir = cgroup_dir_from("0::/system.slice/docker-abc.scope\n", mounts, kCgroupV2Hierarchy);
  ASSERT_TRUE(dir.ok()) << dir.error().message();
  EXPECT_EQ(*dir, "/sys/fs/cgroup/system.slice/docker-abc.scope");

  auto pids = cgroup_dir_from("0::/system.slice/docker-abc.scope\n", mounts, "pids");
  ASSERT_FALSE(pids.ok());
  EXPECT_EQ(pids.error().message(), "the process is in no cgroup v1 pids hierarchy");
}

TEST(CgroupDirFrom, HonoursTheMountRoot) {
  // Inside a container, the hierarchy mounted at /sys/fs/cgroup/pids may start at the
  // container's own cgroup.
  auto mounts = parse_cgroup_mounts(
      "50 30 0:35 /docker/abc /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids\n");
  EXPECT_EQ(*cgroup_dir_from("8:pids:/docker/abc/worker\n", mounts, "pids"),
            "/sys/fs/cgroup/pids/worker");
  EXPECT_EQ(*cgroup_dir_from("8:pids:/docker/abc\n", mounts, "pids"), "/sys/fs/cgroup/pids");
  // A sibling whose name merely starts with the root is outside it.
  auto sibling = cgroup_dir_from("8:pids:/docker/abcdef\n", mounts, "pids");
  ASSERT_FALSE(sibling.ok());
  EXPECT_NE(sibling.error().message().find("not visible through any mount"), std::string::npos);
  // Paths above our cgroup namespace root are shown with "..".
  EXPECT_FALSE(cgroup_dir_from("8:pids:/../other\n", mounts, "pids").ok());
}

TEST(CgroupDirCandidates, RelativeAndHierarchyPathsTryV2FirstThenPreferredV1) {
  auto mounts = hybrid_mounts();
  std::vector<std::string> expected = {
      "/sys/fs/cgroup/unified/docker/abc", "/sys/fs/cgroup/pids/docker/abc",
      "/sys/fs/cgroup/memory/docker/abc",  "/sys/fs/cgroup/cpu,cpuacct/docker/abc",
      "/sys/fs/cgroup/freezer/docker/abc", "/sys/fs/cgroup/systemd/docker/abc"};
  EXPECT_EQ(cgroup_dir_candidates("docker/abc", mounts), expected);
  EXPECT_EQ(cgroup_dir_candidates("/docker/abc", mounts), expected);
  EXPECT_EQ(cgroup_dir_candidates("/docker/abc/", mounts), expected);
}

TEST(CgroupDirCandidates, FileSystemPathsMeanOnlyThemselves) {
  auto mounts = hybrid_mounts();
  EXPECT_EQ(cgroup_dir_candidates("/sys/fs/cgroup/pids/web/", mounts),
            std::vector<std::string>{"/sys/fs/cgroup/pids/web"});
  // Under the directory that holds the mounts: a mistyped file system path, not a
  // hierarchy path to look for under every mount.
  EXPECT_EQ(cgroup_dir_candidates("/sys/fs/cgroup/docker/abc", mounts),
            std::vector<std::string>{"/sys/fs/cgroup/docker/abc"});
  auto unified = parse_cgroup_mounts(kUnifiedMountinfo);
  EXPECT_EQ(cgroup_dir_candidates("/sys/fs/cgroup/system.slice", unified),
            std::vector<std::string>{"/sys/fs/cgroup/system.slice"});
  EXPECT_EQ(cgroup_dir_candidates("system.slice", unified),
            std::vector<std::string>{"/sys/fs/cgroup/system.slice"});
}

TEST(CgroupDirCandidates, RejectsEscapesAndEmptySpecs) {
  auto mounts = hybrid_mounts();
  EXPECT_TRUE(cgroup_dir_candidates("../etc", mounts).empty());
  EXPECT_TRUE(cgroup_dir_candidates("docker/../../etc", mounts).empty());
  EXPECT_TRUE(cgroup_dir_candidates("", mounts).empty());
}

TEST(PidList, ParsesCgroupProcs) {
  auto pids = parse_pid_list("12\n7\n\n300\n");
  ASSERT_TRUE(pids.ok());
  EXPECT_EQ(*pids, (std::vector<pid_t>{12, 7, 300}));
  EXPECT_TRUE(parse_pid_list("")->empty());
  EXPECT_FALSE(parse_pid_list("12\nabc\n").ok());
  EXPECT_FALSE(parse_pid_list("-4\n").ok());
  EXPECT_FALSE(parse_pid_list("0\n").ok());
}

// read_cgroup_procs only needs files called cgroup.procs in a directory tree, so a tree
// in a temporary directory stands in for a cgroup and its descendants.
class FakeCgroupTree : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/syschaos-cgroup-unit-XXXXXX";
    ASSERT_NE(::mkdtemp(pattern), nullptr);
    root_ = pattern;
    write(root_ + "/cgroup.procs", "5\n3\n");
    std::filesystem::create_directories(root_ + "/web/worker");
    write(root_ + "/web/cgroup.procs", "7\n3\n");
    write(root_ + "/web/worker/cgroup.procs", "1\n");
    std::filesystem::create_directories(root_ + "/idle");
    write(root_ + "/idle/cgroup.procs", "");
    write(root_ + "/cpu.max", "max 100000\n");  // a plain file is not a child cgroup
  }
  void TearDown() override { std::filesystem::remove_all(root_); }
  static void write(const std::string& path, std::string_view text) { std::ofstream(path) << text; }
  std::string root_;
};

TEST_F(FakeCgroupTree, ReadsDescendantsSortedWithoutDuplicates) {
  auto all = read_cgroup_procs(root_);
  ASSERT_TRUE(all.ok()) << all.error().message();
  EXPECT_EQ(*all, (std::vector<pid_t>{1, 3, 5, 7}));
  auto own = read_cgroup_procs(root_, false);
  ASSERT_TRUE(own.ok());
  EXPECT_EQ(*own, (std::vector<pid_t>{3, 5}));
}

TEST_F(FakeCgroupTree, AMissingCgroupKeepsEnoent) {
  auto gone = read_cgroup_procs(root_ + "/removed");
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.error().sys_errno(), ENOENT);
  EXPECT_NE(gone.error().message().find(root_ + "/removed/cgroup.procs"), std::string::npos);
}

TEST_F(FakeCgroupTree, ABadProcsFileIsAnError) {
  write(root_ + "/web/cgroup.procs", "7\nnot-a-pid\n");
  auto pids = read_cgroup_procs(root_);
  ASSERT_FALSE(pids.ok());
  EXPECT_NE(pids.error().message().find("not-a-pid"), std::string::npos);
}

}  // namespace
}  // namespace syschaos
