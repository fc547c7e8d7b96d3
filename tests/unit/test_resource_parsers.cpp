// The file formats the resource sampler reads, from text: cgroup v1 and v2 statistics,
// /proc/net/dev, /proc/PID/stat, status and io.
#include <gtest/gtest.h>

#include "observe/cgroup_stat_files.hpp"
#include "observe/netns_counters.hpp"
#include "observe/process_counters.hpp"

namespace syschaos {
namespace {

TEST(CgroupStatFiles, FlatKeyedFiles) {
  auto cpu = parse_flat_keyed("usage_usec 5714864\nuser_usec 2602524\nsystem_usec 3112339\n");
  ASSERT_TRUE(cpu.ok()) << cpu.error().message();
  EXPECT_EQ(cpu->at("usage_usec"), 5714864u);
  EXPECT_EQ(cpu->size(), 3u);
  auto events = parse_flat_keyed("low 0\nhigh 0\nmax 12\noom 3\noom_kill 2\noom_group_kill 0\n");
  ASSERT_TRUE(events.ok());
  EXPECT_EQ(events->at("oom"), 3u);
  EXPECT_EQ(events->at("oom_kill"), 2u);
  EXPECT_FALSE(parse_flat_keyed("usage_usec\n").ok());
  EXPECT_FALSE(parse_flat_keyed("a 1 2\n").ok());
}

TEST(CgroupStatFiles, SingleValues) {
  EXPECT_EQ(*parse_single_value("52428800\n"), std::optional<uint64_t>(52428800));
  EXPECT_EQ(*parse_single_value("max\n"), std::nullopt);
  EXPECT_FALSE(parse_single_value("").ok());
  EXPECT_FALSE(parse_single_value("12 kB\n").ok());
  EXPECT_FALSE(parse_single_value("1\n2\n").ok());
  EXPECT_EQ(v1_memory_limit(9223372036854771712ULL), std::nullopt);  // v1's "unlimited"
  EXPECT_EQ(v1_memory_limit(512ULL << 20), std::optional<uint64_t>(512ULL << 20));
}

TEST(CgroupStatFiles, V2IoStatSumsDevices) {
  auto io = parse_io_stat(
      "8:0 rbytes=1000 wbytes=2000 rios=1 wios=2 dbytes=0 dios=0\n"
      "253:1 rbytes=24 wbytes=48 rios=3 wios=4 dbytes=5 dios=6\n");
  ASSERT_TRUE(io.ok()) << io.error().message();
  EXPECT_EQ(io->read, 1024u);
  EXPECT_EQ(io->write, 2048u);
  EXPECT_EQ(parse_io_stat("")->read, 0u);
  EXPECT_FALSE(parse_io_stat("8:0 rbytes=x\n").ok());
  EXPECT_FALSE(parse_io_stat("rbytes=1\n").ok());
}

TEST(CgroupStatFiles, V1BlkioSumsReadAndWriteLines) {
  auto io = parse_blkio_service_bytes(
      "8:0 Read 4096\n8:0 Write 8192\n8:0 Sync 12288\n8:0 Async 0\n8:0 Discard 0\n8:0 Total 12288\n"
      "8:16 Read 1\n8:16 Write 2\nTotal 12291\n");
  ASSERT_TRUE(io.ok()) << io.error().message();
  EXPECT_EQ(io->read, 4097u);
  EXPECT_EQ(io->write, 8194u);
  EXPECT_EQ(parse_blkio_service_bytes("Total 0\n")->write, 0u);  // what an idle cgroup shows
  EXPECT_FALSE(parse_blkio_service_bytes("8:0 Read\n").ok());
}

constexpr const char* kNetDev =
    "Inter-|   Receive                                                |  Transmit\n"
    " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n"
    "    lo: 2449820454 9478894    0    0    0     0          0         0 2449820454 9478894    0    0    0     0       0          0\n"
    "  eth0:91376518    2779    0    5    0     0          0         0   127641    1794    0    7    0     0       0          0\n"
    "  eth1: 100 1 0 0 0 0 0 0 200 2 0 0 0 0 0 0\n";

TEST(NetnsCounters, ParsesProcNetDev) {
  auto interfaces = parse_proc_net_dev(kNetDev);
  ASSERT_TRUE(interfaces.ok()) << interfaces.error().message();
  ASSERT_EQ(interfaces->size(), 3u);
  const InterfaceCounters& eth0 = (*interfaces)[1];
  EXPECT_EQ(eth0.name, "eth0");  // no space between the colon and a wide counter
  EXPECT_EQ(eth0.rx_bytes, 91376518u);
  EXPECT_EQ(eth0.rx_packets, 2779u);
  EXPECT_EQ(eth0.rx_drops, 5u);
  EXPECT_EQ(eth0.tx_bytes, 127641u);
  EXPECT_EQ(eth0.tx_packets, 1794u);
  EXPECT_EQ(eth0.tx_drops, 7u);
  EXPECT_FALSE(parse_proc_net_dev("h\nh\n  eth0: 1 2 3\n").ok());
}

TEST(NetnsCounters, SumsAllButLoopbackUnlessLoopbackIsAllThereIs) {
  auto interfaces = *parse_proc_net_dev(kNetDev);
  InterfaceCounters sum = sum_target_interfaces(interfaces);
  EXPECT_EQ(sum.name, "eth0+eth1");
  EXPECT_EQ(sum.rx_bytes, 91376618u);
  EXPECT_EQ(sum.tx_packets, 1796u);

  std::vector<InterfaceCounters> only_lo = {interfaces[0]};
  InterfaceCounters lo = sum_target_interfaces(only_lo);
  EXPECT_EQ(lo.name, "lo");
  EXPECT_EQ(lo.rx_bytes, 2449820454u);
}

TEST(ProcessCounters, ProcStatCountsFieldsFromTheLastParenthesis) {
  // A command name with spaces and parentheses must not shift the fields.
  auto stat = parse_proc_stat(
      "4242 (a) b (c)) S 4000 4242 26569 0 -1 4194304 101 0 0 0 250 50 30 20 20 0 1 0 569143 "
      "3133440 381 18446744073709551615 1 2 3 4 5 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n");
  ASSERT_TRUE(stat.ok()) << stat.error().message();
  EXPECT_EQ(stat->pid, 4242);
  EXPECT_EQ(stat->state, 'S');
  EXPECT_EQ(stat->ppid, 4000);
  EXPECT_EQ(stat->utime, 250u);
  EXPECT_EQ(stat->stime, 50u);
  EXPECT_EQ(stat->cutime, 30u);
  EXPECT_EQ(stat->cstime, 20u);
  EXPECT_EQ(stat->start_time, 569143u);
  EXPECT_FALSE(parse_proc_stat("4242 (x) S 1 2 3\n").ok());
  EXPECT_FALSE(parse_proc_stat("4242 x S 1\n").ok());
}

TEST(ProcessCounters, StatusAndIo) {
  auto status = parse_proc_status("Name:\tcat\nVmHWM:\t    2008 kB\nVmRSS:\t    1004 kB\nThreads:\t3\n");
  ASSERT_TRUE(status.ok()) << status.error().message();
  EXPECT_EQ(status->rss_bytes, std::optional<uint64_t>(1004 * 1024));
  EXPECT_EQ(status->hwm_bytes, std::optional<uint64_t>(2008 * 1024));
  EXPECT_EQ(status->threads, 3u);
  auto zombie = parse_proc_status("Name:\tx\nState:\tZ (zombie)\nThreads:\t1\n");
  ASSERT_TRUE(zombie.ok());
  EXPECT_EQ(zombie->rss_bytes, std::nullopt);
  EXPECT_FALSE(parse_proc_status("Name:\tx\n").ok());

  auto io = parse_proc_io("rchar: 6976\nwchar: 0\nsyscr: 10\nsyscw: 0\nread_bytes: 4096\n"
                          "write_bytes: 8192\ncancelled_write_bytes: 0\n");
  ASSERT_TRUE(io.ok()) << io.error().message();
  EXPECT_EQ(io->read_bytes, 4096u);
  EXPECT_EQ(io->write_bytes, 8192u);
  EXPECT_FALSE(parse_proc_io("rchar: 1\n").ok());
}

TEST(ProcessCounters, DescendantsFollowParentLinks) {
  auto proc = [](pid_t pid, pid_t ppid) {
    ProcStat s;
    s.pid = pid;
    s.ppid = ppid;
    return s;
  };
  // 1 -> 10 -> 11 -> 12, 10 -> 13; 1 -> 20 (not ours)
  std::vector<ProcStat> all = {proc(1, 0), proc(10, 1), proc(11, 10), proc(12, 11), proc(13, 10), proc(20, 1)};
  EXPECT_EQ(descendants_of(all, {10}), (std::vector<pid_t>{10, 11, 12, 13}));
  EXPECT_EQ(descendants_of(all, {11, 13}), (std::vector<pid_t>{11, 12, 13}));
  EXPECT_EQ(descendants_of(all, {99}), std::vector<pid_t>{});  // gone
}

}  // namespace
}  // namespace syschaos
