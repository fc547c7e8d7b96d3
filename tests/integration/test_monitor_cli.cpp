// `syschaos monitor` through its command line, against real processes (needs root): exact
// counts per (syscall, outcome) in the JSONL and CSV time series of a launched command, the
// JSONL schema, the Prometheus endpoint scraped while a workload runs and matched against the
// time series, children forked after the monitor attached to a --pid target, the end of the
// monitor when the target exits, bad input (one line, exit 2, nothing run), no privilege, and
// the live view on a pipe. The workload is tests/integration/programs/monitor_workload.c.
#include <arpa/inet.h>
#include <curl/curl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "process_runner.hpp"
#include "prometheus_text_parser.hpp"

using namespace syschaos::testing;
using namespace std::chrono_literals;
using Json = nlohmann::ordered_json;  // keeps the keys in file order

namespace {

constexpr int kLatencyBuckets = 40;  // observe/metrics.hpp; the JSONL may hold fewer (trailing 0s cut)

std::string bin() { return SYSCHAOS_BIN; }
std::string workload() { return std::string(TESTPROGS_DIR) + "/monitor_workload"; }

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) lines.push_back(line);
  return lines;
}

bool exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

// A directory of its own for each test, removed at the end.
class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/syschaos-moncli-XXXXXX";
    char* made = ::mkdtemp(tmpl);
    if (made == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = made;
    ::chmod(path_.c_str(), 0755);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};


// Complete (newline-terminated) lines of a file that is being written.
size_t complete_lines(const std::string& path) {
  std::string text = read_file(path);
  return static_cast<size_t>(std::count(text.begin(), text.end(), '\n'));
}

// ---- JSONL -----------------------------------------------------------------------------

std::vector<Json> read_jsonl(const std::string& path) {
  std::vector<Json> records;
  std::string text = read_file(path);
  EXPECT_TRUE(text.empty() || text.back() == '\n') << path << ": last record not terminated";
  for (const std::string& line : lines_of(text)) {
    Json record = Json::parse(line, nullptr, /*allow_exceptions=*/false);
    EXPECT_FALSE(record.is_discarded()) << "not JSON: " << line;
    if (!record.is_discarded()) records.push_back(std::move(record));
  }
  return records;
}

bool is_count(const Json& v) { return v.is_number_unsigned() || (v.is_number_integer() && v.get<int64_t>() >= 0); }

// Where the documented keys of `object` are not in the documented order; keys not in
// `order` (fields added later) are ignored.
void check_key_order(const Json& object, const std::vector<std::string>& order, const std::string& where,
                     std::vector<std::string>& problems) {
  size_t last = 0;
  for (const auto& [key, value] : object.items()) {
    auto it = std::find(order.begin(), order.end(), key);
    if (it == order.end()) continue;
    size_t at = static_cast<size_t>(it - order.begin());
    if (at < last) problems.push_back(where + ": key '" + key + "' out of the documented order");
    last = at;
  }
}

