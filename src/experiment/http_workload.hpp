// The built-in HTTP load generator (libcurl multi interface, one thread): keeps a constant
// request rate (open model: requests start on schedule whether or not earlier ones finished,
// so a slow server shows as latency, not as fewer requests) or a constant concurrency
// (closed model), with a per-request timeout. Only loopback URLs are accepted.
#pragma once

#include <atomic>
#include <memory>
#include <chrono>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "core/result.hpp"
#include "experiment/observations.hpp"

namespace syschaos::experiment {

struct HttpWorkloadSpec {
  std::vector<std::string> urls;          // round robin; http://127.0.0.1:PORT/... or [::1]
  double rate_per_s = 0;                  // open model when > 0
  int concurrency = 0;                    // closed model when > 0 (exactly one of the two)
  std::chrono::milliseconds timeout{2000};
  int max_in_flight = 256;                // open model: beyond this, requests are counted as
                                          // errors (RequestError::other) instead of queued
  bool keep_alive = true;                 // reuse connections (HTTP/1.1 keep-alive) like real
                                          // clients; false: a new TCP connection per request
};

// Checks the spec: at least one URL, every host loopback, one model chosen, sane numbers.
Result<void> validate(const HttpWorkloadSpec& spec);

class HttpWorkload {
 public:
  static Result<HttpWorkload> create(HttpWorkloadSpec spec);
  HttpWorkload(HttpWorkload&&) noexcept;
  HttpWorkload& operator=(HttpWorkload&&) noexcept;
  ~HttpWorkload();  // stops and joins

  // Starts the load on its own thread; `clock_zero` is the experiment clock's origin, so
  // RequestRecord::start_s is comparable with the phases.
  Result<void> start(std::chrono::steady_clock::time_point clock_zero);
  // Stops starting requests, waits for those in flight (at most their timeout), joins.
  void stop();
  // Everything recorded so far (thread-safe copy).
  std::vector<RequestRecord> records() const;
  // Records from index `from` on (records are appended in completion order), for a live view
  // that should not copy everything each second; record_count() is the next `from`.
  std::vector<RequestRecord> records_since(size_t from) const;
  size_t record_count() const;
  // Why the generator stopped by itself (libcurl or the kernel failed it), empty if it did not.
  std::string failure() const;

 private:
  struct State;
  explicit HttpWorkload(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace syschaos::experiment
