// The pure parts of the container mode: mountinfo parsing, the topmost mount at a path,
// rule globs rewritten relative to the volume, and the IOChaos manifest's target.
#include <gtest/gtest.h>

#include "fs/container_volume.hpp"
#include "fs/volume_mountinfo.hpp"

using namespace syschaos::fs;

namespace {

constexpr const char* kMountinfo =
    "100 80 0:50 / / ro,relatime master:3 - overlay overlay rw,lowerdir=/x\n"
    "132 100 254:0 /tmp/e2e/html /usr/share/nginx/html rw,relatime - ext4 /dev/vda rw\n"
    "140 132 0:59 / /usr/share/nginx/html rw,nosuid,nodev - fuse.syschaos chaosfs rw,allow_other\n"
    "150 100 0:60 / /data\\040dir rw shared:7 - tmpfs tmpfs rw\n";

TEST(FsContainerMountinfo, ParsesFieldsPropagationAndEscapes) {
  auto m = parse_mountinfo(kMountinfo);
  ASSERT_TRUE(m) << m.error().message();
  ASSERT_EQ(m->size(), 4u);
  EXPECT_EQ((*m)[0].id, 100);
  EXPECT_TRUE((*m)[0].read_only());
  EXPECT_EQ((*m)[0].propagation, "master:3");
  EXPECT_FALSE((*m)[0].shared());
  EXPECT_EQ((*m)[1].root, "/tmp/e2e/html");
  EXPECT_EQ((*m)[1].mount_point, "/usr/share/nginx/html");
  EXPECT_EQ((*m)[1].fs_type, "ext4");
  EXPECT_FALSE((*m)[1].read_only());
  EXPECT_EQ((*m)[2].fs_type, "fuse.syschaos");
  EXPECT_EQ((*m)[3].mount_point, "/data dir");
  EXPECT_TRUE((*m)[3].shared());
  EXPECT_FALSE(parse_mountinfo("12 34 0:1 / /x rw no-dash-here ext4\n"));
}

TEST(FsContainerMountinfo, TopmostOfStackedMountsAndLookupById) {
  auto m = parse_mountinfo(kMountinfo);
  ASSERT_TRUE(m);
  auto top = topmost_mount_at(*m, "/usr/share/nginx/html");
  ASSERT_TRUE(top);
  EXPECT_EQ(top->id, 140);
  EXPECT_FALSE(topmost_mount_at(*m, "/usr/share"));
  ASSERT_NE(mount_by_id(*m, 132), nullptr);
  EXPECT_EQ(mount_by_id(*m, 132)->fs_type, "ext4");
  EXPECT_EQ(mount_by_id(*m, 7), nullptr);
}

FsFaultRule rule_with_paths(std::vector<std::string> paths) {
  FsFaultRule r;
  r.paths = std::move(paths);
  r.errnos.push_back({5, 1});
  return r;
}

TEST(FsContainerRules, AbsoluteGlobsBecomeRelativeToTheVolume) {
  auto r = rules_for_volume({rule_with_paths({"/var/lib/data/**/*.db", "logs/*", "*.txt"})}, "/var/lib/data");
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ((*r)[0].paths, (std::vector<std::string>{"**/*.db", "logs/*", "*.txt"}));
}

TEST(FsContainerRules, AnAbsoluteGlobOutsideTheVolumeIsRefusedWithTheRuleNumber) {
  auto r = rules_for_volume({rule_with_paths({"*.db"}), rule_with_paths({"/var/lib/database/x"})}, "/var/lib/data");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("rule 2"), std::string::npos) << r.error().message();
  EXPECT_NE(r.error().message().find("/var/lib/database/x"), std::string::npos);
  // The volume itself is not a file inside it.
  EXPECT_FALSE(rules_for_volume({rule_with_paths({"/var/lib/data/"})}, "/var/lib/data"));
}

TEST(FsContainerManifest, OneVolumeAndOneContainerAreTakenSeveralAreRefused) {
  auto a = rule_with_paths({});
  a.volume_path = "/data";
  a.container_names = {"db"};
  auto b = a;
  auto t = manifest_target({a, b});
  ASSERT_TRUE(t);
  EXPECT_EQ(t->volume, "/data");
  EXPECT_EQ(t->container, "db");
  EXPECT_FALSE(manifest_target({rule_with_paths({})})->volume);

  auto other_volume = a;
  other_volume.volume_path = "/logs";
  auto v = manifest_target({a, other_volume});
  ASSERT_FALSE(v);
  EXPECT_NE(v.error().message().find("one per volume"), std::string::npos);

  auto two = a;
  two.container_names = {"db", "cache"};
  auto c = manifest_target({two});
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().message().find("one per container"), std::string::npos);
}

}  // namespace