// What is wrong with one interval record, measured against docs/OBSERVE_OUTPUT.md ("JSON
// lines"): field names, their order, types, and the sums that tie them together. Fields
// added later do not make a record invalid (readers must ignore them).
std::vector<std::string> schema_problems(const Json& r) {
  std::vector<std::string> problems;
  auto need = [&](const Json& object, const char* field, auto ok, const char* what, const std::string& where) {
    auto it = object.find(field);
    if (it == object.end()) {
      problems.push_back(where + ": missing '" + field + "'");
      return false;
    }
    if (!ok(*it)) {
      problems.push_back(where + ": '" + field + "' is not " + what + ": " + it->dump());
      return false;
    }
    return true;
  };
  auto number = [](const Json& v) { return v.is_number(); };
  auto string = [](const Json& v) { return v.is_string(); };
  auto boolean = [](const Json& v) { return v.is_boolean(); };
  auto array = [](const Json& v) { return v.is_array(); };
  auto object = [](const Json& v) { return v.is_object(); };
  if (!r.is_object()) return {"record is not an object"};
  if (need(r, "schema", [](const Json& v) { return v.is_number_integer(); }, "an integer", "record") &&
      r["schema"].get<int64_t>() != 1)
    problems.push_back("schema is not 1");
  need(r, "interval", is_count, "a count", "record");
  need(r, "start", number, "a number", "record");
  need(r, "end", number, "a number", "record");
  need(r, "target", string, "a string", "record");
  need(r, "processes", is_count, "a count", "record");
  need(r, "alive", boolean, "a boolean", "record");
  need(r, "total_calls", is_count, "a count", "record");
  need(r, "total_errors", is_count, "a count", "record");
  need(r, "events_lost", is_count, "a count", "record");
  check_key_order(r,
                  {"schema", "interval", "start", "end", "target", "processes", "alive", "total_calls", "total_errors",
                   "events_lost", "syscalls", "resources"},
                  "record", problems);
  static const std::set<std::string> kResourceCounts = {
      "cpu_usage_ns",   "memory_bytes",   "memory_working_set_bytes", "memory_peak_bytes", "memory_limit_bytes",
      "oom_events",     "oom_kills",      "io_read_bytes",            "io_write_bytes",    "pids",
      "net_rx_bytes",   "net_tx_bytes",   "net_rx_packets",           "net_tx_packets",    "net_rx_drops",
      "net_tx_drops"};
  if (need(r, "resources", object, "an object", "record")) {
    for (const auto& [key, value] : r["resources"].items()) {
      bool ok = key == "source"           ? value.is_string() && std::regex_match(value.get<std::string>(),
                                                                                  std::regex("cgroup v2|cgroup v1|cgroup v2\\+v1|processes"))
                : key == "cpu_cores"      ? value.is_number() && value.get<double>() >= 0
                : key == "network_shared" ? value.is_boolean()
                : kResourceCounts.count(key) ? is_count(value)
                                             : true;  // a field added later
      if (!ok) problems.push_back("resources." + key + " has the wrong type or value: " + value.dump());
    }
  }
  if (!need(r, "syscalls", array, "an array", "record")) return problems;

  uint64_t sum_calls = 0, sum_errors = 0, previous_calls = UINT64_MAX;
  static const std::regex errno_name("^E[A-Z0-9]+$");
  for (size_t i = 0; i < r["syscalls"].size(); ++i) {
    const Json& s = r["syscalls"][i];
    std::string where = "syscalls[" + std::to_string(i) + "]";
    if (!s.is_object()) {
      problems.push_back(where + " is not an object");
      continue;
    }
    bool ok = need(s, "name", string, "a string", where) &&
              need(s, "nr", [](const Json& v) { return v.is_number_integer() && v.get<int64_t>() >= 0; },
                   "a syscall number", where) &&
              need(s, "calls", is_count, "a count", where) && need(s, "errors", is_count, "a count", where) &&
              need(s, "errnos", object, "an object", where) &&
              need(s, "latency_sum_ns", is_count, "a count", where) &&
              need(s, "latency_log2", array, "an array", where);
    if (!ok) continue;
    where += " (" + s["name"].get<std::string>() + ")";
    check_key_order(s,
                    {"name", "nr", "calls", "errors", "errnos", "latency_p50_ns", "latency_p99_ns", "latency_sum_ns",
                     "latency_log2"},
                    where, problems);
    uint64_t calls = s["calls"], errors = s["errors"];
    if (calls == 0) problems.push_back(where + ": listed with 0 calls");
    if (calls > previous_calls) problems.push_back(where + ": not sorted busiest first");
    previous_calls = calls;
    if (errors > calls) problems.push_back(where + ": more errors than calls");
    uint64_t errno_sum = 0;
    for (const auto& [name, count] : s["errnos"].items()) {
      if (!std::regex_match(name, errno_name)) problems.push_back(where + ": bad errno name " + name);
      if (!is_count(count) || count.get<uint64_t>() == 0) problems.push_back(where + ": bad count for " + name);
      else errno_sum += count.get<uint64_t>();
    }
    if (errno_sum != errors) problems.push_back(where + ": errnos add up to " + std::to_string(errno_sum) +
                                                ", errors is " + std::to_string(errors));
    const Json& buckets = s["latency_log2"];
    uint64_t measured = 0;
    if (buckets.size() > static_cast<size_t>(kLatencyBuckets)) problems.push_back(where + ": too many buckets");
    for (const Json& b : buckets) {
      if (!is_count(b)) problems.push_back(where + ": bucket not a count");
      else measured += b.get<uint64_t>();
    }
    if (!buckets.empty() && buckets.back() == 0) problems.push_back(where + ": trailing empty bucket");
    // A call whose entry the monitor did not see (the child's return from fork, a call that
    // began before the process became a target) is counted but has no duration.
    if (measured > calls) problems.push_back(where + ": more latencies than calls");
    bool quantiles = s.contains("latency_p50_ns") || s.contains("latency_p99_ns");
    if (measured > 0) {
      if (need(s, "latency_p50_ns", is_count, "a count", where) &&
          need(s, "latency_p99_ns", is_count, "a count", where) &&
          s["latency_p50_ns"].get<uint64_t>() > s["latency_p99_ns"].get<uint64_t>())
        problems.push_back(where + ": p50 above p99");
    } else if (quantiles) {
      problems.push_back(where + ": quantiles without a histogram");
    }
    sum_calls += calls;
    sum_errors += errors;
  }
  if (is_count(r.value("total_calls", Json())) && r["total_calls"].get<uint64_t>() != sum_calls)
    problems.push_back("total_calls " + r["total_calls"].dump() + " != sum of calls " + std::to_string(sum_calls));
  if (is_count(r.value("total_errors", Json())) && r["total_errors"].get<uint64_t>() != sum_errors)
    problems.push_back("total_errors " + r["total_errors"].dump() + " != sum of errors " +
                       std::to_string(sum_errors));
  return problems;
}

// Every record valid, intervals numbered 0, 1, 2, ..., each starting where the previous ended.
void expect_valid_series(const std::vector<Json>& records, const std::string& target) {
  ASSERT_FALSE(records.empty()) << "no interval record";
  const double now = static_cast<double>(::time(nullptr));
  for (size_t i = 0; i < records.size(); ++i) {
    const Json& r = records[i];
    auto problems = schema_problems(r);
    EXPECT_TRUE(problems.empty()) << "record " << i << ": " << ::testing::PrintToString(problems) << "\n" << r.dump();
    if (!problems.empty()) continue;
    EXPECT_EQ(r["interval"].get<uint64_t>(), i);
    EXPECT_EQ(r["target"].get<std::string>(), target);
    double start = r["start"], end = r["end"];
    EXPECT_GE(end, start) << "record " << i;
    EXPECT_NEAR(start, now, 600) << "start is not a Unix time of this run";
    if (i > 0 && schema_problems(records[i - 1]).empty()) {
      EXPECT_DOUBLE_EQ(start, records[i - 1]["end"].get<double>()) << "gap or overlap before record " << i;
    }
  }
}

// Sums over a series: calls per (syscall, outcome), outcome "success" or the errno name, and
// latency buckets per syscall.
struct SeriesTotals {
  std::map<std::pair<std::string, std::string>, uint64_t> outcomes;
  std::map<std::string, uint64_t> calls;
  std::map<std::string, std::array<uint64_t, kLatencyBuckets>> buckets;

  explicit SeriesTotals(const std::vector<Json>& records, size_t first_n = SIZE_MAX) {
    for (size_t i = 0; i < records.size() && i < first_n; ++i) {
      for (const Json& s : records[i]["syscalls"]) {
        std::string name = s["name"];
        uint64_t n = s["calls"], failed = 0;
        calls[name] += n;
        for (const auto& [err, count] : s["errnos"].items()) {
          outcomes[{name, err}] += count.get<uint64_t>();
          failed += count.get<uint64_t>();
        }
        outcomes[{name, "success"}] += n - failed;
        auto& b = buckets[name];
        for (size_t k = 0; k < s["latency_log2"].size() && k < b.size(); ++k) b[k] += s["latency_log2"][k].get<uint64_t>();
      }
    }
  }
  uint64_t of(const std::string& syscall, const std::string& outcome) const {
    auto it = outcomes.find({syscall, outcome});
    return it == outcomes.end() ? 0 : it->second;
  }
  uint64_t calls_of(const std::string& syscall) const {
    auto it = calls.find(syscall);
    return it == calls.end() ? 0 : it->second;
  }
  // Every outcome of a syscall other than success.
  std::map<std::string, uint64_t> errors_of(const std::string& syscall) const {
    std::map<std::string, uint64_t> out;
    for (const auto& [key, n] : outcomes)
      if (key.first == syscall && key.second != "success" && n) out[key.second] = n;
    return out;
  }
  uint64_t measured(const std::string& syscall) const {
    auto it = buckets.find(syscall);
    uint64_t n = 0;
    if (it != buckets.end())
      for (uint64_t c : it->second) n += c;
    return n;
  }
};

