// Prometheus exporter: serves what the monitor observed, in the text exposition format 0.0.4,
// at http://HOST:PORT/metrics. Intervals are folded into cumulative counters (Prometheus takes
// rates itself), resources are the latest values. Every series carries a `target` label.
//
// The metric names, their types and labels are listed in docs/OBSERVE_OUTPUT.md
// ("Prometheus"); docs/grafana-dashboard.json charts them.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "core/result.hpp"
#include "observe/metrics.hpp"

namespace syschaos {

// The exporter's state: totals since it started, and the latest resources.
struct PrometheusState {
  struct SyscallTotals {
    uint64_t calls = 0;
    uint64_t errors = 0;
    std::map<std::string, uint64_t> outcomes;  // "success" or an errno name -> calls
    std::array<uint64_t, kLatencyBuckets> latency_log2{};
    uint64_t latency_sum_ns = 0;
  };

  std::string target;                            // the `target` label's value
  std::map<std::string, SyscallTotals> syscalls;  // by syscall name
  ResourceStats resources;                       // from the latest interval
  uint64_t processes = 0;
  bool target_alive = true;
  uint64_t events_lost = 0;
  uint64_t intervals = 0;
  double last_interval_seconds = 0;

  // Adds an interval's counts to the totals and takes its resources and process count.
  void add(const Interval& interval);
};

// The exposition text for `state`: HELP and TYPE before each family, families in a fixed
// order, series sorted; families with no series yet are left out.
std::string render_prometheus_text(const PrometheusState& state);

// The `le` label of log2 latency bucket i: its upper bound 2^(i+1) ns in seconds, or "+Inf"
// for the last bucket, which also holds every longer call.
std::string latency_bucket_le(int bucket);

// A listen address the user gave: "127.0.0.1:9464", "[::1]:9464", "localhost:9464" (means
// 127.0.0.1). Only numeric addresses (no name lookups); port 0 means "pick a free port".
struct ListenAddress {
  std::string host;  // numeric, without brackets
  uint16_t port = 0;
  bool loopback = false;
};
Result<ListenAddress> parse_listen_address(std::string_view text);

struct PrometheusOptions {
  std::string listen = "127.0.0.1:0";
  std::string target;
  // Metrics show what the target does; serving them beyond this machine must be asked for.
  bool allow_non_loopback = false;
};

class PrometheusExporter {
 public:
  // Binds the address and starts serving on a thread of its own. Errors: a bad address, a
  // non-loopback address without allow_non_loopback, "bind 127.0.0.1:9464: Address already
  // in use".
  static Result<std::unique_ptr<PrometheusExporter>> start(const PrometheusOptions& options);
  ~PrometheusExporter();  // stops serving and joins the thread
  PrometheusExporter(const PrometheusExporter&) = delete;
  PrometheusExporter& operator=(const PrometheusExporter&) = delete;

  // Folds one interval into the served totals. Thread-safe; scrapes see whole intervals only.
  void publish(const Interval& interval);

  uint16_t port() const;  // the bound port (the chosen one when asked for port 0)
  std::string url() const;  // "http://127.0.0.1:PORT/metrics"
  std::string render() const;

 private:
  struct Impl;
  explicit PrometheusExporter(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace syschaos
