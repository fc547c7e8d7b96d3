#include <gtest/gtest.h>

#include <cerrno>
#include <csignal>

#include "core/fault_parser.hpp"

using namespace syschaos;

namespace {

FaultRule must_parse(const std::string& text) {
  auto r = parse_fault(text);
  EXPECT_TRUE(r.ok()) << text << ": " << (r.ok() ? "" : r.error().message());
  return r.ok() ? *r : FaultRule{};
}

std::string parse_error(const std::string& text) {
  auto r = parse_fault(text);
  EXPECT_FALSE(r.ok()) << text << " parsed but should not";
  return r.ok() ? "" : r.error().message();
}

int nr(const char* name) { return *SyscallTable::native().number(name); }

}  // namespace

TEST(FaultParser, StraceErrorForm) {
  auto r = must_parse("openat:error=ENOENT");
  EXPECT_TRUE(r.syscalls.test(nr("openat")));
  EXPECT_EQ(r.syscalls.count(), 1u);
  ASSERT_EQ(r.action.errors.size(), 1u);
  EXPECT_EQ(r.action.errors[0].err, ENOENT);
  EXPECT_FALSE(r.when);
  EXPECT_EQ(r.source, "openat:error=ENOENT");
}

TEST(FaultParser, NumericErrnoAndInjectPrefix) {
  auto r = must_parse("inject=read,write:error=5");
  EXPECT_EQ(r.action.errors[0].err, EIO);
  EXPECT_TRUE(r.syscalls.test(nr("read")));
  EXPECT_TRUE(r.syscalls.test(nr("write")));
}

TEST(FaultParser, FaultPrefixDefaultsToEnosys) {
  auto r = must_parse("fault=chdir:when=2");
  ASSERT_EQ(r.action.errors.size(), 1u);
  EXPECT_EQ(r.action.errors[0].err, ENOSYS);
}

TEST(FaultParser, WhenForms) {
  struct Case {
    const char* text;
    uint64_t first, last, step;
  } cases[] = {
      {"3", 3, 3, 1},          {"3+", 3, UINT64_MAX, 1}, {"3+2", 3, UINT64_MAX, 2},
      {"2..5", 2, 5, 1},       {"2..5+", 2, 5, 1},       {"2..9+3", 2, 9, 3},
      {"100000", 100000, 100000, 1},  // beyond strace's 65535 cap
  };
  for (const auto& c : cases) {
    auto r = must_parse(std::string("chdir:error=ENOENT:when=") + c.text);
    ASSERT_TRUE(r.when) << c.text;
    EXPECT_EQ(r.when->first, c.first) << c.text;
    EXPECT_EQ(r.when->last, c.last) << c.text;
    EXPECT_EQ(r.when->step, c.step) << c.text;
  }
}

TEST(FaultParser, WhenMatchesStraceSemantics) {
  auto w = *parse_when("2..9+3");
  std::vector<uint64_t> hits;
  for (uint64_t i = 1; i <= 12; ++i)
    if (w.matches(i)) hits.push_back(i);
  EXPECT_EQ(hits, (std::vector<uint64_t>{2, 5, 8}));
  auto only = *parse_when("3");
  EXPECT_FALSE(only.matches(2));
  EXPECT_TRUE(only.matches(3));
  EXPECT_FALSE(only.matches(4));
}

TEST(FaultParser, RetvalSignalDelays) {
  auto r = must_parse("getpid:retval=42:signal=SIGUSR1:delay_enter=10ms:delay_exit=250");
  EXPECT_EQ(*r.action.retval, 42);
  EXPECT_EQ(r.action.signal, SIGUSR1);
  EXPECT_EQ(r.action.delay_enter, std::chrono::milliseconds(10));
  EXPECT_EQ(r.action.delay_exit, std::chrono::microseconds(250));  // strace's default unit
  auto s = must_parse("read:signal=KILL");
  EXPECT_EQ(s.action.signal, SIGKILL);
  EXPECT_FALSE(s.action.replaces_call());
  auto h = must_parse("read:retval=0x10");
  EXPECT_EQ(*h.action.retval, 16);
}