// ---- CSV -------------------------------------------------------------------------------

// One CSV line into fields (RFC 4180 quoting; no newline inside a field here).
std::vector<std::string> csv_fields(const std::string& line) {
  std::vector<std::string> fields(1);
  bool quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    char c = line[i];
    if (quoted) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
        fields.back() += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        fields.back() += c;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      fields.emplace_back();
    } else {
      fields.back() += c;
    }
  }
  return fields;
}

// ---- HTTP and ports --------------------------------------------------------------------

// A TCP port on 127.0.0.1 that was free a moment ago: bind port 0, read it, close.
uint16_t free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  uint16_t port = 0;
  if (fd >= 0 && ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0)
    port = ntohs(a.sin_port);
  if (fd >= 0) ::close(fd);
  return port;
}

size_t append_body(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

struct HttpResponse {
  long status = 0;  // 0: no response (connection refused, timeout)
  std::string body;
  std::string content_type;
};

// GET of a 127.0.0.1 URL, never through a proxy.
HttpResponse http_get(const std::string& url) {
  static const bool initialized = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
  HttpResponse response;
  if (!initialized) return response;
  CURL* curl = curl_easy_init();
  if (curl == nullptr) return response;
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_NOPROXY, "*");
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, 1000L);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 3000L);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, append_body);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &response.body);
  if (curl_easy_perform(curl) == CURLE_OK) {
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &response.status);
    char* type = nullptr;
    if (curl_easy_getinfo(curl, CURLINFO_CONTENT_TYPE, &type) == CURLE_OK && type) response.content_type = type;
  }
  curl_easy_cleanup(curl);
  return response;
}

// "monitor ended (REASON) after N interval(s)" from syschaos's stderr.
std::optional<std::pair<std::string, uint64_t>> end_line(const std::string& err) {
  static const std::regex re(R"(syschaos: monitor ended \(([^)]*)\) after (\d+) interval\(s\))");
  std::smatch m;
  if (!std::regex_search(err, m, re)) return std::nullopt;
  return std::make_pair(m[1].str(), std::stoull(m[2].str()));
}

// The launch-mode workload of the accuracy tests and what it makes.
constexpr int kEnoent = 1000, kEnotdir = 300, kEbadf = 200, kGetppid = 500, kSleeps = 3, kChildGetppid = 200;
constexpr int kWorkloadExit = 7;
std::vector<std::string> calls_workload() {
  return {workload(),
          "calls",
          std::to_string(kEnoent),
          std::to_string(kEnotdir),
          std::to_string(kEbadf),
          std::to_string(kGetppid),
          std::to_string(kSleeps),
          "20",
          std::to_string(kChildGetppid),
          std::to_string(kWorkloadExit)};
}
std::vector<std::string> concat(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}
std::string describe_command(const std::vector<std::string>& argv) {
  std::string text = "command";
  for (const auto& a : argv) text += " " + a;
  return text;
}

}  // namespace

// `syschaos monitor --duration 5s --no-view --out F.jsonl -- PROG`: the counts are PROG's
// calls exactly, with their errnos; a process outside the target calling getppid the whole
// time is not counted; the monitor ends by itself when PROG exits and exits with its code.
TEST(MonitorCli, LaunchModeCountsEveryCallExactlyAndEndsWithTheCommand) {
  TempDir dir;
  const std::string out = dir / "series.jsonl";
  BackgroundProcess outsider({workload(), "ticker", "200", "1", "60"});
  auto r = run_command(concat({bin(), "monitor", "--duration", "5s", "--no-view", "--out", out, "--"}, calls_workload()),
                       30s);
  EXPECT_EQ(r.exit_code, kWorkloadExit) << r.err;
  EXPECT_EQ(r.out, "monitor_workload: done\n") << "the command's stdout is its own";
  auto end = end_line(r.err);
  ASSERT_TRUE(end) << r.err;
  EXPECT_EQ(end->first, "target exited") << r.err;
  EXPECT_TRUE(outsider.running()) << "the process outside the target ran the whole time";

  auto records = read_jsonl(out);
  expect_valid_series(records, describe_command(calls_workload()));
  EXPECT_EQ(records.size(), end->second) << "one record per interval the monitor reports";
  ASSERT_FALSE(records.empty());
  for (size_t i = 0; i + 1 < records.size(); ++i) EXPECT_TRUE(records[i]["alive"].get<bool>()) << i;
  EXPECT_FALSE(records.back()["alive"].get<bool>()) << "the final interval says the target exited";

  SeriesTotals t(records);
  EXPECT_EQ(t.of("openat", "ENOENT"), uint64_t{kEnoent});
  EXPECT_EQ(t.of("openat", "ENOTDIR"), uint64_t{kEnotdir});
  EXPECT_EQ(t.errors_of("openat"), (std::map<std::string, uint64_t>{{"ENOENT", kEnoent}, {"ENOTDIR", kEnotdir}}));
  EXPECT_EQ(t.errors_of("read"), (std::map<std::string, uint64_t>{{"EBADF", kEbadf}}));
  EXPECT_EQ(t.of("getppid", "success"), uint64_t{kGetppid + kChildGetppid}) << "the parent's and the forked child's";
  EXPECT_EQ(t.calls_of("getppid"), uint64_t{kGetppid + kChildGetppid}) << "and no one else's";
  EXPECT_EQ(t.measured("getppid"), uint64_t{kGetppid + kChildGetppid}) << "every call has a duration";
  EXPECT_EQ(t.measured("openat"), t.calls_of("openat"));
  // fork() is one clone that returns twice: in the parent and in the child.
  EXPECT_EQ(t.calls_of("clone"), 2u);
  EXPECT_EQ(t.calls_of("wait4"), 1u);
  // 20 ms sleeps lie in log2 bucket 24: [2^24, 2^25) ns = [16.8, 33.6) ms.
  EXPECT_EQ(t.calls_of("nanosleep"), uint64_t{kSleeps});
  EXPECT_EQ(t.buckets["nanosleep"][24], uint64_t{kSleeps});
  // Errors in every record add up to the counts above.
  uint64_t total_errors = 0;
  for (const Json& rec : records) total_errors += rec["total_errors"].get<uint64_t>();
  uint64_t error_outcomes = 0;
  for (const auto& [key, n] : t.outcomes)
    if (key.second != "success") error_outcomes += n;
  EXPECT_EQ(total_errors, error_outcomes);
}

