#include "experiment/http_workload.hpp"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/resource.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <strings.h>
#include <optional>
#include <thread>

#include "core/unique_fd.hpp"

namespace syschaos::experiment {

namespace {

using Clock = std::chrono::steady_clock;

// Limits of one generator thread; beyond them the generator, not the target, is measured.
constexpr double kMaxRatePerS = 100000;
constexpr int kMaxConnections = 4096;
constexpr std::chrono::milliseconds kMaxTimeout = std::chrono::minutes(10);
// File descriptors the rest of syschaos may hold besides the generator's sockets.
constexpr rlim_t kSpareFds = 64;

// curl_global_init is not thread-safe before libcurl 7.84 and must run before any handle is
// made; curl_easy_init would otherwise run it implicitly, racing with other threads.
CURLcode curl_global_init_once() {
  static std::once_flag once;
  static CURLcode result = CURLE_OK;
  std::call_once(once, [] { result = curl_global_init(CURL_GLOBAL_DEFAULT); });
  return result;
}

struct CurlUrlFree {
  void operator()(CURLU* url) const { curl_url_cleanup(url); }
};
struct CurlFree {
  void operator()(char* text) const { curl_free(text); }
};
using CurlString = std::unique_ptr<char, CurlFree>;

double seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// 127.0.0.0/8, ::1 (also ::ffff:127.x.y.z) and the name localhost, which libcurl (since
// 7.78) resolves to the loopback addresses itself, without asking the system resolver.
// Anything else — other names, zone ids, unusual number forms that inet_pton rejects — is
// refused: the generator must never send a request off the machine.
bool is_loopback_host(std::string_view host) {
  if (host.size() == 9 && ::strncasecmp(host.data(), "localhost", 9) == 0) return true;
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    std::string inner(host.substr(1, host.size() - 2));
    in6_addr addr6{};
    if (::inet_pton(AF_INET6, inner.c_str(), &addr6) != 1) return false;
    if (IN6_IS_ADDR_LOOPBACK(&addr6)) return true;
    return IN6_IS_ADDR_V4MAPPED(&addr6) && addr6.s6_addr[12] == 127;
  }
  std::string text(host);
  in_addr addr4{};
  if (::inet_pton(AF_INET, text.c_str(), &addr4) != 1) return false;
  return (ntohl(addr4.s_addr) >> 24) == 127;
}

// Parses `url` with libcurl's own parser (the one that will connect), checks that it is
// http:// on a loopback host, and returns libcurl's normalized form, which is what is sent.
Result<std::string> normalized_loopback_url(const std::string& url) {
  if (CURLcode code = curl_global_init_once(); code != CURLE_OK)
    return Error(fmt::format("curl_global_init: {}", curl_easy_strerror(code)));
  std::unique_ptr<CURLU, CurlUrlFree> handle(curl_url());
  if (!handle) return Error("curl_url: out of memory");
  if (CURLUcode rc = curl_url_set(handle.get(), CURLUPART_URL, url.c_str(), 0); rc != CURLUE_OK)
    return Error(fmt::format("URL '{}' is not valid: {}", url, curl_url_strerror(rc)));
  char* raw = nullptr;
  if (curl_url_get(handle.get(), CURLUPART_SCHEME, &raw, 0) != CURLUE_OK)
    return Error(fmt::format("URL '{}' has no scheme", url));
  CurlString scheme(raw);
  if (::strcasecmp(scheme.get(), "http") != 0)
    return Error(fmt::format("URL '{}': only http:// is supported, not {}://", url, scheme.get()));
  raw = nullptr;
  if (curl_url_get(handle.get(), CURLUPART_HOST, &raw, 0) != CURLUE_OK)
    return Error(fmt::format("URL '{}' has no host", url));
  CurlString host(raw);
  if (!is_loopback_host(host.get()))
    return Error(fmt::format(
        "URL '{}' is not on loopback (only 127.0.0.0/8, [::1] and localhost are allowed)", url));
  raw = nullptr;
  if (curl_url_get(handle.get(), CURLUPART_URL, &raw, 0) != CURLUE_OK)
    return Error(fmt::format("URL '{}' cannot be normalized", url));
  CurlString full(raw);
  return std::string(full.get());
}

// How a failed transfer failed, as a client would tell: the server did not answer in time,
// nothing listened, or the connection broke (reset, closed before or during the response).
RequestError classify(CURLcode code, long os_errno) {
  switch (code) {
    case CURLE_OK:
      return RequestError::none;
    case CURLE_OPERATION_TIMEDOUT:
      return RequestError::timeout;
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
      return RequestError::connect;
    case CURLE_GOT_NOTHING:   // closed without a response
    case CURLE_PARTIAL_FILE:  // closed in the middle of the body
      return RequestError::reset;
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
      // errno 0: libcurl gave up retrying on connections that kept dying before an answer
      // ("Connection died, tried 5 times before giving up"): the server keeps closing them.
      if (os_errno == ECONNRESET || os_errno == EPIPE || os_errno == ECONNABORTED || os_errno == 0)
        return RequestError::reset;
      return RequestError::other;
    default:
      return RequestError::other;
  }
}

size_t count_body(char*, size_t size, size_t count, void* user) {
  *static_cast<uint64_t*>(user) += size * count;
  return size * count;
}

timespec to_timespec(Clock::time_point t) {
  // libstdc++'s steady_clock is CLOCK_MONOTONIC, the clock the timerfd runs on.
  auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
  if (ns < 1) ns = 1;  // 0 would disarm the timer
  return timespec{static_cast<time_t>(ns / 1000000000), static_cast<long>(ns % 1000000000)};
}

}  // namespace

