// The Prometheus exporter over real HTTP on loopback: start on port 0, publish intervals,
// scrape with libcurl, parse every line, check the values; concurrent publishing and
// scraping; the port is released when the exporter goes.
#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "observe/prometheus_exporter.hpp"
#include "prometheus_text_parser.hpp"

namespace syschaos {
namespace {

using namespace std::chrono_literals;
using testing::parse_prometheus_text;

struct HttpResponse {
  CURLcode code = CURLE_OK;
  long status = 0;
  std::string content_type;
  std::string body;
};

// One client; reusing it keeps the connection alive between requests, as Prometheus does.
class HttpClient {
 public:
  HttpClient() : curl_(::curl_easy_init()) {}
  ~HttpClient() { ::curl_easy_cleanup(curl_); }
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  HttpResponse get(const std::string& url) {
    HttpResponse response;
    ::curl_easy_setopt(curl_, CURLOPT_URL, url.c_str());
    ::curl_easy_setopt(curl_, CURLOPT_NOPROXY, "*");
    ::curl_easy_setopt(curl_, CURLOPT_TIMEOUT_MS, 5000L);
    ::curl_easy_setopt(curl_, CURLOPT_WRITEFUNCTION, &HttpClient::append);
    ::curl_easy_setopt(curl_, CURLOPT_WRITEDATA, &response.body);
    response.code = ::curl_easy_perform(curl_);
    if (response.code == CURLE_OK) {
      ::curl_easy_getinfo(curl_, CURLINFO_RESPONSE_CODE, &response.status);
      char* type = nullptr;
      ::curl_easy_getinfo(curl_, CURLINFO_CONTENT_TYPE, &type);
      if (type) response.content_type = type;
    }
    return response;
  }