// The command's very first calls count even when it gets the CPU before the monitor does:
// syschaos, the command and a busy process share one CPU, so the command may run right after
// it is released, before syschaos's next step.
TEST(MonitorCli, LaunchModeCountsTheFirstCallsWhenTheCpuIsBusy) {
  if (::access("/usr/bin/taskset", X_OK) != 0) GTEST_SKIP() << "taskset (util-linux) not installed";
  TempDir dir;
  const std::string out = dir / "series.jsonl";
  BackgroundProcess busy({"/usr/bin/taskset", "-c", "0", workload(), "ticker", "100000", "0", "60"});
  for (int run = 0; run < 5; ++run) {
    auto r = run_command(concat({"/usr/bin/taskset", "-c", "0", bin(), "monitor", "--no-view", "--out", out, "--"},
                                {workload(), "calls", "1000", "0", "0", "0", "0", "0", "0", "0"}),
                         30s);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    SeriesTotals t(read_jsonl(out));
    EXPECT_EQ(t.of("openat", "ENOENT"), 1000u) << "run " << run << ": the command's first calls were not counted";
  }
  EXPECT_TRUE(busy.running());
}

// Several intervals: numbered without a gap, each starting where the previous ended, each
// record valid on its own; per interval counts add up to the workload's.
TEST(MonitorCli, JsonlSeriesOverManyIntervalsIsContinuousAndValid) {
  TempDir dir;
  const std::string out = dir / "series.jsonl";
  std::vector<std::string> prog = {workload(), "batches", "6", "50", "150", "0"};
  auto r = run_command(concat({bin(), "monitor", "--interval", "100ms", "--no-view", "-o", out, "--"}, prog), 30s);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto end = end_line(r.err);
  ASSERT_TRUE(end) << r.err;
  EXPECT_EQ(end->first, "target exited");
  auto records = read_jsonl(out);
  EXPECT_EQ(records.size(), end->second);
  EXPECT_GE(records.size(), 6u) << "about 0.9 s of work in 100 ms intervals";
  expect_valid_series(records, describe_command(prog));
  EXPECT_EQ(SeriesTotals(records).of("openat", "ENOENT"), 300u);
  // Intervals are about 100 ms long (the last one may be cut short by the exit... or not).
  for (size_t i = 0; i + 1 < records.size(); ++i) {
    double length = records[i]["end"].get<double>() - records[i]["start"].get<double>();
    EXPECT_GT(length, 0.05) << "interval " << i;
    EXPECT_LT(length, 0.6) << "interval " << i;
  }
  // The batches are spread over several intervals, not all in one.
  size_t with_openat = 0;
  for (const Json& rec : records)
    for (const Json& s : rec["syscalls"])
      if (s["name"] == "openat" && s["errnos"].contains("ENOENT")) ++with_openat;
  EXPECT_GE(with_openat, 3u);
}