Result<void> validate(const HttpWorkloadSpec& spec) {
  auto fail = [](std::string message) { return Error("HTTP workload: " + message); };
  if (spec.urls.empty()) return fail("no URL given");
  for (const auto& url : spec.urls) {
    auto normalized = normalized_loopback_url(url);
    if (!normalized) return fail(normalized.error().message());
  }
  if (std::isnan(spec.rate_per_s) || std::isinf(spec.rate_per_s) || spec.rate_per_s < 0)
    return fail("the request rate must be a positive number of requests per second");
  if (spec.concurrency < 0) return fail("the concurrency must be a positive number of connections");
  const bool open = spec.rate_per_s > 0, closed = spec.concurrency > 0;
  if (open && closed)
    return fail("give a request rate (open model) or a concurrency (closed model), not both");
  if (!open && !closed)
    return fail("give a request rate (open model) or a concurrency (closed model)");
  if (open && spec.rate_per_s > kMaxRatePerS)
    return fail(fmt::format("a rate of {} requests/s is above the generator's limit of {}",
                            spec.rate_per_s, kMaxRatePerS));
  if (closed && spec.concurrency > kMaxConnections)
    return fail(fmt::format("a concurrency of {} is above the generator's limit of {}",
                            spec.concurrency, kMaxConnections));
  if (spec.timeout < std::chrono::milliseconds(1) || spec.timeout > kMaxTimeout)
    return fail(fmt::format("the request timeout must be between 1ms and 10m, not {}ms",
                            spec.timeout.count()));
  if (spec.max_in_flight < 1 || spec.max_in_flight > kMaxConnections)
    return fail(fmt::format("max_in_flight must be between 1 and {}, not {}", kMaxConnections,
                            spec.max_in_flight));
  const rlim_t sockets = static_cast<rlim_t>(open ? spec.max_in_flight : spec.concurrency);
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY &&
      sockets + kSpareFds > limit.rlim_cur)
    return fail(fmt::format("{} connections need more file descriptors than the limit of {} "
                            "(raise it with ulimit -n)",
                            sockets, limit.rlim_cur));
  return ok();
}

// One reusable easy handle and the request it currently carries.
struct Transfer {
  CURL* easy = nullptr;
  size_t url_index = 0;
  Clock::time_point scheduled, sent;
  uint64_t body_bytes = 0;
  bool in_flight = false;  // added to the multi handle
  bool url_set = false;    // CURLOPT_URL holds urls[url_index]
  ~Transfer() {
    if (easy) curl_easy_cleanup(easy);
  }
};

struct HttpWorkload::State {
  HttpWorkloadSpec spec;  // URLs normalized by libcurl's parser
  Clock::time_point clock_zero;
  Clock::time_point started_at;  // when start() was called
  CURLM* multi = nullptr;  // lives as long as State: stop() wakes it from another thread
  UniqueFd timer;          // open model: fires at the next scheduled start
  std::thread thread;
  std::atomic<bool> stopping{false};

  mutable std::mutex mutex;  // guards records and failure
  std::vector<RequestRecord> records;
  std::string failure;