 private:
  static size_t append(char* data, size_t size, size_t count, void* out) {
    static_cast<std::string*>(out)->append(data, size * count);
    return size * count;
  }
  CURL* curl_;
};

Interval interval_with_reads(uint64_t index, uint64_t reads) {
  Interval interval;
  interval.index = index;
  interval.start_unix = 1700000000.0 + static_cast<double>(index);
  interval.end_unix = interval.start_unix + 1;
  SyscallStats read;
  read.name = "read";
  read.nr = 0;
  read.calls = reads;
  read.latency_log2[9] = reads;  // [512, 1024) ns
  read.latency_sum_ns = reads * 700;
  SyscallStats openat;
  openat.name = "openat";
  openat.nr = 257;
  openat.calls = 4;
  openat.errors = 2;
  openat.errnos = {{ENOENT, 2}};
  openat.latency_log2[12] = 4;
  openat.latency_sum_ns = 4 * 5000;
  interval.syscalls = {read, openat};
  interval.total_calls = reads + 4;
  interval.total_errors = 2;
  interval.processes = 1;
  interval.resources.cpu_usage_ns = 2'000'000'000ull * (index + 1);
  interval.resources.memory_bytes = 10 << 20;
  interval.resources.pids = 3;
  interval.resources.source = "cgroup v2";
  return interval;
}

std::unique_ptr<PrometheusExporter> start_exporter(const std::string& listen = "127.0.0.1:0") {
  PrometheusOptions options;
  options.listen = listen;
  options.target = "web";
  auto exporter = PrometheusExporter::start(options);
  EXPECT_TRUE(exporter.ok()) << exporter.error().message();
  return exporter.ok() ? std::move(*exporter) : nullptr;
}

TEST(PrometheusExporter, ServesWhatWasPublished) {
  auto exporter = start_exporter();
  ASSERT_NE(exporter, nullptr);
  ASSERT_NE(exporter->port(), 0) << "port 0 must be replaced by the port chosen";
  EXPECT_EQ(exporter->url(), fmt::format("http://127.0.0.1:{}/metrics", exporter->port()));

  HttpClient client;
  HttpResponse empty = client.get(exporter->url());
  ASSERT_EQ(empty.code, CURLE_OK) << ::curl_easy_strerror(empty.code);
  EXPECT_EQ(empty.status, 200);
  EXPECT_EQ(empty.body, "");

  for (uint64_t i = 0; i < 3; ++i) exporter->publish(interval_with_reads(i, 100));
  HttpResponse response = client.get(exporter->url());
  ASSERT_EQ(response.code, CURLE_OK) << ::curl_easy_strerror(response.code);
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.content_type, "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_EQ(response.body, exporter->render());

  auto parsed = parse_prometheus_text(response.body);
  for (const auto& error : parsed.errors) ADD_FAILURE() << error;
  EXPECT_EQ(parsed.value("syschaos_syscalls_total", {{"syscall", "read"}, {"outcome", "success"}}), 300);
  EXPECT_EQ(parsed.value("syschaos_syscalls_total", {{"syscall", "openat"}, {"outcome", "ENOENT"}}), 6);
  EXPECT_EQ(parsed.value("syschaos_syscalls_total", {{"syscall", "openat"}, {"outcome", "success"}}), 6);
  EXPECT_EQ(parsed.value("syschaos_syscall_errors_total", {{"syscall", "openat"}}), 6);
  EXPECT_EQ(parsed.value("syschaos_syscall_duration_seconds_bucket", {{"syscall", "read"}, {"le", "5.12e-07"}}), 0);
  EXPECT_EQ(parsed.value("syschaos_syscall_duration_seconds_bucket", {{"syscall", "read"}, {"le", "1.024e-06"}}), 300);
  EXPECT_DOUBLE_EQ(*parsed.value("syschaos_syscall_duration_seconds_sum", {{"syscall", "read"}}), 300 * 700e-9);
  EXPECT_EQ(parsed.value("syschaos_cpu_seconds_total"), 6);
  EXPECT_EQ(parsed.value("syschaos_memory_bytes"), 10 << 20);
  EXPECT_EQ(parsed.value("syschaos_pids"), 3);
  EXPECT_EQ(parsed.value("syschaos_intervals_total"), 3);
  for (const auto& family : parsed.families)
    for (const auto& sample : family.samples) EXPECT_EQ(sample.labels.at("target"), "web");

  HttpResponse missing = client.get(fmt::format("http://127.0.0.1:{}/nope", exporter->port()));
  ASSERT_EQ(missing.code, CURLE_OK);
  EXPECT_EQ(missing.status, 404);
}

TEST(PrometheusExporter, APortInUseIsAClearError) {
  auto first = start_exporter();
  ASSERT_NE(first, nullptr);
  PrometheusOptions options;
  options.listen = fmt::format("127.0.0.1:{}", first->port());
  auto second = PrometheusExporter::start(options);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.error().message(), fmt::format("bind 127.0.0.1:{}: Address already in use", first->port()));
  EXPECT_EQ(second.error().sys_errno(), EADDRINUSE);
}

TEST(PrometheusExporter, ScrapesSeeWholeIntervalsWhilePublishing) {
  auto exporter = start_exporter();
  ASSERT_NE(exporter, nullptr);
  constexpr uint64_t kIntervals = 300;
  std::atomic<bool> done{false};
  std::thread publisher([&] {
    for (uint64_t i = 0; i < kIntervals; ++i) {
      exporter->publish(interval_with_reads(i, 100));
      std::this_thread::sleep_for(200us);
    }
    done = true;
  });
  HttpClient client;
  double last_reads = 0;
  int scrapes = 0;
  while (!done || scrapes < 3) {
    HttpResponse response = client.get(exporter->url());
    ASSERT_EQ(response.code, CURLE_OK) << ::curl_easy_strerror(response.code);
    ++scrapes;
    if (response.body.empty()) continue;
    auto parsed = parse_prometheus_text(response.body);
    ASSERT_TRUE(parsed.errors.empty()) << parsed.errors.front();
    double reads = *parsed.value("syschaos_syscalls_total", {{"syscall", "read"}, {"outcome", "success"}});
    double intervals = *parsed.value("syschaos_intervals_total");
    EXPECT_EQ(reads, intervals * 100) << "a scrape saw part of an interval";
    EXPECT_GE(reads, last_reads) << "a counter went backwards";
    last_reads = reads;
  }
  publisher.join();
  EXPECT_GE(scrapes, 3);
  auto final_scrape = parse_prometheus_text(client.get(exporter->url()).body);
  EXPECT_EQ(final_scrape.value("syschaos_syscalls_total", {{"syscall", "read"}, {"outcome", "success"}}),
            kIntervals * 100.0);
}

TEST(PrometheusExporter, StopsPromptlyAndReleasesThePort) {
  auto exporter = start_exporter();
  ASSERT_NE(exporter, nullptr);
  uint16_t port = exporter->port();
  std::string url = exporter->url();
  HttpClient client;  // would keep its connection open across the stop if the server let it
  ASSERT_EQ(client.get(url).code, CURLE_OK);

  auto start = std::chrono::steady_clock::now();
  exporter.reset();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1s) << "stopping waited for an idle connection";

  HttpClient fresh;
  EXPECT_EQ(fresh.get(url).code, CURLE_COULDNT_CONNECT);
  auto again = start_exporter(fmt::format("127.0.0.1:{}", port));
  ASSERT_NE(again, nullptr) << "the port was not released";
  EXPECT_EQ(again->port(), port);
}

TEST(PrometheusExporter, ServesOnIpv6Loopback) {
  int probe = ::socket(AF_INET6, SOCK_STREAM, 0);
  sockaddr_in6 address{};
  address.sin6_family = AF_INET6;
  address.sin6_addr = in6addr_loopback;
  bool has_ipv6 = probe >= 0 && ::bind(probe, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
  if (probe >= 0) ::close(probe);
  if (!has_ipv6) GTEST_SKIP() << "no IPv6 loopback here";

  auto exporter = start_exporter("[::1]:0");
  ASSERT_NE(exporter, nullptr);
  EXPECT_EQ(exporter->url(), fmt::format("http://[::1]:{}/metrics", exporter->port()));
  exporter->publish(interval_with_reads(0, 1));
  HttpClient client;
  HttpResponse response = client.get(exporter->url());
  ASSERT_EQ(response.code, CURLE_OK) << ::curl_easy_strerror(response.code);
  EXPECT_EQ(response.status, 200);
  EXPECT_NE(response.body.find("syschaos_syscalls_total{target=\"web\",syscall=\"read\",outcome=\"success\"} 1"),
            std::string::npos);
}

}  // namespace
}  // namespace syschaos