// The same accuracy through --out FILE.csv: the documented header, rows of nine fields, the
// same exact counts, and per interval the totals agree with the rows.
TEST(MonitorCli, CsvOutputParsesAndCountsExactly) {
  TempDir dir;
  const std::string out = dir / "series.csv";
  auto r = run_command(concat({bin(), "monitor", "--duration", "5s", "--no-view", "--out", out, "--"}, calls_workload()),
                       30s);
  EXPECT_EQ(r.exit_code, kWorkloadExit) << r.err;
  auto lines = lines_of(read_file(out));
  ASSERT_GE(lines.size(), 2u);
  EXPECT_EQ(lines[0], "schema,interval,start,end,target,metric,syscall,outcome,value");
  const std::string target = describe_command(calls_workload());
  std::map<std::pair<std::string, std::string>, uint64_t> calls;      // (syscall, outcome)
  std::map<uint64_t, uint64_t> total_rows, calls_rows;  // per interval
  std::map<uint64_t, std::map<std::string, uint64_t>> errors_by_syscall, failed_by_syscall;
  std::set<uint64_t> intervals;
  std::map<uint64_t, std::vector<std::string>> metrics_in_order;
  static const std::set<std::string> kMetrics = {
      "processes", "alive", "total_calls", "total_errors", "events_lost", "calls", "errors", "latency_p50_ns",
      "latency_p99_ns", "latency_sum_ns", "cpu_usage_ns", "cpu_cores", "memory_bytes", "memory_working_set_bytes",
      "memory_peak_bytes", "memory_limit_bytes", "oom_events", "oom_kills", "io_read_bytes", "io_write_bytes", "pids",
      "net_rx_bytes", "net_tx_bytes", "net_rx_packets", "net_tx_packets", "net_rx_drops", "net_tx_drops",
      "network_shared"};
  static const std::set<std::string> kPerSyscall = {"calls", "errors", "latency_p50_ns", "latency_p99_ns",
                                                    "latency_sum_ns"};
  for (size_t i = 1; i < lines.size(); ++i) {
    auto f = csv_fields(lines[i]);
    ASSERT_EQ(f.size(), 9u) << lines[i];
    EXPECT_EQ(f[0], "1");
    uint64_t iv = std::stoull(f[1]);
    intervals.insert(iv);
    metrics_in_order[iv].push_back(f[5]);
    EXPECT_TRUE(kMetrics.count(f[5])) << "undocumented metric: " << lines[i];
    EXPECT_EQ(!f[6].empty(), kPerSyscall.count(f[5]) == 1) << "syscall column: " << lines[i];
    EXPECT_EQ(!f[7].empty(), f[5] == "calls") << "outcome column: " << lines[i];
    EXPECT_TRUE(std::regex_match(f[8], std::regex(R"(-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?)"))) << lines[i];
    EXPECT_LE(std::stod(f[2]), std::stod(f[3]));
    EXPECT_EQ(f[4], target);
    const std::string& metric = f[5];
    ASSERT_FALSE(f[8].empty()) << lines[i];
    if (metric == "calls") {
      uint64_t v = std::stoull(f[8]);
      calls[{f[6], f[7]}] += v;
      calls_rows[iv] += v;
      if (f[7] != "success") failed_by_syscall[iv][f[6]] += v;
    } else if (metric == "errors") {
      if (uint64_t v = std::stoull(f[8]); v > 0) errors_by_syscall[iv][f[6]] = v;
    } else if (metric == "total_calls") {
      total_rows[iv] = std::stoull(f[8]);
    }
  }
  EXPECT_EQ(calls[std::make_pair(std::string("openat"), std::string("ENOENT"))], uint64_t{kEnoent});
  EXPECT_EQ(calls[std::make_pair(std::string("openat"), std::string("ENOTDIR"))], uint64_t{kEnotdir});
  EXPECT_EQ(calls[std::make_pair(std::string("read"), std::string("EBADF"))], uint64_t{kEbadf});
  EXPECT_EQ(calls[std::make_pair(std::string("getppid"), std::string("success"))], uint64_t{kGetppid + kChildGetppid});
  EXPECT_EQ(calls[std::make_pair(std::string("nanosleep"), std::string("success"))], uint64_t{kSleeps});
  for (uint64_t iv : intervals) {
    const auto& m = metrics_in_order[iv];
    ASSERT_GE(m.size(), 5u);
    EXPECT_EQ(std::vector<std::string>(m.begin(), m.begin() + 5),
              (std::vector<std::string>{"processes", "alive", "total_calls", "total_errors", "events_lost"}))
        << "interval " << iv << " does not start with the documented rows";
    EXPECT_EQ(total_rows[iv], calls_rows[iv]) << "interval " << iv << ": total_calls != sum of calls rows";
    EXPECT_EQ(errors_by_syscall[iv], failed_by_syscall[iv]) << "interval " << iv;
  }
  uint64_t n = 0;
  for (uint64_t iv : intervals) EXPECT_EQ(iv, n++) << "intervals numbered 0, 1, 2, ...";
}

// --prometheus 127.0.0.1:PORT while a workload runs: every scrape is valid exposition text,
// syschaos_syscalls_total{syscall="openat",outcome="ENOENT"} grows to exactly the workload's
// count and, at each scrape, equals the sum of the intervals the scrape covers in the JSONL;
// histogram buckets are cumulative and the sleeps land in the right bucket.
TEST(MonitorCli, PrometheusEndpointGrowsAndMatchesTheTimeSeries) {
  TempDir dir;
  const std::string out = dir / "series.jsonl";
  const uint16_t port = free_port();
  ASSERT_NE(port, 0);
  const std::string url = "http://127.0.0.1:" + std::to_string(port) + "/metrics";
  // 8 batches of 100 failing openat, 250 ms apart, then 2.5 s of quiet before exiting.
  std::vector<std::string> prog = {workload(), "batches", "8", "100", "250", "2500"};
  BackgroundProcess monitor(concat({bin(), "monitor", "--interval", "200ms", "--no-view", "--prometheus",
                                    "127.0.0.1:" + std::to_string(port), "--out", out, "--"},
                                   prog));
  ASSERT_TRUE(eventually([&] { return contains(monitor.err(), "Prometheus metrics at " + url); }, 10s))
      << monitor.err();

  struct Scrape {
    double intervals = 0;
    double enoent = 0;
    PromText text;
  };
  std::vector<Scrape> scrapes;
  size_t invalid = 0;
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (monitor.running() && std::chrono::steady_clock::now() < deadline) {
    HttpResponse response = http_get(url);
    if (response.status == 200) {
      EXPECT_EQ(response.content_type.rfind("text/plain; version=0.0.4", 0), 0u) << response.content_type;
      Scrape s;
      s.text = parse_prometheus_text(response.body);
      if (!s.text.errors.empty() && invalid++ < 3)
        ADD_FAILURE() << ::testing::PrintToString(s.text.errors) << "\n" << response.body;
      s.intervals = s.text.value("syschaos_intervals_total").value_or(0);
      s.enoent = s.text.value("syschaos_syscalls_total", {{"syscall", "openat"}, {"outcome", "ENOENT"}}).value_or(0);
      scrapes.push_back(std::move(s));
    }
    std::this_thread::sleep_for(100ms);
  }
  ASSERT_EQ(monitor.wait(10s), 0) << monitor.err();
  auto end = end_line(monitor.err());
  ASSERT_TRUE(end) << monitor.err();
  EXPECT_EQ(end->first, "target exited");
  auto records = read_jsonl(out);
  expect_valid_series(records, describe_command(prog));
  ASSERT_GE(scrapes.size(), 10u) << "the endpoint answered too rarely";

  // Grows, never shrinks, and ends at the workload's count.
  std::set<double> distinct;
  for (size_t i = 0; i < scrapes.size(); ++i) {
    distinct.insert(scrapes[i].enoent);
    if (i > 0) {
      EXPECT_GE(scrapes[i].enoent, scrapes[i - 1].enoent) << "a counter went down";
      EXPECT_GE(scrapes[i].intervals, scrapes[i - 1].intervals);
    }
  }
  EXPECT_GE(distinct.size(), 4u) << "the counter was seen growing batch by batch";
  EXPECT_EQ(scrapes.back().enoent, 800) << "scraped during the 2.5 s of quiet at the end";
  EXPECT_EQ(SeriesTotals(records).of("openat", "ENOENT"), 800u);

  // Each scrape holds exactly the intervals it says it holds.
  for (const Scrape& s : scrapes) {
    size_t k = static_cast<size_t>(s.intervals);
    ASSERT_LE(k, records.size());
    SeriesTotals first_k(records, k);
    EXPECT_EQ(s.enoent, static_cast<double>(first_k.of("openat", "ENOENT"))) << "after " << k << " intervals";
    // Every outcome of openat, and the histogram's count, agree with the series too.
    double openat_all = 0;
    if (const PromFamily* f = s.text.family("syschaos_syscalls_total"))
      for (const PromSample& sample : f->samples)
        if (sample.labels.at("syscall") == "openat") openat_all += sample.value;
    EXPECT_EQ(openat_all, static_cast<double>(first_k.calls_of("openat")));
    if (k > 0) {
      EXPECT_EQ(s.text.value("syschaos_syscall_duration_seconds_count", {{"syscall", "openat"}}).value_or(-1),
                static_cast<double>(first_k.measured("openat")));
      EXPECT_EQ(s.text.value("syschaos_target_up").value_or(-1), records[k - 1]["alive"].get<bool>() ? 1 : 0);
    }
  }

  // The last scrape: families typed as documented, every series labelled with the target, and
  // the 250 ms pauses in the bucket (2^27, 2^28] ns = (0.134217728, 0.268435456] s.
  const PromText& last = scrapes.back().text;
  ASSERT_TRUE(last.errors.empty());
  ASSERT_TRUE(last.family("syschaos_syscalls_total"));
  EXPECT_EQ(last.family("syschaos_syscalls_total")->type, "counter");
  ASSERT_TRUE(last.family("syschaos_syscall_duration_seconds"));
  EXPECT_EQ(last.family("syschaos_syscall_duration_seconds")->type, "histogram");
  for (const PromFamily& f : last.families)
    for (const PromSample& sample : f.samples)
      EXPECT_EQ(sample.labels.count("target") ? sample.labels.at("target") : "", describe_command(prog)) << sample.name;
  auto bucket = [&](const char* le) {
    return last.value("syschaos_syscall_duration_seconds_bucket", {{"syscall", "nanosleep"}, {"le", le}}).value_or(-1);
  };
  EXPECT_EQ(bucket("0.134217728"), 0) << "no shorter sleep";
  EXPECT_EQ(bucket("0.268435456"), 8) << "the eight pauses";
}

