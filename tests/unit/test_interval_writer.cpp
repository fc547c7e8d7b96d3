// The time series files: JSONL written and read back unchanged, the documented schema fields,
// bad input to the reader, and the CSV header and rows.
#include <errno.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "observe/interval_writer.hpp"

namespace syschaos {
namespace {

// A scratch directory removed when the test ends.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "syschaos-iw-XXXXXX").string();
    path_ = ::mkdtemp(pattern.data());
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

void spit(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

Interval full_interval(uint64_t index) {
  Interval interval;
  interval.index = index;
  interval.start_unix = 1700000000.123456 + static_cast<double>(index);
  interval.end_unix = interval.start_unix + 1.000321;
  SyscallStats openat;
  openat.nr = 257;
  openat.name = "openat";
  openat.calls = 10 + index;
  openat.errnos = {{ENOENT, 3}, {EACCES, 1}};  // sorted by errno: ENOENT is 2, EACCES 13
  openat.errors = 4;
  openat.latency_log2[3] = 2;
  openat.latency_log2[11] = 8 + index;
  openat.latency_sum_ns = 20'000;
  SyscallStats odd;  // an errno glibc has no name for, and no latency data
  odd.nr = 500;
  odd.name = "syscall_500";
  odd.calls = 1;
  odd.errors = 1;
  odd.errnos = {{300, 1}};
  interval.syscalls = {openat, odd};
  interval.total_calls = openat.calls + odd.calls;
  interval.total_errors = 5;
  interval.events_lost = 7;
  interval.processes = 3;
  interval.target_alive = index < 2;
  ResourceStats& r = interval.resources;
  r.source = "cgroup v2+v1";
  r.cpu_usage_ns = 123456789012ULL;
  r.cpu_cores = 0.731;
  r.memory_bytes = 50 << 20;
  r.memory_working_set_bytes = 40 << 20;
  r.memory_peak_bytes = 60 << 20;
  r.oom_kills = 1;
  r.io_read_bytes = 4096;
  r.io_write_bytes = 8192;
  r.pids = 12;
  r.net_rx_bytes = 1000;
  r.net_tx_bytes = 2000;
  r.net_rx_packets = 10;
  r.net_tx_packets = 20;
  r.net_rx_drops = 0;
  r.net_tx_drops = 1;
  r.network_shared = false;
  // Left unset on purpose: memory_limit_bytes, oom_events (unavailable stays unavailable).
  return interval;
}

void expect_same(const Interval& a, const Interval& b) {
  EXPECT_EQ(a.index, b.index);
  EXPECT_EQ(a.start_unix, b.start_unix);
  EXPECT_EQ(a.end_unix, b.end_unix);
  EXPECT_EQ(a.total_calls, b.total_calls);
  EXPECT_EQ(a.total_errors, b.total_errors);
  EXPECT_EQ(a.events_lost, b.events_lost);
  EXPECT_EQ(a.processes, b.processes);
  EXPECT_EQ(a.target_alive, b.target_alive);
  ASSERT_EQ(a.syscalls.size(), b.syscalls.size());
  for (size_t i = 0; i < a.syscalls.size(); ++i) {
    const SyscallStats& x = a.syscalls[i];
    const SyscallStats& y = b.syscalls[i];
    EXPECT_EQ(x.nr, y.nr);
    EXPECT_EQ(x.name, y.name);
    EXPECT_EQ(x.calls, y.calls);
    EXPECT_EQ(x.errors, y.errors);
    auto sorted = x.errnos;
    std::sort(sorted.begin(), sorted.end());
    EXPECT_EQ(sorted, y.errnos);
    EXPECT_EQ(x.latency_log2, y.latency_log2);
    EXPECT_EQ(x.latency_sum_ns, y.latency_sum_ns);
  }
  const ResourceStats& r = a.resources;
  const ResourceStats& s = b.resources;
  EXPECT_EQ(r.source, s.source);
  EXPECT_EQ(r.cpu_usage_ns, s.cpu_usage_ns);
  EXPECT_EQ(r.cpu_cores, s.cpu_cores);
  EXPECT_EQ(r.memory_bytes, s.memory_bytes);
  EXPECT_EQ(r.memory_working_set_bytes, s.memory_working_set_bytes);
  EXPECT_EQ(r.memory_peak_bytes, s.memory_peak_bytes);
  EXPECT_EQ(r.memory_limit_bytes, s.memory_limit_bytes);
  EXPECT_EQ(r.oom_events, s.oom_events);
  EXPECT_EQ(r.oom_kills, s.oom_kills);
  EXPECT_EQ(r.io_read_bytes, s.io_read_bytes);
  EXPECT_EQ(r.io_write_bytes, s.io_write_bytes);
  EXPECT_EQ(r.pids, s.pids);
  EXPECT_EQ(r.net_rx_bytes, s.net_rx_bytes);
  EXPECT_EQ(r.net_tx_bytes, s.net_tx_bytes);
  EXPECT_EQ(r.net_rx_packets, s.net_rx_packets);
  EXPECT_EQ(r.net_tx_packets, s.net_tx_packets);
  EXPECT_EQ(r.net_rx_drops, s.net_rx_drops);
  EXPECT_EQ(r.net_tx_drops, s.net_tx_drops);
  EXPECT_EQ(r.network_shared, s.network_shared);
}

TEST(IntervalWriter, JsonlRoundTrips) {
  TempDir dir;
  std::string path = dir.file("run.jsonl");
  std::vector<Interval> written = {full_interval(0), full_interval(1), full_interval(2), Interval{}};
  written.back().index = 3;  // an empty interval: no syscalls, no resources
  {
    auto writer = IntervalWriter::open(path, "web");
    ASSERT_TRUE(writer.ok()) << writer.error().message();
    EXPECT_EQ((*writer)->format(), IntervalFormat::jsonl);
    for (const Interval& interval : written) ASSERT_TRUE((*writer)->write(interval).ok());
  }
  auto read = read_intervals_jsonl(path);
  ASSERT_TRUE(read.ok()) << read.error().message();
  ASSERT_EQ(read->size(), written.size());
  for (size_t i = 0; i < written.size(); ++i) {
    SCOPED_TRACE(i);
    expect_same(written[i], (*read)[i]);
  }
}

TEST(IntervalWriter, JsonlRecordHasTheDocumentedFields) {
  std::string line = interval_to_jsonl(full_interval(1), "web");
  ASSERT_EQ(line.back(), '\n');
  EXPECT_EQ(line.find('\n'), line.size() - 1) << "one record, one line";
  auto record = nlohmann::json::parse(line);
  EXPECT_EQ(record["schema"], 1);
  EXPECT_EQ(record["interval"], 1);
  EXPECT_EQ(record["target"], "web");
  EXPECT_EQ(record["processes"], 3);
  EXPECT_EQ(record["alive"], true);
  EXPECT_EQ(record["total_calls"], 12);
  EXPECT_EQ(record["total_errors"], 5);
  EXPECT_EQ(record["events_lost"], 7);
  EXPECT_DOUBLE_EQ(record["start"].get<double>(), 1700000001.123456);
  // The order of keys is part of what a human reading the file sees; it matches the docs.
  std::vector<std::string> keys;
  auto ordered = nlohmann::ordered_json::parse(line);
  for (const auto& [key, value] : ordered.items()) keys.push_back(key);
  EXPECT_EQ(keys, (std::vector<std::string>{"schema", "interval", "start", "end", "target", "processes",
                                            "alive", "total_calls", "total_errors", "events_lost",
                                            "syscalls", "resources"}));

  const auto& openat = record["syscalls"][0];
  EXPECT_EQ(openat["name"], "openat");
  EXPECT_EQ(openat["nr"], 257);
  EXPECT_EQ(openat["calls"], 11);
  EXPECT_EQ(openat["errors"], 4);
  EXPECT_EQ(openat["errnos"], (nlohmann::json{{"ENOENT", 3}, {"EACCES", 1}}));
  EXPECT_EQ(openat["latency_sum_ns"], 20000);
  // 2 calls in [8,16) ns and 9 in [2048,4096): p50 lies in bucket 11, p99 too.
  EXPECT_GE(openat["latency_p50_ns"].get<uint64_t>(), 2048u);
  EXPECT_LE(openat["latency_p50_ns"].get<uint64_t>(), 4096u);
  EXPECT_GE(openat["latency_p99_ns"].get<uint64_t>(), openat["latency_p50_ns"].get<uint64_t>());
  // Buckets up to the last non-empty one.
  EXPECT_EQ(openat["latency_log2"], (nlohmann::json{0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 9}));

  const auto& odd = record["syscalls"][1];
  EXPECT_EQ(odd["errnos"], (nlohmann::json{{"E300", 1}}));
  EXPECT_FALSE(odd.contains("latency_p50_ns")) << "no quantile without latency data";
  EXPECT_EQ(odd["latency_log2"], nlohmann::json::array());

  const auto& resources = record["resources"];
  EXPECT_EQ(resources["source"], "cgroup v2+v1");
  EXPECT_EQ(resources["cpu_usage_ns"], 123456789012ULL);
  EXPECT_DOUBLE_EQ(resources["cpu_cores"].get<double>(), 0.731);
  EXPECT_EQ(resources["network_shared"], false);
  EXPECT_FALSE(resources.contains("memory_limit_bytes")) << "unavailable fields are absent";
  EXPECT_FALSE(resources.contains("oom_events"));
}

TEST(IntervalWriter, ReaderNamesTheBadLine) {
  TempDir dir;
  std::string good = interval_to_jsonl(full_interval(0), "web");

  spit(dir.file("garbage.jsonl"), good + "{not json\n" + good);
  auto garbage = read_intervals_jsonl(dir.file("garbage.jsonl"));
  ASSERT_FALSE(garbage.ok());
  EXPECT_EQ(garbage.error().message(), dir.file("garbage.jsonl") + " line 2: not valid JSON");

  std::string newer = good;
  newer.replace(newer.find("\"schema\":1"), 10, "\"schema\":2");
  spit(dir.file("newer.jsonl"), newer);
  auto schema = read_intervals_jsonl(dir.file("newer.jsonl"));
  ASSERT_FALSE(schema.ok());
  EXPECT_NE(schema.error().message().find("line 1: schema 2 is not the one this syschaos reads (1)"),
            std::string::npos)
      << schema.error().message();

  spit(dir.file("typed.jsonl"), R"({"schema":1,"interval":0,"start":1,"end":2,"syscalls":[{"name":"read","calls":-1,"errors":0}]})" "\n");
  auto typed = read_intervals_jsonl(dir.file("typed.jsonl"));
  ASSERT_FALSE(typed.ok());
  EXPECT_NE(typed.error().message().find("syscalls[0]: field 'calls' must be a non-negative integer"),
            std::string::npos)
      << typed.error().message();

  spit(dir.file("missing.jsonl"), R"({"schema":1,"interval":0,"start":1,"syscalls":[]})" "\n");
  auto missing = read_intervals_jsonl(dir.file("missing.jsonl"));
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message().find("missing field 'end'"), std::string::npos);

  auto absent = read_intervals_jsonl(dir.file("absent.jsonl"));
  ASSERT_FALSE(absent.ok());
  EXPECT_EQ(absent.error().sys_errno(), ENOENT);
}

TEST(IntervalWriter, ReaderSkipsARecordCutShortAtTheEnd) {
  TempDir dir;
  std::string good = interval_to_jsonl(full_interval(0), "web");
  spit(dir.file("cut.jsonl"), good + "\n" + good.substr(0, good.size() / 2));  // blank line too
  auto read = read_intervals_jsonl(dir.file("cut.jsonl"));
  ASSERT_TRUE(read.ok()) << read.error().message();
  EXPECT_EQ(read->size(), 1u);
}

TEST(IntervalWriter, CsvHasHeaderAndOneValuePerRow) {
  TempDir dir;
  std::string path = dir.file("run.csv");
  {
    auto writer = IntervalWriter::open(path, "web,1");  // a comma in the target is quoted
    ASSERT_TRUE(writer.ok()) << writer.error().message();
    EXPECT_EQ((*writer)->format(), IntervalFormat::csv);
    ASSERT_TRUE((*writer)->write(full_interval(0)).ok());
    ASSERT_TRUE((*writer)->write(full_interval(1)).ok());
  }
  std::string text = slurp(path);
  std::istringstream lines(text);
  std::string line;
  std::getline(lines, line);
  EXPECT_EQ(line, "schema,interval,start,end,target,metric,syscall,outcome,value");
  std::vector<std::string> rows;
  while (std::getline(lines, line)) rows.push_back(line);
  auto has = [&](const std::string& row) { return std::find(rows.begin(), rows.end(), row) != rows.end(); };
  const std::string p0 = "1,0,1700000000.123456,1700000001.123777,\"web,1\",";
  EXPECT_TRUE(has(p0 + "calls,openat,success,6"));
  EXPECT_TRUE(has(p0 + "calls,openat,ENOENT,3"));
  EXPECT_TRUE(has(p0 + "calls,openat,EACCES,1"));
  EXPECT_TRUE(has(p0 + "errors,openat,,4"));
  EXPECT_TRUE(has(p0 + "latency_sum_ns,openat,,20000"));
  EXPECT_TRUE(has(p0 + "calls,syscall_500,E300,1"));
  EXPECT_TRUE(has(p0 + "processes,,,3"));
  EXPECT_TRUE(has(p0 + "alive,,,1"));
  EXPECT_TRUE(has(p0 + "events_lost,,,7"));
  EXPECT_TRUE(has(p0 + "cpu_cores,,,0.731"));
  EXPECT_TRUE(has(p0 + "cpu_usage_ns,,,123456789012"));
  EXPECT_TRUE(has(p0 + "memory_bytes,,,52428800"));
  EXPECT_TRUE(has(p0 + "network_shared,,,0"));
  EXPECT_TRUE(has("1,1,1700000001.123456,1700000002.123777,\"web,1\",calls,openat,success,7"));
  // Every row has the nine columns (the quoted target holds one comma).
  for (const std::string& row : rows)
    EXPECT_EQ(std::count(row.begin(), row.end(), ','), 9) << row;
  // Nothing for what the source did not offer, and latency quantiles only with latency data.
  for (const std::string& row : rows) {
    EXPECT_EQ(row.find("memory_limit_bytes"), std::string::npos) << row;
    EXPECT_EQ(row.find("latency_p50_ns,syscall_500"), std::string::npos) << row;
  }
}

TEST(IntervalWriter, FormatFromTheFileName) {
  EXPECT_EQ(*interval_format_for_path("a/b.jsonl"), IntervalFormat::jsonl);
  EXPECT_EQ(*interval_format_for_path("b.csv"), IntervalFormat::csv);
  auto unknown = interval_format_for_path("b.txt");
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().message(), "cannot tell the output format of 'b.txt': name it *.jsonl or *.csv");
  auto cannot_open = IntervalWriter::open("/nonexistent-dir/x.jsonl", "web");
  ASSERT_FALSE(cannot_open.ok());
  EXPECT_EQ(cannot_open.error().message(), "open /nonexistent-dir/x.jsonl: No such file or directory");
}

}  // namespace
}  // namespace syschaos