  // Loop thread only.
  std::vector<std::unique_ptr<Transfer>> transfers;
  std::vector<Transfer*> idle;
  size_t in_flight = 0;
  size_t next_url = 0;
  std::vector<RequestRecord> batch;  // finished this turn, appended under one lock

  ~State() {
    if (thread.joinable()) {
      stopping = true;
      curl_multi_wakeup(multi);
      thread.join();
    }
    transfers.clear();  // every easy handle is out of the multi handle by now
    if (multi) curl_multi_cleanup(multi);
  }

  Transfer* make_transfer() {
    auto transfer = std::make_unique<Transfer>();
    CURL* easy = curl_easy_init();
    if (!easy) return nullptr;
    transfer->easy = easy;
    const long timeout_ms = static_cast<long>(spec.timeout.count());
    curl_easy_setopt(easy, CURLOPT_PRIVATE, transfer.get());
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, count_body);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, &transfer->body_bytes);
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
    // Loopback only: no proxy, whatever http_proxy/HTTP_PROXY/ALL_PROXY say, no redirects
    // (a Location header could point anywhere), http alone.
    curl_easy_setopt(easy, CURLOPT_PROXY, "");
    curl_easy_setopt(easy, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http");
    curl_easy_setopt(easy, CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_1_1));
    curl_easy_setopt(easy, CURLOPT_USERAGENT, "syschaos");
    curl_easy_setopt(easy, CURLOPT_FORBID_REUSE, spec.keep_alive ? 0L : 1L);
    Transfer* raw = transfer.get();
    transfers.push_back(std::move(transfer));
    return raw;
  }

  // Starts a request scheduled at `scheduled` (open model) or now (closed model, nullopt);
  // when no handle can be made or libcurl refuses it, that is recorded as a failed request.
  void send(std::optional<Clock::time_point> scheduled_at) {
    const size_t url_index = next_url;
    next_url = (next_url + 1) % spec.urls.size();
    Transfer* transfer = nullptr;
    if (!idle.empty()) {
      transfer = idle.back();
      idle.pop_back();
    } else {
      transfer = make_transfer();
    }
    const Clock::time_point now = Clock::now();
    const Clock::time_point scheduled = scheduled_at.value_or(now);
    if (!transfer) {
      record_unsent(scheduled, now, url_index, CURLE_OUT_OF_MEMORY, false);
      return;
    }
    // libcurl copies and parses the URL on each setopt: skip it when the handle has it.
    if (transfer->url_index != url_index || !transfer->url_set) {
      curl_easy_setopt(transfer->easy, CURLOPT_URL, spec.urls[url_index].c_str());
      transfer->url_set = true;
    }
    transfer->url_index = url_index;
    transfer->scheduled = scheduled;
    transfer->sent = now;
    transfer->body_bytes = 0;
    if (curl_multi_add_handle(multi, transfer->easy) != CURLM_OK) {
      idle.push_back(transfer);
      record_unsent(scheduled, now, url_index, CURLE_FAILED_INIT, false);
      return;
    }
    transfer->in_flight = true;
    ++in_flight;
  }

  void record_unsent(Clock::time_point scheduled, Clock::time_point now, size_t url_index,
                     CURLcode code, bool dropped) {
    RequestRecord record;
    record.start_s = seconds(scheduled - clock_zero);
    record.start_delay_s = seconds(now - scheduled);
    record.latency_s = 0;
    record.error = RequestError::other;
    record.curl_code = code;
    record.dropped = dropped;
    record.url = spec.urls[url_index];
    batch.push_back(std::move(record));
  }

  void finish(Transfer* transfer, CURLcode code, Clock::time_point noticed) {
    CURL* easy = transfer->easy;
    curl_multi_remove_handle(multi, easy);
    transfer->in_flight = false;
    --in_flight;
    RequestRecord record;
    record.start_s = seconds(transfer->scheduled - clock_zero);
    record.start_delay_s = seconds(transfer->sent - transfer->scheduled);
    // libcurl's own transfer time is the most precise; the loop's clock is the fallback.
    curl_off_t total_us = 0;
    Clock::duration taken = noticed - transfer->sent;
    if (curl_easy_getinfo(easy, CURLINFO_TOTAL_TIME_T, &total_us) == CURLE_OK && total_us > 0)
      taken = std::chrono::microseconds(total_us);
    record.latency_s = seconds(transfer->sent - transfer->scheduled + taken);
    long status = 0, os_errno = 0;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
    if (code != CURLE_OK) curl_easy_getinfo(easy, CURLINFO_OS_ERRNO, &os_errno);
    record.status = static_cast<int>(status);
    record.error = classify(code, os_errno);
    record.curl_code = code;
    record.body_bytes = transfer->body_bytes;
    record.url = spec.urls[transfer->url_index];
    batch.push_back(std::move(record));
    idle.push_back(transfer);
  }

  void flush_batch() {
    if (batch.empty()) return;
    std::lock_guard lock(mutex);
    for (auto& record : batch) records.push_back(std::move(record));
    batch.clear();
  }

  void fail(std::string message) {
    std::lock_guard lock(mutex);
    if (failure.empty()) failure = std::move(message);
  }

  Clock::time_point slot_time(uint64_t slot) const {
    const double ns = static_cast<double>(slot) * 1e9 / spec.rate_per_s;
    return clock_zero + std::chrono::nanoseconds(static_cast<int64_t>(std::llround(ns)));
  }

  void run();
};