// --prometheus 127.0.0.1:0 picks a free port and says which on stderr.
TEST(MonitorCli, PrometheusPortZeroIsPickedAndPrinted) {
  BackgroundProcess monitor({bin(), "monitor", "--interval", "100ms", "--no-view", "--prometheus", "127.0.0.1:0",
                             "--", workload(), "ticker", "10", "10", "3"});
  std::smatch m;
  static const std::regex re(R"(Prometheus metrics at (http://127\.0\.0\.1:(\d+)/metrics))");
  std::string err;
  ASSERT_TRUE(eventually(
      [&] {
        err = monitor.err();
        return std::regex_search(err, m, re);
      },
      10s))
      << err;
  std::string url = m[1].str();
  EXPECT_NE(std::stoi(m[2].str()), 0);
  bool scraped = eventually(
      [&] {
        HttpResponse r = http_get(url);
        return r.status == 200 && parse_prometheus_text(r.body).value("syschaos_syscalls_total",
                                                                      {{"syscall", "getppid"}, {"outcome", "success"}})
                                          .value_or(0) > 0;
      },
      5s);
  EXPECT_TRUE(scraped) << "no getppid count at " << url;
  EXPECT_EQ(monitor.wait(15s), 0) << monitor.err();
}

// A port someone else holds: one line naming the address and the reason, exit 1, and the
// command is never started.
TEST(MonitorCli, PrometheusPortInUseIsOneLineAndNothingRuns) {
  TempDir dir;
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(::listen(fd, 1), 0);
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len), 0);
  const std::string address = "127.0.0.1:" + std::to_string(ntohs(a.sin_port));
  const std::string marker = dir / "ran";
  auto r = run_command({bin(), "monitor", "--no-view", "--prometheus", address, "--out", dir / "s.jsonl", "--", "touch",
                        marker},
                       20s);
  ::close(fd);
  EXPECT_EQ(r.exit_code, 1) << r.err;
  auto lines = lines_of(r.err);
  ASSERT_EQ(lines.size(), 1u) << r.err;
  EXPECT_TRUE(contains(lines[0], address)) << lines[0];
  EXPECT_TRUE(contains(lines[0], "Address already in use")) << lines[0];
  EXPECT_FALSE(exists(marker)) << "the command ran although the monitor could not start";
}

// --pid of a process that is already running and forks children (which fork grandchildren)
// only after the monitor started: every descendant's calls count, nobody else's; the monitor
// ends by itself once the process has exited.
TEST(MonitorCli, PidTargetCountsChildrenForkedAfterTheMonitorStarted) {
  TempDir dir;
  const std::string out = dir / "series.jsonl";
  constexpr int kChildren = 3, kPerChild = 400, kParent = 250;
  BackgroundProcess target({workload(), "forker", std::to_string(kChildren), std::to_string(kPerChild),
                            std::to_string(kParent)});
  // It has blocked SIGUSR1 and waits for it.
  ASSERT_TRUE(eventually([&] { return target.out() == "ready\n"; }, 5s));
  BackgroundProcess outsider({workload(), "ticker", "200", "1", "60"});
  BackgroundProcess monitor({bin(), "monitor", "--pid", std::to_string(target.pid()), "--interval", "200ms",
                             "--no-view", "--out", out, "--duration", "30s"});
  // The first record is written after the monitor began counting: from here on every call
  // of the target counts.
  ASSERT_TRUE(eventually([&] { return complete_lines(out) >= 1; }, 10s)) << monitor.err();
  target.signal(SIGUSR1);
  ASSERT_EQ(target.wait(10s), 0) << "a child or grandchild saw an unexpected result";
  ASSERT_EQ(monitor.wait(10s), 0) << monitor.err();
  auto end = end_line(monitor.err());
  ASSERT_TRUE(end) << monitor.err();
  EXPECT_EQ(end->first, "target exited");
  EXPECT_TRUE(outsider.running());

  auto records = read_jsonl(out);
  expect_valid_series(records, "pid " + std::to_string(target.pid()));
  EXPECT_EQ(records.size(), end->second);
  ASSERT_FALSE(records.empty());
  EXPECT_FALSE(records.back()["alive"].get<bool>());
  EXPECT_EQ(records.back()["processes"].get<uint64_t>(), 0u);
  EXPECT_GE(records.front()["processes"].get<uint64_t>(), 1u);
  SeriesTotals t(records);
  EXPECT_EQ(t.calls_of("getppid"), uint64_t{kParent + 2 * kChildren * kPerChild})
      << "parent + children + grandchildren, and not the outsider";
  EXPECT_EQ(t.of("getppid", "success"), t.calls_of("getppid"));
  // Six forks, each returning twice; the parent and every child wait for their children.
  EXPECT_EQ(t.calls_of("clone"), uint64_t{2 * 2 * kChildren});
  EXPECT_EQ(t.calls_of("wait4"), uint64_t{2 * kChildren});
}

