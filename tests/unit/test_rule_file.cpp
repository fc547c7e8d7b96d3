#include <gtest/gtest.h>

#include <cerrno>
#include <cstdio>
#include <fstream>

#include "core/rule_file.hpp"

using namespace syschaos;

TEST(RuleFile, YamlMapsAndStraceStrings) {
  auto rules = parse_rule_text(R"(
faults:
  - syscalls: [openat, stat]
    error: {EIO: 3, EINTR: 1}
    path: ["/etc/*", "*.conf"]
    prob: 0.5
    when: 2+
  - "write:error=ENOSPC:max=3"
  - syscalls: "%net"
    delay_enter: 10ms
    fd: [socket]
)", "test.yaml");
  ASSERT_TRUE(rules.ok()) << rules.error().message();
  ASSERT_EQ(rules->size(), 3u);
  const auto& a = (*rules)[0];
  ASSERT_EQ(a.action.errors.size(), 2u);
  EXPECT_EQ(a.action.errors[0].err, EIO);
  EXPECT_EQ(a.action.errors[0].weight, 3u);
  EXPECT_EQ(a.filters.path_globs.size(), 2u);
  EXPECT_EQ(a.when->first, 2u);
  EXPECT_EQ((*rules)[1].action.errors[0].err, ENOSPC);
  EXPECT_EQ(*(*rules)[1].max_hits, 3u);
  EXPECT_EQ((*rules)[2].action.delay_enter, std::chrono::milliseconds(10));
  EXPECT_EQ((*rules)[2].filters.fd_kinds, std::vector<FdKind>{FdKind::socket});
}

TEST(RuleFile, JsonList) {
  auto rules = parse_rule_text(R"([{"syscalls": "openat", "error": "ENOENT", "path": "*/index.html"},
                                   "read:error=EIO:when=3"])", "rules.json");
  ASSERT_TRUE(rules.ok()) << rules.error().message();
  ASSERT_EQ(rules->size(), 2u);
  EXPECT_EQ((*rules)[0].action.errors[0].err, ENOENT);
  EXPECT_EQ((*rules)[1].when->first, 3u);
}

TEST(RuleFile, ErrorsNameFileRuleAndLine) {
  auto bad = parse_rule_text("- syscalls: [openat]\n  error: ENOPE\n", "x.yaml");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message().find("x.yaml: rule 1 (line 1)"), std::string::npos);
  EXPECT_NE(bad.error().message().find("unknown errno 'ENOPE'"), std::string::npos);
  auto nosys = parse_rule_text("- error: EIO\n", "x.yaml");
  ASSERT_FALSE(nosys.ok());
  EXPECT_NE(nosys.error().message().find("missing 'syscalls'"), std::string::npos);
  auto unknown = parse_rule_text("- syscalls: read\n  errno: EIO\n", "x.yaml");
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.error().message().find("unknown key 'errno'"), std::string::npos);
  EXPECT_FALSE(parse_rule_text("faults: []", "x.yaml").ok());
  EXPECT_FALSE(parse_rule_text("{{{", "x.yaml").ok());
  auto missing = load_rule_file("/nonexistent/rules.yaml");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message().find("No such file"), std::string::npos);
}