void HttpWorkload::State::run() {
  ::pthread_setname_np(::pthread_self(), "syschaos-http");
  const bool open_model = spec.rate_per_s > 0;
  uint64_t next_slot = 0;
  bool timer_armed_for_next = false;
  if (open_model) {
    // The schedule is a fixed grid on the experiment clock (slot k at k/rate), starting with
    // the first slot not before start() was called (a millisecond of slack, so that slot 0 is
    // sent when start() is given clock_zero = now): no burst for time before start().
    const double since_zero = seconds(started_at - clock_zero) - 0.001;
    if (since_zero > 0) next_slot = static_cast<uint64_t>(std::ceil(since_zero * spec.rate_per_s));
  }
  // Requests still in flight this long after stop() are abandoned (libcurl's own timeout
  // should have ended them long before).
  Clock::time_point abandon_at = Clock::time_point::max();

  for (;;) {
    const bool stop_requested = stopping.load(std::memory_order_acquire);
    Clock::time_point now = Clock::now();
    if (stop_requested && abandon_at == Clock::time_point::max())
      abandon_at = now + spec.timeout + std::chrono::seconds(1);

    if (open_model && !stop_requested) {
      // Late slots (the loop was busy or descheduled) are sent at once, keeping their
      // scheduled time: the open model never thins the load because the target is slow.
      for (Clock::time_point due = slot_time(next_slot); due <= now; due = slot_time(next_slot)) {
        if (in_flight >= static_cast<size_t>(spec.max_in_flight)) {
          const size_t url_index = next_url;
          next_url = (next_url + 1) % spec.urls.size();
          record_unsent(due, now, url_index, CURLE_OK, true);
        } else {
          send(due);
        }
        ++next_slot;
        timer_armed_for_next = false;
      }
      if (!timer_armed_for_next) {
        itimerspec when{};
        when.it_value = to_timespec(slot_time(next_slot));
        if (::timerfd_settime(timer.get(), TFD_TIMER_ABSTIME, &when, nullptr) != 0) {
          fail(Error::sys("timerfd_settime").message());
          stopping = true;
          continue;
        }
        timer_armed_for_next = true;
      }
    }

    if (!open_model && !stop_requested) {
      // Closed model: each of the N clients starts its next request as soon as its last one
      // ended (a request that could not even be sent is retried on the next turn).
      for (size_t n = static_cast<size_t>(spec.concurrency) - in_flight; n > 0; --n)
        send(std::nullopt);
    }

    if (stop_requested && in_flight == 0) break;

    int running = 0;
    if (CURLMcode rc = curl_multi_perform(multi, &running); rc != CURLM_OK) {
      fail(fmt::format("curl_multi_perform: {}", curl_multi_strerror(rc)));
      stopping = true;
    }
    const Clock::time_point noticed = Clock::now();
    int queued = 0;
    bool resend = false;
    while (CURLMsg* message = curl_multi_info_read(multi, &queued)) {
      if (message->msg != CURLMSG_DONE) continue;
      void* user = nullptr;
      curl_easy_getinfo(message->easy_handle, CURLINFO_PRIVATE, &user);
      finish(static_cast<Transfer*>(user), message->data.result, noticed);
      resend = true;
    }
    flush_batch();
    if (stopping.load(std::memory_order_acquire) && in_flight == 0) break;

    if (stopping.load(std::memory_order_acquire) && Clock::now() >= abandon_at) {
      const Clock::time_point at = Clock::now();
      for (auto& transfer : transfers)
        if (transfer->in_flight) finish(transfer.get(), CURLE_OPERATION_TIMEDOUT, at);
      flush_batch();
      break;
    }
    // Closed model: the finished clients' next requests go out before any wait.
    if (resend && !open_model && !stopping.load(std::memory_order_acquire)) continue;

    curl_waitfd timer_wait{};
    timer_wait.fd = timer.get();
    timer_wait.events = CURL_WAIT_POLLIN;
    const bool wait_timer = open_model && !stopping.load(std::memory_order_acquire);
    if (CURLMcode rc = curl_multi_poll(multi, wait_timer ? &timer_wait : nullptr,
                                       wait_timer ? 1u : 0u, 1000, nullptr);
        rc != CURLM_OK) {
      fail(fmt::format("curl_multi_poll: {}", curl_multi_strerror(rc)));
      stopping = true;
    }
    if (wait_timer && (timer_wait.revents & CURL_WAIT_POLLIN)) {
      uint64_t expirations = 0;
      [[maybe_unused]] ssize_t n = ::read(timer.get(), &expirations, sizeof expirations);
    }
  }
  flush_batch();
  for (auto& transfer : transfers)
    if (transfer->in_flight) curl_multi_remove_handle(multi, transfer->easy);
}