// Bad input: one line on stderr, exit 2, and nothing happens — the command is not run, no
// output file is created.
TEST(MonitorCli, BadInputIsOneLineExitTwoAndNothingRuns) {
  TempDir dir;
  const std::string marker = dir / "ran";
  const std::string out = dir / "series.jsonl";
  // A pid that no longer names a process: one of our children, reaped.
  pid_t gone = ::fork();
  if (gone == 0) ::_exit(0);
  ASSERT_GT(gone, 0);
  ::waitpid(gone, nullptr, 0);
  BackgroundProcess sleeper({"sleep", "60"});
  const std::string live = std::to_string(sleeper.pid());
  const std::vector<std::string> launch = {"--", "touch", marker};

  struct Case {
    std::string what;
    std::vector<std::string> args;
    std::string says;  // part of the message
  };
  std::vector<Case> cases = {
      {"unknown pid", {"--pid", std::to_string(gone)}, "no process"},
      {"pid 0", {"--pid", "0"}, "pid"},
      {"two targets: pid and command", concat({"--pid", live}, launch), "exactly one target"},
      {"two targets: pid and container", {"--pid", live, "--container", "web"}, "exactly one target"},
      {"no target", {}, "exactly one target"},
      {"interval not a duration", concat({"--interval", "soon"}, launch), "--interval"},
      {"interval with a bad unit", concat({"--interval", "1x"}, launch), "--interval"},
      {"interval negative", concat({"--interval", "-1s"}, launch), "--interval"},
      {"interval 0", concat({"--interval", "0"}, launch), "--interval"},
      {"interval too short", concat({"--interval", "5ms"}, launch), "--interval"},
      {"duration 0", concat({"--duration", "0s"}, launch), "--duration"},
      {"out with a bad extension", concat({"--out", dir / "series.txt"}, launch), "--out"},
      {"out without extension", concat({"--out", dir / "series"}, launch), "--out"},
      {"prometheus without port", concat({"--prometheus", "127.0.0.1"}, launch), "--prometheus"},
      {"prometheus port too large", concat({"--prometheus", "127.0.0.1:70000"}, launch), "--prometheus"},
      {"prometheus host name", concat({"--prometheus", "metrics.example:9464"}, launch), "--prometheus"},
      {"prometheus not loopback", concat({"--prometheus", "0.0.0.0:9464"}, launch), "--prometheus"},
      {"prometheus IPv6 without brackets", concat({"--prometheus", "::1:9464"}, launch), "--prometheus"},
      {"command that does not exist", {"--", dir / "no-such-command"}, "no-such-command"},
      {"events without --slow or --failed", concat({"--events", dir / "events.jsonl"}, launch), "--events"},
      {"slow not a duration", concat({"--events", dir / "events.jsonl", "--slow", "long"}, launch), "--slow"},
  };
  for (const Case& c : cases) {
    std::vector<std::string> argv = {bin(), "monitor", "--no-view"};
    // Every case also asks for a JSONL file and a file of failed calls (unless it is about
    // those options itself): neither may appear.
    bool own_out = false, own_events = false;
    for (const auto& a : c.args) {
      own_out |= a == "--out";
      own_events |= a == "--events";
    }
    if (!own_out) argv.insert(argv.end(), {"--out", out});
    if (!own_events) argv.insert(argv.end(), {"--events", dir / "events.jsonl", "--failed"});
    argv.insert(argv.end(), c.args.begin(), c.args.end());
    auto r = run_command(argv, 20s);
    EXPECT_EQ(r.exit_code, 2) << c.what << ": " << r.err;
    auto lines = lines_of(r.err);
    EXPECT_EQ(lines.size(), 1u) << c.what << ": " << r.err;
    if (!lines.empty()) {
      EXPECT_EQ(lines[0].rfind("syschaos: ", 0), 0u) << c.what << ": " << lines[0];
      EXPECT_TRUE(contains(lines[0], c.says)) << c.what << ": " << lines[0];
    }
    EXPECT_EQ(r.out, "") << c.what;
    EXPECT_FALSE(exists(marker)) << c.what << ": the command ran";
    EXPECT_FALSE(exists(out)) << c.what << ": the output file was created";
    EXPECT_FALSE(exists(dir / "series.txt") || exists(dir / "series")) << c.what;
    EXPECT_FALSE(exists(dir / "events.jsonl")) << c.what << ": the events file was created";
    ::unlink((dir / "events.jsonl").c_str());
    ::unlink(marker.c_str());
    ::unlink(out.c_str());
  }
  EXPECT_TRUE(sleeper.running()) << "the --pid target was left alone";
}