TEST(FaultParser, SubstitutePureSyscall) {
  auto r = must_parse("unlink:retval=0:syscall=getpid");
  EXPECT_EQ(*r.action.substitute_nr, nr("getpid"));
  EXPECT_NE(parse_error("unlink:error=EIO:syscall=read").find("not a pure syscall"), std::string::npos);
}

TEST(FaultParser, Pokes) {
  auto r = must_parse("read:poke_exit=@arg2=0000DEAD");
  ASSERT_EQ(r.action.poke_exit.size(), 1u);
  EXPECT_EQ(r.action.poke_exit[0].arg, 1);
  EXPECT_EQ(r.action.poke_exit[0].data, (std::vector<uint8_t>{0, 0, 0xde, 0xad}));
  EXPECT_NE(parse_error("read:poke_exit=@arg9=00").find("@arg1..@arg7"), std::string::npos);
  EXPECT_NE(parse_error("read:poke_exit=@arg1=0"), "");
}

TEST(FaultParser, SyschaosKeys) {
  auto r = must_parse("openat:error=EIO*3|EINTR:prob=0.25:max=7:after=2s:for=500ms:path=/etc/*:comm=ngin*");
  ASSERT_EQ(r.action.errors.size(), 2u);
  EXPECT_EQ(r.action.errors[0].err, EIO);
  EXPECT_EQ(r.action.errors[0].weight, 3u);
  EXPECT_EQ(r.action.errors[1].err, EINTR);
  EXPECT_EQ(r.action.errors[1].weight, 1u);
  EXPECT_DOUBLE_EQ(*r.probability, 0.25);
  EXPECT_EQ(*r.max_hits, 7u);
  EXPECT_EQ(r.start_after, std::chrono::seconds(2));
  EXPECT_EQ(*r.active_for, std::chrono::milliseconds(500));
  EXPECT_EQ(r.filters.path_globs, std::vector<std::string>{"/etc/*"});
  EXPECT_EQ(r.filters.comm_globs, std::vector<std::string>{"ngin*"});
  auto f = must_parse("read,write:error=EIO:fd=socket|pipe,3");
  EXPECT_EQ(f.filters.fd_kinds, (std::vector<FdKind>{FdKind::socket, FdKind::pipe}));
  EXPECT_EQ(f.filters.fd_numbers, std::vector<int>{3});
  auto p = must_parse("read:error=EIO:prob=10%");
  EXPECT_DOUBLE_EQ(*p.probability, 0.10);
}

TEST(FaultParser, SyscallClasses) {
  auto r = must_parse("%file:error=EACCES");
  EXPECT_TRUE(r.syscalls.test(nr("openat")));
  EXPECT_TRUE(r.syscalls.test(nr("execve")));
  EXPECT_FALSE(r.syscalls.test(nr("read")));
  auto n = must_parse("%net:error=ECONNRESET");
  EXPECT_TRUE(n.syscalls.test(nr("accept4")));
  EXPECT_TRUE(n.syscalls.test(nr("sendto")));
  auto d = must_parse("%desc:error=EBADF");
  EXPECT_TRUE(d.syscalls.test(nr("read")));
  EXPECT_TRUE(d.syscalls.test(nr("sendfile")));
  auto m = must_parse("%memory:error=ENOMEM");
  EXPECT_TRUE(m.syscalls.test(nr("mmap")));
  EXPECT_TRUE(m.syscalls.test(nr("brk")));
  auto p = must_parse("%process:error=EAGAIN");
  EXPECT_TRUE(p.syscalls.test(nr("clone")));
  auto s = must_parse("%%stat:error=ENOENT");
  EXPECT_TRUE(s.syscalls.test(nr("newfstatat")));
  EXPECT_TRUE(s.syscalls.test(nr("statx")));
}