HttpWorkload::HttpWorkload(std::unique_ptr<State> state) : state_(std::move(state)) {}
HttpWorkload::HttpWorkload(HttpWorkload&&) noexcept = default;
HttpWorkload& HttpWorkload::operator=(HttpWorkload&& other) noexcept {
  if (this != &other) {
    stop();
    state_ = std::move(other.state_);
  }
  return *this;
}
HttpWorkload::~HttpWorkload() { stop(); }

Result<HttpWorkload> HttpWorkload::create(HttpWorkloadSpec spec) {
  SYSCHAOS_TRY(validate(spec));
  for (auto& url : spec.urls) {
    auto normalized = normalized_loopback_url(url);
    if (!normalized) return normalized.error();
    url = std::move(normalized.value());
  }
  auto state = std::make_unique<State>();
  state->spec = std::move(spec);
  return HttpWorkload(std::move(state));
}

Result<void> HttpWorkload::start(std::chrono::steady_clock::time_point clock_zero) {
  if (!state_) return Error("HTTP workload: moved from");
  State& s = *state_;
  if (s.multi) return Error("HTTP workload: already started");
  s.multi = curl_multi_init();
  if (!s.multi) return Error("curl_multi_init failed");
  // Keep one idle connection per possible request in flight, so keep-alive really reuses.
  const long pool = s.spec.rate_per_s > 0 ? s.spec.max_in_flight : s.spec.concurrency;
  curl_multi_setopt(s.multi, CURLMOPT_MAXCONNECTS, pool);
  if (s.spec.rate_per_s > 0) {
    s.timer.reset(::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC));
    if (!s.timer) return Error::sys("timerfd_create");
  }
  s.clock_zero = clock_zero;
  s.started_at = Clock::now();
  try {
    s.thread = std::thread([&s] { s.run(); });
  } catch (const std::system_error& e) {
    return Error(fmt::format("HTTP workload: starting its thread: {}", e.what()));
  }
  return ok();
}

void HttpWorkload::stop() {
  if (!state_ || !state_->thread.joinable()) return;
  state_->stopping.store(true, std::memory_order_release);
  curl_multi_wakeup(state_->multi);
  state_->thread.join();
}

std::vector<RequestRecord> HttpWorkload::records() const { return records_since(0); }

std::vector<RequestRecord> HttpWorkload::records_since(size_t from) const {
  if (!state_) return {};
  std::lock_guard lock(state_->mutex);
  if (from >= state_->records.size()) return {};
  return {state_->records.begin() + static_cast<std::ptrdiff_t>(from), state_->records.end()};
}

size_t HttpWorkload::record_count() const {
  if (!state_) return 0;
  std::lock_guard lock(state_->mutex);
  return state_->records.size();
}

std::string HttpWorkload::failure() const {
  if (!state_) return {};
  std::lock_guard lock(state_->mutex);
  return state_->failure;
}

}  // namespace syschaos::experiment