// Without privilege: one line saying BPF needs privileges, a non-zero exit, no crash, and a
// launched command is not run.
TEST(MonitorCli, WithoutPrivilegeItSaysBpfNeedsPrivilegeInOneLine) {
  if (::access("/usr/bin/setpriv", X_OK) != 0) GTEST_SKIP() << "setpriv (util-linux) not installed";
  const std::vector<std::string> as_nobody = {"/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"};
  if (run_command(concat(as_nobody, {"test", "-x", bin()}), 10s).exit_code != 0)
    GTEST_SKIP() << "user 65534 cannot run " << bin() << " (a build directory closed to others)";
  TempDir dir;
  ::chmod((dir / "").c_str(), 0777);
  const std::string marker = dir / "ran";
  // Watching its own process: sh execs syschaos, so $$ is syschaos itself.
  auto own = run_command(concat(as_nobody, {"/bin/sh", "-c", "exec \"$0\" monitor --no-view --duration 2s --pid $$", bin()}),
                         20s);
  const std::string events = dir / "events.jsonl";
  auto launched = run_command(
      concat(as_nobody, {bin(), "monitor", "--no-view", "--events", events, "--failed", "--", "touch", marker}), 20s);
  for (const auto* r : {&own, &launched}) {
    EXPECT_NE(r->exit_code, 0) << r->err;
    EXPECT_LT(r->exit_code, 128) << "killed by a signal: " << r->err;
    auto lines = lines_of(r->err);
    ASSERT_EQ(lines.size(), 1u) << r->err;
    EXPECT_EQ(lines[0].rfind("syschaos: ", 0), 0u) << lines[0];
    EXPECT_TRUE(contains(lines[0], "BPF")) << lines[0];
    EXPECT_TRUE(contains(lines[0], "needs root or CAP_BPF")) << lines[0];
  }
  EXPECT_FALSE(exists(marker)) << "the command ran without being monitored";
  EXPECT_FALSE(exists(events)) << "an events file was created although nothing was monitored";
}

// The live view with stdout on a pipe: no terminal control codes, one block per interval,
// each with its SYSCALL header, the target's busiest call in it, at most --rows rows.
TEST(MonitorCli, LiveViewOnAPipePrintsOneBlockPerInterval) {
  BackgroundProcess target({workload(), "ticker", "50", "10", "60"});
  // bash's pipefail gives syschaos's exit code rather than cat's.
  auto r = run_command({"/bin/bash", "-c", "set -o pipefail; \"$0\" \"$@\" | cat", bin(), "monitor", "--pid",
                        std::to_string(target.pid()), "--interval", "250ms", "--duration", "1500ms", "--rows", "1"},
                       20s);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto end = end_line(r.err);
  ASSERT_TRUE(end) << r.err;
  EXPECT_EQ(end->first, "duration elapsed");
  EXPECT_GE(end->second, 4u);
  EXPECT_EQ(r.out.find('\x1b'), std::string::npos) << "terminal control codes on a pipe";

  // Blocks are separated by an empty line.
  std::vector<std::vector<std::string>> blocks(1);
  std::istringstream in(r.out);
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) {
      if (!blocks.back().empty()) blocks.emplace_back();
    } else {
      blocks.back().push_back(line);
    }
  }
  if (blocks.back().empty()) blocks.pop_back();
  ASSERT_EQ(blocks.size(), end->second) << r.out;
  for (size_t i = 0; i < blocks.size(); ++i) {
    const auto& b = blocks[i];
    EXPECT_EQ(b[0].rfind("syschaos monitor: pid " + std::to_string(target.pid()), 0), 0u) << b[0];
    EXPECT_TRUE(contains(b[0], "interval " + std::to_string(i))) << b[0];
    size_t headers = 0, header_at = 0;
    for (size_t k = 0; k < b.size(); ++k)
      if (b[k].rfind("SYSCALL ", 0) == 0) ++headers, header_at = k;
    ASSERT_EQ(headers, 1u) << r.out;
    std::vector<std::string> rows(b.begin() + static_cast<long>(header_at) + 1, b.end());
    ASSERT_FALSE(rows.empty()) << "interval " << i << " shows no syscall";
    // --rows 1: the busiest syscall, then a line saying how many more there are (the ticker
    // also sleeps, so getppid is never alone).
    EXPECT_EQ(rows[0].rfind("getppid ", 0), 0u) << rows[0];
    ASSERT_EQ(rows.size(), 2u) << r.out;
    EXPECT_TRUE(std::regex_match(rows[1], std::regex(R"(\.\.\. \d+ more syscalls?)"))) << rows[1];
  }
  EXPECT_TRUE(target.running()) << "the monitored process is left running";
}

// In launch mode the command's stdout is its own: the view goes to stderr.
TEST(MonitorCli, LiveViewOfALaunchedCommandGoesToStderr) {
  auto r = run_command({bin(), "monitor", "--interval", "200ms", "--", workload(), "calls", "10", "0", "0", "10", "2",
                        "150", "0", "0"},
                       20s);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "monitor_workload: done\n");
  EXPECT_TRUE(contains(r.err, "\nSYSCALL ")) << r.err;
  EXPECT_TRUE(contains(r.err, "TARGET EXITED")) << r.err;
}

// SIGINT ends the monitor after a final interval, exit 0; the --pid target runs on.
TEST(MonitorCli, InterruptEndsWithAFinalIntervalAndLeavesTheTargetRunning) {
  TempDir dir;
  const std::string out = dir / "series.jsonl";
  BackgroundProcess target({workload(), "ticker", "100", "10", "60"});
  BackgroundProcess monitor({bin(), "monitor", "--pid", std::to_string(target.pid()), "--interval", "300ms", "--no-view",
                             "--out", out});
  ASSERT_TRUE(eventually([&] { return complete_lines(out) >= 2; }, 10s)) << monitor.err();
  monitor.signal(SIGINT);
  ASSERT_EQ(monitor.wait(5s), 0) << monitor.err();
  auto end = end_line(monitor.err());
  ASSERT_TRUE(end) << monitor.err();
  EXPECT_EQ(end->first, "interrupted");
  auto records = read_jsonl(out);
  EXPECT_EQ(records.size(), end->second);
  expect_valid_series(records, "pid " + std::to_string(target.pid()));
  ASSERT_FALSE(records.empty());
  EXPECT_TRUE(records.back()["alive"].get<bool>());
  EXPECT_GT(SeriesTotals(records).calls_of("getppid"), 0u);
  EXPECT_TRUE(target.running());
}