TEST(FaultParser, SetNegationRegexAndOptional) {
  auto neg = must_parse("!read,write:error=EIO");
  EXPECT_FALSE(neg.syscalls.test(nr("read")));
  EXPECT_FALSE(neg.syscalls.test(nr("write")));
  EXPECT_TRUE(neg.syscalls.test(nr("openat")));
  auto re = must_parse("/^open:error=EIO");
  EXPECT_TRUE(re.syscalls.test(nr("open")));
  EXPECT_TRUE(re.syscalls.test(nr("openat")));
  EXPECT_FALSE(re.syscalls.test(nr("read")));
  auto opt = must_parse("read,?no_such_call:error=EIO");
  EXPECT_EQ(opt.syscalls.count(), 1u);
}

TEST(FaultParser, ClearErrors) {
  EXPECT_NE(parse_error("opnat:error=ENOENT").find("unknown syscall 'opnat'"), std::string::npos);
  EXPECT_NE(parse_error("openat:error=ENOPE").find("unknown errno 'ENOPE'"), std::string::npos);
  EXPECT_NE(parse_error("openat:error=0").find("between 1 and 4095"), std::string::npos);
  EXPECT_NE(parse_error("openat:eror=ENOENT").find("unknown key 'eror'"), std::string::npos);
  EXPECT_NE(parse_error("openat").find("no action"), std::string::npos);
  EXPECT_NE(parse_error("openat:error=EIO:retval=0").find("mutually exclusive"), std::string::npos);
  EXPECT_NE(parse_error("openat:error=EIO:when=0").find("invalid when"), std::string::npos);
  EXPECT_NE(parse_error("openat:error=EIO:when=5..3").find("invalid when"), std::string::npos);
  EXPECT_NE(parse_error("openat:error=EIO:when=2+0").find("step"), std::string::npos);
  EXPECT_NE(parse_error("openat:error=EIO:prob=1.5").find("outside 0..1"), std::string::npos);
  EXPECT_NE(parse_error("openat:error=EIO:prob=x").find("invalid probability"), std::string::npos);
  EXPECT_NE(parse_error("openat:delay_enter=5parsecs").find("unknown unit"), std::string::npos);
  EXPECT_NE(parse_error("openat:signal=SIGNOPE").find("unknown signal"), std::string::npos);
  EXPECT_NE(parse_error("openat:error=EIO:max=0").find("max"), std::string::npos);
  EXPECT_NE(parse_error("read:error=EIO:path=/x").find("takes no path"), std::string::npos);
  EXPECT_NE(parse_error("getpid:error=EIO:fd=socket").find("takes no file descriptor"), std::string::npos);
  EXPECT_NE(parse_error("read:error=EIO:fd=sock").find("invalid fd filter"), std::string::npos);
  EXPECT_NE(parse_error("%files:error=EIO").find("unknown syscall class"), std::string::npos);
  EXPECT_NE(parse_error("read:error=EIO:error=EINTR").find("only one error"), std::string::npos);
  EXPECT_NE(parse_error("read:error=EIO*0|EINTR").find("weight"), std::string::npos);
  EXPECT_NE(parse_error("read:error").find("not key=value"), std::string::npos);
  // Every message names the fault it is about.
  EXPECT_NE(parse_error("opnat:error=ENOENT").find("fault 'opnat:error=ENOENT'"), std::string::npos);
}

TEST(FaultParser, DescribeRoundTrips) {
  auto r = must_parse("read:error=EIO*3|EINTR:delay_enter=10ms");
  EXPECT_EQ(r.action.describe(), "error=EIO*3|EINTR:delay_enter=10ms");
  EXPECT_EQ(r.action.describe(EINTR), "error=EINTR:delay_enter=10ms");
  auto again = must_parse("read:" + r.action.describe());
  EXPECT_EQ(again.action.errors.size(), 2u);
}
