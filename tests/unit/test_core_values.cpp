#include <gtest/gtest.h>

#include <cerrno>
#include <csignal>

#include "core/duration.hpp"
#include "core/errno_names.hpp"
#include "core/path_normalize.hpp"
#include "core/syscall_table.hpp"

using namespace syschaos;
using namespace std::chrono_literals;

TEST(Duration, UnitsAndDefaults) {
  EXPECT_EQ(*parse_duration("250"), 250us);
  EXPECT_EQ(*parse_duration("250", "s"), 250s);
  EXPECT_EQ(*parse_duration("10ms"), 10ms);
  EXPECT_EQ(*parse_duration("1.5s"), 1500ms);
  EXPECT_EQ(*parse_duration("2m"), 120s);
  EXPECT_EQ(*parse_duration("100ns"), 100ns);
  EXPECT_FALSE(parse_duration("").ok());
  EXPECT_FALSE(parse_duration("-1s").ok());
  EXPECT_FALSE(parse_duration("ms").ok());
  EXPECT_FALSE(parse_duration("1fortnight").ok());
  EXPECT_EQ(format_duration(1500ms), "1.5s");
  EXPECT_EQ(format_duration(10ms), "10ms");
  EXPECT_EQ(format_duration(2s), "2s");
}

TEST(ErrnoNames, BothWays) {
  EXPECT_EQ(*parse_errno("ENOENT"), ENOENT);
  EXPECT_EQ(*parse_errno("enoent"), ENOENT);
  EXPECT_EQ(*parse_errno("110"), ETIMEDOUT);
  EXPECT_FALSE(parse_errno("EWHATEVER").ok());
  EXPECT_FALSE(parse_errno("5000").ok());
  EXPECT_EQ(errno_name(EIO), "EIO");
  EXPECT_EQ(*parse_signal("SIGKILL"), SIGKILL);
  EXPECT_EQ(*parse_signal("term"), SIGTERM);
  EXPECT_EQ(*parse_signal("11"), SIGSEGV);
  EXPECT_EQ(*parse_signal("SIGRTMIN+2"), SIGRTMIN + 2);
  EXPECT_FALSE(parse_signal("SIGFOO").ok());
  EXPECT_FALSE(parse_signal("0").ok());
  EXPECT_EQ(signal_name(SIGSEGV), "SIGSEGV");
}

TEST(PathNormalize, LikeTheKernelWithoutSymlinks) {
  EXPECT_EQ(join_and_normalize("/srv/www", "index.html"), "/srv/www/index.html");
  EXPECT_EQ(join_and_normalize("/srv/www", "../etc//x/./y"), "/srv/etc/x/y");
  EXPECT_EQ(join_and_normalize("/srv", "/abs/../p"), "/p");
  EXPECT_EQ(join_and_normalize("/", "../../.."), "/");
  EXPECT_EQ(join_and_normalize("/a/b", ""), "/a/b");
}

TEST(SyscallTable, NamesNumbersAndArgs) {
  const auto& t = SyscallTable::native();
  auto openat = t.number("openat");
  ASSERT_TRUE(openat);
  EXPECT_EQ(t.name(*openat), "openat");
  EXPECT_FALSE(t.number("no_such_syscall"));
  EXPECT_EQ(t.args(*openat).paths[0].path, 1);
  EXPECT_EQ(t.args(*openat).paths[0].dirfd, 0);
  auto read = *t.number("read");
  EXPECT_EQ(t.args(read).fd, 0);
  EXPECT_FALSE(t.args(read).has_path());
  auto rename = *t.number("renameat2");
  EXPECT_EQ(t.args(rename).paths[1].path, 3);
  EXPECT_EQ(t.args(*t.number("mmap")).fd, 4);
  EXPECT_EQ(t.name(100000), "syscall_100000");
}
